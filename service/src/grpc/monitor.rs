//! `statecast.v1.MonitorService`: streaming anomaly detection, one point at a time.
//!
//! Each `StreamMonitor` call owns a [`MonitorSession`] (the anomaly crate's per-stream state: a
//! map `series_id → StreamDetector` bounded by [`MonitorConfig::max_series`], series idle for
//! [`MonitorConfig::idle`] dropped, every point validated); this module decodes requests, loads
//! models from the registry for the session ([`RegistryLoader`]) and encodes responses. The
//! detector of a model version is **the saved detector JSON stored in the artifact directory**
//! ([`DETECTOR_FILE`]): fitting one needs training and validation rows, which an artifact does not
//! keep, so a model is made monitorable by writing `statecast detect --model DIR --data TRAIN
//! --save-detector DIR/detector.json` before `statecast models register NAME DIR`. A model version
//! without it is refused with `FAILED_PRECONDITION`.
//!
//! **Batched stepping.** The stream loop ([`super::point_stream::serve`], shared with live
//! forecasts) takes the next message and every message already received behind it (up to
//! [`StreamLimits::max_batch`], default [`MAX_BATCH`]) and scores them together on tokio's
//! blocking pool ([`MonitorSession::push_many`]: each point validated in order, the model work
//! of all their series done in one call per stage). Responses come back in request order; a
//! refused point ends the stream after the answers of the points before it. Back-pressure comes
//! from HTTP/2 flow control and a bounded response channel (see `point_stream`).
//!
//! Server-wide bounds ([`StreamLimits`]): at most `max_streams` streams open at once (one more
//! is refused with `RESOURCE_EXHAUSTED`), at most `max_total_series` series tracked over all
//! streams (a new series beyond it gets `RESOURCE_EXHAUSTED`), and a stream that sends nothing
//! for `stream_idle` is closed with `DEADLINE_EXCEEDED`. When a model version a stream uses is
//! deleted, the stream's next point gets `NOT_FOUND` ("model `NAME@VERSION` was deleted") and
//! the stream ends: the session reads the registry's deletion counter on every point (one
//! atomic load) and re-checks its models only when it moved.
use std::sync::Arc;
use std::time::Duration;

use statecast_anomaly::session::{
    AlarmEventKind, ModelLoader, MonitorPoint, MonitoredModel, PointReport, SeriesBudget, SessionError,
};
use statecast_anomaly::{Detector, MonitorSession, Predictor};
use statecast_pipelines::Frequency;
use statecast_proto::v1 as pb;
use statecast_proto::v1::monitor_service_server::MonitorService;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status, Streaming};

use super::point_stream::{AnswerStream, StreamBounds, serve};

use crate::registry::{ModelRef, Registry, Selector};
use crate::{Error, Result};

/// Limits of one monitor stream: a new series beyond `max_series` gets `RESOURCE_EXHAUSTED`.
pub use statecast_anomaly::MonitorConfig;
/// File name of the saved detector inside a registered artifact directory.
pub use statecast_anomaly::fit::DETECTOR_FILE;

/// Requests of one stream scored together at most, by default (batched stepping).
pub const MAX_BATCH: usize = 1024;

/// Bounds over all monitor streams of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams open at once; one more is refused with `RESOURCE_EXHAUSTED`.
    pub max_streams: usize,
    /// Series tracked over all streams; a new series beyond it gets `RESOURCE_EXHAUSTED`.
    pub max_total_series: usize,
    /// A stream with no message for this long is closed with `DEADLINE_EXCEEDED`.
    pub stream_idle: Duration,
    /// Requests of one stream scored together at most (batched stepping; 1 = one at a time).
    pub max_batch: usize,
}

impl Default for StreamLimits {
    /// 64 streams, 20 000 series, 15 minutes, batches of [`MAX_BATCH`].
    fn default() -> Self {
        Self {
            max_streams: 64,
            max_total_series: 20_000,
            stream_idle: Duration::from_secs(900),
            max_batch: MAX_BATCH,
        }
    }
}

/// Serves `StreamMonitor` from registered models with saved detectors.
#[derive(Debug, Clone)]
pub struct MonitorServiceImpl {
    registry: Arc<Registry>,
    config: MonitorConfig,
    limits: StreamLimits,
    streams: Arc<Semaphore>,
    budget: SeriesBudget,
}

impl MonitorServiceImpl {
    /// A service over `registry` with the default [`StreamLimits`].
    pub fn new(registry: Arc<Registry>, config: MonitorConfig) -> Self {
        Self::with_limits(registry, config, StreamLimits::default())
    }

    /// A service over `registry` bounded by `limits`.
    pub fn with_limits(registry: Arc<Registry>, config: MonitorConfig, limits: StreamLimits) -> Self {
        Self {
            registry,
            config,
            limits,
            streams: Arc::new(Semaphore::new(limits.max_streams.min(Semaphore::MAX_PERMITS))),
            budget: SeriesBudget::new(limits.max_total_series),
        }
    }

    /// The server-wide series budget its streams draw on (to share with other point streams).
    pub fn budget(&self) -> SeriesBudget {
        self.budget.clone()
    }

    /// Series tracked now over all streams.
    pub fn series_in_use(&self) -> usize {
        self.budget.in_use()
    }
}

/// Loads a monitor session's models (`NAME[@VERSION|:LABEL]`) from the registry, with the
/// detector saved in the artifact directory.
#[derive(Debug, Clone)]
pub struct RegistryLoader {
    registry: Arc<Registry>,
}

impl RegistryLoader {
    /// A loader over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl ModelLoader for RegistryLoader {
    type Error = Error;

