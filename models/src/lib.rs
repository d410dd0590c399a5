//! # statecast-models
//!
//! Deep state-space models on burn 0.22 (one code path for every device).
#![warn(missing_docs)]

pub mod device;
pub mod spacetime;
pub mod ssm;

pub mod selfcheck;
#[cfg(test)]
mod testing;
