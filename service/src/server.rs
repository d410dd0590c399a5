//! Server wiring: services, health, reflection, limits and graceful shutdown.
//!
//! Every statecast service is registered with `grpc.health.v1` (serving as soon as it is
//! added) and with server reflection (`grpc.reflection.v1` and `v1alpha`). The router is
//! wrapped in the [`crate::ops`] layers (telemetry, bearer-token auth for mutating RPCs, the
//! forecast concurrency limit), optionally served over TLS, with Prometheus metrics on a
//! separate HTTP port.
use crate::backend::{Storage, StorageConfig};
use crate::grpc::forecast::ForecastServiceImpl;
use crate::grpc::models::ModelServiceImpl;
use crate::grpc::monitor::{MonitorConfig, MonitorServiceImpl, StreamLimits};
use crate::grpc::training::TrainingServiceImpl;
use crate::info::InfoServiceImpl;
use crate::jobs::{JobLimits, JobManager, JobsConfig, Retention};
use crate::ops::auth::{AuthLayer, AuthScope, AuthToken};
use crate::ops::limit::ConcurrencyLimitLayer;
use crate::ops::telemetry::{Metrics, TelemetryLayer};
use crate::ops::tls::TlsFiles;
use crate::ops::{metrics_http, tls};
use crate::registry::{Registry, RegistryConfig};
use crate::roots::AllowedRoots;
use crate::{Error, Result};
use statecast_proto::v1::forecast_service_server::ForecastServiceServer;
use statecast_proto::v1::info_service_server::InfoServiceServer;
use statecast_proto::v1::model_service_server::ModelServiceServer;
use statecast_proto::v1::monitor_service_server::MonitorServiceServer;
use statecast_proto::v1::training_service_server::TrainingServiceServer;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

/// HTTP/2 flow-control window of one stream: what a client may send ahead of the server's reads
/// on one RPC (a backed-up monitor stream, a large forecast request). hyper's default.
pub const STREAM_WINDOW_BYTES: u32 = 1 << 20;

/// HTTP/2 flow-control window of one connection, over all its streams. Besides bounding what a
/// connection may buffer, it sets h2's budget for small DATA frames (half of it): a peer that
/// has more tiny unread frames buffered than the budget covers is cut off with GOAWAY
/// `ENHANCE_YOUR_CALM` ("too_many_data_frames"). A monitor client that sends each point as it
/// happens sends one ~80-byte frame per point, so with hyper's 1 MiB default a stream that ran a
/// few thousand points ahead of a busy server (priming a thousand series) lost its connection;
/// 32 MiB covers several fully backed-up 1 MiB stream windows of such frames per connection.
pub const CONNECTION_WINDOW_BYTES: u32 = 32 << 20;

/// What one server process does (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// Every gRPC service; trains nothing (submitted jobs wait for workers sharing the queue).
    Api,
    /// Claims and trains jobs from the shared queue; serves only the gRPC health service.
    Worker,
    /// Both (the single-server default).
    #[default]
    All,
}

impl Role {
    /// Whether this process serves the statecast API.
    pub fn serves_api(self) -> bool {
        matches!(self, Self::Api | Self::All)
    }

    /// Whether this process trains jobs.
    pub fn trains(self) -> bool {
        matches!(self, Self::Worker | Self::All)
    }
}

/// A worker id unique to this process: `<hostname>-<pid>`.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "statecast".into());
    format!("{host}-{}", std::process::id())
}

