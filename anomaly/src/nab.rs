//! The NAB (Numenta Anomaly Benchmark) score, with the semantics of NAB's scorer
//! (`nab/sweeper.py`), reimplemented here.
//!
//! Every row `i` of a file gets a weighted score from the labelled windows (row ranges
//! `[left, right]`, inclusive, `width = right − left + 1`):
//!
//! - inside a window: `σ̃(−(right − i + 1) / width) · tp / σ̃(−1)`, so a detection on the first row
//!   of a window is worth exactly `tp`, and the value falls towards `σ̃(−1/width)/σ̃(−1)` on its
//!   last row;
//! - outside every window: `−fp` when no window has ended before `i`, else
//!   `σ̃(|prevRight − i| / (prevWidth − 1)) · fp` with the most recent window that ended before
//!   `i` (a width-1 previous window, where NAB divides by zero, counts as far away: `−fp`);
//!
//! with `σ̃(p) = −1` for `p ≥ 3` (NAB's code tests `>=`), else `2·sigmoid(−5p) − 1`.
//!
//! Rows in the probationary period (the first `probation` rows) are not scored: detections there
//! are ignored, and a window none of whose rows lies after the probation is not counted at all.
//! Each counted window starts at `−fn` and rises to the best weighted score of a detection inside
//! it (so several detections in one window count once); every detection outside the windows adds
//! its (negative) weighted score. The raw score is the sum; the null detector (no detection)
//! scores `−fn · windows`, the perfect one `tp · windows`, and the normalised score is
//! `100 · (raw − null) / (perfect − null)`. A corpus is normalised by summing raw, null and
//! perfect over its files first ([`NabFileScore::add`]).
//!
//! **How our numbers differ from NAB's leaderboard:**
//!
//! - *Detections*: ours are the rows where an honest alarm opens (`in_alarm[t]` and not
//!   `in_alarm[t − 1]`) among the scored rows, with the alarm threshold fitted on the fit rows
//!   only. NAB's leaderboard instead sweeps the threshold on the anomaly scores to maximise the
//!   score over the whole corpus (it looks at the labels), and counts every row above it.
//! - *Probation*: ours is the detector's fit part (the first `--fit-fraction` rows, 15 % in our
//!   protocol, plus any further leading rows without a score), not capped at 750 rows as NAB
//!   caps `floor(0.15 · n)`.
use serde::{Deserialize, Serialize};

/// The weights of a NAB application profile (`config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NabProfile {
    /// Weight of a true positive (the value of a detection on a window's first row).
    pub tp: f64,
    /// Weight of a false positive.
    pub fp: f64,
    /// Weight of a false negative (the penalty of a missed window).
    pub fn_: f64,
}

impl NabProfile {
    /// NAB's `standard` profile.
    pub const STANDARD: Self = Self {
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    };
    /// NAB's `reward_low_FP_rate` profile.
    pub const REWARD_LOW_FP_RATE: Self = Self {
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    };
    /// NAB's `reward_low_FN_rate` profile.
    pub const REWARD_LOW_FN_RATE: Self = Self {
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    };
}

/// NAB's `scaledSigmoid`: `−1` for `p ≥ 3`, else `2·sigmoid(−5p) − 1`.
pub fn scaled_sigmoid(p: f64) -> f64 {
    if p >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * p).exp()) - 1.0
    }
}

/// Row ranges `[first, last]` (inclusive, sorted by start) of NAB windows given as timestamp
/// pairs `[a, b]`: the first row with `t ≥ a` to the last row with `t ≤ b`. Windows containing
/// no row are skipped. `timestamps` must be increasing.
pub fn windows_to_rows(windows: &[(i64, i64)], timestamps: &[i64]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = windows
        .iter()
        .filter_map(|&(a, b)| {
            let first = timestamps.partition_point(|&t| t < a);
            let end = timestamps.partition_point(|&t| t <= b);
            (first < end).then(|| (first, end - 1))
        })
        .collect();
    out.sort_unstable();
    out
}

/// One file's raw NAB score under one profile, with the null and perfect detectors' scores.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NabFileScore {
    /// Score of the detections.
    pub raw: f64,
    /// Score of the null detector (no detection): `−fn · windows`.
    pub null: f64,
    /// Score of the perfect detector: `tp · windows`.
    pub perfect: f64,
}

