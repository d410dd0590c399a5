//! The training loop: [`fit`] any [`Forecaster`] on a [`WindowDataset`].
//!
//! ```text
//! for epoch in resumed+1 ..= epochs:
//!     permutation of the training windows from ChaCha8(seed, epoch)   (backend RNG seeded alike)
//!     for each batch (≤ max_batches_per_epoch):
//!         loss = model.loss(x, y) ─backward─> AdamW step with lr(step)  (warm-up + cosine)
//!     val_loss = masked MSE of model.valid().forecast(x) on the validation windows
//!     write checkpoint_dir/last/ (and best/ when val_loss improved)
//!     stop when val_loss has not improved for `patience` epochs
//! ```
//!
//! The returned model is the best by validation loss (the last one without a validation set),
//! in inference mode (`valid()`, plain device).
use std::path::Path;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statecast_pipelines::window::{WindowBatch, WindowDataset};

use super::checkpoint::{self, CHECKPOINT_FORMAT_VERSION, CheckpointPaths, TrainerState};
use super::config::TrainConfig;
use super::observer::{BatchProgress, TrainEnd, TrainObserver, TrainStart};
use super::schedule::LrSchedule;
use crate::error::{Error, Result};
use crate::forecaster::Forecaster;
use crate::fsutil;

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Mean training loss ([`Forecaster::loss`]) over the epoch's windows.
    pub train_loss: f64,
    /// Validation loss (masked MSE of the forecast on scaled data), when there is a validation set.
    pub val_loss: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch (training and validation), seconds.
    pub seconds: f64,
    /// Training throughput: windows per second of training time (validation excluded).
    pub samples_per_s: f64,
}

/// The result of [`fit`].
#[derive(Debug)]
pub struct TrainOutcome<M> {
    /// The best model by validation loss (the last one without validation), in inference mode
    /// (`valid()`) on the plain device.
    pub model: M,
    /// Metrics of every completed epoch, including those before a resume.
    pub history: Vec<EpochMetrics>,
    /// Epoch of `model` (0 when no epoch completed).
    pub best_epoch: usize,
    /// Validation loss of `model`, when there was a validation set.
    pub best_val_loss: Option<f64>,
    /// Early stopping ended the run.
    pub stopped_early: bool,
    /// An observer stopped the run (see [`TrainObserver`]); resume with the same checkpoint dir.
    pub interrupted: bool,
    /// Epochs completed by the checkpoint this run resumed from.
    pub resumed_from: Option<usize>,
    /// Wall time of this call, seconds.
    pub seconds: f64,
}

/// The seed of epoch `epoch`'s random streams (SplitMix64 of the run seed and the epoch).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The window order of one epoch: a ChaCha8 shuffle seeded by `(seed, epoch)`, or `0..n`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(seed, epoch)));
    }
    order
}

fn check_geometry<M: Forecaster>(model: &M, data: &WindowDataset, what: &str) -> Result<()> {
    let spec = data.index().spec();
    if spec.lookback != model.lookback() || spec.horizon != model.horizon() {
        return Err(Error::DataMismatch {
            reason: format!(
                "the {what} windows are L={} H={}, the model expects L={} H={}",
                spec.lookback,
                spec.horizon,
                model.lookback(),
                model.horizon()
            ),
        });
    }
    Ok(())
}

/// Masked mean squared error of `model.forecast` over all windows of `data` (missing targets
/// excluded), on scaled data. `model` should be in inference mode on a plain device.
///
/// # Errors
/// [`Error::DataMismatch`] for a window geometry other than the model's or an empty dataset.
pub fn evaluate_mse<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    batch_size: usize,
    device: &Device,
) -> Result<f64> {
    check_geometry(model, data, "evaluation")?;
    let (mut sse, mut count) = (0.0f64, 0.0f64);
    for range in data.index().batches(batch_size.max(1), false) {
        let WindowBatch { x, y, y_mask, .. } = data.batch(range, device);
        let err = (model.forecast(x) - y).square() * y_mask.clone();
        sse += err.sum().into_scalar::<f32>() as f64;
        count += y_mask.sum().into_scalar::<f32>() as f64;
    }
    if count == 0.0 {
        return Err(Error::DataMismatch {
            reason: "the evaluation set has no observed target value".into(),
        });
    }
    Ok(sse / count)
}

