//! `statecast eval`: the long-term forecasting protocol on a dataset, for one model family;
//! `statecast eval anomaly`: anomaly-detection metrics on labelled data;
//! `statecast eval nab-corpus`: NAB corpus scores from `eval anomaly` results.
use std::path::PathBuf;

use anyhow::Context;

use super::plot::{forecast_panels, plot_forecasts};
use statecast_models::device::DeviceSpec;
use statecast_models::train::ProgressBarObserver;
use statecast_models::zoo::ModelFamily;
use statecast_pipelines::split::SplitSpec;
use statecast_service::data::prepare;
use statecast_service::ltsf::{EvalRequest, EvalRow, evaluate_horizon};
use statecast_service::train_defaults;

use super::data_args::DataArgs;
use super::train_args::{TrainArgs, read_model_config};

/// `eval` (forecasting, the default) or `eval anomaly`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct EvalArgs {
    #[command(subcommand)]
    sub: Option<EvalSub>,
    #[command(flatten)]
    forecast: Option<ForecastEvalArgs>,
}

#[derive(Debug, clap::Subcommand)]
enum EvalSub {
    /// Anomaly detection on labelled data: honest metrics (validation threshold) next to the
    /// common protocol (anomaly-ratio threshold, point adjustment).
    Anomaly(Box<super::eval_anomaly::EvalAnomalyArgs>),
    /// NAB scores of a corpus from `eval anomaly --nab-windows --json` result files: the honest
    /// score and the label-tuned (leaderboard) score, per profile.
    NabCorpus(super::eval_nab::NabCorpusArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ForecastEvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Split: ett-hourly, ett-15min, ratio:TRAIN,VAL,TEST or rows:TRAIN_END,VAL_END,TEST_END.
    #[arg(long, default_value = train_defaults::SPLIT)]
    split: SplitSpec,
    /// Model family: spacetime, simba, linear, repeat.
    #[arg(long, default_value = "spacetime", value_parser = super::parse_family)]
    model: ModelFamily,
    /// JSON file of model settings merged into the family's defaults (e.g. {"d_model": 128}).
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Look-back L.
    #[arg(long, default_value_t = train_defaults::LOOKBACK)]
    lookback: usize,
    /// Horizons H, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "96,192,336,720")]
    horizons: Vec<usize>,
    #[command(flatten)]
    train: TrainArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = train_defaults::DEVICE)]
    device: DeviceSpec,
    /// Score every test window (default: drop the last partial batch of 32, as published).
    #[arg(long)]
    no_drop_last: bool,
    /// Dataset name in the results (default: the file stem).
    #[arg(long)]
    name: Option<String>,
    /// Write the result rows as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a PNG of forecast vs actual for three test windows of the first horizon.
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<()> {
    match args.sub {
        Some(EvalSub::Anomaly(a)) => super::eval_anomaly::run(*a),
        Some(EvalSub::NabCorpus(a)) => super::eval_nab::run(&a),
        None => match args.forecast {
            Some(f) => run_forecast(f),
            // clap leaves an optional flattened group unset in some cases; parse the flags after
            // `eval` again on their own.
            None => run_forecast(reparse_forecast_args()?),
        },
    }
}

/// The forecasting `eval` flags, parsed from the command line after the `eval` word.
fn reparse_forecast_args() -> anyhow::Result<ForecastEvalArgs> {
    #[derive(Debug, clap::Parser)]
    #[command(name = "statecast eval")]
    struct ForecastOnly {
        #[command(flatten)]
        args: ForecastEvalArgs,
        /// Global verbosity (already applied).
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
    }
    let argv: Vec<String> = std::env::args().collect();
    let at = argv
        .iter()
        .position(|a| a == "eval")
        .context("`statecast eval` needs --data (or the `anomaly` subcommand)")?;
    let rest = std::iter::once("statecast eval".to_string()).chain(argv[at + 1..].iter().cloned());
    let parsed = <ForecastOnly as clap::Parser>::try_parse_from(rest).unwrap_or_else(|e| e.exit());
    Ok(parsed.args)
}

