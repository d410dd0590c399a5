//! Conversions between `statecast.v1` training messages and [`crate::jobs`] types. Requests are
//! destructured exhaustively, so a new proto field fails to compile until it is handled.
use statecast_proto::v1 as pb;

use crate::jobs::{
    BacktestSubmission, DatasetSubmission, JobId, JobKind, JobRecord, JobState, Progress, Submission,
    TrainingSubmission, TuneSubmission,
};
use crate::{Error, Result};

/// A job id from the wire; ids that cannot exist are NOT_FOUND, like unknown ones.
pub(super) fn job_id(id: &str) -> Result<JobId> {
    id.trim()
        .parse::<JobId>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::JobNotFound { id: id.into() })
}

fn count(v: u32) -> usize {
    v as usize
}

/// The submission a `SubmitJobRequest` describes.
///
/// # Errors
/// [`Error::InvalidArgument`] for a `model_family` number that is no family.
pub(super) fn submission(req: pb::SubmitJobRequest) -> Result<Submission> {
    let pb::SubmitJobRequest {
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
        model_family,
        kind,
        backtest,
        tune,
    } = req;
    let kind = match pb::JobKind::try_from(kind) {
        Ok(pb::JobKind::Train) => JobKind::Train,
        Ok(pb::JobKind::Backtest) => JobKind::Backtest,
        Ok(pb::JobKind::Tune) => JobKind::Tune,
        Err(_) => {
            return Err(Error::InvalidArgument {
                field: "kind".into(),
                reason: format!("{kind} is not a job kind"),
            });
        }
    };
    let backtest = backtest.map(|b| {
        let pb::BacktestSettings {
            cutoffs,
            step,
            refit_every,
            val_fraction,
            season,
        } = b;
        BacktestSubmission {
            cutoffs: count(cutoffs),
            step: count(step),
            refit_every: count(refit_every),
            val_fraction,
            season: count(season),
        }
    });
    let tune = tune.map(|t| {
        let pb::TuneSettings {
            space_json,
            trials,
            search_seed,
            concurrency,
            prune_after,
            prune_min_trials,
        } = t;
        TuneSubmission {
            space_json,
            trials: count(trials),
            search_seed,
            concurrency: count(concurrency),
            prune_after: count(prune_after),
            prune_min_trials: count(prune_min_trials),
        }
    });
    let dataset = dataset.map(|d| {
        let pb::DatasetSource {
            path,
            format,
            layout,
            time_column,
            series_column,
            columns,
            value_column,
            variable_column,
            label_column,
            missing,
            frequency,
            strict,
            no_header,
            non_increasing,
            resample,
        } = d;
        DatasetSubmission {
            path,
            format,
            layout,
            time_column,
            series_column,
            columns,
            value_column,
            variable_column,
            label_column,
            missing,
            frequency,
            strict,
            no_header,
            non_increasing,
            resample,
        }
    });
    let training = training.map_or_else(TrainingSubmission::default, |t| {
        let pb::TrainingSettings {
            epochs,
            batch_size,
            lr,
            warmup_epochs,
            patience,
            max_batches_per_epoch,
            seed,
        } = t;
        TrainingSubmission {
            epochs: count(epochs),
            batch_size: count(batch_size),
            lr,
            warmup_epochs: warmup_epochs.map(count),
            patience: patience.map(count),
            max_batches_per_epoch: max_batches_per_epoch.map(count),
            seed,
        }
    });
    Ok(Submission {
        kind,
        backtest,
        tune,
        dataset,
        model_family: crate::convert::family::from_proto("model_family", model_family)?,
        model_kind,
        model_config_json,
        lookback: count(lookback),
        horizon: count(horizon),
        split,
        training,
        device,
        model_name,
        labels,
    })
}

/// The wire form of a dataset submission (what `statecast jobs submit` sends). Destructured
/// exhaustively, like requests.
pub fn dataset_source(d: DatasetSubmission) -> pb::DatasetSource {
    let DatasetSubmission {
        path,
        format,
        layout,
        time_column,
        series_column,
        columns,
        value_column,
        variable_column,
        label_column,
        missing,
        frequency,
        strict,
        no_header,
        non_increasing,
        resample,
    } = d;
    pb::DatasetSource {
        path,
        format,
        layout,
        time_column,
        series_column,
        columns,
        value_column,
        variable_column,
        label_column,
        missing,
        frequency,
        strict,
        no_header,
        non_increasing,
        resample,
    }
}

