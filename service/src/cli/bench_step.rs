//! `statecast bench step`: where one training step's time goes, on any device.
//!
//! Builds a model of any family from its defaults plus a JSON override file (e.g. the official
//! SpaceTime configuration in `scripts/gpu/reference-spacetime.json`), feeds it random windows
//! and times, per step:
//!
//! | stage | what is timed |
//! |---|---|
//! | `step` | forward + loss + backward + AdamW update, as the trainer runs it, with the loss read back to the host (the trainer checks it for NaN every step) |
//! | `step_no_readback` | the same without reading the loss back: the device runs ahead of the host |
//! | `forward` | `loss(x, y)` on the autodiff device, synchronised |
//! | `backward` | `loss.backward()` + `GradientsParams`, synchronised |
//! | `optimizer` | the AdamW update, synchronised |
//! | `readback` | reading the loss scalar back after a synchronised forward |
//!
//! Each figure is the median over `--steps` steps after `--warmup` steps (kernel compilation
//! and autotuning stay out). The stage rows synchronise the device between stages, so they
//! add up to more than `step_no_readback` whenever the device overlaps host work with kernels:
//! the difference is the host-side cost hidden by asynchrony. Kernel-level detail comes from
//! running this command under `ncu` (see BENCHMARKS.md).
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_models::zoo::ModelFamily;

use super::train_args::read_model_config;

#[derive(Debug, clap::Args)]
pub(crate) struct StepArgs {
    /// Model family.
    #[arg(long, default_value = "spacetime", value_parser = super::parse_family)]
    model: ModelFamily,
    /// JSON file of model settings merged into the family's defaults.
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Look-back L.
    #[arg(long, default_value_t = 336)]
    lookback: usize,
    /// Horizon H.
    #[arg(long, default_value_t = 96)]
    horizon: usize,
    /// Variates per window.
    #[arg(long, default_value_t = 1)]
    variates: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    /// Timed steps per row (the median is reported).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed steps first (kernel compilation, autotuning).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Only run `--warmup` + `--steps` trainer steps and exit (for a kernel profiler such as
    /// `ncu`, whose per-launch log is then cut into steps).
    #[arg(long)]
    profile_only: bool,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn run(args: StepArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.steps >= 1 && args.steps <= 10_000,
        "--steps must be in 1..=10000"
    );
    anyhow::ensure!(args.warmup <= 10_000, "--warmup must be at most 10000");
    anyhow::ensure!(
        (1..=4096).contains(&args.batch_size) && (1..=4096).contains(&args.variates),
        "--batch-size and --variates must be in 1..=4096"
    );
    let overrides = read_model_config(args.model_config.as_deref())?;
    let config = args
        .model
        .default_config(args.lookback, args.horizon)
        .with_overrides(overrides.as_ref())?;
    let device = args.device.device()?;
    let ad = device.clone().autodiff();
    let mut model = config.init(&device)?.fork(&ad).train();
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let (b, l, h, v) = (args.batch_size, args.lookback, args.horizon, args.variates);
    let x = Tensor::<3>::random([b, l, v], Distribution::Normal(0.0, 1.0), &ad);
    let y = Tensor::<3>::random([b, h, v], Distribution::Normal(0.0, 1.0), &ad);
    let sync = |what: &str| {
        ad.sync()
            .map_err(|e| anyhow::anyhow!("synchronising the device after {what}: {e:?}"))
    };
    let lr = 1e-4;

    // Warm-up: whole steps as the trainer runs them.
    for _ in 0..args.warmup {
        let loss = model.loss(x.clone(), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    sync("warm-up")?;
    if args.profile_only {
        for _ in 0..args.steps {
            let loss = model.loss(x.clone(), y.clone());
            let _ = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        sync("the profiled steps")?;
        println!("profiled {} warm-up + {} steps", args.warmup, args.steps);
        return Ok(());
    }

    // Whole steps with the per-step loss read-back (the trainer's NaN check).
    let mut step = Vec::new();
    for _ in 0..args.steps {
        let t = Instant::now();
        let loss = model.loss(x.clone(), y.clone());
        let value = loss.clone().into_scalar::<f32>();
        anyhow::ensure!(value.is_finite(), "the loss became {value}");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        sync("a step")?;
        step.push(t.elapsed());
    }

    // Whole steps without read-back: one synchronisation at the end.
    let t = Instant::now();
    for _ in 0..args.steps {
        let loss = model.loss(x.clone(), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    sync("the unsynchronised steps")?;
    let no_readback = t.elapsed() / u32::try_from(args.steps)?;

    // Stage by stage, synchronised between stages.
    let (mut fwd, mut bwd, mut opt, mut readback) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.steps {
        let t = Instant::now();
        let loss = model.loss(x.clone(), y.clone());
        sync("forward")?;
        fwd.push(t.elapsed());
        let t = Instant::now();
        let _ = loss.clone().into_scalar::<f32>();
        readback.push(t.elapsed());
        let t = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        sync("backward")?;
        bwd.push(t.elapsed());
        let t = Instant::now();
        model = optim.step(lr, model, grads);
        sync("the optimizer")?;
        opt.push(t.elapsed());
    }
    let params = model.valid().num_params();

    println!(
        "bench step: {:?} on {:?}, B={b} L={l} H={h} V={v}, {params} parameters, median of {} steps after {} warm-up",
        args.model, args.device, args.steps, args.warmup
    );
    println!("| stage | ms per step |");
    println!("|---|---|");
    for (name, d) in [
        ("step (trainer: loss read back each step)", median(step)),
        ("step_no_readback (one sync per run)", no_readback),
        ("forward (synchronised)", median(fwd)),
        ("backward (synchronised)", median(bwd)),
        ("optimizer (synchronised)", median(opt)),
        (
            "readback of the loss after a synchronised forward",
            median(readback),
        ),
    ] {
        println!("| {name} | {:.2} |", ms(d));
    }
    Ok(())
}
