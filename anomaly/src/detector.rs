//! The fitted detector and the per-point scorer that both the batch path ([`Detector::score_series`])
//! and the streaming monitor ([`super::stream`]) run, so a file scored in batch and the same file
//! streamed point by point give the same scores, labels and alarms.
//!
//! Fitting never learns from labels, but it does not learn from labelled incidents either: rows
//! within [`Detector::exclusion_margin`] after a labelled row of the fit data are left out. The
//! [`CrossModel`] and the [`Normaliser`] are fitted on the remaining training rows, the
//! [`Calibration`] and the [`Threshold`] on the remaining validation rows that follow them. All
//! three fits are robust (medians, MADs, a trimmed tail), so unlabelled incidents in the history
//! move them little.
use std::path::Path;

use serde::{Deserialize, Serialize};
use statecast_pipelines::Series;

use super::alarms::{AlarmEvent, AlarmRules, AlarmSegment, AlarmState};
use super::cross::CrossModel;
use super::features::{Component, FeatureConfig, FeatureInputs, FeatureState, MAX_DRIFT_LAG};
use super::normalise::{Aggregate, Calibration, Normaliser};
use super::predict::{Predictor, WindowOutput};
use super::threshold::{Threshold, ThresholdMethod};
use crate::{Error, Result};

/// Settings for fitting a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    /// Forecast steps `K` of the short-horizon residual (clamped to the model's horizon).
    pub steps: usize,
    /// Aggregation over variates.
    pub aggregate: Aggregate,
    /// Threshold on the calibrated score.
    pub threshold: ThresholdMethod,
    /// Alarm rules.
    pub rules: AlarmRules,
    /// Windows per forward pass in batch scoring.
    pub batch: usize,
    /// Score SpaceTime with a forward pass over every window instead of its recurrent state
    /// (`O(L)` per point; for comparison with the published window protocol).
    #[serde(default)]
    pub window_scoring: bool,
    /// Forecast lag `D` of the drift component (clamped to the model's horizon and
    /// [`MAX_DRIFT_LAG`]; 0 = no drift component).
    #[serde(default = "default_drift_lag")]
    pub drift_lag: usize,
    /// Fit the cross-variate predictor and score its residual (multivariate data).
    #[serde(default = "default_true")]
    pub cross: bool,
    /// Score the difference from the value one day earlier, where the day is short enough
    /// ([`crate::features::MAX_SEASON_FLOATS`]). Off by default: over six simulated fleets it
    /// caught slow drifts on some and, on others, its heavy validation tail raised the threshold
    /// until one incident in six was caught (BENCHMARKS.md §9).
    #[serde(default)]
    pub seasonal: bool,
    /// Also fit a calibration (location and spread of the aggregate score) per series that has
    /// at least [`MIN_SERIES_SCORES`] validation scores, so each machine is held to the same
    /// tail probability whatever its noise; other series, and series unknown at fitting, use
    /// the fleet's.
    #[serde(default = "default_true")]
    pub per_series: bool,
}

/// Validation scores a series needs for its own calibration and threshold.
pub const MIN_SERIES_SCORES: usize = 500;

/// The calibration and threshold of one series of the fit data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesThreshold {
    /// Series id.
    pub id: String,
    /// Calibration of its aggregate scores.
    pub calibration: Calibration,
    /// Threshold on its calibrated scores.
    pub threshold: Threshold,
}

fn default_drift_lag() -> usize {
    MAX_DRIFT_LAG
}

fn default_true() -> bool {
    true
}

impl DetectorSettings {
    /// Forecast steps the predictor must keep for these settings: `max(steps, drift_lag)`.
    pub fn forecast_steps(&self) -> usize {
        self.steps.max(self.drift_lag)
    }
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            steps: 4,
            aggregate: Aggregate::Max,
            threshold: ThresholdMethod::default(),
            rules: AlarmRules::default(),
            batch: 256,
            window_scoring: false,
            drift_lag: MAX_DRIFT_LAG,
            cross: true,
            seasonal: false,
            per_series: true,
        }
    }
}

