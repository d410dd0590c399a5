//! VUS against a line-by-line transcription of TSB-AD's `RangeAUC_volume_opt` (loops, f64, the
//! reference's own `O(buffer · thresholds · n)` order of work) and hand-computed cases.
use super::*;
use crate::measures::auc_pr;

/// The reference, transcribed from TSB-AD's `basic_metrics.py` (`range_convers_new`,
/// `new_sequence`, `sequencing`, `RangeAUC_volume_opt`), statement by statement.
mod reference {
    /// `range_convers_new`: segments `(start, end)` (inclusive) from the 0/1 differences.
    fn range_convers_new(label: &[u8]) -> Vec<(usize, usize)> {
        let diff: Vec<i32> = label
            .windows(2)
            .map(|w| i32::from(w[1]) - i32::from(w[0]))
            .collect();
        let mut starts: Vec<usize> = (0..diff.len()).filter(|&i| diff[i] == 1).map(|i| i + 1).collect();
        let mut ends: Vec<usize> = (0..diff.len()).filter(|&i| diff[i] == -1).collect();
        if !ends.is_empty() && (starts.is_empty() || ends[0] < starts[0]) {
            starts.insert(0, 0);
        }
        if !starts.is_empty() && (ends.is_empty() || ends[ends.len() - 1] < starts[starts.len() - 1]) {
            ends.push(label.len() - 1);
        }
        starts.into_iter().zip(ends).collect()
    }

    /// `new_sequence` (signed arithmetic as in Python).
    fn new_sequence(n: usize, seq: &[(usize, usize)], window: usize) -> Vec<(usize, usize)> {
        let h = (window / 2) as i64;
        let mut a = (seq[0].0 as i64 - h).max(0);
        let mut out = Vec::new();
        for i in 0..seq.len() - 1 {
            if seq[i].1 as i64 + h < seq[i + 1].0 as i64 - h {
                out.push((a as usize, (seq[i].1 as i64 + h) as usize));
                a = seq[i + 1].0 as i64 - h;
            }
        }
        let last = (seq[seq.len() - 1].1 as i64 + h).min(n as i64 - 1);
        out.push((a as usize, last as usize));
        out
    }

    /// `sequencing`: the buffered labels.
    #[allow(clippy::needless_range_loop)] // indexed as in the reference
    fn sequencing(x: &[u8], seq: &[(usize, usize)], window: usize) -> Vec<f64> {
        let mut label: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let n = label.len();
        let h = window / 2;
        for &(s, e) in seq {
            for x1 in e + 1..(e + h + 1).min(n) {
                label[x1] += (1.0 - (x1 - e) as f64 / window as f64).sqrt();
            }
            for x2 in s.saturating_sub(h)..s {
                label[x2] += (1.0 - (s - x2) as f64 / window as f64).sqrt();
            }
        }
        label.iter().map(|&v| v.min(1.0)).collect()
    }

    /// `np.linspace(0, n − 1, thre).astype(int)`.
    fn linspace_int(n: usize, thre: usize) -> Vec<usize> {
        let div = thre as f64 - 1.0;
        let step = (n as f64 - 1.0) / div;
        let mut y: Vec<usize> = (0..thre).map(|k| (k as f64 * step) as usize).collect();
        y[thre - 1] = n - 1;
        y
    }

