//! One time step of the 2-D scan for every variate, for streaming (`docs/chimera.md` §1.4):
//! `(h1[:, t−1], h2[:, t−1], inputs at t) → (y[:, t], h1[:, t], h2[:, t])`, the same work at every
//! time point whatever came before.
use burn::prelude::*;

use super::line::{LineCoefficients, previous_along, readout};
use super::{ColumnState, LineInput, Scan2dParams, linear_scan};

/// The result of one time step.
#[derive(Debug, Clone)]
pub struct Step2dOutput {
    /// Outputs. `y: [batch, variates, channels]`
    pub y: Tensor<3>,
    /// The states of this time column (the next step's `previous`).
    pub state: ColumnState,
}

/// One time step over the column `column` (every variate at time `t`), from the previous
/// column's states:
/// 1. `h1[v, t] = ā1·h1[v, t−1] + ā2·h2[v, t−1] + b̄1·x[v, t]` for every `v` at once;
/// 2. `h2[v, t] = ā4·h2[v−1, t] + s_v` with `s_v = ā3·h1[v−1, t] + b̄2·x[v, t]` is a 1-D linear
///    recurrence down the column: [`linear_scan`] with `g = Δ2·A4` and chunk length `chunk`.
///
/// Work `O(batch · V · chunk · channels · state)` per step.
///
/// # Shapes
/// * `previous`: `h1`, `h2` of time `t − 1` (zero before the first step, [`ColumnState::zeros`]),
///   `[batch, variates, channels, state]`
/// * `column`: the inputs at time `t`, a [`LineInput`] with `len = variates`
///   (`x`, `delta1`, `delta2`: `[batch, variates, channels]`; `b1`…`c2`: `[batch, variates, state]`)
/// * returns `y: [batch, variates, channels]` and the states of time `t`
///
/// # Panics
/// If `chunk == 0` or the shapes disagree.
pub fn scan2d_step(
    params: &Scan2dParams,
    previous: ColumnState,
    column: LineInput,
    chunk: usize,
) -> Step2dOutput {
    let (batch, variates, channels) = column.dims(params);
    let [_, state] = params.a1.dims();
    for (name, h) in [("h1", &previous.h1), ("h2", &previous.h2)] {
        assert_eq!(
            h.dims(),
            [batch, variates, channels, state],
            "2-D scan step: previous {name} must be [batch, variates, channels, state]"
        );
    }
    let c = LineCoefficients::of(params, &column);
    let h1 = c.log_a1.exp() * previous.h1 + c.a2 * previous.h2 + c.bx1;
    let h2 = linear_scan(c.log_a4, c.a3 * previous_along(h1.clone()) + c.bx2, chunk);
    Step2dOutput {
        y: readout(params, &column, h1.clone(), h2.clone()),
        state: ColumnState { h1, h2 },
    }
}
