//! Training jobs over gRPC against the real binary: submit → watch → the model is registered
//! and forecasts; a restart keeps the model and the finished job; a server killed with SIGKILL
//! mid-training resumes the job from its checkpoint; every error status (INVALID_ARGUMENT,
//! NOT_FOUND, FAILED_PRECONDITION, RESOURCE_EXHAUSTED), cancellation, and the `jobs` CLI.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Server;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::{DatasetSpec, Layout};
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

const L: u32 = 48;
const H: u32 = 12;
const V: usize = 3;
const TINY: &str =
    r#"{"d_model": 8, "state_dim": 8, "first_n_kernels": 2, "first_n_heads": 4, "n_kernels": 8}"#;

/// A 1-series, 3-sensor simulated dataset in `dir`.
fn simulate(dir: &Path) -> PathBuf {
    let out = dir.join("sim");
    common::simulate(&out.to_string_lossy(), 1, 3, 2400, &[]).into()
}

fn request(
    data: &Path,
    name: &str,
    kind: &str,
    epochs: u32,
    max_batches: Option<u32>,
) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        dataset: Some(pb::DatasetSource {
            path: data.to_string_lossy().into_owned(),
            series_column: "series_id".into(),
            label_column: "label".into(),
            missing: "linear".into(),
            ..Default::default()
        }),
        model_kind: kind.into(),
        model_config_json: if kind == "spacetime" {
            TINY.into()
        } else {
            String::new()
        },
        lookback: L,
        horizon: H,
        split: String::new(),
        training: Some(pb::TrainingSettings {
            epochs,
            batch_size: 8,
            lr: 1e-3,
            warmup_epochs: Some(0),
            patience: Some(100),
            max_batches_per_epoch: max_batches,
            seed: 1,
        }),
        device: "cpu".into(),
        model_name: name.into(),
        labels: vec!["stable".into()],
        model_family: pb::ModelFamily::Unspecified.into(),
        ..Default::default()
    }
}

/// `statecast serve` on `data_dir` with `root` (the test's temporary directory, which holds its
/// datasets) as the only `--data-root`.
fn start(data_dir: &Path, root: &Path, extra: &[&str]) -> Server {
    let root = root.to_string_lossy();
    let mut flags = vec!["--data-root", root.as_ref()];
    flags.extend_from_slice(extra);
    Server::start(data_dir, &flags)
}

async fn training(addr: &str) -> TrainingServiceClient<Channel> {
    TrainingServiceClient::connect(addr.to_string()).await.unwrap()
}

async fn submit(client: &mut TrainingServiceClient<Channel>, req: pb::SubmitJobRequest) -> pb::Job {
    client.submit_job(req).await.unwrap().into_inner().job.unwrap()
}

