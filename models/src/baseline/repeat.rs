//! [`Repeat`]: the naive forecast, the last look-back value repeated over the horizon.
//!
//! `ŷ_{L+h} = x_{L−1}` for `h = 0 … H−1`, per variate. No parameters; it is the "Repeat" column
//! of the LTSF tables (spec `evaluation.md`).
use burn::prelude::*;

use crate::forecaster::Forecaster;

/// Configuration of [`Repeat`].
#[derive(Config, Debug, PartialEq, Eq)]
pub struct RepeatConfig {
    /// Look-back `L` (only the last step is read).
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
}

impl RepeatConfig {
    /// Builds the model (nothing is allocated on `_device`).
    ///
    /// # Panics
    /// When `lookback` or `horizon` is 0.
    pub fn init(&self, _device: &Device) -> Repeat {
        assert!(
            self.lookback >= 1 && self.horizon >= 1,
            "Repeat needs lookback, horizon >= 1"
        );
        Repeat {
            lookback: self.lookback,
            horizon: self.horizon,
        }
    }
}

/// Repeat-the-last-value forecaster (no parameters). Build it with [`RepeatConfig::init`].
#[derive(Module, Debug)]
pub struct Repeat {
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
}

impl Forecaster for Repeat {
    fn lookback(&self) -> usize {
        self.lookback
    }

    fn horizon(&self) -> usize {
        self.horizon
    }

    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let [_, l, _] = x_blv.dims();
        x_blv.narrow(1, l - 1, 1).repeat_dim(1, self.horizon)
    }

    /// MSE of the forecast (no gradient: there is nothing to train).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        (self.forecast(x_blv) - y_bhv).square().mean()
    }
}
