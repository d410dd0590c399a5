//! Training engine tests on `Device::flex()`: loss goes down, early stopping, checkpoints and
//! resume equivalence, observers.
use std::ops::ControlFlow;

use burn::prelude::*;

use super::testdata::{Data, data};
use super::*;
use crate::baseline::{Linear, LinearConfig, RepeatConfig};
use crate::error::Error;
use crate::forecaster::Forecaster;
use crate::spacetime::SpaceTimeConfig;

const L: usize = 32;
const H: usize = 8;

fn small() -> Data {
    data(2, 2, 480, L, H)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32")
}

/// Records every event; stops after epoch `stop_after_epoch` or after global step `stop_at_step`.
#[derive(Debug, Default)]
struct Recorder {
    starts: Vec<TrainStart>,
    epoch_starts: Vec<usize>,
    steps: Vec<usize>,
    epoch_ends: Vec<(usize, bool)>,
    finished: Vec<TrainEnd>,
    stop_after_epoch: Option<usize>,
    stop_at_step: Option<usize>,
}

impl TrainObserver for Recorder {
    fn on_start(&mut self, start: &TrainStart) {
        self.starts.push(start.clone());
    }
    fn on_epoch_start(&mut self, epoch: usize, _lr: f64) {
        self.epoch_starts.push(epoch);
    }
    fn on_batch_end(&mut self, p: &BatchProgress) -> ControlFlow<()> {
        self.steps.push(p.step);
        if self.stop_at_step == Some(p.step) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
    fn on_epoch_end(&mut self, m: &EpochMetrics, improved: bool) -> ControlFlow<()> {
        self.epoch_ends.push((m.epoch, improved));
        if self.stop_after_epoch == Some(m.epoch) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
    fn on_finish(&mut self, end: &TrainEnd) {
        self.finished.push(end.clone());
    }
}

fn linear_cfg() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 32,
        lr: 1e-2,
        min_lr: 1e-4,
        warmup_epochs: 1,
        patience: None,
        seed: 3,
        max_batches_per_epoch: Some(6),
        ..TrainConfig::default()
    }
}

#[test]
fn linear_training_reduces_val_loss() {
    let d = small();
    let dev = Device::flex();
    let model = LinearConfig::new(L, H).init(&dev);
    let before = evaluate_mse(&model, &d.val, 64, &dev).unwrap();
    let repeat = evaluate_mse(&RepeatConfig::new(L, H).init(&dev), &d.val, 64, &dev).unwrap();
    let cfg = TrainConfig {
        epochs: 6,
        max_batches_per_epoch: None,
        ..linear_cfg()
    };
    let out = fit(model, &d.train, Some(&d.val), &cfg, &dev, None, &mut NoopObserver).unwrap();
    let after = evaluate_mse(&out.model, &d.val, 64, &dev).unwrap();
    assert_eq!(out.history.len(), 6);
    assert!((out.best_val_loss.unwrap() - after).abs() < 1e-6 * after);
    assert!(after < 0.5 * before, "val MSE {before} -> {after}");
    assert!(after < repeat, "NLinear {after} should beat Repeat {repeat}");
    let first = out.history[0].train_loss;
    let last = out.history.last().unwrap().train_loss;
    assert!(last < first, "train loss {first} -> {last}");
    assert!(
        !out.model.map.weight.val().device().is_autodiff(),
        "returned model is in inference mode"
    );
}

fn tiny_spacetime() -> SpaceTimeConfig {
    SpaceTimeConfig::new(L, H)
        .with_d_model(8)
        .with_state_dim(8)
        .with_n_encoder_blocks(1)
        .with_first_n_kernels(4)
        .with_first_n_heads(2)
        .with_n_kernels(8)
        .with_max_avg_window(16)
        .with_dropout(0.0)
}

