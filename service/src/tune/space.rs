//! Search spaces: what `statecast tune` may change, and seeded draws from it.
//!
//! A space is a JSON object with up to two sections, `model` (settings merged into the family's
//! defaults, as `--model-config` takes them) and `train` (training settings such as `lr`,
//! `weight_decay`, `batch_size`, `warmup_epochs`). Each entry is one of
//!
//! - `{"choice": [v1, v2, …]}`: one of the listed JSON values, uniformly;
//! - `{"uniform": [lo, hi]}`: a float, uniform in `[lo, hi]`;
//! - `{"log_uniform": [lo, hi]}`: a float whose logarithm is uniform (`0 < lo`);
//! - `{"int": [lo, hi]}`: an integer in `lo ..= hi`, uniformly.
//!
//! Trial `i` of a search with seed `s` draws from its own stream (ChaCha8 seeded from `s` and
//! `i`), so a trial's settings do not depend on how many trials ran before it or in what order:
//! the basis of resuming and of running trials concurrently.
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use statecast_models::train::TrainConfig;
use statecast_models::zoo::ModelFamily;

use crate::{Error, Result};

/// The most entries in a space (both sections together).
pub const MAX_PARAMETERS: usize = 64;
/// The most values one `choice` may list.
pub const MAX_CHOICES: usize = 256;

/// One dimension of a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Domain {
    /// One of these values.
    Choice(Vec<Value>),
    /// Uniform in `[lo, hi]`.
    Uniform([f64; 2]),
    /// Log-uniform in `[lo, hi]`, `0 < lo`.
    LogUniform([f64; 2]),
    /// An integer in `lo ..= hi`.
    Int([i64; 2]),
}

