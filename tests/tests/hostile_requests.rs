//! Hostile client, every request type: proptest-generated requests with hostile field values
//! (empty, huge and odd strings, paths outside the roots, NaN/∞/extreme numbers, oversized
//! lists) against a real server holding one model. Each answer must be OK or a status from the
//! request's expected set — never INTERNAL, UNKNOWN or a dropped connection — and afterwards the
//! server must still serve, stay under the memory bound and hold the same registry.
//!
//! CI runs 48 cases per request type; `PROPTEST_CASES=2000 cargo test --workspace --test
//! hostile_requests` is the longer run quoted in SECURITY.md.
mod common;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::info_service_client::InfoServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

/// The model every case may name.
const MODEL: &str = "m";
/// Resident-memory bound for the debug server after the whole run.
const RSS_BOUND: u64 = 1 << 30;

/// Status codes a hostile request may get. INTERNAL, UNKNOWN, UNAVAILABLE, DATA_LOSS,
/// UNIMPLEMENTED, CANCELLED and DEADLINE_EXCEEDED mean a server bug, a hang or a dead server.
const CLIENT_CODES: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::ResourceExhausted,
    Code::OutOfRange,
    Code::PermissionDenied,
    Code::Unauthenticated,
];

fn check(what: &str, result: Result<(), tonic::Status>) -> Result<(), TestCaseError> {
    match result {
        Ok(()) => Ok(()),
        Err(s) if s.message().starts_with("h2 protocol error") => Err(TestCaseError::fail(format!(
            "{what}: the connection failed instead of a status (e.g. an oversized grpc-message): {s:?}"
        ))),
        Err(s) if CLIENT_CODES.contains(&s.code()) => {
            prop_assert!(
                !s.message().is_empty(),
                "{what}: a refusal without a message: {s:?}"
            );
            prop_assert!(
                s.message().len() < 4096,
                "{what}: a {}-byte error message",
                s.message().len()
            );
            prop_assert!(
                !s.message().contains("root:x:0:0"),
                "{what}: file content in an error"
            );
            Ok(())
        }
        Err(s) => Err(TestCaseError::fail(format!("{what}: unexpected status {s:?}"))),
    }
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(MODEL.to_string()),
        Just("stable".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("/etc/passwd".to_string()),
        Just("file:///etc/passwd".to_string()),
        Just("/proc/self/environ".to_string()),
        Just("a\0b".to_string()),
        Just("ünï\u{202e}cødé".to_string()),
        Just("x".repeat(100_000)),
        "[a-zA-Z0-9._/-]{0,80}",
        any::<String>(),
    ]
}

fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(3.4e38),
        Just(-1e308),
        Just(0.0),
        Just(-0.0),
        Just(1e-300),
        Just(0.5),
        any::<f64>(),
    ]
}

fn hostile_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0i64),
        Just(-1i64),
        Just(1_467_331_200_000_000i64),
        any::<i64>(),
    ]
}

fn hostile_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(4),
        Just(24),
        Just(u32::MAX),
        Just(1 << 20),
        any::<u32>()
    ]
}

fn model_ref() -> impl Strategy<Value = Option<pb::ModelRef>> {
    let selector = prop_oneof![
        Just(None),
        hostile_u32().prop_map(|v| Some(pb::model_ref::Selector::Version(v))),
        hostile_string().prop_map(|l| Some(pb::model_ref::Selector::Label(l))),
    ];
    prop_oneof![
        1 => Just(None),
        6 => (hostile_string(), selector).prop_map(|(name, selector)| Some(pb::ModelRef { name, selector })),
    ]
}

fn matrix() -> impl Strategy<Value = Option<pb::Matrix>> {
    prop_oneof![
        1 => Just(None),
        6 => (hostile_u32(), hostile_u32(), prop::collection::vec(
            prop_oneof![Just(f32::NAN), Just(f32::MAX), Just(0.0f32), any::<f32>()], 0..400))
            .prop_map(|(rows, cols, values)| Some(pb::Matrix { rows, cols, values })),
        // A well-formed 24 × 3 window (the model's lookback and variates).
        3 => (prop::collection::vec(-5.0f32..5.0, 72..=72), prop_oneof![Just(24u32), hostile_u32()])
            .prop_map(|(values, rows)| Some(pb::Matrix { rows, cols: 3, values })),
    ]
}

