//! [`JobManager`]: the bounded queue, the worker threads and the live progress channels.
//!
//! Locks are taken in the order queue → live → db, never the other way.
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use statecast_models::artifact::Artifact;
use tokio::sync::watch;

use super::failure::client_message;
use super::limits::JobLimits;
use super::observer::JobObserver;
use super::spec::{JobKind, JobSpec, Submission};
use super::store;
use super::types::{JobId, JobPage, JobRecord, JobState, JobStateCounts, Progress};
use crate::registry::{DB_FILE, Registry};
use crate::roots::AllowedRoots;
use crate::training::train_to_artifact_checked;
use crate::{Error, Result};
use statecast_anomaly::fit::{DETECTOR_FILE, fit_for_artifact};

/// The directory of job state inside the data directory.
pub const JOBS_DIR: &str = "jobs";

/// Settings of the job manager.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// The server's data directory (database and `jobs/`).
    pub data_dir: PathBuf,
    /// Worker threads, each training one job at a time (at least 1).
    pub workers: usize,
    /// Most jobs waiting in the queue; submissions beyond it are rejected.
    pub max_queued: usize,
    /// Directories dataset paths must lie under (checked at submission and again when a
    /// worker opens the file).
    pub data_roots: AllowedRoots,
    /// Bounds on epochs, model size and training memory.
    pub limits: JobLimits,
    /// Times a job may be started; a job found RUNNING at start-up (the server died while
    /// training it) that has been started this often is FAILED instead of queued again.
    pub max_attempts: u32,
    /// Which finished jobs are kept.
    pub retention: Retention,
}

/// How long finished jobs (rows and `jobs/<id>/`) are kept. Models registered from them stay
/// in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished jobs that ended longer ago than this are deleted.
    pub max_age: std::time::Duration,
    /// At most this many finished jobs are kept (the newest).
    pub max_finished: usize,
    /// How often the cleanup runs (it also runs at start-up).
    pub every: std::time::Duration,
}

impl Default for Retention {
    /// 30 days, 10 000 finished jobs, checked hourly.
    fn default() -> Self {
        Self {
            max_age: std::time::Duration::from_secs(30 * 24 * 3600),
            max_finished: 10_000,
            every: std::time::Duration::from_secs(3600),
        }
    }
}

/// Where a watcher reads progress from.
#[derive(Debug)]
pub enum JobWatch {
    /// The job is queued or running: follow this channel until a terminal state arrives.
    Live(watch::Receiver<Progress>),
    /// The job has ended: its final progress.
    Finished(Progress),
}

#[derive(Debug)]
struct Live {
    progress: Arc<watch::Sender<Progress>>,
    cancel: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Inner {
    jobs_dir: PathBuf,
    registry: Arc<Registry>,
    db: Arc<Mutex<Connection>>,
    queue: Mutex<VecDeque<JobId>>,
    ready: Condvar,
    max_queued: usize,
    live: Mutex<HashMap<JobId, Live>>,
    data_roots: AllowedRoots,
    limits: JobLimits,
    retention: Retention,
}

/// Queues, runs and tracks training jobs. Cheap to clone; methods block (SQLite), so async
/// callers run them in `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_found(id: JobId) -> Error {
    Error::JobNotFound { id: id.to_string() }
}

