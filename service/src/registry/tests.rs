//! Registry unit tests on temporary directories: versions, labels, deletion, restart,
//! failed registrations leaving nothing behind, orphan sweeping.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use statecast_models::artifact::{Artifact, DataSchema, ForecastErrors, ResidualStats};
use statecast_models::baseline::LinearConfig;
use statecast_models::zoo::ModelConfig;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};

use super::{ModelRef, Registry, RegistryConfig, Selector};
use crate::Error;
use crate::forecast::intervals::{METHOD_CONFORMAL, METHOD_RESIDUAL_RMS};
use crate::roots::AllowedRoots;

const L: usize = 8;
const H: usize = 3;

/// A Linear artifact with two variates and per-step residual statistics.
pub(super) fn artifact(root: &Path, name: &str) -> PathBuf {
    let scaler = Scaler {
        kind: ScalerKind::ZScore,
        scope: ScalerScope::Global,
        columns: vec!["a".into(), "b".into()],
        center: vec![1.0, 2.0],
        scale: vec![2.0, 4.0],
        per_series: BTreeMap::new(),
    };
    let schema = DataSchema {
        columns: scaler.columns.clone(),
        frequency: Some("1h".into()),
        lookback: L,
        horizon: H,
        time_column: Some("date".into()),
        series_column: None,
    };
    let config = ModelConfig::Linear(LinearConfig::new(L, H));
    let mut art = Artifact::new(config.clone(), scaler, schema);
    art.evaluation.val = Some(ForecastErrors {
        mse: 0.5,
        mae: 0.4,
        windows: 10,
    });
    art.residuals = Some(ResidualStats {
        method: "rms".into(),
        split: "val".into(),
        windows: 10,
        std: vec![vec![1.0, 2.0], vec![1.5, 2.5], vec![2.0, 3.0]],
    });
    let dir = root.join(name);
    art.save(&config.init(&Device::flex()).unwrap(), &dir).unwrap();
    dir
}

fn by_label(name: &str, label: &str) -> ModelRef {
    ModelRef {
        name: name.into(),
        selector: Selector::Label(label.into()),
    }
}

#[test]
fn versions_labels_and_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let reg = Registry::open(&tmp.path().join("data")).unwrap();
    let v1 = reg.register("m", &src, &["canary".into()]).unwrap();
    let v2 = reg.register("m", &src, &[]).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.labels, vec!["canary".to_string()]);
    assert_eq!((v1.lookback, v1.horizon, v1.kind.as_str()), (L, H, "Linear"));
    assert_eq!(v1.metrics.get("val.mse"), Some(&0.5));
    assert_eq!(v1.metrics.get("val.windows"), Some(&10.0));
    assert!(!v1.metrics.keys().any(|k| k.starts_with("residual")));
    let intervals = v1.intervals.clone().unwrap();
    assert_eq!(intervals.method, METHOD_RESIDUAL_RMS);
    assert_eq!(intervals.sigma, vec![1.0, 2.0, 1.5, 2.5, 2.0, 3.0]);
    assert!(reg.version_dir("m", 2).join("artifact.json").is_file());

    assert_eq!(reg.resolve(&ModelRef::latest("m")).unwrap().version, 2);
    assert_eq!(reg.resolve(&by_label("m", "canary")).unwrap().version, 1);
    let moved = reg.set_label("m", "canary", None).unwrap();
    assert_eq!(
        (moved.version, moved.labels.clone()),
        (2, vec!["canary".to_string()])
    );
    reg.set_label("m", "stable", Some(1)).unwrap();
    assert!(matches!(
        reg.set_label("m", "stable", Some(9)).unwrap_err(),
        Error::ModelNotFound { version: Some(9), .. }
    ));
    assert!(matches!(
        reg.set_label("m", "42", None).unwrap_err(),
        Error::InvalidArgument { .. }
    ));
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].latest_version, list[0].version_count), (2, 2));
    assert_eq!(list[0].labels.get("stable"), Some(&1));

    // Deleting version 1 removes its label and directory; numbers keep growing.
    assert_eq!(reg.delete("m", Some(1)).unwrap(), vec![1]);
    assert!(matches!(
        reg.resolve(&by_label("m", "stable")).unwrap_err(),
        Error::LabelNotFound { .. }
    ));
    assert!(!reg.version_dir("m", 1).exists());
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 3);
    assert_eq!(
        reg.get("m")
            .unwrap()
            .versions
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );

    // Deleting the model removes everything.
    assert_eq!(reg.delete("m", None).unwrap(), vec![2, 3]);
    assert!(matches!(
        reg.resolve(&ModelRef::latest("m")).unwrap_err(),
        Error::ModelNotFound { version: None, .. }
    ));
    assert!(matches!(
        reg.delete("m", None).unwrap_err(),
        Error::ModelNotFound { .. }
    ));
    assert!(!tmp.path().join("data/models/m").exists());
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn registry_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let data = tmp.path().join("data");
    let before = {
        let reg = Registry::open(&data).unwrap();
        reg.register("m", &src, &[]).unwrap();
        reg.set_label("m", "stable", Some(1)).unwrap()
    };
    std::fs::remove_dir_all(&src).unwrap(); // the registry keeps its own copy
    let reg = Registry::open(&data).unwrap();
    let after = reg.resolve(&by_label("m", "stable")).unwrap();
    assert_eq!(after, before);
    let loaded = reg.load(&after).unwrap();
    assert_eq!(loaded.artifact.schema.lookback, L);
    assert_eq!(
        reg.register("m", &reg.version_dir("m", 1), &[]).unwrap().version,
        2
    );
}

