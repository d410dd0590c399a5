//! Hostile clients against the streaming monitor (issue 16, items 9, 10, 12), replayed against
//! the real binary: megabyte series ids, series spread over many streams, more streams than
//! allowed, streams that go quiet, points off the model's grid or too large to score, and a
//! model deleted under an open stream, a client that floods a stream and never reads its answers.
//! Every case ends with the server still serving, its memory under a bound and the registry as
//! expected.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::hostile::{
    Flood, assert_survived, connect, expect_refusal as expect, flood, registry_snapshot, rss_bytes,
};
use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use tokio::sync::mpsc::Sender;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

const V: usize = 3;
const STEP: i64 = 300_000_000; // 5 min, the simulator's default

/// Memory the server may gain over its settled size during a case: a few refused 1 MB
/// messages and a handful of series states. The failure this replays took +392 MB (300 ids of
/// 1 MB each).
const RSS_SLACK: u64 = 96 << 20;

/// Train a tiny model and save its detector next to it (what makes it monitorable).
fn monitorable(dir: &Path) -> String {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let data = common::simulate(&p("sim"), 2, V, 800, &["--seed", "3", "--missing-rate", "0"]);
    let model = p("model");
    common::train_monitorable(&data, &model, &p("scores.csv"));
    model
}

fn point(series: &str, model: &str, timestamp: i64, values: Vec<f64>) -> pb::MonitorRequest {
    pb::MonitorRequest {
        series_id: series.into(),
        model: model.into(),
        timestamp,
        values,
    }
}

/// An open stream: its sender and its responses.
struct Open {
    tx: Sender<pb::MonitorRequest>,
    rx: tonic::Streaming<pb::MonitorResponse>,
}

