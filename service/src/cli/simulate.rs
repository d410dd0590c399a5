//! `statecast simulate`: write the built-in labelled sensor dataset.
use std::path::PathBuf;

use statecast_pipelines::Frequency;
use statecast_pipelines::simulate::{SimConfig, simulate, write_simulation};

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Output directory (sensors.parquet, anomalies.csv, and sensors.csv with --csv).
    #[arg(long, default_value = "sim")]
    out: PathBuf,
    /// Number of series (machines).
    #[arg(long)]
    series: Option<usize>,
    /// Sensors per series.
    #[arg(long)]
    variates: Option<usize>,
    /// Rows per series.
    #[arg(long)]
    length: Option<usize>,
    /// Sampling period, e.g. 5min, 1h.
    #[arg(long)]
    frequency: Option<String>,
    /// Random seed (same seed ⇒ identical files).
    #[arg(long)]
    seed: Option<u64>,
    /// Fraction of points missing (written as null / empty cells).
    #[arg(long)]
    missing_rate: Option<f64>,
    /// Also write sensors.csv.
    #[arg(long)]
    csv: bool,
    /// Anomaly segments per 1000 rows of the anomaly-eligible part of each series (default 1.5).
    #[arg(long)]
    anomaly_rate: Option<f64>,
    /// Fraction of each series, from its start, kept anomaly-free (default 0.5).
    #[arg(long)]
    clean_fraction: Option<f64>,
    /// Continue the same machines (those of --seed) after this many rows, with timestamps that
    /// continue too and fresh anomalies: e.g. the days after a training file of that length.
    #[arg(long)]
    offset: Option<usize>,
}

pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let mut cfg = SimConfig::default();
    if let Some(v) = args.series {
        cfg.series = v;
    }
    if let Some(v) = args.variates {
        cfg.variates = v;
    }
    if let Some(v) = args.length {
        cfg.length = v;
    }
    if let Some(f) = args.frequency {
        cfg.frequency = Frequency::parse(&f).map_err(|e| anyhow::anyhow!("--frequency: {e}"))?;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.missing_rate {
        cfg.missing_rate = v;
    }
    if let Some(v) = args.anomaly_rate {
        cfg.anomaly_rate = v;
    }
    if let Some(v) = args.clean_fraction {
        cfg.train_fraction_clean = v;
    }
    if let Some(v) = args.offset {
        cfg.offset = v;
    }
    let sim = simulate(&cfg)?;
    let files = write_simulation(&sim, &args.out, args.csv)?;
    let labelled: usize = sim
        .frame
        .series
        .iter()
        .filter_map(|s| s.labels.as_ref())
        .flatten()
        .filter(|&&l| l != 0)
        .count();
    println!(
        "simulated {} series × {} rows × {} sensors ({}), seed {}: {} anomaly segments, {} labelled rows",
        cfg.series,
        cfg.length,
        cfg.variates,
        sim.frame.columns.join(", "),
        cfg.seed,
        sim.segments.len(),
        labelled
    );
    println!("wrote {}", files.sensors_parquet.display());
    if let Some(csv) = &files.sensors_csv {
        println!("wrote {}", csv.display());
    }
    println!(
        "wrote {} (the labelled anomaly segments)",
        files.anomalies_csv.display()
    );
    Ok(())
}