/// Settings of one server process.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the registry, the job queue and the artifacts live (default: embedded in
    /// `data_dir`).
    pub storage: StorageConfig,
    /// What this process does.
    pub role: Role,
    /// This process's name in job leases.
    pub worker_id: String,
    /// How long a claimed job stays leased without renewal.
    pub job_lease: Duration,
    /// Directory for the registry, artifacts and job state (created if missing).
    pub data_dir: PathBuf,
    /// Largest accepted request message, in bytes (tonic's default is 4 MiB).
    pub max_message_bytes: usize,
    /// How long graceful shutdown waits for in-flight RPCs before giving up.
    pub shutdown_grace: Duration,
    /// Serve TLS with this certificate and key (`None`: plaintext HTTP/2).
    pub tls: Option<TlsFiles>,
    /// Bearer token required on mutating RPCs (`None`: no auth).
    pub auth_token: Option<AuthToken>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address.
    pub metrics_addr: Option<SocketAddr>,
    /// Also serve `grpc.health.v1` alone, in plaintext and without a token, on this address
    /// (probes that cannot speak TLS, e.g. the kubelet's gRPC probe, when `tls` is set).
    pub health_addr: Option<SocketAddr>,
    /// Forecast RPCs allowed in flight; more are refused with `RESOURCE_EXHAUSTED`. Default:
    /// two per CPU core ([`crate::ops::limit::default_max_concurrent_forecasts`]); `None`
    /// removes the bound (tests only: the CLI always sets one).
    pub max_concurrent_forecasts: Option<usize>,
    /// Training worker threads (each trains one job at a time).
    pub workers: usize,
    /// Training jobs allowed to wait in the queue; more are refused with `RESOURCE_EXHAUSTED`.
    pub max_queued_jobs: usize,
    /// Series one `StreamMonitor` call may track; more get `RESOURCE_EXHAUSTED`.
    pub monitor_max_series: usize,
    /// Monitored series with no point for this long are dropped.
    pub monitor_idle: Duration,
    /// Which RPCs need [`ServerConfig::auth_token`] (default: the mutating ones).
    pub auth_scope: AuthScope,
    /// Longest monitor series id, bytes; longer ids get `INVALID_ARGUMENT`. Default 256.
    pub monitor_max_series_id_bytes: usize,
    /// `StreamMonitor` calls open at once; one more gets `RESOURCE_EXHAUSTED`. Default 64.
    pub monitor_max_streams: usize,
    /// Series tracked over all monitor streams; a new series beyond it gets
    /// `RESOURCE_EXHAUSTED`. Default 20 000.
    pub monitor_max_total_series: usize,
    /// A monitor stream that sends nothing for this long is closed with `DEADLINE_EXCEEDED`.
    /// Default 15 minutes.
    pub monitor_stream_idle: Duration,
    /// Requests of one monitor stream scored together at most (1: one at a time). Default 1 024.
    pub monitor_max_batch: usize,
    /// Directories under which training jobs may name dataset files (`--data-root`); none (the
    /// default): every job submission is refused with `FAILED_PRECONDITION`.
    pub data_roots: Vec<PathBuf>,
    /// Most trainable parameters of a job's model; larger get `RESOURCE_EXHAUSTED`. Default 20 M.
    pub max_model_params: u64,
    /// Most estimated training memory of one job, MiB; more gets `RESOURCE_EXHAUSTED`.
    /// Default 4096 (half of an 8 GiB deploy).
    pub max_train_memory_mib: u64,
    /// Most epochs (and warm-up / patience epochs) of one job; more is `INVALID_ARGUMENT`.
    /// Default 10 000.
    pub max_job_epochs: usize,
    /// Times a job may be started: a job found RUNNING at start-up that was started this often
    /// is FAILED instead of resumed. Default 3.
    pub max_job_attempts: u32,
    /// Finished jobs (rows and `jobs/<id>/`) older than this many days are deleted. Default 30.
    pub job_retention_days: u64,
    /// At most this many finished jobs are kept (the newest). Default 10 000.
    pub max_finished_jobs: usize,
    /// Directories under which `RegisterModel` may name artifact directories (none by default:
    /// every client-named path is refused with `FAILED_PRECONDITION`). Each must exist.
    pub import_roots: Vec<PathBuf>,
    /// Largest artifact (all its files together) `RegisterModel` copies, in bytes; larger ones
    /// get `RESOURCE_EXHAUSTED` before any copying. Default 2 GiB.
    pub max_import_bytes: u64,
    /// Device the served models run on (`--device`). Default the CPU.
    pub device: statecast_models::device::DeviceSpec,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            storage: StorageConfig::default(),
            role: Role::All,
            worker_id: default_worker_id(),
            job_lease: Duration::from_secs(30),
            data_dir: PathBuf::from("statecast-data"),
            max_message_bytes: 16 << 20,
            shutdown_grace: Duration::from_secs(10),
            tls: None,
            auth_token: None,
            metrics_addr: None,
            health_addr: None,
            max_concurrent_forecasts: Some(crate::ops::limit::default_max_concurrent_forecasts()),
            workers: 1,
            max_queued_jobs: 16,
            monitor_max_series: 10_000,
            monitor_idle: Duration::from_secs(3600),
            auth_scope: AuthScope::Mutating,
            monitor_max_series_id_bytes: 256,
            monitor_max_streams: 64,
            monitor_max_total_series: 20_000,
            monitor_stream_idle: Duration::from_secs(900),
            monitor_max_batch: crate::grpc::monitor::MAX_BATCH,
            data_roots: Vec::new(),
            max_model_params: JobLimits::default().max_model_params,
            max_train_memory_mib: JobLimits::default().max_train_memory_mib,
            max_job_epochs: JobLimits::default().max_epochs,
            max_job_attempts: 3,
            job_retention_days: 30,
            max_finished_jobs: Retention::default().max_finished,
            import_roots: Vec::new(),
            max_import_bytes: crate::registry::DEFAULT_MAX_IMPORT_BYTES,
            device: statecast_models::device::DeviceSpec::Cpu,
        }
    }
}

