//! Tune tests: the test rows never change what is chosen, resuming skips finished trials and
//! refuses another search's directory, the median rule prunes bad trials.
use std::io::Write;
use std::path::Path;

use super::*;

/// An hourly CSV: a daily sine with a trend and noise; rows from `poison_from` on are replaced
/// by huge values (the test split, when it starts there).
fn write_series(path: &Path, rows: usize, poison_from: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "date,a,b").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2022, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for t in 0..rows {
        let x = t as f64;
        let (mut a, mut b) = (
            (x * std::f64::consts::TAU / 24.0).sin() + 0.001 * x + 0.1 * (x * 1.7).sin(),
            (x * std::f64::consts::TAU / 12.0).cos() * 2.0 + 0.05 * (x * 0.37).cos(),
        );
        if t >= poison_from {
            (a, b) = (1e4 - x, -5e3 + x);
        }
        let when = start + chrono::Duration::hours(t as i64);
        writeln!(f, "{},{a},{b}", when.format("%Y-%m-%d %H:%M:%S")).unwrap();
    }
}

fn request(
    data: &Path,
    out: &Path,
    space: &str,
    trials: usize,
    seed: u64,
    prune: Option<PruneRule>,
) -> TuneRequest {
    TuneRequest {
        search: SearchDefinition {
            data: DatasetSpec::wide(data.to_path_buf()),
            split: "ratio:0.6,0.2,0.2".parse().unwrap(),
            family: ModelFamily::Linear,
            base_model: None,
            lookback: 48,
            horizon: 12,
            base_train: TrainConfig {
                epochs: 4,
                warmup_epochs: 0,
                patience: None,
                ..TrainConfig::default()
            },
            space: SearchSpace::parse(space).unwrap(),
            seed,
            prune,
        },
        trials,
        concurrency: 1,
        device: DeviceSpec::Cpu,
        out_dir: out.to_path_buf(),
        cancel: None,
        admit: None,
    }
}

const SPACE: &str =
    r#"{"train": {"lr": {"log_uniform": [1e-4, 3e-2]}, "weight_decay": {"log_uniform": [1e-6, 1e-2]}}}"#;

#[test]
fn poisoning_the_test_rows_changes_nothing_that_is_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let (clean, poisoned) = (dir.path().join("clean.csv"), dir.path().join("poisoned.csv"));
    // ratio 0.6/0.2/0.2 of 1500 rows: the test split is rows 1200..1500.
    write_series(&clean, 1500, usize::MAX);
    write_series(&poisoned, 1500, 1200);
    let run_on = |data: &Path, out: &str| {
        let mut req = request(data, &dir.path().join(out), SPACE, 4, 3, None);
        // Same data name in both definitions is not needed: each has its own directory.
        req.search.data = DatasetSpec::wide(data.to_path_buf());
        run(&req, &|_| {}).unwrap()
    };
    let a = run_on(&clean, "a");
    let b = run_on(&poisoned, "b");
    assert_eq!(a.trials.len(), 4);
    assert!(
        a.trials
            .iter()
            .all(|t| t.status == TrialStatus::Complete && t.val_loss.is_some())
    );
    // The same draws, and validation losses equal to float rounding (training sums in
    // parallel); reading the poisoned rows would move them by orders of magnitude.
    for (x, y) in a.trials.iter().zip(&b.trials) {
        assert_eq!((&x.settings, x.best_epoch), (&y.settings, y.best_epoch));
        let (vx, vy) = (x.val_loss.unwrap(), y.val_loss.unwrap());
        assert!((vx - vy).abs() <= 1e-3 * vy, "trial {}: {vx} vs {vy}", x.trial);
    }
    assert_eq!(a.best, b.best);
    // The best model was saved without test metrics, and the files are there.
    let out = dir.path().join("a");
    let (artifact, _) =
        statecast_models::artifact::Artifact::load(&out.join("best-model"), &burn::prelude::Device::flex())
            .unwrap();
    assert!(artifact.evaluation.test.is_none());
    assert!(artifact.evaluation.val.is_some());
    let best: Value = serde_json::from_slice(&std::fs::read(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(
        best["trial"].as_u64(),
        Some(a.trials[a.best.unwrap()].trial as u64)
    );
    // The searched training settings alone, ready for `--train-config`.
    let train: Value =
        serde_json::from_slice(&std::fs::read(out.join("best-train-config.json")).unwrap()).unwrap();
    assert_eq!(
        train.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["lr", "weight_decay"]
    );
    assert_eq!(best["train"]["lr"], train["lr"]);
    let table = std::fs::read_to_string(out.join("trials.csv")).unwrap();
    assert_eq!(table.lines().count(), 5);
    assert!(
        table
            .starts_with("trial,status,val_loss,best_epoch,epochs,seconds,train.lr,train.weight_decay,error")
    );
}

#[test]
fn a_rerun_resumes_and_another_search_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    write_series(&data, 1200, usize::MAX);
    let out = dir.path().join("search");
    let first = run(&request(&data, &out, SPACE, 2, 5, None), &|_| {}).unwrap();
    assert_eq!((first.trials.len(), first.resumed), (2, 0));
    let seen = Mutex::new(Vec::new());
    let second = run(&request(&data, &out, SPACE, 4, 5, None), &|r| {
        lock(&seen).push(r.trial)
    })
    .unwrap();
    assert_eq!((second.trials.len(), second.resumed), (4, 2));
    assert_eq!(*lock(&seen), vec![2, 3], "only the new trials ran");
    assert_eq!(second.trials[..2], first.trials[..]);
    let err = run(&request(&data, &out, SPACE, 4, 6, None), &|_| {}).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { field, .. } if field == "out_dir"),
        "{err:?}"
    );
}

