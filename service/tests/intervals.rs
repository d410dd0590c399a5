//! Forecast intervals on synthetic data with known, skewed noise: split-conformal intervals
//! (plain and scaled by the window's volatility) fitted on the validation windows cover the test
//! windows at their nominal rate, where the Gaussian ones (same residuals, symmetric by
//! construction) do not.
use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statecast_models::device::DeviceSpec;
use statecast_models::train::{NoopObserver, TrainConfig};
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::source::DatasetSpec;
use statecast_service::forecast::intervals::{METHOD_CONFORMAL, METHOD_CONFORMAL_LOCAL, METHOD_RESIDUAL_RMS};
use statecast_service::ltsf::{EvalRequest, evaluate};

/// Hourly rows of two variates: a daily sine plus exponential noise (mean 1, skewed to the
/// right), the second variate three times as large and offset.
fn write_skewed_csv(path: &std::path::Path, rows: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "date,a,b").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for t in 0..rows {
        let season = (2.0 * std::f64::consts::PI * t as f64 / 24.0).sin();
        let mut exp = || -(1.0 - rng.random::<f64>()).ln();
        let a = season + exp();
        let b = 10.0 + 3.0 * (season + exp());
        let when = start + chrono::Duration::hours(t as i64);
        writeln!(f, "{},{a:.6},{b:.6}", when.format("%Y-%m-%d %H:%M:%S")).unwrap();
    }
}

#[test]
fn conformal_intervals_cover_skewed_noise_at_their_nominal_rate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skewed.csv");
    write_skewed_csv(&path, 12_000);
    let req = EvalRequest {
        dataset_name: "skewed".into(),
        data: DatasetSpec::wide(path),
        split: "ratio:0.6,0.2,0.2".parse().unwrap(),
        family: ModelFamily::Linear,
        model_overrides: None,
        lookback: 96,
        horizons: vec![24],
        train: TrainConfig {
            epochs: 3,
            ..TrainConfig::default()
        },
        device: DeviceSpec::Cpu,
        drop_last: false,
    };
    let rows = evaluate(&req, &mut NoopObserver).unwrap();
    let methods = &rows[0].intervals;
    assert_eq!(
        methods.iter().map(|m| m.method.as_str()).collect::<Vec<_>>(),
        [METHOD_RESIDUAL_RMS, METHOD_CONFORMAL, METHOD_CONFORMAL_LOCAL]
    );
    let (gaussian, conformal) = (&methods[0], &methods[1]);
    for method in &methods[1..] {
        for (nominal, empirical) in &method.coverage {
            assert!(
                (empirical - nominal).abs() < 0.02,
                "{} {nominal}: {empirical} ({method:?})",
                method.method
            );
        }
    }
    // Exponential noise: the Gaussian 80 % interval reaches below the noise's support on one side
    // and covers about 90 % of it.
    let (nominal, empirical) = gaussian.coverage[0];
    assert!(
        (empirical - nominal).abs() > 0.05,
        "gaussian {nominal}: {empirical}"
    );
    assert!(
        conformal.wql < gaussian.wql,
        "conformal WQL {} vs gaussian {}",
        conformal.wql,
        gaussian.wql
    );
}
