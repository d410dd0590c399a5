//! The state of one monitoring stream: many series, each with its own [`StreamDetector`], fed
//! one point at a time.
//!
//! A session maps `series_id → StreamDetector`, bounded by [`MonitorConfig::max_series`] and,
//! across every session of a server, by a shared [`SeriesBudget`]; series with no point for
//! [`MonitorConfig::idle`] (read from an injectable [`Clock`]) are dropped and start afresh on
//! their next point. Every point is validated before it is scored (a series id of 1 to
//! [`MonitorConfig::max_series_id_bytes`] bytes, a model on a series' first point and the same
//! one after, one value per variate that fits `f32` and stays within
//! [`MAX_SCALED_MAGNITUDE`] training standard deviations once scaled, strictly increasing
//! timestamps on the model's frequency grid counted from the series' first point). Models are
//! resolved through a [`ModelLoader`] on a series' first point and cached per session by their
//! reference string; when the loader's [`ModelLoader::generation`] moves (a model was deleted),
//! the session asks it whether each cached model still [`exists`](ModelLoader::exists) and
//! refuses the next point with [`SessionError::ModelDeleted`] if one does not. Nothing here knows the
//! transport: the gRPC service decodes a request into a [`MonitorPoint`], calls
//! [`MonitorSession::push`] and encodes the [`PointReport`] or maps the [`SessionError`].
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use statecast_pipelines::Frequency;
use statecast_pipelines::live::{PointRefusal, SeriesSoFar, check_point, check_series_id};
use statecast_pipelines::scale::Scaler;

use crate::alarms::{AlarmEvent, AlarmSegment};
use crate::clock::{Clock, SystemClock};
use crate::stream::{AcceptedRow, score_many};
use crate::{Detector, Predictor, StreamDetector, StreamOutput};

/// Limits of one session.
#[derive(Debug, Clone, Copy)]
pub struct MonitorConfig {
    /// Series one session may track at once; a new series beyond it is refused with
    /// [`SessionError::TooManySeries`].
    pub max_series: usize,
    /// Series with no point for this long are dropped (their next point starts afresh).
    pub idle: Duration,
    /// Longest series id, in bytes (UTF-8); longer ids are refused as invalid.
    pub max_series_id_bytes: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            max_series: 10_000,
            idle: Duration::from_secs(3600),
            max_series_id_bytes: 256,
        }
    }
}

pub use statecast_pipelines::live::MAX_SCALED_MAGNITUDE;

/// Series tracked by all sessions that share it, bounded by a limit: each session takes one
/// unit per series it starts tracking and gives it back when the series is dropped (idle,
/// its model deleted, or the session ended).
#[derive(Debug, Clone)]
pub struct SeriesBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl SeriesBudget {
    /// A budget of `limit` series.
    pub fn new(limit: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Series tracked now, over every session.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Take one unit; `false` when the budget is spent.
    pub fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.limit).then_some(u + 1)
            })
            .is_ok()
    }

    /// Give `n` units back.
    pub fn give(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// A model ready to monitor with: its detector, predictor and the scaler of its training data.
#[derive(Debug)]
pub struct MonitoredModel {
    /// The name reported with every point (e.g. `NAME@VERSION`).
    pub resolved: String,
    /// The fitted detector.
    pub detector: Arc<Detector>,
    /// The predictor, in the mode the detector was fitted in.
    pub predictor: Arc<Predictor>,
    /// Scaler statistics per series (raw values in, scaled values to the model).
    pub scaler: Scaler,
    /// The model's sampling period, when it has one: points of a series must lie a whole number
    /// of periods after the series' first point.
    pub frequency: Option<Frequency>,
}

/// Resolves the model reference of a series' first point.
pub trait ModelLoader {
    /// Why a model could not be loaded (unknown name, no saved detector, …).
    type Error;

    /// Load the model that `model` refers to.
    ///
    /// # Errors
    /// Whatever makes the reference unusable.
    fn load(&self, model: &str) -> Result<MonitoredModel, Self::Error>;

    /// A counter that moves whenever a loaded model may have stopped existing (a deletion).
    /// Sessions read it on every point, so it must be cheap; the default never moves.
    fn generation(&self) -> u64 {
        0
    }

    /// Whether a model loaded earlier still exists (asked only after [`generation`](Self::generation)
    /// moved).
    ///
    /// # Errors
    /// When the answer cannot be found out.
    fn exists(&self, _model: &MonitoredModel) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

impl<F, E> ModelLoader for F
where
    F: Fn(&str) -> Result<MonitoredModel, E>,
{
    type Error = E;

    fn load(&self, model: &str) -> Result<MonitoredModel, E> {
        self(model)
    }
}

/// One point of one series.
#[derive(Debug, Clone, Copy)]
pub struct MonitorPoint<'a> {
    /// Series id (must not be empty).
    pub series_id: &'a str,
    /// Model reference: required on a series' first point, optional (but then equal) after.
    pub model: &'a str,
    /// Timestamp (µs), strictly after the series' previous point.
    pub timestamp: i64,
    /// Raw values, one per variate of the model.
    pub values: &'a [f64],
}

/// An alarm that opened at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredAlarm {
    /// Timestamp of the alarm's first point (earlier than the current one under k-of-n rules).
    pub start_timestamp: i64,
    /// Variates that drove it, `(name, share)`, largest share first.
    pub top_variates: Vec<(String, f64)>,
    /// Largest calibrated score so far.
    pub peak: f64,
}

/// What happened to a series' alarm at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmEventKind {
    /// Opened at this point.
    Opened,
    /// Grew (peak or leading variate).
    Updated,
    /// Closed; this point is the first outside it.
    Closed,
}

