//! `statecast score`: test a saved model on a dataset split.
use std::path::PathBuf;

use statecast_models::device::DeviceSpec;
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_service::artifact_eval::{
    BatchComparison, StageWindows, compare_batches, score_artifact, stage_comparison,
};

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
    /// Also forecast every batch on the CPU and on `--device` and list the batches where they
    /// differ most (per-batch MSE on each side).
    #[arg(long)]
    compare_batches: bool,
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
    let data = args.data.spec()?;
    let mut ranges: Vec<StageWindows> = args.stages.iter().map(|&b| StageWindows::Last(b)).collect();
    if args.compare_batches {
        let rows = compare_batches(
            &args.model,
            &data,
            &args.split,
            part,
            args.device,
            !args.no_drop_last,
        )?;
        print_batch_comparison(&rows, &args.device.to_string());
        // Stage by stage on the batch whose forecasts differ most.
        if let Some(r) = rows
            .iter()
            .max_by(|a, b| a.max_rel_diff.total_cmp(&b.max_rel_diff))
        {
            ranges.push(StageWindows::Range(r.start..r.start + r.windows));
        }
    }
    if ranges.is_empty() {
        return Ok(());
    }
    for (range, rows) in stage_comparison(&args.model, &data, &args.split, part, args.device, &ranges)? {
        println!(
            "\nstages on {} vs cpu, windows {range:?} of {part:?}:",
            args.device
        );
        let failed = super::devices::print_rows(&rows, args.stage_tolerance);
        println!("{failed} of {} stages above {}", rows.len(), args.stage_tolerance);
    }
    Ok(())
}

/// The per-batch CPU vs device table of `score --compare-batches`.
fn print_batch_comparison(rows: &[BatchComparison], device: &str) {
    let n: usize = rows.iter().map(|r| r.windows).sum();
    let total = |f: fn(&BatchComparison) -> f64| {
        rows.iter().map(|r| f(r) * r.windows as f64).sum::<f64>() / n.max(1) as f64
    };
    println!(
        "\n{} batches, {n} windows: MSE cpu {:.6}, {device} {:.6} (host sums), {:.6} (device sums); \
         device counted {} targets",
        rows.len(),
        total(|r| r.mse_cpu),
        total(|r| r.mse_device),
        total(|r| r.mse_device_reduced),
        rows.iter().map(|r| r.count_device).sum::<f64>()
    );
    let line = |r: &BatchComparison| {
        println!(
            "{:>8} {:>8} {:>12.6} {:>12.6} {:>12.6} {:>12.3e}",
            r.start, r.windows, r.mse_cpu, r.mse_device, r.mse_device_reduced, r.max_rel_diff
        )
    };
    let header = || {
        println!(
            "{:>8} {:>8} {:>12} {:>12} {:>12} {:>12}",
            "start", "windows", "mse cpu", "mse device", "dev reduced", "max rel diff"
        )
    };
    let mut worst = rows.to_vec();
    worst.sort_by(|a, b| {
        let d = |r: &BatchComparison| {
            (r.mse_device - r.mse_cpu)
                .abs()
                .max((r.mse_device_reduced - r.mse_cpu).abs())
        };
        d(b).total_cmp(&d(a))
    });
    println!("batches where the MSEs differ most:");
    header();
    worst.iter().take(10).for_each(line);
    worst.sort_by(|a, b| b.max_rel_diff.total_cmp(&a.max_rel_diff));
    println!("batches whose forecasts differ most:");
    header();
    worst.iter().take(5).for_each(line);
}