impl NabFileScore {
    /// `100 · (raw − null) / (perfect − null)`; NaN when `perfect == null` (no counted window).
    pub fn normalized(&self) -> f64 {
        let span = self.perfect - self.null;
        if span == 0.0 {
            f64::NAN
        } else {
            100.0 * (self.raw - self.null) / span
        }
    }

    /// Sum of two files' scores (normalise a corpus by summing first).
    pub fn add(&self, other: &Self) -> Self {
        Self {
            raw: self.raw + other.raw,
            null: self.null + other.null,
            perfect: self.perfect + other.perfect,
        }
    }
}

/// The weighted score of a detection on row `i` (NAB's `sweepScore`), and the index of the
/// window containing `i` if any. `windows` sorted, non-overlapping.
fn row_score(profile: NabProfile, windows: &[(usize, usize)], i: usize) -> (f64, Option<usize>) {
    let max_tp = scaled_sigmoid(-1.0);
    if let Some(w) = windows.iter().position(|&(l, r)| l <= i && i <= r) {
        let (l, r) = windows[w];
        let width = (r - l + 1) as f64;
        let pos = -((r - i + 1) as f64) / width;
        return (scaled_sigmoid(pos) * profile.tp / max_tp, Some(w));
    }
    let prev = windows.iter().filter(|&&(_, r)| r < i).max_by_key(|&&(_, r)| r);
    let pos = match prev {
        None => 3.0,
        Some(&(l, r)) => {
            let width = (r - l + 1) as f64;
            // NAB divides by zero after a one-row window; treat as far away.
            if width <= 1.0 {
                3.0
            } else {
                (i - r) as f64 / (width - 1.0)
            }
        }
    };
    (scaled_sigmoid(pos) * profile.fp, None)
}

/// Counts behind a file's score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Counts {
    windows: usize,
    detections: usize,
    false_positives: usize,
}

fn score_counts(
    profile: NabProfile,
    n_rows: usize,
    windows: &[(usize, usize)],
    probation: usize,
    detections: &[usize],
) -> (NabFileScore, Counts) {
    let mut windows: Vec<(usize, usize)> = windows
        .iter()
        .filter(|&&(l, r)| l <= r && l < n_rows)
        .map(|&(l, r)| (l, r.min(n_rows.saturating_sub(1))))
        .collect();
    windows.sort_unstable();
    // A window is counted when one of its rows lies after the probation.
    let counted: Vec<bool> = windows.iter().map(|&(_, r)| r >= probation).collect();
    let mut value: Vec<f64> = vec![-profile.fn_; windows.len()];
    let mut dets: Vec<usize> = detections
        .iter()
        .copied()
        .filter(|&i| i >= probation && i < n_rows)
        .collect();
    dets.sort_unstable();
    dets.dedup();
    let mut fp_sum = 0.0;
    let mut counts = Counts {
        detections: dets.len(),
        ..Counts::default()
    };
    for &i in &dets {
        match row_score(profile, &windows, i) {
            (s, Some(w)) => value[w] = value[w].max(s),
            (s, None) => {
                fp_sum += s;
                counts.false_positives += 1;
            }
        }
    }
    let n_windows = counted.iter().filter(|&&c| c).count();
    counts.windows = n_windows;
    let raw = value
        .iter()
        .zip(&counted)
        .filter(|(_, c)| **c)
        .map(|(v, _)| *v)
        .sum::<f64>()
        + fp_sum;
    let score = NabFileScore {
        raw,
        null: -profile.fn_ * n_windows as f64,
        perfect: profile.tp * n_windows as f64,
    };
    (score, counts)
}

/// Score one file of `n_rows` rows under `profile`: `windows` are row ranges `[left, right]`
/// (inclusive), the first `probation` rows are not scored, `detections` are the detection rows.
pub fn score_file(
    profile: NabProfile,
    n_rows: usize,
    windows: &[(usize, usize)],
    probation: usize,
    detections: &[usize],
) -> NabFileScore {
    score_counts(profile, n_rows, windows, probation, detections).0
}

