//! `statecast detect` writes per-timestamp scores and alarm segments for simulator data, and
//! `statecast eval anomaly` reports honest and protocol metrics as JSON; `statecast eval --data`
//! (forecasting) keeps working beside the new subcommand.
mod common;

#[test]
fn detect_and_eval_anomaly_on_simulator_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let data = common::simulate(&p("sim"), 2, 4, 3000, &["--seed", "5", "--missing-rate", "0"]);
    let cols = ["--series-column", "series_id", "--label-column", "label"];
    let mut train = vec![
        "train",
        "--data",
        &data,
        "--model",
        "linear",
        "--lookback",
        "48",
        "--horizon",
        "8",
        "--epochs",
        "2",
        "--split",
        "ratio:0.35,0.15,0.5",
        "--device",
        "cpu",
    ];
    train.extend(cols);
    let model = p("model");
    train.extend(["--out", model.as_str()]);
    common::run_ok(&train);

    let out = p("scores.csv");
    let mut detect = vec![
        "detect",
        "--data",
        &data,
        "--model",
        &model,
        "--out",
        &out,
        "--fit-fraction",
        "0.5",
    ];
    detect.extend(cols);
    let png_path = p("detect.png");
    detect.extend(["--plot", png_path.as_str()]);
    let stdout = common::run_ok(&detect);
    assert!(stdout.contains("alarms over 2 series"), "{stdout}");
    // The plot: one row (values | score) per series (2 here) under a title strip. (The PNG is
    // decoded with the `png` crate in the CLI's plot unit tests, `service/src/cli/plot/tests.rs`; a `png`
    // dev-dependency here would change feature unification and rebuild burn for this crate.)
    let bytes = std::fs::read(&png_path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), detection_figure_size(2), "detect --plot size");
    assert!(bytes.windows(4).any(|w| w == b"IDAT") && bytes.ends_with(&[0xae, 0x42, 0x60, 0x82]));
    assert!(
        bytes.len() > 10_000,
        "a drawn figure, not a blank one: {} bytes",
        bytes.len()
    );
    let scores = std::fs::read_to_string(&out).unwrap();
    let header = scores.lines().next().unwrap();
    assert!(
        header.starts_with("series_id,timestamp,score,flagged,alarm,score_"),
        "{header}"
    );
    assert_eq!(scores.lines().count(), 1 + 2 * 3000);
    let segs = std::fs::read_to_string(p("scores.segments.csv")).unwrap();
    assert!(segs.lines().count() > 1, "at least one alarm segment:\n{segs}");

    let json = p("eval.json");
    let mut eval = vec![
        "eval",
        "anomaly",
        "--data",
        &data,
        "--model",
        &model,
        "--fit-fraction",
        "0.5",
        "--json",
        &json,
    ];
    eval.extend(cols);
    let stdout = common::run_ok(&eval);
    assert!(stdout.contains("validation (honest)"), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["honest", "protocol"] {
        for m in ["point", "point_adjusted", "event", "affiliation"] {
            assert!(v[key][m]["f1"].is_number(), "{key}.{m}");
        }
    }
    assert!(v["auc_pr"].as_f64().unwrap() > 0.0);
    assert!(v["vus_pr"].as_f64().unwrap() > 0.0);
    assert_eq!(v["vus_max_buffer"].as_u64(), Some(100));

    // The forecasting `eval` still parses and runs beside the `anomaly` subcommand.
    let stdout = common::run_ok(&[
        "eval",
        "--data",
        &data,
        "--series-column",
        "series_id",
        "--label-column",
        "label",
        "--model",
        "repeat",
        "--lookback",
        "48",
        "--horizons",
        "8",
    ]);
    assert!(stdout.contains("Repeat"), "{stdout}");

    // A separate fit file is read with the same dataset flags, so it may keep its label
    // column (here: the scored file itself, fitted on all its rows).
    let fit_out = p("fit_scores.csv");
    let mut with_fit = vec![
        "detect",
        "--data",
        &data,
        "--model",
        &model,
        "--out",
        &fit_out,
        "--fit-data",
        &data,
    ];
    with_fit.extend(cols);
    let stdout = common::run_ok(&with_fit);
    assert!(stdout.contains("alarms over 2 series"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&fit_out).unwrap().lines().count(),
        1 + 2 * 3000
    );

    // A fit file whose variates differ: the error names the fit data, not the scored data.
    let other = common::simulate(&p("sim3"), 2, 3, 600, &["--seed", "6", "--missing-rate", "0"]);
    let mut wrong_fit = vec![
        "detect",
        "--data",
        &data,
        "--model",
        &model,
        "--out",
        &out,
        "--fit-data",
        &other,
    ];
    wrong_fit.extend(cols);
    let err = common::run_err(&wrong_fit);
    assert!(err.contains("`fit_data`"), "{err}");

    // No labels: a clear error, not a panic.
    let err = common::run_err(&["eval", "anomaly", "--data", &data, "--series-column", "series_id"]);
    assert!(err.contains("labels"), "{err}");
}

/// `detection_figure_size(rows)` of the CLI's plot module: two 640×340 panels per row under a
/// 48-pixel title strip.
fn detection_figure_size(rows: u32) -> (u32, u32) {
    (2 * 640, 48 + rows * 340)
}
