//! Checks every hostile-client case ends with: the server still SERVING, its resident memory
//! under a stated bound, and the model registry as it was before the attack.
#![allow(dead_code, unreachable_pub)]

use super::Server;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::{GetModelRequest, ListModelsRequest, ModelRef};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A channel to `server` (plaintext loopback).
pub async fn connect(server: &Server) -> Channel {
    tonic::transport::Endpoint::from_shared(server.addr.clone())
        .expect("valid address")
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(60))
        .connect()
        .await
        .expect("connect to the server")
}

/// Resident set size of the server process, bytes (Linux `/proc/PID/status`, `VmRSS`).
pub fn rss_bytes(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server process is alive (its /proc entry exists)");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib * 1024
}

/// Panics unless the process is alive and health reports SERVING for the whole server.
pub async fn assert_serving(server: &mut Server) {
    if let Some(status) = server.child.try_wait().expect("try_wait") {
        panic!("the server died: {status}");
    }
    let mut health = HealthClient::new(connect(server).await);
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check answers")
        .into_inner();
    assert_eq!(
        overall.status(),
        ServingStatus::Serving,
        "the server stopped serving"
    );
}

/// Panics unless the server's resident memory is below `bound_bytes`.
pub fn assert_rss_below(server: &Server, bound_bytes: u64) {
    let rss = rss_bytes(server);
    assert!(
        rss < bound_bytes,
        "server RSS {} MiB is not below the bound {} MiB",
        rss >> 20,
        bound_bytes >> 20
    );
}

/// Every model version the registry lists (name, version, kind, creation time, labels), sorted,
/// in a comparable form.
pub async fn registry_snapshot(server: &Server) -> Vec<String> {
    let mut models = ModelServiceClient::new(connect(server).await);
    let list = models
        .list_models(ListModelsRequest::default())
        .await
        .expect("ListModels answers")
        .into_inner();
    let mut out = Vec::new();
    for summary in list.models {
        let detail = models
            .get_model(GetModelRequest {
                model: Some(ModelRef {
                    name: summary.name.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("GetModel answers for a listed model")
            .into_inner();
        for v in detail.versions {
            out.push(format!(
                "{}@{} {} {} {:?}",
                summary.name, v.version, v.kind, v.created_at, v.labels
            ));
        }
    }
    out.sort();
    out
}

/// The standard ending of a hostile case: still serving, memory bounded, registry unchanged.
pub async fn assert_survived(server: &mut Server, rss_bound_bytes: u64, registry_before: &[String]) {
    assert_serving(server).await;
    assert_rss_below(server, rss_bound_bytes);
    assert_eq!(
        registry_snapshot(server).await,
        registry_before,
        "the registry changed under attack"
    );
}

/// What a flooding client saw: points it got onto the wire while not reading, the answers it
/// read afterwards, and the status that ended the stream (`None`: a clean end).
#[derive(Debug)]
pub struct Flood {
    pub held: usize,
    pub answered: usize,
    pub ended: Option<tonic::Status>,
}

/// A client that sends `message(i)` for i = 0, 1, … (up to two million) on a stream as fast as
/// the stream takes them and reads no answer for 4 s; then stops sending and drains `answers`
/// (each within 10 s).
pub async fn flood<Req: Send + 'static, Resp>(
    tx: tokio::sync::mpsc::Sender<Req>,
    message: impl Fn(i64) -> Req + Send + 'static,
    answers: &mut tonic::Streaming<Resp>,
) -> Flood {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let handed = Arc::new(AtomicUsize::new(0));
    let counter = handed.clone();
    let sender = tokio::spawn(async move {
        for i in 0..2_000_000i64 {
            if tx.send(message(i)).await.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let held = handed.load(Ordering::Relaxed);
    sender.abort();
    let mut answered = 0usize;
    let ended = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), answers.message()).await {
            Ok(Ok(Some(_))) => answered += 1,
            Ok(Err(status)) => break Some(status),
            Ok(Ok(None)) => break None,
            Err(_) => panic!("no answer within 10 s after {answered}"),
        }
    };
    Flood {
        held,
        answered,
        ended,
    }
}

/// `r` is a refusal with `code` whose message contains every one of `needles`.
pub fn expect_refusal<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: tonic::Code, needles: &[&str]) {
    let status = r.expect_err("a refusal");
    assert_eq!(status.code(), code, "{status:?}");
    for n in needles {
        assert!(
            status.message().contains(n),
            "`{n}` not in {:?}",
            status.message()
        );
    }
}
