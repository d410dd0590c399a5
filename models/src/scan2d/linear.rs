//! The 1-D diagonal linear recurrence `h_i = exp(g_i)·h_{i−1} + s_i` (`h_{−1} = 0`) along one
//! axis, every state returned, in parallel: the inner step of both 2-D algorithms (along time
//! for a row, down the variates for a column).
//!
//! The method is the chunked one of `scan::chunked` (`docs/simba.md` §1.3), for an arbitrary
//! per-element log decay `g` instead of `Δ·A`: segment sums inside chunks of `Q` steps, an
//! inclusive Hillis–Steele scan of the chunk aggregates, then a fix-up adding each chunk's
//! carried-in state. No loop runs over the steps, so the autodiff graph (and the backward pass)
//! has `O(log(len / Q))` nodes whatever the length.
use crate::scan::chunked::prefix_scan;
use burn::prelude::*;

/// Every state of `h_i = exp(g_i)·h_{i−1} + s_i` from `h_{−1} = 0`, along dim 1, `chunk` steps at a
/// time (any `chunk ≥ 1`; the last chunk may be shorter).
///
/// `g ≤ 0` is the stable case the 2-D scan needs: every exponential taken is then `≤ 1`, however
/// long the sequence (a decay of `exp(−300)` underflows to 0 harmlessly). Positive `g` is computed
/// correctly as long as the states themselves fit in float32.
///
/// Memory: the intra-chunk weights hold `batch · len · chunk · channels · state` floats (kept for
/// the backward pass).
///
/// # Shapes
/// * `log_decay` (`g`), `input` (`s`): `[batch, len, channels, state]`
/// * returns the states `h`: `[batch, len, channels, state]`
///
/// # Panics
/// If `chunk == 0`, the sequence is empty, or the two shapes differ.
pub fn linear_scan(log_decay: Tensor<4>, input: Tensor<4>, chunk: usize) -> Tensor<4> {
    assert!(chunk > 0, "linear scan: chunk length must be at least 1");
    assert_eq!(
        log_decay.dims(),
        input.dims(),
        "linear scan: log decay and input must have one shape"
    );
    let [batch, len, channels, state] = input.dims();
    assert!(len > 0, "linear scan: empty sequence");
    let device = input.device();
    let q = chunk.min(len);
    let n_chunks = len.div_ceil(q);
    let padded = n_chunks * q;

    // Padding steps have g = 0 (decay 1) and no input: they only follow the real ones.
    let by_chunk = |t: Tensor<4>| pad_steps(t, padded).reshape([batch, n_chunks, q, channels, state]);
    let g = by_chunk(log_decay); // [batch, chunks, q, channels, state]
    let s = by_chunk(input); // [batch, chunks, q, channels, state]

    // ℓ_i = Σ g from the chunk start through i (inclusive): the log of the decay since the start.
    let log_decay = g.cumsum(2); // [batch, chunks, q, channels, state]

    // The state reached from a zero start in the chunk: Σ_{j ≤ i} exp(ℓ_i − ℓ_j)·s_j. The exponents
    // are masked *before* the exponential (above the diagonal they may be large and positive), then
    // the weights are masked, so future steps contribute exactly zero, forward and backward.
    let lower = causal_mask(q, &device); // [1, 1, q, q, 1, 1]
    let seg =
        (log_decay.clone().unsqueeze_dim::<6>(3) - log_decay.clone().unsqueeze_dim::<6>(2)) * lower.clone(); // [batch, chunks, i, j, channels, state]
    let local = (seg.exp() * lower * s.unsqueeze_dim::<6>(2))
        .sum_dim(3)
        .reshape([batch, n_chunks, q, channels, state]);

    // Chunk aggregates (log decay across the chunk, end state from a zero start), scanned; the
    // state entering chunk k is the combined end state of chunks 0..k−1.
    let last = |t: Tensor<5>| t.narrow(2, q - 1, 1).reshape([batch, n_chunks, channels, state]);
    let (_, chunk_end) = prefix_scan(last(log_decay.clone()), last(local.clone()));
    let carried_in = if n_chunks > 1 {
        Tensor::cat(
            vec![
                Tensor::zeros([batch, 1, channels, state], &device),
                chunk_end.narrow(1, 0, n_chunks - 1),
            ],
            1,
        )
    } else {
        Tensor::zeros([batch, 1, channels, state], &device)
    }; // [batch, chunks, channels, state]
    (local + log_decay.exp() * carried_in.unsqueeze_dim::<5>(2))
        .reshape([batch, padded, channels, state])
        .narrow(1, 0, len)
}

