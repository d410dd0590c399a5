//! `statecast simulate` writes a deterministic labelled dataset that `statecast inspect` reads
//! back and validates; `--convert` round-trips it through every format.
mod common;

use std::path::Path;

fn simulate(out: &Path, seed: &str) -> String {
    common::run_ok(&[
        "simulate",
        "--out",
        out.to_str().unwrap(),
        "--series",
        "2",
        "--variates",
        "4",
        "--length",
        "3000",
        "--seed",
        seed,
        "--csv",
    ])
}

#[test]
fn simulate_is_deterministic_and_inspect_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    simulate(&a, "7");
    simulate(&b, "7");
    simulate(&c, "8");
    for f in ["sensors.parquet", "sensors.csv", "anomalies.csv"] {
        assert!(a.join(f).is_file(), "{f} written");
    }
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(
        read(&a, "sensors.csv"),
        read(&b, "sensors.csv"),
        "same seed ⇒ identical CSV"
    );
    assert_eq!(
        read(&a, "anomalies.csv"),
        read(&b, "anomalies.csv"),
        "same seed ⇒ identical segments"
    );
    assert_ne!(
        read(&a, "sensors.csv"),
        read(&c, "sensors.csv"),
        "other seed ⇒ other data"
    );

    let parquet = a.join("sensors.parquet");
    let out = common::run_ok(&[
        "inspect",
        "--data",
        parquet.to_str().unwrap(),
        "--series-column",
        "series_id",
        "--label-column",
        "label",
        "--missing",
        "mask",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["series"], 2);
    assert_eq!(report["rows_read"], 6000);
    assert_eq!(report["columns"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["frequency"]["micros"], 300_000_000,
        "5-minute default frequency"
    );

    // Missing points exist in simulated data, so the default `error` policy refuses them and
    // names the column and series.
    let err = common::run_err(&[
        "inspect",
        "--data",
        parquet.to_str().unwrap(),
        "--series-column",
        "series_id",
        "--label-column",
        "label",
    ]);
    assert!(err.contains("missing value"), "{err}");
    assert!(err.contains("series `"), "{err}");

    // CSV and Parquet describe the same data, and a converted file reads back the same.
    let csv_report = common::run_ok(&[
        "inspect",
        "--data",
        a.join("sensors.csv").to_str().unwrap(),
        "--series-column",
        "series_id",
        "--label-column",
        "label",
        "--missing",
        "mask",
        "--json",
    ]);
    let csv_report: serde_json::Value = serde_json::from_str(&csv_report).unwrap();
    assert_eq!(csv_report["missing"], report["missing"]);
    for ext in ["arrow", "csv.gz", "parquet"] {
        let conv = dir.path().join(format!("conv.{ext}"));
        common::run_ok(&[
            "inspect",
            "--data",
            parquet.to_str().unwrap(),
            "--series-column",
            "series_id",
            "--label-column",
            "label",
            "--missing",
            "mask",
            "--convert",
            conv.to_str().unwrap(),
        ]);
        let back = common::run_ok(&[
            "inspect",
            "--data",
            conv.to_str().unwrap(),
            "--series-column",
            "series_id",
            "--label-column",
            "label",
            "--missing",
            "mask",
            "--json",
        ]);
        let back: serde_json::Value = serde_json::from_str(&back).unwrap();
        assert_eq!(back["rows_read"], report["rows_read"], "{ext}");
        assert_eq!(back["missing"], report["missing"], "{ext}");
    }
}

#[test]
fn bad_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let err = common::run_err(&["inspect", "--data", empty.to_str().unwrap()]);
    assert!(err.contains("empty.parquet") && err.contains("empty"), "{err}");

    let bogus = dir.path().join("bogus.parquet");
    std::fs::write(&bogus, b"this is not a parquet file at all, just text").unwrap();
    let err = common::run_err(&["inspect", "--data", bogus.to_str().unwrap()]);
    assert!(
        err.contains("bogus.parquet") && err.contains("not a valid parquet file"),
        "{err}"
    );

    let unsorted = dir.path().join("unsorted.csv");
    std::fs::write(
        &unsorted,
        "date,a\n2020-01-01 01:00:00,1\n2020-01-01 00:00:00,2\n2020-01-01 02:00:00,3\n",
    )
    .unwrap();
    let err = common::run_err(&["inspect", "--data", unsorted.to_str().unwrap()]);
    assert!(err.contains("not sorted"), "{err}");

    let missing = dir.path().join("nope.csv");
    let err = common::run_err(&["inspect", "--data", missing.to_str().unwrap()]);
    assert!(err.contains("nope.csv"), "{err}");

    let err = common::run_err(&[
        "inspect",
        "--data",
        unsorted.to_str().unwrap(),
        "--columns",
        "zzz",
    ]);
    assert!(err.contains("missing column `zzz`"), "{err}");
}

#[test]
fn cuda_without_gpu_build_is_a_clear_error() {
    if common::run_ok(&["devices"]).contains("cuda") {
        eprintln!("this binary was built with the gpu feature; skipping the no-CUDA message check");
        return;
    }
    let err = common::run_err(&["devices", "--check", "cuda"]);
    assert!(
        err.contains("no CUDA support") && err.contains("build-gpu.sh"),
        "{err}"
    );
    let out = common::run_ok(&["devices", "--check", "cpu"]);
    assert!(out.contains("all 34 gating checks passed"), "{out}");
    for row in [
        "selective scan fused",
        "selective scan chunked",
        "simba L96",
        "scan2d rows",
        "scan2d columns",
        "chimera L96",
    ] {
        assert!(out.contains(row), "no `{row}` row in\n{out}");
    }
}
