//! SiMBA and Chimera through every path of the product against the real binary: a tiny model
//! trained as a gRPC job (its detector fitted by the job), forecasts with quantiles (equal to the
//! artifact's own forecast offline), and one series streamed point by point through the monitor,
//! whose scores equal batch scoring of the same series with the same model and detector (the
//! monitor runs the family's recurrent state, constant work per point).
mod common;

use std::path::Path;
use std::time::Duration;

use burn::prelude::*;
use statecast_anomaly::{Detector, Predictor};
use statecast_models::artifact::Artifact;
use statecast_models::forecaster::Forecaster;
use statecast_models::zoo::AnyModel;
use statecast_pipelines::Series;
use statecast_pipelines::missing::MissingPolicy;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

const L: usize = 24;
const H: usize = 6;
const V: usize = 3;
/// One family under test: its registry name, proto value, architecture name and a tiny
/// configuration.
struct Family {
    name: &'static str,
    proto: pb::ModelFamily,
    kind: &'static str,
    tiny: &'static str,
}

const SIMBA: Family = Family {
    name: "simba",
    proto: pb::ModelFamily::Simba,
    kind: "Simba",
    tiny: r#"{"d_model": 8, "n_blocks": 1, "d_state": 4, "einfft_blocks": 2, "dropout": 0.0}"#,
};

const CHIMERA: Family = Family {
    name: "chimera",
    proto: pb::ModelFamily::Chimera,
    kind: "Chimera",
    tiny: r#"{"d_model": 8, "n_blocks": 1, "d_state": 4, "dropout": 0.0}"#,
};

fn job(family: &Family, data: &Path) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        dataset: Some(pb::DatasetSource {
            path: data.to_string_lossy().into_owned(),
            series_column: "series_id".into(),
            label_column: "label".into(),
            missing: "linear".into(),
            ..Default::default()
        }),
        model_kind: String::new(),
        model_config_json: family.tiny.into(),
        lookback: L as u32,
        horizon: H as u32,
        split: String::new(),
        training: Some(pb::TrainingSettings {
            epochs: 2,
            batch_size: 16,
            lr: 3e-3,
            warmup_epochs: Some(0),
            patience: Some(100),
            max_batches_per_epoch: Some(12),
            seed: 7,
        }),
        device: "cpu".into(),
        model_name: family.name.into(),
        labels: vec![],
        model_family: family.proto.into(),
        ..Default::default()
    }
}

/// Rows `start..start + n` of `series`, row-major [n, V].
fn rows(series: &Series, start: usize, n: usize) -> Vec<f32> {
    (start..start + n)
        .flat_map(|t| (0..V).map(move |c| series.values[c][t]))
        .collect()
}