/// Every progress message of the job until its stream ends.
async fn watch_all(client: &mut TrainingServiceClient<Channel>, id: &str) -> Vec<pb::JobProgress> {
    let mut stream = client
        .watch_job(pb::WatchJobRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while let Some(p) = tokio::time::timeout_at(deadline, stream.message())
        .await
        .expect("the job did not end in time")
        .unwrap()
    {
        out.push(p);
    }
    out
}

async fn get(client: &mut TrainingServiceClient<Channel>, id: &str) -> pb::Job {
    client
        .get_job(pb::GetJobRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

fn state(s: pb::JobState) -> i32 {
    s.into()
}

/// The last `L` rows of the dataset's first series, as a forecast input.
fn forecast_input(data: &Path) -> pb::SeriesInput {
    let mut spec = DatasetSpec::wide(data);
    spec.layout = Layout::Wide {
        time_column: None,
        series_column: Some("series_id".into()),
        value_columns: None,
    };
    spec.label_column = Some("label".into());
    spec.missing = MissingPolicy::Linear;
    let frame = statecast_pipelines::source::load(&spec).unwrap().0;
    let series = &frame.series[0];
    let rows = L as usize;
    let start = series.len() - rows;
    pb::SeriesInput {
        series_id: series.id.clone(),
        timestamps: series.timestamps[start..].to_vec(),
        values: Some(pb::Matrix {
            rows: L,
            cols: V as u32,
            values: (start..series.len())
                .flat_map(|t| (0..V).map(move |c| series.values[c][t]))
                .collect(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_watch_register_forecast_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let data_dir = dir.path().join("data");
    let server = start(&data_dir, dir.path(), &["--workers", "2"]);
    let mut jobs = training(&server.addr).await;

    let job = submit(&mut jobs, request(&data, "sensors", "spacetime", 2, Some(8))).await;
    // A free worker may already have picked it up.
    assert!(
        [state(pb::JobState::Queued), state(pb::JobState::Running)].contains(&job.state),
        "{job:?}"
    );
    assert_eq!(job.model_name, "sensors");
    let progress = watch_all(&mut jobs, &job.id).await;
    assert!(progress.len() > 3, "progress messages: {progress:?}");
    assert!(
        progress
            .iter()
            .any(|p| p.state == state(pb::JobState::Running) && p.step > 0)
    );
    assert!(progress.iter().any(|p| p.epoch == 2));
    let last = progress.last().unwrap();
    assert_eq!(last.state, state(pb::JobState::Succeeded), "{last:?}");

    let done = get(&mut jobs, &job.id).await;
    assert_eq!(done.state, state(pb::JobState::Succeeded));
    assert_eq!(done.model_version, 1);
    assert_eq!(done.history.len(), 2);
    assert!(!done.finished_at.is_empty());

    // The model is registered (with its label) and forecasts.
    let mut models = ModelServiceClient::connect(server.addr.clone()).await.unwrap();
    let listed = models
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(listed.iter().any(|m| m.name == "sensors"), "{listed:?}");
    let mut forecasts = ForecastServiceClient::connect(server.addr.clone()).await.unwrap();
    let answer = forecasts
        .forecast(pb::ForecastRequest {
            model: Some(pb::ModelRef {
                name: "sensors".into(),
                selector: Some(pb::model_ref::Selector::Label("stable".into())),
            }),
            series: vec![forecast_input(&data)],
            horizon: 0,
            quantiles: vec![0.1, 0.9],
            levels: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let point = answer.series[0].point.as_ref().unwrap();
    assert_eq!((point.rows, point.cols), (H, V as u32));
    assert!(point.values.iter().all(|v| v.is_finite()));

    // The CLI sees the same job.
    let out = common::run_ok(&["jobs", "get", "--server", &server.addr, &job.id]);
    assert!(out.contains("SUCCEEDED") && out.contains("sensors@1"), "{out}");
    let out = common::run_ok(&["jobs", "list", "--server", &server.addr, "--state", "succeeded"]);
    assert!(out.contains("sensors@1"), "{out}");

    // Restart on the same data directory: the model and the finished job are still there.
    server.terminate(Duration::from_secs(20));
    let server = start(&data_dir, dir.path(), &[]);
    let mut jobs = training(&server.addr).await;
    let again = get(&mut jobs, &job.id).await;
    assert_eq!(again.state, state(pb::JobState::Succeeded));
    assert_eq!(again.model_version, 1);
    let listed = jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(listed.len(), 1);
    let mut models = ModelServiceClient::connect(server.addr.clone()).await.unwrap();
    let detail = models
        .get_model(pb::GetModelRequest {
            model: Some(pb::ModelRef {
                name: "sensors".into(),
                selector: None,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detail.versions.len(), 1);
    // Watching a finished job returns its final state at once.
    let progress = watch_all(&mut jobs, &job.id).await;
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].state, state(pb::JobState::Succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_resumes_the_job_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let data_dir = dir.path().join("data");
    let mut server = start(&data_dir, dir.path(), &[]);
    let mut jobs = training(&server.addr).await;

    // Every window each epoch, batches of 2 (~800 steps): long enough to kill the server during
    // epoch 2.
    let mut req = request(&data, "resumed", "spacetime", 3, None);
    req.labels.clear();
    if let Some(t) = req.training.as_mut() {
        t.batch_size = 2;
    }
    let job = submit(&mut jobs, req).await;
    let mut stream = jobs
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    loop {
        let p = tokio::time::timeout(Duration::from_secs(120), stream.message())
            .await
            .expect("no progress")
            .unwrap()
            .expect("the stream ended before epoch 2");
        assert!(
            !p.state.eq(&state(pb::JobState::Succeeded)),
            "finished before the kill"
        );
        // Epoch 2 has started: epoch 1's checkpoint is written.
        if p.epoch >= 2 && p.step >= 1 {
            break;
        }
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(stream);

    let server = start(&data_dir, dir.path(), &[]);
    let mut jobs = training(&server.addr).await;
    let progress = watch_all(&mut jobs, &job.id).await;
    assert_eq!(progress.last().unwrap().state, state(pb::JobState::Succeeded));
    let done = get(&mut jobs, &job.id).await;
    assert_eq!(done.state, state(pb::JobState::Succeeded), "{}", done.message);
    assert!(
        done.resumed_from_epoch >= 1,
        "resumed from {}",
        done.resumed_from_epoch
    );
    assert_eq!(done.attempts, 2);
    let epochs: Vec<u32> = done.history.iter().map(|h| h.epoch).collect();
    assert_eq!(
        epochs,
        vec![1, 2, 3],
        "the epoch history continues across the restart"
    );
    assert_eq!(done.model_version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_queue_limit_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let server = start(
        &dir.path().join("data"),
        dir.path(),
        &["--workers", "1", "--max-queued-jobs", "1"],
    );
    let mut jobs = training(&server.addr).await;

    // INVALID_ARGUMENT naming the field.
    type Edit = Box<dyn Fn(&mut pb::SubmitJobRequest)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("model_kind", Box::new(|r| r.model_kind = "transformer".into())),
        ("dataset", Box::new(|r| r.dataset = None)),
        (
            "dataset.path",
            Box::new(|r| r.dataset.as_mut().unwrap().path = "/no/such.parquet".into()),
        ),
        ("horizon", Box::new(|r| r.horizon = 0)),
        (
            "model_config_json",
            Box::new(|r| r.model_config_json = "{nope".into()),
        ),
        (
            "model_config_json.no_such",
            Box::new(|r| r.model_config_json = r#"{"no_such": 1}"#.into()),
        ),
        // Settings SpaceTime's `init` would have panicked on in the worker.
        (
            "model_config_json.min_avg_window",
            Box::new(|r| r.model_config_json = r#"{"min_avg_window": 0}"#.into()),
        ),
        ("lookback", Box::new(|r| r.lookback = 1)),
        // The typed family: a number that is no family, or one that contradicts the name.
        ("model_family", Box::new(|r| r.model_family = 99)),
        (
            "model_kind",
            Box::new(|r| r.model_family = pb::ModelFamily::Linear.into()),
        ),
        ("model_name", Box::new(|r| r.model_name = "bad name".into())),
        ("split", Box::new(|r| r.split = "halves".into())),
        ("device", Box::new(|r| r.device = "tpu".into())),
        (
            "dataset.resample",
            Box::new(|r| r.dataset.as_mut().unwrap().resample = "median".into()),
        ),
        (
            "dataset.non_increasing",
            Box::new(|r| r.dataset.as_mut().unwrap().non_increasing = "sort".into()),
        ),
        (
            "dataset.frequency",
            Box::new(|r| r.dataset.as_mut().unwrap().frequency = "110000000d".into()),
        ),
    ];
    for (field, edit) in cases {
        let mut req = request(&data, "m", "spacetime", 1, Some(1));
        edit(&mut req);
        let err = jobs.submit_job(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().contains(&format!("`{field}`")),
            "{field}: {}",
            err.message()
        );
    }

    // NOT_FOUND for unknown ids, on every RPC that takes one.
    for id in ["9999", "not-a-number"] {
        let err = jobs
            .get_job(pb::GetJobRequest { id: id.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err = jobs
            .cancel_job(pb::CancelJobRequest { id: id.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err = jobs
            .watch_job(pb::WatchJobRequest { id: id.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
    }

    // A long job occupies the only worker …
    let long = submit(&mut jobs, request(&data, "long", "linear", 10_000, Some(4))).await;
    let mut stream = jobs
        .watch_job(pb::WatchJobRequest { id: long.id.clone() })
        .await
        .unwrap()
        .into_inner();
    while let Some(p) = stream.message().await.unwrap() {
        if p.state == state(pb::JobState::Running) {
            break;
        }
    }
    // … one more waits in the queue, the next is refused.
    let queued = submit(&mut jobs, request(&data, "queued", "linear", 1, Some(1))).await;
    assert_eq!(queued.state, state(pb::JobState::Queued));
    let err = jobs
        .submit_job(request(&data, "refused", "linear", 1, Some(1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    // Cancel the queued job (at once) and the running one (at its next step).
    let cancelled = jobs
        .cancel_job(pb::CancelJobRequest {
            id: queued.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(cancelled.state, state(pb::JobState::Cancelled));
    let out = common::run_ok(&["jobs", "cancel", "--server", &server.addr, &long.id]);
    assert!(out.contains(&long.id), "{out}");
    let progress = watch_all(&mut jobs, &long.id).await;
    assert_eq!(progress.last().unwrap().state, state(pb::JobState::Cancelled));

    // FAILED_PRECONDITION for cancelling a finished job.
    for id in [&long.id, &queued.id] {
        let err = jobs
            .cancel_job(pb::CancelJobRequest { id: id.clone() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    }

    // Filtering and paging.
    let page = jobs
        .list_jobs(pb::ListJobsRequest {
            states: vec![state(pb::JobState::Cancelled)],
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].id, queued.id, "newest first");
    let next = jobs
        .list_jobs(pb::ListJobsRequest {
            states: vec![state(pb::JobState::Cancelled)],
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.jobs.len(), 1);
    assert_eq!(next.jobs[0].id, long.id);
    assert!(next.next_page_token.is_empty());
    let none = jobs
        .list_jobs(pb::ListJobsRequest {
            states: vec![state(pb::JobState::Succeeded)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.jobs.is_empty());
}

/// A 3-sensor CSV with jittered timestamps around a 1-minute grid (steps of 30–89 s, so some
/// minutes hold two rows and some none) and one repeated timestamp.
fn irregular_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("date,a,b,c\n");
    let mut t = 0u64;
    for i in 0..900u64 {
        t += 30 + (i * 37) % 60;
        let (h, m, sec) = (t / 3600, t / 60 % 60, t % 60);
        let x = (i as f64 / 20.0).sin();
        text += &format!("2024-01-01 {h:02}:{m:02}:{sec:02},{x},{},{}\n", 2.0 * x, 1.0 - x);
        if i == 100 {
            text += &format!("2024-01-01 {h:02}:{m:02}:{sec:02},{x},{},{}\n", 2.0 * x, 1.0 - x);
        }
    }
    let path = dir.join("irregular.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_resamples_an_irregular_file_and_bad_dataset_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = irregular_csv(dir.path());
    let server = start(&dir.path().join("data"), dir.path(), &["--workers", "1"]);
    let mut jobs = training(&server.addr).await;
    let dataset = pb::DatasetSource {
        path: data.to_string_lossy().into_owned(),
        missing: "linear".into(),
        frequency: "1min".into(),
        non_increasing: "drop".into(),
        resample: "mean".into(),
        ..Default::default()
    };
    let req = pb::SubmitJobRequest {
        dataset: Some(dataset.clone()),
        model_kind: "linear".into(),
        lookback: 24,
        horizon: 6,
        training: Some(pb::TrainingSettings {
            epochs: 1,
            max_batches_per_epoch: Some(4),
            ..Default::default()
        }),
        model_name: "irregular".into(),
        ..Default::default()
    };

    // Without resampling (or dropping the repeated row) the same file is refused by the job.
    let mut plain = req.clone();
    plain.dataset.as_mut().unwrap().resample = String::new();
    plain.model_name = "plain".into();
    let failed = submit(&mut jobs, plain).await;
    let last = watch_all(&mut jobs, &failed.id).await.pop().unwrap();
    assert_eq!(last.state, state(pb::JobState::Failed), "{last:?}");

    let job = submit(&mut jobs, req.clone()).await;
    let last = watch_all(&mut jobs, &job.id).await.pop().unwrap();
    assert_eq!(last.state, state(pb::JobState::Succeeded), "{last:?}");
    let done = get(&mut jobs, &job.id).await;
    assert_eq!(done.model_version, 1);
    let spec: serde_json::Value = serde_json::from_str(&done.spec_json).unwrap();
    assert_eq!(spec["data"]["resample"], "mean", "{spec}");
    assert_eq!(spec["data"]["non_increasing"], "drop", "{spec}");
    // The job path's training defaults (0 = default) are the CLI's.
    assert_eq!(spec["train"]["batch_size"], 32, "{spec}");
    assert_eq!(spec["train"]["patience"], 3, "{spec}");
    let mut models = ModelServiceClient::connect(server.addr.clone()).await.unwrap();
    let listed = models
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(listed.iter().any(|m| m.name == "irregular"), "{listed:?}");

    // `statecast jobs submit` passes the same options.
    let path = data.to_string_lossy().into_owned();
    let out = common::run_ok(&[
        "jobs",
        "submit",
        "--server",
        &server.addr,
        "--data",
        &path,
        "--missing",
        "linear",
        "--frequency",
        "1min",
        "--non-increasing",
        "drop",
        "--resample",
        "mean",
        "--model",
        "linear",
        "--lookback",
        "24",
        "--horizon",
        "6",
        "--epochs",
        "1",
        "--max-batches-per-epoch",
        "4",
        "--name",
        "irregular",
        "--watch",
    ]);
    assert!(out.contains("SUCCEEDED"), "{out}");

    // A bad resample value is INVALID_ARGUMENT naming the field and the accepted values.
    let mut bad = req;
    bad.dataset.as_mut().unwrap().resample = "median".into();
    let err = jobs.submit_job(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("`dataset.resample`") && err.message().contains("expected none or mean"),
        "{}",
        err.message()
    );
}

/// A backtest job and a tune job through the server: the backtest's summary is the job's
/// result and its rows a Parquet file in the job's directory; the tune job registers its best
/// trial's model, which then forecasts. Submitted with the CLI, read back over gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_and_tune_jobs_run_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let data_dir = dir.path().join("server");
    let server = start(&data_dir, dir.path(), &[]);
    let mut client = training(&server.addr).await;

    let data_s = data.to_string_lossy().into_owned();
    #[rustfmt::skip]
    let common_flags = [
        "--server", &server.addr, "--data", &data_s, "--series-column", "series_id",
        "--label-column", "label", "--missing", "linear", "--model", "linear",
        "--lookback", "48", "--horizon", "12", "--epochs", "2", "--warmup-epochs", "0",
    ];
    let mut args = vec![
        "jobs",
        "submit",
        "--kind",
        "backtest",
        "--cutoffs",
        "4",
        "--refit-every",
        "2",
        "--watch",
    ];
    args.extend_from_slice(&common_flags);
    let out = common::run_ok(&args);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .unwrap()
        .trim()
        .to_string();
    let job = get(&mut client, &id).await;
    assert_eq!(job.state, state(pb::JobState::Succeeded), "{job:?}");
    assert_eq!(job.kind, i32::from(pb::JobKind::Backtest));
    assert!(job.message.starts_with("backtest: 4 cut-offs"), "{}", job.message);
    let result: serde_json::Value = serde_json::from_str(&job.result_json).unwrap();
    assert_eq!(result["rows"].as_u64(), Some(4 * 12), "{result}");
    assert_eq!(result["by_cutoff"].as_array().unwrap().len(), 4);
    assert_eq!(result["fits"].as_array().unwrap().len(), 2);
    let mase = result["overall"]["mase"].as_f64().unwrap();
    assert!(mase.is_finite() && mase > 0.0, "{result}");
    let rows_file = data_dir.join("jobs").join(&id).join("backtest.parquet");
    assert!(std::fs::metadata(&rows_file).unwrap().len() > 0);
    assert_eq!(job.model_version, 0, "a backtest registers nothing");

    let mut args = vec![
        "jobs",
        "submit",
        "--kind",
        "tune",
        "--name",
        "tuned",
        "--label",
        "best",
        "--trials",
        "3",
        "--prune-after",
        "0",
        "--watch",
    ];
    args.extend_from_slice(&common_flags);
    let out = common::run_ok(&args);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .unwrap()
        .trim()
        .to_string();
    let job = get(&mut client, &id).await;
    assert_eq!(job.state, state(pb::JobState::Succeeded), "{job:?}");
    assert_eq!(job.model_version, 1, "{job:?}");
    let result: serde_json::Value = serde_json::from_str(&job.result_json).unwrap();
    let trials = result["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    let best = result["best"]["val_loss"].as_f64().unwrap();
    assert!(
        trials.iter().all(|t| t["val_loss"].as_f64().unwrap() >= best),
        "{result}"
    );
    let json = common::run_ok(&["jobs", "get", "--server", &server.addr, &id, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["kind"], "tune");
    assert_eq!(json["result"]["best"]["trial"], result["best"]["trial"]);
    // The registered best model forecasts.
    let mut forecasts = ForecastServiceClient::connect(server.addr.clone()).await.unwrap();
    let answer = forecasts
        .forecast(pb::ForecastRequest {
            model: Some(pb::ModelRef {
                name: "tuned".into(),
                selector: Some(pb::model_ref::Selector::Label("best".into())),
            }),
            series: vec![forecast_input(&data)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.series[0].point.as_ref().unwrap().rows, H);
}
