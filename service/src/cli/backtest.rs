//! `statecast backtest`: rolling-origin evaluation of a model family on a dataset
//! ([`statecast_service::backtest`]): per cut-off, series and horizon step metrics to a Parquet
//! or CSV file, a summary table by cut-off, and a plot of the errors by cut-off.
use std::path::PathBuf;

use anyhow::Context;
use statecast_models::device::DeviceSpec;
use statecast_models::train::ProgressBarObserver;
use statecast_models::zoo::ModelFamily;
use statecast_service::backtest::{
    BacktestPlan, BacktestRequest, BacktestSummary, run as run_backtest, write_rows,
};
use statecast_service::train_defaults;

use super::data_args::DataArgs;
use super::plot::{ACTUAL_COLOUR, FORECAST_COLOUR, LinePanel, SCORE_COLOUR, plot_lines};
use super::train_args::{TrainArgs, read_model_config};

#[derive(Debug, clap::Args)]
pub(crate) struct BacktestArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model family: spacetime, simba, chimera, linear, repeat.
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
    /// Number of cut-offs; the last one's forecast ends on each series' last row.
    #[arg(long, default_value_t = 5)]
    cutoffs: usize,
    /// Rows between cut-offs (default: the horizon, so forecasts tile the tail without overlap).
    #[arg(long)]
    step: Option<usize>,
    /// Refit the model every this many cut-offs; 0 fits once, at the first cut-off.
    #[arg(long, default_value_t = 0)]
    refit_every: usize,
    /// Share of the rows before a fit's cut-off used for validation (early stopping, intervals).
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Season of MASE's naive forecast, in rows (1 = the previous row; e.g. 24 for hourly data).
    #[arg(long, default_value_t = 1)]
    season: usize,
    #[command(flatten)]
    train: TrainArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = train_defaults::DEVICE)]
    device: DeviceSpec,
    /// Write every (cut-off, series, step) row here: Parquet, or CSV when the name ends in .csv.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a PNG of the errors and interval coverage by cut-off.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the summary (by cut-off and overall) and the fits as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let req = BacktestRequest {
        data: args.data.spec()?,
        family: args.model,
        model_overrides: read_model_config(args.model_config.as_deref())?,
        lookback: args.lookback,
        horizon: args.horizon,
        train: args.train.config()?,
        device: args.device,
        plan: BacktestPlan {
            cutoffs: args.cutoffs,
            step: args.step.unwrap_or(args.horizon),
            refit_every: args.refit_every,
            val_fraction: args.val_fraction,
            season: args.season,
        },
    };
    let mut progress = ProgressBarObserver::new();
    let report = run_backtest(&req, &mut progress)?;
    let by_cutoff: Vec<(usize, BacktestSummary)> = (1..=req.plan.cutoffs)
        .map(|c| {
            (
                c,
                BacktestSummary::of(report.rows.iter().filter(|r| r.cutoff == c)),
            )
        })
        .collect();
    let overall = BacktestSummary::of(&report.rows);
    print_summary(&by_cutoff, &overall);
    for f in &report.fits {
        println!(
            "fit at cut-off {}: {} epochs, {:.1} s, intervals {}",
            f.cutoff,
            f.epochs,
            f.seconds,
            if f.interval_method.is_empty() {
                "none"
            } else {
                &f.interval_method
            }
        );
    }
    if let Some(path) = &args.out {
        write_rows(path, &report.rows)?;
        println!("wrote {} ({} rows)", path.display(), report.rows.len());
    }
    if let Some(path) = &args.json {
        let summary = serde_json::json!({
            "by_cutoff": by_cutoff.iter().map(|(c, s)| serde_json::json!({"cutoff": c, "summary": s})).collect::<Vec<_>>(),
            "overall": overall,
            "fits": report.fits,
        });
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let x: Vec<f64> = by_cutoff.iter().map(|(c, _)| *c as f64).collect();
        let line = |f: fn(&BacktestSummary) -> f64| by_cutoff.iter().map(|(_, s)| f(s)).collect::<Vec<f64>>();
        let panels = [
            LinePanel {
                title: "scale-free errors".into(),
                x_desc: "cut-off".into(),
                y_desc: "mean over series and steps".into(),
                x: x.clone(),
                lines: vec![
                    ("MASE".into(), line(|s| s.mase), FORECAST_COLOUR),
                    ("sMAPE / 100".into(), line(|s| s.smape / 100.0), SCORE_COLOUR),
                ],
            },
            LinePanel {
                title: "interval coverage".into(),
                x_desc: "cut-off".into(),
                y_desc: "share inside".into(),
                x,
                lines: vec![
                    ("80 %".into(), line(|s| s.coverage[0]), SCORE_COLOUR),
                    ("95 %".into(), line(|s| s.coverage[2]), ACTUAL_COLOUR),
                ],
            },
        ];
        let title = format!(
            "backtest: {} (L={}, H={}, {} cut-offs {} rows apart)",
            req.family, req.lookback, req.horizon, req.plan.cutoffs, req.plan.step
        );
        plot_lines(path, &title, &panels).with_context(|| format!("plotting {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn print_summary(by_cutoff: &[(usize, BacktestSummary)], overall: &BacktestSummary) {
    println!(
        "| {:>7} | {:>10} | {:>10} | {:>7} | {:>6} | {:>6} | {:>6} | {:>6} | {:>6} |",
        "cut-off", "MSE", "MAE", "sMAPE", "MASE", "cov80", "cov90", "cov95", "WQL"
    );
    println!(
        "|{:-<9}|{:-<12}|{:-<12}|{:-<9}|{:-<8}|{:-<8}|{:-<8}|{:-<8}|{:-<8}|",
        "", "", "", "", "", "", "", "", ""
    );
    let line = |name: String, s: &BacktestSummary| {
        println!(
            "| {:>7} | {:>10.4} | {:>10.4} | {:>7.2} | {:>6.3} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6.3} |",
            name,
            s.mse,
            s.mae,
            s.smape,
            s.mase,
            100.0 * s.coverage[0],
            100.0 * s.coverage[1],
            100.0 * s.coverage[2],
            s.wql
        );
    };
    for (c, s) in by_cutoff {
        line(c.to_string(), s);
    }
    line("all".into(), overall);
}
