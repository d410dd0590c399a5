//! # statecast-service
//!
//! The gRPC server and the library functions the `statecast` CLI calls. Handlers stay thin:
//! they convert the request, call plain Rust in this crate, `pipelines`, `models` or `anomaly`,
//! and convert the response.
#![warn(missing_docs)]

pub mod accuracy;
pub mod artifact_eval;
pub mod backend;
pub mod backtest;
pub mod convert;
pub mod data;
pub mod error;
pub mod forecast;
pub mod fsutil;
pub mod grpc;
pub mod info;
pub mod jobs;
pub mod ltsf;
pub mod model_health;
pub mod ops;
pub mod registry;
pub mod roots;
pub mod server;
pub mod shard;
pub mod train_defaults;
pub mod training;
pub mod tune;

pub use error::{Error, Result};

#[cfg(test)]
mod detection_tests;
