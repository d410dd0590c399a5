//! [`ModelConfig`]: the serialisable configuration of any family.
//!
//! It serialises adjacently tagged, e.g.
//! `{"kind": "Linear", "config": {"lookback": 96, "horizon": 24, "subtract_last": true}}`.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AnyModel, ModelFamily};
use crate::baseline::{LinearConfig, RepeatConfig};
use crate::chimera::ChimeraConfig;
use crate::error::{Error, Result};
use crate::simba::SimbaConfig;
use crate::spacetime::SpaceTimeConfig;

/// Configuration of any statecast model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config")]
pub enum ModelConfig {
    /// SpaceTime (Zhang et al., ICLR 2023).
    SpaceTime(SpaceTimeConfig),
    /// NLinear baseline.
    Linear(LinearConfig),
    /// Repeat-last-value baseline.
    Repeat(RepeatConfig),
    /// SiMBA (Patro and Agneeswaran, 2024).
    Simba(SimbaConfig),
    /// Chimera (Behrouz, Santacatterina and Zabih, 2024).
    Chimera(ChimeraConfig),
}

impl PartialEq for ModelConfig {
    /// Equal when both serialise to the same JSON (the inner configs have no `PartialEq`).
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl ModelConfig {
    /// The family this configuration builds.
    pub fn family(&self) -> ModelFamily {
        match self {
            Self::SpaceTime(_) => ModelFamily::Spacetime,
            Self::Linear(_) => ModelFamily::Linear,
            Self::Repeat(_) => ModelFamily::Repeat,
            Self::Simba(_) => ModelFamily::Simba,
            Self::Chimera(_) => ModelFamily::Chimera,
        }
    }

    /// The variant name (`"SpaceTime"`, `"Simba"`, `"Chimera"`, `"Linear"`, `"Repeat"`).
    pub fn kind(&self) -> &'static str {
        self.family().config_kind()
    }

    /// Check every setting that the family's `init` relies on, so that a configuration from a
    /// user or a request fails with a message naming the setting instead of a panic. Each
    /// family's `validate` mirrors the assertions of its `init`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::SpaceTime(c) => c.validate(),
            Self::Linear(c) => c.validate(),
            Self::Repeat(c) => c.validate(),
            Self::Simba(c) => c.validate(),
            Self::Chimera(c) => c.validate(),
        }
    }

    /// Look-back `L` of the configured model.
    pub fn lookback(&self) -> usize {
        match self {
            Self::SpaceTime(c) => c.lookback,
            Self::Linear(c) => c.lookback,
            Self::Repeat(c) => c.lookback,
            Self::Simba(c) => c.lookback,
            Self::Chimera(c) => c.lookback,
        }
    }

    /// Horizon `H` of the configured model.
    pub fn horizon(&self) -> usize {
        match self {
            Self::SpaceTime(c) => c.horizon,
            Self::Linear(c) => c.horizon,
            Self::Repeat(c) => c.horizon,
            Self::Simba(c) => c.horizon,
            Self::Chimera(c) => c.horizon,
        }
    }

    /// Merge the JSON object `overrides` into this configuration (keys replace settings; a key
    /// the family does not have is an error) and validate the result.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]: `overrides` is not an object, names an unknown setting, has a
    /// value of the wrong type, or the merged configuration is invalid.
    pub fn with_overrides(self, overrides: Option<&serde_json::Value>) -> Result<Self> {
        let Some(overrides) = overrides else {
            self.validate()?;
            return Ok(self);
        };
        let patch = overrides
            .as_object()
            .ok_or_else(|| Error::invalid("model", "the model settings must be a JSON object"))?;
        let mut value = serde_json::to_value(&self).map_err(|e| Error::invalid("model", e.to_string()))?;
        let inner = value
            .get_mut("config")
            .and_then(|c| c.as_object_mut())
            .ok_or_else(|| Error::invalid("model", "configuration is not an object"))?;
        for (k, v) in patch {
            if !inner.contains_key(k) {
                return Err(Error::invalid(
                    k.as_str(),
                    format!("unknown {} setting `{k}`", self.kind()),
                ));
            }
            inner.insert(k.clone(), v.clone());
        }
        let merged: Self =
            serde_json::from_value(value).map_err(|e| Error::invalid("model", e.to_string()))?;
        merged.validate()?;
        Ok(merged)
    }

    /// Validates the configuration, then builds the model on `device` (random weights).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] from [`Self::validate`]; `init` is never reached with an invalid
    /// configuration.
    pub fn init(&self, device: &Device) -> Result<AnyModel> {
        self.validate()?;
        let _stream = crate::device::random_stream();
        Ok(self.build(device))
    }

    /// [`Self::init`] with the device's random stream seeded with `seed` first, both under the
    /// stream's lock ([`crate::device::reseed`]): the same seed gives the same weights, whatever
    /// other threads do.
    ///
    /// # Errors
    /// As [`Self::init`].
    pub fn init_seeded(&self, device: &Device, seed: u64) -> Result<AnyModel> {
        self.validate()?;
        let _stream = crate::device::random_stream();
        device.seed(seed);
        Ok(self.build(device))
    }

    /// The model with random weights (validated configurations only).
    fn build(&self, device: &Device) -> AnyModel {
        match self {
            Self::SpaceTime(c) => AnyModel::SpaceTime(c.init(device)),
            Self::Linear(c) => AnyModel::Linear(c.init(device)),
            Self::Repeat(c) => AnyModel::Repeat(c.init(device)),
            Self::Simba(c) => AnyModel::Simba(c.init(device)),
            Self::Chimera(c) => AnyModel::Chimera(c.init(device)),
        }
    }
}
