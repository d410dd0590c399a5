//! Hostile client, deployment: an open bind needs a token, the token stays out of the process
//! list, and `--auth-all-rpcs` closes the read-only RPCs too (health stays open for probes).
mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use statecast_proto::v1::ListModelsRequest;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tonic::metadata::MetadataValue;

/// Run `statecast serve <args>` expecting it to exit on its own within `within`; returns
/// (success, stderr).
fn serve_exits(args: &[&str], within: Duration) -> (bool, String) {
    let mut child = Command::new(common::statecast_bin())
        .arg("serve")
        .args(args)
        .env("BURN_DEVICE", "flex")
        .env_remove("STATECAST_AUTH_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn statecast serve");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("serve {args:?} did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.success(), stderr)
}

#[test]
fn an_open_bind_without_a_token_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, stderr) = serve_exits(
        &["--addr", "0.0.0.0:0", "--data-dir", data.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(!ok, "serve on 0.0.0.0 without a token must fail");
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without an auth token"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
    assert!(!data.exists(), "nothing is created before the refusal");
    // An unreadable or empty token file is an error too, not "no auth".
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let (ok, stderr) = serve_exits(
        &[
            "--addr",
            "0.0.0.0:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--auth-token-file",
            empty.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(!ok);
    assert!(stderr.contains("is empty"), "{stderr}");
}

/// Start `serve` with `args`, capturing stderr to a file; returns (server, stderr path).
fn start_logged(dir: &std::path::Path, args: &[&str]) -> (common::Server, std::path::PathBuf) {
    let log = dir.join("serve.stderr");
    let mut child = Command::new(common::statecast_bin())
        .args(["serve", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .env("BURN_DEVICE", "flex")
        .env_remove("STATECAST_AUTH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn statecast serve");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("statecast listening on ")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line {line:?}: {}",
                std::fs::read_to_string(&log).unwrap()
            )
        })
        .replace("0.0.0.0", "127.0.0.1");
    (
        common::Server {
            child,
            addr: format!("http://{addr}"),
        },
        log,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_and_plain_text_tokens_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, log) = start_logged(dir.path(), &["--addr", "0.0.0.0:0", "--allow-unauthenticated"]);
    common::hostile::assert_serving(&mut server).await;
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("WITHOUT authentication"), "{stderr}");
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let (mut server, log) = start_logged(
        dir.path(),
        &["--addr", "0.0.0.0:0", "--auth-token", "argv-secret"],
    );
    common::hostile::assert_serving(&mut server).await;
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("clear text"), "{stderr}");
    assert!(stderr.contains("on the command line"), "{stderr}");
    assert!(
        !stderr.contains("argv-secret"),
        "the token itself is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_with_auth_all_rpcs_closes_reads_but_not_health() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-secret-7f3a\n").unwrap();
    let (mut server, log) = start_logged(
        dir.path(),
        &[
            "--addr",
            "127.0.0.1:0",
            "--auth-token-file",
            token_file.to_str().unwrap(),
            "--auth-all-rpcs",
        ],
    );
    // Health answers without a token (probes cannot send one).
    common::hostile::assert_serving(&mut server).await;
    // The token is not in the process list.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("file-secret-7f3a"));

    let channel = common::hostile::connect(&server).await;
    let mut models = ModelServiceClient::new(channel.clone());
    let refused = models.list_models(ListModelsRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(ListModelsRequest {});
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from("Bearer wrong").unwrap());
    assert_eq!(
        models.list_models(request).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    let mut request = tonic::Request::new(ListModelsRequest {});
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from("Bearer file-secret-7f3a").unwrap(),
    );
    assert!(
        models
            .list_models(request)
            .await
            .unwrap()
            .into_inner()
            .models
            .is_empty()
    );

    // The CLI client reads its token from a file too.
    let out = common::run(&[
        "models",
        "list",
        "--server",
        &server.addr,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = common::run(&["models", "list", "--server", &server.addr]);
    assert!(!out.status.success());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!stderr.contains("file-secret-7f3a"));
}
