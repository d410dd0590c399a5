//! `statecast bench load`: forecast latency and throughput of a server under concurrent
//! clients, and the server's memory before and after.
//!
//! Without `--server` the bench starts `statecast serve` itself on a temporary data dir
//! (loopback, free port), simulates a small dataset, trains a tiny `linear` model with this
//! binary and registers it. Each concurrency level runs for `--duration-s` (or until
//! `--max-requests`), every client on its own connection sending one-series forecasts
//! back to back. Latencies are exact percentiles over all requests of the level.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::client::ClientOptions;
use anyhow::{Context, bail};
use statecast_pipelines::frame::Frequency;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_service::ops::telemetry::proc_status_kib;

use super::models::status;

#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// Server to load (`http://127.0.0.1:PORT`); default: start one as a child process.
    #[arg(long)]
    server: Option<String>,
    /// More servers sharing `--server`'s registry (scale-out mode, comma-separated): the forecast
    /// clients of each level are spread over all of them, round robin.
    #[arg(long, value_delimiter = ',', requires = "server")]
    spread_over: Vec<String>,
    /// PID of `--server`, to read its RSS from /proc (the child's PID when the bench starts it).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Registered model to forecast with (created when the bench starts its own server).
    #[arg(long, default_value = "bench")]
    model: String,
    /// Concurrent clients per level, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 16, 64])]
    clients: Vec<usize>,
    /// Seconds per level.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Upper bound on requests per level.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: usize,
    /// Series per forecast request.
    #[arg(long, default_value_t = 1)]
    series_per_request: usize,
    /// Server flag `--max-concurrent-forecasts` for a server the bench starts.
    #[arg(long)]
    max_concurrent_forecasts: Option<usize>,
    /// Also measure the streaming monitor with this many concurrent series on one stream
    /// (the model needs a saved detector; the bench fits one for the model it trains).
    #[arg(long)]
    monitor_series: Option<usize>,
    /// Also measure live forecasts (`StreamForecast`, recurrent mode) with this many concurrent
    /// series on one stream; rounds and rate as for the monitor.
    #[arg(long)]
    live_series: Option<usize>,
    /// Upper bound on monitor (and live-forecast) rounds (one point per series each).
    #[arg(long, default_value_t = 10_000)]
    monitor_rounds: usize,
    /// `--device` of a server the bench starts (cuda for the GPU monitor figures).
    #[arg(long, default_value = "cpu")]
    server_device: String,
    /// `--monitor-max-batch` of a server the bench starts (1: score one point at a time).
    #[arg(long, default_value_t = 1024)]
    server_monitor_batch: usize,
    /// Points per second the monitor client offers (0: as fast as the stream accepts).
    #[arg(long, default_value_t = 0.0)]
    monitor_rate: f64,
    /// Model family the bench trains and serves: linear or spacetime.
    #[arg(long, default_value = "linear")]
    family: String,
    /// Fit the monitor's detector with `--window-scoring` (SpaceTime: a window forward per point
    /// instead of the recurrent state).
    #[arg(long)]
    window_scoring: bool,
}