    /// `RangeAUC_volume_opt(labels, score, windowSize, thre)` → `(VUS-ROC, VUS-PR)`.
    pub(super) fn range_auc_volume_opt(
        labels_original: &[u8],
        score: &[f64],
        window_size: usize,
        thre: usize,
    ) -> (f64, f64) {
        let n = score.len();
        let p: f64 = labels_original.iter().map(|&v| f64::from(v)).sum();
        let seq = range_convers_new(labels_original);
        let l = new_sequence(n, &seq, window_size);
        let mut score_sorted = score.to_vec();
        score_sorted.sort_by(|a, b| b.total_cmp(a));
        let positions = linspace_int(n, thre);
        let tp_init = vec![0.0; thre];
        let mut n_pred = vec![0.0; thre];
        for (k, &i) in positions.iter().enumerate() {
            let threshold = score_sorted[i];
            n_pred[k] = score.iter().filter(|&&s| s >= threshold).count() as f64;
        }
        let (mut auc_3d, mut ap_3d) = (Vec::new(), Vec::new());
        for window in 0..=window_size {
            let labels_extended = sequencing(labels_original, &seq, window);
            let big_l = new_sequence(n, &seq, window);
            let mut tf_list = vec![[0.0f64; 2]; thre + 2];
            let mut precision_list = vec![1.0f64; thre + 1];
            let mut j = 0;
            for &i in &positions {
                let threshold = score_sorted[i];
                let pred: Vec<f64> = score
                    .iter()
                    .map(|&s| f64::from(u8::from(s >= threshold)))
                    .collect();
                let mut labels = labels_extended.clone();
                let mut existence = 0usize;
                for &(a, b) in &big_l {
                    for t in a..=b {
                        labels[t] = labels_extended[t] * pred[t];
                    }
                    if (a..=b).any(|t| pred[t] > 0.0) {
                        existence += 1;
                    }
                }
                for &(a, b) in &seq {
                    for v in &mut labels[a..=b] {
                        *v = 1.0;
                    }
                }
                let (mut tp, mut n_labels) = (0.0, 0.0);
                for &(a, b) in &l {
                    tp += (a..=b).map(|t| labels[t] * pred[t]).sum::<f64>();
                    n_labels += labels[a..=b].iter().sum::<f64>();
                }
                tp += tp_init[j];
                let fp = n_pred[j] - tp;
                let existence_ratio = existence as f64 / big_l.len() as f64;
                let p_new = (p + n_labels) / 2.0;
                let recall = (tp / p_new).min(1.0);
                let tpr = recall * existence_ratio;
                let n_new = labels.len() as f64 - p_new;
                let fpr = fp / n_new;
                let precision = tp / n_pred[j];
                j += 1;
                tf_list[j] = [tpr, fpr];
                precision_list[j] = precision;
            }
            tf_list[j + 1] = [1.0, 1.0];
            let auc: f64 = (1..thre + 2)
                .map(|i| (tf_list[i][1] - tf_list[i - 1][1]) * (tf_list[i][0] + tf_list[i - 1][0]) / 2.0)
                .sum();
            let ap: f64 = (1..thre + 1)
                .map(|i| (tf_list[i][0] - tf_list[i - 1][0]) * precision_list[i])
                .sum();
            auc_3d.push(auc);
            ap_3d.push(ap);
        }
        let count = (window_size + 1) as f64;
        (
            auc_3d.iter().sum::<f64>() / count,
            ap_3d.iter().sum::<f64>() / count,
        )
    }
}

/// xorshift64*, uniform in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Labels with segments of 1..=max_len rows (some touching the ends), scores that lean towards
/// the labels, rounded to `levels` values so that ties occur.
fn case(rng: &mut Rng, n: usize, seg_rate: f64, max_len: usize, levels: f64) -> (Vec<bool>, Vec<f64>) {
    let mut truth = vec![false; n];
    let mut t = 0;
    while t < n {
        if rng.next() < seg_rate {
            let len = 1 + (rng.next() * max_len as f64) as usize;
            truth[t..(t + len).min(n)].fill(true);
            t += len;
        }
        t += 1;
    }
    let scores = truth
        .iter()
        .map(|&l| ((rng.next() + if l { 0.4 } else { 0.0 }) * levels).round() / levels)
        .collect();
    (truth, scores)
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} != {b}");
}

#[test]
fn matches_the_reference_on_random_cases() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = 0;
    for &(n, seg_rate, max_len, levels) in &[
        (60, 0.05, 6, 1e6),
        (137, 0.02, 15, 20.0),
        (300, 0.01, 30, 1e6),
        (300, 0.08, 3, 8.0),
        (251, 0.03, 10, 1e6),
    ] {
        for &(max_buffer, thresholds) in &[(0, 250), (1, 250), (6, 250), (21, 7), (40, 250)] {
            let (truth, scores) = case(&mut rng, n, seg_rate, max_len, levels);
            if !truth.iter().any(|t| *t) || truth.iter().all(|t| *t) {
                continue; // the reference fails on these
            }
            let labels: Vec<u8> = truth.iter().map(|&t| u8::from(t)).collect();
            let (roc, pr) = reference::range_auc_volume_opt(&labels, &scores, max_buffer, thresholds);
            let got = vus(
                &scores,
                &truth,
                &VusConfig {
                    max_buffer,
                    thresholds,
                },
            );
            let what = format!("n {n}, buffer {max_buffer}, thresholds {thresholds}");
            close(got.pr, pr, &format!("VUS-PR, {what}"));
            close(got.roc, roc, &format!("VUS-ROC, {what}"));
            cases += 1;
        }
    }
    assert!(cases >= 20, "only {cases} cases had labels");
}