/// One step in an alarm's life, dated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReport {
    /// What happened.
    pub kind: AlarmEventKind,
    /// Timestamp of the alarm's first point.
    pub start_timestamp: i64,
    /// Timestamp of its last point so far.
    pub end_timestamp: i64,
    /// Largest calibrated score so far.
    pub peak: f64,
    /// Variates that drove it, `(name, share)`, largest share first.
    pub top_variates: Vec<(String, f64)>,
}

/// What one point produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PointReport {
    /// Series id of the point.
    pub series_id: String,
    /// Timestamp of the point.
    pub timestamp: i64,
    /// Calibrated score (NaN while warming up).
    pub score: f64,
    /// The detector's threshold on the calibrated score.
    pub threshold: f64,
    /// Per-variate scores, [variates] (empty while warming up).
    pub variate_scores: Vec<f64>,
    /// Whether the series is in alarm after this point.
    pub alarm: bool,
    /// The alarm that opened at this point, if one did.
    pub fired: Option<FiredAlarm>,
    /// The alarm event of this point (opened, updated, closed), if any.
    pub event: Option<AlarmReport>,
    /// Whether the look-back window (or the features) are still filling.
    pub warming_up: bool,
    /// [`MonitoredModel::resolved`] of the series' model.
    pub model: String,
}

/// Why a point was refused. `E` is the [`ModelLoader`]'s error.
#[derive(Debug, thiserror::Error)]
pub enum SessionError<E> {
    /// The point is malformed or inconsistent with its series; `field` names the offending field
    /// (`series_id`, `model`, `values`, `values[i]`, `timestamp`).
    #[error("invalid argument `{field}`: {reason}")]
    InvalidPoint {
        /// The offending field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A new series arrived while the session already tracks [`MonitorConfig::max_series`].
    #[error("this stream already monitors {monitored} series (the server's limit); open another stream")]
    TooManySeries {
        /// Series tracked.
        monitored: usize,
    },
    /// A new series arrived while the sessions sharing the [`SeriesBudget`] track its limit.
    #[error("the server already monitors {limit} series over all streams (its limit); retry later")]
    BudgetSpent {
        /// The budget's limit.
        limit: usize,
    },
    /// A model this session used was deleted; its series were dropped.
    #[error("model `{model}` was deleted; its series can no longer be monitored")]
    ModelDeleted {
        /// [`MonitoredModel::resolved`] of the deleted model.
        model: String,
    },
    /// The model of a series' first point could not be loaded.
    #[error(transparent)]
    Model(E),
    /// Detection refused the point or the model (scaler without this series, mismatched sizes).
    #[error(transparent)]
    Detection(#[from] crate::Error),
}

fn refused<E>(r: PointRefusal) -> SessionError<E> {
    SessionError::InvalidPoint {
        field: r.field,
        reason: r.reason,
    }
}

fn invalid<E>(field: impl Into<String>, reason: impl Into<String>) -> SessionError<E> {
    SessionError::InvalidPoint {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One series of a session.
#[derive(Debug)]
struct SeriesState {
    /// The model reference as the first point gave it.
    model_ref: String,
    model: Arc<MonitoredModel>,
    stream: StreamDetector,
    /// Scaler statistics of the series (to bound scaled magnitudes before scoring).
    center: Vec<f32>,
    scale: Vec<f32>,
    /// Timestamp of the series' first point: the origin of its frequency grid.
    origin: i64,
    last_seen: Instant,
    /// Timestamps of the most recent scored points (to date an alarm's first point).
    recent: VecDeque<i64>,
    /// Timestamp of the open alarm's first point.
    alarm_start: Option<i64>,
}

/// All state of one monitoring stream (see the module docs).
pub struct MonitorSession<L, C = SystemClock> {
    loader: L,
    clock: C,
    config: MonitorConfig,
    models: HashMap<String, Arc<MonitoredModel>>,
    series: HashMap<String, SeriesState>,
    last_sweep: Instant,
    budget: Option<SeriesBudget>,
    /// The loader's generation when every cached model was last known to exist.
    generation: u64,
}

impl<L, C> Drop for MonitorSession<L, C> {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give(self.series.len());
        }
    }
}

impl<L, C: Clock> std::fmt::Debug for MonitorSession<L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorSession")
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .field("series", &self.series.len())
            .finish_non_exhaustive()
    }
}

impl<L: ModelLoader> MonitorSession<L> {
    /// A session on the system clock.
    pub fn new(loader: L, config: MonitorConfig) -> Self {
        Self::with_clock(loader, config, SystemClock)
    }
}

impl<L: ModelLoader, C: Clock> MonitorSession<L, C> {
    /// A session reading the time from `clock`.
    pub fn with_clock(loader: L, config: MonitorConfig, clock: C) -> Self {
        let last_sweep = clock.now();
        let generation = loader.generation();
        Self {
            loader,
            clock,
            config,
            models: HashMap::new(),
            series: HashMap::new(),
            last_sweep,
            budget: None,
            generation,
        }
    }

