//! `statecast serve`.
use statecast_service::backend::{RegistryUrl, StorageConfig};
use statecast_service::ops::auth::{AuthScope, AuthToken};
use statecast_service::ops::exposure::{self, Exposure};
use statecast_service::ops::limit;
use statecast_service::ops::metrics_http;
use statecast_service::ops::tls::TlsFiles;
use statecast_service::server::{self, Role, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:50051", env = "STATECAST_ADDR")]
    addr: SocketAddr,
    /// Directory for the model registry, artifacts and jobs (with --registry postgres:// and
    /// --object-store: only local caches and job scratch).
    #[arg(long, default_value = "statecast-data", env = "STATECAST_DATA_DIR")]
    data_dir: PathBuf,
    /// Where the registry and the job queue live: `sqlite:PATH` (default:
    /// DATA_DIR/registry.sqlite, one server) or `postgres://USER:PASSWORD@HOST:PORT/DB`, shared
    /// by several servers. Prefer the environment variable: the URL carries a password.
    #[arg(long, env = "STATECAST_REGISTRY", hide_env_values = true)]
    registry: Option<statecast_service::backend::RegistryUrl>,
    /// Where artifacts and training checkpoints live: `file:///absolute/dir` or
    /// `s3://bucket/prefix` (credentials and endpoint from the AWS_* environment variables).
    /// Default: under --data-dir. Servers sharing a PostgreSQL registry must share one store.
    #[arg(long, env = "STATECAST_OBJECT_STORE")]
    object_store: Option<String>,
    /// `api`: the gRPC API, no training; `worker`: trains jobs from the shared queue and serves
    /// only gRPC health; `all`: both.
    #[arg(long, value_enum, default_value_t = Role::All, env = "STATECAST_ROLE")]
    role: Role,
    /// This process's name in job leases (default HOSTNAME-PID); unique among the workers
    /// sharing a queue.
    #[arg(long, env = "STATECAST_WORKER_ID")]
    worker_id: Option<String>,
    /// Seconds a claimed job stays leased without renewal (renewed every third of it); a
    /// worker silent for longer loses the job to another worker, which resumes it from its
    /// last checkpoint.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    job_lease_s: u64,
    /// Largest accepted request message, in MiB.
    #[arg(long, default_value_t = 16)]
    max_message_mib: usize,
    /// Seconds to drain in-flight RPCs on shutdown (SIGTERM / Ctrl-C).
    #[arg(long, default_value_t = 10)]
    shutdown_grace_s: u64,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "STATECAST_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "STATECAST_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Require `authorization: Bearer TOKEN` on mutating RPCs (register, delete, label,
    /// job submit/cancel); read-only RPCs stay open unless --auth-all-rpcs. Prefer
    /// --auth-token-file or the environment: a token on the command line is visible to every
    /// local user in the process list.
    #[arg(
        long,
        env = "STATECAST_AUTH_TOKEN",
        hide_env_values = true,
        conflicts_with = "auth_token_file"
    )]
    auth_token: Option<String>,
    /// Read the bearer token from this file (e.g. a mounted Kubernetes Secret).
    #[arg(long, env = "STATECAST_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// Require the token on every RPC (forecasts, listings, monitor streams, reflection),
    /// not only on mutating ones; health checks stay open for probes.
    #[arg(long, env = "STATECAST_AUTH_ALL_RPCS")]
    auth_all_rpcs: bool,
    /// Serve a non-loopback address without a token. Without this flag such a start is
    /// refused: every mutating RPC would be open to the network.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Also answer gRPC health checks (grpc.health.v1 only) in plaintext and without a token
    /// on this address, for probes that cannot speak TLS (the kubelet's gRPC probe).
    #[arg(long, env = "STATECAST_HEALTH_ADDR")]
    health_addr: Option<SocketAddr>,
    /// Serve Prometheus metrics on this address (GET /metrics); port 0 picks a free port.
    #[arg(long, env = "STATECAST_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Forecast RPCs allowed in flight; further ones get RESOURCE_EXHAUSTED (default: two per
    /// CPU core, at least 2).
    #[arg(long, default_value_t = limit::default_max_concurrent_forecasts() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_concurrent_forecasts: u64,
    /// Training worker threads (each trains one job at a time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    workers: u64,
    /// Training jobs allowed to wait in the queue; further submissions get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 16)]
    max_queued_jobs: usize,
    /// Series one StreamMonitor call may track; a further new series gets RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 10_000)]
    monitor_max_series: usize,
    /// Seconds after which a monitored series with no new point is dropped.
    #[arg(long, default_value_t = 3600)]
    monitor_idle_secs: u64,
    /// Longest monitor series id, in bytes; longer ids get INVALID_ARGUMENT.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    monitor_max_series_id_bytes: u64,
    /// StreamMonitor calls open at once; one more gets RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    monitor_max_streams: u64,
    /// Series tracked over all monitor streams together; a new series beyond it gets
    /// RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 20_000)]
    monitor_max_total_series: usize,
    /// Seconds after which a monitor stream that sent nothing is closed (DEADLINE_EXCEEDED).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    monitor_stream_idle_secs: u64,
    /// Points of one monitor stream scored together at most: the points queued on a stream
    /// advance their series' model states in one forward per stage (1: one point at a time).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    monitor_max_batch: u64,
    /// Directory under which training jobs may name dataset files, or an object-store prefix
    /// `s3://bucket/prefix` under which they may name dataset objects (repeatable; each value,
    /// like the env var, may be a `:`-separated list). Without one, job submissions get
    /// FAILED_PRECONDITION.
    #[arg(long = "data-root", env = "STATECAST_DATA_ROOTS")]
    data_roots: Vec<String>,
    /// Most trainable parameters of a job's model; larger models get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 20_000_000)]
    max_model_params: u64,
    /// Most estimated training memory of one job, in MiB; more gets RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 4096)]
    max_train_memory_mib: u64,
    /// Most epochs (also warm-up and patience epochs) of one job.
    #[arg(long, default_value_t = 10_000)]
    max_job_epochs: usize,
    /// Times a job may be started; a job the server died while training this often is FAILED
    /// at the next start instead of resumed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_job_attempts: u32,
    /// Finished jobs (rows and their jobs/<id>/ directories) older than this many days are
    /// deleted, at start-up and hourly; registered models are kept.
    #[arg(long, default_value_t = 30)]
    job_retention_days: u64,
    /// At most this many finished jobs are kept (the newest).
    #[arg(long, default_value_t = 10_000)]
    max_finished_jobs: usize,
    /// Directory under which RegisterModel may name artifact directories (repeatable; the
    /// environment variable takes a `:`-separated list). Default: none, so RegisterModel with a
    /// path is refused. Only the artifact's own files are copied; symbolic links are refused.
    #[arg(long = "import-root", env = "STATECAST_IMPORT_ROOTS", value_delimiter = ':')]
    import_roots: Vec<PathBuf>,
    /// Largest artifact (all its files together) RegisterModel copies, in MiB; larger ones get
    /// RESOURCE_EXHAUSTED before any copying.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    max_import_mib: u64,
    /// Device the served models run on (forecasts and the monitor): cpu, cuda, cuda:N (GPU
    /// builds). Training jobs choose their own device.
    #[arg(long, default_value = "cpu")]
    device: statecast_models::device::DeviceSpec,
}

