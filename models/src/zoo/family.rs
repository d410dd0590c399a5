//! [`ModelFamily`]: the typed name of every model family, with its defaults.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelConfig;
use crate::baseline::{LinearConfig, RepeatConfig};
use crate::chimera::ChimeraConfig;
use crate::simba::SimbaConfig;
use crate::spacetime::SpaceTimeConfig;

/// A model family, as users name it (`--model spacetime`, `model_family: SPACETIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// SpaceTime: companion-matrix SSM encoder and closed-loop decoder.
    Spacetime,
    /// NLinear-style linear map over time (trained).
    Linear,
    /// Repeat the last look-back value (no training).
    Repeat,
    /// SiMBA: Mamba blocks along time with EinFFT channel mixing.
    Simba,
    /// Chimera: input-dependent 2-D SSM heads over variates × time.
    Chimera,
}

/// A family name that is not one of [`ModelFamily::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model family {given:?}: expected one of {}", ModelFamily::names().join(", "))]
pub struct UnknownFamily {
    /// The name given.
    pub given: String,
}

impl ModelFamily {
    /// Every family, in the order the CLI lists them.
    pub const ALL: [Self; 5] = [
        Self::Spacetime,
        Self::Simba,
        Self::Chimera,
        Self::Linear,
        Self::Repeat,
    ];

    /// The lowercase name users type (`spacetime`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Spacetime => "spacetime",
            Self::Linear => "linear",
            Self::Repeat => "repeat",
            Self::Simba => "simba",
            Self::Chimera => "chimera",
        }
    }

    /// The names of [`Self::ALL`].
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|f| f.name()).collect()
    }

    /// The variant name of this family's [`ModelConfig`] and of its weights (`SpaceTime`).
    pub fn config_kind(self) -> &'static str {
        match self {
            Self::Spacetime => "SpaceTime",
            Self::Linear => "Linear",
            Self::Repeat => "Repeat",
            Self::Simba => "Simba",
            Self::Chimera => "Chimera",
        }
    }

    /// statecast's default configuration of this family for look-back `l` and horizon `h`.
    /// It is not validated here: [`ModelConfig::validate`] says whether `l` and `h` suit it.
    pub fn default_config(self, l: usize, h: usize) -> ModelConfig {
        match self {
            Self::Spacetime => ModelConfig::SpaceTime(SpaceTimeConfig::statecast_default(l, h)),
            Self::Linear => ModelConfig::Linear(LinearConfig::new(l, h)),
            Self::Repeat => ModelConfig::Repeat(RepeatConfig::new(l, h)),
            Self::Simba => ModelConfig::Simba(SimbaConfig::statecast_default(l, h)),
            Self::Chimera => ModelConfig::Chimera(ChimeraConfig::statecast_default(l, h)),
        }
    }

    /// Whether the family has parameters to train.
    pub fn trainable(self) -> bool {
        match self {
            Self::Spacetime | Self::Simba | Self::Chimera | Self::Linear => true,
            Self::Repeat => false,
        }
    }
}

impl fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelFamily {
    type Err = UnknownFamily;

    /// Case-insensitive; accepts the lowercase name and the config kind (`SpaceTime`), and the
    /// older spellings `space-time`/`space_time`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect();
        Self::ALL
            .into_iter()
            .find(|f| f.name() == key)
            .ok_or_else(|| UnknownFamily { given: s.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_old_spellings_parse() {
        for f in ModelFamily::ALL {
            assert_eq!(f.name().parse::<ModelFamily>(), Ok(f));
            assert_eq!(f.config_kind().parse::<ModelFamily>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.name()));
        }
        assert_eq!(" Space_Time ".parse(), Ok(ModelFamily::Spacetime));
        let err = "mamba".parse::<ModelFamily>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown model family \"mamba\": expected one of spacetime, simba, chimera, linear, repeat"
        );
    }

    #[test]
    fn default_configs_are_valid_and_of_their_family() {
        for f in ModelFamily::ALL {
            let cfg = f.default_config(96, 24);
            cfg.validate().unwrap();
            assert_eq!(cfg.family(), f);
            assert_eq!((cfg.lookback(), cfg.horizon()), (96, 24));
        }
    }
}
