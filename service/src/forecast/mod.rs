//! Forecasts from registered models: request validation (plain Rust, before any tensor is
//! built), scaling with the artifact's scaler, one batched model call for many series, and
//! Gaussian quantiles ([`intervals`]). Transport-agnostic (no gRPC types).
//!
//! Errors name the request field in the proto's terms, e.g. `series[2].values`.
mod engine;
pub mod intervals;
pub mod live;
#[cfg(test)]
mod live_tests;
mod request;
pub mod size;

pub use engine::{Fields, Prepared, batches, finish, forecast_windows, prepare, run};
pub use request::{
    ForecastOptions, MAX_BATCH, MAX_QUANTILES, MAX_SCALED_MAGNITUDE, SeriesForecast, SeriesInput,
    ValidRequest, validate, validate_options,
};
pub use size::Delivery;
