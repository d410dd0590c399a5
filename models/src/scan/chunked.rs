//! The chunked parallel selective scan from burn tensor ops (`docs/simba.md` §1.3): segment sums
//! inside chunks, a logarithmic-depth scan across the chunk aggregates, then a fix-up that adds
//! each chunk's carried-in state. No loop runs over time steps, so the autodiff graph (and the
//! backward pass) has `O(log(time / chunk))` nodes whatever the length.
use burn::prelude::*;

use super::discretise::input_coefficient;
use super::{ScanDims, ScanInput, ScanOutput, ScanParams};

/// Chunk length used when a caller has no better figure (timings in `docs/simba.md` §1.5).
pub const DEFAULT_CHUNK: usize = 4;

/// Runs the selective scan over whole sequences, `chunk` steps at a time (any `chunk ≥ 1`; the
/// last chunk may be shorter), starting from `initial_state` (zero when `None`).
///
/// Memory: the intra-chunk weights hold `batch · time · chunk · channels · state` floats (kept for
/// the backward pass), so the chunk trades memory for a shorter cross-chunk scan.
///
/// # Shapes
/// * `input`: see [`ScanInput`] (`u`, `delta`: `[batch, time, channels]`; `b`, `c`:
///   `[batch, time, state]`); `initial_state`: `[batch, channels, state]`
/// * returns `y: [batch, time, channels]`, `final_state: [batch, channels, state]`
///
/// # Panics
/// If `chunk == 0` or the shapes disagree ([`ScanDims::of`]).
pub fn chunked_scan(
    params: &ScanParams,
    input: ScanInput,
    initial_state: Option<Tensor<3>>,
    chunk: usize,
) -> ScanOutput {
    assert!(chunk > 0, "selective scan: chunk length must be at least 1");
    let ScanDims {
        batch,
        time,
        channels,
        state,
    } = ScanDims::of(params, &input, initial_state.as_ref());
    let device = input.u.device();
    let q = chunk.min(time);
    let n_chunks = time.div_ceil(q);
    let padded = n_chunks * q;

    // Padding steps have Δ = 0 (decay 1) and no input, so they carry the last state unchanged.
    let by_chunk = |t: Tensor<3>| {
        let [_, _, width] = t.dims();
        pad_time(t, padded).reshape([batch, n_chunks, q, width])
    };
    let u = by_chunk(input.u.clone()); // [batch, chunks, q, channels]
    let delta = by_chunk(input.delta); // [batch, chunks, q, channels]
    let b = by_chunk(input.b); // [batch, chunks, q, state]
    let c = by_chunk(input.c); // [batch, chunks, q, state]
    let a = params.a.clone().reshape([1, 1, 1, channels, state]);

    // Σ Δ from the chunk start through t (inclusive); short, so `cumsum` is cheap on every backend.
    let delta_sum = delta.clone().cumsum(2); // [batch, chunks, q, channels]
    // Log of the decay from the chunk start through t: ℓ_t = A · ΣΔ ≤ 0.
    let log_decay = delta_sum.clone().unsqueeze_dim::<5>(4) * a.clone(); // [batch, chunks, q, channels, state]

    // Input term x_s = b̄_s · u_s.
    let coef = input_coefficient(delta.unsqueeze_dim::<5>(4), a.clone(), params.b_rule);
    let x = coef * b.reshape([batch, n_chunks, q, 1, state]) * u.unsqueeze_dim::<5>(4); // [batch, chunks, q, channels, state]

    // Segment weights exp(ℓ_t − ℓ_s) for s ≤ t, zero above the diagonal. The differences are
    // taken of ΣΔ (one per channel) and masked *before* the exponential, so nothing overflows.
    let lower = causal_mask(q, &device); // [1, 1, q, q, 1]
    let seg = (delta_sum.clone().reshape([batch, n_chunks, q, 1, channels])
        - delta_sum.reshape([batch, n_chunks, 1, q, channels]))
        * lower.clone(); // [batch, chunks, t, s, channels]
    let weights = (seg.unsqueeze_dim::<6>(5) * a.unsqueeze_dim::<6>(0)).exp() * lower.unsqueeze_dim::<6>(5); // [batch, chunks, t, s, channels, state]
    let local_states = (weights * x.unsqueeze_dim::<6>(2))
        .sum_dim(3)
        .reshape([batch, n_chunks, q, channels, state]); // states from a zero start in each chunk

    // Chunk aggregates: (log decay across the chunk, end state from a zero start), scanned.
    let last = |t: Tensor<5>| t.narrow(2, q - 1, 1).reshape([batch, n_chunks, channels, state]);
    let (chunk_log_decay, chunk_end) = prefix_scan(last(log_decay.clone()), last(local_states.clone()));
    let chunk_end = match &initial_state {
        Some(h0) => chunk_end + chunk_log_decay.exp() * h0.clone().unsqueeze_dim::<4>(1),
        None => chunk_end,
    }; // [batch, chunks, channels, state]: state after each chunk

    // State entering each chunk: the initial state, then the previous chunk's end state.
    let start = initial_state.unwrap_or_else(|| Tensor::zeros([batch, channels, state], &device));
    let final_state = chunk_end
        .clone()
        .narrow(1, n_chunks - 1, 1)
        .reshape([batch, channels, state]);
    let carried_in = if n_chunks > 1 {
        Tensor::cat(
            vec![start.unsqueeze_dim::<4>(1), chunk_end.narrow(1, 0, n_chunks - 1)],
            1,
        )
    } else {
        start.unsqueeze_dim::<4>(1)
    }; // [batch, chunks, channels, state]
    let states = local_states + log_decay.exp() * carried_in.unsqueeze_dim::<5>(2);

    let y = (states * c.reshape([batch, n_chunks, q, 1, state]))
        .sum_dim(4)
        .reshape([batch, padded, channels])
        .narrow(1, 0, time)
        + input.u * params.d.clone().reshape([1, 1, channels]);
    ScanOutput { y, final_state }
}

