//! Trained-model artifacts: a directory with everything needed to forecast from raw data.
//!
//! ```text
//! <dir>/artifact.json   Artifact: format version, model config, scaler, data schema,
//!                       training record, forecast errors, residual scale, creation time
//! <dir>/weights.bpk     AnyModel weights (burnpack)
//! <dir>/detector.json   anomaly detector fitted for the model (optional; named by
//!                       `Artifact::detector_file`)
//! ```
//!
//! Format versions: 1 kept the forecast errors and the residual scale in a free-form `metrics`
//! map read by key; 2 (this build) has typed fields ([`ForecastErrors`], [`ResidualStats`]) and
//! names the detector file. Version-1 files are read and converted on load.
//!
//! [`Artifact::save`] replaces the directory atomically (temporary directory + rename), so a
//! reader never sees a half-written artifact. [`Artifact::load`] checks the format version
//! before anything else and reports every problem as a typed [`Error`] naming the file.
use std::path::Path;

use burn::prelude::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use statecast_pipelines::scale::Scaler;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::train::{EpochMetrics, TrainConfig, TrainOutcome};
use crate::zoo::{AnyModel, ModelConfig};

/// Artifact format version written by this build.
pub const ARTIFACT_FORMAT_VERSION: u32 = 2;
/// Oldest artifact format version this build reads.
pub const MIN_ARTIFACT_FORMAT_VERSION: u32 = 1;
/// The metadata file.
pub const ARTIFACT_FILE: &str = "artifact.json";
/// The weights file.
pub const WEIGHTS_FILE: &str = "weights.bpk";
/// The usual name of an artifact's anomaly-detector file.
pub const DETECTOR_FILE: &str = "detector.json";

/// Forecast errors on one split, on the scaled axis, averaged over variates, steps and windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForecastErrors {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Forecast errors of the trained model on the splits it was evaluated on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// On the test split, when the split has one.
    #[serde(default)]
    pub test: Option<ForecastErrors>,
    /// On the validation split, when the split has one.
    #[serde(default)]
    pub val: Option<ForecastErrors>,
}

/// Root-mean-square forecast residual per horizon step and variate, in original units: what
/// the server's forecast quantiles are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualStats {
    /// How `std` was computed.
    pub method: String,
    /// Split whose windows were used (`val`).
    pub split: String,
    /// Windows scored.
    pub windows: usize,
    /// `sqrt(mean over windows of (forecast − actual)²)`, [horizon][variates], original units
    /// (observed targets only; 0 where a step/variate was never observed).
    pub std: Vec<Vec<f32>>,
}

/// What the model reads: columns in input order and the window geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSchema {
    /// Variate names, in model input order, [variates].
    pub columns: Vec<String>,
    /// Sampling period (`"5min"`, `"1h"`), when known.
    #[serde(default)]
    pub frequency: Option<String>,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Name of the timestamp column of the training file, when it had one.
    #[serde(default)]
    pub time_column: Option<String>,
    /// Name of the series-id column of the training file, when it had one.
    #[serde(default)]
    pub series_column: Option<String>,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The training configuration.
    pub config: TrainConfig,
    /// Metrics of every epoch.
    pub history: Vec<EpochMetrics>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Device the model was trained on (`cpu`, `cuda:0`).
    pub device: String,
    /// Total training wall time, seconds.
    pub seconds: f64,
}

impl TrainingRecord {
    /// The record of a finished [`crate::train::fit`] run.
    pub fn from_outcome<M>(
        config: &TrainConfig,
        outcome: &TrainOutcome<M>,
        device: impl Into<String>,
    ) -> Self {
        Self {
            config: config.clone(),
            history: outcome.history.clone(),
            best_epoch: outcome.best_epoch,
            device: device.into(),
            seconds: outcome.history.iter().map(|m| m.seconds).sum(),
        }
    }
}

