//! `statecast serve`.
use statecast_service::ops::auth::AuthToken;
use statecast_service::ops::metrics_http;
use statecast_service::ops::tls::TlsFiles;
use statecast_service::server::{self, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:50051", env = "STATECAST_ADDR")]
    addr: SocketAddr,
    /// Directory for the model registry, artifacts and jobs.
    #[arg(long, default_value = "statecast-data", env = "STATECAST_DATA_DIR")]
    data_dir: PathBuf,
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
    /// job submit/cancel); read-only RPCs stay open.
    #[arg(long, env = "STATECAST_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// Serve Prometheus metrics on this address (GET /metrics); port 0 picks a free port.
    #[arg(long, env = "STATECAST_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Forecast RPCs allowed in flight; further ones get RESOURCE_EXHAUSTED (default: no limit).
    #[arg(long)]
    max_concurrent_forecasts: Option<usize>,
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
    /// Directory under which RegisterModel may name artifact directories (repeatable; the
    /// environment variable takes a `:`-separated list). Default: none, so RegisterModel with a
    /// path is refused. Only the artifact's own files are copied; symbolic links are refused.
    #[arg(long = "import-root", env = "STATECAST_IMPORT_ROOTS", value_delimiter = ':')]
    import_roots: Vec<PathBuf>,
    /// Largest artifact (all its files together) RegisterModel copies, in MiB; larger ones get
    /// RESOURCE_EXHAUSTED before any copying.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    max_import_mib: u64,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        data_dir: args.data_dir,
        max_message_bytes: args.max_message_mib << 20,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_s),
        tls: TlsFiles::from_pair(args.tls_cert, args.tls_key)?,
        auth_token: args.auth_token.as_deref().and_then(AuthToken::new),
        metrics_addr: args.metrics_addr,
        max_concurrent_forecasts: args.max_concurrent_forecasts,
        workers: usize::try_from(args.workers)?,
        max_queued_jobs: args.max_queued_jobs,
        monitor_max_series: args.monitor_max_series,
        monitor_idle: Duration::from_secs(args.monitor_idle_secs),
        import_roots: args.import_roots,
        max_import_bytes: args.max_import_mib << 20,
    };
    std::fs::create_dir_all(&config.data_dir)?;
    super::runtime()?.block_on(async move {
        let (listener, local) = server::bind(args.addr).await?;
        let metrics = match config.metrics_addr {
            Some(addr) => Some(metrics_http::bind(addr).await?),
            None => None,
        };
        // Tests and scripts read this line to learn the port.
        println!("statecast listening on {local}");
        if let Some((_, metrics_local)) = &metrics {
            println!("statecast metrics on http://{metrics_local}/metrics");
        }
        tracing::info!(
            %local,
            data_dir = %config.data_dir.display(),
            tls = config.tls.is_some(),
            auth = config.auth_token.is_some(),
            "serving"
        );
        server::serve_with_metrics(
            config,
            listener,
            metrics.map(|(l, _)| l),
            server::shutdown_signal(),
        )
        .await?;
        tracing::info!("server stopped");
        Ok(())
    })
}