/// Everything fitted: apply with a [`Predictor`] of the same look-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Variate names, in order.
    pub columns: Vec<String>,
    /// Look-back of the predictor it was fitted with.
    pub lookback: usize,
    /// Feature settings.
    pub features: FeatureConfig,
    /// Training statistics of the features.
    pub normaliser: Normaliser,
    /// Validation calibration of the aggregate.
    pub calibration: Calibration,
    /// Threshold on the calibrated score.
    pub threshold: Threshold,
    /// Alarm rules.
    pub rules: AlarmRules,
    /// Fitted on a recurrent predictor ([`Predictor::is_recurrent`]); apply it in the same mode.
    /// Detectors saved before this field existed were fitted on windows.
    #[serde(default)]
    pub recurrent: bool,
    /// Cross-variate predictor (when the features read its residual).
    #[serde(default)]
    pub cross: Option<CrossModel>,
    /// Per-series calibrations and thresholds (series with enough validation rows).
    #[serde(default)]
    pub series: Vec<SeriesThreshold>,
}

/// The result of one point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointResult {
    /// Calibrated aggregate score (NaN during warm-up).
    pub score: f64,
    /// Aggregate before calibration.
    pub raw: f32,
    /// Per-variate scores, [variates].
    pub per_variate: Vec<f32>,
    /// Score above the threshold.
    pub flagged: bool,
    /// Inside an alarm.
    pub in_alarm: bool,
    /// Alarm opened or closed here.
    pub event: Option<AlarmEvent>,
}

/// Per-series scoring state: features, then normalise → calibrate → threshold → alarm rules.
/// O(variates × K²) work and fixed memory per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointScorer {
    features: FeatureState,
    alarms: AlarmState,
    calibration: Calibration,
    threshold: f64,
}

impl PointScorer {
    /// A fresh state for series `id` under `det` (the series' own calibration and threshold
    /// when the detector has them).
    pub fn new(det: &Detector, id: &str) -> Self {
        let nv = det.columns.len();
        let lags = det.cross.as_ref().map_or(1, |c| c.lags);
        let (calibration, threshold) = det.calibration_for(id);
        Self {
            features: FeatureState::new(det.features.clone(), nv, lags),
            alarms: AlarmState::new(det.rules, nv),
            calibration,
            threshold,
        }
    }

    /// The threshold this series is held to.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Score row `x_v` (scaled) given the model output of the window ending at it.
    pub fn update(&mut self, det: &Detector, x_v: &[f32], out: &WindowOutput) -> PointResult {
        let f = self.features.update(x_v, out, det.cross.as_ref());
        let ps = det.normaliser.score(&f);
        let score = if ps.aggregate.is_nan() {
            f64::NAN
        } else {
            self.calibration.apply(f64::from(ps.aggregate))
        };
        // NaN (warm-up) is never flagged but still advances the alarm clock.
        let (in_alarm, event) = self.alarms.update(score, self.threshold, &ps.attribution);
        PointResult {
            score,
            raw: ps.aggregate,
            flagged: score > self.threshold,
            in_alarm,
            event,
            per_variate: ps.per_variate,
        }
    }

    /// Close the open alarm at the end of the data.
    pub fn finish(&mut self) -> Option<AlarmSegment> {
        self.alarms.finish()
    }
}

/// Batch scores of one series, one entry per row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesScores {
    /// Series id.
    pub id: String,
    /// Calibrated scores, [time] (NaN for the first `lookback − 1` rows).
    pub score: Vec<f64>,
    /// Per-variate scores, [time][variates].
    pub per_variate: Vec<Vec<f32>>,
    /// Flags (score above threshold), [time].
    pub flagged: Vec<bool>,
    /// Alarm labels, [time].
    pub in_alarm: Vec<bool>,
    /// Alarm segments (row indices of this series).
    pub segments: Vec<AlarmSegment>,
}

/// Raw features of every row of `series` (scaled values), `None` for the first `L − 1` rows.
///
/// # Shapes
/// - returns [time] × ([variates × components] or `None`)
pub fn series_features(
    predictor: &Predictor,
    features: &FeatureConfig,
    cross: Option<&CrossModel>,
    series: &Series,
    batch: usize,
) -> Vec<Option<Vec<f32>>> {
    let lags = cross.map_or(1, |c| c.lags);
    let mut state = FeatureState::new(features.clone(), series.n_variates(), lags);
    let mut out = vec![None; series.len()];
    for_each_output(predictor, &features.needed_steps(), series, batch, |t, x, o| {
        out[t] = Some(state.update(x, o, cross));
    });
    out
}