/// A file's NAB scores under the three profiles, as embedded in the evaluation JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NabScores {
    /// `standard` profile (tp 1, fp 0.11, fn 1).
    pub standard: NabFileScore,
    /// `reward_low_FP_rate` profile (tp 1, fp 0.22, fn 1).
    pub reward_low_fp_rate: NabFileScore,
    /// `reward_low_FN_rate` profile (tp 1, fp 0.11, fn 2).
    pub reward_low_fn_rate: NabFileScore,
    /// Windows counted (with a row after the probation).
    pub windows: usize,
    /// Detections after the probation.
    pub detections: usize,
    /// Detections outside every window.
    pub false_positives: usize,
    /// Probationary (unscored) rows.
    pub probation: usize,
}

impl NabScores {
    /// The three profiles' scores of one file (arguments as [`score_file`]).
    pub fn compute(
        n_rows: usize,
        windows: &[(usize, usize)],
        probation: usize,
        detections: &[usize],
    ) -> Self {
        let f = |p| score_counts(p, n_rows, windows, probation, detections);
        let (standard, counts) = f(NabProfile::STANDARD);
        Self {
            standard,
            reward_low_fp_rate: f(NabProfile::REWARD_LOW_FP_RATE).0,
            reward_low_fn_rate: f(NabProfile::REWARD_LOW_FN_RATE).0,
            windows: counts.windows,
            detections: counts.detections,
            false_positives: counts.false_positives,
            probation,
        }
    }
}

