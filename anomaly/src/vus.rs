//! VUS: the volume under the range-based PR (and ROC) surface (Paparrizos et al., "Volume Under
//! the Surface: a new accuracy evaluation measure for time-series anomaly detection", VLDB 2022),
//! the headline measure of the TSB-AD benchmark. Threshold-free, like AUC-PR, but tolerant of
//! small misalignments between scores and labels: each labelled segment gets a soft buffer of
//! `w / 2` rows on both sides, and the range-based average precision is averaged over every
//! buffer length `w = 0 ..= max_buffer`.
//!
//! The definition follows TSB-AD's `RangeAUC_volume_opt` (`TSB_AD/evaluation/basic_metrics.py`),
//! step by step. With `seg = [s, e]` the labelled segments (inclusive), `n` rows, `P` labelled rows:
//!
//! - **buffered labels** `ℓ_w[t]`: 1 on labelled rows; `√(1 − d / w)` on the `⌊w/2⌋` rows before
//!   `s` and after `e` at distance `d`, summed over segments and capped at 1;
//! - **regions** `R_w`: the segments widened by `⌊w/2⌋` on both sides (clamped to the series),
//!   overlapping ones merged;
//! - **thresholds**: `K` (250) scores taken from the descending sort at the positions
//!   `⌊k · (n − 1)/(K − 1)⌋` (`np.linspace(0, n − 1, K).astype(int)`); a row is predicted when its
//!   score is `≥` the threshold;
//! - at each threshold, with `pred` the predicted rows: `TP = Σ_pred ℓ_w`, `N_ℓ = P + Σ_{pred,
//!   unlabelled} ℓ_w`, `P' = (P + N_ℓ) / 2`; existence = the fraction of regions of `R_w` holding
//!   a predicted row; `TPR = min(TP / P', 1) · existence`, `precision = TP / |pred|`,
//!   `FPR = (|pred| − TP) / (n − P')`;
//! - range AP of a buffer: `Σ_k (TPR_k − TPR_{k−1}) · precision_k` (`TPR_{−1} = 0`); range
//!   AUC-ROC: the trapezoids through `(0, 0)`, the `K` points and `(1, 1)`;
//! - **VUS-PR** (**VUS-ROC**): the mean range AP (AUC-ROC) over `w = 0 ..= max_buffer`.
//!
//! Buffers 0 and 1 are the same (`⌊1/2⌋ = 0`). With a single labelled segment, `max_buffer = 0`
//! and at most `K` rows of distinct scores, VUS-PR is the plain average precision.
//!
//! TSB-AD's benchmark scripts set `max_buffer` per file to the period estimated from its first
//! variate; its `get_metrics` defaults to 100, which is ours ([`VusConfig::default`]). Series
//! without a labelled row (where TSB-AD fails) score 0 here, as [`super::measures::auc_pr`] does.
//!
//! Cost: `O(n log n + max_buffer · (P + segments · max_buffer + K))`, not the reference's
//! `O(max_buffer · K · n)`: each row's first predicting threshold is found once, and the per-buffer
//! sums are accumulated by threshold and prefix-summed.
use serde::{Deserialize, Serialize};

use super::measures::segments;

/// VUS settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VusConfig {
    /// Largest buffer length `w` (TSB-AD's sliding window); default 100.
    pub max_buffer: usize,
    /// Thresholds sampled from the sorted scores; default 250 (TSB-AD's `thre`).
    pub thresholds: usize,
}

impl Default for VusConfig {
    fn default() -> Self {
        Self {
            max_buffer: 100,
            thresholds: 250,
        }
    }
}

/// Volumes under the range-based PR and ROC surfaces.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vus {
    /// VUS-PR: mean range average precision over the buffer lengths.
    pub pr: f64,
    /// VUS-ROC: mean range AUC-ROC over the buffer lengths.
    pub roc: f64,
}

/// Regions `[a, b]` (inclusive): the segments `seq` widened by `half` rows on both sides and
/// merged where they meet (TSB-AD's `new_sequence`). `seq` must be non-empty and sorted.
fn regions(seq: &[(usize, usize)], half: usize, n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = seq[0].0.saturating_sub(half);
    for pair in seq.windows(2) {
        let (end, next) = (pair[0].1 + half, pair[1].0);
        // Widened segments meet unless `end < next − half`.
        if end + half < next {
            out.push((a, end));
            a = next - half;
        }
    }
    let last = seq[seq.len() - 1].1;
    out.push((a, (last + half).min(n - 1)));
    out
}

