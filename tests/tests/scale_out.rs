//! Scale-out mode against the real binary: three `statecast serve` processes on loopback share
//! one PostgreSQL database (registry and job queue) and one object-store directory. A job
//! submitted to the API-only server is trained by a worker; SIGKILL that worker mid-training
//! and the other resumes the job from the checkpoint in the object store, and the model is
//! registered exactly once; the model forecasts identically through every server; a label
//! moved through one is what the others resolve; concurrent jobs are never trained twice.
//!
//! Needs PostgreSQL: `STATECAST_TEST_PG_URL` (scripts/test.sh starts one with
//! scripts/pg-test.sh). Without it the test fails, it does not pass.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::{DatasetSpec, Layout};
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use tonic::transport::Channel;

const L: u32 = 48;
const H: u32 = 12;
const V: usize = 3;
const TINY: &str =
    r#"{"d_model": 8, "state_dim": 8, "first_n_kernels": 2, "first_n_heads": 4, "n_kernels": 8}"#;

/// A new, empty database on the test PostgreSQL server.
fn fresh_database(tag: &str) -> String {
    let admin = std::env::var("STATECAST_TEST_PG_URL").expect(
        "STATECAST_TEST_PG_URL is not set: run the tests through scripts/test.sh (it starts PostgreSQL)",
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("e2e_{tag}_{}_{nanos}", std::process::id());
    let out = Command::new("psql")
        .args([admin.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

fn simulate(dir: &Path) -> PathBuf {
    common::simulate(&dir.join("sim").to_string_lossy(), 1, 3, 2400, &[]).into()
}

fn request(data: &Path, name: &str, kind: &str, epochs: u32, max_batches: u32) -> pb::SubmitJobRequest {
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
        training: Some(pb::TrainingSettings {
            epochs,
            batch_size: 8,
            lr: 1e-3,
            warmup_epochs: Some(0),
            patience: Some(100),
            max_batches_per_epoch: Some(max_batches),
            seed: 1,
        }),
        device: "cpu".into(),
        model_name: name.into(),
        labels: vec!["stable".into()],
        ..Default::default()
    }
}

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
    let start = series.len() - L as usize;
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

/// The three servers' flags: one PostgreSQL URL, one object store, `root` as the data root,
/// 3 s job leases.
fn server(data_dir: &Path, pg: &str, store: &Path, root: &Path, role: &str, worker: &str) -> Server {
    server_with_lease(data_dir, pg, store, root, role, worker, "3")
}

fn server_with_lease(
    data_dir: &Path,
    pg: &str,
    store: &Path,
    root: &Path,
    role: &str,
    worker: &str,
    lease_s: &str,
) -> Server {
    let store_url = format!("file://{}", store.display());
    let root = root.to_string_lossy();
    Server::start(
        data_dir,
        &[
            "--registry",
            pg,
            "--object-store",
            &store_url,
            "--role",
            role,
            "--worker-id",
            worker,
            "--job-lease-s",
            lease_s,
            "--data-root",
            &root,
        ],
    )
}

async fn submit(client: &mut TrainingServiceClient<Channel>, req: pb::SubmitJobRequest) -> pb::Job {
    client.submit_job(req).await.unwrap().into_inner().job.unwrap()
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

/// Poll job `id` until `done` holds (at most `within`).
async fn wait_for(
    client: &mut TrainingServiceClient<Channel>,
    id: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&pb::Job) -> bool,
) -> pb::Job {
    let start = Instant::now();
    loop {
        let job = get(client, id).await;
        if done(&job) {
            return job;
        }
        assert!(start.elapsed() < within, "{what}: timed out; job is {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn succeeded(j: &pb::Job) -> bool {
    j.state == i32::from(pb::JobState::Succeeded)
}

fn ended(j: &pb::Job) -> bool {
    [
        pb::JobState::Succeeded,
        pb::JobState::Failed,
        pb::JobState::Cancelled,
    ]
    .iter()
    .any(|s| j.state == i32::from(*s))
}

async fn forecast(addr: &str, input: &pb::SeriesInput, label: &str) -> Vec<f32> {
    let mut client = ForecastServiceClient::connect(addr.to_string()).await.unwrap();
    let answer = client
        .forecast(pb::ForecastRequest {
            model: Some(pb::ModelRef {
                name: "shared".into(),
                selector: Some(pb::model_ref::Selector::Label(label.into())),
            }),
            series: vec![input.clone()],
            quantiles: vec![0.1, 0.9],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let series = &answer.series[0];
    let mut values = series.point.as_ref().unwrap().values.clone();
    for q in &series.quantiles {
        values.extend_from_slice(&q.values.as_ref().unwrap().values);
    }
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn three_servers_share_registry_queue_and_store_and_survive_a_killed_worker() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let pg = fresh_database("scaleout");
    let store = dir.path().join("objects");
    let api = server(&dir.path().join("api"), &pg, &store, dir.path(), "api", "api");
    let mut w1 = Some(server(
        &dir.path().join("w1"),
        &pg,
        &store,
        dir.path(),
        "all",
        "w1",
    ));
    let mut w2 = Some(server(
        &dir.path().join("w2"),
        &pg,
        &store,
        dir.path(),
        "all",
        "w2",
    ));
    let addr_of = |w: &Option<Server>| w.as_ref().unwrap().addr.clone();
    let (w1_addr, w2_addr) = (addr_of(&w1), addr_of(&w2));
    let mut jobs = TrainingServiceClient::connect(api.addr.clone()).await.unwrap();

    // A job submitted to the API-only server is claimed by one of the workers.
    let job = submit(&mut jobs, request(&data, "shared", "spacetime", 6, 40)).await;
    let running = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(60),
        "a worker claims the job",
        |j| !j.worker.is_empty(),
    )
    .await;
    let first = running.worker.clone();
    assert!(first == "w1" || first == "w2", "{first}");
    // The CLI names the worker too (the job is still running: it has six epochs to go).
    let shown = common::run_ok(&["jobs", "get", "--server", &api.addr, &job.id]);
    assert!(shown.contains(&format!(" on {first}")), "{shown}");
    // Once an epoch's checkpoint is stored, SIGKILL the worker training the job.
    wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(120),
        "the first epoch ends",
        |j| !j.history.is_empty(),
    )
    .await;
    let victim = if first == "w1" { &mut w1 } else { &mut w2 };
    let mut killed = victim.take().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let killed_at = Instant::now();
    drop(killed);

    // The survivor takes the job over once the lease runs out and resumes from the checkpoint.
    let taken = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(60),
        "the other worker takes over",
        |j| !j.worker.is_empty() && j.worker != first,
    )
    .await;
    let failover = killed_at.elapsed();
    eprintln!(
        "failover: the job was running on the other worker {:.2} s after SIGKILL",
        failover.as_secs_f64()
    );
    assert_eq!(taken.attempts, 2);
    let done = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(240),
        "the job ends",
        ended,
    )
    .await;
    assert!(succeeded(&done), "{done:?}");
    assert!(
        done.resumed_from_epoch >= 1,
        "resumed from the stored checkpoint: {done:?}"
    );
    assert_eq!(done.model_version, 1);
    assert_eq!(done.history.len(), 6, "every epoch once: {:?}", done.history);

    // Registered exactly once, visible through every server.
    let survivor = if first == "w1" {
        w2_addr.clone()
    } else {
        w1_addr.clone()
    };
    for addr in [&api.addr, &survivor] {
        let mut models = ModelServiceClient::connect(addr.clone()).await.unwrap();
        let model = models
            .get_model(pb::GetModelRequest {
                model: Some(pb::ModelRef {
                    name: "shared".into(),
                    selector: None,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(model.versions.len(), 1, "{model:?}");
    }

    // The same forecast through both live servers (the API server downloads the artifact from
    // the object store into its own cache).
    let input = forecast_input(&data);
    let via_api = forecast(&api.addr, &input, "stable").await;
    let via_worker = forecast(&survivor, &input, "stable").await;
    assert_eq!(via_api.len(), (H as usize) * V * 3);
    assert_eq!(via_api, via_worker);
    assert!(
        dir.path()
            .join("api")
            .join("artifact-cache")
            .read_dir()
            .unwrap()
            .count()
            >= 1
    );

    // A label moved through one server is what the other resolves next.
    let mut models = ModelServiceClient::connect(survivor.clone()).await.unwrap();
    models
        .set_label(pb::SetLabelRequest {
            name: "shared".into(),
            label: "prod".into(),
            version: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(forecast(&api.addr, &input, "prod").await, via_api);

    // A worker restarted in the killed one's place: several jobs at once, each trained once.
    let restarted_name = if first == "w1" { "w1" } else { "w2" };
    let _restarted = server(
        &dir.path().join(restarted_name),
        &pg,
        &store,
        dir.path(),
        "all",
        restarted_name,
    );
    let mut ids = Vec::new();
    for i in 0..6 {
        let job = submit(&mut jobs, request(&data, &format!("many{i}"), "linear", 1, 4)).await;
        ids.push(job.id);
    }
    for id in &ids {
        let j = wait_for(&mut jobs, id, Duration::from_secs(120), "a short job ends", ended).await;
        assert!(succeeded(&j), "{j:?}");
        assert_eq!(j.attempts, 1, "claimed once: {j:?}");
        assert_eq!(j.model_version, 1, "{j:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_watched_through_an_api_server_follows_a_worker_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let pg = fresh_database("watch");
    let store = dir.path().join("objects");
    let api = server(&dir.path().join("api"), &pg, &store, dir.path(), "api", "api");
    let mut jobs = TrainingServiceClient::connect(api.addr.clone()).await.unwrap();
    let job = submit(&mut jobs, request(&data, "watched", "spacetime", 3, 20)).await;
    // Nobody trains on an API-only server: the job waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(&mut jobs, &job.id).await.state,
        i32::from(pb::JobState::Queued)
    );
    let mut stream = jobs
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let _worker = server(&dir.path().join("w"), &pg, &store, dir.path(), "worker", "w");
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Some(p) = tokio::time::timeout_at(deadline, stream.message())
        .await
        .expect("the watch did not end in time")
        .unwrap()
    {
        if states.last() != Some(&p.state) {
            states.push(p.state);
        }
    }
    assert_eq!(
        states.last(),
        Some(&i32::from(pb::JobState::Succeeded)),
        "{states:?}"
    );
    // Snapshots are polled (every 250 ms): a job of several seconds is seen running.
    assert!(states.contains(&i32::from(pb::JobState::Running)), "{states:?}");
    // A worker-only server answers health checks and nothing else.
    let out = common::run(&["models", "list", "--server", &_worker.addr]);
    assert!(!out.status.success());
}

/// A worker stopped with SIGTERM hands its job back at once: the other worker resumes it long
/// before the (30 s) lease would have run out, and the interrupted start is not counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stopped_with_sigterm_hands_its_job_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path());
    let pg = fresh_database("handback");
    let store = dir.path().join("objects");
    let start =
        |name: &str| server_with_lease(&dir.path().join(name), &pg, &store, dir.path(), "all", name, "30");
    let mut w1 = Some(start("w1"));
    let mut w2 = Some(start("w2"));
    let mut jobs = TrainingServiceClient::connect(w1.as_ref().unwrap().addr.clone())
        .await
        .unwrap();
    let job = submit(&mut jobs, request(&data, "handed", "spacetime", 6, 40)).await;
    let running = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(120),
        "the first epoch ends",
        |j| !j.worker.is_empty() && !j.history.is_empty(),
    )
    .await;
    let first = running.worker.clone();
    let (stopping, staying) = if first == "w1" {
        (&mut w1, &mut w2)
    } else {
        (&mut w2, &mut w1)
    };
    let mut jobs = TrainingServiceClient::connect(staying.as_ref().unwrap().addr.clone())
        .await
        .unwrap();
    let stopped_at = Instant::now();
    let status = stopping.take().unwrap().terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let taken = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(20),
        "the other worker takes over",
        |j| !j.worker.is_empty() && j.worker != first,
    )
    .await;
    let handover = stopped_at.elapsed();
    assert!(
        handover < Duration::from_secs(20),
        "{handover:?}: it waited for the lease"
    );
    assert_eq!(
        taken.attempts, 1,
        "the interrupted start is not counted: {taken:?}"
    );
    let done = wait_for(
        &mut jobs,
        &job.id,
        Duration::from_secs(240),
        "the job ends",
        ended,
    )
    .await;
    assert!(succeeded(&done), "{done:?}");
    assert!(done.resumed_from_epoch >= 1, "{done:?}");
    assert_eq!(done.model_version, 1);
}
