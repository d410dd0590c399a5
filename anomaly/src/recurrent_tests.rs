//! The recurrent state machine of [`statecast_models::streaming`] run through detectors: batch
//! and streaming scores agree row by row, for SpaceTime and for a second family.
use std::sync::Arc;

use burn::prelude::*;
use statecast_models::baseline::RepeatConfig;
use statecast_models::spacetime::{SpaceTime, SpaceTimeConfig};
use statecast_models::zoo::AnyModel;
use statecast_pipelines::Series;

use crate::{Detector, DetectorSettings, Predictor, StreamDetector, StreamOutput};

const L: usize = 16;
const NV: usize = 2;

fn model() -> SpaceTime {
    SpaceTimeConfig::new(L, 4)
        .with_d_model(8)
        .with_state_dim(4)
        .with_first_n_kernels(2)
        .with_first_n_heads(2)
        .with_n_kernels(8)
        .with_n_encoder_blocks(2)
        .init(&Device::flex())
}

/// A smooth two-variate signal plus a little deterministic noise, [rows, variates].
fn rows(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|t| {
            let t = t as f32;
            [
                (t * 0.3).sin() + 0.05 * (t * 7.1).cos(),
                (t * 0.11).cos() * 2.0 + 0.05 * (t * 3.7).sin(),
            ]
        })
        .collect()
}

fn series_of(n: usize) -> (Series, Vec<String>) {
    let data = rows(n);
    let series = Series {
        id: "s".into(),
        timestamps: (0..n as i64).map(|t| t * 60_000_000).collect(),
        values: (0..NV)
            .map(|v| data.iter().skip(v).step_by(NV).copied().collect())
            .collect(),
        labels: None,
    };
    (series, vec!["a".to_string(), "b".to_string()])
}

/// Stream every row of `series` through a [`StreamDetector`] and compare each score with
/// the batch score of the same row; returns the rows scored.
fn stream_equals_batch(det: &Detector, pred: &Predictor, series: &Series) -> usize {
    let batch = det.score_series(pred, series, 64).unwrap();
    let mut stream = StreamDetector::new(
        "s",
        Arc::new(det.clone()),
        Arc::new(pred.clone()),
        vec![0.0; NV],
        vec![1.0; NV],
    )
    .unwrap();
    let mut scored = 0;
    for t in 0..series.timestamps.len() {
        let row: Vec<f32> = series.values.iter().map(|c| c[t]).collect();
        if let StreamOutput::Scored(p) = stream.push(series.timestamps[t], &row).unwrap() {
            let b = batch.score[t];
            assert!(
                (p.score.is_nan() && b.is_nan()) || (p.score - b).abs() <= 1e-9 * (1.0 + b.abs()),
                "row {t}: stream {} batch {b}",
                p.score
            );
            scored += 1;
        }
    }
    scored
}

/// The generic recurrent path with a family other than SpaceTime: Repeat's recurrent form
/// (state = the last row) through the detector's batch path and the stream, row by row;
/// its windowed outputs are the same as its recurrent ones.
#[test]
fn batch_and_stream_agree_with_a_recurrent_repeat_detector() {
    let dev = Device::flex();
    let n = 10 * L;
    let (series, columns) = series_of(n);
    let repeat = AnyModel::Repeat(RepeatConfig::new(L, 3).init(&dev));
    let pred = Predictor::model(repeat, 3, dev);
    assert!(pred.is_recurrent() && !pred.has_reconstruction());
    let det = Detector::fit(&pred, &DetectorSettings::default(), &columns, &[(&series, 5 * L)]).unwrap();
    assert!(det.recurrent);
    assert_eq!(stream_equals_batch(&det, &pred, &series), n - L + 1);
    // Recurrent and windowed outputs agree exactly for Repeat, row by row.
    let windowed = pred.clone().with_recurrent(false);
    let mut state = pred.recurrent_series(NV).unwrap();
    let data = rows(n);
    for t in 0..n {
        let out = pred.push_recurrent(&mut state, &data[t * NV..(t + 1) * NV]);
        if t + 1 >= L {
            let w = windowed
                .run(&data[(t + 1 - L) * NV..(t + 1) * NV], 1, NV)
                .remove(0);
            assert_eq!(out, Some(w), "row {t}");
        }
    }
}

#[test]
fn batch_and_stream_agree_with_a_recurrent_spacetime_detector() {
    let m = model();
    let dev = Device::flex();
    let n = 10 * L;
    let (series, columns) = series_of(n);
    let pred = Predictor::model(AnyModel::SpaceTime(m), 2, dev);
    assert!(pred.is_recurrent() && pred.has_reconstruction());
    let det = Detector::fit(&pred, &DetectorSettings::default(), &columns, &[(&series, 5 * L)]).unwrap();
    assert!(det.recurrent);
    assert_eq!(stream_equals_batch(&det, &pred, &series), n - L + 1);
    // A detector fitted on windows is refused by a recurrent predictor, and vice versa.
    let windowed = pred.clone().with_recurrent(false);
    assert!(det.score_series(&windowed, &series, 64).is_err());
    assert!(
        StreamDetector::new(
            "s",
            Arc::new(det),
            Arc::new(windowed),
            vec![0.0; NV],
            vec![1.0; NV]
        )
        .is_err()
    );
}