impl JobManager {
    /// Open the jobs table in `config.data_dir`, queue again the jobs that were queued or
    /// running when the process stopped, and start the workers.
    ///
    /// # Errors
    /// [`Error::Io`] for `jobs/`, [`Error::Database`].
    pub fn start(config: &JobsConfig, registry: Arc<Registry>) -> Result<Self> {
        let jobs_dir = config.data_dir.join(JOBS_DIR);
        std::fs::create_dir_all(&jobs_dir).map_err(|source| Error::Io {
            context: format!("creating {}", jobs_dir.display()),
            source,
        })?;
        let conn = store::open(&config.data_dir.join(DB_FILE))?;
        let exhausted = store::fail_exhausted(&conn, config.max_attempts.max(1), Utc::now())?;
        if !exhausted.is_empty() {
            tracing::warn!(
                ?exhausted,
                max_attempts = config.max_attempts,
                "jobs the server died while training too often are failed, not resumed"
            );
        }
        let requeued = store::requeue_running(&conn)?;
        let pending = store::ids_in(&conn, JobState::Queued)?;
        let mut live = HashMap::new();
        for &id in &pending {
            live.insert(id, Live::new(Progress::initial(id, JobState::Queued)));
        }
        if !pending.is_empty() {
            tracing::info!(
                requeued,
                pending = pending.len(),
                "resuming unfinished training jobs"
            );
        }
        let inner = Arc::new(Inner {
            jobs_dir,
            registry,
            db: Arc::new(Mutex::new(conn)),
            queue: Mutex::new(pending.into_iter().collect()),
            ready: Condvar::new(),
            max_queued: config.max_queued,
            live: Mutex::new(live),
            data_roots: config.data_roots.clone(),
            limits: config.limits,
            retention: config.retention,
        });
        inner.prune(Utc::now());
        let pruner = Arc::downgrade(&inner);
        let every = config.retention.every;
        std::thread::Builder::new()
            .name("statecast-job-retention".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    // The manager is gone (tests, shutdown): stop.
                    let Some(inner) = pruner.upgrade() else { return };
                    inner.prune(Utc::now());
                }
            })
            .map_err(|source| Error::Io {
                context: "starting the job retention thread".into(),
                source,
            })?;
        for n in 0..config.workers.max(1) {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("statecast-job-worker-{n}"))
                .spawn(move || inner.work())
                .map_err(|source| Error::Io {
                    context: "starting a job worker".into(),
                    source,
                })?;
        }
        Ok(Self { inner })
    }

    /// Check a submission against this server's data roots and limits.
    ///
    /// # Errors
    /// As [`Submission::validate`].
    pub fn validate(&self, submission: &Submission) -> Result<JobSpec> {
        submission.validate(&self.inner.data_roots, &self.inner.limits)
    }

    /// Delete the finished jobs the retention settings no longer keep, as if the time were
    /// `now`; returns their ids.
    pub fn prune(&self, now: DateTime<Utc>) -> Vec<JobId> {
        self.inner.prune(now)
    }

    /// Queue a validated job.
    ///
    /// # Errors
    /// [`Error::ResourceExhausted`] when the queue is full, [`Error::Database`].
    pub fn submit(&self, spec: &JobSpec) -> Result<JobRecord> {
        let inner = &self.inner;
        let id = {
            let mut queue = lock(&inner.queue);
            if queue.len() >= inner.max_queued {
                return Err(Error::ResourceExhausted {
                    reason: format!(
                        "the training queue is full ({} jobs waiting); retry later",
                        queue.len()
                    ),
                });
            }
            let id = store::insert(&lock(&inner.db), spec, Utc::now())?;
            lock(&inner.live).insert(id, Live::new(Progress::initial(id, JobState::Queued)));
            queue.push_back(id);
            inner.ready.notify_one();
            id
        };
        tracing::info!(id, model = %spec.model_name, "training job queued");
        self.get(id)
    }

    /// One job.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::Database`].
    pub fn get(&self, id: JobId) -> Result<JobRecord> {
        store::get(&lock(&self.inner.db), id)?.ok_or_else(|| not_found(id))
    }

    /// Up to `page_size` jobs older than `before` (all when `None`), newest first, in `states`
    /// (every state when empty).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn list(&self, states: &[JobState], page_size: usize, before: Option<JobId>) -> Result<JobPage> {
        let mut jobs = store::list(&lock(&self.inner.db), states, before, page_size + 1)?;
        let next = if jobs.len() > page_size {
            jobs.truncate(page_size);
            jobs.last().map(|j| j.id)
        } else {
            None
        };
        Ok(JobPage { jobs, next })
    }

    /// Cancel a queued job at once, or ask a running one to stop (it becomes CANCELLED at its
    /// next training step).
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::FailedPrecondition`] when it has already ended,
    /// [`Error::Database`].
    pub fn cancel(&self, id: JobId) -> Result<JobRecord> {
        let inner = &self.inner;
        {
            let mut queue = lock(&inner.queue);
            let job = self.get(id)?;
            if job.state.is_terminal() {
                return Err(Error::FailedPrecondition {
                    reason: format!("job {id} has already ended ({})", job.state),
                });
            }
            if let Some(pos) = queue.iter().position(|&q| q == id) {
                queue.remove(pos);
                inner.finish(id, JobState::Cancelled, "cancelled while queued", None);
            } else if let Some(live) = lock(&inner.live).get(&id) {
                live.cancel.store(true, Ordering::SeqCst);
            }
        }
        tracing::info!(id, "training job cancellation requested");
        self.get(id)
    }

    /// Follow a job's progress.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::Database`].
    pub fn watch(&self, id: JobId) -> Result<JobWatch> {
        if let Some(live) = lock(&self.inner.live).get(&id) {
            return Ok(JobWatch::Live(live.progress.subscribe()));
        }
        let job = self.get(id)?;
        let mut progress = job.progress;
        progress.state = job.state;
        progress.message = job.message;
        Ok(JobWatch::Finished(progress))
    }

    /// Number of jobs in each state (for metrics).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn job_state_counts(&self) -> Result<JobStateCounts> {
        store::counts(&lock(&self.inner.db))
    }
}

