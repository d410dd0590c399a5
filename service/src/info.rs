//! `statecast.v1.InfoService`: static facts about the running server.
use statecast_models::device::DeviceSpec;
use statecast_proto::v1::{GetServerInfoRequest, GetServerInfoResponse, info_service_server::InfoService};
use std::time::Instant;
use tonic::{Request, Response, Status};

/// Serves `GetServerInfo`.
#[derive(Debug, Clone)]
pub struct InfoServiceImpl {
    started: Instant,
    max_message_bytes: u64,
}

impl InfoServiceImpl {
    /// A service reporting `max_message_bytes` as the request size limit.
    pub fn new(max_message_bytes: u64) -> Self {
        Self {
            started: Instant::now(),
            max_message_bytes,
        }
    }
}

#[tonic::async_trait]
impl InfoService for InfoServiceImpl {
    async fn get_server_info(
        &self,
        _request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        Ok(Response::new(GetServerInfoResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            devices: DeviceSpec::compiled_in().iter().map(|d| d.to_string()).collect(),
            max_message_bytes: self.max_message_bytes,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        }))
    }
}
