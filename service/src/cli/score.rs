//! `statecast score`: test a saved model on a dataset split.
use std::path::PathBuf;

use statecast_models::device::DeviceSpec;
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_service::scoring::{score_artifact, stage_comparison};

use super::data_args::DataArgs;

/// Which split to score.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PartArg {
    Train,
    Val,
    Test,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScoreArgs {
    /// Artifact directory written by `statecast train`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Split of the data (as used for training).
    #[arg(long, default_value = "ratio:0.7,0.1,0.2")]
    split: SplitSpec,
    /// Part of the split to score.
    #[arg(long, value_enum, default_value = "test")]
    part: PartArg,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Score every window (default: drop the last partial batch of 32, as published).
    #[arg(long)]
    no_drop_last: bool,
    /// Also compare a SpaceTime model on `--device` with the CPU stage by stage, on the last B
    /// windows of the part, for each batch size B given (e.g. `1,32`).
    #[arg(long, value_delimiter = ',')]
    stages: Vec<usize>,
    /// Relative difference above which `--stages` marks a stage FAIL.
    #[arg(long, default_value_t = 1e-3)]
    stage_tolerance: f32,
}

pub(crate) fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let part = match args.part {
        PartArg::Train => SplitPart::Train,
        PartArg::Val => SplitPart::Val,
        PartArg::Test => SplitPart::Test,
    };
    let m = score_artifact(
        &args.model,
        &args.data.spec()?,
        &args.split,
        part,
        args.device,
        !args.no_drop_last,
    )?;
    println!(
        "{} on {:?} ({}): MSE {:.6}  MAE {:.6}  ({} windows, scaled axis)",
        args.model.display(),
        part,
        args.device,
        m.mse,
        m.mae,
        m.windows
    );
    if args.stages.is_empty() {
        return Ok(());
    }
    let data = args.data.spec()?;
    for (b, rows) in stage_comparison(&args.model, &data, &args.split, part, args.device, &args.stages)? {
        println!(
            "\nstages on {} vs cpu, last {b} window(s) of {part:?}:",
            args.device
        );
        let failed = super::devices::print_rows(&rows, args.stage_tolerance);
        println!("{failed} of {} stages above {}", rows.len(), args.stage_tolerance);
    }
    Ok(())
}
