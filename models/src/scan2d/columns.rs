//! The column-sequential 2-D scan (`docs/chimera.md` §1.3): time steps in order, each column in
//! parallel down the variates. `T` sequential steps, each one [`scan2d_step`] (an element-wise
//! update and a [`super::linear_scan`] of depth `O(log V)`); the better orientation when there
//! are many variates.
use burn::prelude::*;

use super::{ColumnState, Scan2dDims, Scan2dInput, Scan2dOutput, Scan2dParams, scan2d_step};

/// The 2-D selective scan column by column, with `chunk` the chunk length of the scans down the
/// variates: the streaming step applied to every time step in order, from the zero state.
///
/// Memory: one column of states is live at a time, plus what autodiff keeps (every column's
/// states and intra-chunk weights, `batch · V · T · chunk · channels · state` floats).
///
/// # Shapes
/// As [`super::rows_scan`].
///
/// # Panics
/// If `chunk == 0` or the shapes disagree ([`Scan2dDims::of`]).
pub fn columns_scan(params: &Scan2dParams, input: Scan2dInput, chunk: usize) -> Scan2dOutput {
    let Scan2dDims {
        batch,
        variates,
        time,
        channels,
        state,
    } = Scan2dDims::of(params, &input);
    let mut column_state = ColumnState::zeros(batch, variates, channels, state, &input.x.device());
    let mut ys = Vec::with_capacity(time);
    for t in 0..time {
        let step = scan2d_step(params, column_state, input.column(t), chunk);
        ys.push(step.y.unsqueeze_dim::<4>(2));
        column_state = step.state;
    }
    Scan2dOutput {
        y: Tensor::cat(ys, 2),
        last_column: column_state,
    }
}
