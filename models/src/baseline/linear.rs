//! [`Linear`]: NLinear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?",
//! AAAI 2023) — one linear map over time, shared by all variates, on the window minus its last
//! value, which is added back.
//!
//! ```text
//! x (B, L, V) ─ − x_{L−1} ─> (B, V, L) ─Linear(L → H)─> (B, V, H) ─> (B, H, V) ─ + x_{L−1} ─> ŷ
//! ```
//!
//! Shape letters: `b` batch, `l` look-back, `h` horizon, `v` variates.
use burn::nn::{Linear as NnLinear, LinearConfig as NnLinearConfig};
use burn::prelude::*;

use crate::error::Result;
use crate::forecaster::{Forecaster, Reconstructor, Stepper};

/// Configuration of [`Linear`].
#[derive(Config, Debug)]
pub struct LinearConfig {
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Subtract the last look-back value before the map and add it back after (NLinear).
    /// Default true; false gives the plain "Linear" of the same paper.
    #[config(default = true)]
    pub subtract_last: bool,
}

impl LinearConfig {
    /// Checks what [`Self::init`] asserts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming `lookback` or `horizon` when it is 0.
    pub fn validate(&self) -> Result<()> {
        super::validate_geometry(self.lookback, self.horizon)
    }

    /// Builds the model (burn's default `Linear` initialisation).
    ///
    /// # Panics
    /// On a configuration that [`Self::validate`] refuses.
    pub fn init(&self, device: &Device) -> Linear {
        if let Err(e) = self.validate() {
            panic!("LinearConfig::init: {e}");
        }
        Linear {
            map: NnLinearConfig::new(self.lookback, self.horizon).init(device),
            lookback: self.lookback,
            horizon: self.horizon,
            subtract_last: self.subtract_last,
        }
    }
}

/// NLinear forecaster: `ŷ = W (x − x_{L−1}) + b + x_{L−1}` per variate, `W: [H, L]` shared
/// across variates. Build it with [`LinearConfig::init`].
#[derive(Module, Debug)]
pub struct Linear {
    /// The map over time, `L → H` (weight `[L, H]`, bias `[H]`).
    pub map: NnLinear,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// NLinear normalisation on.
    pub subtract_last: bool,
}

impl Forecaster for Linear {
    fn lookback(&self) -> usize {
        self.lookback
    }

    fn horizon(&self) -> usize {
        self.horizon
    }

    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let [b, l, v] = x_blv.dims();
        assert_eq!(
            l, self.lookback,
            "Linear: look-back {l} differs from the configured {}",
            self.lookback
        );
        let y_bhv = if self.subtract_last {
            let last_b1v = x_blv.clone().narrow(1, l - 1, 1);
            let d_bvl = (x_blv - last_b1v.clone()).swap_dims(1, 2);
            self.map.forward(d_bvl).swap_dims(1, 2) + last_b1v
        } else {
            self.map.forward(x_blv.swap_dims(1, 2)).swap_dims(1, 2)
        };
        debug_assert_eq!(y_bhv.dims(), [b, self.horizon, v]);
        y_bhv
    }

    /// MSE of the forecast.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        (self.forecast(x_blv) - y_bhv).square().mean()
    }

    /// A map from the look-back to the horizon has no estimate of the look-back itself.
    fn reconstructor(&self) -> Option<&dyn Reconstructor> {
        None
    }

    /// The map reads the whole window at once: no recurrent form.
    fn stepper(&self) -> Option<&dyn Stepper> {
        None
    }
}