/// `1` where `j ≤ i` (row `i`, column `j`), else `0`. Returns `[1, 1, q, q, 1, 1]`.
fn causal_mask(q: usize, device: &Device) -> Tensor<6> {
    let values: Vec<f32> = (0..q * q)
        .map(|k| if k % q <= k / q { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 1, q, q, 1, 1]), device)
}

/// Appends zero steps along dim 1 up to `len`. `t: [batch, steps, channels, state]` →
/// `[batch, len, channels, state]`.
fn pad_steps(t: Tensor<4>, len: usize) -> Tensor<4> {
    let [batch, steps, channels, state] = t.dims();
    if steps == len {
        return t;
    }
    let zeros = Tensor::zeros([batch, len - steps, channels, state], &t.device());
    Tensor::cat(vec![t, zeros], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Rng, assert_close, host, tensor};

    /// (batch, len, channels, state, chunk): one step, ragged last chunks, chunk 1, chunk longer
    /// than the sequence, exact multiples.
    const CASES: [(usize, usize, usize, usize, usize); 7] = [
        (1, 1, 1, 1, 4),
        (2, 7, 3, 2, 3),
        (1, 5, 2, 3, 8),
        (2, 9, 2, 2, 1),
        (1, 16, 2, 3, 4),
        (2, 37, 3, 2, 16),
        (1, 50, 2, 2, 7),
    ];

    /// `g` in about [−2, 0) (a third of the steps up to +0.3), `s` standard normal.
    fn random_line(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
        let g = (0..n)
            .map(|i| {
                let u = rng.uniform();
                if i % 3 == 0 { 0.3 - 0.6 * u } else { -2.0 * u }
            })
            .collect();
        (g, rng.normals(n))
    }

    /// `h_i = exp(g_i)·h_{i−1} + s_i` one step at a time, in `f64`.
    fn host_loop(g: &[f64], s: &[f64], (batch, len, width): (usize, usize, usize)) -> Vec<f64> {
        let mut h = vec![0.0; g.len()];
        for b in 0..batch {
            for i in 0..len {
                for k in 0..width {
                    let at = (b * len + i) * width + k;
                    let before = if i == 0 { 0.0 } else { h[at - width] };
                    h[at] = g[at].exp() * before + s[at];
                }
            }
        }
        h
    }

    /// The recurrence as a loop of per-step tensor ops (the naive form, differentiated by autodiff).
    fn tensor_loop(g: Tensor<4>, s: Tensor<4>) -> Tensor<4> {
        let [batch, len, channels, state] = s.dims();
        let mut h = Tensor::zeros([batch, 1, channels, state], &s.device());
        let mut all = Vec::with_capacity(len);
        for i in 0..len {
            h = g.clone().narrow(1, i, 1).exp() * h + s.clone().narrow(1, i, 1);
            all.push(h.clone());
        }
        Tensor::cat(all, 1)
    }

    #[test]
    fn linear_scan_matches_a_loop() {
        let device = Device::flex();
        let mut rng = Rng::new(61);
        for (batch, len, e, n, chunk) in CASES {
            let (g, s) = random_line(&mut rng, batch * len * e * n);
            let want = host_loop(&g, &s, (batch, len, e * n));
            let shape = [batch, len, e, n];
            let got = linear_scan(tensor(&g, shape, &device), tensor(&s, shape, &device), chunk);
            assert_eq!(got.dims(), shape);
            assert_close(
                &host(got),
                &want,
                1e-5,
                1e-6,
                &format!("B={batch} L={len} E={e} N={n} Q={chunk}"),
            );
        }
    }

    #[test]
    fn linear_scan_gradients_equal_autodiff_through_a_loop() {
        let ad = Device::flex().autodiff();
        let mut rng = Rng::new(62);
        for (batch, len, e, n, chunk) in CASES {
            let (g, s) = random_line(&mut rng, batch * len * e * n);
            let w = rng.normals(g.len());
            let shape = [batch, len, e, n];
            let grads = |scan: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
                let (g, s) = (
                    tensor(&g, shape, &ad).require_grad(),
                    tensor(&s, shape, &ad).require_grad(),
                );
                let loss = (scan(g.clone(), s.clone()) * tensor(&w, shape, &ad)).sum();
                let grads = loss.backward();
                [
                    host(g.grad(&grads).expect("dg")),
                    host(s.grad(&grads).expect("ds")),
                ]
            };
            let want = grads(&tensor_loop);
            let got = grads(&|g, s| linear_scan(g, s, chunk));
            for ((got, want), name) in got.iter().zip(&want).zip(["g", "s"]) {
                let what = format!("B={batch} L={len} E={e} N={n} Q={chunk}: d/d{name}");
                // With one step the decay multiplies the zero initial state: dg = 0 is right.
                if len > 1 || name == "s" {
                    assert!(
                        want.iter().any(|x| x.abs() > 1e-3),
                        "{what}: reference gradient is zero"
                    );
                }
                assert_close(got, want, 1e-4, 1e-6, &what);
            }
        }
    }

    #[test]
    fn huge_decays_underflow_to_zero_without_nans() {
        // g down to −300 per step: exp(g) underflows to 0 in f32, and the masked upper triangle
        // would hold exp(+300·k) = inf if it were exponentiated. Values and gradients stay
        // finite and equal the loop's.
        let ad = Device::flex().autodiff();
        let mut rng = Rng::new(63);
        let (batch, len, e, n, chunk) = (2, 19, 2, 3, 8);
        let count = batch * len * e * n;
        let g: Vec<f64> = (0..count).map(|_| -300.0 * rng.uniform()).collect();
        let s = rng.normals(count);
        let shape = [batch, len, e, n];
        let want = host_loop(&g, &s, (batch, len, e * n));
        let (gt, st) = (
            tensor(&g, shape, &ad).require_grad(),
            tensor(&s, shape, &ad).require_grad(),
        );
        let h = linear_scan(gt.clone(), st.clone(), chunk);
        assert_close(&host(h.clone()), &want, 1e-5, 1e-6, "huge decays: h");
        let grads = h.sum().backward();
        let got = [
            host(gt.grad(&grads).expect("dg")),
            host(st.grad(&grads).expect("ds")),
        ];
        let (gl, sl) = (
            tensor(&g, shape, &ad).require_grad(),
            tensor(&s, shape, &ad).require_grad(),
        );
        let grads = tensor_loop(gl.clone(), sl.clone()).sum().backward();
        let want = [
            host(gl.grad(&grads).expect("dg")),
            host(sl.grad(&grads).expect("ds")),
        ];
        for ((got, want), name) in got.iter().zip(&want).zip(["g", "s"]) {
            assert_close(got, want, 1e-4, 1e-6, &format!("huge decays: d/d{name}"));
        }
    }

    #[test]
    fn a_long_sequence_stays_finite_and_accurate() {
        // 4096 steps of g ≈ −0.03: the total log decay is about −120, so the global log-space
        // form exp(ℓ_i)·Σ exp(−ℓ_j)·s_j would overflow f32 (e^88). Chunked segment sums never form it.
        let device = Device::flex();
        let mut rng = Rng::new(64);
        let (batch, len, e, n) = (1, 4096, 1, 2);
        let g: Vec<f64> = (0..len * e * n).map(|_| -0.02 - 0.02 * rng.uniform()).collect();
        let s = rng.normals(g.len());
        let total: f64 = g.iter().step_by(e * n).sum();
        assert!(
            total < -89.0,
            "the test must overflow a global exp(−ℓ): ℓ = {total}"
        );
        let want = host_loop(&g, &s, (batch, len, e * n));
        let shape = [batch, len, e, n];
        let got = linear_scan(tensor(&g, shape, &device), tensor(&s, shape, &device), 8);
        assert_close(&host(got), &want, 1e-4, 1e-6, "L=4096");
    }

    #[test]
    #[should_panic(expected = "chunk length must be at least 1")]
    fn a_zero_chunk_is_refused() {
        let device = Device::flex();
        let zeros = Tensor::<4>::zeros([1, 4, 1, 1], &device);
        linear_scan(zeros.clone(), zeros, 0);
    }
}