#[test]
fn failed_registrations_leave_nothing_and_orphans_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let reg = Registry::open(&data).unwrap();
    // Not an artifact.
    let junk = tmp.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("artifact.json"), "{").unwrap();
    let err = reg.register("m", &junk, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { field, .. } if field == "path"),
        "{err}"
    );
    assert!(matches!(
        reg.register("m", &tmp.path().join("missing"), &[]).unwrap_err(),
        Error::InvalidArgument { .. }
    ));
    let src = artifact(tmp.path(), "art");
    for bad in ["", ".hidden", "a/b", "x y"] {
        assert!(matches!(
            reg.register(bad, &src, &[]).unwrap_err(),
            Error::InvalidArgument { .. }
        ));
    }
    assert!(matches!(
        reg.register("m", &src, &["7".into()]).unwrap_err(),
        Error::InvalidArgument { .. }
    ));
    assert!(reg.list().unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(data.join("models")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The registry's own leftovers (a crashed import, a crashed deletion) are removed on the
    // next open; directories without a row are quarantined, not deleted.
    reg.register("m", &src, &[]).unwrap();
    drop(reg);
    let orphan = data.join("models/m/2");
    let staged = data.join("models/.tmp-1-1");
    let old_staged = data.join("models/m/.tmp-3-1-1");
    let trash = data.join("models/.trash-x-1-1");
    let other = data.join("models/ghost/1");
    let stray = data.join("models/m/notes");
    for d in [&orphan, &staged, &old_staged, &trash, &other, &stray] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(orphan.join("artifact.json"), "kept").unwrap();
    let reg = Registry::open(&data).unwrap();
    for gone in [&orphan, &staged, &old_staged, &trash, &stray] {
        assert!(!gone.exists(), "{}", gone.display());
    }
    assert!(!data.join("models/ghost").exists());
    let batch = std::fs::read_dir(data.join("quarantine"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(batch.join("m/2/artifact.json")).unwrap(),
        "kept"
    );
    assert!(batch.join("ghost/1").is_dir() && batch.join("m/notes").is_dir());
    assert!(!batch.join(".tmp-1-1").exists());
    assert!(reg.version_dir("m", 1).is_dir());
    // `m@2` existed on disk once: it is not handed out again.
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 3);
    assert_eq!(reg.register("ghost", &src, &[]).unwrap().version, 2);
}

#[test]
fn model_refs_parse() {
    let r: ModelRef = "m@3".parse().unwrap();
    assert_eq!((r.name.as_str(), r.selector), ("m", Selector::Version(3)));
    let r: ModelRef = "m:stable".parse().unwrap();
    assert_eq!(r.selector, Selector::Label("stable".into()));
    assert_eq!("m".parse::<ModelRef>().unwrap(), ModelRef::latest("m"));
    assert!("m@x".parse::<ModelRef>().is_err());
    assert_eq!(r.to_string(), "m:stable");
}

#[test]
fn serving_right_after_registration_survives_deleting_the_source() {
    use burn::prelude::{Tensor, TensorData};
    use statecast_models::forecaster::Forecaster;
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let reg = Registry::open(&tmp.path().join("data")).unwrap();
    let info = reg.register("m", &src, &[]).unwrap();
    // burn reads weights lazily: the cached model must not point at the deleted source.
    std::fs::remove_dir_all(&src).unwrap();
    let loaded = reg.load(&info).unwrap();
    let x = Tensor::<3>::from_data(TensorData::new(vec![0.5f32; L * 2], [1, L, 2]), &loaded.device);
    let y = loaded.model.forecast(x);
    assert_eq!(y.dims(), [1, H, 2]);
}

/// Every version number a model directory holds on disk (quarantine included).
fn version_numbers(dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

#[test]
fn version_numbers_are_never_reused_after_deleting_every_version() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let data = tmp.path().join("data");
    let reg = Registry::open(&data).unwrap();
    reg.register("m", &src, &[]).unwrap();
    reg.register("m", &src, &[]).unwrap();
    // One by one: the last deletion also removes the model row.
    reg.delete("m", Some(1)).unwrap();
    reg.delete("m", Some(2)).unwrap();
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 3);
    // All at once, then across a restart.
    reg.delete("m", None).unwrap();
    drop(reg);
    let reg = Registry::open(&data).unwrap();
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 4);
    assert_eq!(reg.register("other", &src, &[]).unwrap().version, 1);
}

