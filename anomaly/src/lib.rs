//! Anomaly detection on multivariate sensor series, from a trained forecaster (or the raw-value
//! baseline), in batch (`statecast detect`, `statecast eval anomaly`) and one point at a time
//! (the streaming monitor). Pipeline, for one row `x_t` ([variates], scaled):
//!
//! ```text
//! window ending at t ─▶ predict ─▶ features ─▶ normalise ─▶ calibrate ─▶ threshold ─▶ alarms
//!  (L rows)           (forecast,   (residuals, (training   (robust z on  (quantile   (k-of-n,
//!                      recon)       per variate) μ, σ)      validation)   or POT)     suppression,
//!                                                                                    attribution)
//! ```
//!
//! SpaceTime predicts from its recurrent state, one step per point ([`recurrent`]); other models
//! from a forward pass over the window. Nothing is fitted on labels. `metrics` holds the evaluation measures, `datasets` the readers
//! of the public benchmarks, `eval` the protocol, `nab` the NAB score, `output` the writers.
pub mod alarms;
pub mod datasets;
pub mod detector;
pub mod eval;
pub mod features;
pub mod fit;
pub mod metrics;
pub mod nab;
pub mod normalise;
pub mod output;
pub mod predict;
pub mod recurrent;
pub mod run;
pub mod stream;
pub mod threshold;

#[cfg(test)]
mod tests;

pub use alarms::{AlarmRules, AlarmSegment, Attribution};
pub use detector::{Detector, DetectorSettings, PointResult, PointScorer, SeriesScores};
pub use normalise::Aggregate;
pub use predict::Predictor;
pub use stream::{StreamDetector, StreamOutput};
pub use threshold::{Threshold, ThresholdMethod};
