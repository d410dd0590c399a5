//! The whole data path in one place: file → validated frame → split → train-only scaler →
//! windows → burn batches, checked value by value against the source, on simulator data always
//! and on the published ETTh1 protocol when `shared/data` is present.
use std::sync::Arc;

use burn::prelude::Device;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::shared_data::shared_data_file;
use statecast_pipelines::simulate::{SimConfig, simulate};
use statecast_pipelines::sink::{WriteOptions, write_csv, write_parquet};
use statecast_pipelines::source::{DatasetSpec, Layout, load};
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_pipelines::window::{WindowDataset, WindowIndex, WindowSpec};

fn sim_spec(path: &std::path::Path) -> DatasetSpec {
    let mut spec = DatasetSpec::wide(path);
    spec.layout = Layout::Wide {
        time_column: Some("timestamp".into()),
        series_column: Some("series_id".into()),
        value_columns: None,
    };
    spec.label_column = Some("label".into());
    spec.missing = MissingPolicy::Mask;
    spec
}

fn host(t: burn::prelude::Tensor<3>) -> Vec<f32> {
    t.into_data().convert::<f32>().as_slice::<f32>().unwrap().to_vec()
}

/// Simulator → CSV → load → Parquet → load → windows: every batch value equals the scaled
/// source value (NaN ↔ mask 0), and the two files give identical frames.
#[test]
fn csv_to_parquet_to_windows_equals_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        series: 2,
        variates: 4,
        length: 2016,
        missing_rate: 0.01,
        ..SimConfig::default()
    };
    let sim = simulate(&cfg).unwrap();
    let csv = dir.path().join("sensors.csv");
    write_csv(&sim.frame, &csv, &WriteOptions::default()).unwrap();
    let (from_csv, _) = load(&sim_spec(&csv)).unwrap();
    let parquet = dir.path().join("sensors.parquet");
    write_parquet(&from_csv, &parquet, &WriteOptions::default()).unwrap();
    let (frame, report) = load(&sim_spec(&parquet)).unwrap();

    // Bitwise equality through both formats (NaN compared as NaN).
    assert_eq!(frame.columns, sim.frame.columns);
    for (a, b) in frame.series.iter().zip(&sim.frame.series) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.timestamps, b.timestamps);
        assert_eq!(a.labels, b.labels);
        for (ca, cb) in a.values.iter().zip(&b.values) {
            assert!(
                ca.iter()
                    .zip(cb)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            );
        }
    }
    assert!(
        report.missing.iter().map(|m| m.count).sum::<usize>() > 0,
        "simulated data has missing points"
    );

    // Split, scaler on train only, windows.
    let (lookback, horizon) = (96, 24);
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let ranges = split.frame_ranges(&frame, lookback).unwrap();
    let scaler = Scaler::fit_train(&frame, ScalerKind::ZScore, ScalerScope::Global, &ranges).unwrap();
    let mut scaled = frame.clone();
    scaler.transform(&mut scaled).unwrap();
    let scaled = Arc::new(scaled);
    let spec = WindowSpec::new(lookback, horizon);
    let index = WindowIndex::for_split(&scaled, spec, &ranges, SplitPart::Test).unwrap();
    let n_test = (0.2f64 * 2016.0) as usize; // 403 rows, read from L rows before the boundary
    let per_series = n_test - horizon + 1;
    assert_eq!(
        index.len(),
        2 * per_series,
        "test windows = int(0.2 n) − H + 1 per series"
    );
    let dataset = WindowDataset::new(scaled.clone(), index).unwrap();
    let device = Device::flex();
    let c = frame.n_variates();
    for range in dataset.index().batches(32, false) {
        let batch = dataset.batch(range.clone(), &device);
        let (x, xm) = (host(batch.x), host(batch.x_mask));
        for (b, w) in range.enumerate() {
            let r = dataset.index().get(w).unwrap();
            let s = &scaled.series[r.series];
            for t in 0..lookback {
                for v in 0..c {
                    let src = s.values[v][r.start + t];
                    let i = (b * lookback + t) * c + v;
                    if src.is_nan() {
                        assert_eq!((x[i], xm[i]), (0.0, 0.0));
                    } else {
                        assert_eq!((x[i], xm[i]), (src, 1.0), "window {w} t {t} v {v}");
                    }
                }
            }
        }
    }
}

/// ETTh1 with L = 96: the window counts of the published protocol, and the first train window
/// equals the first 96 CSV rows z-scored with train-only statistics.
#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn etth1_protocol_windows() {
    let path = shared_data_file("forecasting/ETTh1.csv");
    let (frame, _) = load(&DatasetSpec::wide(&path)).unwrap();
    let ranges = SplitSpec::EttHourly.frame_ranges(&frame, 96).unwrap();
    for h in [96, 192, 336, 720] {
        let spec = WindowSpec::new(96, h);
        let n = |p| WindowIndex::for_split(&frame, spec, &ranges, p).unwrap().len();
        assert_eq!(n(SplitPart::Train), 8640 - 96 - h + 1, "train H={h}");
        assert_eq!(n(SplitPart::Val), 2880 - h + 1, "val H={h}");
        assert_eq!(n(SplitPart::Test), 2880 - h + 1, "test H={h}");
    }
    let scaler = Scaler::fit_train(&frame, ScalerKind::ZScore, ScalerScope::Global, &ranges).unwrap();
    // OT (last column): train mean/std computed independently here in f64.
    let ot = &frame.series[0].values[6][..8640];
    let mean = ot.iter().map(|&v| v as f64).sum::<f64>() / 8640.0;
    let std = (ot.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 8640.0).sqrt();
    assert!((scaler.center[6] as f64 - mean).abs() < 1e-4 && (scaler.scale[6] as f64 - std).abs() < 1e-4);
    let mut scaled = frame.clone();
    scaler.transform(&mut scaled).unwrap();
    let scaled = Arc::new(scaled);
    let index = WindowIndex::for_split(&scaled, WindowSpec::new(96, 96), &ranges, SplitPart::Train).unwrap();
    let dataset = WindowDataset::new(scaled, index).unwrap();
    let first = dataset.item(0).unwrap();
    for t in 0..96 {
        let expected = ((frame.series[0].values[6][t] as f64 - mean) / std) as f32;
        assert!((first.x[t * 7 + 6] - expected).abs() < 1e-5, "t={t}");
    }
}
