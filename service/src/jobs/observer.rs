//! [`JobObserver`]: turns training events into [`Progress`] snapshots for watchers, stores the
//! epoch history (and, at most once a second, the step snapshot that watchers on other
//! servers read), copies each epoch's checkpoint to the object store in scale-out mode
//! ([`CheckpointSync`]), and stops the run when the job is cancelled.
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use statecast_models::train::{BatchProgress, EpochMetrics, TrainObserver, TrainStart};
use tokio::sync::watch;

use super::queue::JobQueue;
use super::types::{EpochRecord, JobId, JobState, Progress};
use crate::Result;
use crate::backend::Objects;

/// How often a step snapshot is stored for watchers on other servers.
const STORE_STEP_EVERY: Duration = Duration::from_secs(1);

/// Copies a job's checkpoint directory (`last/`, `best/`) to the object store after every
/// epoch, as `jobs/<id>/ckpt/a<attempt>e<epoch>/…` followed by the pointer
/// `jobs/<id>/ckpt/CURRENT` naming that directory (one atomic write), so a worker resuming the
/// job never sees half of one epoch's files and half of another's; and fetches it back before a
/// run. Each attempt writes only its own directories: a worker that lost its lease but has not
/// noticed yet can at worst point `CURRENT` at its own complete checkpoint, never mix its files
/// into the new holder's.
#[derive(Debug, Clone)]
pub(super) struct CheckpointSync {
    objects: Arc<Objects>,
    id: JobId,
    attempt: u32,
    local: PathBuf,
}

/// The epoch of a checkpoint directory name `a<attempt>e<epoch>`.
fn epoch_of(name: &str) -> Option<usize> {
    let (attempt, epoch) = name.strip_prefix('a')?.split_once('e')?;
    attempt.parse::<u32>().ok()?;
    epoch.parse().ok()
}

impl CheckpointSync {
    pub(super) fn new(objects: Arc<Objects>, id: JobId, attempt: u32, local: PathBuf) -> Self {
        Self {
            objects,
            id,
            attempt,
            local,
        }
    }

    fn pointer(&self) -> String {
        format!("jobs/{}/ckpt/CURRENT", self.id)
    }

    fn dir(&self, name: &str) -> String {
        format!("jobs/{}/ckpt/{name}", self.id)
    }

    /// Replace the local checkpoint directory with the stored one, if any; returns its epoch.
    pub(super) fn restore(&self) -> Result<Option<usize>> {
        let Some(pointer) = self.objects.get(&self.pointer())? else {
            return Ok(None);
        };
        let name = String::from_utf8_lossy(&pointer).trim().to_string();
        let Some(epoch) = epoch_of(&name) else {
            return Err(crate::Error::Internal(format!(
                "job {}: malformed checkpoint pointer",
                self.id
            )));
        };
        if self.local.exists() {
            std::fs::remove_dir_all(&self.local).map_err(|source| crate::Error::Io {
                context: format!("clearing {}", self.local.display()),
                source,
            })?;
        }
        self.objects.get_dir(&self.dir(&name), &self.local)?;
        tracing::info!(epoch, "fetched the job's checkpoint from the object store");
        Ok(Some(epoch))
    }

    /// Upload the local checkpoint of `epoch` and point at it; the previous one is deleted.
    fn save(&self, epoch: usize) -> Result<()> {
        let previous = self.objects.get(&self.pointer())?;
        let name = format!("a{}e{epoch}", self.attempt);
        self.objects.put_dir(&self.local, &self.dir(&name))?;
        self.objects.put(&self.pointer(), name.clone().into_bytes())?;
        if let Some(prev) = previous {
            let prev = String::from_utf8_lossy(&prev).trim().to_string();
            // Only this attempt's own older directory: another attempt's is not ours to delete.
            if prev != name && epoch_of(&prev).is_some() && prev.starts_with(&format!("a{}e", self.attempt)) {
                self.objects.delete_dir(&self.dir(&prev))?;
            }
        }
        Ok(())
    }

    /// Delete the stored checkpoints (the job ended).
    pub(super) fn discard(&self) {
        if let Err(e) = self.objects.delete_dir(&format!("jobs/{}", self.id)) {
            tracing::warn!(id = self.id, error = %e, "could not delete the job's stored checkpoints");
        }
    }
}

