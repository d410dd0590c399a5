//! What the scorer asks of a model for one look-back window that ends at row `t` (inclusive):
//! the forecast of rows `t+1 ..= t+K` and, where the model has one, its reconstruction of row `t`.
//! The batch path runs many windows per forward pass; the streaming path one window per point.
//! Both return the same [`WindowOutput`], so the scoring state downstream is shared. Models with
//! a recurrent form ([`Forecaster::stepper`]) are scored recurrently by default
//! ([`statecast_models::streaming`]): one state step per point. What a model offers is asked through the
//! model traits, never by naming its family, so a new family gets every path it supports.
use burn::prelude::*;
use std::sync::{Arc, Mutex};

use statecast_models::forecaster::{Forecaster, Stepper, StreamPlan};
use statecast_models::zoo::AnyModel;

use statecast_models::streaming::RecurrentSeries;

/// The model's view of one window (or of the recurrent state at its last row).
pub use statecast_models::streaming::WindowOutput;

/// The source of predictions: a trained forecaster, or none (the raw-value baseline).
#[derive(Debug, Clone)]
pub enum Predictor {
    /// A trained model; `steps` = forecast steps kept (≤ the model's horizon).
    Model {
        /// The model (inference mode), boxed to keep the enum small.
        model: Box<AnyModel>,
        /// Steps of each forecast that the scorer uses.
        steps: usize,
        /// Device the model lives on.
        device: Device,
        /// Score with the model's recurrent state ([`statecast_models::streaming`], models with a
        /// [`Forecaster::stepper`] only) instead of a forward pass over each window.
        recurrent: bool,
        /// The recurrent form's stream plan (forecasts of the steps its series compute, priming),
        /// made on first use (the model never changes inside a predictor).
        plan: Arc<Mutex<Option<Arc<StreamPlan>>>>,
    },
    /// No model: the score is the scaled value itself (a per-variate z-score baseline).
    RawValue,
}

impl Predictor {
    /// A model predictor keeping `min(steps, horizon)` forecast steps; recurrent for models that
    /// have a recurrent form, windowed otherwise.
    pub fn model(model: AnyModel, steps: usize, device: Device) -> Self {
        let steps = steps.clamp(1, model.horizon());
        let recurrent = model.stepper().is_some();
        Self::Model {
            model: Box::new(model),
            steps,
            device,
            recurrent,
            plan: Arc::default(),
        }
    }

    /// The same predictor, recurrent or windowed (`on` is ignored for models without a recurrent
    /// form): a detector must be applied in the mode it was fitted in.
    pub fn with_recurrent(self, on: bool) -> Self {
        match self {
            Self::Model {
                model,
                steps,
                device,
                plan,
                ..
            } => {
                let recurrent = on && model.stepper().is_some();
                Self::Model {
                    model,
                    steps,
                    device,
                    recurrent,
                    plan,
                }
            }
            Self::RawValue => Self::RawValue,
        }
    }

    /// Whether outputs come from the recurrent state rather than a window forward.
    pub fn is_recurrent(&self) -> bool {
        matches!(self, Self::Model { recurrent: true, .. })
    }

    /// A fresh recurrent state for one series with `n_variates` variates (`None` unless
    /// [`Self::is_recurrent`]).
    pub fn recurrent_series(&self, n_variates: usize) -> Option<RecurrentSeries> {
        match self {
            Self::Model {
                model,
                steps,
                recurrent: true,
                ..
            } => Some(RecurrentSeries::new(
                model.lookback(),
                n_variates,
                *steps,
                model.reconstructor().is_some(),
            )),
            Self::Model { recurrent: false, .. } | Self::RawValue => None,
        }
    }

    /// Advance a series' recurrent state by the scaled row `x_v` (see [`RecurrentSeries::push`]).
    ///
    /// # Panics
    /// If this predictor is not recurrent.
    pub fn push_recurrent(&self, series: &mut RecurrentSeries, x_v: &[f32]) -> Option<WindowOutput> {
        self.push_recurrent_many(&mut [series], &[x_v]).pop().flatten()
    }

