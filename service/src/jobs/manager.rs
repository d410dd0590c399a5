//! [`JobManager`]: the job queue (a table, see [`super::queue`]), the worker threads that
//! claim jobs from it, the lease heartbeat, and the progress channels of watchers.
//!
//! Watchers of a job this process trains get every training step through its channel; watchers
//! of a job queued or trained elsewhere (another server of a scale-out deployment) get the
//! snapshots the worker stores, read by one poller thread. Locks are never nested.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use statecast_models::artifact::Artifact;
use tokio::sync::watch;

use super::failure::client_message;
use super::limits::JobLimits;
use super::observer::{CheckpointSync, JobObserver};
use super::queue::{Finish, JobQueue, Reap, SqliteQueue};
use super::queue_pg::PgQueue;
use super::spec::{JobKind, JobSpec, Submission};
use super::types::{JobId, JobPage, JobRecord, JobState, JobStateCounts, Progress};
use crate::backend::{Objects, RegistryUrl, Storage};
use crate::registry::Registry;
use crate::roots::AllowedRoots;
use crate::training::train_to_artifact_checked;
use crate::{Error, Result};
use statecast_anomaly::fit::{DETECTOR_FILE, fit_for_artifact};

/// The directory of job state inside the data directory.
pub const JOBS_DIR: &str = "jobs";

/// Settings of the job manager.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// The server's data directory (`jobs/` scratch; the database in embedded mode).
    pub data_dir: PathBuf,
    /// Where the queue and checkpoints live (`None`: embedded in `data_dir`).
    pub storage: Option<Storage>,
    /// Worker threads, each training one job at a time (0: this server trains nothing, its
    /// submissions wait for the workers of other servers sharing the queue).
    pub workers: usize,
    /// This process's name in job leases (unique among the workers sharing a queue).
    pub worker_id: String,
    /// How long a claimed job stays leased without a renewal; the heartbeat renews it every
    /// third of that.
    pub lease: Duration,
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

