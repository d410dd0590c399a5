//! The `jobs` table in the registry's SQLite database (`<data-dir>/registry.sqlite`), on its
//! own connection. The schema is versioned in the table `schema_versions` under the component
//! `jobs` (the registry owns `PRAGMA user_version`); migrations only ever add.
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::queue::Finish;
use super::spec::JobSpec;
use super::types::{EpochRecord, JobId, JobRecord, JobState, JobStateCounts, Progress};
use crate::{Error, Result};

/// Migrations of the `jobs` component, applied in order; index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    state              TEXT NOT NULL,
    message            TEXT NOT NULL DEFAULT '',
    spec               TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    model_version      INTEGER,
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    resumed_from_epoch INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0,
    progress           TEXT NOT NULL,
    history            TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
",
    "
ALTER TABLE jobs ADD COLUMN result TEXT NOT NULL DEFAULT '';
",
    // Leases: the worker running a job (`lease_owner`) renews `lease_expires_ms` (Unix ms);
    // a cancel of a job running elsewhere is a flag its worker reads when it renews.
    "
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
",
];

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Database {
        context: context.into(),
        source,
    }
}

/// Open the database at `path` (WAL, busy timeout) and apply the jobs migrations.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db("opening the jobs database"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db("opening the jobs database"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db("opening the jobs database"))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL)",
    )
    .map_err(db("creating schema_versions"))?;
    let found: i64 = conn
        .query_row(
            "SELECT version FROM schema_versions WHERE component = 'jobs'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("reading the jobs schema version"))?
        .unwrap_or(0);
    let latest = MIGRATIONS.len() as i64;
    if found > latest {
        return Err(Error::FailedPrecondition {
            reason: format!(
                "jobs schema version {found} is newer than this build's {latest}; upgrade statecast"
            ),
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        conn.execute_batch(sql).map_err(db("migrating the jobs table"))?;
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES ('jobs', ?1) \
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            params![i as i64 + 1],
        )
        .map_err(db("recording the jobs schema version"))?;
    }
    Ok(conn)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

const COLUMNS: &str = "id, state, message, spec, model_version, created_at, started_at, finished_at, \
                       resumed_from_epoch, attempts, progress, history, result, lease_owner";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let id: JobId = r.get(0)?;
    let state = JobState::parse(&r.get::<_, String>(1)?).unwrap_or(JobState::Failed);
    let spec: String = r.get(3)?;
    let spec: JobSpec = serde_json::from_str(&spec).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let progress: String = r.get(10)?;
    let history: String = r.get(11)?;
    Ok(JobRecord {
        id,
        state,
        message: r.get(2)?,
        spec,
        model_version: r.get(4)?,
        created_at: time(Some(r.get(5)?)).unwrap_or_default(),
        started_at: time(r.get(6)?),
        finished_at: time(r.get(7)?),
        resumed_from_epoch: r.get::<_, Option<i64>>(8)?.and_then(|e| usize::try_from(e).ok()),
        attempts: r.get(9)?,
        progress: serde_json::from_str(&progress).unwrap_or_else(|_| Progress::initial(id, state)),
        history: serde_json::from_str(&history).unwrap_or_default(),
        result: r.get(12)?,
        worker: r.get(13)?,
    })
}

/// Insert a QUEUED job and return its id.
pub(super) fn insert(conn: &Connection, spec: &JobSpec, now: DateTime<Utc>) -> Result<JobId> {
    conn.execute(
        "INSERT INTO jobs (state, spec, model_name, created_at, progress) VALUES (?1, ?2, ?3, ?4, '{}')",
        params![
            JobState::Queued.as_str(),
            json(spec),
            spec.model_name,
            now.to_rfc3339()
        ],
    )
    .map_err(db("inserting a job"))?;
    let id = conn.last_insert_rowid();
    set_progress(conn, &Progress::initial(id, JobState::Queued))?;
    Ok(id)
}

/// One job.
pub(super) fn get(conn: &Connection, id: JobId) -> Result<Option<JobRecord>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        params![id],
        row,
    )
    .optional()
    .map_err(db("reading a job"))
}