/// Observes the training run of one job.
#[derive(Debug)]
pub(super) struct JobObserver {
    id: JobId,
    cancel: Arc<AtomicBool>,
    progress: Arc<watch::Sender<Progress>>,
    queue: Arc<dyn JobQueue>,
    history: Vec<EpochRecord>,
    checkpoints: Option<CheckpointSync>,
    last_stored: Instant,
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
        queue: Arc<dyn JobQueue>,
        history: Vec<EpochRecord>,
    ) -> Self {
        let mut current = Progress::initial(id, JobState::Running);
        current.val_loss = history.last().and_then(|h| h.val_loss);
        Self {
            id,
            cancel,
            progress,
            queue,
            history,
            checkpoints: None,
            last_stored: Instant::now(),
            run_start: None,
            current,
        }
    }

    /// Also copy every epoch's checkpoint to the object store.
    pub(super) fn with_checkpoint_sync(mut self, sync: CheckpointSync) -> Self {
        self.checkpoints = Some(sync);
        self
    }

    fn publish(&self) {
        self.progress.send_replace(self.current.clone());
    }

    fn persist(&self, resumed_from: Option<usize>) {
        let stored = self
            .queue
            .set_progress(&self.current)
            .and_then(|()| self.queue.set_history(self.id, &self.history, resumed_from));
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
        if self.last_stored.elapsed() >= STORE_STEP_EVERY {
            self.last_stored = Instant::now();
            if let Err(e) = self.queue.set_progress(&self.current) {
                tracing::debug!(error = %e, "could not store a step snapshot");
            }
        }
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
        // The trainer wrote this epoch's checkpoint before calling here.
        if let Some(sync) = &self.checkpoints
            && let Err(e) = sync.save(m.epoch)
        {
            tracing::warn!(epoch = m.epoch, error = %e, "could not copy the checkpoint to the object store");
        }
        self.persist(None);
        self.publish();
        self.control()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_per_attempt_and_the_pointer_names_a_whole_one() {
        let tmp = tempfile::tempdir().unwrap();
        let objects =
            Arc::new(Objects::open(&format!("file://{}", tmp.path().join("store").display())).unwrap());
        let local = tmp.path().join("ckpt");
        std::fs::create_dir_all(local.join("last")).unwrap();
        let first = CheckpointSync::new(objects.clone(), 7, 1, local.clone());
        std::fs::write(local.join("last/w"), b"epoch 1").unwrap();
        first.save(1).unwrap();
        std::fs::write(local.join("last/w"), b"epoch 2").unwrap();
        first.save(2).unwrap();
        assert_eq!(objects.get("jobs/7/ckpt/CURRENT").unwrap().unwrap(), b"a1e2");
        assert!(
            objects.list("jobs/7/ckpt/a1e1").unwrap().is_empty(),
            "the previous one is deleted"
        );

        // The next attempt fetches epoch 2 into a fresh directory and writes its own names.
        let other = tmp.path().join("other");
        let second = CheckpointSync::new(objects.clone(), 7, 2, other.clone());
        assert_eq!(second.restore().unwrap(), Some(2));
        assert_eq!(std::fs::read(other.join("last/w")).unwrap(), b"epoch 2");
        second.save(3).unwrap();
        assert_eq!(objects.get("jobs/7/ckpt/CURRENT").unwrap().unwrap(), b"a2e3");
        // A stale first attempt that still saves writes only its own directory.
        first.save(3).unwrap();
        assert!(!objects.list("jobs/7/ckpt/a1e3").unwrap().is_empty());
        assert!(
            !objects.list("jobs/7/ckpt/a2e3").unwrap().is_empty(),
            "the new holder's stays"
        );
        assert_eq!(std::fs::read(other.join("last/w")).unwrap(), b"epoch 2");

        objects.put("jobs/7/ckpt/CURRENT", b"../../x".to_vec()).unwrap();
        assert!(second.restore().is_err());
        assert_eq!(epoch_of("a12e34"), Some(34));
        for bad in ["", "a", "ae1", "a1e", "b1e2", "a1e2/..", "12"] {
            assert_eq!(epoch_of(bad), None, "{bad}");
        }
        second.discard();
        assert!(objects.list("jobs/7").unwrap().is_empty());
    }
}
