//! Watching a training run: the [`TrainObserver`] trait and three implementations (nothing, a
//! terminal progress bar, `tracing` events). An observer can also stop the run (user cancel,
//! job deadline) by returning [`ControlFlow::Break`].
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::engine::EpochMetrics;

/// What a run is about to do, given to [`TrainObserver::on_start`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainStart {
    /// Epochs of the whole run (including those done before a resume).
    pub epochs: usize,
    /// Optimisation steps per epoch.
    pub steps_per_epoch: usize,
    /// Training windows.
    pub train_windows: usize,
    /// Validation windows (0 without a validation set).
    pub val_windows: usize,
    /// Epochs already done by the checkpoint this run resumes from.
    pub resumed_from: Option<usize>,
    /// Trainable parameters of the model.
    pub num_params: usize,
}

/// One optimisation step, given to [`TrainObserver::on_batch_end`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Batch within the epoch (1-based).
    pub batch: usize,
    /// Batches in this epoch.
    pub batches: usize,
    /// Global optimisation step (1-based, counted over the whole run).
    pub step: usize,
    /// Training loss of this batch.
    pub loss: f64,
    /// Learning rate used for this step.
    pub lr: f64,
}

/// How a run ended, given to [`TrainObserver::on_finish`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainEnd {
    /// Epochs completed (including those before a resume).
    pub epochs_done: usize,
    /// Epoch with the best validation loss (or the last epoch without validation).
    pub best_epoch: usize,
    /// Best validation loss, when there was a validation set.
    pub best_val_loss: Option<f64>,
    /// Early stopping ended the run.
    pub stopped_early: bool,
    /// An observer ended the run.
    pub interrupted: bool,
    /// Wall time of this call of `fit`, in seconds.
    pub seconds: f64,
}

/// Receives the events of a training run. Every method has a do-nothing default.
pub trait TrainObserver {
    /// Before the first epoch of this call.
    fn on_start(&mut self, _start: &TrainStart) {}

    /// At the start of epoch `epoch` (1-based), with its first learning rate.
    fn on_epoch_start(&mut self, _epoch: usize, _lr: f64) {}

    /// After every optimisation step. `Break` stops the run at once: the partial epoch is
    /// discarded and the last checkpoint stays at the previous epoch.
    fn on_batch_end(&mut self, _progress: &BatchProgress) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// After an epoch's validation and checkpoint; `improved` when the validation loss is the best
    /// so far. `Break` stops the run (the checkpoint of this epoch is already written).
    fn on_epoch_end(&mut self, _metrics: &EpochMetrics, _improved: bool) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// Once, when the run ends (normally, early, or interrupted).
    fn on_finish(&mut self, _end: &TrainEnd) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl TrainObserver for NoopObserver {}

/// Forwards every event to several observers (stops when any of them asks to).
#[derive(Default)]
pub struct Observers<'a>(pub Vec<&'a mut dyn TrainObserver>);

