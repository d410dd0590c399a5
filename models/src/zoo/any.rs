//! [`AnyModel`]: any built model, forecasting by dispatch to its family.
use burn::prelude::*;

use super::ModelFamily;
use crate::baseline::{Linear, Repeat};
use crate::chimera::Chimera;
use crate::forecaster::{Forecaster, Reconstructor, Stepper};
use crate::simba::Simba;
use crate::spacetime::SpaceTime;

/// Any statecast model, dispatching [`Forecaster`] to the variant. Its weights are saved under
/// the variant name (`SpaceTime.encoder.0…`), so weights of one kind never load into another.
// Models are built once and moved rarely; boxing the SpaceTime variant is not worth the
// indirection (and `#[derive(Module)]` wants the module types themselves).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyModel {
    /// SpaceTime.
    SpaceTime(SpaceTime),
    /// NLinear baseline.
    Linear(Linear),
    /// Repeat baseline.
    Repeat(Repeat),
    /// SiMBA.
    Simba(Simba),
    /// Chimera.
    Chimera(Chimera),
}

macro_rules! dispatch {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyModel::SpaceTime($m) => $e,
            AnyModel::Linear($m) => $e,
            AnyModel::Repeat($m) => $e,
            AnyModel::Simba($m) => $e,
            AnyModel::Chimera($m) => $e,
        }
    };
}

impl AnyModel {
    /// The family of the model.
    pub fn family(&self) -> ModelFamily {
        match self {
            Self::SpaceTime(_) => ModelFamily::Spacetime,
            Self::Linear(_) => ModelFamily::Linear,
            Self::Repeat(_) => ModelFamily::Repeat,
            Self::Simba(_) => ModelFamily::Simba,
            Self::Chimera(_) => ModelFamily::Chimera,
        }
    }

    /// The variant name, as [`super::ModelConfig::kind`].
    pub fn kind(&self) -> &'static str {
        self.family().config_kind()
    }
}

impl Forecaster for AnyModel {
    fn lookback(&self) -> usize {
        dispatch!(self, m => Forecaster::lookback(m))
    }

    fn horizon(&self) -> usize {
        dispatch!(self, m => Forecaster::horizon(m))
    }

    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        dispatch!(self, m => Forecaster::forecast(m, x_blv))
    }

    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        dispatch!(self, m => Forecaster::loss(m, x_blv, y_bhv))
    }

    fn reconstructor(&self) -> Option<&dyn Reconstructor> {
        dispatch!(self, m => Forecaster::reconstructor(m))
    }

    fn stepper(&self) -> Option<&dyn Stepper> {
        dispatch!(self, m => Forecaster::stepper(m))
    }
}