/// The metadata of a trained model (`artifact.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// [`ARTIFACT_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// statecast version of the writer.
    pub statecast_version: String,
    /// Model architecture.
    pub model: ModelConfig,
    /// Dataset-level scaler fitted on the training rows (apply before the model, invert after).
    pub scaler: Scaler,
    /// Columns and window geometry.
    pub schema: DataSchema,
    /// Training record (`None` for an untrained baseline).
    #[serde(default)]
    pub training: Option<TrainingRecord>,
    /// Forecast errors on the test and validation splits.
    #[serde(default)]
    pub evaluation: Evaluation,
    /// Residual scale per horizon step and variate on the validation split, when it has one.
    #[serde(default)]
    pub residuals: Option<ResidualStats>,
    /// Split-conformal residual quantiles on the validation split (asymmetric forecast
    /// intervals), when it has one; artifacts written before they existed have none.
    #[serde(default)]
    pub residual_quantiles: Option<crate::conformal::ResidualQuantiles>,
    /// File name (inside the artifact directory) of the anomaly detector fitted for the model.
    #[serde(default)]
    pub detector_file: Option<String>,
    /// When the artifact was created.
    pub created_at: DateTime<Utc>,
}

/// A version-1 `artifact.json` as version 2: the `metrics` map's `test`, `val` and
/// `residual_std` entries become typed fields (entries that do not parse are dropped, as version 1
/// readers ignored them), and a `detector.json` beside it is recorded as the detector.
fn upgrade_v1(mut value: serde_json::Value, dir: &Path) -> serde_json::Value {
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    let metrics = obj
        .remove("metrics")
        .and_then(|m| {
            if let serde_json::Value::Object(map) = m {
                Some(map)
            } else {
                None
            }
        })
        .unwrap_or_default();
    let typed = |key: &str| {
        metrics
            .get(key)
            .and_then(|v| serde_json::from_value::<ForecastErrors>(v.clone()).ok())
    };
    let evaluation = Evaluation {
        test: typed("test"),
        val: typed("val"),
    };
    let residuals = metrics
        .get("residual_std")
        .and_then(|v| serde_json::from_value::<ResidualStats>(v.clone()).ok());
    let detector = dir.join(DETECTOR_FILE).is_file().then_some(DETECTOR_FILE);
    obj.insert(
        "evaluation".into(),
        serde_json::to_value(evaluation).unwrap_or_default(),
    );
    obj.insert(
        "residuals".into(),
        serde_json::to_value(residuals).unwrap_or_default(),
    );
    obj.insert(
        "detector_file".into(),
        serde_json::to_value(detector).unwrap_or_default(),
    );
    value
}

impl Artifact {
    /// A new artifact of the current format version, created now, with no training record and no
    /// metrics.
    pub fn new(model: ModelConfig, scaler: Scaler, schema: DataSchema) -> Self {
        Self {
            format_version: ARTIFACT_FORMAT_VERSION,
            statecast_version: env!("CARGO_PKG_VERSION").to_string(),
            model,
            scaler,
            schema,
            training: None,
            evaluation: Evaluation::default(),
            residuals: None,
            residual_quantiles: None,
            detector_file: None,
            created_at: Utc::now(),
        }
    }

    /// Check that the parts agree: scaler columns = schema columns, model geometry = schema
    /// geometry; the detector file, when named, is a plain file name of its own.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the disagreement.
    pub fn validate(&self) -> Result<()> {
        if self.scaler.columns != self.schema.columns {
            return Err(Error::invalid(
                "artifact",
                format!(
                    "the scaler was fitted on columns {:?}, the schema lists {:?}",
                    self.scaler.columns, self.schema.columns
                ),
            ));
        }
        if self.model.lookback() != self.schema.lookback || self.model.horizon() != self.schema.horizon {
            return Err(Error::invalid(
                "artifact",
                format!(
                    "the model is L={} H={}, the schema says L={} H={}",
                    self.model.lookback(),
                    self.model.horizon(),
                    self.schema.lookback,
                    self.schema.horizon
                ),
            ));
        }
        if let Some(file) = &self.detector_file {
            let plain = Path::new(file).file_name().is_some_and(|n| n == file.as_str());
            if !plain || file == ARTIFACT_FILE || file == WEIGHTS_FILE {
                return Err(Error::invalid(
                    "detector_file",
                    format!("{file:?} is not a separate file name inside the artifact directory"),
                ));
            }
        }
        Ok(())
    }

