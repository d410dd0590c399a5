//! Live forecasts: the state of one `StreamForecast` stream. Points of many series come in one
//! at a time; after each point the series' forecast is answered, without the client resending
//! its window.
//!
//! A session maps `series_id → LiveSeries`, bounded like a monitor session (the same
//! [`MonitorConfig`] per stream, and the server-wide [`SeriesBudget`] that monitor streams also
//! draw on); series idle for [`MonitorConfig::idle`] are dropped and start afresh. A series'
//! first point names the model and what to forecast (horizon, quantiles or levels, mode), which
//! are validated as `Forecast` validates them ([`validate_options`]); every point passes the
//! same checks as a monitored one ([`statecast_pipelines::live`]).
//!
//! Two ways to follow a series ([`LiveMode`]):
//! - **Window** (default): the series keeps its last `lookback` raw rows and each answer is
//!   exactly what `Forecast` returns for them ([`forecast_windows`] and [`finish`], the code
//!   `Forecast` runs): the forecast the model was validated for; work per point grows with the
//!   look-back.
//! - **Recurrent** (opt-in, for scale): the series keeps the model's recurrent state
//!   ([`statecast_models::streaming::RecurrentSeries`]) and each point advances it by one step:
//!   constant work per point. Every `lookback` points the state is primed again on the series'
//!   last look-back rows, and that answer equals the window forecast (`exact`, as is the first).
//!   In between, a model that normalises each window by its own statistics (SpaceTime) keeps
//!   the statistics of the window it was primed on, so its forecasts drift from the window
//!   forecast: on the quickstart's trained model a median 0.5 standard deviations of the
//!   forecasts, most where the level moved (BENCHMARKS.md §15c). A model without a recurrent
//!   form is followed as a window.
//!
//! **Batched.** [`LiveSession::push_many`] validates points one by one and answers waves of
//! distinct series together: one model call per stage for all recurrent series of a model and
//! horizon ([`statecast_models::streaming::push_many`]), one forward for all windows of a model.
//! Nothing here knows the transport; the gRPC service decodes requests into [`LivePoint`]s and
//! encodes [`LiveAnswer`]s.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use statecast_anomaly::MonitorConfig;
use statecast_anomaly::session::SeriesBudget;
use statecast_models::forecaster::{Forecaster, StreamPlan};
use statecast_models::streaming::{RecurrentSeries, push_many};
use statecast_pipelines::Frequency;
use statecast_pipelines::live::{SeriesSoFar, check_point, check_series_id};

use super::engine::{Fields, Volatility, finish, forecast_windows};
use super::intervals::scaled_volatility;
use super::request::{ForecastOptions, MAX_BATCH, SeriesForecast, invalid, validate_options};
use crate::registry::{LoadedModel, ModelRef, Registry, Selector, VersionInfo};
use crate::{Error, Result};

/// How a live forecast follows its series (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveMode {
    /// The model's recurrent state, one step per point.
    Recurrent,
    /// The forecast of the last look-back rows at every point.
    #[default]
    Window,
}

/// What a series' first point asks for (later points repeat it or leave it unset).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveOptions {
    /// Horizon and quantiles, as in a `Forecast` request.
    pub forecast: ForecastOptions,
    /// `None` when unset (the default mode).
    pub mode: Option<LiveMode>,
}

impl LiveOptions {
    fn is_unset(&self) -> bool {
        *self == Self::default()
    }

    /// The first field in which `self` differs from `other`.
    fn differs_from(&self, other: &Self) -> Option<&'static str> {
        let (a, b) = (&self.forecast, &other.forecast);
        if a.horizon.unwrap_or(0) != b.horizon.unwrap_or(0) {
            Some("horizon")
        } else if a.quantiles != b.quantiles {
            Some("quantiles")
        } else if a.levels != b.levels {
            Some("levels")
        } else if self.mode.unwrap_or_default() != other.mode.unwrap_or_default() {
            Some("mode")
        } else {
            None
        }
    }
}

/// One decoded point.
#[derive(Debug, Clone, Copy)]
pub struct LivePoint<'a> {
    /// Series id.
    pub series_id: &'a str,
    /// Model reference (`NAME`, `NAME@VERSION`, `NAME:LABEL`); required on a series' first point.
    pub model: &'a str,
    /// Unix microseconds.
    pub timestamp: i64,
    /// One value per variate, original units.
    pub values: &'a [f64],
    /// What to forecast.
    pub options: &'a LiveOptions,
}

