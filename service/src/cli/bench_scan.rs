//! `statecast bench scan`: the selective scan as training runs it (the chunked scan from tensor
//! ops, `models/src/scan/chunked.rs`), timed on a device and checked against the plain-loop
//! `f64` reference on fresh random inputs.
//!
//! Per length and chunk it prints the forward time, the forward + backward time (the gradient of
//! a random projection of `y` with respect to every input and parameter), the relative error of
//! `y` against the reference (`max |y − y_ref| / max |y_ref|`; NaN never passes), and the
//! effective bandwidth on the minimal traffic (read `u`, `Δ`, `B`, `C`, write `y`) next to a
//! device copy of as many bytes measured in the same run. The same shape runs through the
//! PyTorch reference (`scan_bench.py`, see BENCHMARKS.md) for the side-by-side figure.
use std::time::{Duration, Instant};

use burn::prelude::*;
use statecast_models::device::DeviceSpec;
use statecast_models::scan::reference::{HostScan, sequential_scan};
use statecast_models::scan::{BDiscretisation, ScanInput, ScanParams, chunked_scan, fused_scan};

#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Channels (Mamba's inner width `E`).
    #[arg(long, default_value_t = 256)]
    channels: usize,
    /// State size `N`.
    #[arg(long, default_value_t = 16)]
    state: usize,
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,2048")]
    lengths: Vec<usize>,
    /// Chunk lengths of the chunked scan, comma-separated; 0 is the fused op (one backend op
    /// with its own backward: host loops on the CPU, the CubeCL kernel on CUDA).
    #[arg(long, value_delimiter = ',', default_value = "0,4,8")]
    chunks: Vec<usize>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Untimed repetitions first (kernel compilation, autotuning).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Largest relative error that passes.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Values in `[-1, 1)` from a fixed-seed generator (splitmix64), reproducible on every machine.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// A random problem shaped as Mamba's: `A < 0` (S4D-real-like), `Δ` in `[0.001, 0.1]`.
fn problem(batch: usize, time: usize, channels: usize, state: usize, seed: u64) -> HostScan {
    let a = values(channels * state, seed)
        .into_iter()
        .map(|v| -(1.0 + 7.5 * (v + 1.0)))
        .collect();
    let delta = values(batch * time * channels, seed + 1)
        .into_iter()
        .map(|v| 0.001 + 0.0495 * (v + 1.0))
        .collect();
    HostScan {
        batch,
        time,
        channels,
        state,
        u: values(batch * time * channels, seed + 2),
        delta,
        a,
        b: values(batch * time * state, seed + 3),
        c: values(batch * time * state, seed + 4),
        d: values(channels, seed + 5),
        initial_state: None,
    }
}