/// Buffered labels of buffer length `w`, written into `ext` on the rows of `span` (the regions of
/// the largest buffer, which hold every nonzero value).
fn buffered_labels(
    truth: &[bool],
    seq: &[(usize, usize)],
    span: &[(usize, usize)],
    w: usize,
    ext: &mut [f64],
) {
    let n = truth.len();
    for &(a, b) in span {
        for t in a..=b {
            ext[t] = f64::from(u8::from(truth[t]));
        }
    }
    let half = w / 2;
    for &(s, e) in seq {
        // Rows after the segment, at distance 1, 2, …
        for (i, x) in ext[e + 1..(e + half + 1).min(n)].iter_mut().enumerate() {
            *x += (1.0 - (i + 1) as f64 / w as f64).sqrt();
        }
        // Rows before it, from the farthest.
        let first = s.saturating_sub(half);
        for (i, x) in ext[first..s].iter_mut().enumerate() {
            *x += (1.0 - (s - first - i) as f64 / w as f64).sqrt();
        }
    }
    for &(a, b) in span {
        for x in &mut ext[a..=b] {
            *x = x.min(1.0);
        }
    }
}

/// VUS-PR and VUS-ROC of `scores` against `truth` (see the module docs; NaN scores rank lowest).
///
/// # Panics
/// When the lengths differ or `cfg.thresholds` is 0 (programmer errors).
pub fn vus(scores: &[f64], truth: &[bool], cfg: &VusConfig) -> Vus {
    assert_eq!(scores.len(), truth.len(), "scores and truth lengths differ");
    assert!(cfg.thresholds > 0, "VUS needs at least one threshold");
    let n = scores.len();
    let seq: Vec<(usize, usize)> = segments(truth).iter().map(|r| (r.start, r.end - 1)).collect();
    if seq.is_empty() {
        return Vus::default();
    }
    let p = truth.iter().filter(|t| **t).count() as f64;
    let score: Vec<f64> = scores
        .iter()
        .map(|&x| if x.is_nan() { f64::NEG_INFINITY } else { x })
        .collect();
    let mut sorted = score.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // Threshold k: the score at position ⌊k·(n − 1)/(K − 1)⌋ of the descending sort, computed as
    // numpy's linspace does (last position exact).
    let k_max = cfg.thresholds;
    let step = if k_max > 1 {
        (n - 1) as f64 / (k_max - 1) as f64
    } else {
        0.0
    };
    let threshold: Vec<f64> = (0..k_max)
        .map(|k| {
            let pos = if k + 1 == k_max && k_max > 1 {
                n - 1
            } else {
                (k as f64 * step) as usize
            };
            sorted[pos]
        })
        .collect();
    let n_pred: Vec<f64> = threshold
        .iter()
        .map(|&th| sorted.partition_point(|&x| x >= th) as f64)
        .collect();
    // First threshold predicting row t (thresholds do not increase with k); k_max: none.
    let first_k = |t: usize| threshold.partition_point(|&th| th > score[t]);
    let span = regions(&seq, cfg.max_buffer / 2, n);
    let first: Vec<(usize, usize)> = span
        .iter()
        .flat_map(|&(a, b)| (a..=b).map(|t| (t, first_k(t))))
        .collect();
    let mut first_at = vec![k_max; n];
    for &(t, k) in &first {
        first_at[t] = k;
    }
    let mut ext = vec![0.0; n];
    let (mut pr_sum, mut roc_sum) = (0.0, 0.0);
    for w in 0..=cfg.max_buffer {
        buffered_labels(truth, &seq, &span, w, &mut ext);
        let rs = regions(&seq, w / 2, n);
        // By first predicting threshold: buffered label mass, its unlabelled part, regions hit.
        let (mut tp_at, mut extra_at, mut hit_at) = (
            vec![0.0; k_max + 1],
            vec![0.0; k_max + 1],
            vec![0usize; k_max + 1],
        );
        for &(t, k) in &first {
            tp_at[k] += ext[t];
            if !truth[t] {
                extra_at[k] += ext[t];
            }
        }
        for &(a, b) in &rs {
            let k = (a..=b).map(|t| first_at[t]).min().unwrap_or(k_max);
            hit_at[k] += 1;
        }
        let (mut tp, mut extra, mut hit) = (0.0, 0.0, 0usize);
        let (mut ap, mut auc) = (0.0, 0.0);
        let (mut prev_tpr, mut prev_fpr) = (0.0, 0.0);
        for k in 0..k_max {
            tp += tp_at[k];
            extra += extra_at[k];
            hit += hit_at[k];
            let p_new = (p + p + extra) / 2.0;
            let tpr = (tp / p_new).min(1.0) * (hit as f64 / rs.len() as f64);
            let fpr = (n_pred[k] - tp) / (n as f64 - p_new);
            let precision = tp / n_pred[k];
            ap += (tpr - prev_tpr) * precision;
            auc += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
            (prev_tpr, prev_fpr) = (tpr, fpr);
        }
        auc += (1.0 - prev_fpr) * (1.0 + prev_tpr) / 2.0;
        pr_sum += ap;
        roc_sum += auc;
    }
    let buffers = (cfg.max_buffer + 1) as f64;
    Vus {
        pr: pr_sum / buffers,
        roc: roc_sum / buffers,
    }
}

#[cfg(test)]
mod tests;
