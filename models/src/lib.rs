//! # statecast-models
//!
//! Deep state-space models on burn 0.22 (one code path for every device).
#![warn(missing_docs)]

pub mod artifact;
pub mod baseline;
pub mod chimera;
pub mod conformal;
pub mod device;
pub mod error;
pub mod forecaster;
mod fsutil;
pub mod scan;
pub mod scan2d;
pub mod simba;
pub mod spacetime;
pub mod ssm;
pub mod streaming;
mod token_head;
pub mod train;
pub mod zoo;

pub mod selfcheck;
#[cfg(test)]
mod testing;
