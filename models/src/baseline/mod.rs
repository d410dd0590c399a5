//! Baseline forecasters every real model must beat: [`Repeat`] (last value) and [`Linear`]
//! (NLinear-style linear map over time). Both implement [`Forecaster`](crate::forecaster::Forecaster).
mod linear;
mod repeat;

#[cfg(test)]
mod tests;

pub use linear::{Linear, LinearConfig};
pub use repeat::{Repeat, RepeatConfig, RepeatState};
