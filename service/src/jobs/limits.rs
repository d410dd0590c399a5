//! [`JobLimits`]: the server's bounds on what one training job may ask for, checked at
//! submission (before anything is queued) and again by the worker once the dataset's number of
//! variates is known (before the model is built).
//!
//! Model size is judged from the validated configuration with
//! [`statecast_models::zoo::ModelConfig::estimate`]: a request for a model that would need
//! gigabytes is refused instead of aborting the process on a failed allocation (an abort cannot
//! be caught, and the job would be retried at every restart).
use statecast_models::zoo::ModelConfig;

use crate::{Error, Result};

/// Largest peak learning rate accepted (larger rates only diverge).
pub const MAX_LR: f64 = 10.0;

/// Bounds on training jobs (server settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// Most trainable parameters of a job's model (`--max-model-params`).
    pub max_model_params: u64,
    /// Most estimated training memory of one job, MiB (`--max-train-memory-mib`).
    pub max_train_memory_mib: u64,
    /// Most epochs of one job; also bounds warm-up and patience (`--max-job-epochs`).
    pub max_epochs: usize,
}

impl Default for JobLimits {
    /// Sized for a server with an 8 GiB memory cap: 20 M parameters, 4 GiB of training memory
    /// (half the cap, leaving room for the data, the registry cache and a second worker),
    /// 10 000 epochs.
    fn default() -> Self {
        Self {
            max_model_params: 20_000_000,
            max_train_memory_mib: 4096,
            max_epochs: 10_000,
        }
    }
}

fn invalid(field: &str, reason: String) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason,
    }
}

impl JobLimits {
    /// Bounds of the optimiser settings that cost time, not memory.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `training.epochs`, `training.warmup_epochs`,
    /// `training.patience` or `training.lr`.
    pub fn check_schedule(
        &self,
        epochs: usize,
        warmup_epochs: usize,
        patience: Option<usize>,
        lr: f64,
    ) -> Result<()> {
        let max = self.max_epochs;
        for (field, value) in [
            ("training.epochs", Some(epochs)),
            ("training.warmup_epochs", Some(warmup_epochs)),
            ("training.patience", patience),
        ] {
            if let Some(v) = value
                && v > max
            {
                return Err(invalid(
                    field,
                    format!("{v} is above this server's limit of {max} epochs (--max-job-epochs)"),
                ));
            }
        }
        if !(lr.is_finite() && lr > 0.0 && lr <= MAX_LR) {
            return Err(invalid(
                "training.lr",
                format!("{lr} is not a learning rate in (0, {MAX_LR}]"),
            ));
        }
        Ok(())
    }

    /// Whether `config`, trained on batches of `batch_size` windows of `variates` variates, fits
    /// the parameter and memory limits.
    ///
    /// # Errors
    /// [`Error::ResourceExhausted`] naming the model's size and the server setting it exceeds.
    pub fn check_size(&self, config: &ModelConfig, batch_size: usize, variates: usize) -> Result<()> {
        let size = config.estimate(batch_size, variates);
        if size.params > self.max_model_params {
            return Err(Error::ResourceExhausted {
                reason: format!(
                    "model_config_json: the model would have {} parameters, above this server's limit of {} (--max-model-params)",
                    size.params, self.max_model_params
                ),
            });
        }
        if size.train_mib() > self.max_train_memory_mib {
            return Err(Error::ResourceExhausted {
                reason: format!(
                    "training this model (batch size {batch_size}, {variates} variate(s), look-back {}, horizon {}) would need about {} MiB, above this server's limit of {} MiB (--max-train-memory-mib); use a smaller model, batch size, look-back or horizon",
                    config.lookback(),
                    config.horizon(),
                    size.train_mib(),
                    self.max_train_memory_mib
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use statecast_models::zoo::ModelFamily;

    use super::*;

    #[test]
    fn schedule_bounds_name_the_field() {
        let limits = JobLimits::default();
        limits.check_schedule(10, 1, Some(3), 1e-3).unwrap();
        limits.check_schedule(10_000, 10_000, None, MAX_LR).unwrap();
        let field = |r: Result<()>| match r {
            Err(Error::InvalidArgument { field, reason }) => {
                assert!(!reason.is_empty());
                field
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        let max = u32::MAX as usize;
        assert_eq!(
            field(limits.check_schedule(max, 1, None, 1e-3)),
            "training.epochs"
        );
        assert_eq!(
            field(limits.check_schedule(10, max, None, 1e-3)),
            "training.warmup_epochs"
        );
        assert_eq!(
            field(limits.check_schedule(10, 1, Some(max), 1e-3)),
            "training.patience"
        );
        for lr in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e6] {
            assert_eq!(field(limits.check_schedule(10, 1, None, lr)), "training.lr");
        }
        let err = limits.check_schedule(max, 1, None, 1e-3).unwrap_err();
        assert!(err.to_string().contains("--max-job-epochs"), "{err}");
    }

    #[test]
    fn oversized_models_are_resource_exhausted_naming_the_setting() {
        let limits = JobLimits::default();
        let default = ModelFamily::Spacetime.default_config(96, 24);
        limits.check_size(&default, 32, 7).unwrap();
        let wide = ModelFamily::Spacetime
            .default_config(96, 24)
            .with_overrides(Some(&serde_json::json!({"d_model": 65536, "n_kernels": 65536})))
            .unwrap();
        let err = limits.check_size(&wide, 32, 1).unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted { .. }), "{err:?}");
        assert!(err.to_string().contains("--max-model-params"), "{err}");
        // Few parameters but a huge batch of long windows: the memory limit.
        let err = limits.check_size(&default, 1 << 20, 1).unwrap_err();
        assert!(err.to_string().contains("--max-train-memory-mib"), "{err}");
        let long = ModelFamily::Repeat.default_config(1 << 30, 24);
        assert!(limits.check_size(&long, 32, 1).is_err());
        // The variates the worker finds count: the same job on a wider dataset is refused.
        let tight = JobLimits {
            max_train_memory_mib: default.estimate(32, 7).train_mib(),
            ..limits
        };
        tight.check_size(&default, 32, 7).unwrap();
        assert!(tight.check_size(&default, 32, 70).is_err());
    }
}