/// Five-minute grid (the simulator's frequency), microseconds.
const STEP: i64 = 300_000_000;
/// A timestamp on the grid.
const T0: i64 = 1_467_331_200_000_000;

/// A valid request for the stored model (24 × 3 window, horizon 4) with one field made
/// hostile: the deep validation and compute paths are reached.
fn near_valid_forecast() -> impl Strategy<Value = pb::ForecastRequest> {
    let valid = |values: Vec<f32>| pb::ForecastRequest {
        model: Some(pb::ModelRef {
            name: MODEL.into(),
            selector: None,
        }),
        series: vec![pb::SeriesInput {
            series_id: "s".into(),
            timestamps: (0..24).map(|i| T0 + i * STEP).collect(),
            values: Some(pb::Matrix {
                rows: 24,
                cols: 3,
                values,
            }),
        }],
        horizon: 4,
        quantiles: vec![],
        levels: vec![],
    };
    (
        prop::collection::vec(-5.0f32..5.0, 72..=72),
        0usize..8,
        hostile_f64(),
        hostile_i64(),
        hostile_u32(),
    )
        .prop_map(move |(values, field, x, t, n)| {
            let mut r = valid(values);
            match field {
                0 => r.series[0].values.as_mut().unwrap().values[5] = x as f32,
                1 => r.series[0].values.as_mut().unwrap().values.fill(x as f32),
                2 => r.series[0].timestamps[23] = t,
                3 => r.series[0].timestamps = (0..24).map(|i| t.wrapping_add(i * STEP)).collect(),
                4 => r.horizon = n,
                5 => r.quantiles = vec![x, 0.5],
                6 => r.levels = vec![x],
                _ => r.series = vec![r.series[0].clone(); (n % 600) as usize],
            }
            r
        })
}

fn forecast_request() -> impl Strategy<Value = pb::ForecastRequest> {
    prop_oneof![1 => hostile_forecast(), 1 => near_valid_forecast()]
}

