//! Baseline forecasters every real model must beat: [`Repeat`] (last value) and [`Linear`]
//! (NLinear-style linear map over time). Both implement [`Forecaster`](crate::forecaster::Forecaster).
mod linear;
mod repeat;

#[cfg(test)]
mod tests;

pub use linear::{Linear, LinearConfig};
pub use repeat::{Repeat, RepeatConfig, RepeatState};

/// The window geometry every baseline checks: `lookback` and `horizon` of at least 1.
fn validate_geometry(lookback: usize, horizon: usize) -> crate::error::Result<()> {
    use crate::error::Error;
    if lookback == 0 {
        return Err(Error::invalid("lookback", "must be at least 1"));
    }
    if horizon == 0 {
        return Err(Error::invalid("horizon", "must be at least 1"));
    }
    Ok(())
}
