//! The model registry and forecasts over gRPC against the real binary: train a tiny model with
//! the CLI, register it, list/get/label it, forecast (unary and streaming) and compare with the
//! model run offline, every validation error's status code, the message-size limit, a restart
//! on the same data directory, deletion, and the `models`/`forecast` CLI clients.
mod common;

use std::path::Path;
use std::time::Duration;

use burn::prelude::*;
use statecast_models::artifact::Artifact;
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::Frequency;
use statecast_pipelines::TimeFrame;
use statecast_pipelines::missing::MissingPolicy;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tonic::Code;
use tonic::transport::Channel;

const L: usize = 48;
const H: usize = 12;
const V: usize = 3;

/// The last `rows` rows of series `s`, row-major.
fn input(frame: &TimeFrame, s: usize, rows: usize) -> pb::SeriesInput {
    let series = &frame.series[s];
    let start = series.len() - rows;
    pb::SeriesInput {
        series_id: series.id.clone(),
        timestamps: series.timestamps[start..].to_vec(),
        values: Some(pb::Matrix {
            rows: rows as u32,
            cols: V as u32,
            values: (start..series.len())
                .flat_map(|t| (0..V).map(move |c| series.values[c][t]))
                .collect(),
        }),
    }
}

fn by_name(name: &str) -> Option<pb::ModelRef> {
    Some(pb::ModelRef {
        name: name.into(),
        selector: None,
    })
}

fn request(model: Option<pb::ModelRef>, series: Vec<pb::SeriesInput>) -> pb::ForecastRequest {
    pb::ForecastRequest {
        model,
        series,
        horizon: 0,
        quantiles: vec![0.5, 0.1],
        levels: vec![80.0], // adds 0.1 (deduplicated) and 0.9
    }
}

/// The point forecast computed offline from the artifact, [H × V] in original units.
fn offline(artifact_dir: &Path, input: &pb::SeriesInput) -> Vec<f32> {
    let dev = Device::flex();
    let (artifact, model) = Artifact::load(artifact_dir, &dev).unwrap();
    let mut x = input.values.clone().unwrap().values;
    artifact.scaler.transform_rows(&input.series_id, &mut x).unwrap();
    let y = model
        .forecast(Tensor::<3>::from_data(TensorData::new(x, [1, L, V]), &dev))
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let mut y = y;
    artifact.scaler.inverse_rows(&input.series_id, &mut y).unwrap();
    y
}

/// The `q`-quantile the server should answer for `input` (its last `L` rows): the point plus
/// the artifact's split-conformal offset, times the scale and the window's volatility.
fn offline_quantile(artifact_dir: &Path, input: &pb::SeriesInput, q: f64) -> Vec<f32> {
    let point = offline(artifact_dir, input);
    let (artifact, _) = Artifact::load(artifact_dir, &Device::flex()).unwrap();
    let grid = artifact.residual_quantiles.clone().expect("a conformal grid");
    let mut x = input.values.clone().unwrap().values;
    artifact.scaler.transform_rows(&input.series_id, &mut x).unwrap();
    let volatility = statecast_models::conformal::window_volatility(&x, V);
    point
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (h, v) = (i / V, i % V);
            let unit = grid.unit(v, artifact.scaler.scale[v], Some(volatility[v]));
            (f64::from(*p) + grid.offset(h, v, q) * f64::from(unit)) as f32
        })
        .collect()
}

