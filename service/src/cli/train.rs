//! `statecast train`: train a model and write its artifact.
use std::path::PathBuf;

use statecast_models::device::DeviceSpec;
use statecast_models::train::ProgressBarObserver;
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::split::SplitSpec;
use statecast_service::train_defaults;
use statecast_service::training::{TrainRequest, default_checkpoint_dir, train_to_artifact};

use super::data_args::DataArgs;
use super::train_args::{TrainArgs, read_model_config};

#[derive(Debug, clap::Args)]
pub(crate) struct TrainCmdArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Split: ratio:TRAIN,VAL,TEST (default 0.7,0.1,0.2), ett-hourly, ett-15min, rows:A,B,C.
    #[arg(long, default_value = train_defaults::SPLIT)]
    split: SplitSpec,
    /// Model family: spacetime, simba, linear, repeat.
    #[arg(long, default_value = "spacetime", value_parser = super::parse_family)]
    model: ModelFamily,
    /// JSON file of model settings merged into the family's defaults.
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Look-back L.
    #[arg(long, default_value_t = train_defaults::LOOKBACK)]
    lookback: usize,
    /// Horizon H.
    #[arg(long, default_value_t = train_defaults::HORIZON)]
    horizon: usize,
    #[command(flatten)]
    train: TrainArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = train_defaults::DEVICE)]
    device: DeviceSpec,
    /// Artifact directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Checkpoint directory (default OUT.ckpt); rerunning the same command resumes from it.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
}

pub(crate) fn run(args: TrainCmdArgs) -> anyhow::Result<()> {
    let model_overrides = read_model_config(args.model_config.as_deref())?;
    let req = TrainRequest {
        data: args.data.spec()?,
        split: args.split,
        family: args.model,
        model_overrides,
        lookback: args.lookback,
        horizon: args.horizon,
        train: args.train.config()?,
        device: args.device,
        checkpoint_dir: Some(
            args.checkpoint_dir
                .clone()
                .unwrap_or_else(|| default_checkpoint_dir(&args.out)),
        ),
        out: args.out,
    };
    let summary = train_to_artifact(&req, &mut ProgressBarObserver::new())?;
    if let Some(from) = summary.resumed_from {
        println!("resumed from epoch {from}");
    }
    println!(
        "trained {:?} in {:.1} s: {} epochs, best epoch {}",
        req.family, summary.seconds, summary.epochs, summary.best_epoch
    );
    for (name, m) in [("val", summary.val), ("test", summary.test)] {
        if let Some(m) = m {
            println!(
                "{name:>5}: MSE {:.4}  MAE {:.4}  ({} windows, scaled axis)",
                m.mse, m.mae, m.windows
            );
        }
    }
    println!("artifact: {}", summary.artifact.display());
    Ok(())
}