/// Detection rows of an honest alarm sequence: rows `t` where an alarm opens
/// (`in_alarm[t] && (t == 0 || !in_alarm[t − 1])`) and `scored[t]`.
pub fn alarm_openings(in_alarm: &[bool], scored: &[bool]) -> Vec<usize> {
    (0..in_alarm.len())
        .filter(|&t| in_alarm[t] && (t == 0 || !in_alarm[t - 1]) && scored.get(t) == Some(&true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STD: NabProfile = NabProfile::STANDARD;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn scaled_sigmoid_matches_nab() {
        close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_3);
        close(scaled_sigmoid(0.0), 0.0);
        close(scaled_sigmoid(1.0), -0.986_614_298_151_430_3);
        assert_eq!(scaled_sigmoid(3.0), -1.0);
        assert_eq!(scaled_sigmoid(f64::INFINITY), -1.0);
    }

    #[test]
    fn detection_at_window_start_scores_tp() {
        // 100 rows, window rows 40..=49 (width 10), no probation.
        let s = score_file(STD, 100, &[(40, 49)], 0, &[40]);
        close(s.raw, 1.0);
        close(s.null, -1.0);
        close(s.perfect, 1.0);
        close(s.normalized(), 100.0);
    }

    #[test]
    fn detection_at_window_end() {
        let s = score_file(STD, 100, &[(40, 49)], 0, &[49]);
        close(s.raw, scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0));
        // 2·sigmoid(0.5) − 1 = tanh(0.25)
        close(s.raw, 0.25f64.tanh() / 2.5f64.tanh());
    }

    #[test]
    fn missed_window_scores_minus_fn() {
        let s = score_file(STD, 100, &[(40, 49)], 0, &[]);
        close(s.raw, -1.0);
        close(s.normalized(), 0.0);
        let s = score_file(NabProfile::REWARD_LOW_FN_RATE, 100, &[(40, 49)], 0, &[]);
        close(s.raw, -2.0);
        close(s.null, -2.0);
        close(s.normalized(), 0.0);
    }

    #[test]
    fn detection_after_window() {
        // Row 50 is one row past the width-10 window: σ̃(1/9)·fp, plus the missed window.
        let s = score_file(STD, 100, &[(40, 49)], 0, &[50]);
        close(s.raw, -1.0 + scaled_sigmoid(1.0 / 9.0) * 0.11);
        let s = score_file(NabProfile::REWARD_LOW_FP_RATE, 100, &[(40, 49)], 0, &[50]);
        close(s.raw, -1.0 + scaled_sigmoid(1.0 / 9.0) * 0.22);
        // Far past the window (≥ 3 widths − 1): the full −fp.
        let s = score_file(STD, 100, &[(40, 49)], 0, &[76]);
        close(s.raw, -1.0 - 0.11);
    }

    #[test]
    fn detection_before_any_window_scores_minus_fp() {
        let s = score_file(STD, 100, &[(40, 49)], 0, &[39]);
        close(s.raw, -1.0 - 0.11);
        let s = score_file(STD, 100, &[(40, 49)], 0, &[10, 40]);
        close(s.raw, 1.0 - 0.11);
    }

    #[test]
    fn two_detections_in_one_window_count_once() {
        let s = score_file(STD, 100, &[(40, 49)], 0, &[40, 45]);
        close(s.raw, 1.0);
        let s = score_file(STD, 100, &[(40, 49)], 0, &[49, 45]);
        close(s.raw, scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0));
    }

    #[test]
    fn probation_is_ignored() {
        // Detections in probation are ignored (even an FP).
        let s = score_file(STD, 100, &[(40, 49)], 15, &[3]);
        close(s.raw, -1.0);
        // A window entirely in probation is not counted; a detection in it is ignored.
        let s = score_file(STD, 100, &[(2, 8), (40, 49)], 15, &[5, 40]);
        close(s.raw, 1.0);
        close(s.perfect, 1.0);
        close(s.null, -1.0);
        // ... but it still makes later detections relative to it: row 20 is 12/6 = 2 widths past.
        let s = score_file(STD, 100, &[(2, 8), (40, 49)], 15, &[20]);
        close(s.raw, -1.0 + scaled_sigmoid(2.0) * 0.11);
        // A window straddling the probation is counted, scored on its later rows only.
        let s = score_file(STD, 100, &[(10, 19)], 15, &[10, 15]);
        close(s.raw, scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0));
        close(s.perfect, 1.0);
        // No counted window: normalised score undefined.
        let s = score_file(STD, 100, &[(2, 8)], 15, &[]);
        assert!(s.normalized().is_nan());
    }

    #[test]
    fn perfect_and_null_normalise() {
        let w = [(20, 29), (60, 69)];
        for p in [
            NabProfile::STANDARD,
            NabProfile::REWARD_LOW_FP_RATE,
            NabProfile::REWARD_LOW_FN_RATE,
        ] {
            let perfect = score_file(p, 100, &w, 15, &[20, 60]);
            close(perfect.normalized(), 100.0);
            close(perfect.raw, perfect.perfect);
            let null = score_file(p, 100, &w, 15, &[]);
            close(null.normalized(), 0.0);
            close(null.raw, -p.fn_ * 2.0);
        }
        // One hit, one miss, corpus sum.
        let a = score_file(STD, 100, &w, 15, &[20]);
        close(a.normalized(), 50.0);
        let c = a.add(&score_file(STD, 100, &[(50, 59)], 15, &[50]));
        close(c.raw, 1.0);
        close(c.null, -3.0);
        close(c.perfect, 3.0);
        close(c.normalized(), 100.0 * 4.0 / 6.0);
    }

    #[test]
    fn reward_low_fn_doubles_the_miss_penalty() {
        let w = [(20, 29), (60, 69)];
        let std = score_file(STD, 100, &w, 0, &[20]);
        let lfn = score_file(NabProfile::REWARD_LOW_FN_RATE, 100, &w, 0, &[20]);
        close(std.raw, 0.0);
        close(lfn.raw, -1.0);
        close(lfn.null, -4.0);
        close(lfn.normalized(), 100.0 * 3.0 / 6.0);
    }

    #[test]
    fn nab_scores_counts() {
        let s = NabScores::compute(100, &[(20, 29), (60, 69)], 15, &[3, 10, 20, 25, 40, 61]);
        assert_eq!(s.windows, 2);
        assert_eq!(s.detections, 4);
        assert_eq!(s.false_positives, 1);
        assert_eq!(s.probation, 15);
        let json = serde_json::to_string(&s).unwrap();
        let back: NabScores = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn alarm_openings_of_scored_rows() {
        let a = [true, true, false, true, true, false, false, true];
        let scored = [false, false, false, true, true, true, true, true];
        assert_eq!(alarm_openings(&a, &scored), vec![3, 7]);
        assert_eq!(alarm_openings(&a, &[true; 8]), vec![0, 3, 7]);
    }

    #[test]
    fn windows_map_to_rows() {
        let ts = [0, 10, 20, 30, 40, 50];
        // Exact bounds, bounds between rows, a window with no row, one past the end.
        let w = [(10, 30), (41, 49), (15, 25), (45, 100), (-5, 0)];
        assert_eq!(windows_to_rows(&w, &ts), vec![(0, 0), (1, 3), (2, 2), (5, 5)]);
        assert!(windows_to_rows(&[(60, 70)], &ts).is_empty());
    }
}
