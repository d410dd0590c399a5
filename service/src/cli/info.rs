//! `statecast info`: a client for `InfoService` and `grpc.health.v1`.
use super::models::ServerArg;
use statecast_proto::v1::{GetServerInfoRequest, info_service_client::InfoServiceClient};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    server: ServerArg,
}

pub(crate) fn run(args: InfoArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let channel = args.server.connect().await?;
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?
            .into_inner();
        let info = InfoServiceClient::new(channel)
            .get_server_info(GetServerInfoRequest {})
            .await?
            .into_inner();
        println!("server:   {}", args.server.server);
        println!("health:   {:?}", health.status());
        println!("version:  {}", info.version);
        println!("devices:  {}", info.devices.join(", "));
        println!("max msg:  {} bytes", info.max_message_bytes);
        println!("uptime:   {:.1} s", info.uptime_seconds);
        Ok(())
    })
}
