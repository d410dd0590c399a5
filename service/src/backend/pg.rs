//! [`Pg`]: a small pool of PostgreSQL connections for one component (the registry, or the job
//! queue), each reconnected when the server dropped it, with the hot statements prepared once
//! per connection; and versioned migrations applied under an advisory lock so that servers
//! starting together migrate once.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls, Statement};

use crate::{Error, Result};

/// The advisory lock key every statecast migration holds (any fixed number: "stcst" in ASCII).
const MIGRATION_LOCK: i64 = 0x73_74_63_73_74;

/// Connections per [`Pg`]: concurrent forecasts resolve their models in parallel.
const POOL: usize = 4;

/// One pooled connection and the statements prepared on it.
pub struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("prepared", &self.prepared.len())
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// The connection.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `sql` prepared on this connection (once; later calls reuse it).
    ///
    /// # Errors
    /// [`Error::Postgres`].
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(sql).map_err(pg("preparing a statement"))?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// A small pool of lazily reconnected PostgreSQL clients.
pub struct Pg {
    config: postgres::Config,
    pool: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password: show where, not how.
        f.debug_struct("Pg")
            .field("hosts", &self.config.get_hosts().len())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

/// `context` for a PostgreSQL error.
pub(crate) fn pg(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> Error {
    let context = context.into();
    move |source| Error::Postgres { context, source }
}

impl Pg {
    /// Connect to `url` (`postgres://user:password@host:port/db`), failing at once when the
    /// database cannot be reached.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`--registry`) for a malformed URL, [`Error::Postgres`] when
    /// the connection fails.
    pub fn connect(url: &str) -> Result<Self> {
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::InvalidArgument {
            field: "--registry".into(),
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        let client = config.connect(NoTls).map_err(pg("connecting to PostgreSQL"))?;
        let mut pool: Vec<Mutex<Option<Conn>>> = (0..POOL).map(|_| Mutex::new(None)).collect();
        pool[0] = Mutex::new(Some(Conn {
            client,
            prepared: HashMap::new(),
        }));
        Ok(Self {
            config,
            pool,
            next: AtomicUsize::new(0),
        })
    }

    /// A free pooled slot if there is one, else the next one in turn (waiting for it).
    fn lock(&self) -> MutexGuard<'_, Option<Conn>> {
        for slot in &self.pool {
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        self.pool[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Run `f` on a pooled connection (reconnecting first when it was closed). A failed call
    /// is not retried: it may have committed before the connection broke.
    ///
    /// # Errors
    /// [`Error::Postgres`] with `context`, or `f`'s own error.
    pub fn with<T>(&self, context: &str, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.with_conn(context, |conn| f(&mut conn.client))
    }

    /// [`with`](Self::with), with the connection's prepared statements at hand.
    ///
    /// # Errors
    /// As [`with`](Self::with).
    pub fn with_conn<T>(&self, context: &str, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut slot = self.lock();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(pg(format!("{context}: reconnecting")))?;
            *slot = Some(Conn {
                client,
                prepared: HashMap::new(),
            });
        }
        let conn = slot
            .as_mut()
            .ok_or_else(|| Error::Internal("no PostgreSQL client".into()))?;
        let out = f(conn);
        if conn.client.is_closed() {
            *slot = None;
        }
        out
    }

    /// Apply `migrations` of `component` (index + 1 is the version) that the database has not
    /// seen, in one transaction under the migration lock.
    ///
    /// # Errors
    /// [`Error::Postgres`]; [`Error::FailedPrecondition`] for a database migrated by a newer
    /// statecast.
    pub fn migrate(&self, component: &str, migrations: &[&str]) -> Result<()> {
        self.with("migrating", |c| {
            let mut tx = c.transaction().map_err(pg("migrating"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map_err(pg("taking the migration lock"))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
            )
            .map_err(pg("creating schema_versions"))?;
            let found: i32 = tx
                .query_opt("SELECT version FROM schema_versions WHERE component = $1", &[&component])
                .map_err(pg("reading the schema version"))?
                .map_or(0, |r| r.get(0));
            let latest = i32::try_from(migrations.len()).unwrap_or(i32::MAX);
            if found > latest {
                return Err(Error::FailedPrecondition {
                    reason: format!(
                        "PostgreSQL {component} schema version {found} is newer than this build's {latest}; upgrade statecast"
                    ),
                });
            }
            for (i, sql) in migrations.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
                tx.batch_execute(sql)
                    .map_err(pg(format!("migrating {component} to version {}", i + 1)))?;
            }
            tx.execute(
                "INSERT INTO schema_versions (component, version) VALUES ($1, $2) \
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                &[&component, &latest],
            )
            .map_err(pg("recording the schema version"))?;
            tx.commit().map_err(pg("committing the migration"))
        })
    }
}