/// A `statecast serve` child, killed on drop.
struct ChildServer {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_self(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .args(args)
        .output()
        .with_context(|| format!("running statecast {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "statecast {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Start a server on a temp dir and train a tiny model for it; returns the server and the
/// artifact directory to register.
fn start_server(
    device: &str,
    monitor_batch: usize,
    monitor_series: Option<usize>,
    max_concurrent: Option<usize>,
    model: &str,
    window_scoring: bool,
) -> anyhow::Result<(ChildServer, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let p = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
    #[rustfmt::skip]
    run_self(&["simulate", "--out", &p("sim"), "--series", "2", "--variates", "4", "--length", "2000"])?;
    #[rustfmt::skip]
    run_self(&[
        "train", "--data", &p("sim/sensors.parquet"), "--series-column", "series_id",
        "--label-column", "label", "--missing", "linear", "--model", model,
        "--lookback", "96", "--horizon", "24", "--epochs", "1", "--max-batches-per-epoch", "4",
        "--out", &p("model"),
    ])?;
    // A detector for the monitor part (fitted on the same simulated rows, no labels used).
    #[rustfmt::skip]
    let (data, art, scores, det) = (
        p("sim/sensors.parquet"),
        p("model"),
        p("scores.csv"),
        p("model/detector.json"),
    );
    #[rustfmt::skip]
    let mut detect = vec![
        "detect", "--data", &data, "--series-column", "series_id", "--label-column", "label",
        "--missing", "linear", "--model", &art, "--out", &scores, "--save-detector", &det,
    ];
    if window_scoring {
        detect.push("--window-scoring");
    }
    run_self(&detect)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    #[rustfmt::skip]
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir", &p("data"), "--import-root", &p("model"), "--device", device]);
    cmd.args(["--monitor-max-batch", &monitor_batch.to_string()]);
    if let Some(n) = monitor_series {
        // Room for every series of the run on one stream.
        let n = n.max(20_000).to_string();
        cmd.args(["--monitor-max-series", &n, "--monitor-max-total-series", &n]);
    }
    if let Some(n) = max_concurrent {
        cmd.args(["--max-concurrent-forecasts", &n.to_string()]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        // STATECAST_BENCH_SERVER_STDERR=1 shows the child server's log (for diagnosing a run).
        .stderr(if std::env::var_os("STATECAST_BENCH_SERVER_STDERR").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .context("starting statecast serve")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("child stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("statecast listening on ")
        .with_context(|| format!("unexpected line from serve: {line:?}"))?;
    let model = dir.path().join("model");
    Ok((
        ChildServer {
            addr: format!("http://{addr}"),
            child,
            _dir: dir,
        },
        model,
    ))
}

/// VmRSS and VmHWM of `pid`, MiB.
fn rss_mib(pid: Option<u32>) -> Option<(f64, f64)> {
    let path = format!("/proc/{}/status", pid?);
    let rss = proc_status_kib(&path, "VmRSS:")?;
    let hwm = proc_status_kib(&path, "VmHWM:")?;
    Some((rss as f64 / 1024.0, hwm as f64 / 1024.0))
}

fn fmt_rss(r: Option<(f64, f64)>) -> String {
    r.map_or("n/a".into(), |(rss, hwm)| format!("{rss:.1} MiB (peak {hwm:.1})"))
}

/// A forecast request of `n` synthetic series shaped for the model.
fn request(version: &pb::ModelVersion, n: usize) -> anyhow::Result<pb::ForecastRequest> {
    let schema = version.schema.clone().context("the model has no schema")?;
    let step = Frequency::parse(&schema.frequency).map_or(3_600_000_000, |f| f.micros);
    let (rows, cols) = (schema.lookback as usize, schema.columns.len());
    let series = (0..n)
        .map(|s| pb::SeriesInput {
            series_id: format!("bench-{s}"),
            timestamps: (0..rows as i64).map(|t| t * step).collect(),
            values: Some(pb::Matrix {
                rows: rows as u32,
                cols: cols as u32,
                values: (0..rows * cols)
                    .map(|i| ((i / cols) as f32 * 0.26 + (i % cols) as f32).sin())
                    .collect(),
            }),
        })
        .collect();
    Ok(pb::ForecastRequest {
        model: Some(pb::ModelRef {
            name: version.name.clone(),
            selector: Some(pb::model_ref::Selector::Version(version.version)),
        }),
        series,
        horizon: 0,
        quantiles: vec![0.1, 0.5, 0.9],
        levels: vec![],
    })
}

/// One level's result.
struct Level {
    clients: usize,
    ok: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `clients` clients, client i on its own connection to `endpoints[i % len]`.
async fn run_level(
    endpoints: &[ClientOptions],
    req: &pb::ForecastRequest,
    clients: usize,
    duration: Duration,
    max_requests: usize,
) -> anyhow::Result<Level> {
    let issued = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(clients);
    for i in 0..clients {
        connections.push(endpoints[i % endpoints.len()].connect().await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|channel| {
            let issued = issued.clone();
            let req = req.clone();
            tokio::spawn(async move {
                let mut client = ForecastServiceClient::new(channel).max_decoding_message_size(64 << 20);
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests {
                    let t = Instant::now();
                    match client.forecast(req.clone()).await {
                        Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if all.is_empty() {
            f64::NAN
        } else {
            all[((all.len() - 1) as f64 * q).round() as usize]
        }
    };
    Ok(Level {
        clients,
        ok: all.len(),
        errors,
        seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

async fn registered(
    options: &ClientOptions,
    model: &str,
    artifact: Option<&Path>,
) -> anyhow::Result<pb::ModelVersion> {
    let mut models = ModelServiceClient::new(options.connect().await?);
    if let Some(path) = artifact {
        models
            .register_model(pb::RegisterModelRequest {
                name: model.into(),
                path: path.to_string_lossy().into_owned(),
                labels: vec![],
            })
            .await
            .map_err(status)?;
    }
    let detail = models
        .get_model(pb::GetModelRequest {
            model: Some(pb::ModelRef {
                name: model.into(),
                selector: None,
            }),
        })
        .await
        .map_err(status)?
        .into_inner();
    detail
        .versions
        .last()
        .cloned()
        .context("the model has no version")
}

pub(crate) fn run(args: LoadArgs) -> anyhow::Result<()> {
    let (child, artifact) = match &args.server {
        Some(_) => (None, None),
        None => {
            eprintln!("starting a server and training a tiny model …");
            let (server, artifact) = start_server(
                &args.server_device,
                args.server_monitor_batch,
                args.monitor_series.max(args.live_series),
                args.max_concurrent_forecasts,
                &args.family,
                args.window_scoring,
            )?;
            (Some(server), Some(artifact))
        }
    };
    let address = args
        .server
        .clone()
        .or_else(|| child.as_ref().map(|c| c.addr.clone()))
        .context("no server")?;
    let pid = args.server_pid.or_else(|| child.as_ref().map(|c| c.child.id()));
    let options = ClientOptions::new(address.clone());
    super::runtime()?.block_on(async move {
        let version = registered(&options, &args.model, artifact.as_deref()).await?;
        let req = request(&version, args.series_per_request)?;
        // Warm-up: loads the model into each server's cache.
        let mut endpoints = vec![options.clone()];
        endpoints.extend(args.spread_over.iter().map(|a| ClientOptions::new(a.clone())));
        for endpoint in &endpoints {
            ForecastServiceClient::new(endpoint.connect().await?)
                .forecast(req.clone())
                .await
                .map_err(status)?;
        }
        let before = rss_mib(pid);
        println!(
            "server {address}{}, model {}@{} (lookback {}, {} variates), {} series/request",
            if args.spread_over.is_empty() {
                String::new()
            } else {
                format!(
                    " and {} (clients spread round robin)",
                    args.spread_over.join(", ")
                )
            },
            version.name,
            version.version,
            req.series
                .first()
                .map_or(0, |s| s.values.as_ref().map_or(0, |m| m.rows)),
            req.series
                .first()
                .map_or(0, |s| s.values.as_ref().map_or(0, |m| m.cols)),
            args.series_per_request
        );
        println!("server RSS before: {}", fmt_rss(before));
        println!(
            "{:>8} {:>10} {:>8} {:>10} {:>10} {:>10} {:>22}",
            "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "server RSS after"
        );
        let duration = Duration::from_secs_f64(args.duration_s);
        for &clients in &args.clients {
            let level = run_level(&endpoints, &req, clients.max(1), duration, args.max_requests).await?;
            println!(
                "{:>8} {:>10} {:>8} {:>10.0} {:>10.2} {:>10.2} {:>22}",
                level.clients,
                level.ok,
                level.errors,
                level.ok as f64 / level.seconds,
                level.p50_ms,
                level.p99_ms,
                fmt_rss(rss_mib(pid))
            );
        }
        println!("server RSS after:  {}", fmt_rss(rss_mib(pid)));
        let (variates, lookback) = req.series.first().map_or((0, 0), |s| {
            s.values
                .as_ref()
                .map_or((0, 0), |m| (m.cols as usize, m.rows as usize))
        });
        use super::bench_monitor::Target;
        for (series, target) in [
            (args.monitor_series, Target::Monitor),
            (args.live_series, Target::LiveForecast),
        ] {
            let Some(series) = series else { continue };
            let load = super::bench_monitor::MonitorLoad {
                variates,
                lookback,
                series: series.max(1),
                duration,
                max_rounds: args.monitor_rounds,
                rate: args.monitor_rate,
                target,
            };
            let m = super::bench_monitor::run_monitor(&options, &args.model, &load).await?;
            let what = match target {
                Target::Monitor => "monitor",
                Target::LiveForecast => "live forecasts",
            };
            println!(
                "{what}: {} series on one stream, {} points sent, {} answered ({} warming up), {} alarms, \
                 {:.1} s: {:.0} points/s; server RSS after: {}",
                m.series,
                m.sent,
                m.answered,
                m.warming,
                m.alarms,
                m.seconds,
                m.answered as f64 / m.seconds,
                fmt_rss(rss_mib(pid))
            );
            println!("warm-up ({} rounds): {}", m.warmup_rounds, m.warmup.line());
            match &m.steady {
                Some(p) => println!("steady-state: {}", p.line()),
                None => println!("steady-state: not reached (raise --monitor-rounds past the look-back)"),
            }
            if let Some(p) = &m.settled {
                println!("steady-state, second half: {}", p.line());
            }
        }
        Ok(())
    })
}
