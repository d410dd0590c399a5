//! Live forecasts (`ForecastService.StreamForecast`) against the real binary: a tiny SpaceTime
//! model trained on the simulator, registered, and one series streamed point by point. In
//! window mode every answer equals what `Forecast` returns for the same last look-back rows; in
//! recurrent mode the answers after each priming (every look-back) do, and the others, flagged
//! not exact, differ. Then the
//! `statecast forecast-live` client, and the hostile cases: refusals with their status codes,
//! oversized ids, more streams than allowed, a budget shared with monitor streams, and a client
//! that floods a stream without reading, after each of which the server still serves within
//! its memory bound.
mod common;

use std::path::Path;
use std::time::Duration;

use common::hostile::{
    Flood, assert_survived, connect, expect_refusal as expect, flood, registry_snapshot, rss_bytes,
};
use statecast_pipelines::missing::MissingPolicy;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tokio::sync::mpsc::Sender;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

const L: usize = 24;
const H: u32 = 4;
const V: usize = 3;

/// Memory the server may gain during the hostile cases (a few refused 1 MB messages, a handful
/// of series states, one flooded stream's buffers).
const RSS_SLACK: u64 = 96 << 20;

/// Train a tiny SpaceTime model with a validation split (so it has quantiles); returns the
/// simulator file and the artifact directory.
fn trained(dir: &Path) -> (String, String) {
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let data = common::simulate(&p("sim"), 2, V, 600, &["--seed", "5", "--missing-rate", "0"]);
    let model = p("model");
    #[rustfmt::skip]
    common::run_ok(&[
        "train", "--data", &data, "--model", "spacetime", "--lookback", "24", "--horizon", "4",
        "--epochs", "1", "--max-batches-per-epoch", "8", "--split", "ratio:0.6,0.2,0.2",
        "--device", "cpu", "--out", &model, "--series-column", "series_id", "--label-column", "label",
    ]);
    (data, model)
}

fn point(
    series: &str,
    model: &str,
    ts: i64,
    values: Vec<f64>,
    mode: pb::LiveForecastMode,
) -> pb::StreamForecastRequest {
    pb::StreamForecastRequest {
        series_id: series.into(),
        model: model.into(),
        timestamp: ts,
        values,
        horizon: if model.is_empty() { 0 } else { H },
        quantiles: if model.is_empty() { vec![] } else { vec![0.1, 0.9] },
        levels: vec![],
        mode: if model.is_empty() { 0 } else { mode as i32 },
    }
}

/// An open live stream: its sender and its answers.
struct Open {
    tx: Sender<pb::StreamForecastRequest>,
    rx: tonic::Streaming<pb::StreamForecastResponse>,
}

