//! `statecast bench scan2d`: how the 2-D selective scan (Chimera's core op,
//! `models/src/scan2d/`) scales as the variates and the length grow, on a device.
//!
//! Per grid (`V × T`) and path (rows, columns) it prints the forward time, the forward + backward
//! time (the gradient of a random projection of `y` with respect to every input and parameter),
//! the relative error of `y` against the `f64` cell-by-cell loop
//! (`max |y − y_ref| / max |y_ref|`; NaN never passes), and, on the CPU, the memory one
//! forward + backward takes: measured in a fresh child process (this binary again), as the rise
//! of its peak resident set during the pass above its resident set just before (in a long-lived
//! process the allocator's retained pages would hide the rise). The path that `scan2d` picks for
//! the grid is marked.
use std::time::Instant;

use burn::prelude::*;
use statecast_models::device::DeviceSpec;
use statecast_models::scan2d::reference::{HostScan2d, sequential_scan2d};
use statecast_models::scan2d::{Scan2dInput, Scan2dParams, Scan2dPath, columns_scan, rows_scan};

use super::bench_scan::{median, relative_error, tensor, values};

#[derive(Debug, clap::Args)]
pub(crate) struct Scan2dArgs {
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Channels `E`.
    #[arg(long, default_value_t = 32)]
    channels: usize,
    /// State size `N` per axis.
    #[arg(long, default_value_t = 8)]
    state: usize,
    /// Chunk length of the 1-D linear scans.
    #[arg(long, default_value_t = 4)]
    chunk: usize,
    /// Grids `VxT` (variates × time steps), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "8x96,16x96,32x96,64x96,8x192,8x384,8x768"
    )]
    grids: Vec<String>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Largest relative error that passes.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Internal: run one forward + backward of the first grid by this path (rows, columns) and
    /// print the rise of the peak resident set in KiB (what the parent reports as memory).
    #[arg(long, hide = true)]
    memory_child: Option<String>,
}

/// A random problem shaped as Chimera's: decays `A1`, `A4` in `[−8.5, −1]`, couplings in
/// `[−0.5, 0.5]`, steps in `[0.001, 0.1]`.
fn problem(batch: usize, variates: usize, time: usize, e: usize, n: usize) -> HostScan2d {
    let cells = batch * variates * time;
    let decay = |seed| {
        values(e * n, seed)
            .into_iter()
            .map(|v| -(1.0 + 3.75 * (v + 1.0)))
            .collect()
    };
    let coupling = |seed| values(e * n, seed).into_iter().map(|v| 0.5 * v).collect();
    let step = |seed| {
        values(cells * e, seed)
            .into_iter()
            .map(|v| 0.001 + 0.0495 * (v + 1.0))
            .collect()
    };
    HostScan2d {
        batch,
        variates,
        time,
        channels: e,
        state: n,
        x: values(cells * e, 1),
        delta1: step(2),
        delta2: step(3),
        a1: decay(4),
        a2: coupling(5),
        a3: coupling(6),
        a4: decay(7),
        b1: values(cells * n, 8),
        b2: values(cells * n, 9),
        c1: values(cells * n, 10),
        c2: values(cells * n, 11),
        d: values(e, 12),
    }
}

/// The problem on `device`; every tensor requires a gradient when `grad`.
fn inputs(p: &HostScan2d, device: &Device, grad: bool) -> (Scan2dParams, Scan2dInput) {
    let (b, v, t, e, n) = (p.batch, p.variates, p.time, p.channels, p.state);
    let g = |x: Tensor<4>| if grad { x.require_grad() } else { x };
    let g2 = |x: Tensor<2>| if grad { x.require_grad() } else { x };
    let params = Scan2dParams {
        a1: g2(tensor(&p.a1, [e, n], device)),
        a2: g2(tensor(&p.a2, [e, n], device)),
        a3: g2(tensor(&p.a3, [e, n], device)),
        a4: g2(tensor(&p.a4, [e, n], device)),
        d: tensor(&p.d, [e], device),
    };
    let input = Scan2dInput {
        x: g(tensor(&p.x, [b, v, t, e], device)),
        delta1: g(tensor(&p.delta1, [b, v, t, e], device)),
        delta2: g(tensor(&p.delta2, [b, v, t, e], device)),
        b1: g(tensor(&p.b1, [b, v, t, n], device)),
        b2: g(tensor(&p.b2, [b, v, t, n], device)),
        c1: g(tensor(&p.c1, [b, v, t, n], device)),
        c2: g(tensor(&p.c2, [b, v, t, n], device)),
    };
    (params, input)
}

/// `VmRSS` and `VmHWM` of this process in KiB (Linux; `None` elsewhere).
fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// One forward + backward in this process; prints the rise of the peak resident set (KiB).
fn memory_child(args: &Scan2dArgs, (v, t): (usize, usize), path: &str) -> anyhow::Result<()> {
    let ad = args.device.device()?.autodiff();
    let p = problem(args.batch, v, t, args.channels, args.state);
    let (params, input) = inputs(&p, &ad, true);
    let weights = tensor(
        &values(args.batch * v * t * args.channels, 99),
        [args.batch, v, t, args.channels],
        &ad,
    );
    drop(p);
    let (rss, _) = rss_kib().ok_or_else(|| anyhow::anyhow!("no /proc/self/status"))?;
    let y = match path {
        "rows" => rows_scan(&params, input, args.chunk).y,
        "columns" => columns_scan(&params, input, args.chunk).y,
        other => anyhow::bail!("unknown path {other:?}"),
    };
    let grads = (y * weights).sum().backward();
    let (_, hwm) = rss_kib().ok_or_else(|| anyhow::anyhow!("no /proc/self/status"))?;
    drop(grads);
    println!("{}", hwm.saturating_sub(rss));
    Ok(())
}

