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
//! with `σ̃(p) = −1` for `p > 3` (as NAB's `sweeper.py` tests), else `2·sigmoid(−5p) − 1`.
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
//!
//! **The label-tuned score** ([`label_tuned`]) is the leaderboard's procedure (NAB's
//! `optimizer.py` with `Sweeper.calcScoreByThreshold`), for comparison with published rows only:
//! every row of every file after NAB's probation ([`nab_probation`]) whose anomaly score is `≥ θ`
//! is a detection; the corpus raw score is computed for every distinct score `θ` from the highest
//! down (plus "no detection"), and the best one is kept, per profile. It chooses `θ` by looking
//! at the test labels of the whole corpus, so it is not an honest detection score. Each file
//! contributes a [`NabSweepFile`]: its scored rows with their unweighted values.
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

/// NAB's `scaledSigmoid`: `−1` for `p > 3`, else `2·sigmoid(−5p) − 1`.
pub fn scaled_sigmoid(p: f64) -> f64 {
    if p > 3.0 {
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
        None => f64::INFINITY,
        Some(&(l, r)) => {
            let width = (r - l + 1) as f64;
            // NAB divides by zero after a one-row window; treat as far away.
            if width <= 1.0 {
                f64::INFINITY
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
    let windows = clip_windows(windows, n_rows);
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
    /// The file's rows for NAB's label-tuned corpus score ([`label_tuned`]); absent in results
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<NabSweepFile>,
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
            sweep: None,
        }
    }
}

/// NAB's probationary length of a file of `n_rows` rows: `min(⌊0.15 · n⌋, 750)`, with the
/// product in floating point as NAB computes it.
pub fn nab_probation(n_rows: usize) -> usize {
    ((0.15 * n_rows as f64).floor() as usize).min(750)
}

/// One file as NAB's threshold sweep sees it: the rows after the probation that have a score
/// (unscored rows are never detections), each with its score, its window (numbered among the
/// counted windows, `-1` outside every window) and its unweighted value (`× tp` inside a window,
/// `× fp` outside: NAB's `sweepScore` with unit weights).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NabSweepFile {
    /// Windows counted (with a row after the probation).
    pub windows: usize,
    /// Anomaly score per listed row (`+∞` stored as `f64::MAX`).
    pub scores: Vec<f64>,
    /// Counted-window index per listed row, `-1` outside every window.
    pub window: Vec<i32>,
    /// Unweighted value per listed row.
    pub value: Vec<f64>,
}

impl NabSweepFile {
    /// The sweep rows of one file: `windows` as row ranges `[left, right]` (inclusive), rows
    /// before `probation` skipped, `scores` one per row (NaN or `−∞`: never a detection).
    pub fn new(windows: &[(usize, usize)], probation: usize, scores: &[f64]) -> Self {
        let n_rows = scores.len();
        let windows = clip_windows(windows, n_rows);
        // Counted-window number of each window (those with a row after the probation).
        let mut number = Vec::with_capacity(windows.len());
        let mut counted = 0i32;
        for &(_, r) in &windows {
            if r >= probation {
                number.push(counted);
                counted += 1;
            } else {
                number.push(-1);
            }
        }
        let unit = NabProfile {
            tp: 1.0,
            fp: 1.0,
            fn_: 0.0,
        };
        let mut out = Self {
            windows: counted as usize,
            ..Self::default()
        };
        for (i, &x) in scores.iter().enumerate().skip(probation) {
            if x.is_nan() || x == f64::NEG_INFINITY {
                continue;
            }
            let (value, w) = row_score(unit, &windows, i);
            out.scores.push(x.min(f64::MAX));
            out.window.push(w.map_or(-1, |w| number[w]));
            out.value.push(value);
        }
        out
    }
}

/// The corpus score at NAB's label-tuned threshold, for one profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LabelTuned {
    /// The chosen threshold: rows scoring `≥` it are detections (`+∞`: none).
    pub threshold: f64,
    /// Corpus raw, null and perfect scores at that threshold.
    pub score: NabFileScore,
}