fn run_forecast(args: ForecastEvalArgs) -> anyhow::Result<()> {
    let data = args.data.spec()?;
    let model_overrides = read_model_config(args.model_config.as_deref())?;
    let req = EvalRequest {
        dataset_name: args.name.clone().unwrap_or_else(|| data.default_series_id()),
        data,
        split: args.split,
        family: args.model,
        model_overrides,
        lookback: args.lookback,
        horizons: args.horizons.clone(),
        train: args.train.config()?,
        device: args.device,
        drop_last: !args.no_drop_last,
    };
    let mut progress = ProgressBarObserver::new();
    let prepared = prepare(&req.data, &req.split, req.lookback)?;
    let mut rows = Vec::with_capacity(req.horizons.len());
    for (k, &h) in req.horizons.iter().enumerate() {
        let (row, model) = evaluate_horizon(&prepared, &req, h, &mut progress)?;
        if k == 0
            && let Some(path) = &args.plot
        {
            let test = prepared
                .datasets(h)?
                .test
                .context("the test split has no complete window")?;
            let device = req.device.device()?;
            let panels = forecast_panels(&model, &prepared, &test, &req.dataset_name, 3, &device);
            let title = format!(
                "{}: {} forecast vs actual (L={}, H={h})",
                req.dataset_name, row.model, req.lookback
            );
            plot_forecasts(path, &title, &panels).with_context(|| format!("plotting {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        rows.push(row);
        // Rewritten after every horizon, so a run cut short keeps the horizons it finished.
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
        }
    }
    print_table(&rows);
    print_intervals(&rows);
    if let Some(path) = &args.json {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn print_table(rows: &[EvalRow]) {
    println!(
        "| {:<14} | {:<9} | {:>4} | {:>4} | {:>7} | {:>7} | {:>7} | {:>9} | {:>8} | {:>7} |",
        "dataset", "model", "L", "H", "MSE", "MAE", "windows", "train s", "s/epoch", "params"
    );
    println!(
        "|{:-<16}|{:-<11}|{:-<6}|{:-<6}|{:-<9}|{:-<9}|{:-<9}|{:-<11}|{:-<10}|{:-<9}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<14} | {:<9} | {:>4} | {:>4} | {:>7.3} | {:>7.3} | {:>7} | {:>9.1} | {:>8.1} | {:>7} |",
            r.dataset,
            r.model,
            r.lookback,
            r.horizon,
            r.mse,
            r.mae,
            r.test_windows,
            r.train_seconds,
            r.seconds_per_epoch,
            r.params
        );
    }
    if rows.len() > 1 {
        let n = rows.len() as f64;
        println!(
            "| {:<14} | {:<9} | {:>4} | {:>4} | {:>7.3} | {:>7.3} |",
            "average",
            "",
            "",
            "",
            rows.iter().map(|r| r.mse).sum::<f64>() / n,
            rows.iter().map(|r| r.mae).sum::<f64>() / n
        );
    }
}

/// Test coverage of the central 80/90/95 % intervals, the 90 % interval's mean width and the
/// weighted quantile loss, per interval method (fitted on the validation windows).
fn print_intervals(rows: &[EvalRow]) {
    if rows.iter().all(|r| r.intervals.is_empty()) {
        return;
    }
    println!();
    println!(
        "| {:<14} | {:<9} | {:>4} | {:<26} | {:>6} | {:>6} | {:>6} | {:>9} | {:>6} |",
        "dataset", "model", "H", "intervals (fitted on val)", "cov80", "cov90", "cov95", "width90", "WQL"
    );
    println!(
        "|{:-<16}|{:-<11}|{:-<6}|{:-<28}|{:-<8}|{:-<8}|{:-<8}|{:-<11}|{:-<8}|",
        "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        for i in &r.intervals {
            let cov = |c: f64| {
                i.coverage
                    .iter()
                    .find(|(n, _)| (n - c).abs() < 1e-9)
                    .map_or(f64::NAN, |(_, e)| 100.0 * e)
            };
            println!(
                "| {:<14} | {:<9} | {:>4} | {:<26} | {:>6.1} | {:>6.1} | {:>6.1} | {:>9.3} | {:>6.3} |",
                r.dataset,
                r.model,
                r.horizon,
                i.method,
                cov(0.8),
                cov(0.9),
                cov(0.95),
                i.width90,
                i.wql
            );
        }
    }
}
