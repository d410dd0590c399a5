//! Job manager tests on the CPU without training data: a job whose dataset vanished fails with
//! a message, counters follow states, and the record survives reopening the data directory.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DatasetSubmission, JobLimits, JobManager, JobState, JobsConfig, Retention, Submission};
use crate::Error;
use crate::registry::Registry;
use crate::roots::AllowedRoots;

fn manager(dir: &std::path::Path, max_queued: usize) -> JobManager {
    let registry = Arc::new(Registry::open(dir).unwrap());
    let config = JobsConfig {
        data_dir: dir.to_path_buf(),
        workers: 1,
        max_queued,
        data_roots: roots(dir),
        limits: JobLimits::default(),
        max_attempts: 3,
        retention: Retention::default(),
    };
    JobManager::start(&config, registry).unwrap()
}

fn roots(dir: &std::path::Path) -> AllowedRoots {
    AllowedRoots::new([dir.to_path_buf()], "dataset files", "--data-root").unwrap()
}

#[test]
fn failed_job_is_recorded_counted_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gone.csv");
    std::fs::write(&data, "").unwrap();
    let spec = Submission {
        dataset: Some(DatasetSubmission {
            path: data.display().to_string(),
            ..DatasetSubmission::default()
        }),
        model_kind: "linear".into(),
        horizon: 4,
        lookback: 8,
        model_name: "m".into(),
        ..Submission::default()
    }
    .validate(&roots(dir.path()), &JobLimits::default())
    .unwrap();
    std::fs::remove_file(&data).unwrap();

    let jobs = manager(dir.path(), 4);
    let id = jobs.submit(&spec).unwrap().id;
    let start = Instant::now();
    let job = loop {
        let job = jobs.get(id).unwrap();
        if job.state.is_terminal() {
            break job;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "job did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(job.state, JobState::Failed);
    assert!(job.message.contains("--data-root"), "{}", job.message);
    assert!(!job.message.contains("gone.csv"), "{}", job.message);
    assert_eq!(jobs.job_state_counts().unwrap().failed, 1);
    assert!(matches!(jobs.cancel(id), Err(Error::FailedPrecondition { .. })));
    assert!(matches!(jobs.get(999), Err(Error::JobNotFound { .. })));
    drop(jobs);

    let reopened = manager(dir.path(), 4);
    let again = reopened.get(id).unwrap();
    assert_eq!(again.state, JobState::Failed);
    assert_eq!(again.spec, spec);
    let page = reopened.list(&[JobState::Failed], 10, None).unwrap();
    assert_eq!(page.jobs.len(), 1);
    assert!(page.next.is_none());
}

/// A job spec for a dataset file under `dir` (the file need not stay).
fn spec_in(dir: &std::path::Path) -> super::JobSpec {
    let data = dir.join("data.csv");
    std::fs::write(&data, "date,a\n").unwrap();
    Submission {
        dataset: Some(DatasetSubmission {
            path: data.display().to_string(),
            ..DatasetSubmission::default()
        }),
        model_kind: "repeat".into(),
        horizon: 4,
        lookback: 8,
        model_name: "m".into(),
        ..Submission::default()
    }
    .validate(&roots(dir), &JobLimits::default())
    .unwrap()
}

#[test]
fn a_job_the_server_died_in_too_often_is_failed_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let conn = super::store::open(&dir.path().join("jobs.sqlite")).unwrap();
    let spec = spec_in(dir.path());
    let now = chrono::Utc::now();
    let ids: Vec<_> = (0..3)
        .map(|_| super::store::insert(&conn, &spec, now).unwrap())
        .collect();
    // Started twice and three times (each start counts), and one still queued.
    for _ in 0..2 {
        super::store::start(&conn, ids[0], now).unwrap();
    }
    for _ in 0..3 {
        super::store::start(&conn, ids[1], now).unwrap();
    }
    assert_eq!(super::store::fail_exhausted(&conn, 3, now).unwrap(), vec![ids[1]]);
    let failed = super::store::get(&conn, ids[1]).unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.message,
        "the server stopped 3 times while training this job; it is not retried again (--max-job-attempts 3)"
    );
    assert_eq!(super::store::requeue_running(&conn).unwrap(), 1);
    assert_eq!(
        super::store::get(&conn, ids[0]).unwrap().unwrap().state,
        JobState::Queued
    );
    assert_eq!(
        super::store::get(&conn, ids[2]).unwrap().unwrap().state,
        JobState::Queued
    );
}

#[test]
fn finished_jobs_past_retention_lose_their_rows_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let jobs = manager(dir.path(), 4);
    let db = super::store::open(&dir.path().join(crate::registry::DB_FILE)).unwrap();
    let t0 = chrono::Utc::now();
    // Two finished jobs and a queued one, inserted straight into the table (no worker picks them
    // up: the manager only queues what it is given).
    let old = super::store::insert(&db, &spec, t0).unwrap();
    let recent = super::store::insert(&db, &spec, t0).unwrap();
    let queued = super::store::insert(&db, &spec, t0).unwrap();
    let day = chrono::Duration::days(1);
    super::store::finish(&db, old, JobState::Failed, "x", None, t0 - day * 40).unwrap();
    super::store::finish(&db, recent, JobState::Succeeded, "x", Some(1), t0 - day).unwrap();
    for id in [old, recent] {
        std::fs::create_dir_all(dir.path().join(super::JOBS_DIR).join(id.to_string()).join("ckpt")).unwrap();
    }
    assert_eq!(jobs.prune(t0), vec![old]);
    assert!(matches!(jobs.get(old), Err(Error::JobNotFound { .. })));
    assert!(!dir.path().join(super::JOBS_DIR).join(old.to_string()).exists());
    assert!(dir.path().join(super::JOBS_DIR).join(recent.to_string()).exists());
    // Thirty days on, the recent one goes too; unfinished jobs never do.
    assert_eq!(jobs.prune(t0 + day * 30), vec![recent]);
    assert_eq!(jobs.get(queued).unwrap().state, JobState::Queued);
    assert!(jobs.prune(t0 + day * 1000).is_empty());
}

#[test]
fn at_most_max_finished_jobs_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    let conn = super::store::open(&dir.path().join("jobs.sqlite")).unwrap();
    let now = chrono::Utc::now();
    let ids: Vec<_> = (0..5)
        .map(|_| super::store::insert(&conn, &spec, now).unwrap())
        .collect();
    for &id in &ids[..4] {
        super::store::finish(&conn, id, JobState::Cancelled, "x", None, now).unwrap();
    }
    let cutoff = now - chrono::Duration::days(30);
    assert_eq!(
        super::store::prune_finished(&conn, cutoff, 2).unwrap(),
        vec![ids[1], ids[0]]
    );
    assert!(super::store::prune_finished(&conn, cutoff, 2).unwrap().is_empty());
    assert_eq!(
        super::store::ids_in(&conn, JobState::Queued).unwrap(),
        vec![ids[4]]
    );
}