/// The answer to one point.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAnswer {
    /// Series id.
    pub series_id: String,
    /// The point's timestamp.
    pub timestamp: i64,
    /// `NAME@VERSION`.
    pub model: String,
    /// The forecast after this point; `None` while the first look-back fills.
    pub forecast: Option<SeriesForecast>,
    /// The forecast equals the window forecast of the last look-back rows.
    pub exact: bool,
}

/// A model version loaded for a session.
#[derive(Debug)]
struct LiveModel {
    info: VersionInfo,
    loaded: Arc<LoadedModel>,
    resolved: String,
    frequency: Option<Frequency>,
}

/// How one series is followed.
#[derive(Debug)]
enum Path {
    Recurrent(Box<RecurrentSeries>),
    /// The last look-back raw rows, [rows, variates], oldest first.
    Window(VecDeque<f32>),
}

/// One series of a session.
#[derive(Debug)]
struct LiveSeries {
    model_ref: String,
    model: Arc<LiveModel>,
    asked: LiveOptions,
    horizon: usize,
    quantiles: Vec<f64>,
    center: Vec<f32>,
    scale: Vec<f32>,
    origin: i64,
    /// The previous point's timestamp and the one before it (forecast times of models without
    /// a frequency step by the last gap).
    last: Option<i64>,
    before_last: Option<i64>,
    last_seen: Instant,
    path: Path,
}

impl LiveSeries {
    /// The sampling period the forecast times step by.
    fn period(&self) -> Option<Frequency> {
        self.model.frequency.or_else(|| {
            let gap = self.last?.checked_sub(self.before_last?)?;
            (gap > 0).then(|| Frequency::from_micros(gap))
        })
    }
}

/// A validated point waiting in a wave: its series and raw row.
#[derive(Debug)]
struct Pending {
    id: String,
    timestamp: i64,
    raw: Vec<f32>,
}

/// All state of one live-forecast stream (module docs).
pub struct LiveSession {
    registry: Arc<Registry>,
    config: MonitorConfig,
    budget: Option<SeriesBudget>,
    models: HashMap<String, Arc<LiveModel>>,
    series: HashMap<String, LiveSeries>,
    /// Stream plans of recurrent models, by (resolved model, horizon).
    plans: HashMap<(String, usize), StreamPlan>,
    last_sweep: Instant,
    /// The registry's deletion counter when every cached model was last known to exist.
    generation: u64,
}

impl std::fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("config", &self.config)
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .field("series", &self.series.len())
            .finish_non_exhaustive()
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give(self.series.len());
        }
    }
}

impl LiveSession {
    /// A session over `registry`, bounded by `config`.
    pub fn new(registry: Arc<Registry>, config: MonitorConfig) -> Self {
        let generation = registry.deletions();
        Self {
            registry,
            config,
            budget: None,
            models: HashMap::new(),
            series: HashMap::new(),
            plans: HashMap::new(),
            last_sweep: Instant::now(),
            generation,
        }
    }

