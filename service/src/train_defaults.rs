//! The defaults of a training run, in one place: the `statecast train` / `eval` /
//! `jobs submit` flags take them as their default values, and a training job takes them for
//! fields left at 0 / empty / unset, so the CLI and the job path cannot drift apart.
//!
//! These are the user-facing defaults, shorter than [`TrainConfig::default`]'s library
//! defaults (10 epochs instead of 50, warm-up 1 instead of 5, patience 3 instead of 10): a
//! first run should finish in minutes.
use statecast_models::train::TrainConfig;

/// Look-back `L` when none is given.
pub const LOOKBACK: usize = 96;
/// Horizon `H` of `statecast train` / `jobs submit` when none is given (a job must name one).
pub const HORIZON: usize = 24;
/// Chronological split when none is given.
pub const SPLIT: &str = "ratio:0.7,0.1,0.2";
/// Compute device when none is given.
pub const DEVICE: &str = "cpu";

/// The optimiser settings users can set, each with its default ([`TrainSettings::DEFAULT`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    /// Maximum training epochs.
    pub epochs: usize,
    /// Windows per optimisation step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up epochs.
    pub warmup_epochs: usize,
    /// Early-stopping patience in epochs.
    pub patience: usize,
    /// Cap on optimisation steps per epoch (`None`: every window).
    pub max_batches_per_epoch: Option<usize>,
    /// Seed for shuffling, dropout and initialisation.
    pub seed: u64,
}

impl TrainSettings {
    /// The defaults of every entry point.
    pub const DEFAULT: Self = Self {
        epochs: 10,
        batch_size: 32,
        lr: 1e-3,
        warmup_epochs: 1,
        patience: 3,
        max_batches_per_epoch: None,
        seed: 0,
    };

    /// The training configuration (other settings at [`TrainConfig::default`]). Not
    /// validated: see [`TrainConfig::validate`].
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            warmup_epochs: self.warmup_epochs,
            patience: Some(self.patience),
            max_batches_per_epoch: self.max_batches_per_epoch,
            seed: self.seed,
            ..TrainConfig::default()
        }
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use statecast_models::device::DeviceSpec;
    use statecast_pipelines::split::SplitSpec;

    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        assert_eq!(
            SPLIT.parse::<SplitSpec>().unwrap(),
            SplitSpec::Ratio {
                train: 0.7,
                val: 0.1,
                test: 0.2
            }
        );
        assert_eq!(DEVICE.parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        let config = TrainSettings::default().config();
        config.validate().unwrap();
        assert_eq!(
            (config.epochs, config.warmup_epochs, config.patience),
            (10, 1, Some(3))
        );
    }
}