/// A job this process is training.
#[derive(Debug, Clone)]
struct Running {
    /// Stop at the next training step (a cancel, or the lease was lost).
    cancel: Arc<AtomicBool>,
    /// The lease went to another worker: record nothing about this job.
    lost: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Inner {
    jobs_dir: PathBuf,
    registry: Arc<Registry>,
    queue: Arc<dyn JobQueue>,
    objects: Option<Arc<Objects>>,
    /// Bumped by a local submission; idle workers wait on it (and poll the shared queue).
    wake: (Mutex<u64>, Condvar),
    max_queued: usize,
    max_attempts: u32,
    worker_id: String,
    lease: Duration,
    /// Progress channels of watched jobs.
    watchers: Mutex<HashMap<JobId, Arc<watch::Sender<Progress>>>>,
    running: Mutex<HashMap<JobId, Running>>,
    data_roots: AllowedRoots,
    limits: JobLimits,
    retention: Retention,
}

/// How often idle workers look for queued jobs submitted to other servers, and how often
/// watchers of jobs running elsewhere are refreshed.
const POLL: Duration = Duration::from_millis(250);

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
        let storage = config
            .storage
            .clone()
            .unwrap_or_else(|| Storage::embedded(&config.data_dir));
        let queue: Arc<dyn JobQueue> = match &storage.registry {
            RegistryUrl::Sqlite(path) => Arc::new(SqliteQueue::open(path)?),
            RegistryUrl::Postgres(url) => Arc::new(PgQueue::connect(url)?),
        };
        let max_attempts = config.max_attempts.max(1);
        // Jobs left RUNNING by this worker's previous process: in embedded mode every RUNNING
        // job (there is no other worker), on a shared queue those leased under this worker id.
        let which = if storage.shared() {
            Reap::ExpiredOrOwnedBy(&config.worker_id)
        } else {
            Reap::AllRunning
        };
        if config.workers > 0 || !storage.shared() {
            let reaped = queue.reap(Utc::now(), max_attempts, which)?;
            if !reaped.failed.is_empty() {
                tracing::warn!(
                    exhausted = ?reaped.failed,
                    max_attempts,
                    "jobs the server died while training too often are failed, not resumed"
                );
            }
            if !reaped.requeued.is_empty() {
                tracing::info!(requeued = ?reaped.requeued, "resuming unfinished training jobs");
            }
        }
        let inner = Arc::new(Inner {
            jobs_dir,
            registry,
            queue,
            objects: storage.objects.clone(),
            wake: (Mutex::new(0), Condvar::new()),
            max_queued: config.max_queued,
            max_attempts,
            worker_id: config.worker_id.clone(),
            lease: config.lease.max(Duration::from_secs(1)),
            watchers: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            data_roots: config.data_roots.clone(),
            limits: config.limits,
            retention: config.retention,
        });
        inner.prune(Utc::now());
        let every = config.retention.every;
        spawn_loop("statecast-job-retention", &inner, every, |inner| {
            inner.prune(Utc::now());
        })?;
        spawn_loop("statecast-job-watchers", &inner, POLL, |inner| {
            inner.refresh_watchers()
        })?;
        if config.workers > 0 {
            let beat = inner.lease / 3;
            spawn_loop("statecast-job-lease", &inner, beat, |inner| inner.heartbeat())?;
        }
        for n in 0..config.workers {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("statecast-job-worker-{n}"))
                .spawn(move || inner.work(n))
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
        let waiting = inner.queue.counts()?.get(JobState::Queued);
        if waiting >= inner.max_queued as u64 {
            return Err(Error::ResourceExhausted {
                reason: format!("the training queue is full ({waiting} jobs waiting); retry later"),
            });
        }
        let id = inner.queue.insert(spec, Utc::now())?;
        {
            let (count, ready) = &inner.wake;
            *lock(count) += 1;
            ready.notify_one();
        }
        tracing::info!(id, model = %spec.model_name, "training job queued");
        self.get(id)
    }

    /// One job.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::Database`].
    pub fn get(&self, id: JobId) -> Result<JobRecord> {
        self.inner.queue.get(id)?.ok_or_else(|| not_found(id))
    }

    /// Up to `page_size` jobs older than `before` (all when `None`), newest first, in `states`
    /// (every state when empty).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn list(&self, states: &[JobState], page_size: usize, before: Option<JobId>) -> Result<JobPage> {
        let mut jobs = self.inner.queue.list(states, before, page_size + 1)?;
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
        let job = self.get(id)?;
        if job.state.is_terminal() {
            return Err(Error::FailedPrecondition {
                reason: format!("job {id} has already ended ({})", job.state),
            });
        }
        let message = "cancelled while queued";
        if inner.queue.finish(
            id,
            JobState::Cancelled,
            message,
            None,
            Utc::now(),
            &Finish::Queued,
        )? {
            inner.publish_end(id, JobState::Cancelled, message);
        } else {
            // Running here or on another worker: it stops at its next step or lease renewal.
            inner.queue.request_cancel(id)?;
            if let Some(run) = lock(&inner.running).get(&id) {
                run.cancel.store(true, Ordering::SeqCst);
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
        if let Some(sender) = lock(&self.inner.watchers).get(&id) {
            return Ok(JobWatch::Live(sender.subscribe()));
        }
        let job = self.get(id)?;
        let progress = stored_progress(&job);
        if job.state.is_terminal() {
            return Ok(JobWatch::Finished(progress));
        }
        let sender = lock(&self.inner.watchers)
            .entry(id)
            .or_insert_with(|| Arc::new(watch::channel(progress).0))
            .clone();
        Ok(JobWatch::Live(sender.subscribe()))
    }

    /// Stop every job this process trains and hand it back to the queue at once, so another
    /// worker resumes it from its last checkpoint without waiting for the lease to run out
    /// (called at shutdown). Returns the ids handed back.
    pub fn release(&self) -> Vec<JobId> {
        let inner = &self.inner;
        let running: Vec<(JobId, Running)> = lock(&inner.running)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut released = Vec::new();
        for (id, run) in running {
            run.lost.store(true, Ordering::SeqCst);
            run.cancel.store(true, Ordering::SeqCst);
            match inner.queue.release(id, &inner.worker_id) {
                Ok(true) => released.push(id),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(id, error = %e, "could not hand a job back; it is resumed when its lease runs out")
                }
            }
        }
        if !released.is_empty() {
            tracing::info!(?released, "running jobs handed back to the queue at shutdown");
        }
        released
    }

    /// Number of jobs in each state (for metrics).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn job_state_counts(&self) -> Result<JobStateCounts> {
        self.inner.queue.counts()
    }
}