    /// Count this session's series against `budget`, shared with other sessions.
    #[must_use]
    pub fn with_budget(mut self, budget: SeriesBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Stop tracking the series for which `drop` is true, giving their budget back.
    fn drop_series(&mut self, mut drop: impl FnMut(&SeriesState) -> bool) {
        let before = self.series.len();
        self.series.retain(|_, s| !drop(s));
        if let Some(b) = &self.budget {
            b.give(before - self.series.len());
        }
    }

    /// After a deletion somewhere, make sure every cached model still exists; a deleted one is
    /// forgotten with its series.
    fn revalidate(&mut self) -> Result<(), SessionError<L::Error>> {
        let generation = self.loader.generation();
        if generation == self.generation {
            return Ok(());
        }
        let models: Vec<(String, Arc<MonitoredModel>)> =
            self.models.iter().map(|(k, m)| (k.clone(), m.clone())).collect();
        for (key, model) in models {
            if !self.loader.exists(&model).map_err(SessionError::Model)? {
                self.models.remove(&key);
                self.drop_series(|s| Arc::ptr_eq(&s.model, &model));
                return Err(SessionError::ModelDeleted {
                    model: model.resolved.clone(),
                });
            }
        }
        self.generation = generation;
        Ok(())
    }

    /// Series tracked now (idle ones are dropped lazily, on later pushes).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Drop series idle for at least [`MonitorConfig::idle`].
    fn sweep(&mut self, now: Instant) {
        let idle = self.config.idle;
        self.drop_series(|s| now.duration_since(s.last_seen) >= idle);
        self.last_sweep = now;
    }

    /// The model `model` refers to, loaded on first use.
    fn model(&mut self, model: &str) -> Result<Arc<MonitoredModel>, SessionError<L::Error>> {
        if let Some(m) = self.models.get(model) {
            return Ok(m.clone());
        }
        let m = Arc::new(self.loader.load(model).map_err(SessionError::Model)?);
        self.models.insert(model.to_string(), m.clone());
        Ok(m)
    }

    /// Start tracking the series of `point` (its first point, or its first since it expired).
    fn open_series(&mut self, point: &MonitorPoint<'_>, now: Instant) -> Result<(), SessionError<L::Error>> {
        if point.model.is_empty() {
            return Err(invalid(
                "model",
                format!("required on the first point of series `{}`", point.series_id),
            ));
        }
        if self.series.len() >= self.config.max_series {
            self.sweep(now);
        }
        if self.series.len() >= self.config.max_series {
            return Err(SessionError::TooManySeries {
                monitored: self.series.len(),
            });
        }
        if let Some(b) = &self.budget
            && !b.try_take()
        {
            return Err(SessionError::BudgetSpent { limit: b.limit() });
        }
        let opened = self.start_series(point, now);
        if opened.is_err()
            && let Some(b) = &self.budget
        {
            b.give(1);
        }
        opened
    }

    /// [`open_series`](Self::open_series) once the budget is taken.
    fn start_series(&mut self, point: &MonitorPoint<'_>, now: Instant) -> Result<(), SessionError<L::Error>> {
        let model = self.model(point.model)?;
        let (center, scale) = model.scaler.stats(point.series_id).map_err(crate::Error::from)?;
        let (center, scale) = (center.to_vec(), scale.to_vec());
        let stream = StreamDetector::new(
            point.series_id,
            model.detector.clone(),
            model.predictor.clone(),
            center.clone(),
            scale.clone(),
        )?;
        self.series.insert(
            point.series_id.to_string(),
            SeriesState {
                model_ref: point.model.to_string(),
                model,
                stream,
                center,
                scale,
                origin: point.timestamp,
                last_seen: now,
                recent: VecDeque::new(),
                alarm_start: None,
            },
        );
        Ok(())
    }

    /// Validate and score one point.
    ///
    /// # Errors
    /// [`SessionError::InvalidPoint`] for a malformed point (the series' state is unchanged),
    /// [`SessionError::TooManySeries`] / [`SessionError::BudgetSpent`] for a new series beyond
    /// the session's / the shared limit, [`SessionError::ModelDeleted`] when a model of this
    /// session was deleted, [`SessionError::Model`] when its model cannot be loaded,
    /// [`SessionError::Detection`] when the model cannot monitor this series.
    pub fn push(&mut self, point: &MonitorPoint<'_>) -> Result<PointReport, SessionError<L::Error>> {
        let (mut reports, refused) = self.push_many(std::slice::from_ref(point));
        match refused {
            Some(e) => Err(e),
            None => reports
                .pop()
                .ok_or_else(|| crate::Error::Internal("a point produced no report".into()).into()),
        }
    }

    /// Validate and score `points` in order, as [`Self::push`] on each would, up to the first
    /// point refused: returns the reports of the points before it and the refusal (`None` when
    /// every point was scored). The model work of the points is batched (**batched stepping**):
    /// consecutive points of distinct series form a wave, validated one by one and then scored
    /// together ([`crate::stream::score_many`]: one model call per stage for all series of a
    /// model), so a stream carrying many series advances them in a few large forwards instead
    /// of one small forward per point. A series' second point in the batch starts a new wave.
    pub fn push_many(
        &mut self,
        points: &[MonitorPoint<'_>],
    ) -> (Vec<PointReport>, Option<SessionError<L::Error>>) {
        let mut reports = Vec::with_capacity(points.len());
        let mut wave: Vec<(String, AcceptedRow)> = Vec::new();
        // The wave's series ids (a wave only grows by a push or empties by a flush).
        let mut in_wave: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for point in points {
            if !wave.is_empty() && in_wave.contains(point.series_id) {
                self.flush(&mut wave, &mut reports);
            }
            match self.accept(point, &mut wave, &mut reports) {
                Ok(row) => {
                    wave.push((point.series_id.to_string(), row));
                    if wave.len() == 1 {
                        in_wave.clear();
                    }
                    in_wave.insert(point.series_id);
                }
                Err(e) => {
                    self.flush(&mut wave, &mut reports);
                    return (reports, Some(e));
                }
            }
        }
        self.flush(&mut wave, &mut reports);
        (reports, None)
    }

    /// Score the accepted rows of `wave` together and append their reports.
    fn flush(&mut self, wave: &mut Vec<(String, AcceptedRow)>, reports: &mut Vec<PointReport>) {
        if wave.is_empty() {
            return;
        }
        // Take the wave's series out of the map so their detectors can be borrowed together.
        let mut taken: Vec<(String, SeriesState)> = wave
            .iter()
            .map(|(id, _)| {
                let s = self
                    .series
                    .remove(id)
                    .expect("an accepted row's series is tracked");
                (id.clone(), s)
            })
            .collect();
        let timestamps: Vec<i64> = wave.iter().map(|(_, row)| row.timestamp()).collect();
        let mut rows: Vec<(&mut StreamDetector, AcceptedRow)> = taken
            .iter_mut()
            .zip(wave.drain(..))
            .map(|((_, s), (_, row))| (&mut s.stream, row))
            .collect();
        let outs = score_many(&mut rows);
        drop(rows);
        for (((id, mut s), out), timestamp) in taken.into_iter().zip(outs).zip(timestamps) {
            reports.push(report(&id, &mut s, timestamp, out));
            self.series.insert(id, s);
        }
    }

    /// Validate one point and take its row into its series' window; the row waits in the wave
    /// to be scored. Anything that may drop series (a deletion, an idle sweep, a full session)
    /// first scores the wave, so no series leaves with a row pending.
    fn accept(
        &mut self,
        point: &MonitorPoint<'_>,
        wave: &mut Vec<(String, AcceptedRow)>,
        reports: &mut Vec<PointReport>,
    ) -> Result<AcceptedRow, SessionError<L::Error>> {
        if self.loader.generation() != self.generation {
            self.flush(wave, reports);
            self.revalidate()?;
        }
        let now = self.clock.now();
        if now.duration_since(self.last_sweep) >= (self.config.idle / 4).max(Duration::from_secs(1)) {
            self.flush(wave, reports);
            self.sweep(now);
        }
        check_series_id(point.series_id, self.config.max_series_id_bytes).map_err(refused)?;
        if !self.series.contains_key(point.series_id) {
            if self.series.len() >= self.config.max_series {
                self.flush(wave, reports);
            }
            self.open_series(point, now)?;
        }
        let s = self
            .series
            .get_mut(point.series_id)
            .ok_or_else(|| crate::Error::Internal("series state vanished".into()))?;
        if !point.model.is_empty() && point.model != s.model_ref {
            return Err(invalid(
                "model",
                format!(
                    "series `{}` is monitored with `{}`; got `{}`",
                    point.series_id, s.model_ref, point.model
                ),
            ));
        }
        let so_far = SeriesSoFar {
            id: point.series_id,
            columns: &s.model.detector.columns,
            center: &s.center,
            scale: &s.scale,
            frequency: s.model.frequency,
            origin: s.origin,
            last: s.stream.last_timestamp(),
        };
        let raw = check_point(&so_far, point.timestamp, point.values).map_err(refused)?;
        let row = s.stream.accept(point.timestamp, &raw)?;
        s.last_seen = now;
        Ok(row)
    }
}

/// The report of a scored point of series `id`.
fn report(id: &str, s: &mut SeriesState, point_timestamp: i64, out: StreamOutput) -> PointReport {
    let det = &s.model.detector;
    let mut report = PointReport {
        series_id: id.to_string(),
        timestamp: point_timestamp,
        score: f64::NAN,
        threshold: s.stream.threshold(),
        variate_scores: Vec::new(),
        alarm: false,
        fired: None,
        event: None,
        warming_up: true,
        model: s.model.resolved.clone(),
    };
    let StreamOutput::Scored(p) = out else {
        return report;
    };
    // Keep enough timestamps to date an alarm opened by a k-of-n rule.
    let keep = det.rules.window.max(1) + 1;
    s.recent.push_back(point_timestamp);
    while s.recent.len() > keep {
        s.recent.pop_front();
    }
    report.score = p.score;
    report.warming_up = p.score.is_nan();
    report.variate_scores = p.per_variate.iter().map(|&v| f64::from(v)).collect();
    report.alarm = p.in_alarm;
    let names = |seg: &AlarmSegment| -> Vec<(String, f64)> {
        seg.top
            .iter()
            .map(|a| {
                let name = det.columns.get(a.variate).cloned().unwrap_or_default();
                (name, f64::from(a.share))
            })
            .collect()
    };
    let previous = s
        .recent
        .len()
        .checked_sub(2)
        .and_then(|i| s.recent.get(i).copied());
    match &p.event {
        Some(AlarmEvent::Opened(seg)) => {
            // Point index of this point is scored − 1; `recent` ends with it.
            let back = s.stream.scored().saturating_sub(1).saturating_sub(seg.start);
            let start_timestamp = usize::try_from(back)
                .ok()
                .and_then(|b| s.recent.len().checked_sub(1 + b))
                .and_then(|i| s.recent.get(i).copied())
                .unwrap_or(point_timestamp);
            s.alarm_start = Some(start_timestamp);
            report.fired = Some(FiredAlarm {
                start_timestamp,
                top_variates: names(seg),
                peak: seg.peak,
            });
            report.event = Some(AlarmReport {
                kind: AlarmEventKind::Opened,
                start_timestamp,
                end_timestamp: point_timestamp,
                peak: seg.peak,
                top_variates: names(seg),
            });
        }
        Some(AlarmEvent::Updated(seg)) => {
            report.event = Some(AlarmReport {
                kind: AlarmEventKind::Updated,
                start_timestamp: s.alarm_start.unwrap_or(point_timestamp),
                end_timestamp: point_timestamp,
                peak: seg.peak,
                top_variates: names(seg),
            });
        }
        Some(AlarmEvent::Closed(seg)) => {
            report.event = Some(AlarmReport {
                kind: AlarmEventKind::Closed,
                start_timestamp: s.alarm_start.take().unwrap_or(point_timestamp),
                end_timestamp: previous.unwrap_or(point_timestamp),
                peak: seg.peak,
                top_variates: names(seg),
            });
        }
        None => {}
    }
    report
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use statecast_pipelines::scale::{ScalerKind, ScalerScope};
    use statecast_pipelines::{Series, TimeFrame};

    use super::*;
    use crate::clock::ManualClock;
    use crate::{DetectorSettings, Error};

    const ROWS: usize = 400;
    const TRAIN_END: usize = 300;
    const MINUTE: i64 = 60_000_000;

    /// A model reference no loader knows.
    #[derive(Debug, thiserror::Error)]
    #[error("model `{0}` not found")]
    struct NotFound(String);

    /// Two smooth variates `a`, `b` of series `s1`.
    fn frame() -> TimeFrame {
        let a: Vec<f32> = (0..ROWS).map(|t| (t as f32 * 0.1).sin()).collect();
        let b: Vec<f32> = (0..ROWS).map(|t| (t as f32 * 0.07).cos() * 2.0 + 1.0).collect();
        TimeFrame {
            columns: vec!["a".into(), "b".into()],
            series: vec![Series {
                id: "s1".into(),
                timestamps: (0..ROWS as i64).map(|t| t * MINUTE).collect(),
                values: vec![a, b],
                labels: None,
            }],
            frequency: None,
        }
    }

    /// `predictor`'s detector fitted on the first [`TRAIN_END`] rows of [`frame`], with a scaler
    /// of `scope` fitted on the same rows.
    fn fitted(predictor: Predictor, scope: ScalerScope, resolved: &str) -> MonitoredModel {
        let mut frame = frame();
        let rows = std::slice::from_ref(&(0..TRAIN_END));
        let scaler = Scaler::fit(&frame, ScalerKind::ZScore, scope, rows).unwrap();
        scaler.transform(&mut frame).unwrap();
        let detector = Detector::fit(
            &predictor,
            &DetectorSettings::default(),
            &frame.columns,
            &[(&frame.series[0], TRAIN_END)],
        )
        .unwrap();
        MonitoredModel {
            resolved: resolved.into(),
            detector: Arc::new(detector),
            predictor: Arc::new(predictor),
            scaler,
            frequency: None,
        }
    }

    /// The raw-value baseline, its scaler of `scope`.
    fn raw_model(scope: ScalerScope) -> MonitoredModel {
        fitted(Predictor::RawValue, scope, "raw@1")
    }

    /// Repeat (L = 8): a registered family other than SpaceTime whose recurrent form
    /// ([`statecast_models::forecaster::Stepper`]) the session runs one step per point.
    fn repeat_model() -> MonitoredModel {
        let device = burn::prelude::Device::flex();
        let model = statecast_models::zoo::ModelFamily::Repeat
            .default_config(8, 3)
            .init(&device)
            .unwrap();
        fitted(
            Predictor::model(model, 3, device),
            ScalerScope::Global,
            "repeat@1",
        )
    }

    /// A small SpaceTime (L = 16, horizon 4): a recurrent model with states to stack. Built
    /// once (its weights are random), so that every session of a test sees the same model.
    fn spacetime_model() -> MonitoredModel {
        static MODEL: std::sync::OnceLock<MonitoredModel> = std::sync::OnceLock::new();
        let m = MODEL.get_or_init(build_spacetime_model);
        MonitoredModel {
            resolved: m.resolved.clone(),
            detector: m.detector.clone(),
            predictor: m.predictor.clone(),
            scaler: m.scaler.clone(),
            frequency: m.frequency,
        }
    }

    fn build_spacetime_model() -> MonitoredModel {
        let device = burn::prelude::Device::flex();
        let config = statecast_models::spacetime::SpaceTimeConfig::new(16, 4)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(2)
            .with_n_kernels(8);
        let model = statecast_models::zoo::AnyModel::SpaceTime(config.init(&device));
        fitted(
            Predictor::model(model, 4, device),
            ScalerScope::Global,
            "spacetime@1",
        )
    }

    fn load(model: &str) -> Result<MonitoredModel, NotFound> {
        match model {
            "repeat" => Ok(repeat_model()),
            "spacetime" => Ok(spacetime_model()),
            "raw" => Ok(raw_model(ScalerScope::Global)),
            "per-series" => Ok(raw_model(ScalerScope::PerSeries)),
            "raw-1m" => Ok(MonitoredModel {
                frequency: Some(Frequency::from_micros(MINUTE)),
                ..raw_model(ScalerScope::Global)
            }),
            other => Err(NotFound(other.into())),
        }
    }

    type Loader = fn(&str) -> Result<MonitoredModel, NotFound>;

    fn session(config: MonitorConfig) -> (MonitorSession<Loader, ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        let loader: Loader = load;
        (MonitorSession::with_clock(loader, config, clock.clone()), clock)
    }

    fn point<'a>(series_id: &'a str, model: &'a str, timestamp: i64, values: &'a [f64]) -> MonitorPoint<'a> {
        MonitorPoint {
            series_id,
            model,
            timestamp,
            values,
        }
    }

