//! Hyper-parameter search on the validation split: `statecast tune`.
//!
//! A search draws `trials` settings from a [`SearchSpace`] (seeded per trial), trains each on the
//! **training** rows and scores it by its best **validation** loss (the scaled-axis MSE the
//! trainer early-stops on). The test rows are never read: no test window is built, the scaler is
//! fitted on the training rows, and the saved model carries no test metrics (score it with
//! `statecast eval`/`score` afterwards).
//!
//! - **Pruning** (the median stopping rule): after `after_epochs` epochs, a trial whose best
//!   validation loss so far is worse (by more than [`PRUNE_TOLERANCE`]) than the median of the
//!   other trials' best at the same epoch
//!   (once at least `min_trials` have reached it) stops early. It keeps its best epoch and is
//!   recorded as pruned.
//! - **Concurrency**: `concurrency` trials train at once on threads sharing the device. With
//!   one, the search is deterministic; with more, which trials are pruned can depend on timing
//!   (each trial's own draws and training never do).
//! - **Resuming**: every finished trial is appended to `trials.jsonl` in the output directory;
//!   rerunning the same search there skips the trials already finished. A directory holding
//!   another search (different data, family, space, seed…) is refused.
//!
//! Output directory: `search.json` (what was searched), `trials.jsonl` (the log), `trials.csv`
//! (the table), `best.json` (the best trial), `best-model-config.json` and
//! `best-train-config.json` (its settings, for `--model-config` and `--train-config`) and
//! `best-model/` (its artifact, registrable with `statecast models
//! register`).
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use statecast_models::device::DeviceSpec;
use statecast_models::train::{self, EpochMetrics, TrainConfig, TrainObserver};
use statecast_models::zoo::{ModelConfig, ModelFamily};
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;

use crate::data::{PreparedData, prepare};
use crate::training::build_artifact;
use crate::{Error, Result};

pub mod space;
pub use space::{Domain, SearchSpace, TrialSettings, train_config};

/// How much worse than the median (relative) a trial must be to be pruned: equal settings
/// train to losses that differ only by float rounding, and those are not pruned.
pub const PRUNE_TOLERANCE: f64 = 1e-3;

/// The most trials one search may run.
pub const MAX_TRIALS: usize = 10_000;
/// The most trials training at once.
pub const MAX_CONCURRENCY: usize = 64;

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The median stopping rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneRule {
    /// Epochs a trial runs before it can be pruned (≥ 1).
    pub after_epochs: usize,
    /// Other trials that must have reached an epoch before it is compared (≥ 1).
    pub min_trials: usize,
}

/// What is searched: everything that decides a trial's result (`search.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDefinition {
    /// Dataset and column mapping.
    pub data: DatasetSpec,
    /// Chronological split; only its training and validation parts are used.
    pub split: SplitSpec,
    /// Model family.
    pub family: ModelFamily,
    /// Model settings every trial starts from (the space's draws override them).
    pub base_model: Option<Value>,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Training settings every trial starts from.
    pub base_train: TrainConfig,
    /// The space.
    pub space: SearchSpace,
    /// Seed of the draws.
    pub seed: u64,
    /// Pruning, when on.
    pub prune: Option<PruneRule>,
}

/// One search.
#[derive(Debug, Clone)]
pub struct TuneRequest {
    /// What is searched.
    pub search: SearchDefinition,
    /// Trials to run in all (those already in the output directory count).
    pub trials: usize,
    /// Trials training at once.
    pub concurrency: usize,
    /// Device.
    pub device: DeviceSpec,
    /// Output directory (created; resumed when it holds the same search).
    pub out_dir: PathBuf,
    /// Set to stop the search: running trials stop at their next batch (recorded as failed,
    /// "cancelled") and no new trial starts.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Asked before a trial trains; an error fails that trial (a server's size limits with the
    /// dataset's own number of variates).
    pub admit: Option<TrialAdmission>,
}

/// A check of a trial's model configuration, training settings and the dataset's variates.
#[derive(Clone)]
pub struct TrialAdmission(pub Arc<AdmitFn>);

