//! The LTSF evaluation protocol: the Repeat baseline reproduces the published rows to three
//! decimals on the real files (when `shared/data` is present), and equals an independent
//! hand computation on simulator data (always).
use statecast_models::device::DeviceSpec;
use statecast_models::train::{NoopObserver, TrainConfig};
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::shared_data::shared_data_file;
use statecast_pipelines::simulate::{SimConfig, simulate};
use statecast_pipelines::sink::{WriteOptions, write_parquet};
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;
use statecast_service::ltsf::{EvalRequest, evaluate};

fn request(data: DatasetSpec, split: SplitSpec, family: ModelFamily, horizons: Vec<usize>) -> EvalRequest {
    EvalRequest {
        dataset_name: data.default_series_id(),
        data,
        split,
        family,
        model_overrides: None,
        lookback: 96,
        horizons,
        train: TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        },
        device: DeviceSpec::Cpu,
        drop_last: true,
    }
}

fn assert_3dp(got: f64, published: f64, what: &str) {
    assert!(
        (got - published).abs() < 5e-4,
        "{what}: got {got:.4}, published {published}"
    );
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn repeat_reproduces_published_rows() {
    // (file, split, horizon, MSE, MAE) from `docs/evaluation.md` §1 (the published Repeat row, TSLib protocol).
    let cases = [
        ("forecasting/ETTh1.csv", SplitSpec::EttHourly, 96, 1.295, 0.713),
        ("forecasting/ETTm2.csv.gz", SplitSpec::Ett15Min, 96, 0.266, 0.328),
        (
            "forecasting/exchange_rate.csv",
            "ratio:0.7,0.1,0.2".parse().unwrap(),
            720,
            0.823,
            0.681,
        ),
    ];
    for (file, split, h, mse, mae) in cases {
        let path = shared_data_file(file);
        let rows = evaluate(
            &request(DatasetSpec::wide(path), split, ModelFamily::Repeat, vec![h]),
            &mut NoopObserver,
        )
        .unwrap();
        assert_3dp(rows[0].mse, mse, &format!("{file} H={h} MSE"));
        assert_3dp(rows[0].mae, mae, &format!("{file} H={h} MAE"));
    }
}

#[test]
fn repeat_equals_hand_computation_on_simulator_data() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulate(&SimConfig {
        series: 2,
        variates: 3,
        length: 2000,
        missing_rate: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let path = dir.path().join("sim.parquet");
    write_parquet(&sim.frame, &path, &WriteOptions::default()).unwrap();
    let spec = DatasetSpec::for_written(&path, &WriteOptions::default(), MissingPolicy::Error);
    let (l, h) = (96usize, 24usize);
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let rows = evaluate(
        &request(spec, split, ModelFamily::Repeat, vec![h]),
        &mut NoopObserver,
    )
    .unwrap();

    // Independent computation: z-score with train-only population stats pooled over series,
    // test windows from n − n_test − L, stride 1, batches of 32 with the last partial dropped.
    let n = 2000usize;
    let (n_train, n_test) = ((0.7 * n as f64) as usize, (0.2 * n as f64) as usize);
    let c = sim.frame.n_variates();
    let (mut mean, mut std) = (vec![0f64; c], vec![0f64; c]);
    for v in 0..c {
        let vals: Vec<f64> = sim
            .frame
            .series
            .iter()
            .flat_map(|s| s.values[v][..n_train].iter().map(|&x| x as f64))
            .collect();
        mean[v] = vals.iter().sum::<f64>() / vals.len() as f64;
        std[v] = (vals.iter().map(|x| (x - mean[v]).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
    }
    let z = |s: usize, v: usize, t: usize| {
        ((sim.frame.series[s].values[v][t] as f64 - mean[v]) / std[v]) as f32 as f64
    };
    let mut windows = Vec::new();
    for s in 0..2 {
        let start = n - n_test - l;
        for w in 0..(n_test - h + 1) {
            windows.push((s, start + w));
        }
    }
    let kept = windows.len() / 32 * 32;
    let (mut se, mut ae, mut cnt) = (0f64, 0f64, 0f64);
    for &(s, w) in &windows[..kept] {
        for v in 0..c {
            let last = z(s, v, w + l - 1);
            for t in 0..h {
                let e = z(s, v, w + l + t) - last;
                se += e * e;
                ae += e.abs();
                cnt += 1.0;
            }
        }
    }
    assert_eq!(rows[0].test_windows, kept);
    assert!(
        (rows[0].mse - se / cnt).abs() < 1e-5,
        "{} vs {}",
        rows[0].mse,
        se / cnt
    );
    assert!(
        (rows[0].mae - ae / cnt).abs() < 1e-5,
        "{} vs {}",
        rows[0].mae,
        ae / cnt
    );
    assert!(rows[0].mse > 0.01, "a non-trivial error");
}

#[test]
fn linear_beats_repeat_on_simulator_data() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulate(&SimConfig {
        series: 1,
        variates: 3,
        length: 3000,
        missing_rate: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let path = dir.path().join("sim.parquet");
    write_parquet(&sim.frame, &path, &WriteOptions::default()).unwrap();
    let spec = DatasetSpec::for_written(&path, &WriteOptions::default(), MissingPolicy::Error);
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let repeat = evaluate(
        &request(spec.clone(), split, ModelFamily::Repeat, vec![48]),
        &mut NoopObserver,
    )
    .unwrap();
    let linear = evaluate(
        &request(spec, split, ModelFamily::Linear, vec![48]),
        &mut NoopObserver,
    )
    .unwrap();
    assert!(
        linear[0].mse < 0.9 * repeat[0].mse,
        "linear {} vs repeat {}",
        linear[0].mse,
        repeat[0].mse
    );
    assert!(linear[0].params > 0 && linear[0].epochs > 0);
}
