//! Command-line interface: one module per subcommand, each calling library functions.
mod backtest;
mod bench;
mod bench_load;
mod bench_monitor;
mod bench_scan;
mod bench_scan2d;
mod bench_step;
mod client;
mod data_args;
mod detect;
mod devices;
mod eval;
mod eval_anomaly;
mod eval_nab;
mod forecast;
mod info;
mod inspect;
mod jobs;
mod live;
mod models;
mod monitor;
mod plot;
mod score;
mod serve;
mod simulate;
mod train;
mod train_args;
mod tune;

use clap::{Parser, Subcommand};

/// statecast: train deep state-space models on sensor history, serve forecasts over gRPC and
/// monitor streams for anomalies.
#[derive(Debug, Parser)]
#[command(name = "statecast", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a labelled multivariate sensor dataset (the built-in default data).
    Simulate(simulate::SimulateArgs),
    /// Read and validate a dataset; print its schema, frequency and missing-value report.
    Inspect(inspect::InspectArgs),
    /// Train a model on a dataset and write its artifact (resumable).
    Train(train::TrainCmdArgs),
    /// Score a saved model on a dataset split (any device), with the model's own scaler.
    Score(score::ScoreArgs),
    /// Long-term forecasting evaluation (published protocol) of a model family on a dataset.
    Eval(Box<eval::EvalArgs>),
    /// Rolling-origin backtest: forecasts from several past cut-offs, refitted every k, scored
    /// per cut-off, series and step (MSE, MAE, sMAPE, MASE, interval coverage, WQL).
    Backtest(Box<backtest::BacktestArgs>),
    /// Hyper-parameter search on the validation split only: seeded, resumable, pruned by the
    /// median rule, trials in parallel; writes the trials table, the best settings and model.
    Tune(Box<tune::TuneArgs>),
    /// Anomaly scores, labels and alarm segments for a dataset (Parquet/CSV out).
    Detect(Box<detect::DetectArgs>),
    /// Run the gRPC server.
    Serve(serve::ServeArgs),
    /// Manage a server's model registry (register, list, get, delete, label).
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Submit, follow and cancel training jobs on a server.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Stream a file's rows to a server's anomaly monitor; print alarms as they fire.
    Monitor(Box<monitor::MonitorArgs>),
    /// Forecast the next steps of every series of a file with a registered model.
    Forecast(forecast::ForecastArgs),
    /// Stream a file's rows to a server's live forecasts; print the forecast after each point.
    ForecastLive(Box<live::LiveArgs>),
    /// Ask a running server for its version, devices and health.
    Info(info::InfoArgs),
    /// List compute devices; `--check DEVICE` runs a numerical self-check against the CPU.
    Devices(devices::DevicesArgs),
    /// Benchmarks that print tables (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Dispatch to the subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(*a),
        Command::Backtest(a) => backtest::run(*a),
        Command::Tune(a) => tune::run_tune(*a),
        Command::Score(a) => score::run(a),
        Command::Detect(a) => detect::run(*a),
        Command::Serve(a) => serve::run(a),
        Command::Models(c) => models::run(c),
        Command::Jobs(c) => jobs::run(c),
        Command::Monitor(a) => monitor::run(*a),
        Command::Forecast(a) => forecast::run(a),
        Command::ForecastLive(a) => live::run(*a),
        Command::Info(a) => info::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Bench(c) => bench::run(c),
    }
}

/// Log to stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub(crate) fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,statecast=info,statecast_service=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded tokio runtime for the async subcommands.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// `--model NAME`: a model family by name (see `statecast_models::zoo::ModelFamily`).
pub(crate) fn parse_family(s: &str) -> Result<statecast_models::zoo::ModelFamily, String> {
    s.parse()
        .map_err(|e: statecast_models::zoo::UnknownFamily| e.to_string())
}
