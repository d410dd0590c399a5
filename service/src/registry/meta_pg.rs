//! [`PgCatalog`]: the registry's metadata on PostgreSQL, shared by every server of a scale-out
//! deployment. Same tables and meaning as the SQLite catalog (`store.rs`); registrations of one
//! name are serialised by a transaction-scoped advisory lock on the name, so two servers never
//! take the same version number, and reads that combine tables run in one snapshot.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use postgres::GenericClient;
use postgres::IsolationLevel;

use super::meta::{Catalog, PlaceVersion};
use super::{ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
use crate::backend::pg::{Pg, pg};
use crate::{Error, Result};

/// Migrations of the `registry` component (index + 1 is the version).
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS models (
    name         TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    next_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    name          TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    columns       TEXT NOT NULL,
    frequency     TEXT,
    lookback      BIGINT NOT NULL,
    horizon       BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    source        TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    intervals     TEXT,
    content_hash  TEXT,
    job_id        BIGINT,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_job ON versions(job_id) WHERE job_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS labels (
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES versions(name, version) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS version_counters (
    name         TEXT PRIMARY KEY,
    next_version INTEGER NOT NULL
);
"];

const VERSION_COLUMNS: &str = "version, kind, columns, frequency, lookback, horizon, created_at, \
                               registered_at, metrics, intervals, content_hash";

/// The version a reference selects, with its labels, in one statement: `$2` a version number,
/// `$3` a label, neither: the latest.
const RESOLVE: &str = "SELECT v.version, v.kind, v.columns, v.frequency, v.lookback, v.horizon, v.created_at, \
     v.registered_at, v.metrics, v.intervals, v.content_hash, \
     ARRAY(SELECT l.label FROM labels l WHERE l.name = v.name AND l.version = v.version ORDER BY l.label) \
     FROM versions v WHERE v.name = $1 AND v.version = CASE \
       WHEN $2::INTEGER IS NOT NULL THEN $2::INTEGER \
       WHEN $3::TEXT IS NOT NULL THEN (SELECT version FROM labels WHERE name = $1 AND label = $3::TEXT) \
       ELSE (SELECT MAX(version) FROM versions WHERE name = $1) END";

/// A version row of [`VERSION_COLUMNS`] (then anything) with its `labels`.
fn version_row(name: &str, r: &postgres::Row, labels: Vec<String>) -> VersionInfo {
    VersionInfo {
        name: name.to_string(),
        version: u32_of(r.get(0)),
        kind: r.get(1),
        columns: serde_json::from_str(r.get(2)).unwrap_or_default(),
        frequency: r.get(3),
        lookback: usize::try_from(r.get::<_, i64>(4)).unwrap_or_default(),
        horizon: usize::try_from(r.get::<_, i64>(5)).unwrap_or_default(),
        created_at: time(r.get(6)),
        registered_at: time(r.get(7)),
        labels,
        metrics: serde_json::from_str(r.get(8)).unwrap_or_default(),
        intervals: r
            .get::<_, Option<String>>(9)
            .and_then(|s| serde_json::from_str(&s).ok()),
        content_hash: r.get(10),
    }
}

/// The registry catalog on PostgreSQL.
#[derive(Debug)]
pub struct PgCatalog {
    pg: Pg,
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn u32_of(v: i32) -> u32 {
    u32::try_from(v).unwrap_or_default()
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn labels(c: &mut impl GenericClient, name: &str) -> Result<BTreeMap<String, u32>> {
    let rows = c
        .query(
            "SELECT label, version FROM labels WHERE name = $1 ORDER BY label",
            &[&name],
        )
        .map_err(pg("reading labels"))?;
    Ok(rows.iter().map(|r| (r.get(0), u32_of(r.get(1)))).collect())
}

fn versions(c: &mut impl GenericClient, name: &str, version: Option<u32>) -> Result<Vec<VersionInfo>> {
    let mut by_version: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (label, v) in labels(c, name)? {
        by_version.entry(v).or_default().push(label);
    }
    let version = version.map(i32_of);
    let rows = c
        .query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE name = $1 AND ($2::INTEGER IS NULL OR version = $2) ORDER BY version"
            ),
            &[&name, &version],
        )
        .map_err(pg("reading versions"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let v = u32_of(r.get(0));
            VersionInfo {
                name: name.to_string(),
                version: v,
                kind: r.get(1),
                columns: serde_json::from_str(r.get(2)).unwrap_or_default(),
                frequency: r.get(3),
                lookback: usize::try_from(r.get::<_, i64>(4)).unwrap_or_default(),
                horizon: usize::try_from(r.get::<_, i64>(5)).unwrap_or_default(),
                created_at: time(r.get(6)),
                registered_at: time(r.get(7)),
                labels: by_version.remove(&v).unwrap_or_default(),
                metrics: serde_json::from_str(r.get(8)).unwrap_or_default(),
                intervals: r
                    .get::<_, Option<String>>(9)
                    .and_then(|s| serde_json::from_str(&s).ok()),
                content_hash: r.get(10),
            }
        })
        .collect())
}

/// A read-only transaction that sees one snapshot (reads combining tables agree).
fn snapshot<'a>(c: &'a mut postgres::Client, context: &str) -> Result<postgres::Transaction<'a>> {
    c.build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(pg(context))
}

