//! [`JobQueue`]: the job table behind one trait — the embedded SQLite queue ([`SqliteQueue`])
//! and the PostgreSQL one shared by several servers ([`super::queue_pg::PgQueue`]).
//!
//! A worker **claims** the oldest QUEUED job (atomically: two workers never get the same job)
//! and holds a **lease** on it that it renews while it trains. A job whose lease ran out (its
//! worker died or lost the database) is **reaped**: queued again, to resume from its last
//! checkpoint, or FAILED once it has been started `max_attempts` times. A cancel of a job
//! running elsewhere is a flag the running worker reads when it renews its lease. Only the
//! lease holder may record a running job's end.
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::spec::JobSpec;
use super::store;
use super::types::{EpochRecord, JobId, JobRecord, JobState, JobStateCounts, Progress};
use crate::Result;

/// Which jobs a [`JobQueue::finish`] may end.
#[derive(Debug, Clone, Copy)]
pub enum Finish<'a> {
    /// Any QUEUED or RUNNING job.
    Any,
    /// Only a QUEUED one (a cancel racing a claim).
    Queued,
    /// Only a job RUNNING under this worker's lease.
    OwnedBy(&'a str),
}

/// Which RUNNING jobs a reap considers abandoned.
#[derive(Debug, Clone, Copy)]
pub enum Reap<'a> {
    /// Those whose lease ran out.
    Expired,
    /// Every RUNNING job (the embedded server at start-up: it is the only worker there is).
    AllRunning,
    /// Those whose lease ran out, and those `worker` held (a worker restarting under the same id).
    ExpiredOrOwnedBy(&'a str),
}

/// What a reap did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Queued again (they resume from their checkpoint).
    pub requeued: Vec<JobId>,
    /// Failed: started `max_attempts` times already.
    pub failed: Vec<JobId>,
}

/// The message of a job failed by a reap.
pub(super) fn exhausted_message(attempts: u32, max_attempts: u32) -> String {
    format!(
        "the server stopped {attempts} times while training this job; it is not retried again (--max-job-attempts {max_attempts})"
    )
}

