//! Hostile clients of TrainingService against the real binary (issue 16, items 2 and 3): dataset
//! paths outside `--data-root` (a `file://` URI of /etc/passwd, a symlink out of the root), file
//! contents leaking into job messages, a model too large to allocate, absurd epoch counts, and a
//! job that is RUNNING every time the server is killed.
//!
//! Every case ends with [`common::hostile::assert_survived`] with an RSS bound of 512 MiB: the
//! debug build idled at 15–16 MiB here and trains these tiny jobs far below the bound, while the
//! refused model (`d_model` 65 536) alone would allocate 16 GiB.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Server;
use common::hostile::{assert_survived, connect, registry_snapshot, rss_bytes};
use statecast_proto::v1 as pb;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use tonic::Code;
use tonic::transport::Channel;

const RSS_BOUND: u64 = 512 << 20;

/// `statecast serve` with `root` as its only `--data-root`.
fn start(data_dir: &Path, root: &Path, extra: &[&str]) -> Server {
    let root = root.to_string_lossy();
    let mut flags = vec!["--data-root", root.as_ref()];
    flags.extend_from_slice(extra);
    Server::start(data_dir, &flags)
}

async fn client(server: &Server) -> TrainingServiceClient<Channel> {
    TrainingServiceClient::new(connect(server).await)
}

/// A small linear job on `path` (wide layout, every column but `date` a variate).
fn request(path: &str, epochs: u32) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        dataset: Some(pb::DatasetSource {
            path: path.into(),
            ..Default::default()
        }),
        model_kind: "linear".into(),
        lookback: 8,
        horizon: 2,
        training: Some(pb::TrainingSettings {
            epochs,
            max_batches_per_epoch: Some(2),
            ..Default::default()
        }),
        model_name: "hostile".into(),
        ..Default::default()
    }
}