/// The memory of one forward + backward, MiB, from a child process (CPU only).
fn measure_memory(args: &Scan2dArgs, (v, t): (usize, usize), path: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args(["bench", "scan2d", "--device", "cpu", "--memory-child", path])
        .args(["--grids", &format!("{v}x{t}")])
        .args([
            "--batch",
            &args.batch.to_string(),
            "--channels",
            &args.channels.to_string(),
        ])
        .args([
            "--state",
            &args.state.to_string(),
            "--chunk",
            &args.chunk.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let kib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(kib / 1024.0)
}

fn parse_grid(s: &str) -> anyhow::Result<(usize, usize)> {
    let (v, t) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("grid {s:?} is not VxT"))?;
    let v: usize = v.trim().parse()?;
    let t: usize = t.trim().parse()?;
    anyhow::ensure!(
        (1..=4096).contains(&v) && (1..=65_536).contains(&t),
        "grid {s:?}: V must be in 1..=4096 and T in 1..=65536"
    );
    Ok((v, t))
}

pub(crate) fn run(args: Scan2dArgs) -> anyhow::Result<()> {
    let dims_ok = |v: usize| (1..=4096).contains(&v);
    anyhow::ensure!(
        dims_ok(args.batch) && dims_ok(args.channels) && dims_ok(args.state),
        "--batch, --channels and --state must be in 1..=4096"
    );
    anyhow::ensure!((1..=256).contains(&args.chunk), "--chunk must be in 1..=256");
    anyhow::ensure!(
        (1..=1000).contains(&args.repeats) && args.warmup <= 1000,
        "--repeats must be in 1..=1000 and --warmup at most 1000"
    );
    let grids = args
        .grids
        .iter()
        .map(|g| parse_grid(g))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!grids.is_empty(), "--grids is empty");
    if let Some(path) = &args.memory_child {
        return memory_child(&args, grids[0], path);
    }
    let (b, e, n, q) = (args.batch, args.channels, args.state, args.chunk);
    for &(v, t) in &grids {
        let floats = (b * v * t) as u128 * e as u128 * n as u128 * q as u128;
        anyhow::ensure!(
            floats <= 1u128 << 32,
            "grid {v}x{t}: batch × V × T × E × N × chunk = {floats} floats: too large (at most 2^32)"
        );
    }
    let device = args.device.device()?;
    let ad = device.clone().autodiff();
    let sync = |d: &Device| {
        d.sync()
            .map_err(|e| anyhow::anyhow!("synchronising the device: {e:?}"))
    };
    let on_cpu = matches!(args.device, DeviceSpec::Cpu);
    println!(
        "bench scan2d on {:?}: B={b} E={e} N={n} chunk {q}, fp32, median of {} after {} warm-up",
        args.device, args.repeats, args.warmup
    );
    println!("| V | T | path | forward ms | fwd+bwd ms | fwd+bwd memory MiB | rel. error vs f64 loop | ok |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut all_ok = true;
    for (v, t) in grids {
        let p = problem(b, v, t, e, n);
        let y_ref = sequential_scan2d(&p).y;
        let weights = tensor(&values(b * v * t * e, 99), [b, v, t, e], &ad);
        let picked = Scan2dPath::for_grid(v, t);
        for (path, name) in [(Scan2dPath::Rows, "rows"), (Scan2dPath::Columns, "columns")] {
            let scan = |params: &Scan2dParams, input: Scan2dInput| match path {
                Scan2dPath::Rows => rows_scan(params, input, q).y,
                Scan2dPath::Columns => columns_scan(params, input, q).y,
            };
            let mut fwd = Vec::new();
            let mut y_last = None;
            for i in 0..args.warmup + args.repeats {
                let (params, input) = inputs(&p, &device, false);
                sync(&device)?;
                let started = Instant::now();
                let y = scan(&params, input);
                sync(&device)?;
                if i >= args.warmup {
                    fwd.push(started.elapsed());
                }
                y_last = Some(y);
            }
            let err = relative_error(y_last, &y_ref)?;
            let mut both = Vec::new();
            for i in 0..args.warmup + args.repeats {
                let (params, input) = inputs(&p, &ad, true);
                sync(&ad)?;
                let started = Instant::now();
                let grads = (scan(&params, input) * weights.clone()).sum().backward();
                sync(&ad)?;
                if i >= args.warmup {
                    both.push(started.elapsed());
                }
                drop(grads);
            }
            let peak_mib = if on_cpu {
                measure_memory(&args, (v, t), name)
            } else {
                None
            };
            let ok = err.is_finite() && err <= args.tolerance;
            all_ok &= ok;
            let mark = if path == picked { " (picked)" } else { "" };
            let memory = peak_mib.map_or("—".to_string(), |m| format!("{m:.0}"));
            println!(
                "| {v} | {t} | {name}{mark} | {:.2} | {:.2} | {memory} | {err:.2e} | {} |",
                median(fwd),
                median(both),
                if ok { "yes" } else { "NO" }
            );
        }
    }
    anyhow::ensure!(
        all_ok,
        "a 2-D scan disagreed with the f64 reference beyond {}",
        args.tolerance
    );
    Ok(())
}