/// The artifact's own forecast of the window (original units), computed in this process.
fn offline_forecast(artifact: &Artifact, model: &AnyModel, id: &str, window: &[f32]) -> Vec<f32> {
    let mut x = window.to_vec();
    artifact.scaler.transform_rows(id, &mut x).unwrap();
    let dev = Device::flex();
    let mut y = model
        .forecast(Tensor::<3>::from_data(TensorData::new(x, [1, L, V]), &dev))
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    artifact.scaler.inverse_rows(id, &mut y).unwrap();
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simba_trains_as_a_job_forecasts_and_streams_through_the_monitor() {
    trains_as_a_job_forecasts_and_streams(&SIMBA).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chimera_trains_as_a_job_forecasts_and_streams_through_the_monitor() {
    trains_as_a_job_forecasts_and_streams(&CHIMERA).await;
}

async fn trains_as_a_job_forecasts_and_streams(family: &Family) {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(&common::simulate(
        &dir.path().join("sim").to_string_lossy(),
        1,
        V,
        900,
        &["--seed", "5", "--missing-rate", "0"],
    ))
    .to_path_buf();
    let data_dir = dir.path().join("data");
    let root = dir.path().to_string_lossy().into_owned();
    let server = common::Server::start(&data_dir, &["--data-root", &root]);

    // Train as a job, naming the family by its proto value.
    let mut jobs = TrainingServiceClient::connect(server.addr.clone()).await.unwrap();
    let submitted = jobs
        .submit_job(job(family, &data))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let mut progress = jobs
        .watch_job(pb::WatchJobRequest {
            id: submitted.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut last = None;
    while let Some(p) = tokio::time::timeout_at(deadline, progress.message())
        .await
        .expect("the job did not end in time")
        .unwrap()
    {
        last = Some(p);
    }
    let last = last.expect("progress");
    assert_eq!(last.state, i32::from(pb::JobState::Succeeded), "{last:?}");

    // The registry lists it under its family; the artifact has a detector the job fitted.
    let mut models = ModelServiceClient::connect(server.addr.clone()).await.unwrap();
    let detail = models
        .get_model(pb::GetModelRequest {
            model: Some(pb::ModelRef {
                name: family.name.into(),
                selector: None,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let v1 = &detail.versions[0];
    assert_eq!(
        (v1.kind.as_str(), v1.family),
        (family.kind, i32::from(family.proto))
    );
    let version_dir = data_dir.join("models").join(family.name).join("1");
    let (artifact, model) = Artifact::load(&version_dir, &Device::flex()).unwrap();
    assert_eq!(model.kind(), family.kind);
    assert!(model.stepper().is_some(), "{} has a recurrent form", family.kind);
    let detector_file = artifact.detector_file.clone().expect("the job fitted a detector");

    // Forecast the last window with quantiles; the point forecast is the artifact's own.
    let frame = common::load_simulated(&data, MissingPolicy::Linear);
    let series = &frame.series[0];
    let n = series.len();
    let window = rows(series, n - L, L);
    let mut forecasts = ForecastServiceClient::connect(server.addr.clone()).await.unwrap();
    let answer = forecasts
        .forecast(pb::ForecastRequest {
            model: Some(pb::ModelRef {
                name: family.name.into(),
                selector: None,
            }),
            series: vec![pb::SeriesInput {
                series_id: series.id.clone(),
                timestamps: series.timestamps[n - L..].to_vec(),
                values: Some(pb::Matrix {
                    rows: L as u32,
                    cols: V as u32,
                    values: window.clone(),
                }),
            }],
            horizon: 0,
            quantiles: vec![0.1, 0.5, 0.9],
            levels: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model.as_ref().unwrap().version, 1);
    let f = &answer.series[0];
    let point = f.point.as_ref().unwrap();
    assert_eq!((point.rows, point.cols), (H as u32, V as u32));
    let expected = offline_forecast(&artifact, &model, &series.id, &window);
    for (a, b) in point.values.iter().zip(&expected) {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b.abs()),
            "server {a} vs offline {b}"
        );
    }
    let q: Vec<&Vec<f32>> = f
        .quantiles
        .iter()
        .map(|q| &q.values.as_ref().unwrap().values)
        .collect();
    assert_eq!(q.len(), 3);
    // Split-conformal intervals: ordered, never empty; the median is the point plus the
    // residuals' own median, so it need not equal the point forecast.
    assert_eq!(
        answer.model.as_ref().unwrap().interval_method,
        "split-conformal-val-local"
    );
    for (i, ((lo, mid), hi)) in q[0].iter().zip(q[1]).zip(q[2]).enumerate() {
        assert!(lo <= mid && mid <= hi && lo < hi, "quantiles out of order at {i}");
    }

    // Stream the series point by point through the monitor.
    let points = 160;
    let channel = tonic::transport::Endpoint::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut monitor = MonitorServiceClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut inbound = monitor
        .stream_monitor(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = Vec::with_capacity(points);
    for t in 0..points {
        tx.send(pb::MonitorRequest {
            series_id: series.id.clone(),
            model: if t == 0 { family.name.into() } else { String::new() },
            timestamp: series.timestamps[t],
            values: (0..V).map(|c| f64::from(series.values[c][t])).collect(),
        })
        .await
        .unwrap();
        let r = inbound.next().await.unwrap().unwrap();
        assert_eq!(r.model, format!("{}@1", family.name));
        assert_eq!(r.warming_up, t + 1 < L, "point {t}");
        if !r.warming_up {
            assert!(r.score.is_finite() && r.variate_scores.len() == V, "{r:?}");
        }
        streamed.push(r.score);
    }
    drop(tx);

    // Batch scoring of the same rows with the same model and detector gives the same scores.
    let detector = Detector::load(&version_dir.join(detector_file)).unwrap();
    assert!(
        detector.recurrent,
        "the job fitted the detector on the recurrent predictor"
    );
    let predictor = Predictor::model(model, detector.features.forecast_steps().max(1), Device::flex())
        .with_recurrent(detector.recurrent);
    let mut scaled = Series {
        id: series.id.clone(),
        timestamps: series.timestamps[..points].to_vec(),
        values: series.values.iter().map(|c| c[..points].to_vec()).collect(),
        labels: None,
    };
    let mut block = rows(&scaled, 0, points);
    artifact.scaler.transform_rows(&series.id, &mut block).unwrap();
    for (c, col) in scaled.values.iter_mut().enumerate() {
        for (t, v) in col.iter_mut().enumerate() {
            *v = block[t * V + c];
        }
    }
    let batch = detector.score_series(&predictor, &scaled, 32).unwrap();
    for (t, (s, b)) in streamed.iter().zip(&batch.score).enumerate() {
        if t + 1 < L {
            assert!(b.is_nan(), "row {t} is warm-up in batch too");
        } else {
            // The server scales the client's f64 values, the batch path an f32 frame: the inputs
            // differ in the last bits, and the cross-variate regression sums many of them.
            assert!(
                (s - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "row {t}: stream {s} vs batch {b}"
            );
        }
    }
    server.terminate(Duration::from_secs(20));
}
