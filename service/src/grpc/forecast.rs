//! `statecast.v1.ForecastService`.
use std::sync::Arc;

use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_server::ForecastService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::blocking;
use crate::convert::forecast::{request as convert_request, resolved};
use crate::forecast::{self, Delivery, Prepared};
use crate::registry::Registry;

/// The response size bound when none is set: tonic's default message limit, 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Serves forecasts from registered models.
#[derive(Debug, Clone)]
pub struct ForecastServiceImpl {
    registry: Arc<Registry>,
    max_message_bytes: usize,
}

impl ForecastServiceImpl {
    /// A service over `registry` whose responses must fit [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Refuse requests whose response (per message, for streams) would exceed `bytes`; set it
    /// to the server's encoding limit.
    #[must_use]
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Convert and validate the request, bound its response, load the model (blocking pool).
    async fn prepare(
        &self,
        request: pb::ForecastRequest,
        delivery: Delivery,
    ) -> Result<Arc<Prepared>, Status> {
        let (model, series, options) = convert_request(request)?;
        let registry = self.registry.clone();
        let max = self.max_message_bytes;
        Ok(Arc::new(
            blocking(move || forecast::prepare(&registry, &model, series, &options, max, delivery)).await?,
        ))
    }
}

#[tonic::async_trait]
impl ForecastService for ForecastServiceImpl {
    async fn forecast(
        &self,
        request: Request<pb::ForecastRequest>,
    ) -> Result<Response<pb::ForecastResponse>, Status> {
        let prepared = self.prepare(request.into_inner(), Delivery::Unary).await?;
        let job = prepared.clone();
        let series = blocking(move || job.run_all()).await?;
        Ok(Response::new(pb::ForecastResponse {
            model: Some(resolved(&prepared.info)),
            series: series.into_iter().map(Into::into).collect(),
        }))
    }

    type ForecastStreamStream = ReceiverStream<Result<pb::ForecastStreamResponse, Status>>;

    async fn forecast_stream(
        &self,
        request: Request<pb::ForecastRequest>,
    ) -> Result<Response<Self::ForecastStreamStream>, Status> {
        let prepared = self.prepare(request.into_inner(), Delivery::Stream).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let model = resolved(&prepared.info);
            for range in forecast::batches(prepared.request.series.len()) {
                let job = prepared.clone();
                let result = blocking(move || job.run(range)).await;
                let items = match result {
                    Ok(items) => items,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for series in items {
                    let message = pb::ForecastStreamResponse {
                        model: Some(model.clone()),
                        series: Some(series.into()),
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
