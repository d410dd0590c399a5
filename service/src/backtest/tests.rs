//! Backtest tests: cut-off arithmetic, a hand-computed Repeat backtest on a ramp, and fits that
//! never read rows at or after their cut-off.
use std::io::Write;
use std::path::Path;

use statecast_models::train::NoopObserver;

use super::*;

fn plan(cutoffs: usize, step: usize, refit_every: usize) -> BacktestPlan {
    BacktestPlan {
        cutoffs,
        step,
        refit_every,
        val_fraction: 0.2,
        season: 1,
    }
}

#[test]
fn cutoffs_end_the_last_forecast_on_the_last_row() {
    let p = plan(3, 24, 1);
    assert_eq!(p.cutoff_rows(1000, 96, 24).unwrap(), vec![928, 952, 976]);
    assert_eq!(plan(1, 5, 0).cutoff_rows(200, 96, 10).unwrap(), vec![190]);
    // The first cut-off needs a full look-back before it: 96 + 24 + 2·24 = 168 rows.
    assert_eq!(p.cutoff_rows(168, 96, 24).unwrap(), vec![96, 120, 144]);
    let err = p.cutoff_rows(167, 96, 24).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { field, .. } if field == "cutoffs"),
        "{err:?}"
    );
    // Overflowing arithmetic is a refusal, not a panic.
    assert!(
        plan(MAX_CUTOFFS, usize::MAX / 2, 0)
            .cutoff_rows(10, 1, 1)
            .is_err()
    );
}

#[test]
fn fits_follow_refit_every() {
    assert_eq!(plan(5, 1, 0).fits(), vec![0]);
    assert_eq!(plan(5, 1, 1).fits(), vec![0, 1, 2, 3, 4]);
    assert_eq!(plan(5, 1, 2).fits(), vec![0, 2, 4]);
    assert!(plan(MAX_FITS + 1, 1, 1).validate().is_err());
    assert!(plan(0, 1, 1).validate().is_err());
    assert!(plan(1, 0, 1).validate().is_err());
    let mut p = plan(2, 1, 1);
    p.val_fraction = 1.0;
    assert!(matches!(p.validate(), Err(Error::InvalidArgument { field, .. }) if field == "val_fraction"));
    p.val_fraction = 0.2;
    p.season = 0;
    assert!(matches!(p.validate(), Err(Error::InvalidArgument { field, .. }) if field == "season"));
}

/// An hourly CSV of `rows` rows with the given columns of values.
fn write_csv(path: &Path, columns: &[(&str, &dyn Fn(usize) -> f64)], rows: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    writeln!(f, "date,{}", names.join(",")).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2021, 3, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for t in 0..rows {
        let when = start + chrono::Duration::hours(t as i64);
        let values: Vec<String> = columns.iter().map(|(_, f)| format!("{}", f(t))).collect();
        writeln!(f, "{},{}", when.format("%Y-%m-%d %H:%M:%S"), values.join(",")).unwrap();
    }
}

fn request(path: &Path, family: ModelFamily, plan: BacktestPlan) -> BacktestRequest {
    BacktestRequest {
        data: DatasetSpec::wide(path.to_path_buf()),
        family,
        model_overrides: None,
        lookback: 16,
        horizon: 4,
        train: TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        },
        device: DeviceSpec::Cpu,
        plan,
    }
}

/// On a ramp `y_t = t`, Repeat forecasts `c − 1` from cut-off `c`: step `h` misses by `h`, so
/// MAE = `h`, MSE = `h²`, MASE = `h` (the naive one-step error is 1) and sMAPE =
/// `200 h / (2c + h − 2)`.
#[test]
fn repeat_on_a_ramp_scores_as_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ramp.csv");
    write_csv(&path, &[("a", &|t| t as f64), ("b", &|t| 1000.0 + t as f64)], 300);
    let report = run(
        &request(&path, ModelFamily::Repeat, plan(3, 10, 2)),
        &mut NoopObserver,
    )
    .unwrap();
    assert_eq!(report.rows.len(), 3 * 4);
    assert_eq!(
        report
            .fits
            .iter()
            .map(|f| (f.cutoff, f.epochs))
            .collect::<Vec<_>>(),
        vec![(1, 0), (3, 0)]
    );
    let start = 1_614_556_800_000_000i64; // 2021-03-01T00:00:00Z in µs
    for row in &report.rows {
        let c = 300 - 4 - (3 - row.cutoff) * 10;
        let h = row.step as f64;
        assert_eq!(row.cutoff_time, start + c as i64 * 3_600_000_000);
        assert_eq!(row.fitted_at, if row.cutoff < 3 { 1 } else { 3 });
        assert_eq!(row.observed, 2);
        assert!((row.mae - h).abs() < 1e-3, "{row:?}");
        assert!((row.mse - h * h).abs() < 1e-2, "{row:?}");
        assert!((row.mase - h).abs() < 1e-3, "{row:?}");
        let smape_a = 200.0 * h / (2.0 * c as f64 + h - 2.0);
        let smape_b = 200.0 * h / (2.0 * (1000.0 + c as f64) + h - 2.0);
        assert!((row.smape - (smape_a + smape_b) / 2.0).abs() < 1e-3, "{row:?}");
    }
    let all = BacktestSummary::of(&report.rows);
    assert_eq!(all.rows, 12);
    assert!((all.mae - 2.5).abs() < 1e-3);
}