async fn connect(addr: &str) -> (ModelServiceClient<Channel>, ForecastServiceClient<Channel>) {
    let channel = tonic::transport::Endpoint::from_shared(addr.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    (
        ModelServiceClient::new(channel.clone()),
        ForecastServiceClient::new(channel),
    )
}

async fn expect_error(
    client: &mut ForecastServiceClient<Channel>,
    req: pb::ForecastRequest,
    code: Code,
    needles: &[&str],
) {
    let status = client.forecast(req).await.unwrap_err();
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
async fn register_forecast_label_restart_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
    let data = common::simulate(&d("sim"), 2, V, 1600, &[]);
    let (l, h) = (L.to_string(), H.to_string());
    #[rustfmt::skip]
    common::run_ok(&[
        "train", "--data", &data, "--series-column", "series_id", "--label-column", "label",
        "--missing", "linear", "--model", "linear", "--lookback", &l, "--horizon", &h,
        "--epochs", "2", "--max-batches-per-epoch", "8", "--out", &d("m1"),
    ]);
    let frame = common::load_simulated(&data, MissingPolicy::Linear);
    assert_eq!(frame.series.len(), 2);

    let data_dir = dir.path().join("data");
    let root = dir.path().to_string_lossy().into_owned();
    let server = common::Server::start(&data_dir, &["--max-message-mib", "1", "--import-root", &root]);
    let (mut models, mut forecasts) = connect(&server.addr).await;

    // Register, list, get.
    let v = models
        .register_model(pb::RegisterModelRequest {
            name: "sensors".into(),
            path: d("m1"),
            labels: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(
        (v.name.as_str(), v.version, v.kind.as_str()),
        ("sensors", 1, "Linear")
    );
    assert_eq!(v.interval_method, "split-conformal-val-local");
    let schema = v.schema.clone().unwrap();
    assert_eq!(
        (schema.lookback, schema.horizon, schema.columns.len()),
        (L as u32, H as u32, V)
    );
    assert!(
        v.metrics.contains_key("val.mse") && v.metrics.contains_key("test.mae"),
        "{:?}",
        v.metrics
    );
    let list = models
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.models.len(), 1);
    assert_eq!(
        (list.models[0].latest_version, list.models[0].version_count),
        (1, 1)
    );
    let got = models
        .get_model(pb::GetModelRequest {
            model: by_name("sensors"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.versions, vec![v.clone()]);

    // Forecast two series: shapes, grid timestamps, ordered quantiles, offline parity.
    let freq = Frequency::parse(&schema.frequency).unwrap().micros;
    let inputs = vec![input(&frame, 0, L + 7), input(&frame, 1, L)];
    let response = forecasts
        .forecast(request(by_name("sensors"), inputs.clone()))
        .await
        .unwrap()
        .into_inner();
    let model = response.model.clone().unwrap();
    assert_eq!((model.version, model.columns.len()), (1, V));
    assert_eq!(response.series.len(), 2);
    for (f, input) in response.series.iter().zip(&inputs) {
        assert_eq!(f.series_id, input.series_id);
        let last = *input.timestamps.last().unwrap();
        assert_eq!(
            f.timestamps,
            (1..=H as i64).map(|k| last + k * freq).collect::<Vec<_>>()
        );
        let point = f.point.clone().unwrap();
        assert_eq!(
            (point.rows, point.cols, point.values.len()),
            (H as u32, V as u32, H * V)
        );
        let qs: Vec<f64> = f.quantiles.iter().map(|q| q.quantile).collect();
        assert_eq!(qs.len(), 3, "{qs:?}");
        assert!((qs[0] - 0.1).abs() < 1e-9 && (qs[1] - 0.5).abs() < 1e-9 && (qs[2] - 0.9).abs() < 1e-9);
        let q: Vec<Vec<f32>> = f
            .quantiles
            .iter()
            .map(|q| q.values.clone().unwrap().values)
            .collect();
        assert!(q.iter().all(|v| v.len() == H * V));
        for (i, ((lo, mid), hi)) in q[0].iter().zip(&q[1]).zip(&q[2]).enumerate() {
            let (lo, mid, hi) = (*lo, *mid, *hi);
            assert!(lo <= mid && mid <= hi, "quantiles out of order at {i}");
            assert!(lo < hi, "zero-width interval at {i}");
        }
        let mut last_l = input.clone();
        let m = last_l.values.as_mut().unwrap();
        m.values.drain(..(m.rows as usize - L) * V);
        let expected = offline(Path::new(&d("m1")), &last_l);
        for (a, b) in point.values.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-4, "server {a} vs offline {b}");
        }
        for (k, level) in [0.1, 0.5, 0.9].into_iter().enumerate() {
            let expected = offline_quantile(Path::new(&d("m1")), &last_l, level);
            for (a, b) in q[k].iter().zip(&expected) {
                assert!(
                    (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                    "q{level}: server {a} vs offline {b}"
                );
            }
        }
    }

    // A shorter horizon is a prefix; the stream gives one message per series, equal to unary.
    let mut short = request(by_name("sensors"), inputs.clone());
    short.horizon = 5;
    let short = forecasts.forecast(short).await.unwrap().into_inner();
    let p = short.series[0].point.clone().unwrap();
    assert_eq!((p.rows, short.series[0].timestamps.len()), (5, 5));
    assert_eq!(
        p.values[..],
        response.series[0].point.clone().unwrap().values[..5 * V]
    );
    let mut stream = forecasts
        .forecast_stream(request(by_name("sensors"), inputs.clone()))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        assert_eq!(m.model.unwrap().version, 1);
        streamed.push(m.series.unwrap());
    }
    assert_eq!(streamed, response.series);

    // Labels.
    let labelled = models
        .set_label(pb::SetLabelRequest {
            name: "sensors".into(),
            label: "stable".into(),
            version: Some(1),
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_eq!(labelled.labels, vec!["stable".to_string()]);
    let stable = Some(pb::ModelRef {
        name: "sensors".into(),
        selector: Some(pb::model_ref::Selector::Label("stable".into())),
    });
    let by_label = forecasts
        .forecast(request(stable.clone(), inputs.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_label.series, response.series);

    // Validation errors name the field.
    let mut nan = inputs.clone();
    nan[1].values.as_mut().unwrap().values[5 * V + 2] = f32::NAN;
    expect_error(
        &mut forecasts,
        request(stable.clone(), nan),
        Code::InvalidArgument,
        &["series[1].values", "NaN at row 5"],
    )
    .await;
    let mut narrow = inputs.clone();
    let m = narrow[0].values.as_mut().unwrap();
    m.cols = 2;
    m.values.truncate(m.rows as usize * 2);
    expect_error(
        &mut forecasts,
        request(stable.clone(), narrow),
        Code::InvalidArgument,
        &["series[0].values", "expected 3, got 2"],
    )
    .await;
    let short_ctx = vec![input(&frame, 0, 20)];
    expect_error(
        &mut forecasts,
        request(stable.clone(), short_ctx),
        Code::InvalidArgument,
        &["series[0].values", "needs 48, got 20"],
    )
    .await;
    let mut long_h = request(stable.clone(), inputs.clone());
    long_h.horizon = H as u32 + 1;
    expect_error(&mut forecasts, long_h, Code::InvalidArgument, &["horizon"]).await;
    let mut bad_q = request(stable.clone(), inputs.clone());
    bad_q.quantiles = vec![1.5];
    expect_error(&mut forecasts, bad_q, Code::InvalidArgument, &["quantiles[0]"]).await;
    let mut gap = inputs.clone();
    gap[0].timestamps[10] += 1;
    expect_error(
        &mut forecasts,
        request(stable.clone(), gap),
        Code::InvalidArgument,
        &["series[0].timestamps"],
    )
    .await;
    expect_error(
        &mut forecasts,
        request(by_name("nope"), inputs.clone()),
        Code::NotFound,
        &["nope"],
    )
    .await;
    let missing_label = Some(pb::ModelRef {
        name: "sensors".into(),
        selector: Some(pb::model_ref::Selector::Label("canary".into())),
    });
    expect_error(
        &mut forecasts,
        request(missing_label, inputs.clone()),
        Code::NotFound,
        &["canary"],
    )
    .await;

    // A request over --max-message-mib 1 is refused by the transport; the server keeps serving.
    let rows = 100_000; // 100k × 3 floats ≈ 1.2 MB
    let big = pb::SeriesInput {
        series_id: "big".into(),
        timestamps: (0..rows as i64).map(|t| t * freq).collect(),
        values: Some(pb::Matrix {
            rows: rows as u32,
            cols: V as u32,
            values: vec![0.5; rows * V],
        }),
    };
    let status = forecasts
        .forecast(request(stable.clone(), vec![big]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(
        models
            .list_models(pb::ListModelsRequest {})
            .await
            .unwrap()
            .into_inner()
            .models
            .len(),
        1
    );

    // The CLI clients.
    let out = common::run_ok(&["models", "list", "--server", &server.addr]);
    assert!(out.contains("sensors") && out.contains("stable→1"), "{out}");
    #[rustfmt::skip]
    let out = common::run_ok(&[
        "forecast", "--server", &server.addr, "--model", "sensors:stable", "--data", &data,
        "--series-column", "series_id", "--label-column", "label", "--missing", "linear",
        "--quantiles", "0.1,0.5,0.9", "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["version"], 1);
    let cli_point = &json["series"][1]["point"];
    let grpc_point = response.series[1].point.clone().unwrap().values;
    for (i, x) in grpc_point.iter().enumerate() {
        let y = cli_point[i / V][i % V].as_f64().unwrap() as f32;
        assert!((x - y).abs() < 1e-5, "CLI {y} vs gRPC {x}");
    }

    // The summary, the long-format file and the plot.
    let csv_out = d("forecast.csv");
    let png_out = d("forecast.png");
    #[rustfmt::skip]
    let out = common::run_ok(&[
        "forecast", "--server", &server.addr, "--model", "sensors:stable", "--data", &data,
        "--series-column", "series_id", "--label-column", "label", "--missing", "linear",
        "--levels", "80", "--out", &csv_out, "--plot", &png_out,
    ]);
    assert!(out.contains("interval q0.1–q0.9"), "{out}");
    for s in &response.series {
        assert!(out.contains(&s.series_id), "{out}");
    }
    let text = std::fs::read_to_string(&csv_out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("series_id,timestamp,step,variable,point,q0.1,q0.9")
    );
    let h = response.series[0].timestamps.len();
    assert_eq!(lines.count(), response.series.len() * h * V);
    assert!(std::fs::metadata(&png_out).unwrap().len() > 10_000);

    // Restart on the same data directory: the model and its label are still there.
    drop((models, forecasts));
    assert!(server.terminate(Duration::from_secs(10)).success());
    std::fs::remove_dir_all(d("m1")).unwrap(); // the registry holds its own copy
    let server = common::Server::start(&data_dir, &[]);
    let (mut models, mut forecasts) = connect(&server.addr).await;
    let got = models
        .get_model(pb::GetModelRequest {
            model: stable.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.versions.len(), 1);
    assert_eq!(got.labels.get("stable"), Some(&1));
    let again = forecasts
        .forecast(request(stable.clone(), inputs.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.series, response.series);

    // Delete: NotFound afterwards.
    let deleted = models
        .delete_model(pb::DeleteModelRequest {
            name: "sensors".into(),
            version: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_versions, vec![1]);
    let err = models
        .get_model(pb::GetModelRequest {
            model: by_name("sensors"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    expect_error(
        &mut forecasts,
        request(stable, inputs),
        Code::NotFound,
        &["sensors"],
    )
    .await;
    assert!(!data_dir.join("models").join("sensors").exists());
}