/// Up to `limit` jobs with id below `before`, newest first, in `states` (all when empty).
pub(super) fn list(
    conn: &Connection,
    states: &[JobState],
    before: Option<JobId>,
    limit: usize,
) -> Result<Vec<JobRecord>> {
    let filter: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR id < ?1) \
             AND (?2 = '' OR instr(?2, ',' || state || ',') > 0) ORDER BY id DESC LIMIT ?3"
        ))
        .map_err(db("listing jobs"))?;
    let states = if filter.is_empty() {
        String::new()
    } else {
        format!(",{},", filter.join(","))
    };
    stmt.query_map(params![before, states, limit as i64], row)
        .map_err(db("listing jobs"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(db("listing jobs"))
}

/// Count jobs per state.
pub(super) fn counts(conn: &Connection) -> Result<JobStateCounts> {
    let mut stmt = conn
        .prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        .map_err(db("counting jobs"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db("counting jobs"))?;
    let mut out = JobStateCounts::default();
    for r in rows {
        let (state, n) = r.map_err(db("counting jobs"))?;
        if let Some(s) = JobState::parse(&state) {
            *out.slot(s) = u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}

/// Take the oldest QUEUED job for `worker` until `expires_ms`: RUNNING, one more attempt.
pub(super) fn claim(
    conn: &Connection,
    worker: &str,
    now: DateTime<Utc>,
    expires_ms: i64,
) -> Result<Option<JobRecord>> {
    let id: Option<JobId> = conn
        .query_row(
            "UPDATE jobs SET state = 'RUNNING', started_at = ?2, attempts = attempts + 1, \
             lease_owner = ?1, lease_expires_ms = ?3 \
             WHERE id = (SELECT id FROM jobs WHERE state = 'QUEUED' ORDER BY id LIMIT 1) RETURNING id",
            params![worker, now.to_rfc3339(), expires_ms],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("claiming a job"))?;
    match id {
        Some(id) => get(conn, id),
        None => Ok(None),
    }
}

/// Extend `worker`'s lease on `id`; `None` when it no longer holds it, else whether a cancel
/// was requested.
pub(super) fn renew(conn: &Connection, id: JobId, worker: &str, expires_ms: i64) -> Result<Option<bool>> {
    conn.query_row(
        "UPDATE jobs SET lease_expires_ms = ?3 WHERE id = ?1 AND state = 'RUNNING' AND lease_owner = ?2 \
         RETURNING cancel_requested",
        params![id, worker, expires_ms],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|o| o.map(|c| c != 0))
    .map_err(db("renewing a job lease"))
}

/// Hand a job `worker` holds back to the queue, its interrupted start not counted.
pub(super) fn release(conn: &Connection, id: JobId, worker: &str) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE jobs SET state = 'QUEUED', lease_owner = NULL, lease_expires_ms = NULL, \
             attempts = MAX(attempts - 1, 0) WHERE id = ?1 AND state = 'RUNNING' AND lease_owner = ?2",
            params![id, worker],
        )
        .map_err(db("releasing a job"))?;
    Ok(n == 1)
}

/// Ask the worker running `id` to stop.
pub(super) fn request_cancel(conn: &Connection, id: JobId) -> Result<()> {
    conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1", params![id])
        .map_err(db("requesting a cancel"))?;
    Ok(())
}

/// RUNNING jobs whose lease ended before `now_ms` (or that have none), or that `owner` held:
/// as (id, attempts).
pub(super) fn stale_running(
    conn: &Connection,
    now_ms: i64,
    owner: Option<&str>,
) -> Result<Vec<(JobId, u32)>> {
    let mut stmt = conn
        .prepare(
            "SELECT id, attempts FROM jobs WHERE state = 'RUNNING' AND \
             (lease_expires_ms IS NULL OR lease_expires_ms < ?1 OR lease_owner = ?2) ORDER BY id",
        )
        .map_err(db("finding stale jobs"))?;
    stmt.query_map(params![now_ms, owner], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db("finding stale jobs"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(db("finding stale jobs"))
}

/// Put one RUNNING job back to QUEUED (its worker is gone); false when it was not RUNNING.
pub(super) fn requeue(conn: &Connection, id: JobId) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE jobs SET state = 'QUEUED', lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = ?1 AND state = 'RUNNING'",
            params![id],
        )
        .map_err(db("requeueing a job"))?;
    Ok(n == 1)
}

/// Store the latest progress snapshot.
pub(super) fn set_progress(conn: &Connection, p: &Progress) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET progress = ?2 WHERE id = ?1",
        params![p.job_id, json(p)],
    )
    .map_err(db("storing job progress"))?;
    Ok(())
}

