//! Property test: whatever a client submits, [`Submission::validate`] returns a job or
//! INVALID_ARGUMENT naming a field of the request (or RESOURCE_EXHAUSTED naming the server
//! limit), and never panics.
use proptest::prelude::*;
use statecast_models::zoo::ModelFamily;

use super::limits::JobLimits;
use super::spec::{
    BacktestSubmission, DatasetSubmission, JobKind, Submission, TrainingSubmission, TuneSubmission,
};
use crate::Error;
use crate::roots::AllowedRoots;

/// Valid values, edge values and garbage for a string option.
fn text(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(valid.to_vec()).prop_map(String::from),
        Just(String::new()),
        "[ -~]{0,12}",
        Just("110000000d".to_string()),
        Just("9223372036854775807us".to_string()),
        Just("\u{0}\u{feff}é".to_string()),
    ]
}

fn count() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..200, Just(usize::MAX), Just(1usize << 40)]
}

fn dataset(path: String) -> impl Strategy<Value = Option<DatasetSubmission>> {
    let strings = (
        text(&["parquet", "arrow", "csv", "PARQUET"]),
        text(&["wide", "long"]),
        text(&["error", "ffill", "linear", "mask"]),
        text(&["1h", "15min", "5min", "1d", "0s"]),
        text(&["error", "drop"]),
        text(&["none", "mean"]),
    );
    let columns = (
        text(&["date", "timestamp"]),
        text(&["series_id"]),
        prop::collection::vec(text(&["a", "b"]), 0..3),
        text(&["label"]),
        any::<(bool, bool)>(),
        prop_oneof![
            Just(path),
            Just(String::new()),
            Just("/no/such.csv".to_string()),
            "[ -~]{0,8}"
        ],
    );
    prop::option::weighted(
        0.9,
        (strings, columns).prop_map(
            |(
                (format, layout, missing, frequency, non_increasing, resample),
                (time_column, series_column, columns, label_column, (strict, no_header), path),
            )| DatasetSubmission {
                path,
                format,
                layout,
                time_column,
                series_column,
                columns,
                value_column: String::new(),
                variable_column: String::new(),
                label_column,
                missing,
                frequency,
                strict,
                no_header,
                non_increasing,
                resample,
            },
        ),
    )
}

