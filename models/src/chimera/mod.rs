//! Chimera (Behrouz, Santacatterina and Zabih, 2024) for multivariate forecasting and anomaly
//! detection: input-dependent 2-D state-space heads over the (variate × time) grid
//! (`docs/chimera.md` §2). The 2-D scan itself is `crate::scan2d`.
//!
//! * [`ssm2d`]: one input-dependent 2-D SSM head (projections to `Δ1`, `Δ2`, `B`, `C`; `A1..A4`).
//! * [`block`]: one block (trend and seasonal heads, both variate orders, gate, FFN).
//! * [`config`]: [`ChimeraConfig`], its defaults and validation.
//! * [`model`]: the forecaster network (normalisation, embedding, blocks, token head).
//! * [`step`]: the streaming form (one row of every variate per point) with a serialisable state.
//! * `forecaster`: Chimera behind the `Forecaster` / `Reconstructor` / `StepForecaster` traits.

pub mod block;
pub mod config;
mod forecaster;
pub mod model;
pub mod ssm2d;
pub mod step;

#[cfg(test)]
mod tests;

pub use block::{ChimeraBlock, Ffn};
pub use config::ChimeraConfig;
pub use model::{Chimera, ChimeraOutput};
pub use ssm2d::{Ssm2d, Ssm2dConfig};
pub use step::{ChimeraState, ColumnStreamState};