/// NAB's label-tuned corpus score under `profile`: the threshold maximising the summed raw score
/// of `files` (see the module docs). Among equal scores the highest threshold wins, as in NAB's
/// stable sort.
pub fn label_tuned(files: &[NabSweepFile], profile: NabProfile) -> LabelTuned {
    let mut offset = Vec::with_capacity(files.len());
    let mut n_windows = 0usize;
    for f in files {
        offset.push(n_windows);
        n_windows += f.windows;
    }
    // (score, global window or None, weighted value), highest score first (stable).
    let mut rows: Vec<(f64, Option<usize>, f64)> = files
        .iter()
        .zip(&offset)
        .flat_map(|(f, &o)| {
            (0..f.scores.len()).map(move |i| {
                let w = usize::try_from(f.window[i]).ok().map(|w| o + w);
                let weight = if w.is_some() { profile.tp } else { profile.fp };
                (f.scores[i], w, f.value[i] * weight)
            })
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut window_value = vec![-profile.fn_; n_windows];
    let mut fp_sum = 0.0;
    let raw = |window_value: &[f64], fp_sum: f64| window_value.iter().sum::<f64>() + fp_sum;
    let mut current = f64::INFINITY;
    let mut best = (current, raw(&window_value, fp_sum));
    for &(score, w, value) in &rows {
        if score != current {
            let r = raw(&window_value, fp_sum);
            if r > best.1 {
                best = (current, r);
            }
            current = score;
        }
        match w {
            Some(w) => window_value[w] = window_value[w].max(value),
            None => fp_sum += value,
        }
    }
    let r = raw(&window_value, fp_sum);
    if r > best.1 {
        best = (current, r);
    }
    LabelTuned {
        threshold: best.0,
        score: NabFileScore {
            raw: best.1,
            null: -profile.fn_ * n_windows as f64,
            perfect: profile.tp * n_windows as f64,
        },
    }
}

/// Detection rows of an honest alarm sequence: rows `t` where an alarm opens
/// (`in_alarm[t] && (t == 0 || !in_alarm[t − 1])`) and `scored[t]`.
pub fn alarm_openings(in_alarm: &[bool], scored: &[bool]) -> Vec<usize> {
    (0..in_alarm.len())
        .filter(|&t| in_alarm[t] && (t == 0 || !in_alarm[t - 1]) && scored.get(t) == Some(&true))
        .collect()
}

/// Windows `[left, right]` (inclusive rows) that start inside a file of `n_rows` rows, clipped
/// to its last row, in order.
fn clip_windows(windows: &[(usize, usize)], n_rows: usize) -> Vec<(usize, usize)> {
    let mut w: Vec<(usize, usize)> = windows
        .iter()
        .filter(|&&(l, r)| l <= r && l < n_rows)
        .map(|&(l, r)| (l, r.min(n_rows.saturating_sub(1))))
        .collect();
    w.sort_unstable();
    w
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
        // Exactly 3 is still on the sigmoid (NAB tests `> 3.0`); past it, −1.
        close(scaled_sigmoid(3.0), 2.0 / (1.0 + 15f64.exp()) - 1.0);
        assert!(scaled_sigmoid(3.0) > -1.0);
        assert_eq!(scaled_sigmoid(3.0 + 1e-9), -1.0);
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
        // Exactly 3 (widths − 1) past: still the sigmoid; further: the full −fp.
        let s = score_file(STD, 100, &[(40, 49)], 0, &[76]);
        close(s.raw, -1.0 + scaled_sigmoid(3.0) * 0.11);
        let s = score_file(STD, 100, &[(40, 49)], 0, &[77]);
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

    /// Two files of 100 rows: A with window 40..=49, B with window 60..=69 (no probation).
    fn tiny_corpus() -> Vec<NabSweepFile> {
        let mut a = vec![0.0; 100];
        (a[40], a[10], a[45]) = (0.9, 0.8, 0.7);
        let mut b = vec![0.0; 100];
        (b[20], b[65]) = (0.95, 0.85);
        vec![
            NabSweepFile::new(&[(40, 49)], 0, &a),
            NabSweepFile::new(&[(60, 69)], 0, &b),
        ]
    }

    #[test]
    fn label_tuned_finds_the_best_corpus_threshold() {
        // Thresholds from the top: 0.95 (B's false positive), 0.9 (A's window start), 0.85 (B's
        // window middle: σ̃(−0.5)/σ̃(−1)), 0.8 (A's false positive), 0.7 (A's window again), 0
        // (every row). Standard profile, corpus raw scores:
        //   ∞: −2 (null); 0.95: −2.11; 0.9: −0.11; 0.85: 1 + v − 0.11; 0.8 and 0.7: 1 + v − 0.22;
        //   0: 90 + 90 false positives. Best: 0.85.
        let files = tiny_corpus();
        let v = scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0);
        let t = label_tuned(&files, STD);
        assert_eq!(t.threshold, 0.85);
        close(t.score.raw, 1.0 + v - 0.11);
        close(t.score.null, -2.0);
        close(t.score.perfect, 2.0);
        // Doubling the false-positive weight keeps 0.85 (B's detection is worth more than 0.22).
        let t = label_tuned(&files, NabProfile::REWARD_LOW_FP_RATE);
        assert_eq!(t.threshold, 0.85);
        close(t.score.raw, 1.0 + v - 0.22);
        // B's detection needs its earlier false positive: at 0.85 the corpus scores 1 + v − fp
        // against the null's −2, so past fp = 3 + v no detection is best.
        let costly = NabProfile {
            tp: 1.0,
            fp: 4.0,
            fn_: 1.0,
        };
        let t = label_tuned(&files, costly);
        assert_eq!(t.threshold, f64::INFINITY);
        close(t.score.raw, -2.0);
        let t = label_tuned(&files, NabProfile { fp: 3.5, ..costly });
        assert_eq!(t.threshold, 0.85);
        close(t.score.raw, 1.0 + v - 3.5);
        // Nothing but false positives: no detection is best, at an infinite threshold.
        let mut scores = [0.5; 60];
        scores[40..=49].fill(f64::NAN);
        let fp_only = NabSweepFile::new(&[(40, 49)], 0, &scores);
        let t = label_tuned(&[fp_only], STD);
        assert_eq!(t.threshold, f64::INFINITY);
        close(t.score.raw, -1.0);
        assert!(t.score.normalized().abs() < 1e-12);
    }

    #[test]
    fn label_tuned_agrees_with_the_file_scorer_at_every_threshold() {
        // The corpus score at each distinct score θ, from `score_file` with every row ≥ θ as a
        // detection, summed over files; the best must be what `label_tuned` returns.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % 1000) as f64 / 1000.0
        };
        // (windows, scores) per file.
        type File = (Vec<(usize, usize)>, Vec<f64>);
        let files: Vec<File> = vec![
            (vec![(5, 9), (50, 70)], (0..120).map(|_| next()).collect()),
            (vec![(100, 104)], (0..140).map(|_| next()).collect()),
            (
                vec![(0, 3), (30, 31), (90, 99)],
                (0..100).map(|_| next()).collect(),
            ),
        ];
        for profile in [
            NabProfile::STANDARD,
            NabProfile::REWARD_LOW_FP_RATE,
            NabProfile::REWARD_LOW_FN_RATE,
        ] {
            let sweeps: Vec<NabSweepFile> = files
                .iter()
                .map(|(w, s)| NabSweepFile::new(w, nab_probation(s.len()), s))
                .collect();
            let got = label_tuned(&sweeps, profile);
            let mut thresholds: Vec<f64> = files.iter().flat_map(|(_, s)| s.iter().copied()).collect();
            thresholds.push(f64::INFINITY);
            thresholds.sort_by(|a, b| b.total_cmp(a));
            thresholds.dedup();
            let mut best = (f64::NAN, f64::NEG_INFINITY);
            for &th in &thresholds {
                let total = files
                    .iter()
                    .map(|(w, s)| {
                        let det: Vec<usize> = (0..s.len()).filter(|&i| s[i] >= th).collect();
                        score_file(profile, s.len(), w, nab_probation(s.len()), &det)
                    })
                    .fold(NabFileScore::default(), |a, b| a.add(&b));
                if total.raw > best.1 + 1e-12 {
                    best = (th, total.raw);
                }
            }
            assert_eq!(got.threshold, best.0, "{profile:?}");
            close(got.score.raw, best.1);
        }
    }

    #[test]
    fn sweep_rows_skip_probation_and_unscored_rows() {
        // 20 rows, probation 5: window 1..=3 lies in it (not counted), window 10..=12 counts.
        let mut scores = vec![0.1; 20];
        scores[11] = f64::NAN;
        scores[15] = f64::INFINITY;
        let f = NabSweepFile::new(&[(10, 12), (1, 3)], 5, &scores);
        assert_eq!(f.windows, 1);
        assert_eq!(f.scores.len(), 20 - 5 - 1);
        assert_eq!(f.scores[15 - 5 - 1], f64::MAX);
        assert_eq!(f.window[..7], [-1, -1, -1, -1, -1, 0, 0]);
        // Row 10 opens its window (unit weight: exactly 1); row 5 is 2 rows past the first
        // window (width 3): σ̃(2/2).
        close(f.value[5], 1.0);
        close(f.value[0], scaled_sigmoid(1.0));
        assert_eq!(nab_probation(100), 15);
        assert_eq!(nab_probation(22_695), 750);
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<NabSweepFile>(&json).unwrap(), f);
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
