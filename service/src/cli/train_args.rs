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
    /// JSON file of training settings merged over these flags (any of `epochs`, `batch_size`,
    /// `lr`, `min_lr`, `weight_decay`, `warmup_epochs`, `grad_clip_norm`, `patience`, `seed`,
    /// `shuffle`, `max_batches_per_epoch`), e.g. the `best-train-config.json` of `statecast tune`.
    #[arg(long)]
    pub(crate) train_config: Option<std::path::PathBuf>,
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

    /// The training configuration these flags describe, with `--train-config` merged in.
    ///
    /// # Errors
    /// When the file cannot be read, is not a JSON object of training settings, or the result
    /// is not a valid configuration.
    pub(crate) fn config(&self) -> anyhow::Result<TrainConfig> {
        use anyhow::Context;
        let base = self.settings().config();
        let Some(path) = &self.train_config else {
            return Ok(base);
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let overrides = value
            .as_object()
            .with_context(|| format!("{} is not a JSON object", path.display()))?;
        Ok(statecast_service::tune::train_config(&base, overrides)?)
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
