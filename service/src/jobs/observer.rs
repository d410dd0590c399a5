//! [`JobObserver`]: turns training events into [`Progress`] snapshots for watchers, stores the
//! epoch history, and stops the run when the job is cancelled.
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::Connection;
use statecast_models::train::{BatchProgress, EpochMetrics, TrainObserver, TrainStart};
use tokio::sync::watch;

use super::store;
use super::types::{EpochRecord, JobId, JobState, Progress};

/// Observes the training run of one job.
#[derive(Debug)]
pub(super) struct JobObserver {
    id: JobId,
    cancel: Arc<AtomicBool>,
    progress: Arc<watch::Sender<Progress>>,
    db: Arc<Mutex<Connection>>,
    history: Vec<EpochRecord>,
    /// When this run started and the global step it started at (for the ETA).
    run_start: Option<(Instant, usize)>,
    current: Progress,
}

impl JobObserver {
    /// An observer of job `id`, continuing `history` (epochs done before a restart).
    pub(super) fn new(
        id: JobId,
        cancel: Arc<AtomicBool>,
        progress: Arc<watch::Sender<Progress>>,
        db: Arc<Mutex<Connection>>,
        history: Vec<EpochRecord>,
    ) -> Self {
        let mut current = Progress::initial(id, JobState::Running);
        current.val_loss = history.last().and_then(|h| h.val_loss);
        Self {
            id,
            cancel,
            progress,
            db,
            history,
            run_start: None,
            current,
        }
    }

    fn publish(&self) {
        self.progress.send_replace(self.current.clone());
    }

    fn persist(&self, resumed_from: Option<usize>) {
        let conn = self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = store::set_progress(&conn, &self.current)
            .and_then(|()| store::set_history(&conn, self.id, &self.history, resumed_from));
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not store job progress");
        }
    }

    fn control(&self) -> ControlFlow<()> {
        if self.cancel.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl TrainObserver for JobObserver {
    fn on_start(&mut self, start: &TrainStart) {
        let done = start.resumed_from.unwrap_or(0);
        self.history.truncate(done);
        self.run_start = Some((Instant::now(), done * start.steps_per_epoch));
        self.current.epochs = start.epochs;
        self.current.steps_per_epoch = start.steps_per_epoch;
        self.current.epoch = done;
        if let Some(from) = start.resumed_from {
            tracing::info!(from_epoch = from, "job resumes from its checkpoint");
            self.current.message = format!("resumed from epoch {from}");
        }
        self.persist(start.resumed_from);
        self.publish();
    }

    fn on_epoch_start(&mut self, epoch: usize, _lr: f64) {
        self.current.epoch = epoch;
        self.current.step = 0;
        self.publish();
    }

    fn on_batch_end(&mut self, p: &BatchProgress) -> ControlFlow<()> {
        self.current.epoch = p.epoch;
        self.current.step = p.batch;
        self.current.train_loss = p.loss;
        if let Some((t0, first_step)) = self.run_start {
            let done = p.step.saturating_sub(first_step).max(1);
            let total = self.current.epochs * self.current.steps_per_epoch;
            let left = total.saturating_sub(p.step);
            self.current.eta_s = t0.elapsed().as_secs_f64() / done as f64 * left as f64;
        }
        self.publish();
        self.control()
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, _improved: bool) -> ControlFlow<()> {
        self.history.push(EpochRecord {
            epoch: m.epoch,
            train_loss: m.train_loss,
            val_loss: m.val_loss,
            seconds: m.seconds,
        });
        self.current.epoch = m.epoch;
        self.current.train_loss = m.train_loss;
        self.current.val_loss = m.val_loss;
        tracing::info!(epoch = m.epoch, train_loss = m.train_loss, val_loss = ?m.val_loss, "job epoch done");
        self.persist(None);
        self.publish();
        self.control()
    }
}
