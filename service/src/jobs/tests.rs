//! Job manager tests on the CPU without training data: a job whose dataset vanished fails with
//! a message, counters follow states, and the record survives reopening the data directory.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DatasetSubmission, JobManager, JobState, JobsConfig, Submission};
use crate::Error;
use crate::registry::Registry;

fn manager(dir: &std::path::Path, max_queued: usize) -> JobManager {
    let registry = Arc::new(Registry::open(dir).unwrap());
    let config = JobsConfig {
        data_dir: dir.to_path_buf(),
        workers: 1,
        max_queued,
    };
    JobManager::start(&config, registry).unwrap()
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
    .validate()
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
    assert!(job.message.contains("gone.csv"), "{}", job.message);
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