#[test]
fn a_lost_database_quarantines_the_artifacts_instead_of_deleting_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let data = tmp.path().join("data");
    let reg = Registry::open(&data).unwrap();
    for _ in 0..3 {
        reg.register("m", &src, &[]).unwrap();
    }
    drop(reg);
    for f in ["registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let reg = Registry::open(&data).unwrap();
    assert!(reg.list().unwrap().is_empty());
    assert!(!data.join("models/m").exists());
    let batches: Vec<_> = std::fs::read_dir(data.join("quarantine"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(version_numbers(&batches[0].join("m")), vec![1, 2, 3]);
    assert!(batches[0].join("m/3/artifact.json").is_file());
    assert!(batches[0].join("m/3/weights.bpk").is_file());
    // The quarantined numbers stay taken: the next registration does not reuse `m@1`.
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 4);
}

#[cfg(unix)]
#[test]
fn symlinks_in_an_artifact_directory_are_refused_and_nothing_is_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "hunter2").unwrap();
    let data = tmp.path().join("data");
    let reg = Registry::open(&data).unwrap();

    // A link beside the artifact's files.
    let src = artifact(tmp.path(), "linked");
    std::os::unix::fs::symlink(&secret, src.join("notes.txt")).unwrap();
    let err = reg.register("m", &src, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { field, reason } if field == "path" && reason.contains("notes.txt") && reason.contains("symbolic link")),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"));

    // The weights themselves are a link to another artifact's (valid) weights.
    let real = artifact(tmp.path(), "real");
    let src = artifact(tmp.path(), "weights-link");
    std::fs::remove_file(src.join("weights.bpk")).unwrap();
    std::os::unix::fs::symlink(real.join("weights.bpk"), src.join("weights.bpk")).unwrap();
    let err = reg.register("m", &src, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { reason, .. } if reason.contains("weights.bpk")),
        "{err}"
    );
    assert!(reg.list().unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(data.join("models")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn only_the_artifacts_own_files_are_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    std::fs::write(src.join("notes.txt"), "not part of the artifact").unwrap();
    std::fs::create_dir(src.join("checkpoints")).unwrap();
    std::fs::write(src.join("checkpoints/epoch-1.bpk"), "x").unwrap();
    let reg = Registry::open(&tmp.path().join("data")).unwrap();
    reg.register("m", &src, &[]).unwrap();
    let mut copied: Vec<String> = std::fs::read_dir(reg.version_dir("m", 1))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    copied.sort();
    assert_eq!(copied, vec!["artifact.json", "weights.bpk"]);
}

#[cfg(unix)]
#[test]
fn non_regular_files_are_refused_and_never_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::open(&tmp.path().join("data")).unwrap();
    let src = artifact(tmp.path(), "fifo");
    std::fs::remove_file(src.join("weights.bpk")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(src.join("weights.bpk"))
        .status()
        .unwrap();
    assert!(made.success());
    // Reading a FIFO with no writer would block this call forever.
    let err = reg.register("m", &src, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { reason, .. } if reason == "`weights.bpk` is not a regular file"),
        "{err}"
    );
    // A FIFO that is not one of the artifact's files is simply not part of it.
    let src = artifact(tmp.path(), "fifo-beside");
    std::process::Command::new("mkfifo")
        .arg(src.join("pipe"))
        .status()
        .unwrap();
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 1);
}