impl Live {
    fn new(progress: Progress) -> Self {
        Self {
            progress: Arc::new(watch::channel(progress).0),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Inner {
    /// A worker: take the oldest queued job, train it, repeat.
    fn work(self: Arc<Self>) {
        loop {
            let id = {
                let mut queue = lock(&self.queue);
                loop {
                    if let Some(id) = queue.pop_front() {
                        break id;
                    }
                    queue = self
                        .ready
                        .wait(queue)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let span = tracing::info_span!("job", id);
            let _entered = span.enter();
            self.run(id);
        }
    }

    fn job_dir(&self, id: JobId) -> PathBuf {
        self.jobs_dir.join(id.to_string())
    }

    /// Train job `id`, register the result and record how it ended.
    fn run(&self, id: JobId) {
        let (progress, cancel) = {
            let mut live = lock(&self.live);
            let entry = live
                .entry(id)
                .or_insert_with(|| Live::new(Progress::initial(id, JobState::Queued)));
            (entry.progress.clone(), entry.cancel.clone())
        };
        let started = {
            let db = lock(&self.db);
            store::start(&db, id, Utc::now()).and_then(|()| store::get(&db, id))
        };
        let job = match started {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not start a job");
                self.finish(
                    id,
                    JobState::Failed,
                    "could not start the job (details in the server log)",
                    None,
                );
                return;
            }
        };
        tracing::info!(model = %job.spec.model_name, attempt = job.attempts, "training job started");
        let mut running = Progress::initial(id, JobState::Running);
        running.epochs = job.spec.train.epochs;
        progress.send_replace(running);

        let dir = self.job_dir(id);
        let mut request = job.spec.train_request(&dir);
        // The roots may have changed since submission (a restart with other --data-root
        // flags, a symlink swapped): the path is resolved again and the canonical one is read.
        let stored = job.spec.data.path.to_str().unwrap_or_default();
        match self.data_roots.resolve(stored) {
            Ok(path) => request.data.path = path,
            Err(e) => {
                tracing::warn!(error = %e, path = %job.spec.data.path.display(), "dataset path refused at start");
                let message = "dataset: the path is no longer an existing file under this server's --data-root directories";
                self.finish(id, JobState::Failed, message, None);
                return;
            }
        }
        match job.spec.kind {
            JobKind::Train => self.run_training(id, job, request, &dir, progress, cancel),
            JobKind::Backtest => self.run_backtest(id, job, &request.data.path, &dir, progress, cancel),
            JobKind::Tune => self.run_tune(id, job, &request.data.path, &dir, progress, cancel),
        }
    }

    /// Train, fit a detector, register.
    fn run_training(
        &self,
        id: JobId,
        job: JobRecord,
        request: crate::training::TrainRequest,
        dir: &Path,
        progress: Arc<watch::Sender<Progress>>,
        cancel: Arc<AtomicBool>,
    ) {
        let limits = self.limits;
        let batch_size = request.train.batch_size;
        let admit = move |config: &statecast_models::zoo::ModelConfig, variates: usize| {
            limits.check_size(config, batch_size, variates)
        };
        let mut observer = JobObserver::new(id, cancel.clone(), progress, self.db.clone(), job.history);
        let Some(summary) = self.guarded(id, "training", &request.data, dir, &cancel, || {
            train_to_artifact_checked(&request, &mut observer, &admit)
        }) else {
            return;
        };
        attach_detector(&summary.artifact, &request.data, &request.split, request.device);
        match self
            .registry
            .register(&job.spec.model_name, &summary.artifact, &job.spec.labels)
        {
            Ok(info) => {
                tracing::info!(version = info.version, "training job succeeded");
                let message = format!("registered {}@{}", info.name, info.version);
                self.finish(id, JobState::Succeeded, &message, Some(info.version));
                // Only the checkpoints go: the registry's model cache may still read the
                // weights of the artifact it registered from.
                remove(&request.checkpoint_dir.unwrap_or_else(|| dir.join("ckpt")));
            }
            Err(e) => {
                tracing::warn!(error = %e, "registering the trained model failed");
                let message = format!("registering the model: {}", client_message(&e, &request.data));
                self.finish(id, JobState::Failed, &message, None);
            }
        }
    }

    /// A backtest: every row to `backtest.parquet` in the job's directory, the summary as the
    /// job's result.
    fn run_backtest(
        &self,
        id: JobId,
        job: JobRecord,
        data_path: &Path,
        dir: &Path,
        progress: Arc<watch::Sender<Progress>>,
        cancel: Arc<AtomicBool>,
    ) {
        let Some(mut request) = job.spec.backtest_request() else {
            self.finish(id, JobState::Failed, "the job has no backtest settings", None);
            return;
        };
        request.data.path = data_path.to_path_buf();
        let mut observer = JobObserver::new(id, cancel.clone(), progress, self.db.clone(), Vec::new());
        let Some(report) = self.guarded(id, "backtest", &request.data, dir, &cancel, || {
            crate::backtest::run(&request, &mut observer)
        }) else {
            return;
        };
        let overall = crate::backtest::BacktestSummary::of(&report.rows);
        let by_cutoff: Vec<serde_json::Value> = (1..=request.plan.cutoffs)
            .map(|c| {
                let s = crate::backtest::BacktestSummary::of(report.rows.iter().filter(|r| r.cutoff == c));
                serde_json::json!({"cutoff": c, "summary": s})
            })
            .collect();
        let rows_file = "backtest.parquet";
        let written = std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(e.to_string()))
            .and_then(|()| crate::backtest::write_rows(&dir.join(rows_file), &report.rows));
        if let Err(e) = &written {
            tracing::warn!(error = %e, "could not write the backtest rows");
        }
        let result = serde_json::json!({
            "overall": overall,
            "by_cutoff": by_cutoff,
            "fits": report.fits,
            "rows": report.rows.len(),
            "rows_file": written.is_ok().then_some(rows_file),
        });
        let _ = store::set_result(&lock(&self.db), id, &result.to_string());
        let message = format!(
            "backtest: {} cut-offs, MAE {:.4}, MASE {:.3}, 80 % coverage {:.1} %",
            request.plan.cutoffs,
            overall.mae,
            overall.mase,
            100.0 * overall.coverage[0]
        );
        self.finish(id, JobState::Succeeded, &message, None);
    }

    /// A search; the best trial's model is registered under the job's name.
    fn run_tune(
        &self,
        id: JobId,
        job: JobRecord,
        data_path: &Path,
        dir: &Path,
        progress: Arc<watch::Sender<Progress>>,
        cancel: Arc<AtomicBool>,
    ) {
        let Some(mut request) = job.spec.tune_request(dir) else {
            self.finish(id, JobState::Failed, "the job has no tune settings", None);
            return;
        };
        request.search.data.path = data_path.to_path_buf();
        request.cancel = Some(cancel.clone());
        let limits = self.limits;
        request.admit = Some(crate::tune::TrialAdmission(Arc::new(
            move |config, train, variates| limits.check_size(config, train.batch_size, variates),
        )));
        let trials = request.trials;
        let mut current = Progress::initial(id, JobState::Running);
        current.epochs = trials;
        progress.send_replace(current.clone());
        let done = std::sync::atomic::AtomicUsize::new(0);
        let on_trial = |r: &crate::tune::TrialRecord| {
            let mut p = current.clone();
            p.epoch = done.fetch_add(1, Ordering::SeqCst) + 1;
            p.val_loss = r.val_loss;
            p.message = format!("trial {} {}", r.trial, r.status.as_str());
            progress.send_replace(p);
        };
        let Some(report) = self.guarded(id, "tune", &request.search.data, dir, &cancel, || {
            crate::tune::run(&request, &on_trial)
        }) else {
            return;
        };
        let best = report.best.map(|i| report.trials[i].clone());
        let result = serde_json::json!({"trials": report.trials, "best": best});
        let _ = store::set_result(&lock(&self.db), id, &result.to_string());
        let Some(best) = best else {
            self.finish(
                id,
                JobState::Failed,
                "no trial finished with a validation loss",
                None,
            );
            return;
        };
        let artifact = request.out_dir.join("best-model");
        attach_detector(
            &artifact,
            &request.search.data,
            &request.search.split,
            request.device,
        );
        match self
            .registry
            .register(&job.spec.model_name, &artifact, &job.spec.labels)
        {
            Ok(info) => {
                let message = format!(
                    "best of {} trials: trial {} (val {:.5}), registered {}@{}",
                    report.trials.len(),
                    best.trial,
                    best.val_loss.unwrap_or(f64::NAN),
                    info.name,
                    info.version
                );
                self.finish(id, JobState::Succeeded, &message, Some(info.version));
            }
            Err(e) => {
                let message = format!(
                    "registering the model: {}",
                    client_message(&e, &request.search.data)
                );
                self.finish(id, JobState::Failed, &message, None);
            }
        }
    }

    /// Delete finished jobs older than the retention age, or beyond the number kept, with
    /// their directories.
    fn prune(&self, now: DateTime<Utc>) -> Vec<JobId> {
        let age = chrono::Duration::from_std(self.retention.max_age).unwrap_or(chrono::Duration::MAX);
        let cutoff = now.checked_sub_signed(age).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let pruned = match store::prune_finished(&lock(&self.db), cutoff, self.retention.max_finished) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "could not prune finished jobs");
                return Vec::new();
            }
        };
        for &id in &pruned {
            remove(&self.job_dir(id));
        }
        if !pruned.is_empty() {
            tracing::info!(count = pruned.len(), "pruned finished training jobs");
        }
        pruned
    }