impl Domain {
    fn validate(&self, field: &str) -> Result<()> {
        let problem = match self {
            Domain::Choice(values) => (values.is_empty() || values.len() > MAX_CHOICES)
                .then(|| format!("a choice needs 1 to {MAX_CHOICES} values")),
            Domain::Uniform([lo, hi]) => (!(lo.is_finite() && hi.is_finite() && lo <= hi))
                .then(|| format!("uniform needs finite lo ≤ hi, got [{lo}, {hi}]")),
            Domain::LogUniform([lo, hi]) => (!(lo.is_finite() && hi.is_finite() && *lo > 0.0 && lo <= hi))
                .then(|| format!("log_uniform needs finite 0 < lo ≤ hi, got [{lo}, {hi}]")),
            Domain::Int([lo, hi]) => (lo > hi).then(|| format!("int needs lo ≤ hi, got [{lo}, {hi}]")),
        };
        problem.map_or(Ok(()), |reason| Err(invalid(field, reason)))
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Value {
        match self {
            Domain::Choice(values) => values[rng.random_range(0..values.len())].clone(),
            Domain::Uniform([lo, hi]) => Value::from(lo + (hi - lo) * rng.random::<f64>()),
            Domain::LogUniform([lo, hi]) => {
                Value::from((lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp())
            }
            Domain::Int([lo, hi]) => Value::from(rng.random_range(*lo..=*hi)),
        }
    }

    /// A value inside the domain with no randomness (the first choice, the lower bound).
    fn first(&self) -> Value {
        match self {
            Domain::Choice(values) => values[0].clone(),
            Domain::Uniform([lo, _]) | Domain::LogUniform([lo, _]) => Value::from(*lo),
            Domain::Int([lo, _]) => Value::from(*lo),
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A search space (module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    /// Model settings.
    #[serde(default)]
    pub model: BTreeMap<String, Domain>,
    /// Training settings.
    #[serde(default)]
    pub train: BTreeMap<String, Domain>,
}

/// The settings of one trial: model overrides and training overrides (JSON objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSettings {
    /// Merged into the family's default configuration.
    pub model: serde_json::Map<String, Value>,
    /// Merged into the base training settings.
    pub train: serde_json::Map<String, Value>,
}

impl SearchSpace {
    /// Parse a space from JSON text.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`space`) naming what does not parse.
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| invalid("space", format!("not a search space: {e}")))
    }

    /// The built-in space of a family: the settings that matter most for it, around its defaults.
    pub fn builtin(family: ModelFamily) -> Self {
        let choice = |v: &[Value]| Domain::Choice(v.to_vec());
        let mut train = BTreeMap::new();
        train.insert("lr".into(), Domain::LogUniform([1e-4, 1e-2]));
        train.insert("weight_decay".into(), Domain::LogUniform([1e-6, 1e-2]));
        let mut model = BTreeMap::new();
        match family {
            ModelFamily::Spacetime => {
                // Widths are multiples of the kernels × heads of the first block (8 × 8).
                model.insert("d_model".into(), choice(&[64.into(), 128.into(), 192.into()]));
                model.insert("state_dim".into(), choice(&[16.into(), 32.into(), 64.into()]));
                model.insert("n_encoder_blocks".into(), Domain::Int([1, 3]));
                model.insert("dropout".into(), Domain::Uniform([0.0, 0.3]));
                train.insert("batch_size".into(), choice(&[16.into(), 32.into(), 64.into()]));
            }
            ModelFamily::Simba | ModelFamily::Chimera => {
                model.insert("d_model".into(), choice(&[32.into(), 64.into(), 128.into()]));
                model.insert("n_blocks".into(), Domain::Int([1, 3]));
                model.insert("d_state".into(), choice(&[8.into(), 16.into(), 32.into()]));
                train.insert("batch_size".into(), choice(&[16.into(), 32.into(), 64.into()]));
            }
            ModelFamily::Linear | ModelFamily::Repeat => {}
        }
        Self { model, train }
    }

    /// Check bounds and that every name is a setting of `family` and of training: the space's
    /// first point must make a valid configuration, so misspelt names fail before any work.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the entry.
    pub fn validate(
        &self,
        family: ModelFamily,
        lookback: usize,
        horizon: usize,
        base: &TrainConfig,
    ) -> Result<()> {
        if self.model.len() + self.train.len() > MAX_PARAMETERS {
            return Err(invalid("space", format!("at most {MAX_PARAMETERS} entries")));
        }
        if self.model.is_empty() && self.train.is_empty() {
            return Err(invalid("space", "the space has no entry to search"));
        }
        for (name, d) in &self.model {
            d.validate(&format!("space.model.{name}"))?;
        }
        for (name, d) in &self.train {
            d.validate(&format!("space.train.{name}"))?;
        }
        let first = TrialSettings {
            model: self.model.iter().map(|(k, d)| (k.clone(), d.first())).collect(),
            train: self.train.iter().map(|(k, d)| (k.clone(), d.first())).collect(),
        };
        // Only the names are checked here: a first point may be an invalid combination that
        // other draws avoid (such a trial fails on its own).
        for name in first.model.keys() {
            let mut one = serde_json::Map::new();
            one.insert(name.clone(), first.model[name].clone());
            if let Err(e) = family
                .default_config(lookback, horizon)
                .with_overrides(Some(&Value::Object(one)))
                && e.to_string().contains("unknown")
            {
                return Err(invalid(&format!("space.model.{name}"), e.to_string()));
            }
        }
        for name in first.train.keys() {
            let mut one = serde_json::Map::new();
            one.insert(name.clone(), first.train[name].clone());
            if let Err(e) = train_config(base, &one)
                && e.to_string().contains("unknown field")
            {
                return Err(invalid(&format!("space.train.{name}"), e.to_string()));
            }
        }
        Ok(())
    }

    /// The settings of trial `trial` of a search seeded `seed`.
    pub fn draw(&self, seed: u64, trial: usize) -> TrialSettings {
        let stream = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add((trial as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut rng = ChaCha8Rng::seed_from_u64(stream);
        TrialSettings {
            model: self
                .model
                .iter()
                .map(|(k, d)| (k.clone(), d.draw(&mut rng)))
                .collect(),
            train: self
                .train
                .iter()
                .map(|(k, d)| (k.clone(), d.draw(&mut rng)))
                .collect(),
        }
    }
}

/// `base` with the training settings of `overrides` merged in, validated.
///
/// # Errors
/// [`Error::InvalidArgument`] (`space.train`) for unknown names, values of the wrong type, or a
/// result that fails [`TrainConfig::validate`].
pub fn train_config(base: &TrainConfig, overrides: &serde_json::Map<String, Value>) -> Result<TrainConfig> {
    let mut value = serde_json::to_value(base).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(obj) = value.as_object_mut() {
        for (k, v) in overrides {
            // Integers drawn as floats by a uniform domain are not silently truncated.
            obj.insert(k.clone(), v.clone());
        }
    }
    let cfg: TrainConfig = serde_json::from_value(value)
        .map_err(|e| invalid("space.train", format!("training settings: {e}")))?;
    cfg.validate()
        .map_err(|e| invalid("space.train", e.to_string()))?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded_per_trial_and_inside_their_domains() {
        let space = SearchSpace::parse(
            r#"{"model": {"d_model": {"choice": [16, 32]}, "dropout": {"uniform": [0.0, 0.2]}},
                "train": {"lr": {"log_uniform": [1e-4, 1e-2]}, "warmup_epochs": {"int": [0, 3]}}}"#,
        )
        .unwrap();
        space
            .validate(ModelFamily::Spacetime, 32, 8, &TrainConfig::default())
            .unwrap();
        for trial in 0..50 {
            let a = space.draw(7, trial);
            assert_eq!(a, space.draw(7, trial), "trial {trial} is reproducible");
            let d = a.model["d_model"].as_i64().unwrap();
            assert!(d == 16 || d == 32);
            let p = a.model["dropout"].as_f64().unwrap();
            assert!((0.0..=0.2).contains(&p));
            let lr = a.train["lr"].as_f64().unwrap();
            assert!((1e-4..=1e-2).contains(&lr));
            let w = a.train["warmup_epochs"].as_i64().unwrap();
            assert!((0..=3).contains(&w));
            train_config(&TrainConfig::default(), &a.train).unwrap();
        }
        assert_ne!(space.draw(7, 0), space.draw(8, 0), "another seed, another draw");
        assert_ne!(space.draw(7, 0), space.draw(7, 1));
    }

    #[test]
    fn bad_spaces_are_refused_by_name() {
        let base = TrainConfig::default();
        let check = |text: &str| {
            SearchSpace::parse(text).and_then(|s| s.validate(ModelFamily::Spacetime, 32, 8, &base))
        };
        let field = |r: Result<()>| match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check(r#"{"model": {"d_modle": {"choice": [8]}}}"#)),
            "space.model.d_modle"
        );
        assert_eq!(
            field(check(r#"{"train": {"learning_rate": {"uniform": [0, 1]}}}"#)),
            "space.train.learning_rate"
        );
        assert_eq!(
            field(check(r#"{"train": {"lr": {"log_uniform": [0, 1]}}}"#)),
            "space.train.lr"
        );
        assert_eq!(
            field(check(r#"{"train": {"lr": {"uniform": [1, 0]}}}"#)),
            "space.train.lr"
        );
        assert_eq!(
            field(check(r#"{"model": {"d_model": {"choice": []}}}"#)),
            "space.model.d_model"
        );
        assert_eq!(
            field(check(r#"{"model": {"d_model": {"normal": [0, 1]}}}"#)),
            "space"
        );
        assert_eq!(field(check(r#"{}"#)), "space");
        assert_eq!(field(check(r#"{"modle": {}}"#)), "space");
    }

    /// Every draw of a built-in space is a valid configuration (no trial fails by construction).
    #[test]
    fn builtin_spaces_draw_valid_configurations() {
        for family in [
            ModelFamily::Spacetime,
            ModelFamily::Simba,
            ModelFamily::Chimera,
            ModelFamily::Linear,
        ] {
            let space = SearchSpace::builtin(family);
            space
                .validate(family, 96, 24, &TrainConfig::default())
                .unwrap_or_else(|e| panic!("{family}: {e}"));
            for trial in 0..40 {
                let draw = space.draw(0, trial);
                family
                    .default_config(96, 24)
                    .with_overrides(Some(&Value::Object(draw.model.clone())))
                    .unwrap_or_else(|e| panic!("{family} trial {trial} {draw:?}: {e}"));
                train_config(&TrainConfig::default(), &draw.train).unwrap();
            }
        }
    }
}
