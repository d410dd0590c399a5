//! Server wiring: services, health, reflection, limits and graceful shutdown.
//!
//! Every statecast service is registered with `grpc.health.v1` (serving as soon as it is
//! added) and with server reflection (`grpc.reflection.v1` and `v1alpha`).
use crate::grpc::forecast::ForecastServiceImpl;
use crate::grpc::models::ModelServiceImpl;
use crate::info::InfoServiceImpl;
use crate::registry::Registry;
use crate::{Error, Result};
use statecast_proto::v1::forecast_service_server::ForecastServiceServer;
use statecast_proto::v1::info_service_server::InfoServiceServer;
use statecast_proto::v1::model_service_server::ModelServiceServer;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// Settings of one server process.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directory for the registry, artifacts and job state (created if missing).
    pub data_dir: PathBuf,
    /// Largest accepted request message, in bytes (tonic's default is 4 MiB).
    pub max_message_bytes: usize,
    /// How long graceful shutdown waits for in-flight RPCs before giving up.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("statecast-data"),
            max_message_bytes: 16 << 20,
            shutdown_grace: Duration::from_secs(10),
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
/// RPCs for at most `config.shutdown_grace`.
///
/// # Errors
/// [`Error::Io`] when the data directory cannot be created, [`Error::Database`] when the model
/// registry cannot be opened, [`Error::Transport`] when serving fails, [`Error::Reflection`]
/// when the descriptor set is invalid.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::Io {
        context: format!("creating data dir {}", config.data_dir.display()),
        source,
    })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let info = InfoServiceServer::new(InfoServiceImpl::new(config.max_message_bytes as u64))
        .max_decoding_message_size(config.max_message_bytes);
    health_reporter
        .set_serving::<InfoServiceServer<InfoServiceImpl>>()
        .await;

    // Registry metadata and artifacts live under the data dir; burn runs on tokio's blocking pool.
    let data_dir = config.data_dir.clone();
    let registry = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || Registry::open(&data_dir))
            .await
            .map_err(|e| Error::Internal(format!("opening the registry: {e}")))??,
    );
    let models = ModelServiceServer::new(ModelServiceImpl::new(registry.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let forecasts = ForecastServiceServer::new(ForecastServiceImpl::new(registry))
        .max_decoding_message_size(config.max_message_bytes);
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
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "shutting down: draining in-flight RPCs"
        );
        let _ = drain_tx.send(());
    };

    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(info)
        .add_service(models)
        .add_service(forecasts)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);

    tokio::pin!(server);
    tokio::select! {
        result = &mut server => Ok(result?),
        () = async { let _ = drain_rx.await; tokio::time::sleep(grace).await } => {
            tracing::warn!("in-flight RPCs did not finish within the shutdown grace period; exiting");
            Ok(())
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
