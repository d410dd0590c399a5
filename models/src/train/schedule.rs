//! The learning-rate schedule: linear warm-up, then cosine decay, evaluated per optimisation step.
//!
//! With `W` warm-up steps, `T` total steps, peak `η` and floor `η_min`:
//!
//! ```text
//! lr(s) = η·10⁻³ + (η − η·10⁻³) · s / W                         for s < W
//! lr(s) = η_min + ½ (η − η_min) (1 + cos(π · (s − W) / (T − W)))   for W ≤ s < T
//! lr(s) = η_min                                                   for s ≥ T
//! ```
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;

/// Factor of the peak learning rate the warm-up starts from.
pub const WARMUP_START_FACTOR: f64 = 1e-3;

/// A warm-up + cosine schedule over a fixed number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Peak learning rate `η`.
    pub lr: f64,
    /// Final learning rate `η_min`.
    pub min_lr: f64,
    /// Warm-up steps `W`.
    pub warmup_steps: usize,
    /// Total steps `T` (warm-up included).
    pub total_steps: usize,
}

impl LrSchedule {
    /// The schedule of `cfg` with `steps_per_epoch` optimisation steps per epoch.
    pub fn new(cfg: &TrainConfig, steps_per_epoch: usize) -> Self {
        Self {
            lr: cfg.lr,
            min_lr: cfg.min_lr,
            warmup_steps: cfg.warmup_epochs.min(cfg.epochs) * steps_per_epoch,
            total_steps: cfg.epochs * steps_per_epoch,
        }
    }

    /// The learning rate of step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            let start = self.lr * WARMUP_START_FACTOR;
            return start + (self.lr - start) * step as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps);
        if decay_steps == 0 || step >= self.total_steps {
            return if decay_steps == 0 { self.lr } else { self.min_lr };
        }
        let t = (step - self.warmup_steps) as f64 / decay_steps as f64;
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule {
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert!(close(s.lr_at(0), 1e-6));
        assert!(close(s.lr_at(5), 1e-6 + (1e-3 - 1e-6) * 0.5));
        assert!(close(s.lr_at(10), 1e-3));
        // Half-way through the decay: the mean of peak and floor.
        assert!(close(s.lr_at(60), (1e-3 + 1e-5) / 2.0));
        assert!(close(
            s.lr_at(35),
            1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + (std::f64::consts::PI / 4.0).cos())
        ));
        assert!(close(s.lr_at(110), 1e-5));
        assert!(close(s.lr_at(1000), 1e-5));
        // Monotone: up during warm-up, down after.
        for k in 0..10 {
            assert!(s.lr_at(k) < s.lr_at(k + 1));
        }
        for k in 10..110 {
            assert!(s.lr_at(k) > s.lr_at(k + 1));
        }
    }

    #[test]
    fn degenerate_schedules() {
        let no_warmup = LrSchedule {
            lr: 0.1,
            min_lr: 0.0,
            warmup_steps: 0,
            total_steps: 4,
        };
        assert!(close(no_warmup.lr_at(0), 0.1));
        assert!(close(no_warmup.lr_at(2), 0.05));
        let all_warmup = LrSchedule {
            lr: 0.1,
            min_lr: 0.0,
            warmup_steps: 4,
            total_steps: 4,
        };
        assert!(close(all_warmup.lr_at(3), 1e-4 + (0.1 - 1e-4) * 0.75));
        assert!(close(all_warmup.lr_at(4), 0.1));
        let cfg = TrainConfig {
            epochs: 3,
            warmup_epochs: 1,
            ..TrainConfig::default()
        };
        let s = LrSchedule::new(&cfg, 7);
        assert_eq!((s.warmup_steps, s.total_steps), (7, 21));
        let short = TrainConfig {
            epochs: 1,
            ..TrainConfig::default()
        };
        let s = LrSchedule::new(&short, 7);
        assert_eq!((s.warmup_steps, s.total_steps), (7, 7));
    }
}
