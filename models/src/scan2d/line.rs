//! One line of the grid as the row and column algorithms see it: a row (one variate, every time
//! step) or a column (one time step, every variate). Its inputs, the discretised coefficients of
//! its cells, and the read-out `y`.
use burn::prelude::*;

use super::{Scan2dInput, Scan2dParams};

/// The inputs of the cells of one line; `len` is the number of time steps for a row and the
/// number of variates for a column. A column is what [`super::scan2d_step`] takes.
#[derive(Debug, Clone)]
pub struct LineInput {
    /// Input. `x: [batch, len, channels]`
    pub x: Tensor<3>,
    /// Step along time, `> 0`. `delta1: [batch, len, channels]`
    pub delta1: Tensor<3>,
    /// Step along the variates, `> 0`. `delta2: [batch, len, channels]`
    pub delta2: Tensor<3>,
    /// `b1: [batch, len, state]`
    pub b1: Tensor<3>,
    /// `b2: [batch, len, state]`
    pub b2: Tensor<3>,
    /// `c1: [batch, len, state]`
    pub c1: Tensor<3>,
    /// `c2: [batch, len, state]`
    pub c2: Tensor<3>,
}

impl Scan2dInput {
    /// The cells of variate `v`, every time step (`len = time`).
    pub fn row(&self, v: usize) -> LineInput {
        self.line(1, v)
    }

    /// The cells of time step `t`, every variate (`len = variates`).
    pub fn column(&self, t: usize) -> LineInput {
        self.line(2, t)
    }

    /// Index `at` of grid axis `axis` (1: variates, 2: time); the other axis becomes the line.
    fn line(&self, axis: usize, at: usize) -> LineInput {
        let cut = |t: &Tensor<4>| {
            let [batch, variates, time, width] = t.dims();
            let len = if axis == 1 { time } else { variates };
            t.clone().narrow(axis, at, 1).reshape([batch, len, width])
        };
        LineInput {
            x: cut(&self.x),
            delta1: cut(&self.delta1),
            delta2: cut(&self.delta2),
            b1: cut(&self.b1),
            b2: cut(&self.b2),
            c1: cut(&self.c1),
            c2: cut(&self.c2),
        }
    }
}

impl LineInput {
    /// `(batch, len, channels)`, after checking the shapes against each other and `params`.
    ///
    /// # Panics
    /// If any shape disagrees.
    pub fn dims(&self, params: &Scan2dParams) -> (usize, usize, usize) {
        let [batch, len, channels] = self.x.dims();
        let [_, state] = params.a1.dims();
        assert_eq!(
            params.a1.dims(),
            [channels, state],
            "2-D scan line: A1 is {:?}, x is {:?}",
            params.a1.dims(),
            self.x.dims()
        );
        for (name, t) in [("Δ1", &self.delta1), ("Δ2", &self.delta2)] {
            assert_eq!(
                t.dims(),
                [batch, len, channels],
                "2-D scan line: {name} must match x {:?}",
                self.x.dims()
            );
        }
        for (name, t) in [
            ("B1", &self.b1),
            ("B2", &self.b2),
            ("C1", &self.c1),
            ("C2", &self.c2),
        ] {
            assert_eq!(
                t.dims(),
                [batch, len, state],
                "2-D scan line: {name} must be [batch, len, state]"
            );
        }
        (batch, len, channels)
    }
}

/// The discretised coefficients of the cells of one line, every one
/// `[batch, len, channels, state]`. The decays are kept as logs, as [`super::linear_scan`] takes
/// them.
#[derive(Debug, Clone)]
pub(crate) struct LineCoefficients {
    /// `log ā1 = Δ1·A1`
    pub(crate) log_a1: Tensor<4>,
    /// `ā2 = Δ1·A2`
    pub(crate) a2: Tensor<4>,
    /// `b̄1·x = Δ1·B1·x`
    pub(crate) bx1: Tensor<4>,
    /// `ā3 = Δ2·A3`
    pub(crate) a3: Tensor<4>,
    /// `log ā4 = Δ2·A4`
    pub(crate) log_a4: Tensor<4>,
    /// `b̄2·x = Δ2·B2·x`
    pub(crate) bx2: Tensor<4>,
}

impl LineCoefficients {
    /// The coefficients of `line`'s cells.
    pub(crate) fn of(params: &Scan2dParams, line: &LineInput) -> Self {
        let [channels, state] = params.a1.dims();
        let per_cell = |a: &Tensor<2>| a.clone().reshape([1, 1, channels, state]);
        let over_states = |t: &Tensor<3>| t.clone().unsqueeze_dim::<4>(3); // [batch, len, channels, 1]
        let over_channels = |t: &Tensor<3>| t.clone().unsqueeze_dim::<4>(2); // [batch, len, 1, state]
        let (dt1, dt2, x) = (
            over_states(&line.delta1),
            over_states(&line.delta2),
            over_states(&line.x),
        );
        Self {
            log_a1: dt1.clone() * per_cell(&params.a1),
            a2: dt1.clone() * per_cell(&params.a2),
            bx1: dt1 * over_channels(&line.b1) * x.clone(),
            a3: dt2.clone() * per_cell(&params.a3),
            log_a4: dt2.clone() * per_cell(&params.a4),
            bx2: dt2 * over_channels(&line.b2) * x,
        }
    }
}

/// `y = Σ_n C1·h1 + Σ_n C2·h2 + D·x` for every cell of `line`.
///
/// # Shapes
/// * `h1`, `h2`: `[batch, len, channels, state]`; returns `[batch, len, channels]`
pub(crate) fn readout(params: &Scan2dParams, line: &LineInput, h1: Tensor<4>, h2: Tensor<4>) -> Tensor<3> {
    let [batch, len, channels, _] = h1.dims();
    let c1 = line.c1.clone().unsqueeze_dim::<4>(2); // [batch, len, 1, state]
    let c2 = line.c2.clone().unsqueeze_dim::<4>(2);
    (h1 * c1 + h2 * c2).sum_dim(3).reshape([batch, len, channels])
        + line.x.clone() * params.d.clone().reshape([1, 1, channels])
}

/// Each cell's predecessor along the line (zero before the first cell).
/// `t: [batch, len, channels, state]` → the same shape.
pub(crate) fn previous_along(t: Tensor<4>) -> Tensor<4> {
    let [batch, len, channels, state] = t.dims();
    let zero = Tensor::zeros([batch, 1, channels, state], &t.device());
    if len == 1 {
        return zero;
    }
    Tensor::cat(vec![zero, t.narrow(1, 0, len - 1)], 1)
}
