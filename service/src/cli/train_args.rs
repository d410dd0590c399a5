//! Training flags shared by `train`, `eval` and `jobs submit`; their defaults are
//! [`TrainSettings::DEFAULT`], the ones training jobs use too.
use statecast_models::train::TrainConfig;
use statecast_service::train_defaults::TrainSettings;

/// Optimiser flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TrainArgs {
    /// Maximum training epochs.
    #[arg(long, default_value_t = TrainSettings::DEFAULT.epochs)]
    pub(crate) epochs: usize,
    /// Windows per optimisation step.
    #[arg(long, default_value_t = TrainSettings::DEFAULT.batch_size)]
    pub(crate) batch_size: usize,
    /// Peak learning rate (AdamW, warm-up then cosine decay).
    #[arg(long, default_value_t = TrainSettings::DEFAULT.lr)]
    pub(crate) lr: f64,
    /// Warm-up epochs.
    #[arg(long, default_value_t = TrainSettings::DEFAULT.warmup_epochs)]
    pub(crate) warmup_epochs: usize,
    /// Early-stopping patience in epochs (validation loss).
    #[arg(long, default_value_t = TrainSettings::DEFAULT.patience)]
    pub(crate) patience: usize,
    /// Cap on optimisation steps per epoch (a random subset each epoch).
    #[arg(long)]
    pub(crate) max_batches_per_epoch: Option<usize>,
    /// Seed for shuffling, dropout and initialisation.
    #[arg(long, default_value_t = TrainSettings::DEFAULT.seed)]
    pub(crate) seed: u64,
}

impl TrainArgs {
    /// The settings these flags describe.
    pub(crate) fn settings(&self) -> TrainSettings {
        TrainSettings {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            warmup_epochs: self.warmup_epochs,
            patience: self.patience,
            max_batches_per_epoch: self.max_batches_per_epoch,
            seed: self.seed,
        }
    }

    /// The training configuration these flags describe.
    pub(crate) fn config(&self) -> TrainConfig {
        self.settings().config()
    }
}

/// The JSON of `--model-config FILE` (settings merged into a model family's defaults).
pub(crate) fn read_model_config(path: Option<&std::path::Path>) -> anyhow::Result<Option<serde_json::Value>> {
    use anyhow::Context;
    let Some(p) = path else { return Ok(None) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?,
    ))
}