    /// The field of an `InvalidPoint`, panicking on anything else.
    fn invalid_field<E: std::fmt::Debug>(r: Result<PointReport, SessionError<E>>) -> String {
        match r {
            Err(SessionError::InvalidPoint { field, .. }) => field,
            other => panic!("expected InvalidPoint, got {other:?}"),
        }
    }

    /// The session runs a non-SpaceTime recurrent model through the generic recurrent path and
    /// its scores equal the batch scores of the same rows, row by row.
    #[test]
    fn a_recurrent_repeat_model_scores_as_in_batch() {
        let monitored = repeat_model();
        assert!(monitored.predictor.is_recurrent() && monitored.detector.recurrent);
        let mut scaled = frame();
        monitored.scaler.transform(&mut scaled).unwrap();
        let batch = monitored
            .detector
            .score_series(&monitored.predictor, &scaled.series[0], 64)
            .unwrap();
        let (mut s, _) = session(MonitorConfig::default());
        let raw = frame();
        let mut scored = 0;
        for t in 0..ROWS {
            let values: Vec<f64> = raw.series[0].values.iter().map(|c| f64::from(c[t])).collect();
            let r = s
                .push(&point("s1", "repeat", raw.series[0].timestamps[t], &values))
                .unwrap();
            if !r.warming_up {
                // The session scales the client's f64 values, the batch path the file's f32
                // frame: the inputs differ in the last bits (and Repeat scores differences of
                // consecutive rows, which amplify them), hence 1e-4.
                let b = batch.score[t];
                assert!(
                    (r.score - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "row {t}: stream {} batch {b}",
                    r.score
                );
                scored += 1;
            }
        }
        assert!(scored > ROWS / 2, "{scored} rows scored");
    }

    /// Batched stepping: several series interleaved on one stream and pushed in batches of
    /// uneven sizes (a series' second point in a batch starts a new wave) get the reports that
    /// pushing every point alone gives, score by score; a refused point in a batch stops it there
    /// with the points before it scored.
    #[test]
    fn batches_of_points_score_as_points_pushed_one_by_one() {
        const SERIES: usize = 5;
        let raw = frame();
        let values = |s: usize, t: usize| -> Vec<f64> {
            raw.series[0]
                .values
                .iter()
                .map(|c| f64::from(c[(t + 37 * s) % ROWS]) * (1.0 + 0.1 * s as f64))
                .collect()
        };
        let ids: Vec<String> = (0..SERIES).map(|s| format!("s{s}")).collect();
        let rows = 60;
        let all: Vec<(usize, usize, Vec<f64>)> = (0..rows)
            .flat_map(|t| (0..SERIES).map(move |s| (s, t)))
            .map(|(s, t)| (s, t, values(s, t)))
            .collect();
        let points: Vec<MonitorPoint<'_>> = all
            .iter()
            .map(|(s, t, v)| {
                point(
                    &ids[*s],
                    if *t == 0 { "spacetime" } else { "" },
                    *t as i64 * MINUTE,
                    v,
                )
            })
            .collect();
        let (mut alone, _) = session(MonitorConfig::default());
        let want: Vec<PointReport> = points.iter().map(|p| alone.push(p).unwrap()).collect();
        let (mut batched, _) = session(MonitorConfig::default());
        let mut got = Vec::new();
        let mut at = 0;
        for size in [1usize, 3, 5, 7, 2, 13, 64].into_iter().cycle() {
            if at >= points.len() {
                break;
            }
            let end = (at + size).min(points.len());
            let (reports, refused) = batched.push_many(&points[at..end]);
            assert!(refused.is_none(), "{refused:?}");
            got.extend(reports);
            at = end;
        }
        assert_eq!(got.len(), want.len());
        let mut scored = 0;
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (&g.series_id, g.timestamp, g.warming_up),
                (&w.series_id, w.timestamp, w.warming_up)
            );
            assert_eq!(g.alarm, w.alarm, "{} at {}", g.series_id, g.timestamp);
            if !w.warming_up {
                assert!(
                    (g.score - w.score).abs() <= 1e-5 * (1.0 + w.score.abs()),
                    "{} at {}: batched {} alone {}",
                    g.series_id,
                    g.timestamp,
                    g.score,
                    w.score
                );
                scored += 1;
            }
        }
        assert!(scored > SERIES * 10, "{scored} points scored");

