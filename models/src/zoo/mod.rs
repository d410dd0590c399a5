//! The model zoo: every model family statecast can train, serve and monitor, behind three types.
//!
//! - [`ModelFamily`] (`family.rs`): the name a user types (`spacetime`, `simba`, `linear`,
//!   `repeat`), its default configuration for a look-back and horizon, and whether it has weights
//!   to train.
//! - [`ModelConfig`] (`config.rs`): one serialisable configuration for any family, validated
//!   before [`ModelConfig::init`] builds the model, so a bad setting is an error naming the field
//!   and never a panic inside `init`.
//! - [`SizeEstimate`] (`estimate.rs`): parameters and training memory of a configuration,
//!   computed without building the model (servers refuse oversized jobs with it).
//! - [`AnyModel`] (`any.rs`): any built model, implementing
//!   [`Forecaster`](crate::forecaster::Forecaster) by dispatch.
//!
//! What a family can do beyond forecasting is asked through the traits, never by matching on the
//! variant: [`Forecaster::reconstructor`](crate::forecaster::Forecaster::reconstructor) and
//! [`Forecaster::stepper`](crate::forecaster::Forecaster::stepper). Each family implements
//! [`Forecaster`](crate::forecaster::Forecaster) in its own folder (`spacetime/forecaster.rs`,
//! `baseline/…`). Adding a family is one folder plus the match arms the compiler asks for here.
mod any;
#[cfg(test)]
mod batched_tests;
mod config;
mod estimate;
mod family;
#[cfg(test)]
mod tests;

pub use any::AnyModel;
pub use config::ModelConfig;
pub use estimate::SizeEstimate;
pub use family::{ModelFamily, UnknownFamily};