/// Rows per day of a series, from its median timestamp step (0 when unknown or not a whole
/// number of rows).
pub fn rows_per_day(series: &Series) -> usize {
    const DAY: i64 = 86_400_000_000;
    let mut steps: Vec<i64> = series.timestamps.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return 0;
    }
    steps.sort_unstable();
    let step = steps[steps.len() / 2];
    if step <= 0 || DAY % step != 0 {
        return 0;
    }
    usize::try_from(DAY / step).unwrap_or(0)
}

/// Row-major copy of a series' values, [time][variates].
fn rows_of(series: &Series) -> Vec<Vec<f32>> {
    (0..series.len())
        .map(|t| series.values.iter().map(|c| c[t]).collect())
        .collect()
}

/// Rows a fit may learn from: not within `margin` rows after a labelled row (a labelled
/// incident disturbs the features of the rows whose window or running averages still hold it).
/// All rows when the series has no labels.
pub fn usable_rows(series: &Series, margin: usize) -> Vec<bool> {
    let n = series.len();
    let Some(labels) = &series.labels else {
        return vec![true; n];
    };
    let mut last: Option<usize> = None;
    (0..n)
        .map(|t| {
            if labels.get(t).is_some_and(|&l| l != 0) {
                last = Some(t);
            }
            last.is_none_or(|l| t - l > margin)
        })
        .collect()
}

/// Run `predictor` over every window of `series` in batches and call `f(t, x_t, output)` for
/// `t = L−1 ..` in order. A recurrent predictor computes only the forecast steps `needed`.
fn for_each_output(
    predictor: &Predictor,
    needed: &[usize],
    series: &Series,
    batch: usize,
    mut f: impl FnMut(usize, &[f32], &WindowOutput),
) {
    let (l, nv, n) = (predictor.lookback(), series.n_variates(), series.len());
    if n < l {
        return;
    }
    // Row-major copy, [time, variates].
    let rows: Vec<f32> = (0..n)
        .flat_map(|t| series.values.iter().map(move |c| c[t]))
        .collect();
    if let Some(mut state) = predictor
        .recurrent_series(nv)
        .map(|r| r.with_needed_steps(needed))
    {
        // The streaming state machine, row by row (outputs from row L−1 on, as below).
        for (t, x) in rows.chunks_exact(nv).enumerate() {
            if let Some(o) = predictor.push_recurrent(&mut state, x) {
                f(t, x, &o);
            }
        }
        return;
    }
    let ends: Vec<usize> = (l - 1..n).collect();
    for chunk in ends.chunks(batch.max(1)) {
        let mut win = Vec::with_capacity(chunk.len() * l * nv);
        if matches!(predictor, Predictor::Model { .. }) {
            for &t in chunk {
                win.extend_from_slice(&rows[(t + 1 - l) * nv..(t + 1) * nv]);
            }
        }
        let outs = predictor.run(&win, chunk.len(), nv);
        for (&t, o) in chunk.iter().zip(&outs) {
            f(t, &rows[t * nv..(t + 1) * nv], o);
        }
    }
}