#[test]
fn tiny_spacetime_training_reduces_val_loss() {
    let d = small();
    let dev = Device::flex();
    let model = tiny_spacetime().init(&dev);
    let before = evaluate_mse(&model, &d.val, 64, &dev).unwrap();
    let cfg = TrainConfig {
        epochs: 6,
        batch_size: 16,
        lr: 1e-2,
        warmup_epochs: 0,
        max_batches_per_epoch: Some(20),
        ..linear_cfg()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = fit(
        model,
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut NoopObserver,
    )
    .unwrap();
    let after = out.best_val_loss.unwrap();
    let sps: Vec<f64> = out.history.iter().map(|m| m.samples_per_s).collect();
    let vals: Vec<f64> = out.history.iter().map(|m| m.val_loss.unwrap()).collect();
    eprintln!("tiny SpaceTime: val MSE {before:.4} -> {vals:.4?}; samples/s per epoch {sps:.0?}");
    assert!(after < 0.8 * before, "val MSE {before} -> {after}");
    assert!(dir.path().join("last").join(checkpoint::OPTIMIZER_FILE).is_file());
    assert!(dir.path().join("best").join(checkpoint::MODEL_FILE).is_file());
}

#[test]
fn early_stopping_with_patience_one() {
    // Repeat has no parameters: its validation loss never improves after epoch 1.
    let d = small();
    let dev = Device::flex();
    let cfg = TrainConfig {
        epochs: 10,
        patience: Some(1),
        ..linear_cfg()
    };
    let mut rec = Recorder::default();
    let out = fit(
        RepeatConfig::new(L, H).init(&dev),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        None,
        &mut rec,
    )
    .unwrap();
    assert!(out.stopped_early);
    assert!(!out.interrupted);
    assert_eq!(out.history.len(), 2);
    assert_eq!(out.best_epoch, 1);
    assert_eq!(out.history[0].val_loss, out.history[1].val_loss);
    assert_eq!(rec.epoch_ends, vec![(1, true), (2, false)]);
    assert!(rec.finished[0].stopped_early);
}

fn weights(m: &Linear) -> Vec<f32> {
    let mut w = host(m.map.weight.val());
    w.extend(host(m.map.bias.as_ref().unwrap().val()));
    w
}

fn assert_same_run(a: &[EpochMetrics], b: &[EpochMetrics]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.epoch, y.epoch);
        assert!(
            (x.train_loss - y.train_loss).abs() <= 1e-6,
            "epoch {}: {x:?} vs {y:?}",
            x.epoch
        );
        assert!(
            (x.val_loss.unwrap() - y.val_loss.unwrap()).abs() <= 1e-6,
            "epoch {}: {x:?} vs {y:?}",
            x.epoch
        );
        assert_eq!(x.lr, y.lr);
    }
}

fn last_weights(dir: &std::path::Path, like: &Linear) -> Vec<f32> {
    weights(&checkpoint::load_model(&dir.join(checkpoint::LAST_DIR), like.clone()).unwrap())
}

#[test]
fn resume_after_interruption_equals_uninterrupted_run() {
    let d = small();
    let dev = Device::flex();
    let cfg = linear_cfg();
    let init = LinearConfig::new(L, H).init(&dev);

    let full_dir = tempfile::tempdir().unwrap();
    let full = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(full_dir.path()),
        &mut NoopObserver,
    )
    .unwrap();
    assert_eq!(full.resumed_from, None);

    // Run 1: killed after epoch 2 (the observer stops it; the checkpoint of epoch 2 is written).
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder {
        stop_after_epoch: Some(2),
        ..Recorder::default()
    };
    let part = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut rec,
    )
    .unwrap();
    assert!(part.interrupted);
    assert_eq!(part.history.len(), 2);
    assert_same_run(&part.history, &full.history[..2]);

    // Run 2: started again with a differently initialised model; everything comes from `last/`.
    let other = LinearConfig::new(L, H).init(&dev);
    let mut rec = Recorder::default();
    let rest = fit(
        other,
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut rec,
    )
    .unwrap();
    assert_eq!(rest.resumed_from, Some(2));
    assert_eq!(rec.epoch_starts, vec![3, 4], "continues at epoch 3");
    assert_eq!(rec.starts[0].resumed_from, Some(2));
    assert_eq!(
        *rec.steps.first().unwrap(),
        2 * 6 + 1,
        "the schedule continues at step 13"
    );
    assert!(!rest.interrupted);
    assert_same_run(&rest.history, &full.history);
    assert_eq!(rest.best_epoch, full.best_epoch);

    let (a, b) = (weights(&full.model), weights(&rest.model));
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-5, "best weights differ by {max_diff}");
    let (a, b) = (
        last_weights(full_dir.path(), &init),
        last_weights(dir.path(), &init),
    );
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-5, "final weights differ by {max_diff}");

    // Run 3: the run is complete; fitting again returns the best model without training.
    let mut rec = Recorder::default();
    let again = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut rec,
    )
    .unwrap();
    assert_eq!(again.resumed_from, Some(4));
    assert!(rec.epoch_starts.is_empty());
    assert_eq!(weights(&again.model), weights(&rest.model));
}

#[test]
fn kill_mid_epoch_resumes_from_last_complete_epoch() {
    let d = small();
    let dev = Device::flex();
    let cfg = linear_cfg();
    let init = LinearConfig::new(L, H).init(&dev);
    let dir = tempfile::tempdir().unwrap();
    // Stop in the middle of epoch 3 (steps 13..=18): the partial epoch is discarded.
    let mut rec = Recorder {
        stop_at_step: Some(15),
        ..Recorder::default()
    };
    let part = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut rec,
    )
    .unwrap();
    assert!(part.interrupted);
    assert_eq!(part.history.len(), 2);
    let mut rec = Recorder::default();
    let rest = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut rec,
    )
    .unwrap();
    assert_eq!(rest.resumed_from, Some(2));
    assert_eq!(rec.epoch_starts, vec![3, 4]);
    let full = fit(init, &d.train, Some(&d.val), &cfg, &dev, None, &mut NoopObserver).unwrap();
    assert_same_run(&rest.history, &full.history);
}

