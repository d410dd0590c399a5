//! SiMBA behind the common interfaces: [`Forecaster`](crate::forecaster::Forecaster),
//! [`Reconstructor`](crate::forecaster::Reconstructor) (each row's one-step prediction from the
//! rows before it) and [`StepForecaster`](crate::forecaster::StepForecaster) (the recurrent form,
//! `step.rs`), as every token-head family implements them (`crate::token_head`).
use burn::prelude::*;

use super::{Simba, SimbaState};

crate::token_head::token_head_family!(Simba, SimbaState);
