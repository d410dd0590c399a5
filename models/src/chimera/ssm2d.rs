//! One input-dependent 2-D SSM head ([`Ssm2d`]): the parameters of the 2-D selective scan
//! (`crate::scan2d`) and the projections that make its `Δ1`, `Δ2`, `B1`, `B2`, `C1`, `C2` from
//! each cell's input (`docs/chimera.md` §2.1).
//!
//! ```text
//! u (cell input, E channels) ─x_proj─> Δ1_low (R), Δ2_low (R), B1, B2, C1, C2 (N each)
//!   Δ1 = softplus(dt1_proj(Δ1_low))   (R → E, bias initialised to the head's time range)
//!   Δ2 = softplus(dt2_proj(Δ2_low))   (R → E, bias initialised to the variate range)
//!   A1 = −exp(a1_log), A4 = −exp(a4_log)   (decays, S4D-real init −(1..N))
//!   A2, A3                                  (couplings, U[−c, c] init)
//! y = scan2d(u, Δ1, Δ2, B1, B2, C1, C2; A1..A4, D)
//! ```
//!
//! Everything is per cell, so the same head runs over whole grids ([`Ssm2d::forward`]) and one
//! time column at a time ([`Ssm2d::step`]), and the two agree exactly.
//!
//! Shape letters: `b` batch, `v` variates, `t` time, `e` channels, `n` state, `r` rank.
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softplus;

use crate::scan2d::{ColumnState, LineInput, Scan2dInput, Scan2dOutput, Scan2dParams, scan2d, scan2d_step};
use crate::simba::mamba::step_size_bias;

/// Sizes and initial ranges of one 2-D SSM head (made by
/// [`super::ChimeraConfig::ssm2d`], which validates them).
#[derive(Debug, Clone)]
pub struct Ssm2dConfig {
    /// Channels `E`.
    pub channels: usize,
    /// State size `N` per axis.
    pub state: usize,
    /// Rank `R` of the step-size projections.
    pub rank: usize,
    /// Initial `Δ1` range (log-uniform).
    pub time_dt: [f64; 2],
    /// Initial `Δ2` range (log-uniform).
    pub variate_dt: [f64; 2],
    /// Floor of the initial steps.
    pub dt_init_floor: f64,
    /// `A2`, `A3` start uniform in `[−c, c]`.
    pub coupling_init: f64,
    /// Chunk length of the 1-D linear scans.
    pub chunk: usize,
}

impl Ssm2dConfig {
    /// Builds the head: `A1`, `A4` with the S4D-real decays `−(n + 1)` in every channel, `D = 1`,
    /// step biases that are the inverse softplus of log-uniform draws in the configured ranges,
    /// and burn's default `U(±1/√fan_in)` for the projections.
    ///
    /// # Panics
    /// If a size is zero (the forecaster's `validate` rules this out first).
    pub fn init(&self, device: &Device) -> Ssm2d {
        let (e, n, r) = (self.channels, self.state, self.rank);
        assert!(
            e > 0 && n > 0 && r > 0 && self.chunk > 0,
            "2-D SSM: every size must be at least 1"
        );
        let decay_log = || {
            let values: Vec<f32> = (0..e).flat_map(|_| (1..=n).map(|k| (k as f32).ln())).collect();
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [e, n]), device))
        };
        let c = self.coupling_init;
        let coupling = || Param::from_tensor(Tensor::random([e, n], Distribution::Uniform(-c, c), device));
        let step = |[lo, hi]: [f64; 2]| {
            let mut layer = LinearConfig::new(r, e).init(device);
            layer.bias = Some(Param::from_tensor(step_size_bias(
                e,
                [lo, hi, self.dt_init_floor],
                device,
            )));
            layer
        };
        Ssm2d {
            x_proj: LinearConfig::new(e, 2 * r + 4 * n).with_bias(false).init(device),
            dt1_proj: step(self.time_dt),
            dt2_proj: step(self.variate_dt),
            a1_log: decay_log(),
            a2: coupling(),
            a3: coupling(),
            a4_log: decay_log(),
            d_skip: Param::from_tensor(Tensor::ones([e], device)),
            state: n,
            rank: r,
            chunk: self.chunk,
        }
    }
}