impl Detector {
    /// Fit on scaled series: rows `[0, train_end)` of each fit the normaliser, rows
    /// `[train_end, len)` the calibration and threshold. `parts` = (series, train_end).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for bad settings, too few rows or too few validation scores.
    pub fn fit(
        predictor: &Predictor,
        settings: &DetectorSettings,
        columns: &[String],
        parts: &[(&Series, usize)],
    ) -> Result<Self> {
        settings.rules.validate()?;
        let nv = columns.len();
        let margin = Self::exclusion_margin(predictor.lookback());
        let usable: Vec<Vec<bool>> = parts.iter().map(|(s, _)| usable_rows(s, margin)).collect();
        let cross = if settings.cross && predictor.steps() > 0 {
            let fit_rows: Vec<(Vec<Vec<f32>>, Vec<bool>)> = parts
                .iter()
                .zip(&usable)
                .map(|(&(s, train_end), u)| {
                    let ok = u.iter().enumerate().map(|(t, &ok)| ok && t < train_end).collect();
                    (rows_of(s), ok)
                })
                .collect();
            CrossModel::fit(&fit_rows, nv)?
        } else {
            None
        };
        let features = FeatureConfig::for_inputs(FeatureInputs {
            forecast_steps: predictor.steps().min(settings.forecast_steps()),
            short_steps: settings.steps,
            reconstruction: predictor.has_reconstruction(),
            cross: cross.is_some(),
            rows_per_day: if settings.seasonal {
                parts.first().map_or(0, |(s, _)| rows_per_day(s))
            } else {
                0
            },
            n_variates: nv,
        });
        let features = if settings.drift_lag == 0 {
            FeatureConfig {
                components: features
                    .components
                    .into_iter()
                    .filter(|c| *c != Component::Drift)
                    .collect(),
                drift_lag: 0,
                ..features
            }
        } else {
            features
        };
        let nc = features.n_components();
        let mut train = Vec::new();
        let mut val = Vec::new();
        // Validation rows of each part: `val[val_of[i]]`.
        let mut val_of: Vec<std::ops::Range<usize>> = Vec::new();
        for (&(s, train_end), u) in parts.iter().zip(&usable) {
            let first = val.len();
            // Training rows: one pass over the series from its start.
            let head = s.slice(0..train_end.min(s.len()));
            for (t, f) in series_features(predictor, &features, cross.as_ref(), &head, settings.batch)
                .into_iter()
                .enumerate()
            {
                if let Some(f) = f
                    && u[t]
                {
                    train.push(f);
                }
            }
            // Validation rows: scored as a new stream that starts a look-back before them, the
            // way a monitored series or a test file is scored. Their running averages are as
            // young as a stream's, not settled by the whole training stretch, so the threshold
            // is calibrated on the scores streams actually see.
            let start = train_end.saturating_sub(predictor.lookback());
            let tail = s.slice(start..s.len());
            for (k, f) in series_features(predictor, &features, cross.as_ref(), &tail, settings.batch)
                .into_iter()
                .enumerate()
            {
                let t = start + k;
                if let Some(f) = f
                    && u[t]
                    && t >= train_end
                {
                    val.push(f);
                }
            }
            val_of.push(first..val.len());
        }
        let mut normaliser = Normaliser::fit(train.iter().map(Vec::as_slice), nv, nc, settings.aggregate)?;
        normaliser.shared = features
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c,
                    Component::CrossResidual | Component::CrossVariance | Component::CrossLevel
                )
            })
            .map(|(i, _)| i)
            .collect();
        normaliser.upper_only = features
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c,
                    Component::CrossResidual | Component::CrossVariance | Component::ResidualVariance
                )
            })
            .map(|(i, _)| i)
            .collect();
        let raw: Vec<f64> = val
            .iter()
            .map(|f| f64::from(normaliser.score(f).aggregate))
            .collect();
        if raw.iter().filter(|x| x.is_finite()).count() < 20 {
            return Err(Error::InvalidArgument {
                field: "validation".into(),
                reason: format!(
                    "only {} validation rows have a score outside labelled incidents; need ≥ 20",
                    raw.iter().filter(|x| x.is_finite()).count()
                ),
            });
        }
        let calibration = Calibration::fit(&raw)?;
        let z: Vec<f64> = raw.iter().map(|&a| calibration.apply(a)).collect();
        let threshold = Threshold::fit(settings.threshold, &z)?;
        let mut series = Vec::new();
        if settings.per_series && parts.len() > 1 {
            for (&(s, _), range) in parts.iter().zip(&val_of) {
                let own = &raw[range.clone()];
                if own.iter().filter(|x| x.is_finite()).count() < MIN_SERIES_SCORES {
                    continue;
                }
                // The series' own location and spread; the threshold in calibrated units (the
                // tail's shape) stays the fleet's, fitted on far more scores: a tail fitted on
                // one machine's few hundred validation rows came out a third lower on a calm
                // stretch and raised false alarms.
                series.push(SeriesThreshold {
                    id: s.id.clone(),
                    calibration: Calibration::fit(own)?,
                    threshold,
                });
            }
        }
        Ok(Self {
            columns: columns.to_vec(),
            lookback: predictor.lookback(),
            features,
            normaliser,
            calibration,
            threshold,
            rules: settings.rules,
            recurrent: predictor.is_recurrent(),
            cross,
            series,
        })
    }

    /// The calibration and threshold value series `id` is scored with: its own when it had
    /// enough validation rows at fitting, else the fleet's.
    pub fn calibration_for(&self, id: &str) -> (Calibration, f64) {
        self.series
            .iter()
            .find(|s| s.id == id)
            .map_or((self.calibration, self.threshold.value), |s| {
                (s.calibration, s.threshold.value)
            })
    }

    /// Rows after a labelled row that fitting skips, for look-back `l`: the window (`l` rows)
    /// plus the memory of the slowest running average (`2/α` rows at α = 0.05).
    pub fn exclusion_margin(l: usize) -> usize {
        l + 40
    }

    /// The same detector with another threshold value (e.g. the ratio convention), for every
    /// series.
    pub fn with_threshold(&self, value: f64) -> Self {
        let mut d = self.clone();
        d.series.clear();
        d.threshold = Threshold {
            method: ThresholdMethod::Fixed { value },
            value,
            gpd: None,
        };
        d
    }

    /// [`Error::InvalidArgument`] unless `predictor` runs in the mode (recurrent or windowed) this
    /// detector was fitted in: the two give different residuals.
    pub fn check_mode(&self, predictor: &Predictor) -> Result<()> {
        if predictor.is_recurrent() == self.recurrent {
            return Ok(());
        }
        let mode = |r: bool| if r { "recurrent" } else { "windowed" };
        Err(Error::InvalidArgument {
            field: "detector".into(),
            reason: format!(
                "fitted on a {} predictor, applied with a {} one",
                mode(self.recurrent),
                mode(predictor.is_recurrent())
            ),
        })
    }

    /// Score every row of `series` (scaled) in batch.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the predictor's look-back or the variate count differ
    /// from the detector's.
    pub fn score_series(&self, predictor: &Predictor, series: &Series, batch: usize) -> Result<SeriesScores> {
        if predictor.lookback() != self.lookback || series.n_variates() != self.columns.len() {
            return Err(Error::InvalidArgument {
                field: "detector".into(),
                reason: format!(
                    "fitted for look-back {} and {} variates, got {} and {}",
                    self.lookback,
                    self.columns.len(),
                    predictor.lookback(),
                    series.n_variates()
                ),
            });
        }
        self.check_mode(predictor)?;
        let n = series.len();
        let nv = self.columns.len();
        let mut r = SeriesScores {
            id: series.id.clone(),
            score: vec![f64::NAN; n],
            per_variate: vec![vec![0.0; nv]; n],
            flagged: vec![false; n],
            in_alarm: vec![false; n],
            segments: Vec::new(),
        };
        let mut scorer = PointScorer::new(self, &series.id);
        let offset = self.lookback as u64 - 1;
        for_each_output(
            predictor,
            &self.features.needed_steps(),
            series,
            batch,
            |t, x, o| {
                let p = scorer.update(self, x, o);
                r.score[t] = p.score;
                r.flagged[t] = p.flagged;
                r.in_alarm[t] = p.in_alarm;
                if let Some(AlarmEvent::Closed(mut seg)) = p.event {
                    seg.start += offset;
                    seg.end += offset;
                    r.segments.push(seg);
                }
                r.per_variate[t] = p.per_variate;
            },
        );
        if let Some(mut seg) = scorer.finish() {
            seg.start += offset;
            seg.end += offset;
            r.segments.push(seg);
        }
        Ok(r)
    }

    /// Write as JSON.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(path, json).map_err(|source| Error::Io {
            context: format!("writing {}", path.display()),
            source,
        })
    }

    /// Read from JSON.
    ///
    /// # Errors
    /// I/O and parse errors naming the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::InvalidArgument {
            field: "detector".into(),
            reason: format!("{}: {e}", path.display()),
        })
    }
}
