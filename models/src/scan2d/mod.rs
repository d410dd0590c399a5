//! The 2-D selective scan: a diagonal selective SSM over the (variate × time) grid of a
//! multivariate series, the core op of the Chimera family (`docs/chimera.md` §1).
//!
//! Each cell `(v, t)` of the grid (`v` a variate, `t` a time step) holds two states per channel `e`
//! and state index `n`: `h1`, carried forward in time, and `h2`, carried from each variate to the
//! next. Both are zero outside the grid (at `t = −1` and at `v = −1`):
//!
//! ```text
//! h1[v,t] = ā1[v,t]·h1[v,t−1] + ā2[v,t]·h2[v,t−1] + b̄1[v,t]·x[v,t]
//! h2[v,t] = ā3[v,t]·h1[v−1,t] + ā4[v,t]·h2[v−1,t] + b̄2[v,t]·x[v,t]
//! y[v,t]  = Σ_n C1[v,t,n]·h1[v,t,n] + Σ_n C2[v,t,n]·h2[v,t,n] + D[e]·x[v,t]
//! ```
//!
//! Each axis is discretised with its own step, `Δ1` along time and `Δ2` along the variates. The
//! decays are exact exponentials; the coupling and input terms are first order in the step (the
//! rule Mamba uses for `B`):
//!
//! ```text
//! ā1 = exp(Δ1·A1)   ā2 = Δ1·A2   b̄1 = Δ1·B1        (time axis)
//! ā4 = exp(Δ2·A4)   ā3 = Δ2·A3   b̄2 = Δ2·B2        (variate axis)
//! ```
//!
//! `A1`, `A4` are decay rates (`≤ 0`), `A2`, `A3` couple the two states (any sign). `Δ1`, `Δ2` vary
//! per cell and channel, `B1`, `B2`, `C1`, `C2` per cell and are shared by the channels.
//!
//! # Algorithms
//!
//! A row (one variate, all times) depends on the row above only through `h2`, and inside a row
//! `h1` is a 1-D linear recurrence; the same holds for columns with the roles of `h1` and `h2`
//! exchanged. So the grid can be walked one line at a time, each line in parallel:
//!
//! | form | how | sequential steps | work |
//! |---|---|---|---|
//! | [`reference::sequential_scan2d`] | `f64` loops, cell by cell: the oracle | `V·T` | `V·T·E·N` |
//! | [`rows_scan`] | for each row: `h2` element-wise from the row above, then `h1` by [`linear_scan`] along time | `V`, each `O(log T)` deep | `V·T·Q·E·N` |
//! | [`columns_scan`] | for each time step: `h1` element-wise from the previous column, then `h2` by [`linear_scan`] down the variates | `T`, each `O(log V)` deep | `V·T·Q·E·N` |
//! | [`scan2d_step`] | one column of [`columns_scan`]: streaming, one time step for all variates | `1` per time step | `V·Q·E·N` per step |
//! | [`lti::lti_scan2d`] | parameters equal in every cell: a 2-D causal convolution with the lattice kernel, by FFT | `V` or `T` for the kernel | `E·V·T·log(V·T)` per series |
//!
//! (per batch element; `E` channels, `N` states, `Q` the chunk length of [`linear_scan`].)
//!
//! [`scan2d`] runs whichever of [`rows_scan`] and [`columns_scan`] has fewer sequential
//! operations ([`Scan2dPath::for_grid`]): rows when there are few variates and long windows,
//! columns for many variates. Both are built from burn tensor ops, so autodiff gives the backward
//! pass on any device; neither loops over the cells of a line.

pub mod columns;
mod line;
pub mod linear;
pub mod lti;
pub mod reference;
pub mod rows;
pub mod step;

#[cfg(test)]
mod tests;

use burn::prelude::*;

pub use columns::columns_scan;
pub use line::LineInput;
pub use linear::linear_scan;
pub use rows::rows_scan;
pub use step::{Step2dOutput, scan2d_step};

/// The input-independent parameters of a 2-D selective scan.
#[derive(Debug, Clone)]
pub struct Scan2dParams {
    /// Decay rates along time, every entry `≤ 0` (callers use `−exp(log)`). `a1: [channels, state]`
    pub a1: Tensor<2>,
    /// Coupling of `h2` into `h1` (the time move), any sign. `a2: [channels, state]`
    pub a2: Tensor<2>,
    /// Coupling of `h1` into `h2` (the variate move), any sign. `a3: [channels, state]`
    pub a3: Tensor<2>,
    /// Decay rates along the variates, every entry `≤ 0`. `a4: [channels, state]`
    pub a4: Tensor<2>,
    /// Skip connection. `d: [channels]`
    pub d: Tensor<1>,
}

/// The per-cell inputs of a 2-D selective scan over a whole grid.
#[derive(Debug, Clone)]
pub struct Scan2dInput {
    /// Input. `x: [batch, variates, time, channels]`
    pub x: Tensor<4>,
    /// Step along time, `> 0`. `delta1: [batch, variates, time, channels]`
    pub delta1: Tensor<4>,
    /// Step along the variates, `> 0`. `delta2: [batch, variates, time, channels]`
    pub delta2: Tensor<4>,
    /// Input vectors of `h1`, shared by the channels. `b1: [batch, variates, time, state]`
    pub b1: Tensor<4>,
    /// Input vectors of `h2`, shared by the channels. `b2: [batch, variates, time, state]`
    pub b2: Tensor<4>,
    /// Output vectors of `h1`, shared by the channels. `c1: [batch, variates, time, state]`
    pub c1: Tensor<4>,
    /// Output vectors of `h2`, shared by the channels. `c2: [batch, variates, time, state]`
    pub c2: Tensor<4>,
}

