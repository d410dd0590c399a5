//! Job manager tests on the CPU without training data: a job whose dataset vanished fails with
//! a message, counters follow states, and the record survives reopening the data directory.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DatasetSubmission, JobLimits, JobManager, JobState, JobsConfig, Retention, Submission};
use crate::Error;
use crate::registry::Registry;
use crate::roots::AllowedRoots;

fn manager(dir: &std::path::Path, max_queued: usize) -> JobManager {
    manager_with(dir, max_queued, 1)
}

fn manager_with(dir: &std::path::Path, max_queued: usize, workers: usize) -> JobManager {
    let registry = Arc::new(Registry::open(dir).unwrap());
    let config = JobsConfig {
        data_dir: dir.to_path_buf(),
        storage: None,
        workers,
        worker_id: "test-worker".into(),
        lease: Duration::from_secs(30),
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
    use super::{JobQueue, Reap, SqliteQueue};
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("jobs.sqlite")).unwrap();
    let spec = spec_in(dir.path());
    let now = chrono::Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    let ids: Vec<_> = (0..3).map(|_| queue.insert(&spec, now).unwrap()).collect();
    // The oldest queued job is claimed first: ids[0] is claimed and abandoned twice (each
    // claim counts), then ids[0] and ids[1] are left RUNNING as a dead server leaves them.
    for _ in 0..2 {
        assert_eq!(queue.claim("w", now, lease).unwrap().unwrap().id, ids[0]);
        queue.reap(now, 99, Reap::AllRunning).unwrap();
    }
    let a = queue.claim("w", now, lease).unwrap().unwrap();
    let b = queue.claim("w", now, lease).unwrap().unwrap();
    assert_eq!((a.id, b.id), (ids[0], ids[1]));
    assert_eq!((a.attempts, b.attempts), (3, 1));
    let reaped = queue.reap(now, 3, Reap::AllRunning).unwrap();
    assert_eq!(reaped.failed, vec![ids[0]]);
    assert_eq!(reaped.requeued, vec![ids[1]]);
    let failed = queue.get(ids[0]).unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.message,
        "the server stopped 3 times while training this job; it is not retried again (--max-job-attempts 3)"
    );
    assert_eq!(queue.get(ids[1]).unwrap().unwrap().state, JobState::Queued);
    assert_eq!(queue.get(ids[2]).unwrap().unwrap().state, JobState::Queued);
}

#[test]
fn leases_expire_renew_and_fence_the_end_of_a_job() {
    use super::{Finish, JobQueue, Reap, SqliteQueue};
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(&dir.path().join("jobs.sqlite")).unwrap();
    let spec = spec_in(dir.path());
    let t0 = chrono::Utc::now();
    let secs = chrono::Duration::seconds;
    let id = queue.insert(&spec, t0).unwrap();
    assert_eq!(queue.claim("a", t0, t0 + secs(10)).unwrap().unwrap().id, id);
    assert!(
        queue.claim("b", t0, t0 + secs(10)).unwrap().is_none(),
        "one job, one worker"
    );
    // Renewed in time, the lease holds; a cancel reaches its holder through the renewal.
    assert_eq!(queue.renew(id, "a", t0 + secs(20)).unwrap(), Some(false));
    assert!(
        queue
            .reap(t0 + secs(15), 3, Reap::Expired)
            .unwrap()
            .requeued
            .is_empty()
    );
    queue.request_cancel(id).unwrap();
    assert_eq!(queue.renew(id, "a", t0 + secs(20)).unwrap(), Some(true));
    // Silent past its lease: the job goes back to the queue and another worker takes it.
    assert_eq!(
        queue.reap(t0 + secs(21), 3, Reap::Expired).unwrap().requeued,
        vec![id]
    );
    assert_eq!(
        queue.renew(id, "a", t0 + secs(40)).unwrap(),
        None,
        "the lease is gone"
    );
    let again = queue.claim("b", t0 + secs(22), t0 + secs(52)).unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    // Only the holder records the end.
    let now = t0 + secs(23);
    assert!(
        !queue
            .finish(id, JobState::Succeeded, "x", Some(1), now, &Finish::OwnedBy("a"))
            .unwrap()
    );
    assert!(
        !queue
            .finish(id, JobState::Cancelled, "x", None, now, &Finish::Queued)
            .unwrap()
    );
    assert!(
        queue
            .finish(id, JobState::Succeeded, "x", Some(1), now, &Finish::OwnedBy("b"))
            .unwrap()
    );
    assert_eq!(queue.get(id).unwrap().unwrap().model_version, Some(1));
}

#[test]
fn finished_jobs_past_retention_lose_their_rows_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path());
    // No workers: nothing claims the queued job.
    let jobs = manager_with(dir.path(), 4, 0);
    let db = super::store::open(&dir.path().join(crate::registry::DB_FILE)).unwrap();
    let t0 = chrono::Utc::now();
    // Two finished jobs and a queued one, inserted straight into the table.
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
    let left = super::store::list(&conn, &[], None, 10).unwrap();
    assert_eq!(
        left.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[2]]
    );
    assert_eq!(left[0].state, JobState::Queued);
}
