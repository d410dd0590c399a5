//! The fitted detector and the per-point scorer that both the batch path ([`Detector::score_series`])
//! and the streaming monitor ([`super::stream`]) run, so a file scored in batch and the same file
//! streamed point by point give the same scores, labels and alarms.
//!
//! Fitting never looks at labels: the [`Normaliser`] is fitted on features of the training rows,
//! the [`Calibration`] and the [`Threshold`] on the validation rows that follow them.
use std::path::Path;

use serde::{Deserialize, Serialize};
use statecast_pipelines::Series;

use super::alarms::{AlarmEvent, AlarmRules, AlarmSegment, AlarmState};
use super::features::{FeatureConfig, FeatureState};
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
}

impl PointScorer {
    /// A fresh state for `det`.
    pub fn new(det: &Detector) -> Self {
        let nv = det.columns.len();
        Self {
            features: FeatureState::new(det.features.clone(), nv),
            alarms: AlarmState::new(det.rules, nv),
        }
    }

    /// Score row `x_v` (scaled) given the model output of the window ending at it.
    pub fn update(&mut self, det: &Detector, x_v: &[f32], out: &WindowOutput) -> PointResult {
        let f = self.features.update(x_v, out);
        let ps = det.normaliser.score(&f);
        let score = if ps.aggregate.is_nan() {
            f64::NAN
        } else {
            det.calibration.apply(f64::from(ps.aggregate))
        };
        // NaN (warm-up) is never flagged but still advances the alarm clock.
        let (in_alarm, event) = self.alarms.update(score, det.threshold.value, &ps.per_variate);
        PointResult {
            score,
            raw: ps.aggregate,
            flagged: score > det.threshold.value,
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
    series: &Series,
    batch: usize,
) -> Vec<Option<Vec<f32>>> {
    let mut state = FeatureState::new(features.clone(), series.n_variates());
    let mut out = vec![None; series.len()];
    for_each_output(predictor, series, batch, |t, x, o| {
        out[t] = Some(state.update(x, o));
    });
    out
}

/// Run `predictor` over every window of `series` in batches and call `f(t, x_t, output)` for
/// `t = L−1 ..` in order.
fn for_each_output(
    predictor: &Predictor,
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
    if let Some(mut state) = predictor.recurrent_series(nv) {
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
        let features = FeatureConfig::for_predictor(
            predictor.steps().min(settings.steps),
            predictor.has_reconstruction(),
        );
        let (nv, nc) = (columns.len(), features.n_components());
        let mut train = Vec::new();
        let mut val = Vec::new();
        for &(s, train_end) in parts {
            for (t, f) in series_features(predictor, &features, s, settings.batch)
                .into_iter()
                .enumerate()
            {
                if let Some(f) = f {
                    if t < train_end { train.push(f) } else { val.push(f) }
                }
            }
        }
        let normaliser = Normaliser::fit(train.iter().map(Vec::as_slice), nv, nc, settings.aggregate)?;
        let raw: Vec<f64> = val
            .iter()
            .map(|f| f64::from(normaliser.score(f).aggregate))
            .collect();
        if raw.iter().filter(|x| x.is_finite()).count() < 20 {
            return Err(Error::InvalidArgument {
                field: "validation".into(),
                reason: format!("only {} validation rows have a score; need ≥ 20", raw.len()),
            });
        }
        let calibration = Calibration::fit(&raw)?;
        let z: Vec<f64> = raw.iter().map(|&a| calibration.apply(a)).collect();
        let threshold = Threshold::fit(settings.threshold, &z)?;
        Ok(Self {
            columns: columns.to_vec(),
            lookback: predictor.lookback(),
            features,
            normaliser,
            calibration,
            threshold,
            rules: settings.rules,
            recurrent: predictor.is_recurrent(),
        })
    }

    /// The same detector with another threshold value (e.g. the ratio convention).
    pub fn with_threshold(&self, value: f64) -> Self {
        let mut d = self.clone();
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
        let mut scorer = PointScorer::new(self);
        let offset = self.lookback as u64 - 1;
        for_each_output(predictor, series, batch, |t, x, o| {
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
        });
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
