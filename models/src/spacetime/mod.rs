//! SpaceTime (Zhang, Saab, Poli, Dao, Goel, Ré — ICLR 2023): companion-matrix SSMs with a
//! closed-loop decoder for long-horizon forecasting (`docs/spacetime.md` §2).
//!
//! * [`config`]: [`SpaceTimeConfig`] and the input embedding choice.
//! * [`ssm_layer`]: companion / shift SSM layer with `D` skip (docs/spacetime.md §2.2, §2.3, §2.6).
//! * [`preprocess`]: frozen differencing and MA-residual kernels (docs/spacetime.md §2.4).
//! * [`block`]: block MLP and encoder blocks (docs/spacetime.md §2.6, §2.8).
//! * [`decoder`]: closed-loop companion SSM (docs/spacetime.md §2.7).
//! * [`norm`]: per-window normalisation (docs/spacetime.md §2.10).
//! * [`model`]: the network, forward pass and loss (docs/spacetime.md §2.1, §2.9, §2.11).
//! * [`step`]: streaming mode with a serialisable state.
//! * [`prime`]: a streaming state from a window in one pass (convolution form).
//! * `forecaster`: SpaceTime behind the common `Forecaster` / `Reconstructor` / `StepForecaster` traits.
//! * [`trace`]: named intermediates of a forward pass, for device comparisons.

pub mod block;
pub mod config;
pub mod decoder;
mod forecaster;
mod host_step;
pub mod model;
pub mod norm;
pub mod preprocess;
pub mod prime;
pub mod ssm_layer;
pub mod step;
pub mod trace;

#[cfg(test)]
mod tests;

pub use block::{EncoderBlock, EncoderBlockConfig, EncoderBlockState, Mlp};
pub use config::{Embedding, SpaceTimeConfig};
pub use decoder::{ClosedLoopSsm, ClosedLoopSsmConfig, DecoderOutput, DecoderParams};
pub use forecaster::SPACETIME_LOSS_WEIGHTS;
pub use model::{LossTerms, OutputHead, SpaceTime, SpaceTimeOutput, fold_variates, unfold_variates};
pub use norm::{NormStats, Normalization};
pub use preprocess::{Preprocess, PreprocessConfig};
pub use prime::PrimeKernels;
pub use ssm_layer::{ChannelParams, CompanionSsm, CompanionSsmConfig, SsmKind};
pub use step::{BlockStreamState, SpaceTimeState, StateTensor, StepOutput};
pub use trace::{Stage, Trace};
