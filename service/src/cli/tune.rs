//! `statecast tune`: a seeded, resumable hyper-parameter search on the validation split
//! ([`statecast_service::tune`]).
use std::path::PathBuf;

use anyhow::Context;
use statecast_models::device::DeviceSpec;
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::split::SplitSpec;
use statecast_service::train_defaults;
use statecast_service::tune::{PruneRule, SearchDefinition, SearchSpace, TrialRecord, TuneRequest, run};

use super::data_args::DataArgs;
use super::train_args::{TrainArgs, read_model_config};

#[derive(Debug, clap::Args)]
pub(crate) struct TuneArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Split: ratio:TRAIN,VAL,TEST, ett-hourly, ett-15min, rows:A,B,C. Only the training and
    /// validation parts are read.
    #[arg(long, default_value = train_defaults::SPLIT)]
    split: SplitSpec,
    /// Model family: spacetime, simba, chimera, linear.
    #[arg(long, default_value = "spacetime", value_parser = super::parse_family)]
    model: ModelFamily,
    /// JSON file of model settings every trial starts from (the space overrides them).
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Look-back L.
    #[arg(long, default_value_t = train_defaults::LOOKBACK)]
    lookback: usize,
    /// Horizon H.
    #[arg(long, default_value_t = train_defaults::HORIZON)]
    horizon: usize,
    /// Search space (JSON: {"model": {NAME: DOMAIN}, "train": {NAME: DOMAIN}} with DOMAIN one of
    /// {"choice": [..]}, {"uniform": [lo, hi]}, {"log_uniform": [lo, hi]}, {"int": [lo, hi]});
    /// default: the family's built-in space (`--print-space` shows it).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Print the space that would be searched and exit.
    #[arg(long)]
    print_space: bool,
    /// Trials in all (a rerun into the same --out-dir runs only the missing ones).
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Seed of the draws (each trial's settings depend only on it and the trial number).
    #[arg(long, default_value_t = 0)]
    search_seed: u64,
    /// Trials training at once (threads sharing the device).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Prune a trial whose best validation loss after this many epochs is worse than the other
    /// trials' median at the same epoch; 0 turns pruning off.
    #[arg(long, default_value_t = 2)]
    prune_after: usize,
    /// Other trials needed at an epoch before the median rule applies.
    #[arg(long, default_value_t = 3)]
    prune_min_trials: usize,
    #[command(flatten)]
    train: TrainArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = train_defaults::DEVICE)]
    device: DeviceSpec,
    /// Output directory: search.json, trials.jsonl, trials.csv, best.json,
    /// best-model-config.json, best-model/.
    #[arg(long, required_unless_present = "print_space")]
    out_dir: Option<PathBuf>,
}

fn settings_text(r: &TrialRecord) -> String {
    r.settings
        .model
        .iter()
        .chain(&r.settings.train)
        .map(|(k, v)| match v.as_f64() {
            Some(x) if !v.is_i64() && !v.is_u64() => format!("{k}={x:.4e}"),
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn run_tune(args: TuneArgs) -> anyhow::Result<()> {
    let space = match &args.space {
        Some(path) => SearchSpace::parse(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => SearchSpace::builtin(args.model),
    };
    if args.print_space {
        println!("{}", serde_json::to_string_pretty(&space)?);
        return Ok(());
    }
    let out_dir = args.out_dir.context("--out-dir is required")?;
    let req = TuneRequest {
        search: SearchDefinition {
            data: args.data.spec()?,
            split: args.split,
            family: args.model,
            base_model: read_model_config(args.model_config.as_deref())?,
            lookback: args.lookback,
            horizon: args.horizon,
            base_train: args.train.config()?,
            space,
            seed: args.search_seed,
            prune: (args.prune_after > 0).then_some(PruneRule {
                after_epochs: args.prune_after,
                min_trials: args.prune_min_trials,
            }),
        },
        trials: args.trials,
        concurrency: args.concurrency,
        device: args.device,
        out_dir: out_dir.clone(),
        cancel: None,
        admit: None,
    };
    let report = run(&req, &|r| {
        let loss = r.val_loss.map_or("—".to_string(), |v| format!("{v:.5}"));
        println!(
            "trial {:>3} {:<8} val {loss:>9}  (best epoch {}/{}, {:.1} s)  {}{}",
            r.trial,
            r.status.as_str(),
            r.best_epoch,
            r.epochs,
            r.seconds,
            settings_text(r),
            r.error
                .as_ref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    })?;
    if report.resumed > 0 {
        println!(
            "({} trials read from the earlier run in {})",
            report.resumed,
            out_dir.display()
        );
    }
    let counts = |s| report.trials.iter().filter(|t| t.status == s).count();
    use statecast_service::tune::TrialStatus;
    println!(
        "{} trials: {} complete, {} pruned, {} failed",
        report.trials.len(),
        counts(TrialStatus::Complete),
        counts(TrialStatus::Pruned),
        counts(TrialStatus::Failed)
    );
    match report.best {
        Some(i) => {
            let best = &report.trials[i];
            println!(
                "best: trial {} val {:.5}  {}",
                best.trial,
                best.val_loss.unwrap_or(f64::NAN),
                settings_text(best)
            );
            println!(
                "wrote {0}/trials.csv, {0}/best.json, {0}/best-model-config.json and {0}/best-model/ \
                 (register it: statecast models register --server URL NAME {0}/best-model)",
                out_dir.display()
            );
        }
        None => println!("no trial finished with a validation loss"),
    }
    Ok(())
}
