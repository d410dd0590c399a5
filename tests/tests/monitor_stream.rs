//! The streaming anomaly monitor over gRPC against the real binary: train a tiny `linear` model,
//! save its detector next to the artifact (`statecast detect --save-detector`), register it,
//! stream one series point by point with a large spike injected into one variate and expect an
//! alarm naming that series and variate; then every refusal's status code (NaN, wrong variate
//! count, unsorted timestamp, missing or unknown model, a model without a detector, too many
//! series per stream) and the `statecast monitor` CLI client.
mod common;

use statecast_pipelines::missing::MissingPolicy;
use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

const V: usize = 3;
const SPIKED: usize = 1;

fn point(series: &str, model: &str, timestamp: i64, values: Vec<f64>) -> pb::MonitorRequest {
    pb::MonitorRequest {
        series_id: series.into(),
        model: model.into(),
        timestamp,
        values,
    }
}

/// Send `reqs` on a fresh stream; the status that ended it (panics when none did).
async fn refusal(client: &mut MonitorServiceClient<Channel>, reqs: Vec<pb::MonitorRequest>) -> tonic::Status {
    let n = reqs.len();
    let outbound = tokio_stream::iter(reqs);
    let mut inbound = match client.stream_monitor(outbound).await {
        Ok(r) => r.into_inner(),
        Err(status) => return status,
    };
    let mut ok = 0;
    while let Some(item) = inbound.next().await {
        match item {
            Ok(_) => ok += 1,
            Err(status) => return status,
        }
    }
    panic!("all {n} points accepted ({ok} responses), expected a refusal");
}

