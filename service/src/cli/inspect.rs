//! `statecast inspect`: read, validate and describe a dataset; optionally convert it.
use std::path::PathBuf;
use std::time::Instant;

use statecast_pipelines::frame::format_micros;
use statecast_pipelines::sink::{self, WriteOptions};

use super::data_args::DataArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Write the validated data to this file (.parquet, .arrow, .csv or .csv.gz).
    #[arg(long)]
    convert: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: InspectArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let (frame, report) = args.data.load()?;
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("file:       {} ({})", report.path.display(), report.format.name());
        println!("rows read:  {} in {:.3} s", report.rows_read, seconds);
        println!("frequency:  {}", report.frequency);
        println!(
            "variates:   {} ({})",
            report.columns.len(),
            report.columns.join(", ")
        );
        println!("series:     {}", report.series);
        for s in &frame.series {
            let (first, last) = match (s.timestamps.first(), s.timestamps.last()) {
                (Some(f), Some(l)) => (format_micros(*f), format_micros(*l)),
                _ => ("-".into(), "-".into()),
            };
            let labelled = s.labels.as_ref().map(|l| l.iter().filter(|&&v| v != 0).count());
            println!(
                "  {:<24} {:>8} rows  {first} → {last}{}",
                s.id,
                s.len(),
                labelled
                    .map(|n| format!("  ({n} labelled anomalous)"))
                    .unwrap_or_default()
            );
        }
        println!("gaps filled: {} rows", report.gaps_filled);
        if report.dropped_non_increasing > 0 {
            println!(
                "dropped:    {} rows with a timestamp not after the previous row (--non-increasing drop)",
                report.dropped_non_increasing
            );
        }
        if report.missing.is_empty() {
            println!("missing:    none");
        } else {
            println!("missing values (policy {:?}):", args.data.missing);
            for m in &report.missing {
                println!("  {m:?}");
            }
        }
    }
    if let Some(out) = args.convert {
        let opts = WriteOptions::default();
        let name = out.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            sink::write_parquet(&frame, &out, &opts)?;
        } else if name.ends_with(".arrow") || name.ends_with(".ipc") || name.ends_with(".feather") {
            sink::write_arrow_ipc(&frame, &out, &opts)?;
        } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            sink::write_csv(&frame, &out, &opts)?;
        } else {
            anyhow::bail!(
                "--convert {}: unknown extension (use .parquet, .arrow, .csv or .csv.gz)",
                out.display()
            );
        }
        println!("wrote {}", out.display());
    }
    Ok(())
}