struct Resumed<M> {
    model: M,
    optim: ModuleOptimizer,
    best: Option<M>,
    state: TrainerState,
}

fn resume<M: Forecaster>(
    paths: &CheckpointPaths,
    model: M,
    optim: ModuleOptimizer,
    cfg: &TrainConfig,
) -> Result<Option<Resumed<M>>> {
    let Some(last) = fsutil::resolve_dir(&paths.last) else {
        return Ok(None);
    };
    let mut state = checkpoint::read_state(&last)?;
    if let Some(reason) = checkpoint::resume_conflict(&state.config, cfg) {
        return Err(Error::ResumeMismatch { path: last, reason });
    }
    let model = checkpoint::load_model(&last, model)?;
    let optim = checkpoint::load_optimizer(&last, optim)?;
    let best = match fsutil::resolve_dir(&paths.best) {
        Some(best) if state.best_val_loss.is_some() => {
            Some(checkpoint::load_model(&best, model.clone())?.valid())
        }
        _ => None,
    };
    // A changed `epochs`/`patience` applies from now on.
    state.config = cfg.clone();
    Ok(Some(Resumed {
        model,
        optim,
        best,
        state,
    }))
}

/// Train `model` on `train`, validating on `val` after every epoch.
///
/// * `device`: the plain device; training runs on `device.autodiff()`, validation on `device`.
/// * `checkpoint_dir`: where `last/` and `best/` are written after every epoch; if it already
///   holds a `last/`, the run **resumes** from it (weights, AdamW state, schedule position,
///   early-stopping counter, history) and `model` only supplies the architecture. A finished run
///   (all epochs done or stopped early) returns its best model at once.
/// * Validation loss: masked MSE of [`Forecaster::forecast`] on the scaled validation windows
///   ([`evaluate_mse`]), which is the benchmark metric, not the training objective
///   [`Forecaster::loss`] (SpaceTime's includes auxiliary terms).
/// * A model without parameters (the `Repeat` baseline) is only evaluated.
///
/// # Errors
/// [`Error::InvalidConfig`] for a bad `cfg`; [`Error::DataMismatch`] when a dataset's window
/// geometry differs from the model's or `train` has no window; checkpoint I/O errors;
/// [`Error::ResumeMismatch`] when the checkpoint was written with another configuration;
/// [`Error::InvalidConfig`] naming the step when the training loss becomes non-finite.
pub fn fit<M: Forecaster>(
    model: M,
    train: &WindowDataset,
    val: Option<&WindowDataset>,
    cfg: &TrainConfig,
    device: &Device,
    checkpoint_dir: Option<&Path>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<M>> {
    let started = Instant::now();
    cfg.validate()?;
    check_geometry(&model, train, "training")?;
    if let Some(v) = val {
        check_geometry(&model, v, "validation")?;
    }
    let n_train = train.len_windows();
    if n_train == 0 {
        return Err(Error::DataMismatch {
            reason: "the training set has no window (series shorter than lookback + horizon?)".into(),
        });
    }
    let bs = cfg.batch_size;
    let steps_per_epoch = n_train
        .div_ceil(bs)
        .min(cfg.max_batches_per_epoch.unwrap_or(usize::MAX));
    let schedule = LrSchedule::new(cfg, steps_per_epoch);
    let optim: ModuleOptimizer = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .with_grad_clipping(cfg.grad_clip_norm.map(|c| GradientClippingConfig::Norm(c as f32)))
        .init();
    let paths = checkpoint_dir.map(CheckpointPaths::new);

    let fresh_state = || TrainerState {
        format_version: CHECKPOINT_FORMAT_VERSION,
        config: cfg.clone(),
        epochs_done: 0,
        step: 0,
        steps_per_epoch,
        best_val_loss: None,
        best_epoch: 0,
        epochs_since_best: 0,
        stopped_early: false,
        rng: "ChaCha8 shuffle and backend seed re-derived from (seed, epoch) each epoch".into(),
        history: Vec::new(),
    };
    let (model, mut optim, mut best, mut state, resumed_from) = match paths
        .as_ref()
        .map(|p| resume(p, model.clone(), optim.clone(), cfg))
        .transpose()?
        .flatten()
    {
        Some(r) => {
            let done = r.state.epochs_done;
            (r.model, r.optim, r.best, r.state, Some(done))
        }
        None => (model, optim, None, fresh_state(), None),
    };

    let trainable = model.num_params() > 0;
    let num_params = model.num_params();
    observer.on_start(&TrainStart {
        epochs: cfg.epochs,
        steps_per_epoch,
        train_windows: n_train,
        val_windows: val.map_or(0, WindowDataset::len_windows),
        resumed_from,
        num_params,
    });

    let ad = device.clone().autodiff();
    let mut model = model.fork(&ad).train();
    let batcher = train.batcher();
    let mut interrupted = false;

    'epochs: while state.epochs_done < cfg.epochs && !state.stopped_early {
        let epoch = state.epochs_done + 1;
        let t0 = Instant::now();
        let seed = epoch_seed(cfg.seed, epoch);
        crate::device::reseed(&ad, seed);
        let order = epoch_order(n_train, cfg.seed, epoch, cfg.shuffle);
        observer.on_epoch_start(epoch, schedule.lr_at(state.step));
        let (mut loss_sum, mut seen, mut lr) = (0.0f64, 0usize, schedule.lr_at(state.step));
        let mut step = state.step;
        for (b, chunk) in order.chunks(bs).take(steps_per_epoch).enumerate() {
            let items = chunk
                .iter()
                .map(|&i| train.item(i).expect("window index within the dataset"))
                .collect();
            let batch = burn::data::dataloader::batcher::Batcher::batch(&batcher, items, &ad);
            lr = schedule.lr_at(step);
            let loss = model.loss(batch.x, batch.y);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            if !loss_value.is_finite() {
                return Err(Error::invalid(
                    "training run",
                    format!(
                        "the loss became {loss_value} at epoch {epoch}, step {}; lower the learning rate",
                        step + 1
                    ),
                ));
            }
            if trainable {
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
            }
            step += 1;
            loss_sum += loss_value * chunk.len() as f64;
            seen += chunk.len();
            let progress = BatchProgress {
                epoch,
                batch: b + 1,
                batches: steps_per_epoch,
                step,
                loss: loss_value,
                lr,
            };
            if observer.on_batch_end(&progress).is_break() {
                interrupted = true;
                break 'epochs;
            }
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        let snapshot = model.valid();
        let val_loss = val.map(|v| evaluate_mse(&snapshot, v, bs, device)).transpose()?;
        let improved = match (val_loss, state.best_val_loss) {
            (Some(v), Some(best)) => v < best,
            (Some(_), None) => true,
            (None, _) => true,
        };
        state.step = step;
        state.steps_per_epoch = steps_per_epoch;
        state.epochs_done = epoch;
        if improved {
            state.best_val_loss = val_loss;
            state.best_epoch = epoch;
            state.epochs_since_best = 0;
        } else {
            state.epochs_since_best += 1;
        }
        state.stopped_early = val.is_some() && cfg.patience.is_some_and(|p| state.epochs_since_best >= p);
        state.history.push(EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
            samples_per_s: seen as f64 / train_seconds.max(1e-9),
        });
        if let Some(p) = &paths {
            if improved && val.is_some() {
                checkpoint::write(&p.best, &snapshot, None, &state)?;
            }
            checkpoint::write(&p.last, &model, Some(&optim), &state)?;
        }
        if improved {
            best = Some(snapshot);
        }
        let metrics = state.history.last().expect("just pushed").clone();
        if observer.on_epoch_end(&metrics, improved).is_break() {
            interrupted = !state.stopped_early && state.epochs_done < cfg.epochs;
            break;
        }
    }

    let seconds = started.elapsed().as_secs_f64();
    observer.on_finish(&TrainEnd {
        epochs_done: state.epochs_done,
        best_epoch: state.best_epoch,
        best_val_loss: state.best_val_loss,
        stopped_early: state.stopped_early,
        interrupted,
        seconds,
    });
    let (model, best_epoch) = match best {
        Some(b) => (b, state.best_epoch),
        None => (model.valid(), state.epochs_done),
    };
    Ok(TrainOutcome {
        model,
        history: state.history,
        best_epoch,
        best_val_loss: state.best_val_loss,
        stopped_early: state.stopped_early,
        interrupted,
        resumed_from,
        seconds,
    })
}

/// Window count of a dataset (`Dataset::len` without importing the trait).
trait LenWindows {
    fn len_windows(&self) -> usize;
}

impl LenWindows for WindowDataset {
    fn len_windows(&self) -> usize {
        self.index().len()
    }
}