fn expect(status: &tonic::Status, code: Code, needles: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for n in needles {
        assert!(
            status.message().contains(n),
            "`{n}` not in {:?}",
            status.message()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spike_raises_an_alarm_and_bad_points_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let data = common::simulate(&p("sim"), 2, V, 800, &["--seed", "3", "--missing-rate", "0"]);
    let cols = ["--series-column", "series_id", "--label-column", "label"];
    let model = p("model");
    let mut train = vec![
        "train",
        "--data",
        &data,
        "--model",
        "linear",
        "--lookback",
        "24",
        "--horizon",
        "4",
        "--epochs",
        "1",
        "--split",
        "ratio:0.6,0.2,0.2",
        "--device",
        "cpu",
        "--out",
        &model,
    ];
    train.extend(cols);
    common::run_ok(&train);
    // The same artifact without a detector, registered as `bare`.
    let bare = p("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for e in std::fs::read_dir(&model).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join("bare").join(e.file_name())).unwrap();
    }
    let detector = format!("{model}/detector.json");
    let scores = p("scores.csv");
    let mut detect = vec![
        "detect",
        "--data",
        &data,
        "--model",
        &model,
        "--out",
        &scores,
        "--fit-fraction",
        "0.5",
        "--save-detector",
        &detector,
    ];
    detect.extend(cols);
    common::run_ok(&detect);

    let server = common::Server::start(
        &dir.path().join("data"),
        &[
            "--monitor-max-series",
            "2",
            "--monitor-idle-secs",
            "2",
            "--import-root",
            &dir.path().to_string_lossy(),
        ],
    );
    let channel = tonic::transport::Endpoint::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut models = ModelServiceClient::new(channel.clone());
    for (name, path) in [("sensors", &model), ("bare", &bare)] {
        models
            .register_model(pb::RegisterModelRequest {
                name: name.into(),
                path: path.clone(),
                labels: vec![],
            })
            .await
            .unwrap();
    }
    let mut client = MonitorServiceClient::new(channel);

    // One series, point by point, with one large spike in variate SPIKED.
    let frame = common::load_simulated(&data, MissingPolicy::Error);
    let series = &frame.series[0];
    let spread: Vec<f64> = series
        .values
        .iter()
        .map(|c| {
            let n = c.len() as f64;
            let mean = c.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            (c.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut inbound = client
        .stream_monitor(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut spike_at = None;
    let mut fired = None;
    let mut opened = None;
    let mut closed = None;
    let mut warm = 0;
    let mut last_alarm = true;
    for t in 0..series.len().min(700) {
        let mut values: Vec<f64> = series.values.iter().map(|c| f64::from(c[t])).collect();
        let ts = series.timestamps[t];
        // The spike goes in once the series is scored and no alarm is open, so it opens its own.
        if spike_at.is_none() && t >= 100 && !last_alarm {
            values[SPIKED] += 50.0 * spread[SPIKED];
            spike_at = Some(ts);
        }
        let model = if t == 0 { "sensors" } else { "" };
        tx.send(point(&series.id, model, ts, values)).await.unwrap();
        let r = inbound.next().await.unwrap().unwrap();
        assert_eq!((r.series_id.as_str(), r.timestamp), (series.id.as_str(), ts));
        assert_eq!(r.model, "sensors@1");
        if r.warming_up {
            warm += 1;
            assert!(r.variate_scores.is_empty() || r.score.is_nan());
            continue;
        }
        assert_eq!(r.variate_scores.len(), V);
        assert!(r.score.is_finite() && r.threshold.is_finite(), "{r:?}");
        if spike_at == Some(ts) {
            assert!(r.alarm && r.score > r.threshold, "the spike did not alarm: {r:?}");
            let top = r
                .variate_scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1));
            assert_eq!(top.unwrap().0, SPIKED, "{r:?}");
            fired = r.fired.clone();
            opened = r.event.clone();
        } else if spike_at.is_some()
            && let Some(e) = &r.event
            && e.kind == pb::AlarmEventKind::Closed as i32
        {
            // The alarm lifecycle: the spike's alarm closes once the monitor's rule has been
            // quiet for its `clear` points, dated from the spike to its last point.
            assert!(!r.alarm, "{r:?}");
            closed = Some(e.clone());
            break;
        }
        last_alarm = r.alarm;
    }
    assert!(warm >= 23, "look-back 24 means ≥ 23 warm-up points, got {warm}");
    let spike_at = spike_at.expect("the spike was sent");
    let a = fired.expect("an alarm fired at the spike");
    assert_eq!(a.start_timestamp, spike_at);
    assert_eq!(a.top_variates[0].name, frame.columns[SPIKED], "{a:?}");
    assert!(a.top_variates[0].contribution > 0.5, "{a:?}");
    let o = opened.expect("an OPENED event at the spike");
    assert_eq!(o.kind, pb::AlarmEventKind::Opened as i32);
    assert_eq!((o.start_timestamp, o.end_timestamp), (spike_at, spike_at));
    assert_eq!(o.top_variates[0].name, frame.columns[SPIKED]);
    let c = closed.expect("the spike's alarm closed");
    assert_eq!(c.start_timestamp, spike_at);
    assert!(c.end_timestamp >= spike_at && c.peak >= o.peak, "{c:?} vs {o:?}");
    drop(tx);
    assert!(
        inbound.next().await.is_none(),
        "the stream ends when the client stops"
    );

    // Refusals, each on a fresh stream.
    let (id, t0) = (series.id.as_str(), series.timestamps[0]);
    let ok = || vec![1.0; V];
    let mut nan = ok();
    nan[2] = f64::NAN;
    let s = refusal(&mut client, vec![point(id, "sensors", t0, nan)]).await;
    expect(&s, Code::InvalidArgument, &["values[2]"]);
    let s = refusal(&mut client, vec![point(id, "sensors", t0, vec![1.0; V + 1])]).await;
    expect(&s, Code::InvalidArgument, &["values", "variates"]);
    let s = refusal(
        &mut client,
        vec![point(id, "sensors", t0 + 10, ok()), point(id, "", t0 + 10, ok())],
    )
    .await;
    expect(&s, Code::InvalidArgument, &["timestamp"]);
    let s = refusal(&mut client, vec![point(id, "", t0, ok())]).await;
    expect(&s, Code::InvalidArgument, &["model"]);
    let s = refusal(&mut client, vec![point(id, "nope", t0, ok())]).await;
    expect(&s, Code::NotFound, &["nope"]);
    let s = refusal(&mut client, vec![point(id, "bare", t0, ok())]).await;
    expect(&s, Code::FailedPrecondition, &["detector.json"]);
    let s = refusal(
        &mut client,
        (0..3)
            .map(|i| point(&format!("s{i}"), "sensors", t0, ok()))
            .collect(),
    )
    .await;
    expect(&s, Code::ResourceExhausted, &["2 series"]);

    // Idle series expire: after the TTL a third series fits, and an expired one starts afresh
    // (so its next point needs the model again).
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut inbound = client
        .stream_monitor(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for i in 0..2 {
        tx.send(point(&format!("s{i}"), "sensors", t0, ok()))
            .await
            .unwrap();
        assert!(inbound.next().await.unwrap().unwrap().warming_up);
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    tx.send(point("s2", "sensors", t0, ok())).await.unwrap();
    assert_eq!(inbound.next().await.unwrap().unwrap().series_id, "s2");
    tx.send(point("s0", "", t0 + 1, ok())).await.unwrap();
    let s = inbound.next().await.unwrap().unwrap_err();
    expect(&s, Code::InvalidArgument, &["model", "first point"]);

    // The CLI client: every row of both series, alarms and a summary.
    let mut cli = vec![
        "monitor",
        "--server",
        &server.addr,
        "--model",
        "sensors",
        "--data",
        &data,
    ];
    cli.extend(cols);
    let stdout = common::run_ok(&cli);
    assert!(
        stdout.contains("sensors@1: 1600 of 1600 points scored"),
        "{stdout}"
    );
    assert!(stdout.contains("alarm opened  machine_"), "{stdout}");
    assert!(stdout.contains("alarm closed  machine_"), "{stdout}");
}
