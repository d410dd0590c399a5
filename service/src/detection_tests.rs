//! Detection on simulator data: a small model trained on the clean prefix finds injected
//! anomalies of every kind, and the streaming path reproduces the batch path point by point.
//! These tests live in the service crate because they train with [`crate::training`].
use std::sync::Arc;

use burn::prelude::*;
use statecast_anomaly::{
    Detector, DetectorSettings, Predictor, StreamDetector, StreamOutput, ThresholdMethod,
};
use statecast_models::artifact::Artifact;
use statecast_models::device::DeviceSpec;
use statecast_models::train::{NoopObserver, TrainConfig};
use statecast_pipelines::Series;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::simulate::{AnomalyKind, SimConfig, Simulation, simulate, write_simulation};
use statecast_pipelines::sink::WriteOptions;
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;

use crate::training::{TrainRequest, train_to_artifact};
use statecast_models::zoo::ModelFamily;

const L: usize = 48;
const LEN: usize = 4032;
/// Rows used to fit the normaliser (the model trains on the same rows).
const TRAIN_END: usize = 1400;

fn sim() -> Simulation {
    sim_with_rate(SimConfig::default().anomaly_rate)
}

/// [`sim`] with `rate` anomaly segments per 1000 rows of each series' second half.
fn sim_with_rate(rate: f64) -> Simulation {
    simulate(&SimConfig {
        series: 3,
        variates: 4,
        length: LEN,
        missing_rate: 0.0,
        seed: 7,
        anomaly_rate: rate,
        ..SimConfig::default()
    })
    .unwrap()
}

/// Train a linear forecaster on the clean prefix; return the model's scaled frame and predictor.
fn trained(sim: &Simulation, dir: &std::path::Path) -> (Artifact, Predictor) {
    let files = write_simulation(sim, dir, false).unwrap();
    let data = DatasetSpec::for_written(
        &files.sensors_parquet,
        &WriteOptions::default(),
        MissingPolicy::Error,
    );
    let train_frac = TRAIN_END as f64 / LEN as f64;
    let req = TrainRequest {
        data,
        split: SplitSpec::Ratio {
            train: train_frac,
            val: 0.5 - train_frac,
            test: 0.5,
        },
        family: ModelFamily::Linear,
        model_overrides: None,
        lookback: L,
        horizon: 8,
        train: TrainConfig {
            epochs: 3,
            ..TrainConfig::default()
        },
        device: DeviceSpec::Cpu,
        out: dir.join("model"),
        checkpoint_dir: None,
    };
    train_to_artifact(&req, &mut NoopObserver).unwrap();
    let dev = Device::flex();
    let (art, model) = Artifact::load(&dir.join("model"), &dev).unwrap();
    (art, Predictor::model(model, 4, dev))
}

fn head(s: &Series, n: usize) -> Series {
    Series {
        id: s.id.clone(),
        timestamps: s.timestamps[..n].to_vec(),
        values: s.values.iter().map(|c| c[..n].to_vec()).collect(),
        labels: None,
    }
}

fn fit(art: &Artifact, pred: &Predictor, frame: &statecast_pipelines::TimeFrame) -> Detector {
    let clean = LEN / 2;
    let heads: Vec<Series> = frame.series.iter().map(|s| head(s, clean)).collect();
    let parts: Vec<(&Series, usize)> = heads.iter().map(|s| (s, TRAIN_END)).collect();
    let settings = DetectorSettings {
        threshold: ThresholdMethod::Pot {
            init_quantile: 0.97,
            risk: 1e-3,
        },
        ..Default::default()
    };
    Detector::fit(pred, &settings, &art.schema.columns, &parts).unwrap()
}