#[test]
fn a_perfect_score_has_volume_one() {
    let truth: Vec<bool> = "0001111000000110000000001".chars().map(|c| c == '1').collect();
    let scores: Vec<f64> = truth.iter().map(|&t| f64::from(u8::from(t))).collect();
    for max_buffer in [0, 3, 10] {
        let v = vus(
            &scores,
            &truth,
            &VusConfig {
                max_buffer,
                thresholds: 250,
            },
        );
        close(v.pr, 1.0, "VUS-PR");
        close(v.roc, 1.0, "VUS-ROC");
    }
}

#[test]
fn buffer_zero_with_one_segment_is_average_precision() {
    // One segment, 200 rows (≤ 250: every sorted position is a threshold), distinct scores.
    let mut rng = Rng(7);
    let truth: Vec<bool> = (0..200).map(|t| (120..140).contains(&t)).collect();
    let scores: Vec<f64> = truth
        .iter()
        .map(|&l| rng.next() + if l { 0.3 } else { 0.0 })
        .collect();
    let v = vus(
        &scores,
        &truth,
        &VusConfig {
            max_buffer: 0,
            thresholds: 250,
        },
    );
    close(v.pr, auc_pr(&scores, &truth), "buffer-0 VUS-PR vs AP");
}

#[test]
fn hand_computed_buffers() {
    // Rows 2, 3 labelled; scores rank rows 2, 4, 1, 3, 0, 5. Buffers 0 and 1 carry no buffer:
    // recall reaches ½ at the first threshold (precision 1) and 1 at the fourth (precision ½),
    // AP = ½·1 + ½·½ = ¾. Buffer 2 gives rows 1 and 4 the weight r = √(1 − ½):
    //   threshold 1 {2}:       TP 1,      P' 2,           TPR ½,                 precision 1
    //   threshold 2 {2,4}:     TP 1 + r,  P' (4 + r)/2,   TPR (1 + r)/P',        precision (1 + r)/2
    //   threshold 3 {1,2,4}:   TP 1 + 2r, P' (4 + 2r)/2,  TPR (1 + 2r)/P',       precision (1 + 2r)/3
    //   threshold 4 {1,2,3,4}: TP 2 + 2r, P' (4 + 2r)/2,  TPR min(·, 1) = 1,     precision (2 + 2r)/4
    let truth = [false, false, true, true, false, false];
    let scores = [0.1, 0.5, 0.9, 0.2, 0.8, 0.0];
    let r = 0.5f64.sqrt();
    let tpr = [
        0.5,
        (1.0 + r) / ((4.0 + r) / 2.0),
        (1.0 + 2.0 * r) / ((4.0 + 2.0 * r) / 2.0),
        1.0,
    ];
    let precision = [1.0, (1.0 + r) / 2.0, (1.0 + 2.0 * r) / 3.0, (2.0 + 2.0 * r) / 4.0];
    let mut ap2 = 0.0;
    let mut prev = 0.0;
    for (t, p) in tpr.iter().zip(precision) {
        ap2 += (t - prev) * p;
        prev = *t;
    }
    let v = vus(
        &scores,
        &truth,
        &VusConfig {
            max_buffer: 2,
            thresholds: 250,
        },
    );
    close(v.pr, (0.75 + 0.75 + ap2) / 3.0, "VUS-PR");
    let v0 = vus(
        &scores,
        &truth,
        &VusConfig {
            max_buffer: 0,
            thresholds: 250,
        },
    );
    close(v0.pr, 0.75, "buffer-0 VUS-PR");
}

#[test]
fn no_labelled_row_scores_zero() {
    let v = vus(&[0.3, 0.1, 0.2], &[false; 3], &VusConfig::default());
    assert_eq!(v, Vus::default());
}
