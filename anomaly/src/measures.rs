//! Anomaly-detection measures on 0/1 point labels, [time]:
//!
//! - **point-wise** precision/recall/F1 (no adjustment);
//! - **point-adjusted** F1 (the common protocol of OmniAnomaly/Anomaly Transformer: when any
//!   point of a labelled segment is flagged, the whole segment counts as flagged). It inflates
//!   scores: a random detector with enough flags reaches high values;
//! - **event-wise** F1: recall = labelled segments hit by ≥ 1 flag, precision = predicted
//!   segments that overlap a labelled one;
//! - **affiliation** precision/recall/F1 (Huet et al., KDD 2022), discrete form: each labelled
//!   segment owns the zone of points closer to it than to any other segment; precision averages
//!   over flags in a zone the probability that a uniform random point of the zone lies at least
//!   as far from the segment, recall the same for each labelled point's distance to the nearest
//!   flag of its zone;
//! - **AUC-PR** (average precision of the raw scores, threshold-free).
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1 = 2PR / (P + R) (0 when both are 0).
    pub f1: f64,
}

impl Prf {
    /// From precision and recall.
    pub fn new(precision: f64, recall: f64) -> Self {
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            precision,
            recall,
            f1,
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Maximal runs of `true`, as row ranges.
pub fn segments(labels: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &l) in labels.iter().enumerate() {
        match (l, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..labels.len());
    }
    out
}

/// Point-wise precision/recall/F1.
///
/// # Panics
/// When the lengths differ (programmer error).
pub fn point_f1(pred: &[bool], truth: &[bool]) -> Prf {
    assert_eq!(pred.len(), truth.len(), "pred and truth lengths differ");
    let tp = pred.iter().zip(truth).filter(|(p, t)| **p && **t).count();
    let np = pred.iter().filter(|p| **p).count();
    let nt = truth.iter().filter(|t| **t).count();
    Prf::new(ratio(tp, np), ratio(tp, nt))
}

/// The point-adjusted predictions: every labelled segment with at least one flag is flagged
/// entirely.
pub fn point_adjust(pred: &[bool], truth: &[bool]) -> Vec<bool> {
    assert_eq!(pred.len(), truth.len(), "pred and truth lengths differ");
    let mut out = pred.to_vec();
    for seg in segments(truth) {
        if pred[seg.clone()].iter().any(|p| *p) {
            out[seg].iter_mut().for_each(|p| *p = true);
        }
    }
    out
}

/// Point-adjusted F1 (label-informed: it uses the test labels to widen detections).
pub fn point_adjusted_f1(pred: &[bool], truth: &[bool]) -> Prf {
    point_f1(&point_adjust(pred, truth), truth)
}

/// Event-wise precision/recall/F1 (see the module docs).
pub fn event_f1(pred: &[bool], truth: &[bool]) -> Prf {
    assert_eq!(pred.len(), truth.len(), "pred and truth lengths differ");
    let ts = segments(truth);
    let ps = segments(pred);
    let hit = ts
        .iter()
        .filter(|s| pred[(*s).clone()].iter().any(|p| *p))
        .count();
    let good = ps
        .iter()
        .filter(|s| truth[(*s).clone()].iter().any(|t| *t))
        .count();
    Prf::new(ratio(good, ps.len()), ratio(hit, ts.len()))
}

/// Distance from `x` to the range `r` (0 inside).
fn dist(x: usize, r: &Range<usize>) -> usize {
    if x < r.start {
        r.start - x
    } else if x >= r.end {
        x + 1 - r.end
    } else {
        0
    }
}

/// Affiliation precision/recall/F1 (discrete, see the module docs). Precision averages over the
/// zones that hold at least one flag; recall over every labelled segment.
pub fn affiliation_f1(pred: &[bool], truth: &[bool]) -> Prf {
    assert_eq!(pred.len(), truth.len(), "pred and truth lengths differ");
    let ts = segments(truth);
    if ts.is_empty() {
        return Prf::default();
    }
    // Zones: boundaries halfway between consecutive segments.
    let n = truth.len();
    let mut zones = Vec::with_capacity(ts.len());
    for (j, s) in ts.iter().enumerate() {
        let lo = if j == 0 {
            0
        } else {
            (ts[j - 1].end + s.start).div_ceil(2)
        };
        let hi = if j + 1 == ts.len() {
            n
        } else {
            (s.end + ts[j + 1].start).div_ceil(2)
        };
        zones.push(lo..hi);
    }
    let (mut p_sum, mut p_n, mut r_sum) = (0.0, 0usize, 0.0);
    for (s, z) in ts.iter().zip(&zones) {
        let zlen = z.len() as f64;
        // Fraction of zone points at distance ≥ d from the segment.
        let far_from_seg = |d: usize| -> f64 {
            if d == 0 {
                return 1.0;
            }
            let left = (s.start.saturating_sub(d) + 1)
                .saturating_sub(z.start)
                .min(z.len());
            let left = if s.start >= d { left } else { 0 };
            let right = z.end.saturating_sub(s.end + d - 1);
            (left + right) as f64 / zlen
        };
        let flags: Vec<usize> = z.clone().filter(|&i| pred[i]).collect();
        if !flags.is_empty() {
            p_sum += flags.iter().map(|&i| far_from_seg(dist(i, s))).sum::<f64>() / flags.len() as f64;
            p_n += 1;
        }
        // Recall: for each labelled point, distance to the nearest flag in the zone.
        let mut r = 0.0;
        if !flags.is_empty() {
            for y in s.clone() {
                let k = flags.partition_point(|&f| f < y);
                let mut d = usize::MAX;
                if k < flags.len() {
                    d = d.min(flags[k] - y);
                }
                if k > 0 {
                    d = d.min(y - flags[k - 1]);
                }
                // Fraction of zone points x with |x − y| ≥ d.
                let frac = if d == 0 {
                    1.0
                } else {
                    let left = if y >= d {
                        (y - d + 1).saturating_sub(z.start)
                    } else {
                        0
                    };
                    let right = z.end.saturating_sub(y + d);
                    (left.min(z.len()) + right) as f64 / zlen
                };
                r += frac;
            }
            r /= s.len() as f64;
        }
        r_sum += r;
    }
    let precision = if p_n == 0 { 0.0 } else { p_sum / p_n as f64 };
    Prf::new(precision, r_sum / ts.len() as f64)
}

/// Average precision of `scores` against `truth` (threshold-free; NaN scores rank lowest).
pub fn auc_pr(scores: &[f64], truth: &[bool]) -> f64 {
    assert_eq!(scores.len(), truth.len(), "scores and truth lengths differ");
    let positives = truth.iter().filter(|t| **t).count();
    if positives == 0 {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let key = |i: usize| {
        if scores[i].is_nan() {
            f64::NEG_INFINITY
        } else {
            scores[i]
        }
    };
    idx.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    let (mut tp, mut ap) = (0usize, 0.0);
    let mut i = 0;
    while i < idx.len() {
        // Ties share one threshold.
        let mut j = i;
        let mut new_tp = 0;
        while j < idx.len() && key(idx[j]) == key(idx[i]) {
            new_tp += usize::from(truth[idx[j]]);
            j += 1;
        }
        tp += new_tp;
        ap += new_tp as f64 / positives as f64 * (tp as f64 / j as f64);
        i = j;
    }
    ap
}

/// Every metric for one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DetectionMeasures {
    /// Point-wise, no adjustment.
    pub point: Prf,
    /// Point-adjusted (label-informed widening, the common protocol).
    pub point_adjusted: Prf,
    /// Event-wise.
    pub event: Prf,
    /// Affiliation.
    pub affiliation: Prf,
    /// Fraction of points flagged.
    pub flagged_ratio: f64,
}

impl DetectionMeasures {
    /// All metrics of `pred` against `truth`.
    pub fn compute(pred: &[bool], truth: &[bool]) -> Self {
        Self {
            point: point_f1(pred, truth),
            point_adjusted: point_adjusted_f1(pred, truth),
            event: event_f1(pred, truth),
            affiliation: affiliation_f1(pred, truth),
            flagged_ratio: ratio(pred.iter().filter(|p| **p).count(), pred.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn point_adjust_inflates_a_single_hit() {
        // Truth: one 10-point segment; one flag inside it, one false flag outside.
        let truth = b("00000111111111100000");
        let pred = b("01000000100000000000");
        let p = point_f1(&pred, &truth);
        assert!(close(p.precision, 0.5) && close(p.recall, 0.1));
        assert!(close(p.f1, 2.0 * 0.5 * 0.1 / 0.6));
        // Point adjust: the whole segment becomes TP: 10 TP, 1 FP, 0 FN.
        let pa = point_adjusted_f1(&pred, &truth);
        assert!(close(pa.precision, 10.0 / 11.0) && close(pa.recall, 1.0));
        assert!(close(pa.f1, 2.0 * (10.0 / 11.0) / (10.0 / 11.0 + 1.0)));
        assert_eq!(point_adjust(&pred, &truth), b("01000111111111100000"));
    }

    #[test]
    fn event_f1_counts_segments() {
        // Two true events, the second missed; three predicted segments, one overlapping.
        let truth = b("0111000000001110");
        let pred = b("1100010001000000");
        let e = event_f1(&pred, &truth);
        assert!(close(e.recall, 0.5));
        assert!(close(e.precision, 1.0 / 3.0));
        assert_eq!(segments(&truth), vec![1..4, 12..15]);
    }

    #[test]
    fn affiliation_hand_example() {
        // One segment [4, 6) in a 10-point series (zone = whole series).
        let truth = b("0000110000");
        // Perfect prediction: P = R = 1.
        let a = affiliation_f1(&truth, &truth);
        assert!(close(a.precision, 1.0) && close(a.recall, 1.0));
        // A flag at 7 (distance 2 from the segment's last point 5). Zone points at distance ≥ 2:
        // 0,1,2,3 (distances 4..1: 0,1,2 qualify) and 7,8,9 → {0,1,2,7,8,9} = 6/10.
        let pred = b("0000000100");
        let a = affiliation_f1(&pred, &truth);
        assert!(close(a.precision, 0.6), "{a:?}");
        // Recall: y=4 is 3 from the flag: points with |x−4| ≥ 3: 0,1,7,8,9 → 5/10;
        // y=5 is 2 away: |x−5| ≥ 2: 0,1,2,3,7,8,9 → 7/10. Mean 0.6.
        assert!(close(a.recall, 0.6), "{a:?}");
        // No flag: P = R = 0.
        assert_eq!(affiliation_f1(&b("0000000000"), &truth), Prf::default());
    }

    #[test]
    fn auc_pr_hand_example() {
        // Ranking: 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): AP = 1/2·1 + 1/2·2/3.
        let s = [0.9, 0.8, 0.7, 0.1];
        let t = [true, false, true, false];
        assert!(close(auc_pr(&s, &t), 0.5 + 1.0 / 3.0));
    }
}