fn training() -> impl Strategy<Value = TrainingSubmission> {
    (
        count(),
        count(),
        prop_oneof![
            Just(0.0),
            Just(1e-3),
            Just(-1.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            any::<f64>()
        ],
        prop::option::of(count()),
        prop::option::of(count()),
        prop::option::of(count()),
        any::<u64>(),
    )
        .prop_map(
            |(epochs, batch_size, lr, warmup_epochs, patience, max_batches_per_epoch, seed)| {
                TrainingSubmission {
                    epochs,
                    batch_size,
                    lr,
                    warmup_epochs,
                    patience,
                    max_batches_per_epoch,
                    seed,
                }
            },
        )
}

fn submission(path: String) -> impl Strategy<Value = Submission> {
    (
        dataset(path),
        prop::option::of(prop::sample::select(ModelFamily::ALL.to_vec())),
        text(&["spacetime", "linear", "repeat", "SpaceTime"]),
        prop_oneof![
            Just(String::new()),
            Just(r#"{"d_model": 65}"#.to_string()),
            Just(r#"{"min_avg_window": 0}"#.to_string()),
            Just(r#"{"dropout": 2.0}"#.to_string()),
            Just(r#"{"subtract_last": "yes"}"#.to_string()),
            Just("[1, 2]".to_string()),
            "[ -~]{0,16}",
        ],
        (count(), count()),
        (
            text(&["ratio:0.7,0.1,0.2", "ett-hourly", "rows:10,20,30"]),
            training(),
        ),
        (
            text(&["cpu", "cuda", "cuda:0"]),
            text(&["model", "m-1"]),
            prop::collection::vec(text(&["stable"]), 0..3),
        ),
    )
        .prop_map(
            |(
                dataset,
                model_family,
                model_kind,
                model_config_json,
                (lookback, horizon),
                (split, training),
                (device, model_name, labels),
            )| {
                Submission {
                    dataset,
                    model_family,
                    model_kind,
                    model_config_json,
                    lookback,
                    horizon,
                    split,
                    training,
                    device,
                    model_name,
                    labels,
                    ..Submission::default()
                }
            },
        )
}

/// A submission of any kind: training, a backtest or a tune, with settings that may or may not
/// belong to the kind.
fn any_kind(path: String) -> impl Strategy<Value = Submission> {
    let backtest = prop::option::of(
        (
            count(),
            count(),
            count(),
            prop_oneof![Just(0.0), Just(0.3), Just(1.5), Just(f64::NAN)],
            count(),
        )
            .prop_map(
                |(cutoffs, step, refit_every, val_fraction, season)| BacktestSubmission {
                    cutoffs,
                    step,
                    refit_every,
                    val_fraction,
                    season,
                },
            ),
    );
    let tune = prop::option::of(
        (
            prop_oneof![
                Just(String::new()),
                Just(r#"{"train": {"lr": {"log_uniform": [1e-4, 1e-2]}}}"#.to_string()),
                Just(r#"{"model": {"d_model": {"choice": [64, 1000000]}}}"#.to_string()),
                Just(r#"{"model": {"nope": {"int": [1, 2]}}}"#.to_string()),
                Just(r#"{"train": {"lr": {"uniform": [1, 0]}}}"#.to_string()),
                "[ -~]{0,24}",
            ],
            count(),
            any::<u64>(),
            count(),
            count(),
            count(),
        )
            .prop_map(
                |(space_json, trials, search_seed, concurrency, prune_after, prune_min_trials)| {
                    TuneSubmission {
                        space_json,
                        trials,
                        search_seed,
                        concurrency,
                        prune_after,
                        prune_min_trials,
                    }
                },
            ),
    );
    (
        submission(path),
        prop::sample::select(vec![JobKind::Train, JobKind::Backtest, JobKind::Tune]),
        backtest,
        tune,
    )
        .prop_map(|(mut s, kind, backtest, tune)| {
            s.kind = kind;
            s.backtest = backtest;
            s.tune = tune;
            s
        })
}

/// Whether `field` names a field of `SubmitJobRequest` (dotted for nested ones).
fn is_request_field(field: &str) -> bool {
    let top = field.split(['.', '[']).next().unwrap_or_default();
    matches!(
        top,
        "dataset"
            | "model_family"
            | "model_kind"
            | "model_config_json"
            | "lookback"
            | "horizon"
            | "split"
            | "training"
            | "device"
            | "model_name"
            | "labels"
            | "kind"
            | "backtest"
            | "tune"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn submissions_are_refused_by_field_or_accepted(
        s in any_kind(std::env::temp_dir().join("statecast-props.csv").display().to_string())
    ) {
        std::fs::write(std::env::temp_dir().join("statecast-props.csv"), "date,a\n").unwrap();
        let roots = AllowedRoots::new([std::env::temp_dir()], "dataset files", "--data-root").unwrap();
        match std::panic::catch_unwind(|| s.validate(&roots, &JobLimits::default())) {
            Err(_) => prop_assert!(false, "validate panicked on {s:?}"),
            Ok(Ok(spec)) => {
                let config = spec.family.default_config(spec.lookback, spec.horizon);
                prop_assert!(config.with_overrides(spec.model_overrides.as_ref()).is_ok());
            }
            Ok(Err(Error::InvalidArgument { field, reason })) => {
                prop_assert!(is_request_field(&field), "field {field:?} ({reason})");
                prop_assert!(!reason.is_empty());
            }
            // Sizes beyond the server's limits name the setting that refused them.
            Ok(Err(Error::ResourceExhausted { reason })) => {
                prop_assert!(reason.contains("--max-"), "{reason}");
            }
            Ok(Err(other)) => prop_assert!(false, "not INVALID_ARGUMENT: {other}"),
        }
    }
}
