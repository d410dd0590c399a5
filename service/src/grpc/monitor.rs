//! `statecast.v1.MonitorService`: streaming anomaly detection, one point at a time.
//!
//! Each `StreamMonitor` call owns a map `series_id → StreamDetector` (bounded by
//! [`MonitorConfig::max_series`]; series idle for [`MonitorConfig::idle`] are dropped). The
//! detector of a model version is **the saved detector JSON stored in the artifact directory**
//! ([`DETECTOR_FILE`]): fitting one needs training and validation rows, which an artifact does not
//! keep, so a model is made monitorable by writing `statecast detect --model DIR --data TRAIN
//! --save-detector DIR/detector.json` before `statecast models register NAME DIR`. A model version
//! without it is refused with `FAILED_PRECONDITION`.
//!
//! Per-point work (registry look-ups, the model's forward pass) runs on tokio's blocking pool, one
//! message at a time per stream; responses go through a bounded channel, so a slow reader slows
//! its own stream down instead of growing memory.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use statecast_proto::v1 as pb;
use statecast_proto::v1::monitor_service_server::MonitorService;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::anomaly::alarms::AlarmEvent;
use crate::anomaly::{Detector, Predictor, StreamDetector, StreamOutput};
use crate::registry::{ModelRef, Registry};
use crate::{Error, Result};

/// File name of the saved detector inside a registered artifact directory.
pub use crate::anomaly::fit::DETECTOR_FILE;

/// Responses buffered per stream before the server waits for the client to read.
const RESPONSE_BUFFER: usize = 64;

/// Limits of one monitor stream.
#[derive(Debug, Clone, Copy)]
pub struct MonitorConfig {
    /// Series one stream may track at once; a new series beyond it gets `RESOURCE_EXHAUSTED`.
    pub max_series: usize,
    /// Series with no point for this long are dropped (their next point starts afresh).
    pub idle: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            max_series: 10_000,
            idle: Duration::from_secs(3600),
        }
    }
}

/// Serves `StreamMonitor` from registered models with saved detectors.
#[derive(Debug, Clone)]
pub struct MonitorServiceImpl {
    registry: Arc<Registry>,
    config: MonitorConfig,
}

impl MonitorServiceImpl {
    /// A service over `registry`.
    pub fn new(registry: Arc<Registry>, config: MonitorConfig) -> Self {
        Self { registry, config }
    }
}

/// A model version ready to monitor with: its detector, predictor and scaler.
#[derive(Debug)]
struct ModelDetector {
    /// `NAME@VERSION`.
    resolved: String,
    detector: Arc<Detector>,
    predictor: Arc<Predictor>,
    scaler: statecast_pipelines::scale::Scaler,
}

/// One series of a stream.
#[derive(Debug)]
struct SeriesState {
    /// The model reference as the first point gave it.
    model_ref: String,
    model: Arc<ModelDetector>,
    stream: StreamDetector,
    last_seen: Instant,
    /// Timestamps of the most recent scored points (to date an alarm's first point).
    recent: VecDeque<i64>,
}

