//! Training checkpoints: `last/` after every epoch and `best/` on every validation improvement.
//!
//! ```text
//! checkpoint_dir/
//!   last/  model.bpk       weights (burnpack, keeps parameter ids)
//!          optimizer.bpk   AdamW state (burnpack, `ModuleOptimizer::save`)
//!          trainer.json    TrainerState
//!   best/  model.bpk, trainer.json
//! ```
//!
//! Each directory is replaced atomically (see [`crate::fsutil`]), so a run killed at any moment
//! leaves a complete `last/` of some finished epoch.
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::prelude::Module;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::engine::EpochMetrics;
use crate::error::{Error, Result};
use crate::fsutil;

/// Checkpoint format version written by this build.
pub const CHECKPOINT_FORMAT_VERSION: u32 = 1;
/// Sub-directory of the latest epoch's checkpoint.
pub const LAST_DIR: &str = "last";
/// Sub-directory of the best epoch's checkpoint.
pub const BEST_DIR: &str = "best";
/// Weights file in a checkpoint directory.
pub const MODEL_FILE: &str = "model.bpk";
/// Optimizer state file in `last/`.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
/// Trainer state file.
pub const STATE_FILE: &str = "trainer.json";

/// Everything besides weights and optimizer state that a resumed run needs (`trainer.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// [`CHECKPOINT_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The configuration the run was started with.
    pub config: TrainConfig,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimisation steps done (the schedule position).
    pub step: usize,
    /// Optimisation steps per epoch when the checkpoint was written.
    pub steps_per_epoch: usize,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// Epoch of the best validation loss (the last epoch without validation; 0 before any).
    pub best_epoch: usize,
    /// Epochs since the best one (the early-stopping counter).
    pub epochs_since_best: usize,
    /// Early stopping has ended the run.
    pub stopped_early: bool,
    /// How the random streams are positioned: they are re-derived from `(config.seed, epoch)` at
    /// the start of every epoch, so the seed and `epochs_done` are the whole RNG state.
    pub rng: String,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
}

/// Paths of one checkpoint directory.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointPaths {
    pub(crate) last: PathBuf,
    pub(crate) best: PathBuf,
}

impl CheckpointPaths {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            last: dir.join(LAST_DIR),
            best: dir.join(BEST_DIR),
        }
    }
}

/// Write `dir` (`last/` or `best/`) atomically: weights, optional optimizer state, trainer state.
pub(crate) fn write<M: Module>(
    dir: &Path,
    model: &M,
    optim: Option<&ModuleOptimizer>,
    state: &TrainerState,
) -> Result<()> {
    fsutil::replace_dir(dir, |tmp| {
        let weights = tmp.join(MODEL_FILE);
        model
            .clone()
            .save_file(&weights)
            .map_err(|e| Error::from_record(&weights, e))?;
        if let Some(optim) = optim {
            let path = tmp.join(OPTIMIZER_FILE);
            optim.save(&path).map_err(|e| Error::from_record(&path, e))?;
        }
        fsutil::write_json(&tmp.join(STATE_FILE), state)
    })
}

/// Read the trainer state of a checkpoint directory, checking its format version.
pub(crate) fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let value: serde_json::Value = fsutil::read_json(&path)?;
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if found != u64::from(CHECKPOINT_FORMAT_VERSION) {
        return Err(Error::UnsupportedVersion {
            path,
            found: u32::try_from(found).unwrap_or(u32::MAX),
            min_supported: CHECKPOINT_FORMAT_VERSION,
            max_supported: CHECKPOINT_FORMAT_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|source| Error::Json { path, source })
}

/// Load weights of `dir` into `model` (same architecture; parameter ids are restored).
pub(crate) fn load_model<M: Module>(dir: &Path, model: M) -> Result<M> {
    let path = dir.join(MODEL_FILE);
    if !path.is_file() {
        return Err(Error::MissingFile { path });
    }
    model
        .try_load_file(&path)
        .map_err(|e| Error::from_record(&path, e))
}

/// Load the optimizer state of `dir` into `optim`.
pub(crate) fn load_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
    let path = dir.join(OPTIMIZER_FILE);
    if !path.is_file() {
        return Err(Error::MissingFile { path });
    }
    optim.load(&path).map_err(|e| Error::from_record(&path, e))
}

/// Why `new` cannot continue a run started with `old`, if it cannot. The number of epochs and
/// the patience may change (extending a run); everything that shapes the first epochs may not.
pub(crate) fn resume_conflict(old: &TrainConfig, new: &TrainConfig) -> Option<String> {
    let normalise = |c: &TrainConfig| TrainConfig {
        epochs: 0,
        patience: None,
        ..c.clone()
    };
    (normalise(old) != normalise(new)).then(|| {
        format!(
            "the checkpoint was written with another training configuration (only `epochs` and \
             `patience` may change): checkpoint {} vs given {}",
            serde_json::to_string(old).unwrap_or_default(),
            serde_json::to_string(new).unwrap_or_default()
        )
    })
}