#[test]
fn the_median_rule_prunes_trials_behind_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    write_series(&data, 1200, usize::MAX);
    // A learning rate too small to learn in 4 epochs (the schedule's floor is 1e-5), or a good one.
    let space = r#"{"train": {"lr": {"choice": [1e-2, 1e-5]}}}"#;
    let rule = PruneRule {
        after_epochs: 1,
        min_trials: 1,
    };
    let pruned = run(
        &request(&data, &dir.path().join("p"), space, 8, 1, Some(rule)),
        &|_| {},
    )
    .unwrap();
    let full = run(&request(&data, &dir.path().join("f"), space, 8, 1, None), &|_| {}).unwrap();
    assert!(
        full.trials
            .iter()
            .all(|t| t.status == TrialStatus::Complete && t.epochs == 4),
        "{:?}",
        full.trials
    );
    let stopped: Vec<&TrialRecord> = pruned
        .trials
        .iter()
        .filter(|t| t.status == TrialStatus::Pruned)
        .collect();
    assert!(!stopped.is_empty(), "{:?}", pruned.trials);
    for t in &stopped {
        assert!(t.epochs < 4, "{t:?}");
        assert_eq!(
            t.settings.train["lr"].as_f64(),
            Some(1e-5),
            "only the hopeless trials: {t:?}"
        );
    }
    // Pruning keeps the best: the same trial wins, with the same loss to float rounding.
    let best = |r: &TuneReport| r.best.map(|i| (r.trials[i].trial, r.trials[i].val_loss.unwrap()));
    let ((tp, vp), (tf, vf)) = (best(&pruned).unwrap(), best(&full).unwrap());
    assert_eq!(tp, tf);
    assert!((vp - vf).abs() <= 1e-3 * vf, "{vp} vs {vf}");
}

#[test]
fn requests_out_of_bounds_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-read.csv");
    let field = |req: TuneRequest| match run(&req, &|_| {}) {
        Err(Error::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let base = || request(&data, &dir.path().join("o"), SPACE, 2, 0, None);
    let mut r = base();
    r.trials = 0;
    assert_eq!(field(r), "trials");
    let mut r = base();
    r.concurrency = MAX_CONCURRENCY + 1;
    assert_eq!(field(r), "concurrency");
    let mut r = base();
    r.search.prune = Some(PruneRule {
        after_epochs: 0,
        min_trials: 1,
    });
    assert_eq!(field(r), "prune");
    let mut r = base();
    r.search.space = SearchSpace::parse(r#"{"train": {"lr": {"uniform": [-1, 1]}}}"#).unwrap();
    // A negative learning rate fails its trial, not the search; a misspelt name fails the search.
    r.search.space = SearchSpace::parse(r#"{"train": {"lrr": {"uniform": [0.1, 1]}}}"#).unwrap();
    assert_eq!(field(r), "space.train.lrr");
    assert!(
        !dir.path().join("o").exists(),
        "nothing is written before the request is valid"
    );
}

/// A cancelled search starts no trial and records none, so a rerun trains them all.
#[test]
fn a_cancelled_search_records_no_trial() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    write_series(&data, 1200, usize::MAX);
    let out = dir.path().join("search");
    let mut req = request(&data, &out, SPACE, 3, 2, None);
    req.cancel = Some(Arc::new(AtomicBool::new(true)));
    let report = run(&req, &|_| panic!("no trial may finish")).unwrap();
    assert!(report.trials.is_empty() && report.best.is_none());
    req.cancel = None;
    let rerun = run(&req, &|_| {}).unwrap();
    assert_eq!((rerun.trials.len(), rerun.resumed), (3, 0));
}