/// All state of one `StreamMonitor` call.
#[derive(Debug)]
struct StreamState {
    registry: Arc<Registry>,
    config: MonitorConfig,
    models: HashMap<String, Arc<ModelDetector>>,
    series: HashMap<String, SeriesState>,
    last_sweep: Instant,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

impl StreamState {
    fn new(registry: Arc<Registry>, config: MonitorConfig) -> Self {
        Self {
            registry,
            config,
            models: HashMap::new(),
            series: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    /// Drop series idle for longer than the TTL.
    fn sweep(&mut self, now: Instant) {
        let idle = self.config.idle;
        self.series.retain(|_, s| now.duration_since(s.last_seen) < idle);
        self.last_sweep = now;
    }

    /// Resolve and load `model` (cached per stream by the reference string).
    fn model(&mut self, model: &str) -> Result<Arc<ModelDetector>> {
        if let Some(m) = self.models.get(model) {
            return Ok(m.clone());
        }
        let r: ModelRef = model.parse()?;
        let info = self.registry.resolve(&r)?;
        let path = self
            .registry
            .version_dir(&info.name, info.version)
            .join(DETECTOR_FILE);
        if !path.is_file() {
            return Err(Error::FailedPrecondition {
                reason: format!(
                    "model `{}` version {} has no saved detector ({DETECTOR_FILE} in its artifact \
                     directory); write one with `statecast detect --model DIR --data TRAIN \
                     --save-detector DIR/{DETECTOR_FILE}` and register the artifact again",
                    info.name, info.version
                ),
            });
        }
        let detector = Detector::load(&path)?;
        let loaded = self.registry.load(&info)?;
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
            detector.features.steps.max(1),
            loaded.device.clone(),
        )
        .with_recurrent(detector.recurrent);
        let m = Arc::new(ModelDetector {
            resolved: format!("{}@{}", info.name, info.version),
            detector: Arc::new(detector),
            predictor: Arc::new(predictor),
            scaler: loaded.artifact.scaler.clone(),
        });
        self.models.insert(model.to_string(), m.clone());
        Ok(m)
    }

    /// Validate and score one point.
    fn handle(&mut self, req: pb::MonitorRequest) -> Result<pb::MonitorResponse> {
        let now = Instant::now();
        if now.duration_since(self.last_sweep) >= (self.config.idle / 4).max(Duration::from_secs(1)) {
            self.sweep(now);
        }
        if req.series_id.is_empty() {
            return Err(invalid("series_id", "must not be empty"));
        }
        if !self.series.contains_key(&req.series_id) {
            if req.model.is_empty() {
                return Err(invalid(
                    "model",
                    format!("required on the first point of series `{}`", req.series_id),
                ));
            }
            if self.series.len() >= self.config.max_series {
                self.sweep(now);
            }
            if self.series.len() >= self.config.max_series {
                return Err(Error::ResourceExhausted {
                    reason: format!(
                        "this stream already monitors {} series (the server's limit); \
                         open another stream",
                        self.series.len()
                    ),
                });
            }
            let model = self.model(&req.model)?;
            let (center, scale) = model.scaler.stats(&req.series_id)?;
            let stream = StreamDetector::new(
                &req.series_id,
                model.detector.clone(),
                model.predictor.clone(),
                center.to_vec(),
                scale.to_vec(),
            )?;
            self.series.insert(
                req.series_id.clone(),
                SeriesState {
                    model_ref: req.model.clone(),
                    model,
                    stream,
                    last_seen: now,
                    recent: VecDeque::new(),
                },
            );
        }
        let s = self
            .series
            .get_mut(&req.series_id)
            .ok_or_else(|| Error::Internal("series state vanished".into()))?;
        if !req.model.is_empty() && req.model != s.model_ref {
            return Err(invalid(
                "model",
                format!(
                    "series `{}` is monitored with `{}`; got `{}`",
                    req.series_id, s.model_ref, req.model
                ),
            ));
        }
        let det = &s.model.detector;
        let nv = det.columns.len();
        if req.values.len() != nv {
            return Err(invalid(
                "values",
                format!(
                    "{} values, the model has {nv} variates ({})",
                    req.values.len(),
                    det.columns.join(", ")
                ),
            ));
        }
        if let Some(i) = req.values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("values[{i}]"),
                format!("{} ({}) is not finite", req.values[i], det.columns[i]),
            ));
        }
        if let Some(last) = s.stream.last_timestamp()
            && req.timestamp <= last
        {
            return Err(invalid(
                "timestamp",
                format!(
                    "{} is not after the previous point of series `{}` ({last}); timestamps \
                     must be strictly increasing",
                    req.timestamp, req.series_id
                ),
            ));
        }
        #[allow(clippy::cast_possible_truncation)]
        let raw: Vec<f32> = req.values.iter().map(|&v| v as f32).collect();
        let out = s.stream.push(req.timestamp, &raw)?;
        s.last_seen = now;
        let mut resp = pb::MonitorResponse {
            series_id: req.series_id.clone(),
            timestamp: req.timestamp,
            score: f64::NAN,
            threshold: det.threshold.value,
            variate_scores: Vec::new(),
            alarm: false,
            fired: None,
            warming_up: true,
            model: s.model.resolved.clone(),
        };
        let StreamOutput::Scored(p) = out else {
            return Ok(resp);
        };
        // Keep enough timestamps to date an alarm opened by a k-of-n rule.
        let keep = det.rules.window.max(1) + 1;
        s.recent.push_back(req.timestamp);
        while s.recent.len() > keep {
            s.recent.pop_front();
        }
        resp.score = p.score;
        resp.warming_up = p.score.is_nan();
        resp.variate_scores = p.per_variate.iter().map(|&v| f64::from(v)).collect();
        resp.alarm = p.in_alarm;
        if let Some(AlarmEvent::Opened(seg)) = p.event {
            // Point index of this point is scored − 1; `recent` ends with it.
            let back = s.stream.scored().saturating_sub(1).saturating_sub(seg.start);
            let start_timestamp = usize::try_from(back)
                .ok()
                .and_then(|b| s.recent.len().checked_sub(1 + b))
                .and_then(|i| s.recent.get(i).copied())
                .unwrap_or(req.timestamp);
            resp.fired = Some(pb::Alarm {
                start_timestamp,
                top_variates: seg
                    .top
                    .iter()
                    .map(|a| pb::VariateContribution {
                        name: det.columns.get(a.variate).cloned().unwrap_or_default(),
                        contribution: f64::from(a.share),
                    })
                    .collect(),
                peak: seg.peak,
            });
        }
        Ok(resp)
    }
}

#[tonic::async_trait]
impl MonitorService for MonitorServiceImpl {
    type StreamMonitorStream = ReceiverStream<Result<pb::MonitorResponse, Status>>;

    async fn stream_monitor(
        &self,
        request: Request<Streaming<pb::MonitorRequest>>,
    ) -> Result<Response<Self::StreamMonitorStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(RESPONSE_BUFFER);
        let mut state = Some(StreamState::new(self.registry.clone(), self.config));
        tokio::spawn(async move {
            loop {
                let req = match inbound.next().await {
                    None => return,
                    Some(Ok(req)) => req,
                    Some(Err(status)) => {
                        tracing::debug!(%status, "monitor stream ended by the client");
                        return;
                    }
                };
                let Some(mut st) = state.take() else { return };
                let joined = tokio::task::spawn_blocking(move || {
                    let r = st.handle(req);
                    (st, r)
                })
                .await;
                let (st, result) = match joined {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = tx
                            .send(Err(Error::Internal(format!("a monitor task failed: {e}")).into()))
                            .await;
                        return;
                    }
                };
                state = Some(st);
                match result {
                    Ok(resp) => {
                        if tx.send(Ok(resp)).await.is_err() {
                            return; // the client went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
