//! The training engine shared by every model: [`fit`] any [`Forecaster`](crate::forecaster::Forecaster)
//! with AdamW, a warm-up + cosine schedule, gradient clipping, early stopping, atomic checkpoints
//! and resume, reporting to a [`TrainObserver`].
//!
//! * [`config`]: [`TrainConfig`] with documented defaults.
//! * [`schedule`]: the per-step learning rate ([`LrSchedule`]).
//! * [`engine`]: [`fit`], [`evaluate_mse`], [`EpochMetrics`], [`TrainOutcome`].
//! * [`checkpoint`]: the `last/` + `best/` checkpoint layout and [`TrainerState`].
//! * [`observer`]: [`TrainObserver`] and the progress-bar / `tracing` implementations.
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod observer;
pub mod schedule;

#[cfg(test)]
pub(crate) mod testdata;
#[cfg(test)]
mod tests;

pub use checkpoint::TrainerState;
pub use config::TrainConfig;
pub use engine::{EpochMetrics, TrainOutcome, epoch_order, evaluate_mse, fit};
pub use observer::{
    BatchProgress, NoopObserver, Observers, ProgressBarObserver, TracingObserver, TrainEnd, TrainObserver,
    TrainStart,
};
pub use schedule::LrSchedule;