#[test]
fn resume_with_another_config_is_refused() {
    let d = small();
    let dev = Device::flex();
    let cfg = TrainConfig {
        epochs: 1,
        ..linear_cfg()
    };
    let dir = tempfile::tempdir().unwrap();
    let model = LinearConfig::new(L, H).init(&dev);
    fit(
        model.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut NoopObserver,
    )
    .unwrap();
    let changed = TrainConfig {
        lr: 0.5,
        ..cfg.clone()
    };
    let err = fit(
        model.clone(),
        &d.train,
        Some(&d.val),
        &changed,
        &dev,
        Some(dir.path()),
        &mut NoopObserver,
    )
    .unwrap_err();
    assert!(matches!(err, Error::ResumeMismatch { .. }), "{err}");
    // More epochs is allowed: the run is extended.
    let longer = TrainConfig { epochs: 2, ..cfg };
    let out = fit(
        model,
        &d.train,
        Some(&d.val),
        &longer,
        &dev,
        Some(dir.path()),
        &mut NoopObserver,
    )
    .unwrap();
    assert_eq!((out.resumed_from, out.history.len()), (Some(1), 2));
}

#[test]
fn bad_input_is_an_error() {
    let d = small();
    let dev = Device::flex();
    let wrong = LinearConfig::new(L + 1, H).init(&dev);
    let err = fit(
        wrong,
        &d.train,
        None,
        &linear_cfg(),
        &dev,
        None,
        &mut NoopObserver,
    )
    .unwrap_err();
    assert!(matches!(err, Error::DataMismatch { .. }), "{err}");
    let bad = TrainConfig {
        batch_size: 0,
        ..linear_cfg()
    };
    let model = LinearConfig::new(L, H).init(&dev);
    let err = fit(model, &d.train, None, &bad, &dev, None, &mut NoopObserver).unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
}

#[test]
fn without_validation_the_last_model_is_returned() {
    let d = small();
    let dev = Device::flex();
    let cfg = TrainConfig {
        epochs: 2,
        patience: Some(1),
        ..linear_cfg()
    };
    let model = LinearConfig::new(L, H).init(&dev);
    let mut progress = ProgressBarObserver::with_target(indicatif::ProgressDrawTarget::hidden());
    let mut tracing_obs = TracingObserver::default();
    let mut rec = Recorder::default();
    let mut all = Observers(vec![&mut progress, &mut tracing_obs, &mut rec]);
    let out = fit(model, &d.train, None, &cfg, &dev, None, &mut all).unwrap();
    assert_eq!(
        (out.best_epoch, out.stopped_early, out.best_val_loss),
        (2, false, None)
    );
    assert_eq!(rec.steps, (1..=12).collect::<Vec<_>>());
    assert_eq!(rec.starts[0].steps_per_epoch, 6);
    assert!(
        out.history
            .iter()
            .all(|m| m.val_loss.is_none() && m.samples_per_s > 0.0)
    );
}

#[test]
fn epoch_order_is_a_seeded_permutation() {
    let a = epoch_order(100, 1, 1, true);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    assert_eq!(a, epoch_order(100, 1, 1, true));
    assert_ne!(a, epoch_order(100, 1, 2, true));
    assert_ne!(a, epoch_order(100, 2, 1, true));
    assert_eq!(epoch_order(5, 1, 1, false), vec![0, 1, 2, 3, 4]);
}

#[test]
fn train_config_json_defaults() {
    let cfg: TrainConfig = serde_json::from_str(r#"{"epochs": 3}"#).unwrap();
    assert_eq!(
        cfg,
        TrainConfig {
            epochs: 3,
            ..TrainConfig::default()
        }
    );
    assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 3}"#).is_err());
    TrainConfig::default().validate().unwrap();
}

#[test]
fn forecaster_trait_is_object_of_fit_for_spacetime() {
    // The SpaceTime Forecaster impl forecasts [B, H, V] and reconstructs [B, L, V].
    let dev = Device::flex();
    let m = tiny_spacetime().init(&dev);
    let x = Tensor::<3>::zeros([2, L, 3], &dev);
    assert_eq!(Forecaster::forecast(&m, x.clone()).dims(), [2, H, 3]);
    assert_eq!(
        m.reconstructor()
            .expect("SpaceTime reconstructs")
            .reconstruct(x)
            .dims(),
        [2, L, 3]
    );
}

#[test]
fn tiny_spacetime_resume_matches_uninterrupted_run() {
    let d = data(1, 2, 240, L, H);
    let dev = Device::flex();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 8,
        warmup_epochs: 1,
        max_batches_per_epoch: Some(3),
        ..linear_cfg()
    };
    let init = tiny_spacetime().init(&dev);
    let x = d.val.batch(0..4, &dev).x;
    let full = fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        None,
        &mut NoopObserver,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stop = Recorder {
        stop_after_epoch: Some(1),
        ..Recorder::default()
    };
    fit(
        init.clone(),
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut stop,
    )
    .unwrap();
    let rest = fit(
        init,
        &d.train,
        Some(&d.val),
        &cfg,
        &dev,
        Some(dir.path()),
        &mut NoopObserver,
    )
    .unwrap();
    assert_eq!(rest.resumed_from, Some(1));
    assert_same_run(&rest.history, &full.history);
    let (a, b) = (host(full.model.forecast(x.clone())), host(rest.model.forecast(x)));
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-5, "forecasts differ by {max_diff}");
}