    /// Count this session's series against `budget`, shared with other streams.
    #[must_use]
    pub fn with_budget(mut self, budget: SeriesBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Series tracked now.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Bytes of per-series state held now (rings and recurrent states).
    pub fn memory_bytes(&self) -> usize {
        self.series
            .values()
            .map(|s| match &s.path {
                Path::Recurrent(r) => s.model.loaded.model.stepper().map_or(0, |m| r.memory_bytes(m)),
                Path::Window(ring) => ring.len() * std::mem::size_of::<f32>(),
            })
            .sum()
    }

    fn drop_series(&mut self, mut drop: impl FnMut(&LiveSeries) -> bool) {
        let before = self.series.len();
        self.series.retain(|_, s| !drop(s));
        if let Some(b) = &self.budget {
            b.give(before - self.series.len());
        }
    }

    /// After a deletion somewhere, make sure every cached model still exists.
    fn revalidate(&mut self) -> Result<()> {
        let generation = self.registry.deletions();
        if generation == self.generation {
            return Ok(());
        }
        let models: Vec<(String, Arc<LiveModel>)> =
            self.models.iter().map(|(k, m)| (k.clone(), m.clone())).collect();
        for (key, model) in models {
            let r = ModelRef {
                name: model.info.name.clone(),
                selector: Selector::Version(model.info.version),
            };
            match self.registry.resolve(&r) {
                Ok(_) => {}
                Err(Error::ModelNotFound { .. }) => {
                    self.models.remove(&key);
                    self.drop_series(|s| Arc::ptr_eq(&s.model, &model));
                    return Err(Error::ModelNotFound {
                        name: model.resolved.clone(),
                        version: None,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        self.generation = generation;
        Ok(())
    }

    fn model(&mut self, model: &str) -> Result<Arc<LiveModel>> {
        if let Some(m) = self.models.get(model) {
            return Ok(m.clone());
        }
        let r: ModelRef = model.parse()?;
        let info = self.registry.resolve(&r)?;
        let loaded = self.registry.load(&info)?;
        let m = Arc::new(LiveModel {
            resolved: format!("{}@{}", info.name, info.version),
            frequency: info.frequency.as_deref().and_then(|f| Frequency::parse(f).ok()),
            info,
            loaded,
        });
        self.models.insert(model.to_string(), m.clone());
        Ok(m)
    }

    /// Start tracking the series of `point` (budget taken by the caller).
    fn start_series(&mut self, point: &LivePoint<'_>, now: Instant) -> Result<()> {
        if point.model.is_empty() {
            return Err(invalid(
                "model",
                format!("required on the first point of series `{}`", point.series_id),
            ));
        }
        let model = self.model(point.model)?;
        let (horizon, quantiles) = validate_options(&model.info, &point.options.forecast)?;
        let (center, scale) = model
            .loaded
            .artifact
            .scaler
            .stats(point.series_id)
            .map_err(|e| invalid("series_id", e.to_string()))?;
        let (center, scale) = (center.to_vec(), scale.to_vec());
        let (l, v) = (model.info.lookback, model.info.columns.len());
        let recurrent = point.options.mode.unwrap_or_default() == LiveMode::Recurrent
            && model
                .loaded
                .model
                .stepper()
                .is_some_and(|m| m.step_lookback() == l);
        let path = if recurrent {
            Path::Recurrent(Box::new(RecurrentSeries::new(l, v, horizon, false)))
        } else {
            Path::Window(VecDeque::with_capacity(l * v))
        };
        self.series.insert(
            point.series_id.to_string(),
            LiveSeries {
                model_ref: point.model.to_string(),
                model,
                asked: point.options.clone(),
                horizon,
                quantiles,
                center,
                scale,
                origin: point.timestamp,
                last: None,
                before_last: None,
                last_seen: now,
                path,
            },
        );
        Ok(())
    }

    fn open_series(&mut self, point: &LivePoint<'_>, now: Instant) -> Result<()> {
        if self.series.len() >= self.config.max_series {
            let idle = self.config.idle;
            self.drop_series(|s| now.duration_since(s.last_seen) >= idle);
        }
        if self.series.len() >= self.config.max_series {
            return Err(Error::ResourceExhausted {
                reason: format!(
                    "this stream already follows {} series (the server's limit); open another stream",
                    self.series.len()
                ),
            });
        }
        if let Some(b) = &self.budget
            && !b.try_take()
        {
            return Err(Error::ResourceExhausted {
                reason: format!(
                    "the server already follows {} live series over all streams (its limit); retry later",
                    b.limit()
                ),
            });
        }
        let opened = self.start_series(point, now);
        if opened.is_err()
            && let Some(b) = &self.budget
        {
            b.give(1);
        }
        opened
    }

    /// Validate and answer `points` in order, up to the first refused one: the answers of the
    /// points before it and the refusal (`None` when all were answered). Consecutive points of
    /// distinct series are answered together (module docs); a series' second point in the
    /// batch starts a new wave.
    pub fn push_many(&mut self, points: &[LivePoint<'_>]) -> (Vec<LiveAnswer>, Option<Error>) {
        let mut answers = Vec::with_capacity(points.len());
        let mut wave: Vec<Pending> = Vec::new();
        // The wave's series ids (a wave only grows by a push or empties by a flush).
        let mut in_wave: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for point in points {
            if !wave.is_empty()
                && in_wave.contains(point.series_id)
                && let Err(e) = self.flush(&mut wave, &mut answers)
            {
                return (answers, Some(e));
            }
            match self.accept(point, &mut wave, &mut answers) {
                Ok(row) => {
                    wave.push(row);
                    if wave.len() == 1 {
                        in_wave.clear();
                    }
                    in_wave.insert(point.series_id);
                }
                Err(e) => {
                    let flushed = self.flush(&mut wave, &mut answers);
                    return (answers, Some(flushed.err().unwrap_or(e)));
                }
            }
        }
        let flushed = self.flush(&mut wave, &mut answers);
        (answers, flushed.err())
    }

    /// Validate one point; it waits in the wave. Anything that may drop series answers the
    /// wave first.
    fn accept(
        &mut self,
        point: &LivePoint<'_>,
        wave: &mut Vec<Pending>,
        answers: &mut Vec<LiveAnswer>,
    ) -> Result<Pending> {
        if self.registry.deletions() != self.generation {
            self.flush(wave, answers)?;
            self.revalidate()?;
        }
        let now = Instant::now();
        if now.duration_since(self.last_sweep) >= (self.config.idle / 4).max(Duration::from_secs(1)) {
            self.flush(wave, answers)?;
            let idle = self.config.idle;
            self.drop_series(|s| now.duration_since(s.last_seen) >= idle);
            self.last_sweep = now;
        }
        check_series_id(point.series_id, self.config.max_series_id_bytes)?;
        if !self.series.contains_key(point.series_id) {
            if self.series.len() >= self.config.max_series {
                self.flush(wave, answers)?;
            }
            self.open_series(point, now)?;
        } else if !point.options.is_unset() {
            let s = &self.series[point.series_id];
            if let Some(field) = point.options.differs_from(&s.asked) {
                return Err(invalid(
                    field,
                    format!(
                        "series `{}` was opened with other forecast settings; later points must \
                         leave them unset or repeat them",
                        point.series_id
                    ),
                ));
            }
        }
        let s = self
            .series
            .get_mut(point.series_id)
            .ok_or_else(|| Error::Internal("series state vanished".into()))?;
        if !point.model.is_empty() && point.model != s.model_ref {
            return Err(invalid(
                "model",
                format!(
                    "series `{}` is forecast with `{}`; got `{}`",
                    point.series_id, s.model_ref, point.model
                ),
            ));
        }
        let so_far = SeriesSoFar {
            id: point.series_id,
            columns: &s.model.info.columns,
            center: &s.center,
            scale: &s.scale,
            frequency: s.model.frequency,
            origin: s.origin,
            last: s.last,
        };
        let raw = check_point(&so_far, point.timestamp, point.values)?;
        s.before_last = s.last;
        s.last = Some(point.timestamp);
        s.last_seen = now;
        Ok(Pending {
            id: point.series_id.to_string(),
            timestamp: point.timestamp,
            raw,
        })
    }

    /// Take the wave's rows into their series, forecast the series that have a full look-back
    /// (one model call per group of series that share a model, horizon and path), and append
    /// the answers in wave order; the first error stops the answers there.
    fn flush(&mut self, wave: &mut Vec<Pending>, answers: &mut Vec<LiveAnswer>) -> Result<()> {
        if wave.is_empty() {
            return Ok(());
        }
        let pending: Vec<Pending> = std::mem::take(wave);
        let mut taken: Vec<LiveSeries> = pending
            .iter()
            .map(|p| {
                self.series
                    .remove(&p.id)
                    .expect("a pending point's series is tracked")
            })
            .collect();
        let results = self.forecast_wave(&pending, &mut taken);
        let mut first_error = None;
        for ((p, s), result) in pending.into_iter().zip(taken).zip(results) {
            match result {
                Ok(forecast) if first_error.is_none() => {
                    let exact = forecast.is_some()
                        && match &s.path {
                            Path::Window(_) => true,
                            Path::Recurrent(r) => r.primed_on_last_row(),
                        };
                    answers.push(LiveAnswer {
                        series_id: p.id.clone(),
                        timestamp: p.timestamp,
                        model: s.model.resolved.clone(),
                        forecast,
                        exact,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            self.series.insert(p.id, s);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The forecast (or `None` while warming up) of each pending row's series.
    fn forecast_wave(
        &mut self,
        pending: &[Pending],
        series: &mut [LiveSeries],
    ) -> Vec<Result<Option<SeriesForecast>>> {
        let mut out: Vec<Result<Option<SeriesForecast>>> = (0..pending.len()).map(|_| Ok(None)).collect();
        // Groups of series answered by one model call: same model, horizon and path.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in 0..series.len() {
            let same = |j: usize| {
                Arc::ptr_eq(&series[i].model, &series[j].model)
                    && series[i].horizon == series[j].horizon
                    && matches!(series[i].path, Path::Recurrent(_))
                        == matches!(series[j].path, Path::Recurrent(_))
            };
            match groups.iter_mut().find(|g| same(g[0])) {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        for group in groups {
            if matches!(series[group[0]].path, Path::Recurrent(_)) {
                self.forecast_recurrent(&group, pending, series, &mut out);
            } else {
                forecast_window_group(&group, pending, series, &mut out);
            }
        }
        out
    }

    /// One recurrent group: every state advanced by its row and forecast, in one call per stage.
    fn forecast_recurrent(
        &mut self,
        group: &[usize],
        pending: &[Pending],
        series: &mut [LiveSeries],
        out: &mut [Result<Option<SeriesForecast>>],
    ) {
        let first = &series[group[0]];
        let (model, horizon) = (first.model.clone(), first.horizon);
        let Some(stepper) = model.loaded.model.stepper() else {
            for &i in group {
                out[i] = Err(Error::Internal(
                    "a recurrent series' model has no recurrent form".into(),
                ));
            }
            return;
        };
        let plan = self
            .plans
            .entry((model.resolved.clone(), horizon))
            .or_insert_with(|| stepper.plan_stream(&(1..=horizon).collect::<Vec<_>>()));
        let scaler = &model.loaded.artifact.scaler;
        let mut rows: Vec<Vec<f32>> = Vec::with_capacity(group.len());
        for &i in group {
            let mut row = pending[i].raw.clone();
            if let Err(e) = scaler.transform_rows(&pending[i].id, &mut row) {
                out[i] = Err(invalid("series_id", e.to_string()));
            }
            rows.push(row);
        }
        // `group` is ascending, so the states come in its order.
        let mut states: Vec<&mut RecurrentSeries> = Vec::with_capacity(group.len());
        for (k, s) in series.iter_mut().enumerate() {
            if group.binary_search(&k).is_ok()
                && let Path::Recurrent(r) = &mut s.path
            {
                states.push(&mut **r);
            }
        }
        let row_refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let outputs = push_many(stepper, &model.loaded.device, plan, &mut states, &row_refs);
        drop(states);
        for (&k, output) in group.iter().zip(outputs) {
            if out[k].is_err() {
                continue;
            }
            let Some(output) = output else { continue };
            out[k] = answer(&series[k], &pending[k], &output.forecast_kv).map(Some);
        }
    }
}

/// One window group: the rows join their rings; full rings are forecast in one forward per
/// [`MAX_BATCH`] windows.
fn forecast_window_group(
    group: &[usize],
    pending: &[Pending],
    series: &mut [LiveSeries],
    out: &mut [Result<Option<SeriesForecast>>],
) {
    let model = series[group[0]].model.clone();
    let (l, v) = (model.info.lookback, model.info.columns.len());
    let mut ready = Vec::new();
    for &i in group {
        if let Path::Window(ring) = &mut series[i].path {
            ring.extend(&pending[i].raw);
            while ring.len() > l * v {
                ring.pop_front();
            }
            if ring.len() == l * v {
                ring.make_contiguous();
                ready.push(i);
            }
        }
    }
    let h_model = model.loaded.model.horizon();
    for chunk in ready.chunks(MAX_BATCH) {
        let windows: Vec<(&str, &[f32])> = chunk
            .iter()
            .map(|&i| match &series[i].path {
                Path::Window(ring) => (pending[i].id.as_str(), ring.as_slices().0),
                Path::Recurrent(_) => unreachable!("a window group holds window series"),
            })
            .collect();
        let fields = |_: usize| (live_fields(), 0);
        match forecast_windows(&model.loaded, &model.info, &windows, fields) {
            Ok(y) => {
                for (k, &i) in chunk.iter().enumerate() {
                    let h = series[i].horizon;
                    let forecast = &y[k * h_model * v..(k * h_model + h) * v];
                    out[i] = answer(&series[i], &pending[i], forecast).map(Some);
                }
            }
            Err(e) => {
                // The stream ends at the first refused point: the chunk's first (earliest) one.
                let mut e = Some(e);
                for &i in chunk {
                    out[i] = Err(e.take().unwrap_or_else(|| {
                        Error::Internal("not answered: an earlier point of the batch was refused".into())
                    }));
                }
            }
        }
    }
}

/// The request fields of a live point, as [`finish`] names them.
fn live_fields() -> Fields {
    Fields {
        id: "series_id".into(),
        values: "values".into(),
        timestamps: "timestamp".into(),
    }
}

/// A series' answer from its scaled forecast `scaled_hv` ([horizon, variates]).
fn answer(s: &LiveSeries, p: &Pending, scaled_hv: &[f32]) -> Result<SeriesForecast> {
    let period = s.period().ok_or_else(|| {
        invalid(
            "timestamp",
            "the model has no sampling period and the series has one point: its forecast times are unknown",
        )
    })?;
    let scaled = || match &s.path {
        Path::Recurrent(r) => r.window_volatility(),
        Path::Window(ring) => {
            let (a, b) = ring.as_slices();
            let raw: Vec<f32> = a.iter().chain(b).copied().collect();
            scaled_volatility(&raw, &s.scale)
        }
    };
    finish(
        &s.model.loaded,
        &s.model.info,
        &p.id,
        Volatility::Scaled(&scaled),
        scaled_hv,
        &s.quantiles,
        period,
        p.timestamp,
        &live_fields(),
    )
}
