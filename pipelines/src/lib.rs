//! # statecast-pipelines
//!
//! Everything between a file of sensor history and a batch of tensors, with no knowledge of
//! models or gRPC:
//!
//! ```text
//!  file (.parquet | .arrow | .csv[.gz]) ──source──▶ TimeFrame ──validate/missing──▶ TimeFrame
//!        ──split──▶ train / val / test ranges ──scale (fit on train)──▶ ──window──▶ Batcher ─▶ [batch, time, variates]
//!  live points ──online──▶ OnlineWindow (last L points per series)
//! ```
//!
//! Data layout conventions used throughout:
//! - timestamps are `i64` microseconds since 1970-01-01T00:00 of the *naive* (wall-clock) time
//!   given in the file; no time zone is applied;
//! - values are column-major, `values[variate][time]`, `f32`;
//! - `NaN` marks a missing value only when the caller chose [`missing::MissingPolicy::Mask`].
#![warn(missing_docs)]

pub mod error;
pub mod frame;
pub mod frequency;
pub mod live;
pub mod missing;
pub mod online;
pub mod resample;
pub mod scale;
pub mod shared_data;
pub mod simulate;
pub mod sink;
pub mod source;
pub mod split;
pub mod validate;
pub mod window;

pub use error::{Error, Result};
pub use frame::{Series, TimeFrame};
pub use frequency::{Frequency, FrequencyError};