impl Open {
    async fn new(client: &mut MonitorServiceClient<Channel>) -> Result<Open, tonic::Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let rx = client.stream_monitor(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Open { tx, rx })
    }

    /// Send one point and wait for its answer.
    async fn send(&mut self, p: pb::MonitorRequest) -> Result<pb::MonitorResponse, tonic::Status> {
        if self.tx.send(p).await.is_err() {
            return Err(tonic::Status::unavailable("stream already closed"));
        }
        match tokio::time::timeout(Duration::from_secs(30), self.rx.next()).await {
            Ok(Some(r)) => r,
            Ok(None) => Err(tonic::Status::unavailable("stream ended without an answer")),
            Err(_) => panic!("no answer within 30 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_monitor_streams_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let model = monitorable(dir.path());
    #[rustfmt::skip]
    let mut server = common::Server::start(&dir.path().join("data"), &[
        "--monitor-max-streams", "3", "--monitor-max-total-series", "5",
        "--monitor-max-series", "4", "--monitor-stream-idle-secs", "2",
        "--import-root", dir.path().to_str().unwrap(),
    ]);
    let channel = connect(&server).await;
    let mut models = ModelServiceClient::new(channel.clone());
    for name in ["sensors", "doomed"] {
        models
            .register_model(pb::RegisterModelRequest {
                name: name.into(),
                path: model.clone(),
                labels: vec![],
            })
            .await
            .unwrap();
    }
    let mut client = MonitorServiceClient::new(channel.clone()).max_encoding_message_size(8 << 20);
    let ok = || vec![1.0; V];
    let t0 = 1_000 * STEP;
    // Settle: one point loads the model.
    let mut first = Open::new(&mut client).await.unwrap();
    first.send(point("warm", "sensors", t0, ok())).await.unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let registry = registry_snapshot(&server).await;
    let bound = rss_bytes(&server) + RSS_SLACK;

    // Item 9: 100 series ids of 1 MB each, each refused by its length before any state is kept.
    let started = Instant::now();
    for i in 0..100 {
        let mut s = Open::new(&mut client).await.unwrap();
        let id = format!("{i}{}", "x".repeat(1 << 20));
        expect(
            s.send(point(&id, "sensors", t0, ok())).await,
            Code::InvalidArgument,
            &["series_id", "at most 256"],
        );
    }
    eprintln!(
        "100 series ids of 1 MB: INVALID_ARGUMENT each, {} ms in all, RSS now {} MiB",
        started.elapsed().as_millis(),
        rss_bytes(&server) >> 20
    );
    assert_survived(&mut server, bound, &registry).await;

    // Item 9: series spread over streams share one budget of 5.
    let mut a = Open::new(&mut client).await.unwrap();
    let mut b = Open::new(&mut client).await.unwrap();
    for i in 0..4 {
        a.send(point(&format!("a{i}"), "sensors", t0, ok()))
            .await
            .unwrap();
    }
    b.send(point("b0", "sensors", t0, ok())).await.unwrap();
    expect(
        b.send(point("b1", "sensors", t0, ok())).await,
        Code::ResourceExhausted,
        &["5 series over all streams"],
    );
    // The refusal ended stream b (and gave its series back): `a` is the only one open.
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Item 9: three streams are the limit; a fourth is refused.
    let mut c = Open::new(&mut client).await.unwrap();
    c.send(point("c0", "sensors", t0, ok())).await.unwrap();
    let _d = Open::new(&mut client).await.unwrap();
    let refused = match Open::new(&mut client).await {
        Err(status) => status,
        // The refusal may also arrive as the stream's first message.
        Ok(mut e) => e.send(point("e0", "sensors", t0, ok())).await.unwrap_err(),
    };
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("3 monitor streams"), "{refused:?}");
    // Ending streams gives their series and their places back.
    drop((a, c, _d));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut e = Open::new(&mut client).await.unwrap();
    let mut f = Open::new(&mut client).await.unwrap();
    for i in 0..4 {
        e.send(point(&format!("e{i}"), "sensors", t0, ok()))
            .await
            .unwrap();
    }
    f.send(point("f0", "sensors", t0, ok())).await.unwrap();
    drop((e, f));
    assert_survived(&mut server, bound, &registry).await;

    // Item 9: a stream that goes quiet is closed after --monitor-stream-idle-secs (2 s).
    let mut quiet = Open::new(&mut client).await.unwrap();
    quiet.send(point("q", "sensors", t0, ok())).await.unwrap();
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), quiet.rx.next())
        .await
        .expect("closed within 10 s")
        .expect("a status, not a silent end")
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("no point for 2 s"), "{status:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_survived(&mut server, bound, &registry).await;

    // Item 12: points off the model's 5-minute grid, and values too large to score.
    let mut g = Open::new(&mut client).await.unwrap();
    g.send(point("g", "sensors", t0, ok())).await.unwrap();
    g.send(point("g", "", t0 + 3 * STEP, ok())).await.unwrap();
    expect(
        g.send(point("g", "", t0 + 4 * STEP + 1, ok())).await,
        Code::InvalidArgument,
        &["timestamp", "grid"],
    );
    for values in [vec![1.0, 3.4e38, 1.0], vec![1e300, 1.0, 1.0]] {
        let mut h = Open::new(&mut client).await.unwrap();
        h.send(point("h", "sensors", t0, ok())).await.unwrap();
        expect(
            h.send(point("h", "", t0 + STEP, values)).await,
            Code::InvalidArgument,
            &["values[", "too large"],
        );
    }
    assert_survived(&mut server, bound, &registry).await;

    // Item 10: deleting a model stops the stream that uses it at its next point.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open = Open::new(&mut client).await.unwrap();
    open.send(point("x", "doomed", t0, ok())).await.unwrap();
    open.send(point("x", "", t0 + STEP, ok())).await.unwrap();
    let mut other = Open::new(&mut client).await.unwrap();
    other.send(point("y", "sensors", t0, ok())).await.unwrap();
    models
        .delete_model(pb::DeleteModelRequest {
            name: "doomed".into(),
            version: None,
        })
        .await
        .unwrap();
    expect(
        open.send(point("x", "", t0 + 2 * STEP, ok())).await,
        Code::NotFound,
        &["doomed@1", "was deleted"],
    );
    // A stream on another model goes on scoring.
    other.send(point("y", "", t0 + STEP, ok())).await.unwrap();
    drop(other);
    let after: Vec<String> = registry
        .iter()
        .filter(|v| !v.starts_with("doomed@"))
        .cloned()
        .collect();
    assert_eq!(after.len(), registry.len() - 1);
    assert_survived(&mut server, bound, &after).await;

    // Issue 15: a client that sends as fast as it can and never reads its answers. The server
    // reads a batch, waits until its answers are in the bounded response buffer, and reads no
    // further: the client is held back by HTTP/2 flow control (its sends block), and after the
    // idle time (2 s here) without the client reading, the stream is closed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut flood_answers = client
        .stream_monitor(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let message = move |i: i64| {
        point(
            "flood",
            if i == 0 { "sensors" } else { "" },
            t0 + i * STEP,
            vec![1.0; V],
        )
    };
    let Flood {
        held,
        answered,
        ended,
    } = flood(tx, message, &mut flood_answers).await;
    eprintln!(
        "a client that never reads got {held} points onto the wire in 4 s, RSS {} MiB",
        rss_bytes(&server) >> 20
    );
    // What flow control lets through: the 1 MiB stream windows of requests and of unread
    // answers (~30 bytes per request, ~70 per answer on the wire), one batch of 1 024, 64
    // buffered answers; far below the two million the client tried to send.
    assert!(held < 200_000, "{held} points sent past flow control");
    assert!(
        answered > 1000 && answered <= held,
        "{answered} answers for {held} points"
    );
    let ended = ended.expect("the server closes a stream whose client stops reading");
    expect::<()>(Err(ended), Code::DeadlineExceeded, &["idle"]);
    assert_survived(&mut server, bound, &after).await;
}
