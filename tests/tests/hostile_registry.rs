//! Hostile clients against the model registry: `RegisterModel` may only read artifact
//! directories under `--import-root`, copies only the artifact's own regular files (symbolic
//! links refused), bounds the artifact's size before copying, never reuses a version number,
//! and a lost `registry.sqlite` costs no artifact.
//!
//! Every case ends with `assert_survived` under [`RSS_BOUND`]: the debug-build server measured
//! 15–16 MiB before and after the refused 64 MiB import below; 256 MiB leaves room for the
//! allocator and a few small loaded models, and is far below what copying the refused artifacts
//! into memory (or a runaway retry) would add.
mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::Server;
use common::hostile::{assert_survived, connect, registry_snapshot, rss_bytes};
use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tonic::Code;

const RSS_BOUND: u64 = 256 << 20;

/// A small trained Linear artifact, made once per test binary.
fn template() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
            let data = common::simulate(&d("sim"), 1, 3, 600, &[]);
            #[rustfmt::skip]
            common::run_ok(&[
                "train", "--data", &data, "--series-column", "series_id", "--label-column", "label",
                "--missing", "linear", "--model", "linear", "--lookback", "24", "--horizon", "6",
                "--epochs", "1", "--max-batches-per-epoch", "2", "--out", &d("model"),
            ]);
            let model = dir.path().join("model");
            (dir, model)
        })
        .1
}

