//! One step of the selective scan, for streaming: `O(channels · state)` work per point, whatever
//! came before (`docs/simba.md` §1.4).
use burn::prelude::*;

use super::ScanParams;
use super::discretise::input_coefficient;

/// The inputs of one time step.
#[derive(Debug, Clone)]
pub struct StepInput {
    /// Input. `u: [batch, channels]`
    pub u: Tensor<2>,
    /// Step size, `> 0`. `delta: [batch, channels]`
    pub delta: Tensor<2>,
    /// Input vector. `b: [batch, state]`
    pub b: Tensor<2>,
    /// Output vector. `c: [batch, state]`
    pub c: Tensor<2>,
}

/// The result of one time step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Output. `y: [batch, channels]`
    pub y: Tensor<2>,
    /// The new state. `state: [batch, channels, state]`
    pub state: Tensor<3>,
}

/// `h_t = exp(Δ_t·A) ⊙ h_{t−1} + b̄_t u_t`, `y_t = ⟨C_t, h_t⟩ + D u_t`.
///
/// # Shapes
/// * `state` (`h_{t−1}`): `[batch, channels, state]`; `input`: see [`StepInput`]
/// * returns `y: [batch, channels]`, `state: [batch, channels, state]`
///
/// # Panics
/// If the shapes disagree.
pub fn scan_step(params: &ScanParams, state: Tensor<3>, input: StepInput) -> StepOutput {
    let [batch, channels, size] = state.dims();
    assert_eq!(
        params.a.dims(),
        [channels, size],
        "scan step: A must be [channels, state]"
    );
    assert_eq!(
        input.u.dims(),
        [batch, channels],
        "scan step: u must be [batch, channels]"
    );
    assert_eq!(
        input.delta.dims(),
        [batch, channels],
        "scan step: Δ must be [batch, channels]"
    );
    assert_eq!(
        input.b.dims(),
        [batch, size],
        "scan step: B must be [batch, state]"
    );
    assert_eq!(
        input.c.dims(),
        [batch, size],
        "scan step: C must be [batch, state]"
    );
    let a = params.a.clone().unsqueeze_dim::<3>(0); // [1, channels, state]
    let delta = input.delta.unsqueeze_dim::<3>(2); // [batch, channels, 1]
    let decay = (delta.clone() * a.clone()).exp();
    let coef = input_coefficient(delta, a, params.b_rule);
    let state = decay * state + coef * input.b.unsqueeze_dim::<3>(1) * input.u.clone().unsqueeze_dim::<3>(2);
    let y = (state.clone() * input.c.unsqueeze_dim::<3>(1))
        .sum_dim(2)
        .reshape([batch, channels])
        + input.u * params.d.clone().unsqueeze_dim::<2>(0);
    StepOutput { y, state }
}
