//! SiMBA (Patro and Agneeswaran, 2024) for multivariate forecasting: Mamba blocks mix along time,
//! EinFFT mixes channels (`docs/simba.md` §2–§5). The selective scan itself is `crate::scan`.
//!
//! * [`mamba`]: the Mamba block (projections, causal convolution, selective scan, gate) and its
//!   one-step form.
//! * [`einfft`]: EinFFT channel mixing over channel blocks, one token at a time.
//! * [`block`]: one pre-norm residual SiMBA block.
//! * [`config`]: [`SimbaConfig`], its defaults and validation.
//! * [`model`]: the forecaster network (normalisation, embedding, blocks, head).
//! * [`step`]: the streaming form with a serialisable state.
//! * `forecaster`: SiMBA behind the `Forecaster` / `Reconstructor` / `StepForecaster` traits.

pub mod block;
pub mod config;
pub mod einfft;
mod forecaster;
pub mod mamba;
pub mod model;
pub mod step;

#[cfg(test)]
mod tests;

pub use block::SimbaBlock;
pub use config::SimbaConfig;
pub use einfft::{EinFft, EinFftConfig};
pub use mamba::{Mamba, MambaConfig, MambaState};
pub use model::{Simba, SimbaOutput};
pub use step::{MambaStreamState, SimbaState};