    /// The file names (inside its directory) this artifact consists of: [`ARTIFACT_FILE`],
    /// [`WEIGHTS_FILE`] and the detector file when it has one. Nothing else in the directory is
    /// part of the artifact; [`validate`](Self::validate) checks that every name is a plain file
    /// name.
    pub fn files(&self) -> Vec<&str> {
        let mut files = vec![ARTIFACT_FILE, WEIGHTS_FILE];
        files.extend(self.detector_file.as_deref());
        files
    }

    /// Write `artifact.json` and `model`'s weights to `dir`, replacing an existing artifact there
    /// atomically. `model` must have been built from `self.model`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when [`validate`](Self::validate) fails or `model` is another kind
    /// than `self.model`; I/O errors naming the file.
    pub fn save(&self, model: &AnyModel, dir: &Path) -> Result<()> {
        self.validate()?;
        if model.kind() != self.model.kind() {
            return Err(Error::invalid(
                "artifact",
                format!(
                    "the model is {}, the config describes {}",
                    model.kind(),
                    self.model.kind()
                ),
            ));
        }
        fsutil::replace_dir(dir, |tmp| {
            let weights = tmp.join(WEIGHTS_FILE);
            model
                .clone()
                .save_file(&weights)
                .map_err(|e| Error::from_record(&weights, e))?;
            fsutil::write_json(&tmp.join(ARTIFACT_FILE), self)
        })
    }

    /// Read only `artifact.json` of `dir` (no weights), checking its format version.
    ///
    /// # Errors
    /// [`Error::MissingFile`], [`Error::Json`], [`Error::UnsupportedVersion`], naming the file.
    pub fn read_metadata(dir: &Path) -> Result<Self> {
        let path = dir.join(ARTIFACT_FILE);
        let value: serde_json::Value = fsutil::read_json(&path)?;
        let version = value
            .get("format_version")
            .ok_or_else(|| Error::Json {
                path: path.clone(),
                source: serde::de::Error::missing_field("format_version"),
            })?
            .as_u64()
            .ok_or_else(|| Error::Json {
                path: path.clone(),
                source: serde::de::Error::custom("format_version is not a non-negative integer"),
            })?;
        if !(u64::from(MIN_ARTIFACT_FORMAT_VERSION)..=u64::from(ARTIFACT_FORMAT_VERSION)).contains(&version) {
            return Err(Error::UnsupportedVersion {
                path,
                found: u32::try_from(version).unwrap_or(u32::MAX),
                min_supported: MIN_ARTIFACT_FORMAT_VERSION,
                max_supported: ARTIFACT_FORMAT_VERSION,
            });
        }
        let value = if version == 1 {
            upgrade_v1(value, dir)
        } else {
            value
        };
        serde_json::from_value(value).map_err(|source| Error::Json { path, source })
    }

    /// Record `file` (already written inside the artifact directory `dir`) as the model's
    /// anomaly detector, rewriting `artifact.json` atomically (and in the current format).
    ///
    /// # Errors
    /// As [`read_metadata`](Self::read_metadata); [`Error::InvalidConfig`] when `file` is not a
    /// plain file name or is missing from `dir`; I/O errors naming the file.
    pub fn record_detector(dir: &Path, file: &str) -> Result<Self> {
        let plain = Path::new(file).file_name().is_some_and(|n| n == file);
        if !plain || !dir.join(file).is_file() {
            return Err(Error::invalid(
                "detector_file",
                format!("{file:?} is not a file name inside the artifact directory"),
            ));
        }
        let mut artifact = Self::read_metadata(dir)?;
        artifact.format_version = ARTIFACT_FORMAT_VERSION;
        artifact.detector_file = Some(file.to_string());
        fsutil::write_json_atomic(&dir.join(ARTIFACT_FILE), &artifact)?;
        Ok(artifact)
    }