/// Milliseconds since the Unix epoch.
pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The job table.
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Insert a QUEUED job and return its id.
    fn insert(&self, spec: &JobSpec, now: DateTime<Utc>) -> Result<JobId>;
    /// One job.
    fn get(&self, id: JobId) -> Result<Option<JobRecord>>;
    /// Up to `limit` jobs with id below `before`, newest first, in `states` (all when empty).
    fn list(&self, states: &[JobState], before: Option<JobId>, limit: usize) -> Result<Vec<JobRecord>>;
    /// Jobs per state.
    fn counts(&self) -> Result<JobStateCounts>;
    /// Claim the oldest QUEUED job for `worker`, leased until `expires`.
    fn claim(&self, worker: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<Option<JobRecord>>;
    /// Renew `worker`'s lease on `id`: `None` when it lost the lease, else whether a cancel
    /// was requested.
    fn renew(&self, id: JobId, worker: &str, expires: DateTime<Utc>) -> Result<Option<bool>>;
    /// Flag a running job for cancelling (its worker stops at its next renewal).
    fn request_cancel(&self, id: JobId) -> Result<()>;
    /// Hand job `id`, RUNNING under `worker`'s lease, back to the queue at once (the worker is
    /// shutting down): QUEUED, its interrupted start not counted. False when `worker` did not
    /// hold it.
    fn release(&self, id: JobId, worker: &str) -> Result<bool>;
    /// Queue again or fail the RUNNING jobs `which` selects.
    fn reap(&self, now: DateTime<Utc>, max_attempts: u32, which: Reap<'_>) -> Result<Reaped>;
    /// Store the latest progress snapshot.
    fn set_progress(&self, p: &Progress) -> Result<()>;
    /// Store the epoch history and the epoch the run resumed from.
    fn set_history(&self, id: JobId, history: &[EpochRecord], resumed_from: Option<usize>) -> Result<()>;
    /// Store a backtest's or search's result (JSON).
    fn set_result(&self, id: JobId, result: &str) -> Result<()>;
    /// Move job `id` to the terminal `state` if `which` allows; false when it did not.
    fn finish(
        &self,
        id: JobId,
        state: JobState,
        message: &str,
        model_version: Option<u32>,
        now: DateTime<Utc>,
        which: &Finish<'_>,
    ) -> Result<bool>;
    /// Delete finished jobs that ended before `cutoff`, and all but the newest `keep`.
    fn prune_finished(&self, cutoff: DateTime<Utc>, keep: usize) -> Result<Vec<JobId>>;
}

/// The embedded queue: the `jobs` table of the registry's SQLite file, on its own connection.
#[derive(Debug)]
pub struct SqliteQueue {
    conn: Mutex<Connection>,
}

impl SqliteQueue {
    /// Open (creating and migrating) the table in the database at `path`.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::FailedPrecondition`] for a newer schema.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            conn: Mutex::new(store::open(path)?),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl JobQueue for SqliteQueue {
    fn insert(&self, spec: &JobSpec, now: DateTime<Utc>) -> Result<JobId> {
        store::insert(&self.lock(), spec, now)
    }

    fn get(&self, id: JobId) -> Result<Option<JobRecord>> {
        store::get(&self.lock(), id)
    }

    fn list(&self, states: &[JobState], before: Option<JobId>, limit: usize) -> Result<Vec<JobRecord>> {
        store::list(&self.lock(), states, before, limit)
    }

    fn counts(&self) -> Result<JobStateCounts> {
        store::counts(&self.lock())
    }

    fn claim(&self, worker: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<Option<JobRecord>> {
        store::claim(&self.lock(), worker, now, millis(expires))
    }

    fn renew(&self, id: JobId, worker: &str, expires: DateTime<Utc>) -> Result<Option<bool>> {
        store::renew(&self.lock(), id, worker, millis(expires))
    }

    fn request_cancel(&self, id: JobId) -> Result<()> {
        store::request_cancel(&self.lock(), id)
    }

    fn release(&self, id: JobId, worker: &str) -> Result<bool> {
        store::release(&self.lock(), id, worker)
    }

    fn reap(&self, now: DateTime<Utc>, max_attempts: u32, which: Reap<'_>) -> Result<Reaped> {
        let conn = self.lock();
        let (now_ms, owner) = match which {
            Reap::Expired => (millis(now), None),
            Reap::AllRunning => (i64::MAX, None),
            Reap::ExpiredOrOwnedBy(w) => (millis(now), Some(w)),
        };
        let mut out = Reaped::default();
        for (id, attempts) in store::stale_running(&conn, now_ms, owner)? {
            if attempts >= max_attempts {
                let message = exhausted_message(attempts, max_attempts);
                if store::finish(&conn, id, JobState::Failed, &message, None, now)? {
                    out.failed.push(id);
                }
            } else if store::requeue(&conn, id)? {
                out.requeued.push(id);
            }
        }
        Ok(out)
    }

    fn set_progress(&self, p: &Progress) -> Result<()> {
        store::set_progress(&self.lock(), p)
    }

    fn set_history(&self, id: JobId, history: &[EpochRecord], resumed_from: Option<usize>) -> Result<()> {
        store::set_history(&self.lock(), id, history, resumed_from)
    }

    fn set_result(&self, id: JobId, result: &str) -> Result<()> {
        store::set_result(&self.lock(), id, result)
    }

    fn finish(
        &self,
        id: JobId,
        state: JobState,
        message: &str,
        model_version: Option<u32>,
        now: DateTime<Utc>,
        which: &Finish<'_>,
    ) -> Result<bool> {
        store::finish_if(&self.lock(), id, state, message, model_version, now, which)
    }

    fn prune_finished(&self, cutoff: DateTime<Utc>, keep: usize) -> Result<Vec<JobId>> {
        store::prune_finished(&self.lock(), cutoff, keep)
    }
}
