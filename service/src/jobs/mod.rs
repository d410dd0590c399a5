//! Training jobs: a persistent queue of training runs, executed by a pool of worker threads and
//! registered in the model registry when they succeed. Transport-agnostic (no gRPC types);
//! `TrainingService` calls it.
//!
//! ```text
//! <data-dir>/registry.sqlite     table `jobs` (specification, state, progress, history)
//! <data-dir>/jobs/<id>/ckpt/     training checkpoints (`last/`, `best/`)
//! <data-dir>/jobs/<id>/artifact/ the trained artifact (kept: the registry copies it)
//! ```
//!
//! Invariants: a job is QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED (or QUEUED →
//! CANCELLED); terminal states never change. Jobs found QUEUED or RUNNING when the manager
//! starts (the process died) are queued again and resume from their last checkpoint, unless
//! they have been started `max_attempts` times already: then they are FAILED (a job that kills
//! the server must not do so at every restart).
//!
//! Dataset paths must lie under the `--data-root` directories (checked at submission and again
//! when a worker opens the file); failure messages, which `GetJob`/`ListJobs` show without a
//! token, never carry file content ([`client_message`]). Model size and training memory are
//! bounded ([`JobLimits`]). Finished jobs are deleted after the [`Retention`] period, rows and
//! directories; registered models stay in the registry.
mod failure;
mod limits;
mod manager;
mod observer;
mod queue;
mod queue_pg;
mod spec;
#[cfg(test)]
mod spec_props;
mod store;
#[cfg(test)]
mod tests;
mod types;

pub use failure::client_message;
pub use limits::{JobLimits, MAX_LR};
pub use manager::{JOBS_DIR, JobManager, JobWatch, JobsConfig, Retention};
pub use queue::{Finish, JobQueue, Reap, Reaped, SqliteQueue};
pub use queue_pg::PgQueue;
pub use spec::{
    BacktestSubmission, DEFAULT_LOOKBACK, DatasetSubmission, JobKind, JobSpec, MAX_JOB_CONCURRENCY,
    MAX_JOB_TRIALS, Submission, TrainingSubmission, TuneJob, TuneSubmission,
};
pub use types::{EpochRecord, JobId, JobPage, JobRecord, JobState, JobStateCounts, Progress};