/// Bind `addr` (port 0 picks a free port) and return the listener and the bound address.
///
/// # Errors
/// [`Error::Io`] when the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Io {
        context: format!("binding {addr}"),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the bound address".into(),
        source,
    })?;
    Ok((listener, local))
}

/// Serve every statecast service on `listener` until `shutdown` resolves, then drain in-flight
/// RPCs for at most `config.shutdown_grace`. Metrics go to `config.metrics_addr` when set.
///
/// # Errors
/// As [`serve_with_metrics`].
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(metrics_http::bind(addr).await.map_err(ops_error)?.0),
        None => None,
    };
    serve_with_metrics(config, listener, metrics_listener, shutdown).await
}

fn ops_error(e: crate::ops::OpsError) -> Error {
    Error::Internal(e.to_string())
}

/// [`serve`] with an already bound metrics listener (so the caller can print its port);
/// `config.metrics_addr` is ignored.
///
/// # Errors
/// [`Error::Io`] when the data directory cannot be created, [`Error::Database`] when the model
/// registry cannot be opened, [`Error::Transport`] when serving fails or the TLS identity is
/// invalid, [`Error::Reflection`] when the descriptor set is invalid, [`Error::Internal`] when
/// the TLS files cannot be read.
pub async fn serve_with_metrics(
    config: ServerConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let health_listener = match config.health_addr {
        Some(addr) => Some(bind(addr).await?.0),
        None => None,
    };
    serve_with_listeners(config, listener, metrics_listener, health_listener, shutdown).await
}