/// The check a [`TrialAdmission`] runs.
pub type AdmitFn = dyn Fn(&ModelConfig, &TrainConfig, usize) -> Result<()> + Send + Sync;

impl std::fmt::Debug for TrialAdmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrialAdmission(..)")
    }
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialStatus {
    /// Trained to its end (epochs or early stopping).
    Complete,
    /// Stopped by the median rule.
    Pruned,
    /// Its settings were invalid or training failed.
    Failed,
}

impl TrialStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Complete => "complete",
            TrialStatus::Pruned => "pruned",
            TrialStatus::Failed => "failed",
        }
    }
}

/// One finished trial (a line of `trials.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Trial number, 0-based.
    pub trial: usize,
    /// Its settings.
    pub settings: TrialSettings,
    /// How it ended.
    pub status: TrialStatus,
    /// Best validation loss (scaled-axis MSE); `None` when failed.
    pub val_loss: Option<f64>,
    /// Epoch of the best validation loss.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Training seconds.
    pub seconds: f64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct TuneReport {
    /// Every trial, in trial order (resumed ones included).
    pub trials: Vec<TrialRecord>,
    /// Index into `trials` of the best (lowest validation loss), if any finished.
    pub best: Option<usize>,
    /// Trials read from an earlier run of the same search.
    pub resumed: usize,
}

/// Shared state of the running trials.
struct Shared {
    /// Best validation loss so far of every trial, per epoch (index epoch − 1).
    curves: BTreeMap<usize, Vec<f64>>,
    /// Finished trials.
    records: Vec<TrialRecord>,
    /// The best finished trial's validation loss.
    best_loss: Option<f64>,
    /// The first error writing the output directory (the search stops).
    failure: Option<Error>,
}

/// Stops a trial by the median rule and records its curve.
struct PruningObserver<'a> {
    trial: usize,
    rule: Option<PruneRule>,
    shared: &'a Mutex<Shared>,
    cancel: Option<&'a AtomicBool>,
    best: f64,
    pruned: bool,
}