/// A regular 1-minute CSV with `header` and `rows` rows of `cols` numbers; `edit(row, col)`
/// may replace a cell's text.
fn csv(path: &Path, header: &str, rows: usize, cols: usize, edit: impl Fn(usize, usize) -> Option<String>) {
    let mut text = format!("{header}\n");
    for r in 0..rows {
        text += &format!("2024-01-01 {:02}:{:02}:00", r / 60, r % 60);
        for c in 0..cols {
            let cell = edit(r, c).unwrap_or_else(|| format!("{}", (r * (c + 1)) as f64 / 10.0));
            text += &format!(",{cell}");
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

async fn wait_terminal(jobs: &mut TrainingServiceClient<Channel>, id: &str) -> pb::Job {
    let start = Instant::now();
    loop {
        let job = get(jobs, id).await;
        if [
            pb::JobState::Succeeded,
            pb::JobState::Failed,
            pb::JobState::Cancelled,
        ]
        .iter()
        .any(|s| *s as i32 == job.state)
        {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job {id} did not end: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(jobs: &mut TrainingServiceClient<Channel>, id: &str) -> pb::Job {
    jobs.get_job(pb::GetJobRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

/// Every client-visible text about the job: GetJob, ListJobs and WatchJob messages.
async fn visible_messages(jobs: &mut TrainingServiceClient<Channel>, id: &str) -> Vec<String> {
    let mut out = vec![get(jobs, id).await.message];
    let listed = jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    out.extend(listed.into_iter().filter(|j| j.id == id).map(|j| j.message));
    let mut stream = jobs
        .watch_job(pb::WatchJobRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner();
    while let Some(p) = stream.message().await.unwrap() {
        out.push(p.message);
    }
    assert!(out.len() >= 3, "{out:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_data_root_are_refused_without_revealing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("datasets");
    std::fs::create_dir(&root).unwrap();
    let outside = dir.path().join("private");
    std::fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret.csv");
    csv(&secret, "date,hunter2_private", 100, 1, |_, _| None);
    std::os::unix::fs::symlink(&secret, root.join("link.csv")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();

    let mut server = start(&dir.path().join("data"), &root, &[]);
    let before = registry_snapshot(&server).await;
    let mut jobs = client(&server).await;
    let t0 = Instant::now();
    let mut answers = Vec::new();
    for path in [
        "file:///etc/passwd",
        "/etc/passwd",
        "/etc/shadow",
        "/no/such/file.csv",
        "../private/secret.csv",
        "link.csv",
        "linkdir/secret.csv",
    ] {
        let sent = if path.starts_with("link") {
            root.join(path).display().to_string()
        } else {
            path.to_string()
        };
        let err = jobs.submit_job(request(&sent, 1)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path}: {err:?}");
        let message = err.message().to_string();
        assert!(message.contains("`dataset.path`"), "{message}");
        // Only the request is echoed: nothing of the file, its target or its existence.
        let echoed = sent.strip_prefix("file://").unwrap_or(&sent);
        let rest = message.replace(echoed, "REQ");
        for leak in ["root:", "hunter2", "/bin/", "private"] {
            assert!(!rest.contains(leak), "{path}: {message}");
        }
        answers.push(rest);
    }
    // Existing, missing, outside and symlinked-out paths: one answer.
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    eprintln!("7 refused paths in {:?}", t0.elapsed());
    // Nothing was queued.
    let listed = jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert!(listed.is_empty(), "{listed:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
    drop(server);

    // A server without --data-root reads no client-named file at all.
    let mut bare = Server::start(&dir.path().join("bare"), &[]);
    let before = registry_snapshot(&bare).await;
    let mut jobs = client(&bare).await;
    let inside = root.join("x.csv");
    csv(&inside, "date,a", 100, 1, |_, _| None);
    let err = jobs
        .submit_job(request(&inside.display().to_string(), 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("--data-root"), "{}", err.message());
    assert_survived(&mut bare, RSS_BOUND, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_contents_never_reach_job_messages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    // A secret in a header, a secret in a cell of that column (row 17).
    let cells = root.join("cells.csv");
    csv(&cells, "date,a,hunter2_header", 200, 2, |r, c| {
        (r == 17 && c == 1).then(|| "hunter2_cell".to_string())
    });
    // A password-file lookalike inside the root.
    let passwd = root.join("passwd.csv");
    std::fs::write(
        &passwd,
        "root:x:0:0:hunter2_gecos:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .unwrap();
    // Strict mode on a file whose extra column is the secret.
    let strict = root.join("strict.csv");
    csv(&strict, "date,a,hunter2_extra", 200, 2, |_, _| None);

    let mut server = start(&root.join("data"), &root, &[]);
    let before = registry_snapshot(&server).await;
    let mut jobs = client(&server).await;
    let mut strict_req = request(&strict.display().to_string(), 1);
    {
        let d = strict_req.dataset.as_mut().unwrap();
        d.columns = vec!["a".into()];
        d.strict = true;
    }
    let submissions = [
        request(&cells.display().to_string(), 1),
        request(&passwd.display().to_string(), 1),
        strict_req,
    ];
    for req in submissions {
        let job = jobs.submit_job(req).await.unwrap().into_inner().job.unwrap();
        let done = wait_terminal(&mut jobs, &job.id).await;
        assert_eq!(done.state, pb::JobState::Failed as i32, "{done:?}");
        for message in visible_messages(&mut jobs, &job.id).await {
            for leak in [
                "hunter2",
                "root:",
                "/bin/",
                "daemon",
                dir.path().to_str().unwrap(),
            ] {
                assert!(!message.contains(leak), "{leak} leaked: {message}");
            }
        }
        eprintln!("failed job message: {}", done.message);
    }
    // The category and position survive.
    let first = get(&mut jobs, "1").await.message;
    assert!(first.starts_with("dataset: "), "{first}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

/// A 1-series, 3-sensor simulated dataset in `dir`.
fn simulate(dir: &Path, length: usize) -> PathBuf {
    common::simulate(&dir.join("sim").to_string_lossy(), 1, 3, length, &[]).into()
}

fn sim_request(data: &Path, epochs: u32) -> pb::SubmitJobRequest {
    let mut req = request(&data.display().to_string(), epochs);
    let d = req.dataset.as_mut().unwrap();
    d.series_column = "series_id".into();
    d.label_column = "label".into();
    d.missing = "linear".into();
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_models_and_absurd_schedules_are_refused_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), 600);
    let mut server = start(&dir.path().join("data"), dir.path(), &[]);
    let before = registry_snapshot(&server).await;
    let mut jobs = client(&server).await;

    // d_model 65 536: a 16 GiB MLP weight. Refused before anything is queued.
    let mut wide = sim_request(&data, 1);
    wide.model_kind = "spacetime".into();
    wide.lookback = 96;
    wide.horizon = 24;
    wide.model_config_json = r#"{"d_model": 65536, "n_kernels": 65536}"#.into();
    let (t0, rss0) = (Instant::now(), rss_bytes(&server));
    let err = jobs.submit_job(wide).await.unwrap_err();
    eprintln!(
        "d_model 65536 refused in {:?}, RSS {} -> {} MiB",
        t0.elapsed(),
        rss0 >> 20,
        rss_bytes(&server) >> 20
    );
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("--max-model-params"), "{}", err.message());

    // SiMBA: a head reading more tokens than the look-back is refused by name; a head and
    // width of billions of weights by the parameter bound, before anything is queued.
    let mut simba = sim_request(&data, 1);
    simba.model_kind = "simba".into();
    simba.lookback = 96;
    simba.horizon = 24;
    simba.model_config_json = r#"{"head_tokens": 4294967295}"#.into();
    let err = jobs.submit_job(simba.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("head_tokens"), "{}", err.message());
    simba.model_config_json = r#"{"d_model": 65536, "head_tokens": 96}"#.into();
    let err = jobs.submit_job(simba).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("--max-model-params"), "{}", err.message());

    // Chimera: an empty step-size range is refused by name; a wide state (few weights, but a
    // state of 65 536 per channel kept for every cell of the grid) by the memory estimate.
    let mut chimera = sim_request(&data, 1);
    chimera.model_kind = "chimera".into();
    chimera.lookback = 96;
    chimera.horizon = 24;
    chimera.model_config_json = r#"{"trend_dt": [1.0, 0.001]}"#.into();
    let err = jobs.submit_job(chimera.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("trend_dt"), "{}", err.message());
    chimera.model_config_json = r#"{"d_state": 65536}"#.into();
    let err = jobs.submit_job(chimera).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("--max-model-params") || err.message().contains("--max-train-memory-mib"),
        "{}",
        err.message()
    );

    // Few parameters, but batches of a million long windows: the memory estimate.
    let mut big_batch = sim_request(&data, 1);
    (big_batch.lookback, big_batch.horizon) = (1024, 256);
    big_batch.training.as_mut().unwrap().batch_size = 1 << 20;
    let err = jobs.submit_job(big_batch).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("--max-train-memory-mib"),
        "{}",
        err.message()
    );

    // Epochs u32::MAX, warm-up and patience alike, a non-finite learning rate.
    type Edit = fn(&mut pb::TrainingSettings);
    let cases: [(&str, Edit); 4] = [
        ("training.epochs", |t| t.epochs = u32::MAX),
        ("training.warmup_epochs", |t| t.warmup_epochs = Some(u32::MAX)),
        ("training.patience", |t| t.patience = Some(u32::MAX)),
        ("training.lr", |t| t.lr = f64::INFINITY),
    ];
    for (field, edit) in cases {
        let mut req = sim_request(&data, 1);
        edit(req.training.as_mut().unwrap());
        let err = jobs.submit_job(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().contains(&format!("`{field}`")), "{}", err.message());
    }
    let listed = jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert!(listed.is_empty(), "{listed:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_at_three_kills_ends_failed() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), 600);
    let data_dir = dir.path().join("data");
    let mut server = start(&data_dir, dir.path(), &[]);
    let mut jobs = client(&server).await;
    // Long enough never to finish between kills.
    let job = jobs
        .submit_job(sim_request(&data, 10_000))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    for attempt in 1..=3u32 {
        let start_wait = Instant::now();
        loop {
            let j = get(&mut jobs, &job.id).await;
            if j.state == pb::JobState::Running as i32 && j.attempts == attempt {
                break;
            }
            assert_ne!(j.state, pb::JobState::Failed as i32, "{j:?}");
            assert!(start_wait.elapsed() < Duration::from_secs(60), "{j:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.child.kill().unwrap(); // SIGKILL while RUNNING
        server.child.wait().unwrap();
        server = start(&data_dir, dir.path(), &[]);
        jobs = client(&server).await;
    }
    let done = get(&mut jobs, &job.id).await;
    assert_eq!(done.state, pb::JobState::Failed as i32, "{done:?}");
    assert_eq!(done.attempts, 3);
    assert!(
        done.message
            .contains("the server stopped 3 times while training this job"),
        "{}",
        done.message
    );
    // It stays failed across another restart, and the server serves.
    let before = registry_snapshot(&server).await;
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_past_retention_are_pruned_but_their_models_stay() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), 600);
    let data_dir = dir.path().join("data");
    let server = start(&data_dir, dir.path(), &[]);
    let mut jobs = client(&server).await;
    let job = jobs
        .submit_job(sim_request(&data, 1))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let done = wait_terminal(&mut jobs, &job.id).await;
    assert_eq!(done.state, pb::JobState::Succeeded as i32, "{done:?}");
    assert!(data_dir.join("jobs").join(&job.id).exists());
    let models = registry_snapshot(&server).await;
    assert_eq!(models.len(), 1, "{models:?}");
    server.terminate(Duration::from_secs(20));

    // A restart with a retention of 0 days prunes the finished job at start-up.
    let mut server = start(&data_dir, dir.path(), &["--job-retention-days", "0"]);
    let mut jobs = client(&server).await;
    let err = jobs
        .get_job(pb::GetJobRequest { id: job.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(!data_dir.join("jobs").join(&job.id).exists());
    assert_survived(&mut server, RSS_BOUND, &models).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_checks_the_size_again_with_the_datasets_variates() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), 600);
    // Batches of 4096 windows of L + H = 10 steps: about 1.3 MB of activations per variate, so
    // one variate (all the submission names) fits 2 MiB and the file's three do not.
    let mut server = start(
        &dir.path().join("data"),
        dir.path(),
        &["--max-train-memory-mib", "2"],
    );
    let before = registry_snapshot(&server).await;
    let mut jobs = client(&server).await;
    let mut req = sim_request(&data, 1);
    req.training.as_mut().unwrap().batch_size = 4096;
    let job = jobs.submit_job(req).await.unwrap().into_inner().job.unwrap();
    let done = wait_terminal(&mut jobs, &job.id).await;
    assert_eq!(done.state, pb::JobState::Failed as i32, "{done:?}");
    assert!(
        done.message.contains("3 variate(s)") && done.message.contains("--max-train-memory-mib"),
        "{}",
        done.message
    );
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

/// Backtest and tune jobs: every setting bounded and named before anything is queued, a
/// drawn trial too large for the server refused by the size limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_and_tune_settings_are_bounded_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(dir.path(), 600);
    let mut server = start(&dir.path().join("data"), dir.path(), &[]);
    let before = registry_snapshot(&server).await;
    let mut jobs = client(&server).await;
    let backtest = |edit: &dyn Fn(&mut pb::BacktestSettings)| {
        let mut req = sim_request(&data, 2);
        req.kind = pb::JobKind::Backtest.into();
        let mut b = pb::BacktestSettings {
            cutoffs: 3,
            ..Default::default()
        };
        edit(&mut b);
        req.backtest = Some(b);
        req
    };
    let tune = |edit: &dyn Fn(&mut pb::TuneSettings)| {
        let mut req = sim_request(&data, 2);
        req.kind = pb::JobKind::Tune.into();
        let mut t = pb::TuneSettings {
            trials: 3,
            ..Default::default()
        };
        edit(&mut t);
        req.tune = Some(t);
        req
    };
    let mut no_settings = sim_request(&data, 2);
    no_settings.kind = pb::JobKind::Backtest.into();
    let mut train_with_tune = sim_request(&data, 2);
    train_with_tune.tune = Some(pb::TuneSettings::default());
    let mut unknown_kind = sim_request(&data, 2);
    unknown_kind.kind = 7;
    let huge_space = format!(
        r#"{{"train": {{"lr": {{"choice": [{}]}}}}}}"#,
        vec!["0.001"; 20_000].join(",")
    );
    let cases: Vec<(&str, pb::SubmitJobRequest)> = vec![
        ("backtest", no_settings),
        ("tune", train_with_tune),
        ("kind", unknown_kind),
        ("backtest.cutoffs", backtest(&|b| b.cutoffs = u32::MAX)),
        ("backtest.cutoffs", backtest(&|b| b.cutoffs = 0)),
        (
            "backtest.refit_every",
            backtest(&|b| (b.cutoffs, b.refit_every) = (1000, 1)),
        ),
        ("backtest.val_fraction", backtest(&|b| b.val_fraction = f64::NAN)),
        ("tune.trials", tune(&|t| t.trials = u32::MAX)),
        ("tune.trials", tune(&|t| t.trials = 0)),
        ("tune.concurrency", tune(&|t| t.concurrency = 1000)),
        ("tune.space_json", tune(&|t| t.space_json = huge_space.clone())),
        ("tune.space_json", tune(&|t| t.space_json = "{not json".into())),
        (
            "tune.space_json",
            tune(&|t| t.space_json = r#"{"model": {"d_modle": {"int": [1, 2]}}}"#.into()),
        ),
        (
            "tune.space_json",
            tune(&|t| t.space_json = r#"{"train": {"lr": {"log_uniform": [-1, 1]}}}"#.into()),
        ),
    ];
    for (field, req) in cases {
        let err = jobs.submit_job(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().contains(&format!("`{field}")),
            "{field}: {}",
            err.message()
        );
    }
    // A space whose draws include a model far over the parameter limit.
    let mut wide = tune(&|t| {
        t.space_json =
            r#"{"model": {"d_model": {"choice": [64, 65536]}, "n_kernels": {"choice": [65536]}}}"#.into()
    });
    wide.model_kind = "spacetime".into();
    (wide.lookback, wide.horizon) = (96, 24);
    let err = jobs.submit_job(wide).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("tune.space_json") && err.message().contains("--max-model-params"),
        "{}",
        err.message()
    );
    let listed = jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert!(listed.is_empty(), "{listed:?}");
    assert_survived(&mut server, RSS_BOUND, &before).await;
}

/// Object URLs as dataset paths: only under an `s3://` `--data-root`, with no `..`, query or
/// other scheme, and nothing is fetched before a worker starts the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_urls_outside_the_object_store_roots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dir.path().join("data"),
        dir.path(),
        &["--data-root", "s3://datasets-bucket/allowed"],
    );
    let mut jobs = client(&server).await;
    for path in [
        "s3://datasets-bucket/other/x.parquet",
        "s3://datasets-bucket/allowed-not/x.parquet",
        "s3://datasets-bucket/allowed/../other/x.parquet",
        "s3://datasets-bucket/allowed/x.parquet?versionId=7",
        "s3://other-bucket/allowed/x.parquet",
        "s3a://",
    ] {
        let err = jobs.submit_job(request(path, 1)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path}: {err:?}");
        assert!(
            err.message().contains("`dataset.path`"),
            "{path}: {}",
            err.message()
        );
    }
    // A server without object-store roots refuses every object URL the same way.
    let plain = start(&dir.path().join("data2"), dir.path(), &[]);
    let err = client(&plain)
        .await
        .submit_job(request("s3://datasets-bucket/allowed/x.parquet", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // A malformed object-store root is a start-up error, not a silent refusal later.
    let out = common::run(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().join("data3").to_string_lossy(),
        "--data-root",
        "s3://",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-root"));
}