/// A `:`-separated list of roots, where `s3://…` URLs keep their own colon.
fn split_roots(list: &str) -> Vec<PathBuf> {
    let mut out: Vec<String> = Vec::new();
    for part in list.split(':') {
        if let Some(prev) = out.last_mut()
            && matches!(prev.as_str(), "s3" | "s3a")
            && part.starts_with("//")
        {
            prev.push(':');
            prev.push_str(part);
        } else {
            out.push(part.to_string());
        }
    }
    out.into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The configured token: from `--auth-token-file`, else `--auth-token`/`STATECAST_AUTH_TOKEN`.
/// Warns when it came from the command line.
fn auth_token(args: &ServeArgs) -> anyhow::Result<Option<AuthToken>> {
    if let Some(path) = &args.auth_token_file {
        return Ok(Some(AuthToken::from_file(path)?));
    }
    let Some(text) = args.auth_token.as_deref() else {
        return Ok(None);
    };
    if std::env::var("STATECAST_AUTH_TOKEN").ok().as_deref() != Some(text) {
        warn(
            "the auth token was given on the command line, where /proc/PID/cmdline shows it to every local user; use --auth-token-file or STATECAST_AUTH_TOKEN",
        );
    }
    Ok(AuthToken::new(text))
}

/// A start-up warning: on stderr (seen even without a tracing subscriber) and in the log.
fn warn(message: &str) {
    eprintln!("statecast: warning: {message}");
    tracing::warn!("{message}");
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let auth_token = auth_token(&args)?;
    let tls = TlsFiles::from_pair(args.tls_cert.clone(), args.tls_key.clone())?;
    let exposure = Exposure {
        addr: args.addr,
        token: auth_token.is_some(),
        tls: tls.is_some(),
        auth_all_rpcs: args.auth_all_rpcs,
        allow_unauthenticated: args.allow_unauthenticated,
    };
    for warning in exposure::check(&exposure)? {
        warn(&warning);
    }
    if args
        .registry
        .as_ref()
        .is_some_and(|r| matches!(r, RegistryUrl::Postgres(_)))
        && args.object_store.is_none()
    {
        warn(
            "--registry postgres:// without --object-store keeps artifacts under --data-dir: only this server can load them",
        );
    }
    let config = ServerConfig {
        storage: StorageConfig {
            registry: args.registry,
            object_store: args.object_store,
        },
        role: args.role,
        worker_id: args.worker_id.unwrap_or_else(server::default_worker_id),
        job_lease: Duration::from_secs(args.job_lease_s),
        data_dir: args.data_dir,
        max_message_bytes: args.max_message_mib << 20,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_s),
        tls,
        auth_token,
        metrics_addr: args.metrics_addr,
        health_addr: args.health_addr,
        max_concurrent_forecasts: Some(usize::try_from(args.max_concurrent_forecasts)?),
        workers: usize::try_from(args.workers)?,
        max_queued_jobs: args.max_queued_jobs,
        monitor_max_series: args.monitor_max_series,
        monitor_idle: Duration::from_secs(args.monitor_idle_secs),
        auth_scope: if args.auth_all_rpcs {
            AuthScope::All
        } else {
            AuthScope::Mutating
        },
        monitor_max_series_id_bytes: usize::try_from(args.monitor_max_series_id_bytes)?,
        monitor_max_streams: usize::try_from(args.monitor_max_streams)?,
        monitor_max_total_series: args.monitor_max_total_series,
        monitor_stream_idle: Duration::from_secs(args.monitor_stream_idle_secs),
        monitor_max_batch: usize::try_from(args.monitor_max_batch)?,
        data_roots: args.data_roots.iter().flat_map(|v| split_roots(v)).collect(),
        max_model_params: args.max_model_params,
        max_train_memory_mib: args.max_train_memory_mib,
        max_job_epochs: args.max_job_epochs,
        max_job_attempts: args.max_job_attempts,
        job_retention_days: args.job_retention_days,
        max_finished_jobs: args.max_finished_jobs,
        import_roots: args.import_roots,
        max_import_bytes: args.max_import_mib << 20,
        device: args.device,
    };
    // An unavailable device is a startup error, not a failure of every later request.
    config.device.device()?;
    std::fs::create_dir_all(&config.data_dir)?;
    super::runtime()?.block_on(async move {
        let (listener, local) = server::bind(args.addr).await?;
        let metrics = match config.metrics_addr {
            Some(addr) => Some(metrics_http::bind(addr).await?),
            None => None,
        };
        let health = match config.health_addr {
            Some(addr) => Some(server::bind(addr).await?),
            None => None,
        };
        // Tests and scripts read this line to learn the port. One write, and a reader that
        // closes stdout early must not kill the server (`println!` panics on EPIPE).
        let mut banner = format!("statecast listening on {local}\n");
        if let Some((_, metrics_local)) = &metrics {
            banner.push_str(&format!("statecast metrics on http://{metrics_local}/metrics\n"));
        }
        if let Some((_, health_local)) = &health {
            banner.push_str(&format!("statecast health on {health_local}\n"));
        }
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        }
        tracing::info!(
            %local,
            data_dir = %config.data_dir.display(),
            tls = config.tls.is_some(),
            auth = config.auth_token.is_some(),
            "serving"
        );
        server::serve_with_listeners(
            config,
            listener,
            metrics.map(|(l, _)| l),
            health.map(|(l, _)| l),
            server::shutdown_signal(),
        )
        .await?;
        tracing::info!("server stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::split_roots;
    use std::path::PathBuf;

    #[test]
    fn root_lists_keep_object_store_urls_whole() {
        assert_eq!(
            split_roots("/srv/a:s3://bucket/datasets:/srv/b::"),
            vec![
                PathBuf::from("/srv/a"),
                PathBuf::from("s3://bucket/datasets"),
                PathBuf::from("/srv/b")
            ]
        );
        assert_eq!(split_roots("s3"), vec![PathBuf::from("s3")]);
    }
}
