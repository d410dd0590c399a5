//! `statecast serve`.
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
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        data_dir: args.data_dir,
        max_message_bytes: args.max_message_mib << 20,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_s),
    };
    std::fs::create_dir_all(&config.data_dir)?;
    super::runtime()?.block_on(async move {
        let (listener, local) = server::bind(args.addr).await?;
        // Tests and scripts read this line to learn the port.
        println!("statecast listening on {local}");
        tracing::info!(%local, data_dir = %config.data_dir.display(), "serving");
        server::serve(config, listener, server::shutdown_signal()).await?;
        tracing::info!("server stopped");
        Ok(())
    })
}