fn model_exists(c: &mut impl GenericClient, name: &str) -> Result<bool> {
    Ok(c.query_opt("SELECT 1 FROM models WHERE name = $1", &[&name])
        .map_err(pg("reading models"))?
        .is_some())
}

/// The version `r` selects (as the SQLite catalog's `store::resolve`).
fn resolve_number(c: &mut impl GenericClient, r: &ModelRef) -> Result<u32> {
    let found: Option<i32> = match &r.selector {
        Selector::Latest => c
            .query_one("SELECT MAX(version) FROM versions WHERE name = $1", &[&r.name])
            .map_err(pg("resolving a model"))?
            .get(0),
        Selector::Version(v) => c
            .query_opt(
                "SELECT version FROM versions WHERE name = $1 AND version = $2",
                &[&r.name, &i32_of(*v)],
            )
            .map_err(pg("resolving a model"))?
            .map(|row| row.get(0)),
        Selector::Label(l) => c
            .query_opt(
                "SELECT version FROM labels WHERE name = $1 AND label = $2",
                &[&r.name, l],
            )
            .map_err(pg("resolving a model"))?
            .map(|row| row.get(0)),
    };
    let not_found = |version| Error::ModelNotFound {
        name: r.name.clone(),
        version,
    };
    match (found, &r.selector) {
        (Some(v), _) => Ok(u32_of(v)),
        (None, _) if !model_exists(c, &r.name)? => Err(not_found(None)),
        (None, Selector::Version(v)) => Err(not_found(Some(*v))),
        (None, Selector::Label(l)) => Err(Error::LabelNotFound {
            name: r.name.clone(),
            label: l.clone(),
        }),
        (None, Selector::Latest) => Err(not_found(None)),
    }
}

fn raise_counter(c: &mut impl GenericClient, name: &str, next: u32) -> Result<()> {
    c.execute(
        "INSERT INTO version_counters (name, next_version) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET next_version = GREATEST(version_counters.next_version, excluded.next_version)",
        &[&name, &i32_of(next)],
    )
    .map_err(pg("advancing the version counter"))?;
    Ok(())
}

fn set_label_row(c: &mut impl GenericClient, name: &str, label: &str, version: u32) -> Result<()> {
    c.execute(
        "INSERT INTO labels (name, label, version) VALUES ($1, $2, $3) \
         ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
        &[&name, &label, &i32_of(version)],
    )
    .map_err(pg("setting a label"))?;
    Ok(())
}

impl PgCatalog {
    /// Connect to `url` and migrate the registry tables.
    ///
    /// # Errors
    /// As [`Pg::connect`] and [`Pg::migrate`].
    pub fn connect(url: &str) -> Result<Self> {
        let pg = Pg::connect(url)?;
        pg.migrate("registry", MIGRATIONS)?;
        Ok(Self { pg })
    }
}

