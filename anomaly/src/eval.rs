//! The evaluation protocol on labelled test data, two ways side by side:
//!
//! - **honest**: the threshold comes from the validation split (quantile or POT), never from
//!   test labels; alarm labels are scored point-wise, event-wise and by affiliation (and
//!   point-adjusted, for comparison);
//! - **ratio convention** (the common protocol of Anomaly Transformer and successors): the
//!   threshold is the `1 − ratio` quantile of the *test* scores, with `ratio` the anomaly ratio
//!   (label-informed), and results are reported with point adjustment. Numbers under this
//!   convention look at the test labels' statistics and are not honest detection performance.
use serde::{Deserialize, Serialize};

use super::detector::SeriesScores;
use super::measures::{DetectionMeasures, auc_pr};
use super::nab::NabScores;
use super::threshold::quantile;
use super::vus::{VusConfig, vus};

/// All numbers of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEval {
    /// Dataset / entity name.
    pub name: String,
    /// Model label.
    pub model: String,
    /// Test points scored.
    pub points: usize,
    /// Fraction of labelled test points.
    pub anomaly_ratio: f64,
    /// Threshold (calibrated scale) fitted on validation.
    pub honest_threshold: f64,
    /// Metrics of the alarm labels at the validation threshold (no test labels used).
    pub honest: DetectionMeasures,
    /// Ratio used by the convention (percent of points flagged).
    pub protocol_ratio_percent: f64,
    /// Threshold of the ratio convention (quantile of test scores: label-informed).
    pub protocol_threshold: f64,
    /// Metrics of raw flags at the ratio threshold (report `point_adjusted.f1` as the
    /// published-protocol number).
    pub protocol: DetectionMeasures,
    /// Average precision of the scores (threshold-free).
    pub auc_pr: f64,
    /// VUS-PR: volume under the range-based PR surface over label buffers `0 ..= vus_max_buffer`
    /// (threshold-free, see [`super::vus`]).
    #[serde(default)]
    pub vus_pr: f64,
    /// VUS-ROC, the ROC counterpart of [`Self::vus_pr`].
    #[serde(default)]
    pub vus_roc: f64,
    /// Largest label buffer of the VUS measures.
    #[serde(default)]
    pub vus_max_buffer: usize,
    /// Seconds spent (fitting, scoring, evaluating; excludes training).
    pub seconds: f64,
    /// NAB scores of the honest alarm openings (NAB files only, see [`super::nab`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nab: Option<NabScores>,
}

/// Evaluate `honest` (scores with the validation threshold) against `truth` (per series,
/// [time]). `protocol_ratio` (fraction) defaults to the true anomaly ratio.
pub fn evaluate(
    name: &str,
    model: &str,
    honest: &[SeriesScores],
    honest_threshold: f64,
    truth: &[Vec<bool>],
    protocol_ratio: Option<f64>,
    vus_cfg: &VusConfig,
) -> AnomalyEval {
    // Concatenate the scored rows (warm-up rows are dropped) of every series.
    let (mut s, mut t, mut alarm) = (Vec::new(), Vec::new(), Vec::new());
    for (r, y) in honest.iter().zip(truth) {
        for ((&score, &label), &a) in r.score.iter().zip(y).zip(&r.in_alarm) {
            if score.is_finite() {
                s.push(score);
                t.push(label);
                alarm.push(a);
            }
        }
    }
    let ratio = t.iter().filter(|x| **x).count() as f64 / t.len().max(1) as f64;
    let pr = protocol_ratio.unwrap_or(ratio);
    let thr = quantile(&s, 1.0 - pr).unwrap_or(f64::INFINITY);
    // `≥`: with ties at the top (saturated scores) `>` could flag nothing.
    let flags: Vec<bool> = s.iter().map(|&x| x >= thr).collect();
    let volume = vus(&s, &t, vus_cfg);
    AnomalyEval {
        name: name.into(),
        model: model.into(),
        points: s.len(),
        anomaly_ratio: ratio,
        honest_threshold,
        honest: DetectionMeasures::compute(&alarm, &t),
        protocol_ratio_percent: pr * 100.0,
        protocol_threshold: thr,
        protocol: DetectionMeasures::compute(&flags, &t),
        auc_pr: auc_pr(&s, &t),
        vus_pr: volume.pr,
        vus_roc: volume.roc,
        vus_max_buffer: vus_cfg.max_buffer,
        seconds: 0.0,
        nab: None,
    }
}