impl Inner {
    /// A worker: claim the oldest queued job, train it, repeat; idle, wait for a local
    /// submission or the next poll. Worker 0 also reaps jobs whose lease ran out.
    fn work(self: Arc<Self>, n: usize) {
        let mut last_reap = std::time::Instant::now();
        loop {
            if n == 0 && last_reap.elapsed() >= self.lease / 2 {
                last_reap = std::time::Instant::now();
                match self.queue.reap(Utc::now(), self.max_attempts, Reap::Expired) {
                    Ok(r) if !r.requeued.is_empty() || !r.failed.is_empty() => tracing::warn!(
                        requeued = ?r.requeued,
                        failed = ?r.failed,
                        "jobs whose worker stopped renewing its lease were reaped"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reap abandoned jobs"),
                }
            }
            let seen = *lock(&self.wake.0);
            let now = Utc::now();
            let expires =
                now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(30));
            match self.queue.claim(&self.worker_id, now, expires) {
                Ok(Some(job)) => {
                    let span = tracing::info_span!("job", id = job.id);
                    let _entered = span.enter();
                    self.run(job);
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim a job"),
            }
            let (count, ready) = &self.wake;
            let guard = lock(count);
            if *guard == seen {
                let _ = ready.wait_timeout(guard, POLL);
            }
        }
    }

    fn job_dir(&self, id: JobId) -> PathBuf {
        self.jobs_dir.join(id.to_string())
    }

    /// The progress channel of job `id`, created when nobody watches it yet.
    fn sender(&self, id: JobId, initial: impl FnOnce() -> Progress) -> Arc<watch::Sender<Progress>> {
        lock(&self.watchers)
            .entry(id)
            .or_insert_with(|| Arc::new(watch::channel(initial()).0))
            .clone()
    }

    /// Train the claimed `job`, register the result and record how it ended.
    fn run(&self, job: JobRecord) {
        let id = job.id;
        let run = Running {
            cancel: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(AtomicBool::new(false)),
        };
        lock(&self.running).insert(id, run.clone());
        let progress = self.sender(id, || Progress::initial(id, JobState::Running));
        self.run_claimed(job, progress, &run);
        lock(&self.running).remove(&id);
    }

    fn run_claimed(&self, job: JobRecord, progress: Arc<watch::Sender<Progress>>, run: &Running) {
        let id = job.id;
        let cancel = run.cancel.clone();
        tracing::info!(model = %job.spec.model_name, attempt = job.attempts, "training job started");
        let mut running = Progress::initial(id, JobState::Running);
        running.epochs = job.spec.train.epochs;
        progress.send_replace(running);

        let dir = self.job_dir(id);
        let mut request = job.spec.train_request(&dir);
        // The roots may have changed since submission (a restart with other --data-root
        // flags, a symlink swapped): the path is resolved again and the canonical one is read.
        let stored = job.spec.data.path.to_str().unwrap_or_default();
        if crate::roots::is_object_url(stored) {
            let fetched = self
                .data_roots
                .resolve_url(stored)
                .map_err(|e| Error::InvalidArgument {
                    field: "dataset.path".into(),
                    reason: e.to_string(),
                })
                .and_then(|url| crate::backend::objects::fetch_url(&url, &dir.join("data")));
            match fetched {
                Ok(path) => request.data.path = path,
                Err(e) => {
                    tracing::warn!(error = %e, "dataset object not fetched");
                    let message = if let Error::FailedPrecondition { reason }
                    | Error::ResourceExhausted { reason } = &e
                    {
                        reason.clone()
                    } else {
                        "dataset: the object could not be read (details in the server log)".into()
                    };
                    self.finish(id, JobState::Failed, &message, None);
                    return;
                }
            }
        } else {
            match self.data_roots.resolve(stored) {
                Ok(path) => request.data.path = path,
                Err(e) => {
                    tracing::warn!(error = %e, path = %job.spec.data.path.display(), "dataset path refused at start");
                    let message = "dataset: the path is no longer an existing file under this server's --data-root directories";
                    self.finish(id, JobState::Failed, message, None);
                    return;
                }
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
        // A previous run registered its model, then stopped before recording the job's end.
        match self.registry.version_of_job(id) {
            Ok(Some(info)) => {
                let message = format!("registered {}@{}", info.name, info.version);
                self.finish(id, JobState::Succeeded, &message, Some(info.version));
                return;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look up the job's registered version"),
        }
        let ckpt_dir = request.checkpoint_dir.clone().unwrap_or_else(|| dir.join("ckpt"));
        let sync = self
            .objects
            .as_ref()
            .map(|objects| CheckpointSync::new(objects.clone(), id, job.attempts, ckpt_dir.clone()));
        if let Some(sync) = &sync
            && let Err(e) = sync.restore()
        {
            tracing::warn!(error = %e, "could not fetch the job's checkpoint; training from the start");
        }
        let limits = self.limits;
        let batch_size = request.train.batch_size;
        let admit = move |config: &statecast_models::zoo::ModelConfig, variates: usize| {
            limits.check_size(config, batch_size, variates)
        };
        let mut observer = JobObserver::new(id, cancel.clone(), progress, self.queue.clone(), job.history);
        if let Some(sync) = sync.clone() {
            observer = observer.with_checkpoint_sync(sync);
        }
        let Some(summary) = self.guarded(id, "training", &request.data, dir, &cancel, || {
            train_to_artifact_checked(&request, &mut observer, &admit)
        }) else {
            return;
        };
        attach_detector(&summary.artifact, &request.data, &request.split, request.device);
        if run_lost(&cancel, self, id) {
            return;
        }
        match self
            .registry
            .register_for_job(&job.spec.model_name, &summary.artifact, &job.spec.labels, id)
        {
            Ok(info) => {
                tracing::info!(version = info.version, "training job succeeded");
                let message = format!("registered {}@{}", info.name, info.version);
                self.finish(id, JobState::Succeeded, &message, Some(info.version));
                // Only the checkpoints go: the registry's model cache may still read the
                // weights of the artifact it registered from.
                remove(&ckpt_dir);
                if let Some(sync) = &sync {
                    sync.discard();
                }
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
        let mut observer = JobObserver::new(id, cancel.clone(), progress, self.queue.clone(), Vec::new());
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
        let _ = self.queue.set_result(id, &result.to_string());
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
        let _ = self.queue.set_result(id, &result.to_string());
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
            .register_for_job(&job.spec.model_name, &artifact, &job.spec.labels, id)
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
        let pruned = match self.queue.prune_finished(cutoff, self.retention.max_finished) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "could not prune finished jobs");
                return Vec::new();
            }
        };
        for &id in &pruned {
            remove(&self.job_dir(id));
            if let Some(objects) = &self.objects
                && let Err(e) = objects.delete_dir(&format!("jobs/{id}"))
            {
                tracing::warn!(id, error = %e, "could not delete a pruned job's checkpoints");
            }
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
        if run_lost(cancel, self, id) {
            return None;
        }
        if cancel.load(Ordering::SeqCst) {
            self.finish(id, JobState::Cancelled, "cancelled", None);
            remove(dir);
            if let Some(objects) = &self.objects {
                let _ = objects.delete_dir(&format!("jobs/{id}"));
            }
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

    /// Record the terminal `state` of a job this worker holds the lease on, then publish it.
    fn finish(&self, id: JobId, state: JobState, message: &str, version: Option<u32>) {
        let which = Finish::OwnedBy(&self.worker_id);
        match self.queue.finish(id, state, message, version, Utc::now(), &which) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(id, %state, "the job's lease had passed to another worker; its end is not recorded here");
                lock(&self.watchers).remove(&id);
                return;
            }
            Err(e) => tracing::error!(id, error = %e, "could not record the end of a job"),
        }
        self.publish_end(id, state, message);
    }

    /// Store and send the final progress of a job that just ended, and close its channel.
    fn publish_end(&self, id: JobId, state: JobState, message: &str) {
        let mut last = match self.queue.get(id) {
            Ok(Some(job)) => job.progress,
            Ok(None) => Progress::initial(id, state),
            Err(e) => {
                tracing::error!(id, error = %e, "could not read the end of a job");
                Progress::initial(id, state)
            }
        };
        last.state = state;
        last.message = message.to_string();
        last.eta_s = 0.0;
        let _ = self.queue.set_progress(&last);
        if let Some(sender) = lock(&self.watchers).remove(&id) {
            sender.send_replace(last);
        }
    }

    /// Renew the lease of every job this process trains; a cancel requested through another
    /// server, or a lease lost to another worker, stops the run.
    fn heartbeat(&self) {
        let running: Vec<(JobId, Running)> =
            lock(&self.running).iter().map(|(k, v)| (*k, v.clone())).collect();
        let expires =
            Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(30));
        for (id, run) in running {
            match self.queue.renew(id, &self.worker_id, expires) {
                Ok(Some(false)) => {}
                Ok(Some(true)) => run.cancel.store(true, Ordering::SeqCst),
                Ok(None) => {
                    tracing::warn!(id, "lost the lease on a running job; stopping it");
                    run.lost.store(true, Ordering::SeqCst);
                    run.cancel.store(true, Ordering::SeqCst);
                }
                Err(e) => tracing::warn!(id, error = %e, "could not renew a job lease"),
            }
        }
    }

    /// Send watchers of jobs not trained here the snapshots stored in the queue; drop
    /// channels nobody listens to and those of ended jobs.
    fn refresh_watchers(&self) {
        let watched: Vec<(JobId, Arc<watch::Sender<Progress>>)> = lock(&self.watchers)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (id, sender) in watched {
            if sender.receiver_count() == 0 {
                if !lock(&self.running).contains_key(&id) {
                    lock(&self.watchers).remove(&id);
                }
                continue;
            }
            if lock(&self.running).contains_key(&id) {
                continue;
            }
            let job = match self.queue.get(id) {
                Ok(Some(job)) => job,
                Ok(None) => {
                    lock(&self.watchers).remove(&id);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(id, error = %e, "could not refresh a watched job");
                    continue;
                }
            };
            let progress = stored_progress(&job);
            sender.send_if_modified(|p| {
                let changed = *p != progress;
                if changed {
                    *p = progress.clone();
                }
                changed
            });
            if job.state.is_terminal() {
                lock(&self.watchers).remove(&id);
            }
        }
    }
}

/// Whether this process lost the lease of job `id` (then it records nothing about it).
fn run_lost(cancel: &AtomicBool, inner: &Inner, id: JobId) -> bool {
    cancel.load(Ordering::SeqCst)
        && lock(&inner.running)
            .get(&id)
            .is_some_and(|r| r.lost.load(Ordering::SeqCst))
}

/// The progress a stored job shows watchers (its state and message are the row's).
fn stored_progress(job: &JobRecord) -> Progress {
    let mut p = job.progress.clone();
    p.state = job.state;
    p.message.clone_from(&job.message);
    if p.message.is_empty() {
        p.message.clone_from(&job.progress.message);
    }
    p
}

/// Run `tick` on a weak handle of `inner` every `every` until the manager is dropped.
fn spawn_loop(
    name: &str,
    inner: &Arc<Inner>,
    every: Duration,
    tick: impl Fn(&Inner) + Send + 'static,
) -> Result<()> {
    let weak = Arc::downgrade(inner);
    let every = every.max(Duration::from_millis(50));
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(inner) = weak.upgrade() else { return };
                tick(&inner);
            }
        })
        .map(|_| ())
        .map_err(|source| Error::Io {
            context: format!("starting {name}"),
            source,
        })
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
