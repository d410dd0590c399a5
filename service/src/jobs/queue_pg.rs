//! [`PgQueue`]: the job table on PostgreSQL, shared by every server and worker of a scale-out
//! deployment. Claims use `FOR UPDATE SKIP LOCKED`, so concurrent workers take different jobs
//! without waiting on each other; the rest mirrors the SQLite queue (`store.rs`).
use chrono::{DateTime, Utc};
use postgres::Row;

use super::queue::{Finish, JobQueue, Reap, Reaped, exhausted_message, millis};
use super::spec::JobSpec;
use super::types::{EpochRecord, JobId, JobRecord, JobState, JobStateCounts, Progress};
use crate::backend::pg::{Pg, pg};
use crate::{Error, Result};

/// Migrations of the `jobs` component (index + 1 is the version).
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS jobs (
    id                 BIGSERIAL PRIMARY KEY,
    state              TEXT NOT NULL,
    message            TEXT NOT NULL DEFAULT '',
    spec               TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    model_version      INTEGER,
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    resumed_from_epoch BIGINT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    progress           TEXT NOT NULL,
    history            TEXT NOT NULL DEFAULT '[]',
    result             TEXT NOT NULL DEFAULT '',
    lease_owner        TEXT,
    lease_expires_ms   BIGINT,
    cancel_requested   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
"];

const COLUMNS: &str = "id, state, message, spec, model_version, created_at, started_at, finished_at, \
                       resumed_from_epoch, attempts, progress, history, result, lease_owner";

/// The job queue on PostgreSQL.
#[derive(Debug)]
pub struct PgQueue {
    pg: Pg,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn record(r: &Row) -> Result<JobRecord> {
    let id: JobId = r.get(0);
    let state = JobState::parse(r.get(1)).unwrap_or(JobState::Failed);
    let spec: JobSpec = serde_json::from_str(r.get(3))
        .map_err(|e| Error::Internal(format!("job {id}: stored specification unreadable: {e}")))?;
    Ok(JobRecord {
        id,
        state,
        message: r.get(2),
        spec,
        model_version: r.get::<_, Option<i32>>(4).and_then(|v| u32::try_from(v).ok()),
        created_at: time(Some(r.get(5))).unwrap_or_default(),
        started_at: time(r.get(6)),
        finished_at: time(r.get(7)),
        resumed_from_epoch: r.get::<_, Option<i64>>(8).and_then(|e| usize::try_from(e).ok()),
        attempts: u32::try_from(r.get::<_, i32>(9)).unwrap_or_default(),
        progress: serde_json::from_str(r.get(10)).unwrap_or_else(|_| Progress::initial(id, state)),
        history: serde_json::from_str(r.get(11)).unwrap_or_default(),
        result: r.get(12),
        worker: r.get(13),
    })
}

impl PgQueue {
    /// Connect to `url` and migrate the job table.
    ///
    /// # Errors
    /// As [`Pg::connect`] and [`Pg::migrate`].
    pub fn connect(url: &str) -> Result<Self> {
        let pg = Pg::connect(url)?;
        pg.migrate("jobs", MIGRATIONS)?;
        Ok(Self { pg })
    }
}

impl JobQueue for PgQueue {
    fn insert(&self, spec: &JobSpec, now: DateTime<Utc>) -> Result<JobId> {
        self.pg.with("inserting a job", |c| {
            let id: JobId = c
                .query_one(
                    "INSERT INTO jobs (state, spec, model_name, created_at, progress) VALUES ($1, $2, $3, $4, '{}') RETURNING id",
                    &[&JobState::Queued.as_str(), &json(spec), &spec.model_name, &now.to_rfc3339()],
                )
                .map_err(pg("inserting a job"))?
                .get(0);
            c.execute(
                "UPDATE jobs SET progress = $2 WHERE id = $1",
                &[&id, &json(&Progress::initial(id, JobState::Queued))],
            )
            .map_err(pg("storing job progress"))?;
            Ok(id)
        })
    }

    fn get(&self, id: JobId) -> Result<Option<JobRecord>> {
        self.pg.with("reading a job", |c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])
                .map_err(pg("reading a job"))?
                .as_ref()
                .map(record)
                .transpose()
        })
    }

    fn list(&self, states: &[JobState], before: Option<JobId>, limit: usize) -> Result<Vec<JobRecord>> {
        let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pg.with("listing jobs", |c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM jobs WHERE ($1::BIGINT IS NULL OR id < $1) \
                     AND (cardinality($2::TEXT[]) = 0 OR state = ANY($2)) ORDER BY id DESC LIMIT $3"
                ),
                &[&before, &states, &limit],
            )
            .map_err(pg("listing jobs"))?
            .iter()
            .map(record)
            .collect()
        })
    }

    fn counts(&self) -> Result<JobStateCounts> {
        self.pg.with("counting jobs", |c| {
            let mut out = JobStateCounts::default();
            for r in c
                .query("SELECT state, COUNT(*) FROM jobs GROUP BY state", &[])
                .map_err(pg("counting jobs"))?
            {
                if let Some(s) = JobState::parse(r.get(0)) {
                    *out.slot(s) = u64::try_from(r.get::<_, i64>(1)).unwrap_or(0);
                }
            }
            Ok(out)
        })
    }

    fn claim(&self, worker: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<Option<JobRecord>> {
        self.pg.with("claiming a job", |c| {
            c.query_opt(
                &format!(
                    "UPDATE jobs SET state = 'RUNNING', started_at = $2, attempts = attempts + 1, \
                     lease_owner = $1, lease_expires_ms = $3 \
                     WHERE id = (SELECT id FROM jobs WHERE state = 'QUEUED' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING {COLUMNS}"
                ),
                &[&worker, &now.to_rfc3339(), &millis(expires)],
            )
            .map_err(pg("claiming a job"))?
            .as_ref()
            .map(record)
            .transpose()
        })
    }

    fn renew(&self, id: JobId, worker: &str, expires: DateTime<Utc>) -> Result<Option<bool>> {
        self.pg.with("renewing a job lease", |c| {
            Ok(c.query_opt(
                "UPDATE jobs SET lease_expires_ms = $3 WHERE id = $1 AND state = 'RUNNING' AND lease_owner = $2 \
                 RETURNING cancel_requested",
                &[&id, &worker, &millis(expires)],
            )
            .map_err(pg("renewing a job lease"))?
            .map(|r| r.get(0)))
        })
    }

    fn request_cancel(&self, id: JobId) -> Result<()> {
        self.pg.with("requesting a cancel", |c| {
            c.execute("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1", &[&id])
                .map_err(pg("requesting a cancel"))?;
            Ok(())
        })
    }

    fn release(&self, id: JobId, worker: &str) -> Result<bool> {
        self.pg.with("releasing a job", |c| {
            let n = c
                .execute(
                    "UPDATE jobs SET state = 'QUEUED', lease_owner = NULL, lease_expires_ms = NULL, \
                     attempts = GREATEST(attempts - 1, 0) WHERE id = $1 AND state = 'RUNNING' AND lease_owner = $2",
                    &[&id, &worker],
                )
                .map_err(pg("releasing a job"))?;
            Ok(n == 1)
        })
    }

    fn reap(&self, now: DateTime<Utc>, max_attempts: u32, which: Reap<'_>) -> Result<Reaped> {
        let (now_ms, owner) = match which {
            Reap::Expired => (millis(now), None),
            Reap::AllRunning => (i64::MAX, None),
            Reap::ExpiredOrOwnedBy(w) => (millis(now), Some(w)),
        };
        self.pg.with("reaping abandoned jobs", |c| {
            let mut tx = c.transaction().map_err(pg("reaping abandoned jobs"))?;
            let stale = tx
                .query(
                    "SELECT id, attempts FROM jobs WHERE state = 'RUNNING' AND \
                     (lease_expires_ms IS NULL OR lease_expires_ms < $1 OR lease_owner = $2) \
                     ORDER BY id FOR UPDATE SKIP LOCKED",
                    &[&now_ms, &owner],
                )
                .map_err(pg("finding abandoned jobs"))?;
            let mut out = Reaped::default();
            for r in stale {
                let id: JobId = r.get(0);
                let attempts = u32::try_from(r.get::<_, i32>(1)).unwrap_or_default();
                if attempts >= max_attempts {
                    tx.execute(
                        "UPDATE jobs SET state = 'FAILED', message = $2, finished_at = $3, \
                         lease_owner = NULL, lease_expires_ms = NULL WHERE id = $1",
                        &[&id, &exhausted_message(attempts, max_attempts), &now.to_rfc3339()],
                    )
                    .map_err(pg("failing an abandoned job"))?;
                    out.failed.push(id);
                } else {
                    tx.execute(
                        "UPDATE jobs SET state = 'QUEUED', lease_owner = NULL, lease_expires_ms = NULL WHERE id = $1",
                        &[&id],
                    )
                    .map_err(pg("requeueing an abandoned job"))?;
                    out.requeued.push(id);
                }
            }
            tx.commit().map_err(pg("reaping abandoned jobs"))?;
            Ok(out)
        })
    }

    fn set_progress(&self, p: &Progress) -> Result<()> {
        self.pg.with("storing job progress", |c| {
            c.execute(
                "UPDATE jobs SET progress = $2 WHERE id = $1",
                &[&p.job_id, &json(p)],
            )
            .map_err(pg("storing job progress"))?;
            Ok(())
        })
    }

    fn set_history(&self, id: JobId, history: &[EpochRecord], resumed_from: Option<usize>) -> Result<()> {
        let resumed = resumed_from.and_then(|e| i64::try_from(e).ok());
        self.pg.with("storing job history", |c| {
            c.execute(
                "UPDATE jobs SET history = $2, resumed_from_epoch = COALESCE($3, resumed_from_epoch) WHERE id = $1",
                &[&id, &json(&history), &resumed],
            )
            .map_err(pg("storing job history"))?;
            Ok(())
        })
    }

    fn set_result(&self, id: JobId, result: &str) -> Result<()> {
        self.pg.with("storing a job's result", |c| {
            c.execute("UPDATE jobs SET result = $2 WHERE id = $1", &[&id, &result])
                .map_err(pg("storing a job's result"))?;
            Ok(())
        })
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
        let (states, owner): (Vec<&str>, Option<&str>) = match which {
            Finish::Any => (vec!["QUEUED", "RUNNING"], None),
            Finish::Queued => (vec!["QUEUED"], None),
            Finish::OwnedBy(w) => (vec!["RUNNING"], Some(*w)),
        };
        let version = model_version.and_then(|v| i32::try_from(v).ok());
        self.pg.with("finishing a job", |c| {
            let n = c
                .execute(
                    "UPDATE jobs SET state = $2, message = $3, model_version = $4, finished_at = $5, \
                     lease_owner = NULL, lease_expires_ms = NULL \
                     WHERE id = $1 AND state = ANY($6) AND ($7::TEXT IS NULL OR lease_owner = $7)",
                    &[
                        &id,
                        &state.as_str(),
                        &message,
                        &version,
                        &now.to_rfc3339(),
                        &states,
                        &owner,
                    ],
                )
                .map_err(pg("finishing a job"))?;
            Ok(n == 1)
        })
    }

    fn prune_finished(&self, cutoff: DateTime<Utc>, keep: usize) -> Result<Vec<JobId>> {
        self.pg.with("pruning finished jobs", |c| {
            let mut tx = c.transaction().map_err(pg("pruning finished jobs"))?;
            let finished = tx
                .query(
                    "SELECT id, finished_at FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') ORDER BY id DESC",
                    &[],
                )
                .map_err(pg("listing finished jobs"))?;
            let doomed: Vec<JobId> = finished
                .iter()
                .enumerate()
                .filter(|(rank, r)| *rank >= keep || time(r.get(1)).is_none_or(|t| t < cutoff))
                .map(|(_, r)| r.get(0))
                .collect();
            tx.execute("DELETE FROM jobs WHERE id = ANY($1)", &[&doomed])
                .map_err(pg("pruning finished jobs"))?;
            tx.commit().map_err(pg("pruning finished jobs"))?;
            Ok(doomed)
        })
    }
}