impl Open {
    async fn new(client: &mut ForecastServiceClient<Channel>) -> Result<Open, tonic::Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let rx = client
            .stream_forecast(ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Open { tx, rx })
    }

    async fn send(
        &mut self,
        p: pb::StreamForecastRequest,
    ) -> Result<pb::StreamForecastResponse, tonic::Status> {
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

/// `Forecast` of the `L` rows ending at row `t` of `series`.
async fn window_forecast(
    client: &mut ForecastServiceClient<Channel>,
    series: &statecast_pipelines::Series,
    t: usize,
) -> pb::SeriesForecast {
    let rows = t + 1 - L..=t;
    let request = pb::ForecastRequest {
        model: Some(pb::ModelRef {
            name: "st".into(),
            selector: None,
        }),
        series: vec![pb::SeriesInput {
            series_id: series.id.clone(),
            timestamps: series.timestamps[rows.clone()].to_vec(),
            values: Some(pb::Matrix {
                rows: L as u32,
                cols: V as u32,
                values: rows
                    .flat_map(|r| series.values.iter().map(move |c| c[r]))
                    .collect(),
            }),
        }],
        horizon: H,
        quantiles: vec![0.1, 0.9],
        levels: vec![],
    };
    client
        .forecast(request)
        .await
        .unwrap()
        .into_inner()
        .series
        .remove(0)
}

/// The largest difference between two forecasts' point and quantile values, relative to the
/// second's magnitude.
fn gap(a: &pb::SeriesForecast, b: &pb::SeriesForecast) -> f32 {
    assert_eq!(a.timestamps, b.timestamps);
    let values = |f: &pb::SeriesForecast| -> Vec<f32> {
        let mut v = f.point.clone().unwrap().values;
        for q in &f.quantiles {
            v.extend(q.values.clone().unwrap().values);
        }
        v
    };
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_forecasts_follow_a_stream_and_hostile_clients_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = trained(dir.path());
    #[rustfmt::skip]
    let mut server = common::Server::start(&dir.path().join("data"), &[
        "--monitor-max-streams", "3", "--monitor-max-total-series", "5",
        "--monitor-max-series", "4", "--monitor-stream-idle-secs", "2",
        "--import-root", dir.path().to_str().unwrap(),
    ]);
    let channel = connect(&server).await;
    ModelServiceClient::new(channel.clone())
        .register_model(pb::RegisterModelRequest {
            name: "st".into(),
            path: model.clone(),
            labels: vec![],
        })
        .await
        .unwrap();
    let mut client = ForecastServiceClient::new(channel.clone()).max_encoding_message_size(8 << 20);
    let frame = common::load_simulated(&data, MissingPolicy::Error);
    let series = &frame.series[0];
    let row = |t: usize| -> Vec<f64> { series.values.iter().map(|c| f64::from(c[t])).collect() };

    // Window mode: every answer is the `Forecast` of the same window.
    let mut s = Open::new(&mut client).await.unwrap();
    for t in 0..3 * L {
        let model = if t == 0 { "st" } else { "" };
        let a = s
            .send(point(
                &series.id,
                model,
                series.timestamps[t],
                row(t),
                pb::LiveForecastMode::Window,
            ))
            .await
            .unwrap();
        assert_eq!(
            (a.series_id.as_str(), a.timestamp, a.model.as_str()),
            (series.id.as_str(), series.timestamps[t], "st@1")
        );
        if t + 1 < L {
            assert!(a.warming_up && a.forecast.is_none(), "row {t}");
            continue;
        }
        assert!(a.exact && !a.warming_up);
        let live = a.forecast.unwrap();
        assert_eq!(live.quantiles.len(), 2);
        let want = window_forecast(&mut client, series, t).await;
        assert!(gap(&live, &want) < 1e-5, "row {t}: {live:?} vs {want:?}");
    }
    drop(s);

    // Recurrent mode: exact on the answers after each priming (every look-back).
    let mut s = Open::new(&mut client).await.unwrap();
    let mut worst = 0.0f32;
    let rows = 4 * L;
    for t in 0..rows {
        let model = if t == 0 { "st" } else { "" };
        let a = s
            .send(point(
                &series.id,
                model,
                series.timestamps[t],
                row(t),
                pb::LiveForecastMode::Recurrent,
            ))
            .await
            .unwrap();
        if t + 1 < L {
            assert!(a.warming_up);
            continue;
        }
        let want = window_forecast(&mut client, series, t).await;
        let g = gap(&a.forecast.unwrap(), &want);
        assert_eq!(a.exact, (t + 1 - L).is_multiple_of(L), "row {t}");
        if a.exact {
            assert!(
                g < 1e-4,
                "row {t}: a primed answer differs from the window forecast by {g}"
            );
        } else {
            worst = worst.max(g);
        }
    }
    eprintln!(
        "recurrent live forecasts over {rows} rows: largest relative gap to the window forecast {worst:.4}"
    );
    // No bound is promised between primings: the state keeps the statistics of the window it
    // was primed on (BENCHMARKS.md §15c measures the gap on a trained model). It is not the window
    // forecast, and the answers say so (`exact` false).
    assert!(
        worst > 1e-4,
        "recurrent answers after the first equal the window forecast: {worst}"
    );
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The CLI client.
    let out = common::run_ok(&[
        "forecast-live",
        "--server",
        &server.addr,
        "--model",
        "st",
        "--data",
        &data,
        "--series-column",
        "series_id",
        "--label-column",
        "label",
        "--levels",
        "80",
        "--limit",
        "80",
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(" next ")).collect();
    assert!(!lines.is_empty(), "{out}");
    assert!(lines.iter().all(|l| l.contains('[') && l.contains(']')), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Hostile clients.
    let registry = registry_snapshot(&server).await;
    let bound = rss_bytes(&server) + RSS_SLACK;
    let ok = row(0);
    let t0 = series.timestamps[0];
    let step = series.timestamps[1] - series.timestamps[0];
    let mode = pb::LiveForecastMode::Recurrent;
    for (p, code, needles) in [
        (
            point("", "st", t0, ok.clone(), mode),
            Code::InvalidArgument,
            vec!["series_id"],
        ),
        (
            point(&"x".repeat(1 << 20), "st", t0, ok.clone(), mode),
            Code::InvalidArgument,
            vec!["series_id", "at most 256"],
        ),
        (
            point("a", "", t0, ok.clone(), mode),
            Code::InvalidArgument,
            vec!["model", "required"],
        ),
        (
            point("a", "nope", t0, ok.clone(), mode),
            Code::NotFound,
            vec!["nope"],
        ),
        (
            point("a", "st", t0, vec![1.0; V + 1], mode),
            Code::InvalidArgument,
            vec!["values"],
        ),
        (
            point("a", "st", t0, vec![f64::NAN; V], mode),
            Code::InvalidArgument,
            vec!["values[0]"],
        ),
        (
            point("a", "st", t0, vec![1e300; V], mode),
            Code::InvalidArgument,
            vec!["values[0]", "too large"],
        ),
        (
            pb::StreamForecastRequest {
                horizon: 1000,
                ..point("a", "st", t0, ok.clone(), mode)
            },
            Code::InvalidArgument,
            vec!["horizon"],
        ),
        (
            pb::StreamForecastRequest {
                quantiles: vec![0.5; 500],
                ..point("a", "st", t0, ok.clone(), mode)
            },
            Code::InvalidArgument,
            vec!["quantiles"],
        ),
        (
            pb::StreamForecastRequest {
                quantiles: vec![1.5],
                ..point("a", "st", t0, ok.clone(), mode)
            },
            Code::InvalidArgument,
            vec!["quantiles[0]"],
        ),
        (
            pb::StreamForecastRequest {
                mode: 99,
                ..point("a", "st", t0, ok.clone(), mode)
            },
            Code::InvalidArgument,
            vec!["mode"],
        ),
    ] {
        let mut s = Open::new(&mut client).await.unwrap();
        expect(s.send(p).await, code, &needles);
    }
    // Inconsistent later points.
    let mut s = Open::new(&mut client).await.unwrap();
    s.send(point("a", "st", t0, ok.clone(), mode)).await.unwrap();
    expect(
        s.send(point("a", "", t0, ok.clone(), mode)).await,
        Code::InvalidArgument,
        &["timestamp", "strictly increasing"],
    );
    let mut s = Open::new(&mut client).await.unwrap();
    s.send(point("a", "st", t0, ok.clone(), mode)).await.unwrap();
    expect(
        s.send(point("a", "", t0 + step / 2, ok.clone(), mode)).await,
        Code::InvalidArgument,
        &["timestamp", "grid"],
    );
    let mut s = Open::new(&mut client).await.unwrap();
    s.send(point("a", "st", t0, ok.clone(), mode)).await.unwrap();
    let other = pb::StreamForecastRequest {
        horizon: 2,
        ..point("a", "st", t0 + step, ok.clone(), mode)
    };
    expect(
        s.send(other).await,
        Code::InvalidArgument,
        &["horizon", "other forecast settings"],
    );
    drop(s);
    assert_survived(&mut server, bound, &registry).await;

    // Series per stream (4) and over all streams (5, shared with monitor streams).
    let mut a = Open::new(&mut client).await.unwrap();
    for i in 0..4 {
        a.send(point(&format!("a{i}"), "st", t0, ok.clone(), mode))
            .await
            .unwrap();
    }
    expect(
        a.send(point("a4", "st", t0, ok.clone(), mode)).await,
        Code::ResourceExhausted,
        &["this stream already follows 4"],
    );
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = Open::new(&mut client).await.unwrap();
    for i in 0..4 {
        a.send(point(&format!("a{i}"), "st", t0, ok.clone(), mode))
            .await
            .unwrap();
    }
    let mut b = Open::new(&mut client).await.unwrap();
    b.send(point("b0", "st", t0, ok.clone(), mode)).await.unwrap();
    let mut monitor = statecast_proto::v1::monitor_service_client::MonitorServiceClient::new(channel.clone());
    let (mtx, mrx) = tokio::sync::mpsc::channel(1);
    mtx.send(pb::MonitorRequest {
        series_id: "m".into(),
        model: "st".into(),
        timestamp: t0,
        values: ok.clone(),
    })
    .await
    .unwrap();
    let mut m = monitor
        .stream_monitor(ReceiverStream::new(mrx))
        .await
        .unwrap()
        .into_inner();
    let status = m.next().await.unwrap().unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "the budget is shared with monitor streams: {status:?}"
    );
    // More streams than allowed (3 open: a, b and one more).
    let _c = Open::new(&mut client).await.unwrap();
    expect(
        Open::new(&mut client).await.map(|_| ()),
        Code::ResourceExhausted,
        &["live forecast streams"],
    );
    expect(
        b.send(point("b1", "st", t0, ok.clone(), mode)).await,
        Code::ResourceExhausted,
        &["5 live series"],
    );
    drop((a, b, _c, mtx));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_survived(&mut server, bound, &registry).await;

    // A client that floods one stream and never reads: held back by flow control, then closed.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut flood_answers = client
        .stream_forecast(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let values = ok.clone();
    let message = move |i: i64| {
        let model = if i == 0 { "st" } else { "" };
        point("flood", model, t0 + i * step, values.clone(), mode)
    };
    let Flood {
        held,
        answered,
        ended,
    } = flood(tx, message, &mut flood_answers).await;
    eprintln!(
        "a live client that never reads got {held} points onto the wire in 4 s, RSS {} MiB",
        rss_bytes(&server) >> 20
    );
    assert!(held < 200_000, "{held} points sent past flow control");
    // Either the server stalled on the unread answers and closed the stream after the idle
    // time, or it answered every point the client got onto the wire (its sends held back by
    // flow control meanwhile) and the stream ended with the client's.
    match ended {
        Some(status) => {
            assert!(answered <= held, "{answered} answers for {held} points");
            expect::<()>(Err(status), Code::DeadlineExceeded, &["idle"]);
        }
        None => assert_eq!(answered, held, "a clean end answers every point sent"),
    }
    assert_survived(&mut server, bound, &registry).await;
}