    /// # Errors
    /// `NOT_FOUND` for an unknown model or version, `FAILED_PRECONDITION` for a version without
    /// a saved detector or with one fitted for another model.
    fn generation(&self) -> u64 {
        self.registry.deletions()
    }

    /// # Errors
    /// [`Error::Database`] when the registry cannot be read.
    fn exists(&self, model: &MonitoredModel) -> Result<bool> {
        let Some((name, version)) = model
            .resolved
            .rsplit_once('@')
            .and_then(|(n, v)| Some((n, v.parse().ok()?)))
        else {
            return Err(Error::Internal(format!(
                "monitored model `{}` is not NAME@VERSION",
                model.resolved
            )));
        };
        let r = ModelRef {
            name: name.into(),
            selector: Selector::Version(version),
        };
        match self.registry.resolve(&r) {
            Ok(_) => Ok(true),
            Err(Error::ModelNotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn load(&self, model: &str) -> Result<MonitoredModel> {
        let r: ModelRef = model.parse()?;
        let info = self.registry.resolve(&r)?;
        let loaded = self.registry.load(&info)?;
        let no_detector = || Error::FailedPrecondition {
            reason: format!(
                "model `{}` version {} has no saved detector; write one with `statecast detect \
                 --model DIR --data TRAIN --save-detector DIR/{DETECTOR_FILE}` and register the \
                 artifact again",
                info.name, info.version
            ),
        };
        let file = loaded.artifact.detector_file.as_deref().ok_or_else(no_detector)?;
        let path = self.registry.artifact_dir(&info)?.join(file);
        if !path.is_file() {
            return Err(no_detector());
        }
        let detector = Detector::load(&path)?;
        if detector.columns != loaded.artifact.scaler.columns || detector.lookback != info.lookback {
            return Err(Error::FailedPrecondition {
                reason: format!(
                    "the saved detector of `{}` version {} was fitted for another model \
                     (columns {:?}, look-back {})",
                    info.name, info.version, detector.columns, detector.lookback
                ),
            });
        }
        let predictor = Predictor::model(
            loaded.model.clone(),
            detector.features.forecast_steps().max(1),
            loaded.device.clone(),
        )
        .with_recurrent(detector.recurrent);
        Ok(MonitoredModel {
            resolved: format!("{}@{}", info.name, info.version),
            detector: Arc::new(detector),
            predictor: Arc::new(predictor),
            scaler: loaded.artifact.scaler.clone(),
            frequency: info.frequency.as_deref().and_then(|f| Frequency::parse(f).ok()),
        })
    }
}

/// Decode a batch of requests, score them in `session` ([`MonitorSession::push_many`]: one
/// model call per stage for the whole batch), encode the responses; the error of the first
/// refused request comes last.
fn handle(
    session: &mut MonitorSession<RegistryLoader>,
    reqs: &[pb::MonitorRequest],
) -> (Vec<pb::MonitorResponse>, Option<Status>) {
    let points: Vec<MonitorPoint<'_>> = reqs
        .iter()
        .map(|req| MonitorPoint {
            series_id: &req.series_id,
            model: &req.model,
            timestamp: req.timestamp,
            values: &req.values,
        })
        .collect();
    let (reports, refused) = session.push_many(&points);
    let status = refused.map(|e| {
        if matches!(e, SessionError::ModelDeleted { .. }) {
            Status::not_found(e.to_string())
        } else {
            Error::from(e).into()
        }
    });
    (reports.into_iter().map(encode).collect(), status)
}

fn encode(report: PointReport) -> pb::MonitorResponse {
    pb::MonitorResponse {
        series_id: report.series_id,
        timestamp: report.timestamp,
        score: report.score,
        threshold: report.threshold,
        variate_scores: report.variate_scores,
        alarm: report.alarm,
        fired: report.fired.map(|a| pb::Alarm {
            start_timestamp: a.start_timestamp,
            top_variates: a
                .top_variates
                .into_iter()
                .map(|(name, contribution)| pb::VariateContribution { name, contribution })
                .collect(),
            peak: a.peak,
        }),
        warming_up: report.warming_up,
        model: report.model,
        event: report.event.map(|e| pb::AlarmEvent {
            kind: match e.kind {
                AlarmEventKind::Opened => pb::AlarmEventKind::Opened,
                AlarmEventKind::Updated => pb::AlarmEventKind::Updated,
                AlarmEventKind::Closed => pb::AlarmEventKind::Closed,
            } as i32,
            start_timestamp: e.start_timestamp,
            end_timestamp: e.end_timestamp,
            peak: e.peak,
            top_variates: e
                .top_variates
                .into_iter()
                .map(|(name, contribution)| pb::VariateContribution { name, contribution })
                .collect(),
        }),
    }
}

#[tonic::async_trait]
impl MonitorService for MonitorServiceImpl {
    type StreamMonitorStream = AnswerStream<pb::MonitorResponse>;

    async fn stream_monitor(
        &self,
        request: Request<Streaming<pb::MonitorRequest>>,
    ) -> Result<Response<Self::StreamMonitorStream>, Status> {
        let Ok(permit) = self.streams.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "server busy: {} monitor streams already open (--monitor-max-streams); retry later",
                self.limits.max_streams
            )));
        };
        let loader = RegistryLoader::new(self.registry.clone());
        let session = MonitorSession::new(loader, self.config).with_budget(self.budget.clone());
        let bounds = StreamBounds {
            idle: self.limits.stream_idle,
            max_batch: self.limits.max_batch,
            idle_flag: "--monitor-stream-idle-secs",
        };
        Ok(Response::new(serve(
            request.into_inner(),
            permit,
            session,
            bounds,
            handle,
        )))
    }
}
