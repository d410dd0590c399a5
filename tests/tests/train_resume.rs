//! `statecast train` writes an artifact that `statecast score` reproduces, and a training run
//! killed with SIGKILL resumes from its last checkpoint when the same command runs again.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn train_score_and_resume_after_kill() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
    let data = common::simulate(&d("sim"), 1, 3, 2400, &[]);
    std::fs::write(
        d("tiny.json"),
        r#"{"d_model": 8, "state_dim": 8, "first_n_kernels": 2, "first_n_heads": 4, "n_kernels": 8}"#,
    )
    .unwrap();
    let args = |out: &str, epochs: &str| -> Vec<String> {
        [
            "train",
            "--data",
            &data,
            "--series-column",
            "series_id",
            "--label-column",
            "label",
            "--missing",
            "linear",
            "--model",
            "spacetime",
            "--model-config",
            &d("tiny.json"),
            "--lookback",
            "48",
            "--horizon",
            "12",
            "--epochs",
            epochs,
            "--patience",
            "100",
            "--max-batches-per-epoch",
            "8",
            "--out",
            out,
        ]
        .map(String::from)
        .to_vec()
    };

    // Train, then score the artifact: the test MSE printed by train equals score's.
    let out = common::run_ok(&args(&d("m1"), "2").iter().map(String::as_str).collect::<Vec<_>>());
    let test_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("test:"))
        .expect("test metrics")
        .to_string();
    let mse: f64 = test_line.split_whitespace().nth(2).unwrap().parse().unwrap();
    let m1 = d("m1");
    let score = |extra: &[&str]| {
        let mut cmd = vec![
            "score",
            "--model",
            &m1,
            "--data",
            &data,
            "--series-column",
            "series_id",
            "--label-column",
            "label",
            "--missing",
            "linear",
        ];
        cmd.extend_from_slice(extra);
        common::run_ok(&cmd)
    };
    let scored = score(&["--no-drop-last"]);
    let scored_mse: f64 = scored
        .split("MSE ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (mse - scored_mse).abs() < 1e-4,
        "train said {mse}, score says {scored_mse}"
    );

    // The device diagnosis runs end to end (CPU against itself: every stage and batch equal).
    let diag = score(&["--device", "cpu", "--stages", "1,3", "--compare-batches"]);
    for want in [
        "stages on cpu vs cpu, windows",
        "decoder.x_L",
        "iso decoder.y ",
        "batches whose forecasts differ most",
    ] {
        assert!(diag.contains(want), "no {want:?} in:\n{diag}");
    }
    // Two explicit batch sizes plus the most-differing batch, all exact.
    let exact = diag
        .lines()
        .filter(|l| l.starts_with("0 of ") && l.contains(" stages above "))
        .count();
    assert_eq!(exact, 3, "{diag}");
    // MSE on the cpu, and on the "device" with host and with device sums: equal up to the
    // order of summation (multi-threaded reductions add in another order than the host loop,
    // e.g. 0.835329 vs 0.835330), so within a relative 1e-5.
    let totals = diag
        .lines()
        .find(|l| l.contains("windows: MSE cpu"))
        .expect("totals line");
    let mses: Vec<f64> = totals
        .split("MSE cpu ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches([',', ';']).parse().ok())
        .take(3)
        .collect();
    assert!(
        mses.len() == 3
            && mses
                .iter()
                .all(|m| (m - mses[0]).abs() <= 1e-5 * mses[0].abs().max(1e-12)),
        "{totals}"
    );

    // Start a long run, SIGKILL it once a checkpoint exists, run the same command again.
    let long = args(&d("m2"), "60");
    let mut child = Command::new(common::statecast_bin())
        .args(&long)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = dir.path().join("m2.ckpt").join("last").join("trainer.json");
    let start = Instant::now();
    while !state.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint after 120 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dir.path().join("m2").exists(), "no artifact from a killed run");

    let mut resumed = long.clone();
    let epochs_at = resumed.iter().position(|a| a == "--epochs").unwrap() + 1;
    resumed[epochs_at] = "3".into(); // finish quickly: epochs may change on resume
    let out = common::run_ok(&resumed.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("resumed from epoch"), "{out}");
    assert!(dir.path().join("m2").join("artifact.json").is_file());

    // A bad model setting is a clear error, not a panic.
    std::fs::write(d("bad.json"), r#"{"d_model": 10}"#).unwrap();
    let mut bad = args(&d("m3"), "1");
    let cfg_at = bad.iter().position(|a| a == "--model-config").unwrap() + 1;
    bad[cfg_at] = d("bad.json");
    let err = common::run_err(&bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("d_model 10 must be a multiple"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