#[test]
fn artifacts_over_the_import_limit_are_refused_before_copying() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let size: u64 = ["artifact.json", "weights.bpk"]
        .iter()
        .map(|f| std::fs::metadata(src.join(f)).unwrap().len())
        .sum();
    let data = tmp.path().join("data");
    let config = |max_import_bytes| RegistryConfig {
        max_import_bytes,
        ..RegistryConfig::default()
    };
    let reg = Registry::with_config(&data, config(size - 1)).unwrap();
    let err = reg.register("m", &src, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::ResourceExhausted { reason } if reason.contains("--max-import-mib")),
        "{err}"
    );
    assert!(std::fs::read_dir(data.join("models")).unwrap().next().is_none());
    drop(reg);
    let reg = Registry::with_config(&data, config(size)).unwrap();
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 1);
}

#[test]
fn imports_resolve_only_under_the_import_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let inside = artifact(&root, "art");
    let elsewhere = artifact(&outside, "art");
    let data = tmp.path().join("data");

    let reg = Registry::open(&data).unwrap();
    let err = reg.import("m", inside.to_str().unwrap(), &[]).unwrap_err();
    assert!(
        matches!(&err, Error::FailedPrecondition { reason } if reason.contains("--import-root")),
        "{err}"
    );
    drop(reg);

    let config = RegistryConfig {
        import_roots: AllowedRoots::new([root.clone()], "artifact directories", "--import-root").unwrap(),
        ..RegistryConfig::default()
    };
    let reg = Registry::with_config(&data, config).unwrap();
    let shape = |e: Error, requested: &str| {
        let Error::InvalidArgument { field, reason } = e else {
            panic!("{e}");
        };
        assert_eq!(field, "path");
        reason.replace(requested, "REQ")
    };
    let out = elsewhere.to_str().unwrap();
    let missing = "/no/such/artifact";
    let refused_out = shape(reg.import("m", out, &[]).unwrap_err(), out);
    let refused_missing = shape(reg.import("m", missing, &[]).unwrap_err(), missing);
    assert_eq!(refused_out, refused_missing, "missing and outside read the same");
    assert!(reg.list().unwrap().is_empty());
    assert_eq!(reg.import("m", "art", &[]).unwrap().version, 1);
    assert_eq!(reg.import("m", inside.to_str().unwrap(), &[]).unwrap().version, 2);
}

