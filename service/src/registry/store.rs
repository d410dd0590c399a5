//! The registry's SQLite schema and queries. Every function takes a connection (or a
//! transaction, which derefs to one) so the caller decides the transaction boundaries.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{ModelRef, ModelSummary, Selector, VersionInfo};
use crate::{Error, Result};

/// Schema version stored in `PRAGMA user_version`. 2 added `version_counters`, 3 the
/// artifact's content hash and the job that registered a version (`versions.job_id`, unique:
/// a job registers at most one version).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS models (
    name         TEXT PRIMARY KEY NOT NULL,
    created_at   TEXT NOT NULL,
    next_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    name          TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    columns       TEXT NOT NULL,
    frequency     TEXT,
    lookback      INTEGER NOT NULL,
    horizon       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    source        TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    intervals     TEXT,
    content_hash  TEXT,
    job_id        INTEGER,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS labels (
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES versions(name, version) ON DELETE CASCADE
);
-- The next version number of every name ever registered. Not tied to `models`, so it survives
-- deleting every version: a number once given is never given again.
CREATE TABLE IF NOT EXISTS version_counters (
    name         TEXT PRIMARY KEY NOT NULL,
    next_version INTEGER NOT NULL
);
";

/// Schema 1 → 2: seed the counters from the models that still exist.
const MIGRATE_TO_2: &str = "
INSERT INTO version_counters (name, next_version)
    SELECT m.name, MAX(m.next_version, COALESCE((SELECT MAX(version) + 1 FROM versions v WHERE v.name = m.name), 1))
    FROM models m WHERE true
    ON CONFLICT (name) DO UPDATE SET next_version = MAX(next_version, excluded.next_version);
";

/// Schema 2 → 3: columns added to `versions` (each only when missing).
const ADDED_IN_3: &[(&str, &str)] = &[("content_hash", "TEXT"), ("job_id", "INTEGER")];

/// Created after the migrations (the column may have just been added).
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS versions_job ON versions(job_id) WHERE job_id IS NOT NULL;
";

pub(super) fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let context = context.into();
    move |source| Error::Database { context, source }
}

/// Open (creating if needed) the database at `path`: WAL journal, foreign keys on.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let what = format!("opening {}", path.display());
    let conn = Connection::open(path).map_err(db(what.clone()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db(what.clone()))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db(what.clone()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db(what.clone()))?;
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db(what.clone()))?;
    if found > SCHEMA_VERSION {
        return Err(Error::FailedPrecondition {
            reason: format!(
                "{}: registry schema version {found} is newer than this build's {SCHEMA_VERSION}; upgrade statecast",
                path.display()
            ),
        });
    }
    conn.execute_batch(SCHEMA).map_err(db(what.clone()))?;
    if (1..2).contains(&found) {
        conn.execute_batch(MIGRATE_TO_2)
            .map_err(db(format!("{what}: migrating to schema 2")))?;
    }
    if (1..3).contains(&found) {
        let have: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('versions')")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(db(format!("{what}: migrating to schema 3")))?;
        for (column, kind) in ADDED_IN_3 {
            if !have.iter().any(|h| h == column) {
                conn.execute_batch(&format!("ALTER TABLE versions ADD COLUMN {column} {kind}"))
                    .map_err(db(format!("{what}: migrating to schema 3")))?;
            }
        }
    }
    conn.execute_batch(INDEXES).map_err(db(what.clone()))?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db(what))?;
    Ok(conn)
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Every version of `name` (or only `version`), ascending, with their labels.
pub(super) fn versions(conn: &Connection, name: &str, version: Option<u32>) -> Result<Vec<VersionInfo>> {
    let mut labels: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (label, v) in self::labels(conn, name)? {
        labels.entry(v).or_default().push(label);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, kind, columns, frequency, lookback, horizon, created_at, registered_at, \
             metrics, intervals, content_hash FROM versions WHERE name = ?1 AND (?2 IS NULL OR version = ?2) \
             ORDER BY version",
        )
        .map_err(db("reading versions"))?;
    let rows = stmt
        .query_map(params![name, version], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })
        .map_err(db("reading versions"))?;
    let mut out = Vec::new();
    for row in rows {
        let (v, kind, columns, frequency, lookback, horizon, created, registered, metrics, intervals, hash) =
            row.map_err(db("reading versions"))?;
        out.push(VersionInfo {
            name: name.to_string(),
            version: v,
            kind,
            columns: serde_json::from_str(&columns).unwrap_or_default(),
            frequency,
            lookback: usize::try_from(lookback).unwrap_or_default(),
            horizon: usize::try_from(horizon).unwrap_or_default(),
            created_at: time(&created),
            registered_at: time(&registered),
            labels: labels.remove(&v).unwrap_or_default(),
            metrics: serde_json::from_str(&metrics).unwrap_or_default(),
            intervals: intervals.and_then(|s| serde_json::from_str(&s).ok()),
            content_hash: hash,
        });
    }
    Ok(out)
}