/// [`serve_with_metrics`] with an already bound plaintext health listener as well (bound
/// before the caller announces the server, so a probe never finds it closed);
/// `config.health_addr` is ignored.
///
/// # Errors
/// As [`serve_with_metrics`].
pub async fn serve_with_listeners(
    config: ServerConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    health_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::Io {
        context: format!("creating data dir {}", config.data_dir.display()),
        source,
    })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // The plaintext health-only listener: the same statuses, nothing else, stopped with the
    // server.
    let health_task = match health_listener {
        Some(listener) => {
            if let Ok(local) = listener.local_addr() {
                tracing::info!(%local, "plaintext health checks");
            }
            let only_health = health_service.clone();
            Some(tokio::spawn(async move {
                let served = tonic::transport::Server::builder()
                    .add_service(only_health)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the health listener failed");
                }
            }))
        }
        None => None,
    };
    let _stop_health = AbortOnDrop(health_task);
    let info = InfoServiceServer::new(InfoServiceImpl::new(config.max_message_bytes as u64))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    health_reporter
        .set_serving::<InfoServiceServer<InfoServiceImpl>>()
        .await;

    // Registry metadata and artifacts live under the data dir; burn runs on tokio's blocking pool.
    let data_dir = config.data_dir.clone();
    let (what, flag) = crate::registry::IMPORT_ROOTS;
    let registry_config = RegistryConfig {
        max_import_bytes: config.max_import_bytes,
        device: config.device,
        import_roots: AllowedRoots::new(config.import_roots.iter().cloned(), what, flag).map_err(
            |source| Error::Io {
                context: "checking the import roots".into(),
                source,
            },
        )?,
        ..RegistryConfig::default()
    };
    let storage_config = config.storage.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&data_dir, &storage_config))
        .await
        .map_err(|e| Error::Internal(format!("opening the storage: {e}")))??;
    let registry_storage = storage.clone();
    let registry = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || Registry::with_storage(&registry_storage, registry_config))
            .await
            .map_err(|e| Error::Internal(format!("opening the registry: {e}")))??,
    );
    tracing::info!(registry = %storage.registry, objects = storage.objects.as_ref().map(|o| o.url()), role = ?config.role, "storage opened");
    // Training jobs: their table lives in the registry database, workers are std threads.
    let data_roots = if config.data_roots.is_empty() {
        AllowedRoots::none("dataset files", "--data-root")
    } else {
        // The I/O error already names the flag and the directory.
        AllowedRoots::new(config.data_roots.iter().cloned(), "dataset files", "--data-root").map_err(|e| {
            Error::FailedPrecondition {
                reason: e.to_string(),
            }
        })?
    };
    let jobs_config = JobsConfig {
        data_dir: config.data_dir.clone(),
        storage: Some(storage),
        workers: if config.role.trains() { config.workers } else { 0 },
        worker_id: config.worker_id.clone(),
        lease: config.job_lease,
        max_queued: config.max_queued_jobs,
        data_roots,
        limits: JobLimits {
            max_model_params: config.max_model_params,
            max_train_memory_mib: config.max_train_memory_mib,
            max_epochs: config.max_job_epochs,
        },
        max_attempts: config.max_job_attempts,
        retention: Retention {
            max_age: Duration::from_secs(config.job_retention_days.saturating_mul(24 * 3600)),
            max_finished: config.max_finished_jobs,
            ..Retention::default()
        },
    };
    let jobs_registry = registry.clone();
    let jobs = tokio::task::spawn_blocking(move || JobManager::start(&jobs_config, jobs_registry))
        .await
        .map_err(|e| Error::Internal(format!("starting the job manager: {e}")))??;
    // Job-state gauges (`statecast_jobs{state}`) are read from the job table at scrape time.
    let job_counts = jobs.clone();
    Metrics::global().set_job_states_source(Box::new(move || {
        job_counts
            .job_state_counts()
            .map(|c| {
                crate::jobs::JobState::ALL
                    .iter()
                    .map(|&s| (s.as_str().to_ascii_lowercase(), c.get(s)))
                    .collect()
            })
            .unwrap_or_default()
    }));
    let jobs_at_shutdown = jobs.clone();
    let training = TrainingServiceServer::new(TrainingServiceImpl::new(jobs))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    health_reporter
        .set_serving::<TrainingServiceServer<TrainingServiceImpl>>()
        .await;
    let models = ModelServiceServer::new(ModelServiceImpl::new(registry.clone()))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let monitor_config = MonitorConfig {
        max_series: config.monitor_max_series,
        idle: config.monitor_idle,
        max_series_id_bytes: config.monitor_max_series_id_bytes,
    };
    let stream_limits = StreamLimits {
        max_streams: config.monitor_max_streams,
        max_total_series: config.monitor_max_total_series,
        stream_idle: config.monitor_stream_idle,
        max_batch: config.monitor_max_batch,
    };
    let monitor_service = MonitorServiceImpl::with_limits(registry.clone(), monitor_config, stream_limits);
    // Live forecasts count their series against the monitor's budget: one server-wide bound.
    let series_budget = monitor_service.budget();
    let monitor = MonitorServiceServer::new(monitor_service)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    health_reporter
        .set_serving::<MonitorServiceServer<MonitorServiceImpl>>()
        .await;
    let api = config.role.serves_api();
    if api {
        crate::model_health::spawn(registry.clone(), health_reporter.clone(), Duration::from_secs(1));
    }
    let forecasts = ForecastServiceServer::new(
        ForecastServiceImpl::new(registry)
            .with_max_message_bytes(config.max_message_bytes)
            .with_live_limits(monitor_config, stream_limits, series_budget),
    )
    .max_decoding_message_size(config.max_message_bytes)
    .max_encoding_message_size(config.max_message_bytes);
    health_reporter
        .set_serving::<ModelServiceServer<ModelServiceImpl>>()
        .await;
    health_reporter
        .set_serving::<ForecastServiceServer<ForecastServiceImpl>>()
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(statecast_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(statecast_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Shutdown: stop accepting, flip health to NOT_SERVING, then let tonic drain; a second
    // timer bounds the drain.
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = config.shutdown_grace;
    let reporter = health_reporter.clone();
    let signal = async move {
        shutdown.await;
        reporter
            .set_not_serving::<InfoServiceServer<InfoServiceImpl>>()
            .await;
        reporter
            .set_not_serving::<ModelServiceServer<ModelServiceImpl>>()
            .await;
        reporter
            .set_not_serving::<ForecastServiceServer<ForecastServiceImpl>>()
            .await;
        reporter
            .set_not_serving::<TrainingServiceServer<TrainingServiceImpl>>()
            .await;
        reporter
            .set_not_serving::<MonitorServiceServer<MonitorServiceImpl>>()
            .await;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "shutting down: draining in-flight RPCs"
        );
        let _ = drain_tx.send(());
    };

    // Prometheus endpoint: its own task, stopped when the gRPC server returns.
    let metrics = Metrics::global();
    let metrics_task = metrics_listener.map(|l| {
        tokio::spawn(async move {
            if let Err(e) = metrics_http::serve(l, metrics, std::future::pending()).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        })
    });
    let _stop_metrics = AbortOnDrop(metrics_task);

    let mut builder = tonic::transport::Server::builder()
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES);
    if let Some(files) = &config.tls {
        builder = builder.tls_config(tls::server_config(files).map_err(ops_error)?)?;
    }
    // Outermost first: telemetry sees every outcome, including auth and limit refusals.
    let server = builder
        .layer(TelemetryLayer::new(metrics))
        .layer(AuthLayer::with_scope(
            config.auth_token.clone(),
            config.auth_scope,
        ))
        .layer(ConcurrencyLimitLayer::forecasts(config.max_concurrent_forecasts))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_optional_service(api.then_some(info))
        .add_optional_service(api.then_some(models))
        .add_optional_service(api.then_some(forecasts))
        .add_optional_service(api.then_some(training))
        .add_optional_service(api.then_some(monitor))
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY small responses wait for the peer's delayed ACK (~40 ms).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        );

    tokio::pin!(server);
    let served = tokio::select! {
        result = &mut server => result.map_err(Error::from),
        () = async { let _ = drain_rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!("in-flight RPCs did not finish within the shutdown grace period; exiting");
            Ok(())
        }
    };
    // Jobs this process was training go back to the queue now, not when their leases run out.
    let _ = tokio::task::spawn_blocking(move || jobs_at_shutdown.release()).await;
    served
}

/// Aborts the task when dropped (the metrics endpoint ends with the server).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