#[test]
fn finds_injected_anomalies_of_every_kind_and_streams_identically() {
    let sim = sim();
    let tmp = tempfile::tempdir().unwrap();
    let (art, pred) = trained(&sim, tmp.path());
    let mut frame = sim.frame.clone();
    art.scaler.transform(&mut frame).unwrap();
    let det = fit(&art, &pred, &frame);

    let mut found = std::collections::BTreeMap::<AnomalyKind, (usize, usize)>::new();
    let mut false_alarm_rows = 0;
    let mut clean_rows = 0;
    for s in &frame.series {
        let r = det.score_series(&pred, s, 256).unwrap();
        for seg in sim.segments.iter().filter(|g| g.series == s.id) {
            let hit = (seg.start..(seg.end + 10).min(LEN)).any(|t| r.in_alarm[t]);
            let e = found.entry(seg.kind).or_default();
            e.0 += usize::from(hit);
            e.1 += 1;
            // Attribution: an alarm overlapping the segment names an affected sensor first.
            if hit
                && let Some(a) = r
                    .segments
                    .iter()
                    .find(|a| (a.start as usize) < seg.end + 10 && (a.end as usize) > seg.start)
                && matches!(seg.kind, AnomalyKind::Spike | AnomalyKind::LevelShift)
            {
                let top = &det.columns[a.top[0].variate];
                assert!(
                    seg.variates.contains(top),
                    "{:?}: top {top}, affected {:?}",
                    seg.kind,
                    seg.variates
                );
            }
        }
        // Clean rows: not within 50 rows before an incident, nor within the rows after it whose
        // window or running averages still hold it (the margin fitting leaves out).
        let after = Detector::exclusion_margin(L);
        let labels = s.labels.as_ref().unwrap();
        for (t, &label) in labels.iter().enumerate().skip(LEN / 2) {
            if label == 0
                && !sim
                    .segments
                    .iter()
                    .any(|g| g.series == s.id && g.start <= t + 50 && t < g.end + after)
            {
                clean_rows += 1;
                false_alarm_rows += usize::from(r.in_alarm[t]);
            }
        }
    }
    eprintln!("found per kind (hit, total): {found:?}; false-alarm rows {false_alarm_rows}/{clean_rows}");
    for kind in AnomalyKind::ALL {
        let (hit, total) = found.get(&kind).copied().unwrap_or_default();
        assert!(total > 0, "{kind} was not injected");
        assert!(hit > 0, "no {kind} segment found ({hit}/{total})");
    }
    assert!(
        (false_alarm_rows as f64) < 0.02 * clean_rows as f64,
        "{false_alarm_rows}/{clean_rows} false alarm rows"
    );

    // Streaming: the same scores point by point from raw values.
    let raw = &sim.frame.series[0];
    let batch = det.score_series(&pred, &frame.series[0], 256).unwrap();
    let (center, scale) = art.scaler.stats(&raw.id).unwrap();
    let mut st = StreamDetector::new(
        &raw.id,
        Arc::new(det.clone()),
        Arc::new(pred.clone()),
        center.to_vec(),
        scale.to_vec(),
    )
    .unwrap();
    let before = st.memory_bytes();
    for t in 0..LEN {
        match st.push(raw.timestamps[t], &raw.row(t)).unwrap() {
            StreamOutput::WarmingUp { .. } => assert!(t < L - 1),
            StreamOutput::Scored(p) => {
                let b = batch.score[t];
                assert!(
                    (p.score.is_nan() && b.is_nan()) || (p.score - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "row {t}: stream {} batch {b}",
                    p.score
                );
                assert_eq!(p.in_alarm, batch.in_alarm[t], "row {t}");
            }
        }
    }
    assert_eq!(st.memory_bytes(), before, "memory per series is fixed");
    // Rejected pushes: unsorted timestamp, NaN, wrong variate count.
    let last = raw.timestamps[LEN - 1];
    assert!(st.push(last, &raw.row(0)).is_err());
    assert!(st.push(last + 1, &[f32::NAN; 4]).is_err());
    assert!(st.push(last + 1, &[0.0; 3]).is_err());
}

#[test]
fn raw_value_baseline_finds_spikes() {
    let sim = sim();
    let mut frame = sim.frame.clone();
    let scaler = statecast_pipelines::scale::Scaler::fit(
        &frame,
        statecast_pipelines::scale::ScalerKind::ZScore,
        statecast_pipelines::scale::ScalerScope::Global,
        &vec![0..TRAIN_END; 3],
    )
    .unwrap();
    scaler.transform(&mut frame).unwrap();
    let pred = Predictor::RawValue;
    let heads: Vec<Series> = frame.series.iter().map(|s| head(s, LEN / 2)).collect();
    let parts: Vec<(&Series, usize)> = heads.iter().map(|s| (s, TRAIN_END)).collect();
    let det = Detector::fit(&pred, &DetectorSettings::default(), &frame.columns, &parts).unwrap();
    let spikes: Vec<_> = sim
        .segments
        .iter()
        .filter(|g| g.kind == AnomalyKind::Spike)
        .collect();
    assert!(!spikes.is_empty());
    let mut hit = 0;
    for g in &spikes {
        let s = frame.series.iter().find(|s| s.id == g.series).unwrap();
        let r = det.score_series(&pred, s, 256).unwrap();
        hit += usize::from((g.start..g.end).any(|t| r.flagged[t]));
    }
    assert!(hit * 2 >= spikes.len(), "{hit}/{} spikes", spikes.len());
}

/// The detector's threshold on the raw aggregate score (`median + T · scale`), comparable
/// between detectors whose calibrations differ.
fn raw_threshold(d: &Detector) -> f64 {
    d.calibration.median + d.threshold.value * d.calibration.scale
}

/// Fitting on history that holds incidents (one per series in its second half, a few percent of
/// the validation rows once their after-effects count): with the default (trimmed) threshold, a
/// detector fitted on the whole history, incidents unlabelled, holds the scores to nearly the
/// same threshold as one fitted on the clean part alone; so does one fitted with the incidents
/// labelled (left out). Plain POT lets the incidents raise it.
#[test]
fn thresholds_fitted_on_history_with_incidents_agree_with_clean_history() {
    let sim = sim_with_rate(0.5);
    let tmp = tempfile::tempdir().unwrap();
    let (art, pred) = trained(&sim, tmp.path());
    let mut frame = sim.frame.clone();
    art.scaler.transform(&mut frame).unwrap();
    let clean: Vec<Series> = frame.series.iter().map(|s| head(s, LEN / 2)).collect();
    let unlabelled: Vec<Series> = frame.series.iter().map(|s| head(s, LEN)).collect();
    let cut = LEN * 3 / 5;
    let fit = |parts: &[(&Series, usize)], threshold| {
        let settings = DetectorSettings {
            threshold,
            ..Default::default()
        };
        Detector::fit(&pred, &settings, &art.schema.columns, parts).unwrap()
    };
    let clean_parts: Vec<(&Series, usize)> = clean.iter().map(|s| (s, TRAIN_END)).collect();
    let dirty_parts: Vec<(&Series, usize)> = unlabelled.iter().map(|s| (s, cut)).collect();
    let labelled_parts: Vec<(&Series, usize)> = frame.series.iter().map(|s| (s, cut)).collect();
    let t = ThresholdMethod::default();
    let (c, d, l) = (
        raw_threshold(&fit(&clean_parts, t)),
        raw_threshold(&fit(&dirty_parts, t)),
        raw_threshold(&fit(&labelled_parts, t)),
    );
    let (pc, pd) = (
        raw_threshold(&fit(&clean_parts, ThresholdMethod::POT)),
        raw_threshold(&fit(&dirty_parts, ThresholdMethod::POT)),
    );
    eprintln!(
        "raw thresholds: trimmed clean {c:.3} unlabelled {d:.3} labelled {l:.3}; pot clean {pc:.3} unlabelled {pd:.3}"
    );
    // The stated bound: within 60 % of the clean history's threshold (measured over runs: +16 to
    // +24 % unlabelled, +39 to +47 % labelled; the validation rows are another stretch of the
    // machines' life and the model's training is not bitwise repeatable), where plain POT's
    // nearly triples.
    assert!(
        (d / c - 1.0).abs() < 0.6,
        "unlabelled incidents: {d} vs clean {c}"
    );
    assert!((l / c - 1.0).abs() < 0.6, "labelled incidents: {l} vs clean {c}");
    assert!(
        pd / pc > (d / c).max(1.0) + 0.1,
        "plain POT: {pd} vs {pc}; trimmed {d} vs {c}"
    );
}