impl std::fmt::Debug for Observers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl TrainObserver for Observers<'_> {
    fn on_start(&mut self, start: &TrainStart) {
        self.0.iter_mut().for_each(|o| o.on_start(start));
    }

    fn on_epoch_start(&mut self, epoch: usize, lr: f64) {
        self.0.iter_mut().for_each(|o| o.on_epoch_start(epoch, lr));
    }

    fn on_batch_end(&mut self, progress: &BatchProgress) -> ControlFlow<()> {
        // Every observer sees the event, even after one asked to stop.
        let mut stop = false;
        for o in &mut self.0 {
            stop |= o.on_batch_end(progress).is_break();
        }
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn on_epoch_end(&mut self, metrics: &EpochMetrics, improved: bool) -> ControlFlow<()> {
        let mut stop = false;
        for o in &mut self.0 {
            stop |= o.on_epoch_end(metrics, improved).is_break();
        }
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn on_finish(&mut self, end: &TrainEnd) {
        self.0.iter_mut().for_each(|o| o.on_finish(end));
    }
}

/// Logs the run with `tracing`: `info` per epoch and at start/finish, `debug` per batch (every
/// `batch_every` steps).
#[derive(Debug, Clone, Copy)]
pub struct TracingObserver {
    /// Log every n-th batch at `debug` level (0: never).
    pub batch_every: usize,
}

impl Default for TracingObserver {
    fn default() -> Self {
        Self { batch_every: 50 }
    }
}

impl TrainObserver for TracingObserver {
    fn on_start(&mut self, s: &TrainStart) {
        tracing::info!(
            epochs = s.epochs,
            steps_per_epoch = s.steps_per_epoch,
            train_windows = s.train_windows,
            val_windows = s.val_windows,
            resumed_from = ?s.resumed_from,
            num_params = s.num_params,
            "training started"
        );
    }

    fn on_batch_end(&mut self, p: &BatchProgress) -> ControlFlow<()> {
        if self.batch_every > 0 && p.step.is_multiple_of(self.batch_every) {
            tracing::debug!(
                epoch = p.epoch,
                batch = p.batch,
                step = p.step,
                loss = p.loss,
                lr = p.lr,
                "batch"
            );
        }
        ControlFlow::Continue(())
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, improved: bool) -> ControlFlow<()> {
        tracing::info!(
            epoch = m.epoch,
            train_loss = m.train_loss,
            val_loss = ?m.val_loss,
            lr = m.lr,
            seconds = m.seconds,
            samples_per_s = m.samples_per_s,
            improved,
            "epoch done"
        );
        ControlFlow::Continue(())
    }

    fn on_finish(&mut self, e: &TrainEnd) {
        tracing::info!(
            epochs_done = e.epochs_done,
            best_epoch = e.best_epoch,
            best_val_loss = ?e.best_val_loss,
            stopped_early = e.stopped_early,
            interrupted = e.interrupted,
            seconds = e.seconds,
            "training finished"
        );
    }
}

/// A terminal progress bar on stderr (`indicatif`): one bar over all steps of the run with the
/// epoch, step, running loss, learning rate and ETA; a line per epoch above it. Draws nothing
/// when stderr is not a terminal.
#[derive(Debug)]
pub struct ProgressBarObserver {
    bar: ProgressBar,
    epochs: usize,
    /// Mean training loss of the current epoch so far.
    running: (f64, usize),
}

impl Default for ProgressBarObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressBarObserver {
    /// A bar on stderr, hidden when stderr is not a terminal.
    pub fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self::with_target(target)
    }

    /// A bar drawing to `target` (`ProgressDrawTarget::hidden()` in tests).
    pub fn with_target(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            epochs: 0,
            running: (0.0, 0),
        }
    }
}

impl TrainObserver for ProgressBarObserver {
    fn on_start(&mut self, s: &TrainStart) {
        self.epochs = s.epochs;
        let done = s.resumed_from.unwrap_or(0);
        self.bar.set_length((s.epochs * s.steps_per_epoch) as u64);
        self.bar.set_position((done * s.steps_per_epoch) as u64);
        self.bar.reset_eta();
        self.bar.enable_steady_tick(Duration::from_millis(500));
        if let Some(e) = s.resumed_from {
            self.bar.println(format!("resuming after epoch {e}"));
        }
    }

    fn on_epoch_start(&mut self, epoch: usize, _lr: f64) {
        self.running = (0.0, 0);
        self.bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
    }

    fn on_batch_end(&mut self, p: &BatchProgress) -> ControlFlow<()> {
        self.running.0 += p.loss;
        self.running.1 += 1;
        self.bar.set_position(p.step as u64);
        self.bar.set_message(format!(
            "loss {:.4}  lr {:.2e}",
            self.running.0 / self.running.1 as f64,
            p.lr
        ));
        ControlFlow::Continue(())
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, improved: bool) -> ControlFlow<()> {
        let val = m.val_loss.map(|v| format!("  val {v:.5}")).unwrap_or_default();
        self.bar.println(format!(
            "epoch {:>3}/{}  train {:.5}{val}{}  lr {:.2e}  {:.1}s  {:.0} samples/s",
            m.epoch,
            self.epochs,
            m.train_loss,
            if improved { " *" } else { "" },
            m.lr,
            m.seconds,
            m.samples_per_s
        ));
        ControlFlow::Continue(())
    }

    fn on_finish(&mut self, e: &TrainEnd) {
        let how = if e.interrupted {
            "interrupted"
        } else if e.stopped_early {
            "stopped early"
        } else {
            "done"
        };
        self.bar.finish_and_clear();
        if !self.bar.is_hidden() {
            eprintln!(
                "training {how} after {} epochs in {:.1}s; best epoch {}",
                e.epochs_done, e.seconds, e.best_epoch
            );
        }
    }
}
