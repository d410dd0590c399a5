//! `statecast bench …`: benchmarks that print tables. Figures go to BENCHMARKS.md.
//!
//! `bench ingest` measures reading a large Parquet file: rows/s and peak RSS of a fresh process
//! for the streaming scan (bounded memory) and the full load (all values in memory), next to
//! pyarrow's `pq.read_table` on the same file when a Python with pyarrow is given.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::simulate::{SimConfig, simulate};
use statecast_pipelines::sink::{self, WriteOptions};
use statecast_pipelines::source::{self, DatasetSpec};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Parquet ingestion throughput and peak memory (generates the file if missing).
    Ingest(IngestArgs),
    /// Forecast latency (p50/p99), requests/s and server RSS under 1…N concurrent clients.
    Load(super::bench_load::LoadArgs),
    /// Where one training step's time goes (forward, backward, optimizer, read-back) on a device.
    Step(super::bench_step::StepArgs),
    /// The selective scan (chunked, tensor ops) forward and forward+backward on a device, checked
    /// against the f64 loop, beside a device copy's bandwidth.
    Scan(super::bench_scan::ScanArgs),
    /// The 2-D selective scan (Chimera's, rows and columns paths) as the variates and the length
    /// grow: forward and forward+backward time, memory on the CPU, checked against the f64 loop.
    Scan2d(super::bench_scan2d::Scan2dArgs),
    /// One measurement in a fresh process (used by `bench ingest`; prints one JSON line).
    #[command(hide = true)]
    IngestChild(ChildArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct IngestArgs {
    /// Parquet file to read; generated with the simulator when it does not exist.
    #[arg(long, default_value = "target/bench/ingest.parquet")]
    file: PathBuf,
    /// Values (rows × variates) to generate when the file is missing.
    #[arg(long, default_value_t = 50_000_000)]
    values: usize,
    /// Variates per row when generating.
    #[arg(long, default_value_t = 10)]
    variates: usize,
    /// Series when generating.
    #[arg(long, default_value_t = 10)]
    series: usize,
    /// Rows per read batch for the streaming scan (repeat the flag to compare sizes).
    #[arg(long, default_values_t = vec![8_192usize, 65_536, 524_288])]
    batch_rows: Vec<usize>,
    /// Python interpreter with pyarrow for the comparison (skipped when absent).
    #[arg(long)]
    python: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChildArgs {
    /// `scan` or `load`.
    #[arg(long)]
    mode: String,
    #[arg(long)]
    file: PathBuf,
    #[arg(long, default_value_t = 65_536)]
    batch_rows: usize,
}

/// One benchmark measurement.
#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    reader: String,
    rows: usize,
    values: usize,
    seconds: f64,
    peak_rss_bytes: u64,
}

pub(crate) fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(a) => ingest(a),
        BenchCommand::IngestChild(a) => child(a),
        BenchCommand::Load(a) => super::bench_load::run(a),
        BenchCommand::Step(a) => super::bench_step::run(a),
        BenchCommand::Scan(a) => super::bench_scan::run(a),
        BenchCommand::Scan2d(a) => super::bench_scan2d::run(a),
    }
}

/// Peak resident set size of this process (`VmHWM`), bytes.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0)
}

fn spec_for(file: &Path, batch_rows: usize) -> DatasetSpec {
    let mut spec = DatasetSpec::for_written(file, &WriteOptions::default(), MissingPolicy::Mask);
    spec.batch_rows = batch_rows;
    spec
}

fn child(args: ChildArgs) -> anyhow::Result<()> {
    let spec = spec_for(&args.file, args.batch_rows);
    let start = Instant::now();
    let (rows, values) = match args.mode.as_str() {
        "scan" => {
            let (mut rows, mut values) = (0usize, 0usize);
            for chunk in source::scan(&spec)? {
                let chunk = chunk?;
                rows += chunk.timestamps.len();
                values += chunk.values.iter().map(Vec::len).sum::<usize>();
            }
            (rows, values)
        }
        "load" => {
            let (frame, _) = source::load(&spec)?;
            (frame.n_rows(), frame.n_rows() * frame.n_variates())
        }
        other => anyhow::bail!("unknown mode {other:?}"),
    };
    let m = Measurement {
        reader: format!("statecast {} (batch {})", args.mode, args.batch_rows),
        rows,
        values,
        seconds: start.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

fn generate(args: &IngestArgs) -> anyhow::Result<()> {
    let length = args.values.div_ceil(args.variates * args.series);
    println!(
        "generating {} ({} series × {length} rows × {} variates = {} values)…",
        args.file.display(),
        args.series,
        args.variates,
        args.series * length * args.variates
    );
    let cfg = SimConfig {
        series: args.series,
        variates: args.variates,
        length,
        ..SimConfig::default()
    };
    let sim = simulate(&cfg)?;
    if let Some(dir) = args.file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    sink::write_parquet(&sim.frame, &args.file, &WriteOptions::default())?;
    Ok(())
}

fn run_child(mode: &str, file: &Path, batch_rows: usize) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args([
            "bench",
            "ingest-child",
            "--mode",
            mode,
            "--batch-rows",
            &batch_rows.to_string(),
            "--file",
        ])
        .arg(file)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "child {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

const PYARROW_SNIPPET: &str = r#"
import json, resource, sys, time
import pyarrow.parquet as pq
t0 = time.perf_counter()
table = pq.read_table(sys.argv[1])
secs = time.perf_counter() - t0
n_val = sum(1 for f in table.schema if f.name not in ("series_id", "timestamp", "label")) * table.num_rows
print(json.dumps({"reader": "pyarrow pq.read_table " + __import__("pyarrow").__version__, "rows": table.num_rows,
                  "values": n_val, "seconds": secs,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"#;

fn run_pyarrow(python: &Path, file: &Path) -> anyhow::Result<Measurement> {
    let out = Command::new(python)
        .args(["-c", PYARROW_SNIPPET])
        .arg(file)
        .output()
        .context("running python")?;
    anyhow::ensure!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if !args.file.exists() {
        generate(&args)?;
    }
    let file_mb = std::fs::metadata(&args.file)?.len() as f64 / 1e6;
    let mut rows = Vec::new();
    for &b in &args.batch_rows {
        rows.push(run_child("scan", &args.file, b)?);
    }
    rows.push(run_child("load", &args.file, 65_536)?);
    if let Some(py) = &args.python {
        rows.push(run_pyarrow(py, &args.file)?);
    }
    println!("\nfile: {} ({file_mb:.1} MB on disk)", args.file.display());
    println!(
        "| {:<36} | {:>10} | {:>11} | {:>8} | {:>12} | {:>14} | {:>12} |",
        "reader", "rows", "values", "seconds", "rows/s", "values/s", "peak RSS MB"
    );
    println!(
        "|{:-<38}|{:-<12}|{:-<13}|{:-<10}|{:-<14}|{:-<16}|{:-<14}|",
        "", "", "", "", "", "", ""
    );
    for m in &rows {
        println!(
            "| {:<36} | {:>10} | {:>11} | {:>8.3} | {:>12.0} | {:>14.0} | {:>12.1} |",
            m.reader,
            m.rows,
            m.values,
            m.seconds,
            m.rows as f64 / m.seconds,
            m.values as f64 / m.seconds,
            m.peak_rss_bytes as f64 / 1e6
        );
    }
    Ok(())
}