impl TrainObserver for PruningObserver<'_> {
    fn on_batch_end(&mut self, _progress: &train::BatchProgress) -> ControlFlow<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn on_epoch_end(&mut self, metrics: &EpochMetrics, _improved: bool) -> ControlFlow<()> {
        let Some(val) = metrics.val_loss.filter(|v| v.is_finite()) else {
            return ControlFlow::Continue(());
        };
        self.best = self.best.min(val);
        let mut shared = lock(self.shared);
        let curve = shared.curves.entry(self.trial).or_default();
        curve.push(self.best);
        let epoch = curve.len();
        let Some(rule) = self.rule.filter(|r| epoch >= r.after_epochs) else {
            return ControlFlow::Continue(());
        };
        let mut others: Vec<f64> = shared
            .curves
            .iter()
            .filter(|(t, c)| **t != self.trial && c.len() >= epoch)
            .map(|(_, c)| c[epoch - 1])
            .collect();
        if others.len() < rule.min_trials {
            return ControlFlow::Continue(());
        }
        others.sort_by(f64::total_cmp);
        let median = if others.len() % 2 == 1 {
            others[others.len() / 2]
        } else {
            (others[others.len() / 2 - 1] + others[others.len() / 2]) / 2.0
        };
        // Worse by more than float noise: trials of equal settings (ties) are never pruned.
        if self.best > median * (1.0 + PRUNE_TOLERANCE) {
            self.pruned = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// Check the request's own bounds and the space (before any data is read).
///
/// # Errors
/// [`Error::InvalidArgument`] naming the field.
pub fn validate(req: &TuneRequest) -> Result<()> {
    if req.trials == 0 || req.trials > MAX_TRIALS {
        return Err(invalid("trials", format!("must be in 1..={MAX_TRIALS}")));
    }
    if req.concurrency == 0 || req.concurrency > MAX_CONCURRENCY {
        return Err(invalid(
            "concurrency",
            format!("must be in 1..={MAX_CONCURRENCY}"),
        ));
    }
    if let Some(rule) = req.search.prune
        && (rule.after_epochs == 0 || rule.min_trials == 0)
    {
        return Err(invalid("prune", "after_epochs and min_trials must be at least 1"));
    }
    req.search
        .base_train
        .validate()
        .map_err(|e| invalid("training", e.to_string()))?;
    let s = &req.search;
    s.space.validate(s.family, s.lookback, s.horizon, &s.base_train)
}

/// Run (or resume) the search; `on_trial` sees every trial as it finishes.
///
/// # Errors
/// [`Error::InvalidArgument`] for a bad request or an output directory holding another search;
/// data errors; [`Error::Internal`] when the output directory cannot be written.
pub fn run(req: &TuneRequest, on_trial: &(dyn Fn(&TrialRecord) + Sync)) -> Result<TuneReport> {
    validate(req)?;
    let previous = open_out_dir(&req.out_dir, &req.search)?;
    let resumed = previous.len();
    let s = &req.search;
    let prepared = prepare(&s.data, &s.split, s.lookback)?;
    let window = statecast_pipelines::window::WindowSpec::new(s.lookback, s.horizon);
    // Only the training and validation windows exist: no test window is ever built.
    let part = |p| -> Result<Option<statecast_pipelines::window::WindowDataset>> {
        let index = statecast_pipelines::window::WindowIndex::for_split(
            &prepared.scaled,
            window,
            &prepared.ranges,
            p,
        )?;
        Ok((!index.is_empty())
            .then(|| statecast_pipelines::window::WindowDataset::new(prepared.scaled.clone(), index))
            .transpose()?)
    };
    use statecast_pipelines::split::SplitPart;
    let train_set = part(SplitPart::Train)?
        .ok_or_else(|| invalid("split", "the training split has no complete window"))?;
    let val_set = part(SplitPart::Val)?.ok_or_else(|| {
        invalid(
            "split",
            "tuning needs a validation split with at least one complete window",
        )
    })?;
    let done: BTreeMap<usize, TrialRecord> = previous.into_iter().map(|r| (r.trial, r)).collect();
    let pending: Vec<usize> = (0..req.trials).filter(|t| !done.contains_key(t)).collect();
    let shared = Mutex::new(Shared {
        curves: BTreeMap::new(),
        best_loss: done.values().filter_map(|r| r.val_loss).min_by(f64::total_cmp),
        records: done.values().cloned().collect(),
        failure: None,
    });
    // Earlier trials' curves are not kept; pruning compares against the trials of this run.
    let next = AtomicUsize::new(0);
    let device = req.device.device()?;
    std::thread::scope(|scope| {
        for _ in 0..req.concurrency.min(pending.len()) {
            scope.spawn(|| {
                loop {
                    if lock(&shared).failure.is_some() || cancelled(req) {
                        return;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&trial) = pending.get(k) else { return };
                    let record = run_trial(req, &prepared, &train_set, &val_set, trial, &shared, &device);
                    // A trial cut short by cancelling is not recorded: a rerun trains it again.
                    if cancelled(req) {
                        return;
                    }
                    if let Err(e) = finish_trial(req, &shared, record, on_trial) {
                        lock(&shared).failure.get_or_insert(e);
                    }
                }
            });
        }
    });
    let shared = shared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = shared.failure {
        return Err(e);
    }
    let mut trials = shared.records;
    trials.sort_by_key(|r| r.trial);
    write_table(&req.out_dir.join("trials.csv"), &trials)?;
    let best = best_index(&trials);
    Ok(TuneReport {
        trials,
        best,
        resumed,
    })
}

fn cancelled(req: &TuneRequest) -> bool {
    req.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
}

/// The trial with the lowest validation loss (the lower trial number on ties).
fn best_index(trials: &[TrialRecord]) -> Option<usize> {
    trials
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.val_loss.map(|v| (i, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i)
}

/// The model settings of a trial: the base settings with its draws merged in.
fn model_overrides(search: &SearchDefinition, settings: &TrialSettings) -> Value {
    let mut merged = search
        .base_model
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    merged.extend(settings.model.clone());
    Value::Object(merged)
}

/// Train one trial. Its artifact is kept (in `best-model/`) when it is the best so far.
fn run_trial(
    req: &TuneRequest,
    prepared: &PreparedData,
    train_set: &statecast_pipelines::window::WindowDataset,
    val_set: &statecast_pipelines::window::WindowDataset,
    trial: usize,
    shared: &Mutex<Shared>,
    device: &burn::prelude::Device,
) -> TrialRecord {
    let s = &req.search;
    let settings = s.space.draw(s.seed, trial);
    let failed = |error: String| TrialRecord {
        trial,
        settings: settings.clone(),
        status: TrialStatus::Failed,
        val_loss: None,
        best_epoch: 0,
        epochs: 0,
        seconds: 0.0,
        error: Some(error),
    };
    let overrides = model_overrides(s, &settings);
    let config = match s
        .family
        .default_config(s.lookback, s.horizon)
        .with_overrides(Some(&overrides))
    {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    let train_cfg = match train_config(&s.base_train, &settings.train) {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    if let Some(admit) = &req.admit
        && let Err(e) = (admit.0)(&config, &train_cfg, prepared.scaled.columns.len())
    {
        return failed(e.to_string());
    }
    let model = match config.init_seeded(device, train_cfg.seed) {
        Ok(m) => m,
        Err(e) => return failed(e.to_string()),
    };
    let mut observer = PruningObserver {
        trial,
        rule: s.prune,
        shared,
        cancel: req.cancel.as_deref(),
        best: f64::INFINITY,
        pruned: false,
    };
    let started = std::time::Instant::now();
    let outcome = match train::fit(
        model,
        train_set,
        Some(val_set),
        &train_cfg,
        device,
        None,
        &mut observer,
    ) {
        Ok(o) => o,
        Err(e) => return failed(e.to_string()),
    };
    let seconds = started.elapsed().as_secs_f64();
    if cancelled(req) {
        return failed("cancelled".into());
    }
    let val_loss = outcome.best_val_loss.filter(|v| v.is_finite());
    let record = TrialRecord {
        trial,
        settings: settings.clone(),
        status: if observer.pruned {
            TrialStatus::Pruned
        } else {
            TrialStatus::Complete
        },
        val_loss,
        best_epoch: outcome.best_epoch,
        epochs: outcome.history.len(),
        seconds,
        error: None,
    };
    // Keep the artifact of a new best (decided and written under the lock, so two threads never
    // write `best-model/` at once and the kept model is the recorded best).
    let mut guard = lock(shared);
    let is_best = match (val_loss, guard.best_loss) {
        (Some(v), Some(b)) => v < b,
        (Some(_), None) => true,
        _ => false,
    };
    if is_best {
        guard.best_loss = val_loss;
        let saved = build_artifact(
            &s.data,
            prepared,
            Some(val_set),
            config,
            &train_cfg,
            &req.device,
            &outcome,
            None,
            device,
        )
        .and_then(|art| {
            art.save(&outcome.model, &req.out_dir.join("best-model"))
                .map_err(Error::from)
        });
        if let Err(e) = saved {
            guard.failure.get_or_insert(e);
        }
    }
    record
}

/// Record a finished trial: the log line, the best files, the caller's callback.
fn finish_trial(
    req: &TuneRequest,
    shared: &Mutex<Shared>,
    record: TrialRecord,
    on_trial: &(dyn Fn(&TrialRecord) + Sync),
) -> Result<()> {
    let mut guard = lock(shared);
    let log = req.out_dir.join("trials.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io(format!("opening {}", log.display())))?;
    let line = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
    writeln!(file, "{line}").map_err(io(format!("writing {}", log.display())))?;
    file.sync_data()
        .map_err(io(format!("syncing {}", log.display())))?;
    guard.records.push(record.clone());
    if let Some(best) = best_index(&guard.records).map(|i| guard.records[i].clone())
        && best.trial == record.trial
    {
        write_best(&req.out_dir, &req.search, &best)?;
    }
    drop(guard);
    on_trial(&record);
    Ok(())
}

/// `best.json`, `best-model-config.json` and `best-train-config.json`, each written then
/// renamed.
fn write_best(dir: &Path, search: &SearchDefinition, best: &TrialRecord) -> Result<()> {
    let model = model_overrides(search, &best.settings);
    let train = train_config(&search.base_train, &best.settings.train)?;
    let summary = serde_json::json!({
        "trial": best.trial,
        "val_loss": best.val_loss,
        "status": best.status,
        "best_epoch": best.best_epoch,
        "model": model,
        "train": train,
    });
    write_atomic(
        &dir.join("best.json"),
        &serde_json::to_vec_pretty(&summary).unwrap_or_default(),
    )?;
    write_atomic(
        &dir.join("best-model-config.json"),
        &serde_json::to_vec_pretty(&model).unwrap_or_default(),
    )?;
    // Only the searched training settings: epochs, seed and the rest stay the caller's flags.
    write_atomic(
        &dir.join("best-train-config.json"),
        &serde_json::to_vec_pretty(&best.settings.train).unwrap_or_default(),
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::replace_via_temp(
        path,
        |tmp| std::fs::write(tmp, bytes).map_err(io(format!("writing {}", path.display()))),
        io(format!("replacing {}", path.display())),
    )
}

/// Create the output directory, or check that it holds this search and read its finished
/// trials.
fn open_out_dir(dir: &Path, search: &SearchDefinition) -> Result<Vec<TrialRecord>> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let definition = dir.join("search.json");
    let wanted = serde_json::to_value(search).map_err(|e| Error::Internal(e.to_string()))?;
    match std::fs::read(&definition) {
        Ok(bytes) => {
            let found: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if found != wanted {
                return Err(invalid(
                    "out_dir",
                    format!(
                        "{} holds another search (its search.json differs); use a new directory",
                        dir.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_atomic(
                &definition,
                &serde_json::to_vec_pretty(&wanted).unwrap_or_default(),
            )?;
        }
        Err(e) => return Err(io(format!("reading {}", definition.display()))(e)),
    }
    let log = dir.join("trials.jsonl");
    let text = match std::fs::read_to_string(&log) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(format!("reading {}", log.display()))(e)),
    };
    // A line cut short by a crash is skipped (that trial runs again).
    let mut records: BTreeMap<usize, TrialRecord> = BTreeMap::new();
    for line in text.lines() {
        if let Ok(r) = serde_json::from_str::<TrialRecord>(line)
            && r.settings == search.space.draw(search.seed, r.trial)
        {
            records.insert(r.trial, r);
        }
    }
    Ok(records.into_values().collect())
}

/// `trials.csv`: one row per trial, its settings as `model.NAME` and `train.NAME` columns.
fn write_table(path: &Path, trials: &[TrialRecord]) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for r in trials {
        for k in r.settings.model.keys() {
            let n = format!("model.{k}");
            if !names.contains(&n) {
                names.push(n);
            }
        }
        for k in r.settings.train.keys() {
            let n = format!("train.{k}");
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let write = |tmp: &Path| -> std::result::Result<(), csv::Error> {
        let mut w = csv::Writer::from_path(tmp)?;
        let mut header = vec!["trial", "status", "val_loss", "best_epoch", "epochs", "seconds"];
        header.extend(names.iter().map(String::as_str));
        header.push("error");
        w.write_record(&header)?;
        for r in trials {
            let mut row = vec![
                r.trial.to_string(),
                r.status.as_str().to_string(),
                r.val_loss.map(|v| v.to_string()).unwrap_or_default(),
                r.best_epoch.to_string(),
                r.epochs.to_string(),
                format!("{:.3}", r.seconds),
            ];
            for n in &names {
                let (section, key) = n.split_once('.').unwrap_or(("", n));
                let map = if section == "model" {
                    &r.settings.model
                } else {
                    &r.settings.train
                };
                row.push(map.get(key).map(|v| v.to_string()).unwrap_or_default());
            }
            row.push(r.error.clone().unwrap_or_default());
            w.write_record(&row)?;
        }
        w.flush()?;
        Ok(())
    };
    crate::fsutil::replace_via_temp(
        path,
        |tmp| write(tmp).map_err(|e| Error::Internal(format!("writing {}: {e}", path.display()))),
        io(format!("replacing {}", path.display())),
    )
}

#[cfg(test)]
mod tests;