/// A copy of the template artifact at `dir`.
fn artifact_at(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(template()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir.to_path_buf()
}

fn request(name: &str, path: &str) -> pb::RegisterModelRequest {
    pb::RegisterModelRequest {
        name: name.into(),
        path: path.into(),
        labels: vec![],
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Every entry under `dir` (recursive), relative.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(s(p.strip_prefix(dir).unwrap()));
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn register_outside_the_import_roots_is_refused_alike_for_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let inside = artifact_at(&root.join("art"));
    let outside = artifact_at(&dir.path().join("outside/art"));

    // Without --import-root no client-named path is read.
    let mut server = Server::start(&dir.path().join("data0"), &[]);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let before = registry_snapshot(&server).await;
    let status = models
        .register_model(request("m", &s(&inside)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("--import-root"), "{status:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
    drop(server);

    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--import-root", &s(&root)]);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let before = registry_snapshot(&server).await;
    let mut shapes = Vec::new();
    for requested in [
        s(&outside),
        "/no/such/artifact".to_string(),
        "/etc".to_string(),
        "../outside/art".to_string(),
        format!("{}/../outside/art", root.display()),
        format!("file://{}", outside.display()),
    ] {
        let started = Instant::now();
        let status = models.register_model(request("m", &requested)).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(status.code(), Code::InvalidArgument, "{requested}: {status:?}");
        assert!(took < Duration::from_secs(5), "{requested}: {took:?}");
        shapes.push(status.message().replace(&requested, "REQ"));
    }
    shapes.dedup();
    assert_eq!(shapes.len(), 1, "one answer for missing and outside: {shapes:?}");
    assert!(tree(&data.join("models")).is_empty());
    assert_survived(&mut server, RSS_BOUND, &before).await;

    // Inside the root, absolute or relative, it works.
    models.register_model(request("m", &s(&inside))).await.unwrap();
    let v = models
        .register_model(request("m", "art"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version.unwrap().version, 2);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_to_a_secret_inside_an_artifact_is_refused_and_nothing_is_copied() {
    const SECRET: &str = "hunter2-do-not-leak";
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("private/secret.txt");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, SECRET).unwrap();
    let root = dir.path().join("root");
    // A link beside the artifact's files.
    let beside = artifact_at(&root.join("beside"));
    std::os::unix::fs::symlink(&secret, beside.join("notes.txt")).unwrap();
    // The metadata itself is a link to a valid artifact.json outside the root.
    let elsewhere = artifact_at(&dir.path().join("private/art"));
    let linked = artifact_at(&root.join("linked"));
    std::fs::remove_file(linked.join("artifact.json")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("artifact.json"), linked.join("artifact.json")).unwrap();
    // The weights are a link to the secret.
    let weights = artifact_at(&root.join("weights"));
    std::fs::remove_file(weights.join("weights.bpk")).unwrap();
    std::os::unix::fs::symlink(&secret, weights.join("weights.bpk")).unwrap();

    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--import-root", &s(&root)]);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let before = registry_snapshot(&server).await;
    for (art, file) in [
        (&beside, "notes.txt"),
        (&linked, "artifact.json"),
        (&weights, "weights.bpk"),
    ] {
        let status = models.register_model(request("m", &s(art))).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(&format!("`{file}`")) && status.message().contains("symbolic link"),
            "{status:?}"
        );
        assert!(!status.message().contains(SECRET), "{status:?}");
    }
    assert!(tree(&data.join("models")).is_empty(), "{:?}", tree(&data));
    for entry in tree(&data) {
        let content = std::fs::read(data.join(&entry)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&content).contains(SECRET),
            "{entry} holds the secret"
        );
    }
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

#[tokio::test]
async fn an_artifact_over_the_import_limit_is_refused_before_copying() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let art = artifact_at(&root.join("big"));
    // 64 MiB of (sparse) weights: over a 1 MiB limit.
    std::fs::File::options()
        .write(true)
        .open(art.join("weights.bpk"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--import-root", &s(&root), "--max-import-mib", "1"]);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let before = registry_snapshot(&server).await;
    let rss_before = rss_bytes(&server);
    let started = Instant::now();
    let status = models.register_model(request("m", &s(&art))).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-import-mib"), "{status:?}");
    assert!(tree(&data.join("models")).is_empty());
    eprintln!(
        "64 MiB artifact, --max-import-mib 1: {:?} in {took:?}, RSS {} → {} MiB",
        status.code(),
        rss_before >> 20,
        rss_bytes(&server) >> 20
    );
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

// Multi-threaded: the client connection dropped before `terminate` must be able to close while
// this thread waits for the server to exit (a current-thread runtime would not poll it, and the
// server's graceful shutdown would then wait out its whole grace period).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_registry_database_at_restart_keeps_the_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let art = artifact_at(&root.join("art"));
    let data = dir.path().join("data");
    let flags = ["--import-root", &s(&root)];
    let server = Server::start(&data, &flags);
    let mut models = ModelServiceClient::new(connect(&server).await);
    for _ in 0..2 {
        models.register_model(request("m", &s(&art))).await.unwrap();
    }
    drop(models);
    assert!(server.terminate(Duration::from_secs(10)).success());
    for f in ["registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }

    let mut server = Server::start(&data, &flags);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let before = registry_snapshot(&server).await;
    assert!(before.is_empty(), "{before:?}");
    let batches: Vec<PathBuf> = std::fs::read_dir(data.join("quarantine"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    for v in ["1", "2"] {
        for f in ["artifact.json", "weights.bpk"] {
            assert!(batches[0].join("m").join(v).join(f).is_file(), "m/{v}/{f}");
        }
    }
    assert_survived(&mut server, RSS_BOUND, &before).await;
    // The quarantined numbers stay taken.
    let v = models
        .register_model(request("m", &s(&art)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version.unwrap().version, 3);
}

// Multi-threaded: the client connection dropped before `terminate` must be able to close while
// this thread waits for the server to exit (a current-thread runtime would not poll it, and the
// server's graceful shutdown would then wait out its whole grace period).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_every_version_never_frees_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let first = artifact_at(&root.join("first"));
    let second = artifact_at(&root.join("second"));
    let data = dir.path().join("data");
    let flags = ["--import-root", &s(&root)];
    let server = Server::start(&data, &flags);
    let mut models = ModelServiceClient::new(connect(&server).await);
    let register = |path: &Path| request("m", &s(path));
    let v = models
        .register_model(register(&first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version.unwrap().version, 1);
    let deleted = models
        .delete_model(pb::DeleteModelRequest {
            name: "m".into(),
            version: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_versions, vec![1]);
    let v = models
        .register_model(register(&second))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        v.version.unwrap().version,
        2,
        "m@1 must not name a second artifact"
    );
    let m_at_1 = pb::GetModelRequest {
        model: Some(pb::ModelRef {
            name: "m".into(),
            selector: Some(pb::model_ref::Selector::Version(1)),
        }),
    };
    let status = models.get_model(m_at_1.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // Across a restart too.
    drop(models);
    assert!(server.terminate(Duration::from_secs(10)).success());
    let mut server = Server::start(&data, &flags);
    let mut models = ModelServiceClient::new(connect(&server).await);
    models
        .delete_model(pb::DeleteModelRequest {
            name: "m".into(),
            version: Some(2),
        })
        .await
        .unwrap();
    let v = models
        .register_model(register(&first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version.unwrap().version, 3);
    let before = registry_snapshot(&server).await;
    let status = models.get_model(m_at_1).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

/// `STATECAST_IMPORT_ROOTS` takes a `:`-separated list, like repeating `--import-root`.
#[tokio::test]
async fn import_roots_come_from_the_environment_too() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let in_a = artifact_at(&a.join("art"));
    let in_b = artifact_at(&b.join("art"));
    let outside = artifact_at(&dir.path().join("c/art"));
    let mut child = Command::new(common::statecast_bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env(
            "STATECAST_IMPORT_ROOTS",
            format!("{}:{}", a.display(), b.display()),
        )
        .env("BURN_DEVICE", "flex")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().strip_prefix("statecast listening on ").unwrap();
    let mut server = Server {
        child,
        addr: format!("http://{addr}"),
    };
    let mut models = ModelServiceClient::new(connect(&server).await);
    for (art, version) in [(&in_a, 1), (&in_b, 2)] {
        let v = models
            .register_model(request("m", &s(art)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.version.unwrap().version, version);
    }
    let before = registry_snapshot(&server).await;
    let status = models
        .register_model(request("m", &s(&outside)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
}
