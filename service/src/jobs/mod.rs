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
//! starts (the process died) are queued again and resume from their last checkpoint.
mod manager;
mod observer;
mod spec;
#[cfg(test)]
mod spec_props;
mod store;
#[cfg(test)]
mod tests;
mod types;

pub use manager::{JOBS_DIR, JobManager, JobWatch, JobsConfig};
pub use spec::{DEFAULT_LOOKBACK, DatasetSubmission, JobSpec, Submission, TrainingSubmission};
pub use types::{EpochRecord, JobId, JobPage, JobRecord, JobState, JobStateCounts, Progress};
