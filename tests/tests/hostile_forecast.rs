//! Hostile clients against forecasts and metrics (issue 16, items 1, 8, 12), replayed against
//! the real binary: a flood of quantiles, a response larger than the message limit, values at
//! the edge of `f32`, timestamps at the end of time, and thousands of invented method paths.
//! Every case ends with the server still serving, its memory under a bound and the registry
//! unchanged.
mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use common::hostile::{assert_survived, connect, registry_snapshot, rss_bytes};
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tokio_stream::StreamExt;
use tonic::Code;

const L: usize = 48;
const H: usize = 12;
const V: usize = 3;
const STEP: i64 = 300_000_000; // 5 min, the simulator's default

/// Memory the server may gain over its settled size during a case: the whole refused request
/// (≈ 1–2 MB) decoded a few times over, plus allocator slack. The failures this replays took
/// gigabytes (3.9 GB peak for 100 k quantiles × 100 series).
const RSS_SLACK: u64 = 96 << 20;

/// Train the tiny model every case forecasts with.
fn train(dir: &Path) -> String {
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let data = common::simulate(&d("sim"), 2, V, 1200, &[]);
    #[rustfmt::skip]
    common::run_ok(&[
        "train", "--data", &data, "--series-column", "series_id", "--label-column", "label",
        "--missing", "linear", "--model", "linear", "--lookback", &L.to_string(),
        "--horizon", &H.to_string(), "--epochs", "1", "--max-batches-per-epoch", "4",
        "--out", &d("model"),
    ]);
    d("model")
}

/// `n` series of `rows` rows each, on the model's grid, ending at `last`.
fn series(n: usize, rows: usize, last: i64, value: f32) -> Vec<pb::SeriesInput> {
    (0..n)
        .map(|s| pb::SeriesInput {
            series_id: format!("s{s}"),
            timestamps: (0..rows as i64)
                .map(|t| last - (rows as i64 - 1 - t) * STEP)
                .collect(),
            values: Some(pb::Matrix {
                rows: rows as u32,
                cols: V as u32,
                values: vec![value; rows * V],
            }),
        })
        .collect()
}

fn request(series: Vec<pb::SeriesInput>, quantiles: Vec<f64>) -> pb::ForecastRequest {
    pb::ForecastRequest {
        model: Some(pb::ModelRef {
            name: "m".into(),
            selector: None,
        }),
        series,
        horizon: 0,
        quantiles,
        levels: vec![],
    }
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET /metrics over a raw HTTP/1.1 connection; the body.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Peak resident memory of the server so far (`VmHWM`), bytes.
fn peak_bytes(server: &common::Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_forecasts_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut server = common::Server::start(
        &dir.path().join("data"),
        &[
            "--max-message-mib",
            "4",
            "--metrics-addr",
            &metrics_addr,
            "--auth-token",
            "s3cret",
            "--import-root",
            dir.path().to_str().unwrap(),
        ],
    );
    let channel = connect(&server).await;
    let mut register = tonic::Request::new(pb::RegisterModelRequest {
        name: "m".into(),
        path: model,
        labels: vec![],
    });
    register
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    ModelServiceClient::new(channel.clone())
        .register_model(register)
        .await
        .unwrap();
    let mut forecasts = ForecastServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    // Settle: one ordinary forecast loads the model.
    forecasts
        .forecast(request(series(1, L, 1_000 * STEP, 0.5), vec![0.1, 0.9]))
        .await
        .unwrap();
    let registry = registry_snapshot(&server).await;
    let bound = rss_bytes(&server) + RSS_SLACK;
    let peak_before = peak_bytes(&server);

    // Item 1: 100 000 distinct quantiles × 300 series (≈ 1 MB request) is refused by count.
    let flood: Vec<f64> = (1..=100_000).map(|k| k as f64 / 100_001.0).collect();
    let started = Instant::now();
    let status = forecasts
        .forecast(request(series(300, L, 1_000 * STEP, 0.5), flood.clone()))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("`quantiles`") && status.message().contains("at most 100"),
        "{status:?}"
    );
    let mut stream = ForecastServiceClient::new(channel.clone());
    let status = stream
        .forecast_stream(request(series(300, L, 1_000 * STEP, 0.5), flood))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    eprintln!(
        "100k quantiles × 300 series: INVALID_ARGUMENT in {} ms, peak RSS +{} MiB",
        took.as_millis(),
        (peak_bytes(&server) - peak_before) >> 20
    );
    assert_survived(&mut server, bound, &registry).await;

    // Item 1: the allowed 100 quantiles × 1000 series would answer ≈ 14 MB, over the 4 MiB
    // limit: RESOURCE_EXHAUSTED before computing. Streamed, each series fits one message.
    let quantiles: Vec<f64> = (1..=100).map(|k| k as f64 / 101.0).collect();
    let started = Instant::now();
    let status = forecasts
        .forecast(request(series(1000, L, 1_000 * STEP, 0.5), quantiles.clone()))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("message limit of 4194304 bytes")
            && status.message().contains("1000 series"),
        "{status:?}"
    );
    eprintln!(
        "1000 series × 100 quantiles (≈ 14 MB response): RESOURCE_EXHAUSTED in {} ms",
        took.as_millis()
    );
    let mut messages = forecasts
        .forecast_stream(request(series(50, L, 1_000 * STEP, 0.5), quantiles))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        assert_eq!(m.series.unwrap().quantiles.len(), 100);
        n += 1;
    }
    assert_eq!(n, 50);
    assert_survived(&mut server, bound, &registry).await;

    // Item 12: values at the edge of f32 are refused, never answered with `inf`.
    for value in [3.4e38_f32, -3.4e38] {
        let status = forecasts
            .forecast(request(series(1, L, 1_000 * STEP, value), vec![0.1, 0.9]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("series[0].values"), "{status:?}");
    }
    // Item 12: timestamps whose forecast would pass i64::MAX, unary and streamed.
    let late = i64::MAX - 3 * STEP;
    let status = forecasts
        .forecast(request(series(1, L, late, 0.5), vec![]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("do not fit in i64"), "{status:?}");
    let status = forecasts
        .forecast_stream(request(series(1, L, late, 0.5), vec![]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_survived(&mut server, bound, &registry).await;

    // Item 8: 5000 calls to invented paths (refused by auth, by the router) keep /metrics small.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    let started = Instant::now();
    for i in 0..5000 {
        let path = match i % 3 {
            0 => format!("/statecast.v1.ModelService/DeleteInvented{i}"),
            1 => format!("/statecast.v1.ForecastService/Invented{i}"),
            _ => format!("/evil.v{i}.Service/Method"),
        };
        grpc.ready().await.unwrap();
        let status = grpc
            .unary::<(), (), _>(
                tonic::Request::new(()),
                tonic::codegen::http::uri::PathAndQuery::try_from(path).unwrap(),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(status.code(), Code::Unauthenticated | Code::Unimplemented),
            "{status:?}"
        );
    }
    let text = scrape(&metrics_addr);
    eprintln!(
        "5000 invented methods in {} ms: /metrics {} bytes",
        started.elapsed().as_millis(),
        text.len()
    );
    assert!(text.len() < 32 << 10, "/metrics grew to {} bytes", text.len());
    assert!(!text.contains("Invented"), "an invented path became a label");
    assert!(
        text.contains(r#"statecast_grpc_requests_total{code="UNAUTHENTICATED",method="unknown"} 1667"#),
        "{text}"
    );
    assert_survived(&mut server, bound, &registry).await;
}
