//! Registry unit tests on temporary directories: versions, labels, deletion, restart,
//! failed registrations leaving nothing behind, orphan sweeping.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use statecast_models::artifact::{Artifact, DataSchema, ForecastErrors, ResidualStats};
use statecast_models::baseline::LinearConfig;
use statecast_models::zoo::ModelConfig;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};

use super::{ModelRef, Registry, Selector};
use crate::Error;
use crate::forecast::intervals::METHOD_RESIDUAL_RMS;

const L: usize = 8;
const H: usize = 3;

/// A Linear artifact with two variates and per-step residual statistics.
fn artifact(root: &Path, name: &str) -> PathBuf {
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

    // A crash between rename and commit, and a crashed copy: swept on the next open.
    reg.register("m", &src, &[]).unwrap();
    drop(reg);
    let orphan = data.join("models/m/2");
    let tmp_copy = data.join("models/m/.tmp-3-1-1");
    let other = data.join("models/ghost/1");
    for d in [&orphan, &tmp_copy, &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    let reg = Registry::open(&data).unwrap();
    assert!(!orphan.exists() && !tmp_copy.exists() && !data.join("models/ghost").exists());
    assert!(reg.version_dir("m", 1).is_dir());
    assert_eq!(reg.register("m", &src, &[]).unwrap().version, 2);
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
