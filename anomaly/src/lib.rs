//! # statecast-anomaly
//!
//! Anomaly detection on multivariate sensor series, from a trained forecaster (or the raw-value
//! baseline), in batch ([`run::detect`], the evaluation protocol [`protocol::evaluate_detection`])
//! and one point at a time ([`StreamDetector`] per series, [`MonitorSession`] for a whole stream
//! of series). Pipeline, for one row `x_t` ([variates], scaled):
//!
//! ```text
//! window ending at t ─▶ predict ─▶ features ─▶ normalise ─▶ calibrate ─▶ threshold ─▶ alarms
//!  (L rows)           (forecast,   (residuals, (training   (robust z on  (quantile   (k-of-n,
//!                      recon)       per variate) μ, σ)      validation)   or POT)     suppression,
//!                                                                                    attribution)
//! ```
//!
//! Models with a recurrent form (SpaceTime, Repeat) predict from their recurrent state, one step
//! per point ([`recurrent`]); the others from a forward pass over the window. What a model can do
//! is asked through the model traits, never by its family. Nothing is fitted on labels.
//! [`measures`] holds the evaluation measures (F1 variants, AUC-PR), [`vus`] the VUS measures, [`datasets`] the readers of the public benchmarks' label files, [`eval`]
//! the measures at the honest and the ratio-convention thresholds, [`protocol`] the whole
//! evaluation run, [`nab`] the NAB score, [`output`] the writers, [`pca`] the PCA reconstruction
//! reference detector. The crate knows nothing of gRPC:
//! the service maps [`Error`] and [`session::SessionError`] onto its own errors and statuses.
pub mod alarms;
pub mod clock;
pub mod cross;
pub mod datasets;
pub mod detector;
pub mod error;
pub mod eval;
pub mod features;
pub mod fit;
pub mod measures;
pub mod nab;
pub mod normalise;
pub mod output;
pub mod pca;
pub mod predict;
pub mod protocol;
pub mod run;
pub mod session;
pub mod stream;
pub mod threshold;
pub mod vus;

#[cfg(test)]
mod recurrent_tests;

pub use alarms::{AlarmRules, AlarmSegment, Attribution};
pub use clock::{Clock, ManualClock, SystemClock};
pub use detector::{Detector, DetectorSettings, PointResult, PointScorer, SeriesScores};
pub use error::{Error, Result};
pub use normalise::Aggregate;
pub use predict::Predictor;
pub use session::{MonitorConfig, MonitorSession};
pub use stream::{StreamDetector, StreamOutput};
pub use threshold::{Threshold, ThresholdMethod};
