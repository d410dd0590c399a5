//! `statecast.v1.ForecastService`.
use std::sync::Arc;

use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_server::ForecastService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::blocking;
use crate::convert::forecast::{request as convert_request, resolved};
use crate::forecast::{self, Prepared};
use crate::registry::Registry;

/// Serves forecasts from registered models.
#[derive(Debug, Clone)]
pub struct ForecastServiceImpl {
    registry: Arc<Registry>,
}

impl ForecastServiceImpl {
    /// A service over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// Convert and validate the request, load the model (blocking pool).
    async fn prepare(&self, request: pb::ForecastRequest) -> Result<Arc<Prepared>, Status> {
        let (model, series, options) = convert_request(request)?;
        let registry = self.registry.clone();
        Ok(Arc::new(
            blocking(move || forecast::prepare(&registry, &model, series, &options)).await?,
        ))
    }
}

#[tonic::async_trait]
impl ForecastService for ForecastServiceImpl {
    async fn forecast(
        &self,
        request: Request<pb::ForecastRequest>,
    ) -> Result<Response<pb::ForecastResponse>, Status> {
        let prepared = self.prepare(request.into_inner()).await?;
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
        let prepared = self.prepare(request.into_inner()).await?;
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