    /// [`Self::push_recurrent`] for several distinct series at once, one model call per stage
    /// (see [`statecast_models::streaming::push_many`]).
    ///
    /// # Panics
    /// If this predictor is not recurrent.
    pub fn push_recurrent_many(
        &self,
        series: &mut [&mut RecurrentSeries],
        rows: &[&[f32]],
    ) -> Vec<Option<WindowOutput>> {
        let Self::Model { plan: cache, .. } = self else {
            panic!("the raw-value predictor has no recurrent form");
        };
        let Some(first) = series.first() else {
            return Vec::new();
        };
        let needed = first.needed_steps();
        let plan = {
            let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match cache.as_ref() {
                Some(plan) if plan.steps() == needed => plan.clone(),
                _ => {
                    let plan = Arc::new(self.stepper().plan_stream(needed));
                    *cache = Some(plan.clone());
                    plan
                }
            }
        };
        statecast_models::streaming::push_many(self.stepper(), self.device(), &plan, series, rows)
    }

    /// Bytes a series' recurrent state holds (see [`RecurrentSeries::memory_bytes`]).
    ///
    /// # Panics
    /// If this predictor is not recurrent.
    pub fn recurrent_bytes(&self, series: &RecurrentSeries) -> usize {
        series.memory_bytes(self.stepper())
    }

    fn stepper(&self) -> &dyn Stepper {
        match self {
            Self::Model { model, .. } => model
                .stepper()
                .expect("a recurrent predictor's model has a recurrent form"),
            Self::RawValue => panic!("the raw-value predictor has no recurrent form"),
        }
    }

    fn device(&self) -> &Device {
        match self {
            Self::Model { device, .. } => device,
            Self::RawValue => panic!("the raw-value predictor has no device"),
        }
    }

    /// Look-back the predictor needs (1 for the raw-value baseline).
    pub fn lookback(&self) -> usize {
        match self {
            Self::Model { model, .. } => model.lookback(),
            Self::RawValue => 1,
        }
    }

    /// Forecast steps per window (0 for the raw-value baseline).
    pub fn steps(&self) -> usize {
        match self {
            Self::Model { steps, .. } => *steps,
            Self::RawValue => 0,
        }
    }

    /// Whether outputs carry a reconstruction.
    pub fn has_reconstruction(&self) -> bool {
        match self {
            Self::Model { model, .. } => model.reconstructor().is_some(),
            Self::RawValue => false,
        }
    }

    /// Outputs for a batch of windows.
    ///
    /// # Shapes
    /// - `windows_blv`: [batch, lookback, variates] row-major, scaled
    /// - returns `batch` outputs
    pub fn run(&self, windows_blv: &[f32], batch: usize, n_variates: usize) -> Vec<WindowOutput> {
        let Self::Model {
            model, steps, device, ..
        } = self
        else {
            return vec![
                WindowOutput {
                    forecast_kv: Vec::new(),
                    recon_v: None,
                };
                batch
            ];
        };
        let l = model.lookback();
        debug_assert_eq!(windows_blv.len(), batch * l * n_variates);
        let x = Tensor::<3>::from_data(
            TensorData::new(windows_blv.to_vec(), [batch, l, n_variates]),
            device,
        );
        let (forecast, recon) = match model.reconstructor() {
            Some(r) => {
                let (forecast, recon_blv) = r.forecast_and_reconstruct(x);
                (forecast, Some(recon_blv.narrow(1, l - 1, 1)))
            }
            None => (model.forecast(x), None),
        };
        let f = forecast
            .narrow(1, 0, *steps)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        let r: Option<Vec<f32>> = recon.map(|r| r.into_data().try_into_vec_as::<f32>().unwrap_or_default());
        let kv = steps * n_variates;
        (0..batch)
            .map(|b| WindowOutput {
                forecast_kv: f[b * kv..(b + 1) * kv].to_vec(),
                recon_v: r
                    .as_ref()
                    .map(|r| r[b * n_variates..(b + 1) * n_variates].to_vec()),
            })
            .collect()
    }
}