/// One input-dependent 2-D SSM head (build it with [`Ssm2dConfig::init`]).
#[derive(Module, Debug)]
pub struct Ssm2d {
    /// `E → 2R + 4N`, no bias: `Δ1_low`, `Δ2_low`, `B1`, `B2`, `C1`, `C2`.
    pub x_proj: Linear,
    /// `R → E` with bias: the time step before its softplus.
    pub dt1_proj: Linear,
    /// `R → E` with bias: the variate step before its softplus.
    pub dt2_proj: Linear,
    /// `log(−A1)`, `[E, N]`.
    pub a1_log: Param<Tensor<2>>,
    /// Coupling of `h2` into `h1`, `[E, N]`.
    pub a2: Param<Tensor<2>>,
    /// Coupling of `h1` into `h2`, `[E, N]`.
    pub a3: Param<Tensor<2>>,
    /// `log(−A4)`, `[E, N]`.
    pub a4_log: Param<Tensor<2>>,
    /// Skip `D`, `[E]`.
    pub d_skip: Param<Tensor<1>>,
    /// `N`.
    pub state: usize,
    /// `R`.
    pub rank: usize,
    /// Chunk length of the 1-D linear scans.
    pub chunk: usize,
}

/// The per-cell coefficients of any leading shape (`[.., E]` steps, `[.., N]` vectors).
struct Selective<const D: usize> {
    delta1: Tensor<D>,
    delta2: Tensor<D>,
    b1: Tensor<D>,
    b2: Tensor<D>,
    c1: Tensor<D>,
    c2: Tensor<D>,
}

impl Ssm2d {
    /// The input-independent parameters.
    pub fn params(&self) -> Scan2dParams {
        Scan2dParams {
            a1: -self.a1_log.val().exp(),
            a2: self.a2.val(),
            a3: self.a3.val(),
            a4: -self.a4_log.val().exp(),
            d: self.d_skip.val(),
        }
    }

    /// `Δ1`, `Δ2`, `B1`, `B2`, `C1`, `C2` of cells `u: [.., E]`.
    fn selective<const D: usize>(&self, u: Tensor<D>) -> Selective<D> {
        let (r, n) = (self.rank, self.state);
        let p = self.x_proj.forward(u);
        let part = |at: usize, len: usize| p.clone().narrow(D - 1, at, len);
        Selective {
            delta1: softplus(self.dt1_proj.forward(part(0, r)), 1.0),
            delta2: softplus(self.dt2_proj.forward(part(r, r)), 1.0),
            b1: part(2 * r, n),
            b2: part(2 * r + n, n),
            c1: part(2 * r + 2 * n, n),
            c2: part(2 * r + 3 * n, n),
        }
    }

    /// The head over whole grids from zero states.
    ///
    /// # Shapes
    /// * `u_bvte`: `[B, V, T, E]`; returns `y: [B, V, T, E]` and the last time column's states
    pub fn forward(&self, u_bvte: Tensor<4>) -> Scan2dOutput {
        let s = self.selective(u_bvte.clone());
        let input = Scan2dInput {
            x: u_bvte,
            delta1: s.delta1,
            delta2: s.delta2,
            b1: s.b1,
            b2: s.b2,
            c1: s.c1,
            c2: s.c2,
        };
        scan2d(&self.params(), input, self.chunk)
    }

    /// One time column (every variate at one time step) from the previous column's states.
    ///
    /// # Shapes
    /// * `u_bve`: `[B, V, E]`, `previous`: `[B, V, E, N]` each; returns `y: [B, V, E]` and the
    ///   states of this column
    pub fn step(&self, u_bve: Tensor<3>, previous: ColumnState) -> (Tensor<3>, ColumnState) {
        let s = self.selective(u_bve.clone());
        let column = LineInput {
            x: u_bve,
            delta1: s.delta1,
            delta2: s.delta2,
            b1: s.b1,
            b2: s.b2,
            c1: s.c1,
            c2: s.c2,
        };
        let out = scan2d_step(&self.params(), previous, column, self.chunk);
        (out.y, out.state)
    }

    /// Zero states of one time column.
    pub fn zero_state(&self, batch: usize, variates: usize, device: &Device) -> ColumnState {
        let [channels, state] = self.a1_log.dims();
        ColumnState::zeros(batch, variates, channels, state, device)
    }
}
