//! [`TrainConfig`]: every setting of a training run, with documented defaults.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of one training run ([`super::fit`]).
///
/// Every field has a default, so a partial JSON object deserialises. The defaults follow the
/// SpaceTime reference recipe (AdamW, lr 1e-3, weight decay 1e-4, warm-up then cosine to 1e-5,
/// `docs/spacetime.md` §2.12) scaled down to a budget that suits a service: 50 epochs, warm-up 5,
/// patience 10 (the reference uses 500 / 10 / 20).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of passes over the training windows. Default 50.
    pub epochs: usize,
    /// Windows per optimisation step. Default 32.
    pub batch_size: usize,
    /// Peak learning rate (after warm-up). Default 1e-3.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay. Default 1e-5.
    pub min_lr: f64,
    /// AdamW decoupled weight decay. Default 1e-4.
    pub weight_decay: f64,
    /// Epochs of linear warm-up from `lr · 1e-3` to `lr` (per step), capped at `epochs`. Default 5;
    /// 0 disables.
    pub warmup_epochs: usize,
    /// Clip each parameter tensor's gradient to this L2 norm (burn's `GradientClipping::Norm`,
    /// per tensor, not one global norm); `None` disables clipping. Default 1.0.
    pub grad_clip_norm: Option<f64>,
    /// Stop when the validation loss has not improved for this many epochs; `None` disables early
    /// stopping. Ignored without a validation set. Default 10.
    pub patience: Option<usize>,
    /// Seed of the shuffling and of the backend RNG (dropout), re-derived every epoch from
    /// `(seed, epoch)` so that a resumed run draws exactly what an uninterrupted one does.
    /// Default 0.
    pub seed: u64,
    /// Shuffle the training windows every epoch. Default true.
    pub shuffle: bool,
    /// Cap on optimisation steps per epoch (a random subset of windows when shuffling); `None`
    /// uses every window. Default `None`.
    pub max_batches_per_epoch: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: 32,
            lr: 1e-3,
            min_lr: 1e-5,
            weight_decay: 1e-4,
            warmup_epochs: 5,
            grad_clip_norm: Some(1.0),
            patience: Some(10),
            seed: 0,
            shuffle: true,
            max_batches_per_epoch: None,
        }
    }
}

impl TrainConfig {
    /// Check every setting.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, reason: String| Err(Error::invalid(format!("training {what}"), reason));
        if self.epochs == 0 {
            return bad("epochs", "at least one epoch is needed".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} is not a positive number", self.lr));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad(
                "min_lr",
                format!("{} is not in [0, lr = {}]", self.min_lr, self.lr),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("{} is not >= 0", self.weight_decay));
        }
        if let Some(c) = self.grad_clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad("grad_clip_norm", format!("{c} is not a positive number"));
        }
        if self.max_batches_per_epoch == Some(0) {
            return bad("max_batches_per_epoch", "must be at least 1".into());
        }
        Ok(())
    }
}