/// A fit at cut-off `c` reads nothing at or after `c`: garbage there leaves its model, scaler
/// and intervals unchanged.
#[test]
fn fits_never_read_rows_at_or_after_their_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.csv");
    let poisoned = dir.path().join("poisoned.csv");
    let signal = |t: usize| (t as f64 * 0.3).sin() + 0.01 * t as f64;
    let cut = 200;
    write_csv(&clean, &[("a", &signal)], 260);
    write_csv(
        &poisoned,
        &[("a", &|t| if t >= cut { 1e6 - t as f64 } else { signal(t) })],
        260,
    );
    let req = request(&clean, ModelFamily::Linear, plan(1, 1, 0));
    let config = req.family.default_config(16, 4).with_overrides(None).unwrap();
    let device = Device::flex();
    let fitted = |path: &Path| {
        let (frame, _) = source::load(&DatasetSpec::wide(path.to_path_buf())).unwrap();
        let (f, _) = fit(&req, &config, &frame, &[cut], &device, &mut NoopObserver).unwrap();
        let window: Vec<f32> = (cut - 16..cut).map(|t| signal(t) as f32).collect();
        let x = Tensor::<3>::from_data(TensorData::new(window, [1, 16, 1]), &device);
        let (center, scale) = f
            .scaler
            .stats("clean")
            .or_else(|_| f.scaler.stats("poisoned"))
            .unwrap();
        let x = (x - center[0]) / scale[0];
        let y = f.model.forecast(x).into_data().try_to_vec::<f32>().unwrap();
        (y, f.scaler.center.clone(), f.intervals.map(|i| i.offsets(0.9)))
    };
    // Training sums in parallel, so two fits of the same rows agree to float rounding, not
    // bit for bit; rows at or after the cut-off (values near 10⁶) would move everything far
    // more than the tolerance.
    let close = |a: &[f32], b: &[f32]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    };
    let (a, b) = (fitted(&clean), fitted(&poisoned));
    assert!(close(&a.0, &b.0), "forecasts {:?} vs {:?}", a.0, b.0);
    assert_eq!(a.1, b.1, "the scaler sees the training rows only");
    let (ia, ib) = (a.2.unwrap(), b.2.unwrap());
    assert!(
        ia.iter()
            .zip(&ib)
            .all(|(x, y)| (x - y).abs() <= 1e-3 * (1.0 + y.abs())),
        "interval offsets {ia:?} vs {ib:?}"
    );
}

/// Rows written as Parquet read back equal (NaN as null), and as CSV with one line per row.
#[test]
fn rows_round_trip_through_parquet_and_csv() {
    use arrow::array::{Array, Float64Array, StringArray, TimestampMicrosecondArray, UInt32Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ramp.csv");
    write_csv(&path, &[("a", &|t| t as f64)], 120);
    let report = run(
        &request(&path, ModelFamily::Repeat, plan(2, 4, 0)),
        &mut NoopObserver,
    )
    .unwrap();
    let mut rows = report.rows.clone();
    rows[0].smape = f64::NAN;
    let out = dir.path().join("rows.parquet");
    write_rows(&out, &rows).unwrap();
    let file = std::fs::File::open(&out).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.num_rows(), rows.len());
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    let cutoff = col("cutoff");
    let cutoff = cutoff.as_any().downcast_ref::<UInt32Array>().unwrap();
    let time = col("cutoff_time");
    let time = time.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    let series = col("series");
    let series = series.as_any().downcast_ref::<StringArray>().unwrap();
    let mae = col("mae");
    let mae = mae.as_any().downcast_ref::<Float64Array>().unwrap();
    let smape = col("smape");
    let smape = smape.as_any().downcast_ref::<Float64Array>().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(cutoff.value(i) as usize, r.cutoff);
        assert_eq!(time.value(i), r.cutoff_time);
        assert_eq!(series.value(i), r.series);
        assert_eq!(mae.value(i), r.mae);
    }
    assert!(smape.is_null(0) && !smape.is_null(1));
    let csv_out = dir.path().join("rows.csv");
    write_rows(&csv_out, &rows).unwrap();
    let text = std::fs::read_to_string(&csv_out).unwrap();
    assert_eq!(text.lines().count(), rows.len() + 1);
    assert!(text.starts_with("cutoff,cutoff_time,fitted_at,series,step,"));
    // No temporary files are left beside them.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