pub(crate) fn tensor<const D: usize>(v: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

pub(crate) fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// `max |y − y_ref| / max |y_ref|` of the last output read back (a non-finite value counts as an
/// infinite error, so NaN never passes).
pub(crate) fn relative_error<const D: usize>(y: Option<Tensor<D>>, y_ref: &[f64]) -> anyhow::Result<f64> {
    let y: Vec<f32> = y
        .map(|y| y.into_data().try_to_vec::<f32>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("reading y back: {e:?}"))?
        .unwrap_or_default();
    let scale = y_ref.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    let worst = y
        .iter()
        .zip(y_ref)
        .map(|(&a, &r)| {
            if a.is_finite() {
                (f64::from(a) - r).abs()
            } else {
                f64::INFINITY
            }
        })
        .fold(0.0f64, f64::max);
    Ok(worst / scale)
}

/// The scan's parameters and inputs on `device`.
fn inputs(p: &HostScan, device: &Device) -> (ScanParams, ScanInput) {
    let (b, t, e, n) = (p.batch, p.time, p.channels, p.state);
    let params = ScanParams {
        a: tensor(&p.a, [e, n], device),
        d: tensor(&p.d, [e], device),
        b_rule: BDiscretisation::Euler,
    };
    let input = ScanInput {
        u: tensor(&p.u, [b, t, e], device),
        delta: tensor(&p.delta, [b, t, e], device),
        b: tensor(&p.b, [b, t, n], device),
        c: tensor(&p.c, [b, t, n], device),
    };
    (params, input)
}

/// `y` by the chunked scan with chunk `q`, or by the fused op when `q == 0`.
fn scan(params: &ScanParams, input: ScanInput, q: usize) -> Tensor<3> {
    if q == 0 {
        fused_scan(
            input.u,
            input.delta,
            params.a.clone(),
            input.b,
            input.c,
            params.d.clone(),
        )
        .0
    } else {
        chunked_scan(params, input, None, q).y
    }
}

pub(crate) fn run(args: ScanArgs) -> anyhow::Result<()> {
    let dims_ok = |v: usize| (1..=65_536).contains(&v);
    anyhow::ensure!(
        dims_ok(args.batch) && dims_ok(args.channels) && dims_ok(args.state),
        "--batch, --channels and --state must be in 1..=65536"
    );
    anyhow::ensure!(
        !args.lengths.is_empty() && args.lengths.iter().all(|&l| dims_ok(l)),
        "--lengths must be in 1..=65536"
    );
    anyhow::ensure!(
        !args.chunks.is_empty() && args.chunks.iter().all(|&q| q <= 256),
        "--chunks must be in 0..=256 (0: the fused op)"
    );
    anyhow::ensure!(
        (1..=1000).contains(&args.repeats) && args.warmup <= 1000,
        "--repeats must be in 1..=1000 and --warmup at most 1000"
    );
    let largest = args.batch as u128
        * *args.lengths.iter().max().unwrap_or(&1) as u128
        * args.channels as u128
        * args.state as u128
        * (*args.chunks.iter().max().unwrap_or(&1)).max(1) as u128;
    anyhow::ensure!(
        largest <= 1u128 << 34,
        "batch × length × channels × state × chunk = {largest} floats for the chunk weights: too large (at most 2^34)"
    );
    let device = args.device.device()?;
    let ad = device.clone().autodiff();
    let sync = |d: &Device| {
        d.sync()
            .map_err(|e| anyhow::anyhow!("synchronising the device: {e:?}"))
    };
    let (b, e, n) = (args.batch, args.channels, args.state);
    println!(
        "bench scan on {:?}: B={b} E={e} N={n}, fp32, Euler B, median of {} after {} warm-up",
        args.device, args.repeats, args.warmup
    );
    println!(
        "| L | chunk | forward ms | fwd+bwd ms | rel. error vs f64 loop | forward GB/s (minimal traffic) | device copy GB/s | ok |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut all_ok = true;
    for &t in &args.lengths {
        let p = problem(b, t, e, n, 7 + t as u64);
        let (y_ref, _) = sequential_scan(&p, BDiscretisation::Euler);
        // Minimal traffic: read u, Δ ([B, L, E]), B, C ([B, L, N]); write y ([B, L, E]).
        let bytes = 4.0 * (3 * b * t * e + 2 * b * t * n) as f64;
        // A device copy of as many bytes (read + write counted), for the ceiling.
        let copy_src = Tensor::<1>::ones([(bytes / 8.0) as usize], &device);
        let mut copies = Vec::new();
        for i in 0..args.warmup + args.repeats {
            sync(&device)?;
            let started = Instant::now();
            let copied = copy_src.clone().add_scalar(0.0);
            sync(&device)?;
            if i >= args.warmup {
                copies.push(started.elapsed());
            }
            drop(copied);
        }
        let copy_gbs = bytes / (median(copies) * 1e-3) / 1e9;
        let weights = Tensor::<3>::from_data(
            TensorData::new(
                values(b * t * e, 99)
                    .into_iter()
                    .map(|v| v as f32)
                    .collect::<Vec<_>>(),
                [b, t, e],
            ),
            &ad,
        );
        for &q in &args.chunks {
            let (params, input) = inputs(&p, &device);
            let mut fwd = Vec::new();
            let mut y_last = None;
            for i in 0..args.warmup + args.repeats {
                sync(&device)?;
                let started = Instant::now();
                let y = scan(&params, input.clone(), q);
                sync(&device)?;
                if i >= args.warmup {
                    fwd.push(started.elapsed());
                }
                y_last = Some(y);
            }
            let err = relative_error(y_last, &y_ref)?;
            // Forward + backward on the autodiff device: d/d(everything) of Σ w ⊙ y.
            let (params_ad, input_ad) = inputs(&p, &ad);
            let params_ad = ScanParams {
                a: params_ad.a.require_grad(),
                d: params_ad.d.require_grad(),
                b_rule: params_ad.b_rule,
            };
            let input_ad = ScanInput {
                u: input_ad.u.require_grad(),
                delta: input_ad.delta.require_grad(),
                b: input_ad.b.require_grad(),
                c: input_ad.c.require_grad(),
            };
            let mut both = Vec::new();
            for i in 0..args.warmup + args.repeats {
                sync(&ad)?;
                let started = Instant::now();
                let y = scan(&params_ad, input_ad.clone(), q);
                let grads = (y * weights.clone()).sum().backward();
                sync(&ad)?;
                if i >= args.warmup {
                    both.push(started.elapsed());
                }
                drop(grads);
            }
            let (fwd_ms, both_ms) = (median(fwd), median(both));
            let ok = err.is_finite() && err <= args.tolerance;
            all_ok &= ok;
            let q = if q == 0 {
                "fused".to_string()
            } else {
                q.to_string()
            };
            println!(
                "| {t} | {q} | {fwd_ms:.3} | {both_ms:.3} | {err:.2e} | {:.1} | {copy_gbs:.1} | {} |",
                bytes / (fwd_ms * 1e-3) / 1e9,
                if ok { "yes" } else { "NO" }
            );
        }
    }
    anyhow::ensure!(
        all_ok,
        "a scan disagreed with the f64 reference beyond {}",
        args.tolerance
    );
    Ok(())
}
