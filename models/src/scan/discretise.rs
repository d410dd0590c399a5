//! Discretisation of the input matrix `B` (`docs/simba.md` §1.2). `A` is always discretised by
//! the exact zero-order hold `exp(Δ·A)`.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Below this `|Δ·A|` the zero-order-hold factor `(exp(x) − 1)/x` is evaluated by its Taylor
/// series: the quotient loses all float32 digits to cancellation as `x → 0`.
const ZOH_SERIES_BELOW: f64 = 1e-2;

/// How the input matrix `B` is turned into the per-step input vector `b̄`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BDiscretisation {
    /// `b̄ = Δ · B` (first order in `Δ`). What Mamba does; the default, so weights trained by the
    /// reference implementation mean the same thing here.
    #[default]
    Euler,
    /// `b̄ = (exp(Δ·A) − 1)/A · B`: exact for an input held constant over the step.
    ExactZoh,
}

/// The per-step input coefficient `b̄ / B`, from the step and the state matrix broadcast to one
/// shape: `Δ` (Euler) or `Δ · φ(Δ·A)` with `φ(x) = (exp(x) − 1)/x` (exact ZOH).
///
/// # Shapes
/// * `delta`: `[..., channels, 1]`, `a`: broadcastable to `[..., channels, state]`; returns
///   `[..., channels, state]` (Euler: `delta` expanded over the state).
pub fn input_coefficient<const D: usize>(delta: Tensor<D>, a: Tensor<D>, rule: BDiscretisation) -> Tensor<D> {
    match rule {
        BDiscretisation::Euler => delta * a.ones_like(),
        BDiscretisation::ExactZoh => delta.clone() * phi1(delta * a),
    }
}

/// `φ(x) = (exp(x) − 1)/x`, `φ(0) = 1`, accurate (and with finite gradients) near 0.
pub fn phi1<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let small = x.clone().abs().lower_elem(ZOH_SERIES_BELOW);
    // 1 + x/2 + x²/6 + x³/24: error below x⁴/120 ≈ 1e-10 at the switch.
    let series = x.clone() * (x.clone() * (x.clone() / 24.0 + 1.0 / 6.0) + 0.5) + 1.0;
    // The quotient branch never sees x ≈ 0, so neither it nor its gradient is ever 0/0.
    let safe = x.mask_fill(small.clone(), 1.0);
    let quotient = (safe.clone().exp() - 1.0) / safe;
    quotient.mask_where(small, series)
}
