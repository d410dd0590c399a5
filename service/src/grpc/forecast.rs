//! `statecast.v1.ForecastService`: forecasts of windows the client sends (`Forecast`,
//! `ForecastStream`) and live forecasts of points (`StreamForecast`, a [`LiveSession`] per call
//! driven by the same loop as the monitor, [`super::point_stream`]). Live streams are bounded
//! by the monitor's [`StreamLimits`] (their own count of open streams) and draw on the same
//! server-wide series budget, so monitored and live series together stay under it.
use std::sync::Arc;

use statecast_anomaly::MonitorConfig;
use statecast_anomaly::session::SeriesBudget;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_server::ForecastService;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::blocking;
use super::monitor::StreamLimits;
use super::point_stream::{AnswerStream, StreamBounds, serve};
use crate::convert::forecast::{live_options, request as convert_request, resolved};
use crate::forecast::live::{LivePoint, LiveSession};
use crate::forecast::{self, Delivery, Prepared};
use crate::registry::Registry;

/// The response size bound when none is set: tonic's default message limit, 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Serves forecasts from registered models.
#[derive(Debug, Clone)]
pub struct ForecastServiceImpl {
    registry: Arc<Registry>,
    max_message_bytes: usize,
    live: LiveLimits,
}

/// Bounds of live-forecast streams.
#[derive(Debug, Clone)]
struct LiveLimits {
    config: MonitorConfig,
    limits: StreamLimits,
    streams: Arc<Semaphore>,
    budget: SeriesBudget,
}

impl LiveLimits {
    fn new(config: MonitorConfig, limits: StreamLimits, budget: SeriesBudget) -> Self {
        Self {
            config,
            limits,
            streams: Arc::new(Semaphore::new(limits.max_streams.min(Semaphore::MAX_PERMITS))),
            budget,
        }
    }
}

impl ForecastServiceImpl {
    /// A service over `registry` whose responses must fit [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub fn new(registry: Arc<Registry>) -> Self {
        let limits = StreamLimits::default();
        Self {
            registry,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            live: LiveLimits::new(
                MonitorConfig::default(),
                limits,
                SeriesBudget::new(limits.max_total_series),
            ),
        }
    }

    /// Bound live streams by `config` (per stream) and `limits` (open streams, batch, idle
    /// time), their series counted against `budget` (the monitor's, to share one server-wide
    /// bound).
    #[must_use]
    pub fn with_live_limits(
        mut self,
        config: MonitorConfig,
        limits: StreamLimits,
        budget: SeriesBudget,
    ) -> Self {
        self.live = LiveLimits::new(config, limits, budget);
        self
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

    type StreamForecastStream = AnswerStream<pb::StreamForecastResponse>;

    async fn stream_forecast(
        &self,
        request: Request<Streaming<pb::StreamForecastRequest>>,
    ) -> Result<Response<Self::StreamForecastStream>, Status> {
        let live = &self.live;
        let Ok(permit) = live.streams.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "server busy: {} live forecast streams already open (--monitor-max-streams); retry later",
                live.limits.max_streams
            )));
        };
        let session = LiveSession::new(self.registry.clone(), live.config).with_budget(live.budget.clone());
        let bounds = StreamBounds {
            idle: live.limits.stream_idle,
            max_batch: live.limits.max_batch,
            idle_flag: "--monitor-stream-idle-secs",
        };
        Ok(Response::new(serve(
            request.into_inner(),
            permit,
            session,
            bounds,
            handle_live,
        )))
    }
}

/// Decode a batch of live points, answer them in `session` (batched), encode the answers; the
/// status of the first refused point comes last.
fn handle_live(
    session: &mut LiveSession,
    reqs: &[pb::StreamForecastRequest],
) -> (Vec<pb::StreamForecastResponse>, Option<Status>) {
    let mut options = Vec::with_capacity(reqs.len());
    let mut undecodable = None;
    for req in reqs {
        match live_options(req) {
            Ok(o) => options.push(o),
            Err(e) => {
                undecodable = Some(Status::from(e));
                break;
            }
        }
    }
    let points: Vec<LivePoint<'_>> = reqs
        .iter()
        .zip(&options)
        .map(|(req, options)| LivePoint {
            series_id: &req.series_id,
            model: &req.model,
            timestamp: req.timestamp,
            values: &req.values,
            options,
        })
        .collect();
    let (answers, refused) = session.push_many(&points);
    let status = refused.map(Status::from).or(undecodable);
    (answers.into_iter().map(Into::into).collect(), status)
}