/// Store the epoch history and the epoch the run resumed from.
pub(super) fn set_history(
    conn: &Connection,
    id: JobId,
    history: &[EpochRecord],
    resumed_from: Option<usize>,
) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET history = ?2, resumed_from_epoch = COALESCE(?3, resumed_from_epoch) WHERE id = ?1",
        params![id, json(&history), resumed_from.map(|e| e as i64)],
    )
    .map_err(db("storing job history"))?;
    Ok(())
}

/// Store the result of a backtest or tune job (JSON).
pub(super) fn set_result(conn: &Connection, id: JobId, result: &str) -> Result<()> {
    conn.execute("UPDATE jobs SET result = ?2 WHERE id = ?1", params![id, result])
        .map_err(db("storing a job's result"))?;
    Ok(())
}

/// Move a non-terminal job to the terminal `state`; returns false when it had already ended.
pub(super) fn finish(
    conn: &Connection,
    id: JobId,
    state: JobState,
    message: &str,
    model_version: Option<u32>,
    now: DateTime<Utc>,
) -> Result<bool> {
    finish_if(conn, id, state, message, model_version, now, &Finish::Any)
}

/// [`finish`] restricted by `which`.
pub(super) fn finish_if(
    conn: &Connection,
    id: JobId,
    state: JobState,
    message: &str,
    model_version: Option<u32>,
    now: DateTime<Utc>,
    which: &Finish<'_>,
) -> Result<bool> {
    let (states, owner) = match which {
        Finish::Any => ("QUEUED,RUNNING", None),
        Finish::Queued => ("QUEUED", None),
        Finish::OwnedBy(w) => ("RUNNING", Some(*w)),
    };
    let n = conn
        .execute(
            "UPDATE jobs SET state = ?2, message = ?3, model_version = ?4, finished_at = ?5, \
             lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = ?1 AND instr(',' || ?6 || ',', ',' || state || ',') > 0 \
             AND (?7 IS NULL OR lease_owner = ?7)",
            params![
                id,
                state.as_str(),
                message,
                model_version,
                now.to_rfc3339(),
                states,
                owner
            ],
        )
        .map_err(db("finishing a job"))?;
    Ok(n == 1)
}

/// Delete finished jobs (SUCCEEDED, FAILED, CANCELLED) that ended before `cutoff`, and all but
/// the newest `keep` finished jobs. Returns the ids deleted.
pub(super) fn prune_finished(conn: &Connection, cutoff: DateTime<Utc>, keep: usize) -> Result<Vec<JobId>> {
    let mut stmt = conn
        .prepare(
            "SELECT id, finished_at FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') \
             ORDER BY id DESC",
        )
        .map_err(db("listing finished jobs"))?;
    let finished: Vec<(JobId, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db("listing finished jobs"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(db("listing finished jobs"))?;
    let doomed: Vec<JobId> = finished
        .into_iter()
        .enumerate()
        .filter(|(rank, (_, at))| *rank >= keep || time(at.clone()).is_none_or(|t| t < cutoff))
        .map(|(_, (id, _))| id)
        .collect();
    let tx = conn
        .unchecked_transaction()
        .map_err(db("pruning finished jobs"))?;
    for id in &doomed {
        tx.execute("DELETE FROM jobs WHERE id = ?1", params![id])
            .map_err(db("pruning finished jobs"))?;
    }
    tx.commit().map_err(db("pruning finished jobs"))?;
    Ok(doomed)
}