        // A refused point (a timestamp going back) ends the batch: the points before it scored.
        let t = rows as i64 * MINUTE;
        let (v0, v1) = (values(0, rows), values(1, rows));
        let batch = [
            point(&ids[0], "", t, &v0),
            point(&ids[1], "", t - 2 * MINUTE, &v1),
            point(&ids[2], "", t, &v1),
        ];
        let (reports, refused) = batched.push_many(&batch);
        assert_eq!(reports.len(), 1);
        assert!(
            matches!(refused, Some(SessionError::InvalidPoint { ref field, .. }) if field == "timestamp")
        );
    }

    #[test]
    fn scores_points_and_fires_an_alarm_naming_the_spiking_variate() {
        let (mut s, _) = session(MonitorConfig::default());
        let first = s.push(&point("s1", "raw", 0, &[0.0, 1.0])).unwrap();
        assert_eq!(first.model, "raw@1");
        assert_eq!(first.series_id, "s1");
        for t in 1..50 {
            let r = s.push(&point("s1", "", t * MINUTE, &[0.0, 1.0])).unwrap();
            assert!(r.fired.is_none(), "row {t}: {r:?}");
        }
        let r = s.push(&point("s1", "raw", 50 * MINUTE, &[0.0, 500.0])).unwrap();
        assert!(!r.warming_up && r.alarm && r.score > r.threshold, "{r:?}");
        assert_eq!(r.variate_scores.len(), 2);
        let fired = r.fired.expect("a single flag opens an alarm by default");
        assert_eq!(fired.start_timestamp, 50 * MINUTE);
        assert_eq!(fired.top_variates[0].0, "b");
        assert_eq!(s.series_count(), 1);
    }

    #[test]
    fn refuses_each_kind_of_malformed_point_and_keeps_the_series() {
        let (mut s, _) = session(MonitorConfig::default());
        assert_eq!(
            invalid_field(s.push(&point("", "raw", 0, &[0.0, 0.0]))),
            "series_id"
        );
        let Err(e) = s.push(&point("s1", "", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "invalid argument `model`: required on the first point of series `s1`"
        );
        s.push(&point("s1", "raw", 10, &[0.0, 0.0])).unwrap();
        assert_eq!(
            invalid_field(s.push(&point("s1", "per-series", 11, &[0.0, 0.0]))),
            "model"
        );
        let Err(e) = s.push(&point("s1", "", 11, &[0.0])) else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "invalid argument `values`: 1 values, the model has 2 variates (a, b)"
        );
        assert_eq!(
            invalid_field(s.push(&point("s1", "", 11, &[0.0, f64::NAN]))),
            "values[1]"
        );
        assert_eq!(
            invalid_field(s.push(&point("s1", "", 11, &[f64::INFINITY, 0.0]))),
            "values[0]"
        );
        assert_eq!(
            invalid_field(s.push(&point("s1", "", 10, &[0.0, 0.0]))),
            "timestamp"
        );
        assert_eq!(
            invalid_field(s.push(&point("s1", "", 9, &[0.0, 0.0]))),
            "timestamp"
        );
        // None of the refusals touched the series: the next valid point scores.
        s.push(&point("s1", "", 11, &[0.0, 0.0])).unwrap();
        assert_eq!(s.series_count(), 1);
    }

    #[test]
    fn bounds_the_series_count_until_idle_series_expire() {
        let config = MonitorConfig {
            max_series: 2,
            idle: Duration::from_secs(60),
            ..MonitorConfig::default()
        };
        let (mut s, clock) = session(config);
        s.push(&point("s1", "raw", 0, &[0.0, 0.0])).unwrap();
        s.push(&point("s2", "raw", 0, &[0.0, 0.0])).unwrap();
        let Err(e) = s.push(&point("s3", "raw", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert!(matches!(e, SessionError::TooManySeries { monitored: 2 }), "{e:?}");
        assert!(e.to_string().contains("already monitors 2 series"), "{e}");
        // s1 stays active; s2 goes idle, which frees its place for s3.
        clock.advance(Duration::from_secs(40));
        s.push(&point("s1", "", 1, &[0.0, 0.0])).unwrap();
        clock.advance(Duration::from_secs(30));
        s.push(&point("s3", "raw", 0, &[0.0, 0.0])).unwrap();
        assert_eq!(s.series_count(), 2);
    }

    #[test]
    fn an_idle_series_expires_and_starts_afresh() {
        let config = MonitorConfig {
            max_series: 10,
            idle: Duration::from_secs(60),
            ..MonitorConfig::default()
        };
        let (mut s, clock) = session(config);
        s.push(&point("s1", "raw", 1000, &[0.0, 0.0])).unwrap();
        clock.advance(Duration::from_secs(59));
        // Still tracked: an earlier timestamp is refused and a point without a model is accepted.
        assert_eq!(
            invalid_field(s.push(&point("s1", "", 500, &[0.0, 0.0]))),
            "timestamp"
        );
        s.push(&point("s1", "", 1001, &[0.0, 0.0])).unwrap();
        clock.advance(Duration::from_secs(60));
        // Expired: the series needs its model again and its timestamps start over.
        assert_eq!(invalid_field(s.push(&point("s1", "", 500, &[0.0, 0.0]))), "model");
        assert_eq!(s.series_count(), 0);
        s.push(&point("s1", "raw", 500, &[0.0, 0.0])).unwrap();
    }

    #[test]
    fn loads_each_model_once_and_passes_loader_and_scaler_errors_through() {
        let loads = Cell::new(0);
        let loader = |m: &str| {
            loads.set(loads.get() + 1);
            load(m)
        };
        let mut s = MonitorSession::with_clock(loader, MonitorConfig::default(), ManualClock::new());
        s.push(&point("s1", "raw", 0, &[0.0, 0.0])).unwrap();
        s.push(&point("s2", "raw", 0, &[0.0, 0.0])).unwrap();
        assert_eq!(loads.get(), 1);
        let Err(e) = s.push(&point("s3", "nope", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert!(
            matches!(&e, SessionError::Model(NotFound(m)) if m == "nope"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "model `nope` not found");
        // A per-series scaler has no statistics for a series it was not fitted on.
        let Err(e) = s.push(&point("unseen", "per-series", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert!(matches!(e, SessionError::Detection(Error::Data(_))), "{e:?}");
        assert_eq!(s.series_count(), 2);
    }

    #[test]
    fn series_ids_are_bounded_in_length() {
        let config = MonitorConfig {
            max_series_id_bytes: 8,
            ..MonitorConfig::default()
        };
        let (mut s, _) = session(config);
        s.push(&point("12345678", "raw", 0, &[0.0, 0.0])).unwrap();
        let Err(e) = s.push(&point("123456789", "raw", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "invalid argument `series_id`: 9 bytes long; at most 8 are allowed"
        );
        // A megabyte id is refused by its length, before any state is kept for it.
        let long = "x".repeat(1 << 20);
        assert_eq!(
            invalid_field(s.push(&point(&long, "raw", 0, &[0.0, 0.0]))),
            "series_id"
        );
        assert_eq!(s.series_count(), 1);
    }

    #[test]
    fn the_series_budget_is_shared_by_sessions_and_given_back() {
        let budget = SeriesBudget::new(2);
        let (a, _) = session(MonitorConfig::default());
        let (b, clock_b) = session(MonitorConfig {
            idle: Duration::from_secs(60),
            ..MonitorConfig::default()
        });
        let (mut a, mut b) = (a.with_budget(budget.clone()), b.with_budget(budget.clone()));
        a.push(&point("s1", "raw", 0, &[0.0, 0.0])).unwrap();
        b.push(&point("s1", "raw", 0, &[0.0, 0.0])).unwrap();
        // Known series keep scoring; a new one in either session is refused.
        b.push(&point("s1", "", 1, &[0.0, 0.0])).unwrap();
        let Err(e) = b.push(&point("s2", "raw", 0, &[0.0, 0.0])) else {
            panic!()
        };
        assert!(matches!(e, SessionError::BudgetSpent { limit: 2 }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the server already monitors 2 series over all streams (its limit); retry later"
        );
        // The budget is checked before any model is loaded.
        assert!(matches!(
            a.push(&point("s3", "nope", 0, &[0.0, 0.0])),
            Err(SessionError::BudgetSpent { .. })
        ));
        assert_eq!(budget.in_use(), 2);
        // Ending a session gives its series back.
        drop(a);
        assert_eq!(budget.in_use(), 1);
        b.push(&point("s2", "raw", 0, &[0.0, 0.0])).unwrap();
        assert_eq!(budget.in_use(), 2);
        // So does an idle sweep.
        clock_b.advance(Duration::from_secs(61));
        let (c, _) = session(MonitorConfig::default());
        let mut c = c.with_budget(budget.clone());
        assert!(c.push(&point("s9", "raw", 0, &[0.0, 0.0])).is_err());
        b.push(&point("s3", "raw", 0, &[0.0, 0.0])).unwrap();
        assert_eq!((b.series_count(), budget.in_use()), (1, 1));
        c.push(&point("s9", "raw", 0, &[0.0, 0.0])).unwrap();
        // A failed open (a scaler without this series) gives its unit back.
        drop(b);
        assert!(c.push(&point("unseen", "per-series", 0, &[0.0, 0.0])).is_err());
        assert!(matches!(
            c.push(&point("s4", "nope", 0, &[0.0, 0.0])),
            Err(SessionError::Model(_))
        ));
        assert_eq!(budget.in_use(), 1);
    }

    #[test]
    fn points_off_the_model_grid_are_refused() {
        let (mut s, _) = session(MonitorConfig::default());
        let origin = 7;
        s.push(&point("s1", "raw-1m", origin, &[0.0, 0.0])).unwrap();
        s.push(&point("s1", "", origin + MINUTE, &[0.0, 0.0])).unwrap();
        let Err(e) = s.push(&point("s1", "", origin + 2 * MINUTE + 1, &[0.0, 0.0])) else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "invalid argument `timestamp`: 120000008 is not on the model's 1min grid: series `s1` \
             started at 7, so its points must be a whole number of periods after it"
        );
        // Gaps of whole periods are fine; a model without a frequency accepts any later time.
        s.push(&point("s1", "", origin + 5 * MINUTE, &[0.0, 0.0]))
            .unwrap();
        s.push(&point("s2", "raw", 0, &[0.0, 0.0])).unwrap();
        s.push(&point("s2", "", 12_345, &[0.0, 0.0])).unwrap();
        // Near the end of time the grid arithmetic does not wrap.
        s.push(&point("s3", "raw-1m", i64::MIN, &[0.0, 0.0])).unwrap();
        assert_eq!(
            invalid_field(s.push(&point("s3", "", i64::MAX, &[0.0, 0.0]))),
            "timestamp"
        );
    }

    #[test]
    fn values_too_large_to_score_are_refused_before_scoring() {
        let (mut s, _) = session(MonitorConfig::default());
        s.push(&point("s1", "raw", 0, &[0.0, 1.0])).unwrap();
        for (values, field) in [
            ([0.0, 3.4e38], "values[1]"), // fits f32, but not once scaled and squared
            ([1e300, 0.0], "values[0]"),  // does not fit f32 at all
            ([-3.4e38, 0.0], "values[0]"),
        ] {
            let Err(e) = s.push(&point("s1", "", 1, &values)) else {
                panic!("{values:?} accepted")
            };
            assert!(e.to_string().contains("training standard deviations"), "{e}");
            assert_eq!(invalid_field::<NotFound>(Err(e)), field);
        }
        // Large but plausible outliers still score (and raise an alarm).
        let r = s.push(&point("s1", "", 1, &[0.0, 1e6])).unwrap();
        assert!(r.score.is_finite() || r.warming_up, "{r:?}");
    }

    /// A loader whose models can be deleted: `generation` moves on a deletion.
    struct Deletable {
        generation: Cell<u64>,
        deleted: Cell<bool>,
    }

    impl ModelLoader for &Deletable {
        type Error = NotFound;

        fn load(&self, model: &str) -> Result<MonitoredModel, NotFound> {
            load(model)
        }

        fn generation(&self) -> u64 {
            self.generation.get()
        }

        fn exists(&self, _model: &MonitoredModel) -> Result<bool, NotFound> {
            Ok(!self.deleted.get())
        }
    }

    #[test]
    fn a_deleted_model_stops_its_series_at_the_next_point() {
        let loader = Deletable {
            generation: Cell::new(0),
            deleted: Cell::new(false),
        };
        let budget = SeriesBudget::new(10);
        let mut s = MonitorSession::with_clock(&loader, MonitorConfig::default(), ManualClock::new())
            .with_budget(budget.clone());
        s.push(&point("s1", "raw", 0, &[0.0, 0.0])).unwrap();
        s.push(&point("s2", "raw", 0, &[0.0, 0.0])).unwrap();
        // Another model was deleted: the generation moves, this one still exists.
        loader.generation.set(1);
        s.push(&point("s1", "", 1, &[0.0, 0.0])).unwrap();
        loader.deleted.set(true);
        // No new deletion: the model is not asked about again (cheap per point).
        s.push(&point("s1", "", 2, &[0.0, 0.0])).unwrap();
        loader.generation.set(2);
        let Err(e) = s.push(&point("s1", "", 3, &[0.0, 0.0])) else {
            panic!()
        };
        assert!(
            matches!(&e, SessionError::ModelDeleted { model } if model == "raw@1"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "model `raw@1` was deleted; its series can no longer be monitored"
        );
        assert_eq!((s.series_count(), budget.in_use()), (0, 0));
    }
}