    /// Record the terminal `state`, publish it to watchers and close the live channel.
    /// Run a job's work. A panic becomes a failure with its message (settings are validated at
    /// submission, so a panic is a bug; the worker survives it rather than leaving the job
    /// RUNNING); a cancelled job ends CANCELLED with its directory removed; an error ends it
    /// FAILED with a message fit for clients (the full error stays in the server log). `None`
    /// once the job has ended.
    fn guarded<T>(
        &self,
        id: JobId,
        what: &str,
        data: &statecast_pipelines::source::DatasetSpec,
        dir: &Path,
        cancel: &AtomicBool,
        work: impl FnOnce() -> Result<T>,
    ) -> Option<T> {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
            Err(Error::Internal(format!(
                "{what} panicked: {}",
                panic_message(&*payload)
            )))
        });
        if cancel.load(Ordering::SeqCst) {
            self.finish(id, JobState::Cancelled, "cancelled", None);
            remove(dir);
            return None;
        }
        match ran {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(error = %e, "{what} job failed");
                self.finish(id, JobState::Failed, &client_message(&e, data), None);
                None
            }
        }
    }

    fn finish(&self, id: JobId, state: JobState, message: &str, version: Option<u32>) {
        let stored = {
            let db = lock(&self.db);
            store::finish(&db, id, state, message, version, Utc::now()).and_then(|_| store::get(&db, id))
        };
        let mut last = match stored {
            Ok(Some(job)) => job.progress,
            Ok(None) => Progress::initial(id, state),
            Err(e) => {
                tracing::error!(id, error = %e, "could not record the end of a job");
                Progress::initial(id, state)
            }
        };
        last.state = state;
        last.message = message.to_string();
        last.eta_s = 0.0;
        let _ = store::set_progress(&lock(&self.db), &last);
        if let Some(live) = lock(&self.live).remove(&id) {
            live.progress.send_replace(last);
        }
    }
}

/// Fit the job's anomaly detector and record it in `artifact`, so the registered model can be
/// monitored (MonitorService) right away. Failing to fit one (e.g. too little data) does not
/// fail the job: forecasts work without it.
fn attach_detector(
    artifact: &Path,
    data: &statecast_pipelines::source::DatasetSpec,
    split: &statecast_pipelines::split::SplitSpec,
    device: statecast_models::device::DeviceSpec,
) {
    match fit_for_artifact(artifact, data, split, device) {
        Ok(det) => {
            if let Err(e) = det.save(&artifact.join(DETECTOR_FILE)) {
                tracing::warn!(error = %e, "could not save the anomaly detector");
            } else if let Err(e) = Artifact::record_detector(artifact, DETECTOR_FILE) {
                tracing::warn!(error = %e, "could not record the anomaly detector in the artifact");
            }
        }
        Err(e) => tracing::warn!(error = %e, "no anomaly detector for this model"),
    }
}

/// Remove a job's directory (or part of it), logging failures.
fn remove(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a job directory");
    }
}

/// The text of a panic payload (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}