fn hostile_forecast() -> impl Strategy<Value = pb::ForecastRequest> {
    let series = (hostile_string(), hostile_i64(), hostile_i64(), matrix()).prop_map(
        |(series_id, t0, step, values)| {
            let rows = values.as_ref().map_or(0, |m| m.rows.min(64)) as i64;
            pb::SeriesInput {
                series_id,
                timestamps: (0..rows).map(|i| t0.wrapping_add(i.wrapping_mul(step))).collect(),
                values,
            }
        },
    );
    (
        model_ref(),
        prop::collection::vec(series, 0..4),
        hostile_u32(),
        prop::collection::vec(hostile_f64(), 0..8),
        prop::collection::vec(hostile_f64(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(model, series, horizon, quantiles, levels, many)| {
            // Sometimes a flood of distinct quantiles (the issue's crash).
            let quantiles = if many {
                (1..20_000).map(|i| f64::from(i) / 20_000.0).collect()
            } else {
                quantiles
            };
            pb::ForecastRequest {
                model,
                series,
                horizon,
                quantiles,
                levels,
            }
        })
}

fn dataset() -> impl Strategy<Value = Option<pb::DatasetSource>> {
    let path = prop_oneof![Just("train.parquet".to_string()), hostile_string()];
    let opt = prop_oneof![Just(String::new()), hostile_string()];
    prop_oneof![
        1 => Just(None),
        5 => (path, opt.clone(), opt.clone(), opt.clone(), opt.clone(), opt, any::<bool>())
            .prop_map(|(path, format, layout, time_column, missing, frequency, strict)| Some(pb::DatasetSource {
                path,
                format,
                layout,
                time_column,
                missing,
                frequency,
                strict,
                ..Default::default()
            })),
    ]
}

fn config_json() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{}".to_string()),
        Just(r#"{"d_model": 65536}"#.to_string()),
        Just(r#"{"d_model": 4294967295, "n_layers": 4294967295}"#.to_string()),
        Just(r#"{"d_model": -1}"#.to_string()),
        Just(r#"{"d_model": 1e308}"#.to_string()),
        Just("[".repeat(10_000)),
        Just(format!("{{\"x\": \"{}\"}}", "y".repeat(200_000))),
        hostile_string(),
    ]
}

/// A valid job on the root's dataset (linear, L=24, H=4, one epoch) with one field made
/// hostile, so the deeper checks (model size, settings, the worker's second look) are reached.
fn near_valid_submit() -> impl Strategy<Value = pb::SubmitJobRequest> {
    let valid = pb::SubmitJobRequest {
        dataset: Some(pb::DatasetSource {
            path: "train.parquet".into(),
            series_column: "series_id".into(),
            label_column: "label".into(),
            ..Default::default()
        }),
        model_kind: "linear".into(),
        lookback: 24,
        horizon: 4,
        split: "ratio:0.6,0.2,0.2".into(),
        training: Some(pb::TrainingSettings {
            epochs: 1,
            batch_size: 16,
            lr: 1e-3,
            ..Default::default()
        }),
        device: "cpu".into(),
        model_name: "fuzz".into(),
        ..Default::default()
    };
    (
        0usize..9,
        hostile_u32(),
        hostile_f64(),
        hostile_string(),
        config_json(),
    )
        .prop_map(move |(field, n, x, text, json)| {
            let mut r = valid.clone();
            let training = r.training.as_mut().unwrap();
            match field {
                0 => r.lookback = n,
                1 => r.horizon = n,
                2 => training.epochs = n,
                3 => training.batch_size = n,
                4 => training.lr = x,
                5 => r.split = text,
                6 => {
                    r.model_kind = "spacetime".into();
                    r.model_config_json = json;
                }
                7 => r.model_name = text,
                _ => r.dataset.as_mut().unwrap().missing = text,
            }
            r
        })
}

fn submit_request() -> impl Strategy<Value = pb::SubmitJobRequest> {
    prop_oneof![hostile_submit(), near_valid_submit()]
}

fn hostile_submit() -> impl Strategy<Value = pb::SubmitJobRequest> {
    let training = (
        hostile_u32(),
        hostile_u32(),
        hostile_f64(),
        any::<Option<u32>>(),
        any::<u64>(),
    )
        .prop_map(|(epochs, batch_size, lr, patience, seed)| pb::TrainingSettings {
            epochs,
            batch_size,
            lr,
            patience,
            seed,
            ..Default::default()
        });
    (
        dataset(),
        prop_oneof![
            Just("linear".to_string()),
            Just("spacetime".to_string()),
            hostile_string()
        ],
        config_json(),
        hostile_u32(),
        hostile_u32(),
        hostile_string(),
        prop::option::of(training),
        prop_oneof![Just("cpu".to_string()), hostile_string()],
        hostile_string(),
        prop::collection::vec(hostile_string(), 0..3),
        any::<i32>(),
    )
        .prop_map(
            |(
                dataset,
                model_kind,
                model_config_json,
                lookback,
                horizon,
                split,
                training,
                device,
                model_name,
                labels,
                family,
            )| {
                pb::SubmitJobRequest {
                    dataset,
                    model_kind,
                    model_config_json,
                    lookback,
                    horizon,
                    split,
                    training,
                    device,
                    model_name,
                    labels,
                    model_family: family % 4,
                    // Kinds 0–2 and a few that are none; settings of any kind, or none.
                    kind: family % 5,
                    backtest: (family % 3 == 1).then(|| pb::BacktestSettings {
                        cutoffs: family.unsigned_abs(),
                        step: family.unsigned_abs() / 2,
                        ..Default::default()
                    }),
                    tune: (family % 3 == 2).then(|| pb::TuneSettings {
                        trials: family.unsigned_abs(),
                        space_json: "{\"train\": {\"lr\": {\"uniform\": [0.0001, 0.01]}}}".into(),
                        ..Default::default()
                    }),
                }
            },
        )
}

fn monitor_points() -> impl Strategy<Value = Vec<pb::MonitorRequest>> {
    prop_oneof![hostile_points(), near_valid_points()]
}

/// A valid stream of 40 points for the stored model with a few points made hostile.
fn near_valid_points() -> impl Strategy<Value = Vec<pb::MonitorRequest>> {
    let valid: Vec<pb::MonitorRequest> = (0..40)
        .map(|i| pb::MonitorRequest {
            series_id: "s".into(),
            model: MODEL.into(),
            timestamp: T0 + i * STEP,
            values: vec![0.1 * i as f64, -0.2, 0.3],
        })
        .collect();
    prop::collection::vec(
        (
            0usize..40,
            0usize..4,
            hostile_f64(),
            hostile_i64(),
            hostile_string(),
        ),
        0..3,
    )
    .prop_map(move |edits| {
        let mut points = valid.clone();
        for (at, field, x, t, text) in edits {
            match field {
                0 => points[at].values[1] = x,
                1 => points[at].timestamp = t,
                2 => points[at].series_id = text,
                _ => points[at].values.push(x),
            }
        }
        points
    })
}

fn hostile_points() -> impl Strategy<Value = Vec<pb::MonitorRequest>> {
    let point = (
        prop_oneof![Just("s".to_string()), hostile_string()],
        prop_oneof![Just(MODEL.to_string()), hostile_string()],
        hostile_i64(),
        prop::collection::vec(hostile_f64(), 0..5),
    )
        .prop_map(|(series_id, model, timestamp, values)| pb::MonitorRequest {
            series_id,
            model,
            timestamp,
            values,
        });
    prop::collection::vec(point, 1..12)
}

/// One request of any type.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test inputs, built one at a time
enum Call {
    Forecast(pb::ForecastRequest),
    ForecastStream(pb::ForecastRequest),
    Register(pb::RegisterModelRequest),
    Get(pb::GetModelRequest),
    Delete(pb::DeleteModelRequest),
    SetLabel(pb::SetLabelRequest),
    Submit(pb::SubmitJobRequest),
    GetJob(String),
    ListJobs(pb::ListJobsRequest),
    Cancel(String),
    Watch(String),
    Monitor(Vec<pb::MonitorRequest>),
    Info,
}

fn call() -> impl Strategy<Value = Call> {
    // Names other than MODEL for deletions: the registry must survive, so deleting the one
    // model is not an attack the suite makes here (hostile_registry.rs covers deletions).
    let not_model = || hostile_string().prop_filter("not the stored model", |n| n != MODEL);
    prop_oneof![
        4 => forecast_request().prop_map(Call::Forecast),
        2 => forecast_request().prop_map(Call::ForecastStream),
        2 => (hostile_string(), hostile_string(), prop::collection::vec(hostile_string(), 0..3))
            .prop_map(|(name, path, labels)| Call::Register(pb::RegisterModelRequest { name, path, labels })),
        1 => model_ref().prop_map(|model| Call::Get(pb::GetModelRequest { model })),
        1 => (not_model(), prop::option::of(hostile_u32()))
            .prop_map(|(name, version)| Call::Delete(pb::DeleteModelRequest { name, version })),
        1 => (not_model(), hostile_string(), prop::option::of(hostile_u32()))
            .prop_map(|(name, label, version)| Call::SetLabel(pb::SetLabelRequest { name, label, version })),
        4 => submit_request().prop_map(Call::Submit),
        1 => hostile_string().prop_map(Call::GetJob),
        1 => (prop::collection::vec(any::<i32>(), 0..4), hostile_u32(), hostile_string())
            .prop_map(|(states, page_size, page_token)| Call::ListJobs(pb::ListJobsRequest { states, page_size, page_token })),
        1 => hostile_string().prop_map(Call::Cancel),
        1 => hostile_string().prop_map(Call::Watch),
        4 => monitor_points().prop_map(Call::Monitor),
        1 => Just(Call::Info),
    ]
}

/// Send `call`; OK, or the status it got.
async fn send(channel: &Channel, call: Call) -> Result<(), tonic::Status> {
    let deadline = Duration::from_secs(30);
    let mut forecasts = ForecastServiceClient::new(channel.clone());
    let mut models = ModelServiceClient::new(channel.clone());
    let mut jobs = TrainingServiceClient::new(channel.clone());
    let run = async {
        match call {
            Call::Forecast(r) => forecasts.forecast(r).await.map(drop),
            Call::ForecastStream(r) => {
                let mut stream = forecasts.forecast_stream(r).await?.into_inner();
                while let Some(item) = stream.next().await {
                    item?;
                }
                Ok(())
            }
            Call::Register(r) => models.register_model(r).await.map(drop),
            Call::Get(r) => models.get_model(r).await.map(drop),
            Call::Delete(r) => models.delete_model(r).await.map(drop),
            Call::SetLabel(r) => models.set_label(r).await.map(drop),
            Call::Submit(r) => jobs.submit_job(r).await.map(drop),
            Call::GetJob(id) => jobs.get_job(pb::GetJobRequest { id }).await.map(drop),
            Call::ListJobs(r) => jobs.list_jobs(r).await.map(drop),
            Call::Cancel(id) => jobs.cancel_job(pb::CancelJobRequest { id }).await.map(drop),
            Call::Watch(id) => {
                // Read the first message only: a real job's watch stays open until it ends.
                let mut stream = jobs.watch_job(pb::WatchJobRequest { id }).await?.into_inner();
                if let Some(item) = stream.next().await {
                    item?;
                }
                Ok(())
            }
            Call::Monitor(points) => {
                let mut client = MonitorServiceClient::new(channel.clone());
                let mut stream = client
                    .stream_monitor(tokio_stream::iter(points))
                    .await?
                    .into_inner();
                while let Some(item) = stream.next().await {
                    item?;
                }
                Ok(())
            }
            Call::Info => InfoServiceClient::new(channel.clone())
                .get_server_info(pb::GetServerInfoRequest {})
                .await
                .map(drop),
        }
    };
    tokio::time::timeout(deadline, run)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::unknown("no answer within 30 s (hang)")))
}

/// Train and register the one model; returns the server (with roots under `dir`).
fn server_with_model(dir: &std::path::Path) -> common::Server {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let roots = dir.join("roots");
    std::fs::create_dir_all(&roots).unwrap();
    let data = common::simulate(&p("sim"), 1, 3, 600, &["--seed", "5", "--missing-rate", "0"]);
    std::fs::copy(&data, roots.join("train.parquet")).unwrap();
    let model = roots.join("model").to_str().unwrap().to_string();
    common::train_monitorable(&data, &model, &p("scores.csv"));
    let roots = roots.to_str().unwrap();
    let server = common::Server::start(
        &dir.join("data"),
        &[
            "--data-root",
            roots,
            "--import-root",
            roots,
            "--max-queued-jobs",
            "2",
            "--monitor-max-series",
            "64",
        ],
    );
    common::run_ok(&["models", "register", "--server", &server.addr, MODEL, &model]);
    server
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48 * 13)
}

#[test]
fn hostile_requests_of_every_type_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = server_with_model(dir.path());
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let channel = runtime.block_on(common::hostile::connect(&server));
    let before = runtime.block_on(common::hostile::registry_snapshot(&server));
    assert_eq!(before.len(), 1, "{before:?}");

    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let rt = runtime.clone();
    let addr = server.addr.clone();
    let outcomes = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    proptest!(config, |(c in call())| {
        let what = format!("{c:?}").chars().take(300).collect::<String>();
        let kind = what.split('(').next().unwrap_or_default().to_string();
        // A fresh connection per case: one case's resets must not cost the next its connection
        // (the server's HTTP/2 layer answers a burst of client resets with ENHANCE_YOUR_CALM).
        let result = rt.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(addr.clone())
                .unwrap()
                .connect()
                .await
                .expect("the server accepts connections");
            send(&channel, c).await
        });
        let code = result.as_ref().err().map_or(Code::Ok, tonic::Status::code);
        if matches!(code, Code::ResourceExhausted | Code::Cancelled) && std::env::var_os("HOSTILE_VERBOSE").is_some() {
            eprintln!("{kind}: {:?} <- {what}", result.as_ref().err().map(tonic::Status::message));
        }
        *outcomes.lock().unwrap().entry(format!("{kind} {code:?}")).or_default() += 1;
        check(&what, result)?;
    });
    // How deep the cases got (printed with --nocapture): answers by request type and code.
    for (outcome, n) in outcomes.lock().unwrap().iter() {
        eprintln!("{n:6}  {outcome}");
    }

    // Cancel whatever the fuzz managed to queue, then the standard checks.
    runtime.block_on(async {
        let mut jobs = TrainingServiceClient::new(channel.clone());
        let listed = jobs
            .list_jobs(pb::ListJobsRequest::default())
            .await
            .unwrap()
            .into_inner();
        for job in listed.jobs {
            let _ = jobs.cancel_job(pb::CancelJobRequest { id: job.id }).await;
        }
        common::hostile::assert_serving(&mut server).await;
        common::hostile::assert_rss_below(&server, RSS_BOUND);
        // Jobs the fuzz got accepted may have registered new models; what was stored before
        // must be there unchanged.
        let after = common::hostile::registry_snapshot(&server).await;
        for entry in &before {
            assert!(after.contains(entry), "{entry} was lost or changed: {after:?}");
        }
    });
}