/// Inclusive Hillis–Steele scan along dim 1 of the affine maps `h ↦ exp(g)·h + s` (earlier maps
/// applied first): `log2(len)` rounds of whole-tensor ops. Decays are added as logs, so the
/// combined factor `exp(g)` only ever underflows towards 0.
///
/// # Shapes
/// * `log_decay`, `end`: `[batch, len, channels, state]`; returns both, prefix-combined.
pub(crate) fn prefix_scan(mut log_decay: Tensor<4>, mut end: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [batch, len, channels, state] = end.dims();
    let mut offset = 1;
    while offset < len {
        // The map `offset` places earlier, identity (g = 0, s = 0) before the start.
        let shift = |t: Tensor<4>| {
            let identity = Tensor::zeros([batch, offset, channels, state], &t.device());
            Tensor::cat(vec![identity, t.narrow(1, 0, len - offset)], 1)
        };
        let (earlier_decay, earlier_end) = (shift(log_decay.clone()), shift(end.clone()));
        end = end + log_decay.clone().exp() * earlier_end;
        log_decay = log_decay + earlier_decay;
        offset *= 2;
    }
    (log_decay, end)
}

/// `1` where `s ≤ t` (row `t`, column `s`), else `0`. Returns `[1, 1, q, q, 1]`.
fn causal_mask(q: usize, device: &Device) -> Tensor<5> {
    let values: Vec<f32> = (0..q * q)
        .map(|i| if i % q <= i / q { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 1, q, q, 1]), device)
}

/// Appends zero steps along dim 1 up to `len`. `t: [batch, time, width]` → `[batch, len, width]`.
fn pad_time(t: Tensor<3>, len: usize) -> Tensor<3> {
    let [batch, time, width] = t.dims();
    if time == len {
        return t;
    }
    let zeros = Tensor::zeros([batch, len - time, width], &t.device());
    Tensor::cat(vec![t, zeros], 1)
}
