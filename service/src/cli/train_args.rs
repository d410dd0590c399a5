//! Training flags shared by `train` and `eval`.
use statecast_models::train::TrainConfig;

/// Overrides of [`TrainConfig`]'s defaults.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TrainArgs {
    /// Maximum training epochs.
    #[arg(long, default_value_t = 10)]
    pub(crate) epochs: usize,
    /// Windows per optimisation step.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Peak learning rate (AdamW, warm-up then cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) lr: f64,
    /// Warm-up epochs.
    #[arg(long, default_value_t = 1)]
    pub(crate) warmup_epochs: usize,
    /// Early-stopping patience in epochs (validation loss).
    #[arg(long, default_value_t = 3)]
    pub(crate) patience: usize,
    /// Cap on optimisation steps per epoch (a random subset each epoch).
    #[arg(long)]
    pub(crate) max_batches_per_epoch: Option<usize>,
    /// Seed for shuffling, dropout and initialisation.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

impl TrainArgs {
    /// The training configuration these flags describe.
    pub(crate) fn config(&self) -> TrainConfig {
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

/// The JSON of `--model-config FILE` (settings merged into a model family's defaults).
pub(crate) fn read_model_config(path: Option<&std::path::Path>) -> anyhow::Result<Option<serde_json::Value>> {
    use anyhow::Context;
    let Some(p) = path else { return Ok(None) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?,
    ))
}
