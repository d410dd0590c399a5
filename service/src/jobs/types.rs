//! Plain data types of jobs: ids, states, progress snapshots and stored records.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spec::JobSpec;

/// A job id: the row id in the `jobs` table (1, 2, …), shown as a decimal string.
pub type JobId = i64;

/// Lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is training it.
    Running,
    /// Trained and registered.
    Succeeded,
    /// Training or registration failed (see the job's message).
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// Name stored in the database and printed by the CLI (`QUEUED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Running => "RUNNING",
            JobState::Succeeded => "SUCCEEDED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
        }
    }

    /// Parse [`as_str`](Self::as_str) (case-insensitive).
    pub fn parse(s: &str) -> Option<JobState> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the job has ended (its state never changes again).
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a job's progress (what `WatchJob` streams).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The job.
    pub job_id: JobId,
    /// Its state.
    pub state: JobState,
    /// Current epoch (1-based; 0 before the first).
    pub epoch: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Batch within the epoch.
    pub step: usize,
    /// Batches per epoch.
    pub steps_per_epoch: usize,
    /// Loss of the last batch.
    pub train_loss: f64,
    /// Validation loss of the last completed epoch.
    pub val_loss: Option<f64>,
    /// Estimated seconds to the end of training (0 when unknown).
    pub eta_s: f64,
    /// Failure message or status text.
    pub message: String,
}

impl Progress {
    /// The progress of a job nothing has happened to yet.
    pub fn initial(job_id: JobId, state: JobState) -> Self {
        Self {
            job_id,
            state,
            epoch: 0,
            epochs: 0,
            step: 0,
            steps_per_epoch: 0,
            train_loss: 0.0,
            val_loss: None,
            eta_s: 0.0,
            message: String::new(),
        }
    }
}

/// Metrics of one completed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss.
    pub val_loss: Option<f64>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// State.
    pub state: JobState,
    /// Failure or status message.
    pub message: String,
    /// The validated specification.
    pub spec: JobSpec,
    /// Registered model version once SUCCEEDED.
    pub model_version: Option<u32>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// When a worker last started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Epoch the last run resumed from (`None`: it started fresh).
    pub resumed_from_epoch: Option<usize>,
    /// Times a worker started it.
    pub attempts: u32,
    /// Last progress snapshot stored (epoch granularity).
    pub progress: Progress,
    /// Completed epochs (including those before a resume).
    pub history: Vec<EpochRecord>,
    /// The result of a finished backtest or tune job, JSON (empty otherwise).
    pub result: String,
    /// The worker holding the job's lease while it runs.
    #[serde(default)]
    pub worker: Option<String>,
}

/// One page of [`super::JobManager::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// Jobs, newest first.
    pub jobs: Vec<JobRecord>,
    /// Id to continue after (exclusive), when there are more.
    pub next: Option<JobId>,
}

/// Number of jobs in each state (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStateCounts {
    /// QUEUED jobs.
    pub queued: u64,
    /// RUNNING jobs.
    pub running: u64,
    /// SUCCEEDED jobs.
    pub succeeded: u64,
    /// FAILED jobs.
    pub failed: u64,
    /// CANCELLED jobs.
    pub cancelled: u64,
}

impl JobStateCounts {
    /// The counter of `state`.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Queued => self.queued,
            JobState::Running => self.running,
            JobState::Succeeded => self.succeeded,
            JobState::Failed => self.failed,
            JobState::Cancelled => self.cancelled,
        }
    }

    pub(super) fn slot(&mut self, state: JobState) -> &mut u64 {
        match state {
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Succeeded => &mut self.succeeded,
            JobState::Failed => &mut self.failed,
            JobState::Cancelled => &mut self.cancelled,
        }
    }
}