/// Label → version of `name`.
pub(super) fn labels(conn: &Connection, name: &str) -> Result<BTreeMap<String, u32>> {
    let mut stmt = conn
        .prepare_cached("SELECT label, version FROM labels WHERE name = ?1 ORDER BY label")
        .map_err(db("reading labels"))?;
    let rows = stmt
        .query_map(params![name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })
        .map_err(db("reading labels"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(db("reading labels"))
}

/// Whether a model row exists.
pub(super) fn model_exists(conn: &Connection, name: &str) -> Result<bool> {
    conn.query_row("SELECT 1 FROM models WHERE name = ?1", params![name], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(db("reading models"))
}

/// Every model, by name.
pub(super) fn summaries(conn: &Connection) -> Result<Vec<ModelSummary>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.name, MAX(v.version), COUNT(v.version), \
             (SELECT kind FROM versions WHERE name = m.name ORDER BY version DESC LIMIT 1) \
             FROM models m JOIN versions v ON v.name = m.name GROUP BY m.name ORDER BY m.name",
        )
        .map_err(db("listing models"))?;
    let rows: Vec<(String, u32, u32, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(db("listing models"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(db("listing models"))?;
    rows.into_iter()
        .map(|(name, latest_version, version_count, kind)| {
            Ok(ModelSummary {
                labels: labels(conn, &name)?,
                name,
                latest_version,
                version_count,
                kind,
            })
        })
        .collect()
}

/// The version `r` selects.
///
/// # Errors
/// [`Error::ModelNotFound`] / [`Error::LabelNotFound`].
pub(super) fn resolve(conn: &Connection, r: &ModelRef) -> Result<u32> {
    let not_found = |version| Error::ModelNotFound {
        name: r.name.clone(),
        version,
    };
    let found: Option<u32> = match &r.selector {
        Selector::Latest => conn
            .query_row(
                "SELECT MAX(version) FROM versions WHERE name = ?1",
                params![r.name],
                |row| row.get(0),
            )
            .map_err(db("resolving a model"))?,
        Selector::Version(v) => conn
            .query_row(
                "SELECT version FROM versions WHERE name = ?1 AND version = ?2",
                params![r.name, v],
                |row| row.get(0),
            )
            .optional()
            .map_err(db("resolving a model"))?,
        Selector::Label(l) => conn
            .query_row(
                "SELECT version FROM labels WHERE name = ?1 AND label = ?2",
                params![r.name, l],
                |row| row.get(0),
            )
            .optional()
            .map_err(db("resolving a model"))?,
    };
    match (found, &r.selector) {
        (Some(v), _) => Ok(v),
        (None, _) if !model_exists(conn, &r.name)? => Err(not_found(None)),
        (None, Selector::Version(v)) => Err(not_found(Some(*v))),
        (None, Selector::Label(l)) => Err(Error::LabelNotFound {
            name: r.name.clone(),
            label: l.clone(),
        }),
        (None, Selector::Latest) => Err(not_found(None)),
    }
}

/// Create the model row if needed and return the version the next registration gets: above
/// every number `name` was ever given (the counter outlives deleted versions and models).
pub(super) fn next_version(conn: &Connection, name: &str, now: &str) -> Result<u32> {
    conn.execute(
        "INSERT OR IGNORE INTO models (name, created_at, next_version) VALUES (?1, ?2, 1)",
        params![name, now],
    )
    .map_err(db("creating a model"))?;
    conn.query_row(
        "SELECT MAX( \
             COALESCE((SELECT next_version FROM version_counters WHERE name = ?1), 1), \
             (SELECT next_version FROM models WHERE name = ?1), \
             COALESCE((SELECT MAX(version) + 1 FROM versions WHERE name = ?1), 1))",
        params![name],
        |r| r.get(0),
    )
    .map_err(db("reading the next version"))
}

/// Make sure `name`'s next version is at least `next` (numbers found on disk stay taken).
pub(super) fn raise_counter(conn: &Connection, name: &str, next: u32) -> Result<()> {
    conn.execute(
        "INSERT INTO version_counters (name, next_version) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET next_version = MAX(next_version, excluded.next_version)",
        params![name, next],
    )
    .map_err(db("advancing the version counter"))?;
    Ok(())
}

/// The version job `job` registered, if any.
pub(super) fn version_of_job(conn: &Connection, job: i64) -> Result<Option<(String, u32)>> {
    conn.query_row(
        "SELECT name, version FROM versions WHERE job_id = ?1",
        params![job],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(db("finding a job's version"))
}

/// Insert `info` (its labels are not written), registered by `job` if any, and advance the
/// model's next version.
pub(super) fn insert_version(
    conn: &Connection,
    info: &VersionInfo,
    source: &str,
    job: Option<i64>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO versions (name, version, kind, columns, frequency, lookback, horizon, \
         created_at, registered_at, source, metrics, intervals, content_hash, job_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            info.name,
            info.version,
            info.kind,
            json(&info.columns),
            info.frequency,
            info.lookback as i64,
            info.horizon as i64,
            info.created_at.to_rfc3339(),
            info.registered_at.to_rfc3339(),
            source,
            json(&info.metrics),
            info.intervals.as_ref().map(json),
            info.content_hash,
            job,
        ],
    )
    .map_err(db("inserting a version"))?;
    conn.execute(
        "UPDATE models SET next_version = ?2 WHERE name = ?1",
        params![info.name, info.version + 1],
    )
    .map_err(db("advancing the version counter"))?;
    raise_counter(conn, &info.name, info.version + 1)
}

/// Point `label` of `name` at `version` (which must exist).
pub(super) fn set_label(conn: &Connection, name: &str, label: &str, version: u32) -> Result<()> {
    conn.execute(
        "INSERT INTO labels (name, label, version) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
        params![name, label, version],
    )
    .map_err(db("setting a label"))?;
    Ok(())
}

/// Delete `version` of `name` (the model too when it was the last one), or the whole model;
/// returns the versions removed.
///
/// # Errors
/// [`Error::ModelNotFound`] when the model or version does not exist.
pub(super) fn delete(conn: &Connection, name: &str, version: Option<u32>) -> Result<Vec<u32>> {
    let existing: Vec<u32> = versions(conn, name, version)?.iter().map(|v| v.version).collect();
    if existing.is_empty() {
        let model = model_exists(conn, name)?;
        return Err(Error::ModelNotFound {
            name: name.into(),
            version: version.filter(|_| model),
        });
    }
    match version {
        Some(v) => {
            conn.execute(
                "DELETE FROM versions WHERE name = ?1 AND version = ?2",
                params![name, v],
            )
            .map_err(db("deleting a version"))?;
            conn.execute(
                "DELETE FROM models WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM versions WHERE name = ?1)",
                params![name],
            )
            .map_err(db("deleting an empty model"))?;
        }
        None => {
            conn.execute("DELETE FROM models WHERE name = ?1", params![name])
                .map_err(db("deleting a model"))?;
        }
    }
    Ok(existing)
}

/// Version numbers with a row, by model (for sweeping orphaned directories).
pub(super) fn all_versions(conn: &Connection) -> Result<BTreeMap<String, Vec<u32>>> {
    let mut stmt = conn
        .prepare("SELECT name, version FROM versions")
        .map_err(db("listing versions"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))
        .map_err(db("listing versions"))?;
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for row in rows {
        let (name, v) = row.map_err(db("listing versions"))?;
        out.entry(name).or_default().push(v);
    }
    Ok(out)
}

/// JSON text of a value (serialising these plain types cannot fail).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
