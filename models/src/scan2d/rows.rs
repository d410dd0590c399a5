//! The row-sequential 2-D scan (`docs/chimera.md` §1.3): variates in order, each row in parallel
//! along time. `V` sequential steps, each an element-wise update and a [`linear_scan`] of depth
//! `O(log T)`; the better orientation when there are few variates and long windows.
use burn::prelude::*;

use super::line::{LineCoefficients, previous_along, readout};
use super::{ColumnState, Scan2dDims, Scan2dInput, Scan2dOutput, Scan2dParams, linear_scan};

/// The 2-D selective scan row by row, with `chunk` the chunk length of the scans along time.
///
/// For each variate `v` in order:
/// 1. `h2[v, t] = ā3·h1[v−1, t] + ā4·h2[v−1, t] + b̄2·x[v, t]` for every `t` at once: the row above
///    is complete, so nothing in this step runs along time;
/// 2. `h1[v, t] = ā1·h1[v, t−1] + s_t` with `s_t = ā2·h2[v, t−1] + b̄1·x[v, t]` is a 1-D linear
///    recurrence along the row with a known input: [`linear_scan`] with `g = Δ1·A1`.
///
/// Memory: two rows of states are live at a time, plus what autodiff keeps (every row's states
/// and intra-chunk weights, `batch · V · T · chunk · channels · state` floats).
///
/// # Shapes
/// * `input`: see [`Scan2dInput`] (`x`, `delta1`, `delta2`: `[batch, variates, time, channels]`;
///   `b1`, `b2`, `c1`, `c2`: `[batch, variates, time, state]`)
/// * returns `y: [batch, variates, time, channels]` and the last column's states
///   `[batch, variates, channels, state]`
///
/// # Panics
/// If `chunk == 0` or the shapes disagree ([`Scan2dDims::of`]).
pub fn rows_scan(params: &Scan2dParams, input: Scan2dInput, chunk: usize) -> Scan2dOutput {
    let Scan2dDims { variates, time, .. } = Scan2dDims::of(params, &input);
    // The states of the row above, [batch, time, channels, state]; none above the first row.
    let mut above: Option<(Tensor<4>, Tensor<4>)> = None;
    let mut ys = Vec::with_capacity(variates);
    let (mut last_h1, mut last_h2) = (Vec::with_capacity(variates), Vec::with_capacity(variates));
    for v in 0..variates {
        let row = input.row(v);
        let c = LineCoefficients::of(params, &row);
        let h2 = match above {
            None => c.bx2,
            Some((h1_above, h2_above)) => c.a3 * h1_above + c.log_a4.exp() * h2_above + c.bx2,
        };
        let h1 = linear_scan(c.log_a1, c.a2 * previous_along(h2.clone()) + c.bx1, chunk);
        ys.push(readout(params, &row, h1.clone(), h2.clone()).unsqueeze_dim::<4>(1));
        last_h1.push(h1.clone().narrow(1, time - 1, 1));
        last_h2.push(h2.clone().narrow(1, time - 1, 1));
        above = Some((h1, h2));
    }
    Scan2dOutput {
        y: Tensor::cat(ys, 1),
        last_column: ColumnState {
            h1: Tensor::cat(last_h1, 1),
            h2: Tensor::cat(last_h2, 1),
        },
    }
}