/// The wire state.
pub(super) fn state(s: JobState) -> pb::JobState {
    match s {
        JobState::Queued => pb::JobState::Queued,
        JobState::Running => pb::JobState::Running,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

/// The domain states of a `ListJobsRequest.states` filter.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `states` for an unknown or unspecified value.
pub(super) fn states(values: &[i32]) -> Result<Vec<JobState>> {
    values
        .iter()
        .map(|&v| match pb::JobState::try_from(v) {
            Ok(pb::JobState::Queued) => Ok(JobState::Queued),
            Ok(pb::JobState::Running) => Ok(JobState::Running),
            Ok(pb::JobState::Succeeded) => Ok(JobState::Succeeded),
            Ok(pb::JobState::Failed) => Ok(JobState::Failed),
            Ok(pb::JobState::Cancelled) => Ok(JobState::Cancelled),
            Ok(pb::JobState::Unspecified) | Err(_) => Err(Error::InvalidArgument {
                field: "states".into(),
                reason: format!("{v} is not a job state"),
            }),
        })
        .collect()
}

impl From<Progress> for pb::JobProgress {
    fn from(p: Progress) -> Self {
        let Progress {
            job_id,
            state: st,
            epoch,
            epochs,
            step,
            steps_per_epoch,
            train_loss,
            val_loss,
            eta_s,
            message,
        } = p;
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        pb::JobProgress {
            job_id: job_id.to_string(),
            state: state(st).into(),
            epoch: n(epoch),
            epochs: n(epochs),
            step: n(step),
            steps_per_epoch: n(steps_per_epoch),
            train_loss,
            val_loss,
            eta_s,
            message,
        }
    }
}

impl From<JobRecord> for pb::Job {
    fn from(j: JobRecord) -> Self {
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        let mut progress = j.progress;
        progress.state = j.state;
        pb::Job {
            id: j.id.to_string(),
            state: state(j.state).into(),
            message: j.message,
            model_name: j.spec.model_name.clone(),
            model_version: j.model_version.unwrap_or(0),
            created_at: j.created_at.to_rfc3339(),
            started_at: time(j.started_at),
            finished_at: time(j.finished_at),
            resumed_from_epoch: j
                .resumed_from_epoch
                .map_or(0, |e| u32::try_from(e).unwrap_or(u32::MAX)),
            attempts: j.attempts,
            progress: Some(progress.into()),
            history: j
                .history
                .into_iter()
                .map(|h| pb::EpochRecord {
                    epoch: u32::try_from(h.epoch).unwrap_or(u32::MAX),
                    train_loss: h.train_loss,
                    val_loss: h.val_loss,
                    seconds: h.seconds,
                })
                .collect(),
            spec_json: serde_json::to_string(&j.spec).unwrap_or_default(),
            kind: match j.spec.kind {
                JobKind::Train => pb::JobKind::Train,
                JobKind::Backtest => pb::JobKind::Backtest,
                JobKind::Tune => pb::JobKind::Tune,
            }
            .into(),
            result_json: j.result,
            worker: if j.state == JobState::Running {
                j.worker.unwrap_or_default()
            } else {
                String::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_source_round_trips_every_field() {
        let d = DatasetSubmission {
            path: "/data/x.csv".into(),
            format: "csv".into(),
            layout: "long".into(),
            time_column: "ts".into(),
            series_column: "id".into(),
            columns: vec![],
            value_column: "v".into(),
            variable_column: "var".into(),
            label_column: "label".into(),
            missing: "linear".into(),
            frequency: "15min".into(),
            strict: true,
            no_header: true,
            non_increasing: "drop".into(),
            resample: "mean".into(),
        };
        let req = pb::SubmitJobRequest {
            dataset: Some(dataset_source(d.clone())),
            ..Default::default()
        };
        assert_eq!(submission(req).unwrap().dataset, Some(d));
    }
}
