//! The registry in scale-out mode: two registries ("servers") with their own data directories
//! sharing one PostgreSQL database and one object store. Needs PostgreSQL
//! (`STATECAST_TEST_PG_URL`, see `scripts/pg-test.sh`).
use std::path::Path;
use std::sync::Arc;

use super::tests::artifact;
use super::{ModelRef, Registry, RegistryConfig, Selector};
use crate::Error;
use crate::backend::{Objects, RegistryUrl, Storage};

fn server(url: &str, objects: &Arc<Objects>, data_dir: &Path) -> Registry {
    let storage = Storage {
        registry: RegistryUrl::Postgres(url.to_string()),
        objects: Some(objects.clone()),
        data_dir: data_dir.to_path_buf(),
    };
    Registry::with_storage(&storage, RegistryConfig::default()).unwrap()
}

fn r(name: &str, selector: Selector) -> ModelRef {
    ModelRef {
        name: name.into(),
        selector,
    }
}

#[test]
fn two_servers_share_versions_labels_files_and_deletions() {
    let tmp = tempfile::tempdir().unwrap();
    let url = crate::backend::testdb::fresh_database("registry");
    let objects = Arc::new(Objects::open(&format!("file://{}", tmp.path().join("store").display())).unwrap());
    let a = server(&url, &objects, &tmp.path().join("a"));
    let b = server(&url, &objects, &tmp.path().join("b"));
    let src = artifact(tmp.path(), "src");

    let v1 = a.register("m", &src, &["prod".into()]).unwrap();
    let v2 = b.register("m", &src, &[]).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2), "one counter for both servers");
    let hash = v1.content_hash.clone().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(
        v2.content_hash.as_deref(),
        Some(hash.as_str()),
        "same files, same hash"
    );

    // B loads A's registration from the object store into its own cache, checked by hash.
    let seen = b.resolve(&r("m", Selector::Label("prod".into()))).unwrap();
    assert_eq!(seen.version, 1);
    let dir = b.artifact_dir(&seen).unwrap();
    assert!(
        dir.starts_with(tmp.path().join("b").join(super::ARTIFACT_CACHE_DIR)),
        "{}",
        dir.display()
    );
    let loaded_b = b.load(&seen).unwrap();
    let loaded_a = a
        .load(&a.resolve(&r("m", Selector::Version(1))).unwrap())
        .unwrap();
    assert_eq!(loaded_a.artifact.schema.columns, loaded_b.artifact.schema.columns);

    // A label moved through B is what A resolves next.
    b.set_label("m", "prod", Some(2)).unwrap();
    assert_eq!(
        a.resolve(&r("m", Selector::Label("prod".into())))
            .unwrap()
            .version,
        2
    );
    assert_eq!(a.get("m").unwrap().labels.get("prod"), Some(&2));

    // A deletion through A: gone for B, its objects removed, the number never reused.
    assert_eq!(a.delete("m", Some(2)).unwrap(), vec![2]);
    assert!(matches!(
        b.resolve(&r("m", Selector::Version(2))),
        Err(Error::ModelNotFound { version: Some(2), .. })
    ));
    assert!(objects.list("models/m/2").unwrap().is_empty());
    assert_eq!(b.register("m", &src, &[]).unwrap().version, 3);

    // A corrupted stored copy is refused, not served.
    let v3 = a.resolve(&r("m", Selector::Version(3))).unwrap();
    objects.put("models/m/3/artifact.json", b"{}".to_vec()).unwrap();
    let c = server(&url, &objects, &tmp.path().join("c"));
    let e = c.load(&v3).unwrap_err().to_string();
    assert!(e.contains("does not match its content hash"), "{e}");
}

#[test]
fn concurrent_registrations_get_distinct_versions_and_a_job_registers_once() {
    let tmp = tempfile::tempdir().unwrap();
    let url = crate::backend::testdb::fresh_database("registry_race");
    let objects = Arc::new(Objects::open(&format!("file://{}", tmp.path().join("store").display())).unwrap());
    let servers: Vec<Arc<Registry>> = (0..3)
        .map(|i| Arc::new(server(&url, &objects, &tmp.path().join(format!("s{i}")))))
        .collect();
    let src = artifact(tmp.path(), "src");
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let reg = servers[i % 3].clone();
            let src = src.clone();
            std::thread::spawn(move || reg.register("race", &src, &[]).unwrap().version)
        })
        .collect();
    let mut versions: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=6).collect::<Vec<_>>());

    // The same job registering from two servers at once: one version.
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let reg = servers[i].clone();
            let src = src.clone();
            std::thread::spawn(move || reg.register_for_job("jobbed", &src, &[], 42).unwrap().version)
        })
        .collect();
    let got: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got[0], got[1]);
    assert_eq!(servers[2].get("jobbed").unwrap().versions.len(), 1);
    assert_eq!(servers[2].version_of_job(42).unwrap().unwrap().version, got[0]);
}