    /// Load an artifact and its model (inference mode) onto `device`.
    ///
    /// # Errors
    /// As [`read_metadata`](Self::read_metadata); [`Error::InvalidConfig`] when the parts
    /// disagree; [`Error::MissingFile`] / [`Error::CorruptWeights`] /
    /// [`Error::WeightsMismatch`] for `weights.bpk`.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, AnyModel)> {
        let artifact = Self::read_metadata(dir)?;
        artifact.validate()?;
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.is_file() {
            return Err(Error::MissingFile { path: weights });
        }
        let path = dir.join(ARTIFACT_FILE);
        let model = artifact
            .model
            .init(device)
            .map_err(|e| {
                Error::invalid(
                    format!("model configuration in {}", path.display()),
                    e.to_string(),
                )
            })?
            .try_load_file(&weights)
            .map_err(|e| Error::from_record(&weights, e))?;
        Ok((artifact, model.valid()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{LinearConfig, RepeatConfig};
    use crate::forecaster::Forecaster;
    use crate::simba::SimbaConfig;
    use crate::spacetime::SpaceTimeConfig;
    use crate::train::testdata::data;
    use crate::train::{NoopObserver, fit};

    const L: usize = 32;
    const H: usize = 8;

    fn configs() -> Vec<ModelConfig> {
        vec![
            ModelConfig::SpaceTime(
                SpaceTimeConfig::new(L, H)
                    .with_d_model(8)
                    .with_state_dim(8)
                    .with_n_encoder_blocks(1)
                    .with_first_n_kernels(4)
                    .with_first_n_heads(2)
                    .with_n_kernels(8)
                    .with_max_avg_window(16),
            ),
            ModelConfig::Simba(
                SimbaConfig::new(L, H)
                    .with_d_model(8)
                    .with_d_state(4)
                    .with_einfft_blocks(2),
            ),
            ModelConfig::Linear(LinearConfig::new(L, H)),
            ModelConfig::Repeat(RepeatConfig::new(L, H)),
        ]
    }

    fn artifact(model: ModelConfig, scaler: &Scaler) -> Artifact {
        let schema = DataSchema {
            columns: scaler.columns.clone(),
            frequency: Some("1h".into()),
            lookback: L,
            horizon: H,
            time_column: Some("timestamp".into()),
            series_column: None,
        };
        Artifact::new(model, scaler.clone(), schema)
    }

    fn bits(t: Tensor<3>) -> Vec<u32> {
        t.into_data()
            .try_into_vec_as::<f32>()
            .unwrap()
            .into_iter()
            .map(f32::to_bits)
            .collect()
    }

    #[test]
    fn save_load_gives_identical_forecasts_for_every_kind() {
        let d = data(2, 2, 480, L, H);
        let dev = Device::flex();
        let x = d.test.batch(0..16, &dev).x;
        for cfg in configs() {
            let kind = cfg.kind();
            let model = cfg.init(&dev).unwrap();
            let train_cfg = crate::train::TrainConfig {
                epochs: 1,
                max_batches_per_epoch: Some(2),
                ..Default::default()
            };
            let out = fit(
                model,
                &d.train,
                Some(&d.val),
                &train_cfg,
                &dev,
                None,
                &mut NoopObserver,
            )
            .unwrap();
            let mut art = artifact(cfg, &d.scaler);
            art.training = Some(TrainingRecord::from_outcome(&train_cfg, &out, "cpu"));
            art.evaluation.val = Some(ForecastErrors {
                mse: out.best_val_loss.expect("validation loss"),
                mae: 0.25,
                windows: 7,
            });
            art.residuals = Some(ResidualStats {
                method: "rms".into(),
                split: "val".into(),
                windows: 7,
                std: vec![vec![0.5; 2]; H],
            });
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("model");
            art.save(&out.model, &dir).unwrap();
            let (loaded, model) = Artifact::load(&dir, &dev).unwrap();
            assert_eq!(loaded, art, "{kind}: metadata round trip");
            assert_eq!(model.kind(), kind);
            assert_eq!(
                bits(model.forecast(x.clone())),
                bits(out.model.forecast(x.clone())),
                "{kind}"
            );
        }
    }

    fn saved(root: &Path) -> (std::path::PathBuf, Artifact) {
        let d = data(1, 2, 240, L, H);
        let dev = Device::flex();
        let cfg = ModelConfig::Linear(LinearConfig::new(L, H));
        let art = artifact(cfg.clone(), &d.scaler);
        let dir = root.join("a");
        art.save(&cfg.init(&dev).unwrap(), &dir).unwrap();
        (dir, art)
    }

    #[test]
    fn files_lists_the_artifacts_own_files_and_detector_names_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let (dir, art) = saved(root.path());
        assert_eq!(art.files(), vec![ARTIFACT_FILE, WEIGHTS_FILE]);
        std::fs::write(dir.join(DETECTOR_FILE), "{}").unwrap();
        let recorded = Artifact::record_detector(&dir, DETECTOR_FILE).unwrap();
        assert_eq!(recorded.files(), vec![ARTIFACT_FILE, WEIGHTS_FILE, DETECTOR_FILE]);
        // A hand-edited detector name that leaves the directory (or reuses a file) is refused
        // on load, so a copy of `files()` never reaches outside the artifact.
        let dev = Device::flex();
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "sub/detector.json",
            WEIGHTS_FILE,
        ] {
            set_json(&dir, |v| v["detector_file"] = serde_json::json!(bad));
            let err = Artifact::load(&dir, &dev).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidConfig { what, .. } if what == "detector_file"),
                "{bad}: {err}"
            );
        }
    }

    fn set_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.join(ARTIFACT_FILE);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    }

    #[test]
    fn versions_newer_or_older_than_supported_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let (dir, _) = saved(root.path());
        let dev = Device::flex();
        // Unknown extra fields of the same version are tolerated.
        set_json(&dir, |v| v["added_later"] = serde_json::json!(1));
        Artifact::load(&dir, &dev).unwrap();
        for (version, hint) in [
            (ARTIFACT_FORMAT_VERSION + 1, "upgrade statecast"),
            (0, "re-export"),
        ] {
            set_json(&dir, |v| v["format_version"] = serde_json::json!(version));
            let err = Artifact::load(&dir, &dev).unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedVersion { found, .. } if found == version),
                "{err}"
            );
            let msg = err.to_string();
            assert!(msg.contains(ARTIFACT_FILE) && msg.contains(hint), "{msg}");
        }
    }

    /// A version-1 `artifact.json` (forecast errors and residual scale in a `metrics` map read by
    /// key, detector found by its file name) loads as version 2 with typed fields; recording a
    /// detector rewrites it in the current format.
    #[test]
    fn version_1_artifacts_load_with_typed_fields() {
        let root = tempfile::tempdir().unwrap();
        let (dir, art) = saved(root.path());
        let residual = serde_json::json!({
            "method": "rms", "split": "val", "windows": 9, "std": vec![vec![0.5f32; 2]; H]
        });
        set_json(&dir, |v| {
            let obj = v.as_object_mut().unwrap();
            for key in ["evaluation", "residuals", "detector_file"] {
                obj.remove(key);
            }
            obj.insert("format_version".into(), serde_json::json!(1));
            obj.insert(
                "metrics".into(),
                serde_json::json!({
                    "test": {"mse": 0.25, "mae": 0.5, "windows": 10},
                    "val": {"mse": "not a number"},
                    "residual_std": residual,
                }),
            );
        });
        let (old, _) = Artifact::load(&dir, &Device::flex()).unwrap();
        assert_eq!(old.format_version, 1);
        assert_eq!(
            old.evaluation.test,
            Some(ForecastErrors {
                mse: 0.25,
                mae: 0.5,
                windows: 10
            })
        );
        assert_eq!(
            old.evaluation.val, None,
            "an entry that does not parse is dropped"
        );
        assert_eq!(old.residuals.as_ref().map(|r| r.windows), Some(9));
        assert_eq!(old.detector_file, None);
        assert_eq!(old.model, art.model);

        std::fs::write(dir.join(DETECTOR_FILE), "{}").unwrap();
        assert_eq!(
            Artifact::read_metadata(&dir).unwrap().detector_file.as_deref(),
            Some(DETECTOR_FILE),
            "a version-1 artifact's detector is found by its usual name"
        );
        let recorded = Artifact::record_detector(&dir, DETECTOR_FILE).unwrap();
        assert_eq!(recorded.format_version, ARTIFACT_FORMAT_VERSION);
        let again = Artifact::read_metadata(&dir).unwrap();
        assert_eq!(again, recorded);
        assert!(Artifact::record_detector(&dir, "../x.json").is_err());
        assert!(Artifact::record_detector(&dir, "missing.json").is_err());
    }

    #[test]
    fn missing_and_corrupt_files_are_typed_errors() {
        let dev = Device::flex();
        let root = tempfile::tempdir().unwrap();
        let (dir, art) = saved(root.path());
        let weights = dir.join(WEIGHTS_FILE);
        let good_weights = std::fs::read(&weights).unwrap();

        // Weights of another architecture.
        let other = ModelConfig::Linear(LinearConfig::new(L, H + 1));
        let mut wrong = art.clone();
        wrong.model = other.clone();
        wrong.schema.horizon = H + 1;
        fsutil::write_json(&dir.join(ARTIFACT_FILE), &wrong).unwrap();
        let err = Artifact::load(&dir, &dev).unwrap_err();
        assert!(
            matches!(&err, Error::WeightsMismatch { path, .. } if *path == weights),
            "{err}"
        );
        // Weights of another kind.
        let mut wrong = art.clone();
        wrong.model = ModelConfig::Repeat(RepeatConfig::new(L, H));
        fsutil::write_json(&dir.join(ARTIFACT_FILE), &wrong).unwrap();
        let err = Artifact::load(&dir, &dev).unwrap_err();
        assert!(matches!(&err, Error::WeightsMismatch { .. }), "{err}");
        fsutil::write_json(&dir.join(ARTIFACT_FILE), &art).unwrap();

        // Truncated weights.
        std::fs::write(&weights, &good_weights[..good_weights.len() / 2]).unwrap();
        let err = Artifact::load(&dir, &dev).unwrap_err();
        assert!(
            matches!(&err, Error::CorruptWeights { path, .. } if *path == weights),
            "{err}"
        );
        // Missing weights.
        std::fs::remove_file(&weights).unwrap();
        let err = Artifact::load(&dir, &dev).unwrap_err();
        assert!(
            matches!(&err, Error::MissingFile { path } if *path == weights),
            "{err}"
        );
        std::fs::write(&weights, &good_weights).unwrap();
        Artifact::load(&dir, &dev).unwrap();

        // Corrupt JSON.
        let meta = dir.join(ARTIFACT_FILE);
        std::fs::write(&meta, "{\"format_version\": 1, \"model\": ").unwrap();
        let err = Artifact::load(&dir, &dev).unwrap_err();
        assert!(matches!(&err, Error::Json { path, .. } if *path == meta), "{err}");
        assert!(err.to_string().contains("artifact.json"), "{err}");
        // Valid JSON, wrong structure.
        std::fs::write(&meta, "{\"format_version\": 1, \"model\": 3}").unwrap();
        assert!(matches!(
            Artifact::load(&dir, &dev).unwrap_err(),
            Error::Json { .. }
        ));
        // Missing metadata; a missing directory.
        std::fs::remove_file(&meta).unwrap();
        assert!(
            matches!(Artifact::load(&dir, &dev).unwrap_err(), Error::MissingFile { path } if path == meta)
        );
        assert!(matches!(
            Artifact::load(&root.path().join("nope"), &dev).unwrap_err(),
            Error::MissingFile { .. }
        ));
    }

    #[test]
    fn overwrite_replaces_the_whole_directory() {
        let dev = Device::flex();
        let root = tempfile::tempdir().unwrap();
        let (dir, art) = saved(root.path());
        std::fs::write(dir.join("stale.txt"), "x").unwrap();
        let repeat = ModelConfig::Repeat(RepeatConfig::new(L, H));
        let mut new = art.clone();
        new.model = repeat.clone();
        new.save(&repeat.init(&dev).unwrap(), &dir).unwrap();
        assert!(!dir.join("stale.txt").exists());
        let (loaded, model) = Artifact::load(&dir, &dev).unwrap();
        assert_eq!((loaded.model.kind(), model.kind()), ("Repeat", "Repeat"));
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("a")],
            "no temporary left behind"
        );
        // A model of another kind than the config is refused before anything is written.
        let err = new
            .save(
                &ModelConfig::Linear(LinearConfig::new(L, H)).init(&dev).unwrap(),
                &dir,
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }

    #[test]
    fn model_config_json_is_tagged() {
        let cfg = ModelConfig::Linear(LinearConfig::new(96, 24));
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["kind"], "Linear");
        assert_eq!(v["config"]["lookback"], 96);
        let back: ModelConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, cfg);
        let st = ModelConfig::SpaceTime(SpaceTimeConfig::new(336, 96));
        let back: ModelConfig = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(
            (back.kind(), back.lookback(), back.horizon()),
            ("SpaceTime", 336, 96)
        );
    }
}