impl Catalog for PgCatalog {
    fn summaries(&self) -> Result<Vec<ModelSummary>> {
        self.pg.with("listing models", |c| {
            let mut tx = snapshot(c, "listing models")?;
            let rows = tx
                .query(
                    "SELECT m.name, MAX(v.version), COUNT(v.version), \
                     (SELECT kind FROM versions WHERE name = m.name ORDER BY version DESC LIMIT 1) \
                     FROM models m JOIN versions v ON v.name = m.name GROUP BY m.name ORDER BY m.name",
                    &[],
                )
                .map_err(pg("listing models"))?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let name: String = r.get(0);
                out.push(ModelSummary {
                    labels: labels(&mut tx, &name)?,
                    latest_version: u32_of(r.get(1)),
                    version_count: u32::try_from(r.get::<_, i64>(2)).unwrap_or_default(),
                    kind: r.get(3),
                    name,
                });
            }
            tx.commit().map_err(pg("listing models"))?;
            Ok(out)
        })
    }

    fn detail(&self, name: &str) -> Result<Option<ModelDetail>> {
        self.pg.with("reading a model", |c| {
            let mut tx = snapshot(c, "reading a model")?;
            let versions = versions(&mut tx, name, None)?;
            let labels = labels(&mut tx, name)?;
            tx.commit().map_err(pg("reading a model"))?;
            Ok((!versions.is_empty()).then(|| ModelDetail {
                name: name.into(),
                labels,
                versions,
            }))
        })
    }

    fn resolve(&self, r: &ModelRef) -> Result<VersionInfo> {
        // The hot path (every forecast): one prepared statement, one round trip.
        let (version, label) = match &r.selector {
            Selector::Latest => (None, None),
            Selector::Version(v) => (Some(i32_of(*v)), None),
            Selector::Label(l) => (None, Some(l.as_str())),
        };
        let found = self.pg.with_conn("resolving a model", |conn| {
            let statement = conn.prepared(RESOLVE)?;
            let row = conn
                .client()
                .query_opt(&statement, &[&r.name, &version, &label])
                .map_err(pg("resolving a model"))?;
            Ok(row.map(|row| version_row(&r.name, &row, row.get::<_, Vec<String>>(11))))
        })?;
        if let Some(info) = found {
            return Ok(info);
        }
        // Not found: the slow path tells which error it is.
        self.pg.with("resolving a model", |c| {
            let mut tx = snapshot(c, "resolving a model")?;
            let version = resolve_number(&mut tx, r)?;
            let info = versions(&mut tx, &r.name, Some(version))?.pop();
            tx.commit().map_err(pg("resolving a model"))?;
            info.ok_or_else(|| Error::ModelNotFound {
                name: r.name.clone(),
                version: Some(version),
            })
        })
    }

    fn version_of_job(&self, job: i64) -> Result<Option<VersionInfo>> {
        self.pg.with("finding a job's version", |c| {
            let Some(row) = c
                .query_opt("SELECT name, version FROM versions WHERE job_id = $1", &[&job])
                .map_err(pg("finding a job's version"))?
            else {
                return Ok(None);
            };
            let name: String = row.get(0);
            Ok(versions(c, &name, Some(u32_of(row.get(1))))?.pop())
        })
    }

    fn publish(
        &self,
        name: &str,
        labels: &[String],
        source: &str,
        job: Option<i64>,
        now: DateTime<Utc>,
        place: PlaceVersion<'_>,
    ) -> Result<VersionInfo> {
        self.pg.with("registering a version", |c| {
            let mut tx = c.transaction().map_err(pg("starting a registration"))?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&name])
                .map_err(pg("locking the model name"))?;
            tx.execute(
                "INSERT INTO models (name, created_at, next_version) VALUES ($1, $2, 1) ON CONFLICT (name) DO NOTHING",
                &[&name, &now.to_rfc3339()],
            )
            .map_err(pg("creating a model"))?;
            let next: i32 = tx
                .query_one(
                    "SELECT GREATEST( \
                         COALESCE((SELECT next_version FROM version_counters WHERE name = $1), 1), \
                         (SELECT next_version FROM models WHERE name = $1), \
                         COALESCE((SELECT MAX(version) + 1 FROM versions WHERE name = $1), 1))",
                    &[&name],
                )
                .map_err(pg("reading the next version"))?
                .get(0);
            let version = u32_of(next);
            let mut info = place(version)?;
            info.labels = labels.to_vec();
            tx.execute(
                "INSERT INTO versions (name, version, kind, columns, frequency, lookback, horizon, \
                 created_at, registered_at, source, metrics, intervals, content_hash, job_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &info.name,
                    &next,
                    &info.kind,
                    &json(&info.columns),
                    &info.frequency,
                    &(info.lookback as i64),
                    &(info.horizon as i64),
                    &info.created_at.to_rfc3339(),
                    &info.registered_at.to_rfc3339(),
                    &source,
                    &json(&info.metrics),
                    &info.intervals.as_ref().map(json),
                    &info.content_hash,
                    &job,
                ],
            )
            .map_err(pg("inserting a version"))?;
            tx.execute(
                "UPDATE models SET next_version = $2 WHERE name = $1",
                &[&name, &(next + 1)],
            )
            .map_err(pg("advancing the version counter"))?;
            raise_counter(&mut tx, name, version + 1)?;
            for l in labels {
                set_label_row(&mut tx, name, l, version)?;
            }
            tx.commit().map_err(pg("committing a registration"))?;
            Ok(info)
        })
    }

    fn set_label(&self, name: &str, label: &str, version: Option<u32>) -> Result<()> {
        self.pg.with("setting a label", |c| {
            let mut tx = c.transaction().map_err(pg("setting a label"))?;
            let r = ModelRef {
                name: name.into(),
                selector: version.map_or(Selector::Latest, Selector::Version),
            };
            let v = resolve_number(&mut tx, &r)?;
            set_label_row(&mut tx, name, label, v)?;
            tx.commit().map_err(pg("setting a label"))
        })
    }

    fn delete(&self, name: &str, version: Option<u32>) -> Result<Vec<u32>> {
        self.pg.with("deleting versions", |c| {
            let mut tx = c.transaction().map_err(pg("deleting versions"))?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&name])
                .map_err(pg("locking the model name"))?;
            let existing: Vec<u32> = versions(&mut tx, name, version)?.iter().map(|v| v.version).collect();
            if existing.is_empty() {
                let model = model_exists(&mut tx, name)?;
                return Err(Error::ModelNotFound {
                    name: name.into(),
                    version: version.filter(|_| model),
                });
            }
            match version {
                Some(v) => {
                    tx.execute(
                        "DELETE FROM versions WHERE name = $1 AND version = $2",
                        &[&name, &i32_of(v)],
                    )
                    .map_err(pg("deleting a version"))?;
                    tx.execute(
                        "DELETE FROM models WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM versions WHERE name = $1)",
                        &[&name],
                    )
                    .map_err(pg("deleting an empty model"))?;
                }
                None => {
                    tx.execute("DELETE FROM models WHERE name = $1", &[&name])
                        .map_err(pg("deleting a model"))?;
                }
            }
            tx.commit().map_err(pg("committing a deletion"))?;
            Ok(existing)
        })
    }

    fn all_versions(&self) -> Result<BTreeMap<String, Vec<u32>>> {
        self.pg.with("listing versions", |c| {
            let rows = c
                .query("SELECT name, version FROM versions", &[])
                .map_err(pg("listing versions"))?;
            let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            for r in rows {
                out.entry(r.get(0)).or_default().push(u32_of(r.get(1)));
            }
            Ok(out)
        })
    }

    fn raise_counter(&self, name: &str, next: u32) -> Result<()> {
        self.pg
            .with("advancing the version counter", |c| raise_counter(c, name, next))
    }
}