/// Both states of one time column, every variate: what a stream carries from one time step to
/// the next.
#[derive(Debug, Clone)]
pub struct ColumnState {
    /// The time-axis state. `h1: [batch, variates, channels, state]`
    pub h1: Tensor<4>,
    /// The variate-axis state. `h2: [batch, variates, channels, state]`
    pub h2: Tensor<4>,
}

impl ColumnState {
    /// The state before the first time step (zero everywhere).
    pub fn zeros(batch: usize, variates: usize, channels: usize, state: usize, device: &Device) -> Self {
        let zeros = || Tensor::zeros([batch, variates, channels, state], device);
        Self {
            h1: zeros(),
            h2: zeros(),
        }
    }
}

/// The result of a scan over a whole grid.
#[derive(Debug, Clone)]
pub struct Scan2dOutput {
    /// Outputs. `y: [batch, variates, time, channels]`
    pub y: Tensor<4>,
    /// The states of the last time column, `h1[:, T−1]` and `h2[:, T−1]`, from which
    /// [`scan2d_step`] continues the stream.
    pub last_column: ColumnState,
}

/// The sizes of one 2-D scan problem, checked against every tensor (mismatches are programmer
/// errors and panic with the offending shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan2dDims {
    /// Batch size.
    pub batch: usize,
    /// Variates (`V`).
    pub variates: usize,
    /// Time steps (`T`).
    pub time: usize,
    /// Channels (`E`).
    pub channels: usize,
    /// State size per channel and axis (`N`).
    pub state: usize,
}

impl Scan2dDims {
    /// The sizes of `input` with `params`, after checking that all shapes agree.
    ///
    /// # Panics
    /// If any shape disagrees, or the grid is empty.
    pub fn of(params: &Scan2dParams, input: &Scan2dInput) -> Self {
        let [batch, variates, time, channels] = input.x.dims();
        let [_, state] = params.a1.dims();
        assert!(
            variates > 0 && time > 0,
            "2-D scan: empty grid, x is {:?}",
            input.x.dims()
        );
        for (name, a) in [
            ("A1", &params.a1),
            ("A2", &params.a2),
            ("A3", &params.a3),
            ("A4", &params.a4),
        ] {
            assert_eq!(
                a.dims(),
                [channels, state],
                "2-D scan: {name} must be [channels, state] = [{channels}, {state}] (x is {:?})",
                input.x.dims()
            );
        }
        assert_eq!(
            params.d.dims(),
            [channels],
            "2-D scan: D must be [channels] = [{channels}]"
        );
        for (name, t) in [("Δ1", &input.delta1), ("Δ2", &input.delta2)] {
            assert_eq!(
                t.dims(),
                [batch, variates, time, channels],
                "2-D scan: {name} must match x"
            );
        }
        for (name, t) in [
            ("B1", &input.b1),
            ("B2", &input.b2),
            ("C1", &input.c1),
            ("C2", &input.c2),
        ] {
            assert_eq!(
                t.dims(),
                [batch, variates, time, state],
                "2-D scan: {name} must be [batch, variates, time, state]"
            );
        }
        Self {
            batch,
            variates,
            time,
            channels,
            state,
        }
    }
}

/// Which whole-grid algorithm [`scan2d`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan2dPath {
    /// [`rows_scan`]: `V` sequential row steps, each a scan along time.
    Rows,
    /// [`columns_scan`]: `T` sequential column steps, each a scan along the variates.
    Columns,
}

impl Scan2dPath {
    /// The algorithm with fewer sequential operations for a `variates × time` grid.
    ///
    /// A line step is one element-wise update plus a linear scan of depth `⌈log₂ len⌉`, so rows
    /// cost `V·(1 + ⌈log₂ T⌉)` and columns `T·(1 + ⌈log₂ V⌉)`; ties go to rows. For example 7
    /// variates over 96 steps run by rows (56 against 384), 862 variates over 96 steps by columns
    /// (1 056 against 6 896).
    pub fn for_grid(variates: usize, time: usize) -> Self {
        let depth = |len: usize| 1 + len.next_power_of_two().trailing_zeros() as usize;
        if variates * depth(time) <= time * depth(variates) {
            Self::Rows
        } else {
            Self::Columns
        }
    }
}

/// The 2-D selective scan over whole grids by the algorithm [`Scan2dPath::for_grid`] picks. The
/// two agree to float32 rounding in `y`, in the last column and in every gradient.
///
/// # Shapes
/// As [`rows_scan`].
///
/// # Panics
/// If `chunk == 0` or the shapes disagree ([`Scan2dDims::of`]).
pub fn scan2d(params: &Scan2dParams, input: Scan2dInput, chunk: usize) -> Scan2dOutput {
    let dims = Scan2dDims::of(params, &input);
    match Scan2dPath::for_grid(dims.variates, dims.time) {
        Scan2dPath::Rows => rows_scan(params, input, chunk),
        Scan2dPath::Columns => columns_scan(params, input, chunk),
    }
}