#[test]
fn an_import_in_flight_blocks_neither_reads_nor_writes() {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let data = tmp.path().join("data");
    let reg = Arc::new(Registry::open(&data).unwrap());
    reg.register("warm", &src, &[]).unwrap();

    // The first registration after this pauses with its files copied until `go` arrives.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let pause = Mutex::new(Some((started_tx, go_rx)));
    reg.set_staging_hook(move || {
        let first = pause.lock().unwrap().take();
        if let Some((started, go)) = first {
            started.send(()).unwrap();
            let _ = go.recv_timeout(Duration::from_secs(60));
        }
    });
    let big = {
        let (reg, src) = (reg.clone(), src.clone());
        std::thread::spawn(move || reg.register("big", &src, &[]))
    };
    started_rx.recv_timeout(Duration::from_secs(60)).unwrap();

    // While `big` is paused mid-import: reads, another registration, a label change and a
    // write through a second connection (as the job table does) all finish.
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (reg, src, db) = (reg.clone(), src.clone(), data.join("registry.sqlite"));
        std::thread::spawn(move || {
            let listed = reg.list().unwrap().len();
            let other = reg.register("other", &src, &[]).unwrap().version;
            reg.set_label("warm", "stable", None).unwrap();
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.busy_timeout(Duration::ZERO).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").unwrap();
            done_tx.send((listed, other)).unwrap();
        });
    }
    let done = done_rx.recv_timeout(Duration::from_secs(30));
    go_tx.send(()).unwrap();
    assert_eq!(
        done.expect("calls finished while an import was in flight"),
        (1, 1)
    );
    assert_eq!(big.join().unwrap().unwrap().version, 1);
    assert_eq!(reg.list().unwrap().len(), 3);
}

#[test]
fn a_schema_1_database_keeps_its_version_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let data = tmp.path().join("data");
    let reg = Registry::open(&data).unwrap();
    for _ in 0..3 {
        reg.register("m", &src, &[]).unwrap();
    }
    reg.delete("m", Some(3)).unwrap();
    drop(reg);
    // Turn the database back into schema 1: no counter table, the counter in `models`.
    let conn = rusqlite::Connection::open(data.join("registry.sqlite")).unwrap();
    conn.execute_batch("DROP TABLE version_counters; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let reg = Registry::open(&data).unwrap();
    reg.delete("m", None).unwrap();
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 4);
}

/// A version with conformal residual quantiles: the version row names the method and keeps σ
/// without the grid; the loaded model holds the grid, and its quantiles are the grid's scaled
/// residuals times the scaler's scale, asymmetric as the grid is.
#[test]
fn conformal_grid_lives_in_the_loaded_model_not_the_version_row() {
    use statecast_models::conformal::{LEVELS, ResidualSample};
    let tmp = tempfile::tempdir().unwrap();
    let src = artifact(tmp.path(), "art");
    let (mut art, _) = Artifact::load(&src, &Device::flex()).unwrap();
    // Skewed scaled residuals: 0 … 99 squared, over 100 windows, every step and variate.
    let values = (0..100)
        .flat_map(|w| std::iter::repeat_n((w * w) as f32 / 1000.0, H * 2))
        .collect();
    let sample = ResidualSample {
        horizon: H,
        variates: 2,
        values,
    };
    art.residual_quantiles = sample.quantiles(&LEVELS, "val");
    let config = art.model.clone();
    art.save(&config.init(&Device::flex()).unwrap(), &src).unwrap();

    let reg = Registry::open(&tmp.path().join("data")).unwrap();
    let info = reg.register("m", &src, &[]).unwrap();
    let row = reg.resolve(&ModelRef::latest("m")).unwrap().intervals.unwrap();
    assert_eq!(row.method, METHOD_CONFORMAL);
    assert!(row.grid.is_none(), "the version row stays small");
    assert_eq!(row.sigma, vec![1.0, 2.0, 1.5, 2.5, 2.0, 3.0]);
    let loaded = reg.load(&info).unwrap();
    let stats = loaded.intervals.as_ref().unwrap();
    assert_eq!(stats.method, METHOD_CONFORMAL);
    let point = vec![0.0; H * 2];
    let units = stats.units(&[2.0, 4.0], None);
    assert_eq!(units, vec![2.0, 4.0]);
    let (lo, hi) = (
        stats.quantile(&point, 0.1, &units),
        stats.quantile(&point, 0.9, &units),
    );
    // n = 100: the 0.9 level is the ⌈101·0.9⌉ = 91st value (90² / 1000 = 8.1), the 0.1 level the
    // ⌊10.1⌋ = 10th (9² / 1000 = 0.081); variate b's scale is 4.
    assert!((hi[1] - 8.1 * 4.0).abs() < 1e-4, "{hi:?}");
    assert!((lo[1] - 0.081 * 4.0).abs() < 1e-4, "{lo:?}");
    assert!((hi[0] - 8.1 * 2.0).abs() < 1e-4, "{hi:?}");
}
