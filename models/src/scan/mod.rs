//! The selective scan (S6, Mamba's diagonal selective SSM), the core op of the SiMBA family
//! (`docs/simba.md` §1).
//!
//! Per channel `e` and state index `n`, with input-dependent step `Δ`, input and output vectors `B`, `C`:
//!
//! ```text
//! h_t[e, n] = exp(Δ_t[e] · A[e, n]) · h_{t−1}[e, n] + b̄_t[e, n] · u_t[e]
//! y_t[e]    = Σ_n C_t[n] · h_t[e, n] + D[e] · u_t[e]
//! ```
//!
//! where `b̄ = Δ · B` (Euler, Mamba's choice) or the exact zero-order hold
//! `b̄ = (exp(Δ·A) − 1) / A · B` ([`BDiscretisation`]).
//!
//! Four computations of the same recurrence, which agree to float32 rounding:
//! * [`fused::fused_scan`]: one backend op with its own backward pass (host loops on the CPU, a
//!   CubeCL kernel on CUDA), zero initial state and Euler `b̄` only; what training runs where it
//!   applies ([`selective_scan`] decides);
//! * [`chunked_scan`]: parallel over time inside chunks (segment sums) and a
//!   logarithmic-depth scan across chunk aggregates; built from burn tensor ops so autodiff gives
//!   the backward pass, on any device and for every configuration;
//! * [`scan_step`]: one step `(h_{t−1}, u_t, Δ_t, B_t, C_t) → (y_t, h_t)`, for streaming;
//! * [`reference::sequential_scan`]: plain `f64` loops, the oracle for the tests.

pub mod chunked;
#[cfg(feature = "gpu")]
mod cube;
pub mod discretise;
pub mod fused;
pub mod reference;
pub mod step;

#[cfg(test)]
mod tests;

use burn::prelude::*;

pub use chunked::{DEFAULT_CHUNK, chunked_scan};
pub use discretise::BDiscretisation;
pub use fused::fused_scan;
pub use step::{StepInput, StepOutput, scan_step};

/// The time-invariant parameters of a selective scan.
#[derive(Debug, Clone)]
pub struct ScanParams {
    /// Continuous-time diagonal state matrix, one row per channel; every entry must be `≤ 0`
    /// (callers parameterise it as `−exp(A_log)`). `a: [channels, state]`
    pub a: Tensor<2>,
    /// Skip connection. `d: [channels]`
    pub d: Tensor<1>,
    /// How `B` is discretised.
    pub b_rule: BDiscretisation,
}

/// The time-varying inputs of a selective scan over a whole sequence.
#[derive(Debug, Clone)]
pub struct ScanInput {
    /// Input. `u: [batch, time, channels]`
    pub u: Tensor<3>,
    /// Step sizes, `> 0` (usually a softplus). `delta: [batch, time, channels]`
    pub delta: Tensor<3>,
    /// Input vectors, shared by all channels. `b: [batch, time, state]`
    pub b: Tensor<3>,
    /// Output vectors, shared by all channels. `c: [batch, time, state]`
    pub c: Tensor<3>,
}

/// The result of a scan over a whole sequence.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    /// Outputs. `y: [batch, time, channels]`
    pub y: Tensor<3>,
    /// The state after the last step (to continue with [`scan_step`] or another scan).
    /// `final_state: [batch, channels, state]`
    pub final_state: Tensor<3>,
}

/// The sizes of one scan problem, checked against every tensor (mismatches are programmer
/// errors and panic with the offending shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanDims {
    /// Batch size.
    pub batch: usize,
    /// Sequence length.
    pub time: usize,
    /// Channels (`E`).
    pub channels: usize,
    /// State size per channel (`N`).
    pub state: usize,
}

impl ScanDims {
    /// The sizes of `input` with `params`, after checking that all shapes agree.
    ///
    /// # Panics
    /// If any shape disagrees, or the sequence is empty.
    pub fn of(params: &ScanParams, input: &ScanInput, initial_state: Option<&Tensor<3>>) -> Self {
        let [batch, time, channels] = input.u.dims();
        let [a_channels, state] = params.a.dims();
        let dims = Self {
            batch,
            time,
            channels,
            state,
        };
        assert!(time > 0, "selective scan: empty sequence");
        assert_eq!(
            a_channels,
            channels,
            "selective scan: A is {:?}, u is {:?}",
            params.a.dims(),
            input.u.dims()
        );
        assert_eq!(
            params.d.dims(),
            [channels],
            "selective scan: D for {channels} channels"
        );
        assert_eq!(
            input.delta.dims(),
            [batch, time, channels],
            "selective scan: Δ must match u"
        );
        assert_eq!(
            input.b.dims(),
            [batch, time, state],
            "selective scan: B is [batch, time, state]"
        );
        assert_eq!(
            input.c.dims(),
            [batch, time, state],
            "selective scan: C is [batch, time, state]"
        );
        if let Some(h0) = initial_state {
            assert_eq!(
                h0.dims(),
                [batch, channels, state],
                "selective scan: initial state is [batch, channels, state]"
            );
        }
        dims
    }
}

/// Which whole-sequence scan [`selective_scan`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanPath {
    /// [`fused::fused_scan`].
    Fused,
    /// [`chunked_scan`].
    Chunked,
}

/// The path for a scan on `device`: the fused op where it applies (Euler `b̄`, zero initial
/// state) and is trusted on that backend, else the chunked scan.
///
/// The fused op is the default on both backends (on CUDA since `devices --check cuda` matched
/// its `y` and all six gradients with the CPU on an H100, BENCHMARKS.md §12);
/// `STATECAST_SCAN=chunked` forces the chunked scan everywhere (for comparisons).
pub fn scan_path(device: &Device, params: &ScanParams, has_initial_state: bool) -> ScanPath {
    static CHOICE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let choice = CHOICE.get_or_init(|| std::env::var("STATECAST_SCAN").ok());
    if has_initial_state || params.b_rule != BDiscretisation::Euler {
        return ScanPath::Chunked;
    }
    use burn::backend::DispatchDevice;
    match (choice.as_deref(), device.clone().inner().as_dispatch()) {
        (Some("chunked"), _) => ScanPath::Chunked,
        (_, DispatchDevice::Flex(_)) => ScanPath::Fused,
        #[cfg(feature = "gpu")]
        (_, DispatchDevice::Cube(_)) => ScanPath::Fused,
        #[allow(unreachable_patterns)]
        _ => ScanPath::Chunked,
    }
}

/// The selective scan over whole sequences by the path [`scan_path`] picks. The two paths agree
/// to float32 rounding in `y` and in every gradient; through the fused path the final state
/// carries no gradient (no caller differentiates it).
///
/// # Shapes
/// As [`chunked_scan`].
pub fn selective_scan(
    params: &ScanParams,
    input: ScanInput,
    initial_state: Option<Tensor<3>>,
    chunk: usize,
) -> ScanOutput {
    match scan_path(&input.u.device(), params, initial_state.is_some()) {
        ScanPath::Fused => {
            let (y, final_state) = fused_scan(
                input.u,
                input.delta,
                params.a.clone(),
                input.b,
                input.c,
                params.d.clone(),
            );
            ScanOutput { y, final_state }
        }
        ScanPath::Chunked => chunked_scan(params, input, initial_state, chunk),
    }
}
