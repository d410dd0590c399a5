//! A quick numerical self-check of a compute device against the CPU reference backend.
//!
//! Runs the operations statecast's models are built from (matmul, FFT causal convolution, a
//! cumulative sum and one autodiff step) on the chosen device and on `flex`, and reports the
//! largest absolute difference and the time per operation. `statecast devices --check cuda`
//! prints it; it is how a GPU build is accepted on a new machine.
use burn::prelude::*;
use burn::signal::{irfft, rfft};
use std::time::Instant;

/// One checked operation.
#[derive(Debug, Clone)]
pub struct CheckRow {
    /// Operation name, with sizes.
    pub op: String,
    /// max |device − cpu| over all elements.
    pub max_abs_diff: f32,
    /// `max_abs_diff` relative to max |cpu| (GPU matmuls in TF32 give ~1e-3 here).
    pub rel_diff: f32,
    /// Wall time of the operation on the device (after one warm-up run), milliseconds.
    pub device_ms: f64,
    /// Wall time on the CPU reference, milliseconds.
    pub cpu_ms: f64,
    /// Whether the row decides pass/fail (`false`: shown for information, e.g. what a TF32
    /// matmul alone would give).
    pub gating: bool,
}

/// Deterministic pseudo-random values in [-1, 1) (no RNG state shared with burn).
fn host_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Read a tensor back to the host as `f32` values (row-major).
pub fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data after convert")
}

/// (max |a − b|, that relative to max |b|); `b` is the CPU reference.
fn diffs<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> (f32, f32) {
    let (a, b) = (to_host(a), to_host(b));
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let d = max_abs_diff_host(&a, &b);
    (d, d / scale)
}

/// max |a − b|; a NaN on either side counts as an infinite difference (`f32::max` would drop it).
fn max_abs_diff_host(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        })
        .fold(0.0, f32::max)
}

/// Causal convolution `y[t] = Σ_{j≤t} k[j] u[t−j]` via zero-padded real FFTs.
///
/// # Shapes
/// - `u_bl`, `k_bl`: [batch, length]; returns [batch, length].
pub fn fft_causal_conv(u_bl: Tensor<2>, k_bl: Tensor<2>) -> Tensor<2> {
    let [_, len] = u_bl.dims();
    let n = (2 * len).next_power_of_two();
    let (ur, ui) = rfft(u_bl, 1, Some(n));
    let (kr, ki) = rfft(k_bl, 1, Some(n));
    let yr = ur.clone() * kr.clone() - ui.clone() * ki.clone();
    let yi = ur * ki + ui * kr;
    irfft(yr, yi, 1, Some(n)).narrow(1, 0, len)
}

/// Time `f` once after a warm-up call; returns (result, milliseconds).
fn timed<const D: usize>(f: impl Fn() -> Tensor<D>) -> (Tensor<D>, f64) {
    let _ = f().into_data();
    let t0 = Instant::now();
    let out = f();
    let data = out.clone().into_data();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    drop(data);
    (out, ms)
}

/// Run every check on `device`, comparing against `flex`.
pub fn run(device: &Device) -> Vec<CheckRow> {
    let cpu = Device::flex();
    let mut rows = Vec::new();

    let (m, k, n) = (512, 512, 512);
    let (a, b) = (host_values(m * k, 1), host_values(k * n, 2));
    let mm = |dev: &Device| {
        let (a, b) = (tensor(a.clone(), [m, k], dev), tensor(b.clone(), [k, n], dev));
        move || a.clone().matmul(b.clone())
    };
    let (yd, device_ms) = timed(mm(device));
    let (yc, cpu_ms) = timed(mm(&cpu));
    let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
    rows.push(CheckRow {
        op: format!("matmul {m}x{k}x{n}"),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    });

    let (bsz, len) = (64, 1000);
    let (u, kern) = (host_values(bsz * len, 3), host_values(bsz * len, 4));
    let conv = |dev: &Device| {
        let (u, kern) = (
            tensor(u.clone(), [bsz, len], dev),
            tensor(kern.clone(), [bsz, len], dev),
        );
        move || fft_causal_conv(u.clone(), kern.clone())
    };
    let (yd, device_ms) = timed(conv(device));
    let (yc, cpu_ms) = timed(conv(&cpu));
    let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
    rows.push(CheckRow {
        op: format!("fft causal conv {bsz}x{len}"),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    });

    let x = host_values(bsz * 256, 5);
    let cs = |dev: &Device| {
        let x = tensor(x.clone(), [bsz, 256], dev);
        move || x.clone().cumsum(1)
    };
    let (yd, device_ms) = timed(cs(device));
    let (yc, cpu_ms) = timed(cs(&cpu));
    let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
    rows.push(CheckRow {
        op: format!("cumsum {bsz}x256"),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    });

    // Gradient of sum((W x)^2) w.r.t. W = 2 (W x) xᵀ.
    let (w, xv) = (host_values(64 * 64, 6), host_values(64 * 8, 7));
    let grad = |dev: &Device| {
        let ad = dev.clone().autodiff();
        let (w, xv) = (w.clone(), xv.clone());
        move || {
            let w = tensor(w.clone(), [64, 64], &ad).require_grad();
            let x = tensor(xv.clone(), [64, 8], &ad);
            let loss = w.clone().matmul(x).powi_scalar(2).sum();
            let grads = loss.backward();
            w.grad(&grads)
                .expect("w has a gradient")
                .to_device(&Device::flex())
        }
    };
    let (gd, device_ms) = timed(grad(device));
    let (gc, cpu_ms) = timed(grad(&cpu));
    let (max_abs_diff, rel_diff) = diffs(gd, gc);
    rows.push(CheckRow {
        op: "autodiff grad 64x64".into(),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    });
    rows.extend(kernel_power_checks(device));
    rows.extend(model_checks(device));
    rows.extend(simba_checks(device));
    rows.extend(chimera_checks(device));
    rows
}

/// Companion kernels of a trained-like near-periodic SSM (`a = 0.999·e₁`, eigenvalues at radius
/// 0.999^{1/d}) over 336 steps: the product chain `Aʲ` amplifies matmul rounding about `j`-fold.
/// The gating row uses the model's own products ([`crate::ssm::precise_matmul`]); the
/// informational row the backend's plain matmul (TF32 on tensor cores), to show what it would lose.
fn kernel_power_checks(device: &Device) -> Vec<CheckRow> {
    use crate::ssm::{companion_kernel, companion_matrix, krylov_with};
    let cpu = Device::flex();
    let (n, d, len) = (8, 64, 336);
    let mut a = vec![0.0f32; n * d];
    for i in 0..n {
        a[i * d + i % 3] = 0.999;
    }
    let (b, c) = (host_values(n * d, 61), host_values(n * d, 62));
    let precise = |dev: &Device| {
        let (a, b, c) = (
            tensor(a.clone(), [n, d], dev),
            tensor(b.clone(), [n, d], dev),
            tensor(c.clone(), [n, d], dev),
        );
        move || companion_kernel(a.clone(), b.clone(), c.clone(), len)
    };
    let native = |dev: &Device| {
        let (a, b, c) = (
            tensor(a.clone(), [n, d], dev),
            tensor(b.clone(), [n, d], dev),
            tensor(c.clone(), [n, d], dev),
        );
        move || {
            let x = krylov_with(
                companion_matrix(a.clone()),
                b.clone().reshape([n, d, 1]),
                len,
                |p, q| p.matmul(q),
            );
            c.clone().reshape([n, 1, d]).matmul(x).reshape([n, len])
        }
    };
    let mut rows = Vec::new();
    let (yc, cpu_ms) = timed(precise(&cpu));
    let (yd, device_ms) = timed(precise(device));
    let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc.clone());
    rows.push(CheckRow {
        op: format!("companion kernel d{d} L{len} rho.999"),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    });
    let (yd, device_ms) = timed(native(device));
    let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
    rows.push(CheckRow {
        op: "  same, plain matmul (info)".into(),
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: false,
    });
    rows
}

/// SpaceTime forecasts with identical weights on the device and on the CPU, at several batch
/// sizes (including 1) and after a save → load round trip onto the device.
fn model_checks(device: &Device) -> Vec<CheckRow> {
    use crate::forecaster::Forecaster;
    use crate::spacetime::SpaceTimeConfig;
    let cpu = Device::flex();
    let mut rows = Vec::new();
    let configs = [
        (
            "spacetime L96 H24 V7 w64",
            SpaceTimeConfig::new(96, 24)
                .with_d_model(64)
                .with_state_dim(32)
                .with_first_n_kernels(8)
                .with_first_n_heads(8)
                .with_n_kernels(64)
                .with_n_encoder_blocks(1),
            7,
        ),
        (
            "spacetime L336 H96 V1 w128",
            SpaceTimeConfig::new(336, 96).with_n_encoder_blocks(1),
            1,
        ),
    ];
    for (name, cfg, v) in configs {
        let model_cpu = cfg.init(&cpu);
        let model_dev = model_cpu.clone().to_device(device);
        let l = cfg.lookback;
        for b in [1usize, 4, 32] {
            let x = host_values(b * l * v, 40 + b as u64);
            // Several calls: matmul autotuning switches kernels after the first ones, and the
            // kernels it settles on must be right too.
            let t0 = std::time::Instant::now();
            let mut yd = model_dev.forecast(tensor(x.clone(), [b, l, v], device));
            for _ in 0..4 {
                yd = model_dev.forecast(tensor(x.clone(), [b, l, v], device));
            }
            let yd = yd.to_device(&cpu);
            let device_ms = t0.elapsed().as_secs_f64() * 1e3 / 5.0;
            let t0 = std::time::Instant::now();
            let yc = model_cpu.forecast(tensor(x, [b, l, v], &cpu));
            let yc_host = to_host(yc.clone());
            let cpu_ms = t0.elapsed().as_secs_f64() * 1e3;
            drop(yc_host);
            let (max_abs_diff, rel_diff) = diffs(yd, yc);
            rows.push(CheckRow {
                op: format!("{name} B={b}"),
                max_abs_diff,
                rel_diff,
                device_ms,
                cpu_ms,
                gating: true,
            });
        }
        // What evaluation and training compute from a forecast without reading it back:
        // a masked sum of squared errors reduced on the device, and the training loss.
        rows.extend(reduction_checks(name, &model_cpu, &model_dev, [32, l, v], device));
        // Weights saved on the CPU, loaded on the device.
        let path = std::env::temp_dir().join(format!("statecast-selfcheck-{}.bpk", std::process::id()));
        if model_cpu.clone().save_file(&path).is_ok() {
            // burn reads lazily from the file: keep it until the forecast has run.
            let loaded = cfg.init(device).load_file(&path);
            let b = 8;
            let x = host_values(b * l * v, 99);
            let t0 = std::time::Instant::now();
            let yd = loaded
                .forecast(tensor(x.clone(), [b, l, v], device))
                .to_device(&cpu);
            let device_ms = t0.elapsed().as_secs_f64() * 1e3;
            let _ = std::fs::remove_file(&path);
            let yc = model_cpu.forecast(tensor(x, [b, l, v], &cpu));
            let (max_abs_diff, rel_diff) = diffs(yd, yc);
            rows.push(CheckRow {
                op: format!("{name} loaded B={b}"),
                max_abs_diff,
                rel_diff,
                device_ms,
                cpu_ms: 0.0,
                gating: true,
            });
        }
    }
    rows
}

/// The selective scan (chunked, as training runs it) and SiMBA forecasts on the device against
/// the same on the CPU, on fresh random inputs.
fn simba_checks(device: &Device) -> Vec<CheckRow> {
    use crate::scan::{BDiscretisation, ScanInput, ScanParams, chunked_scan};
    use crate::simba::SimbaConfig;
    let cpu = Device::flex();
    let mut rows = Vec::new();
    let (b, t, e, n) = (4, 300, 32, 16);
    let a = host_values(e * n, 201)
        .into_iter()
        .map(|v| -(v.abs() + 0.1))
        .collect::<Vec<_>>();
    let d = host_values(e, 202);
    let u = host_values(b * t * e, 203);
    let delta = host_values(b * t * e, 204)
        .into_iter()
        .map(|v| 0.01 + 0.05 * v.abs())
        .collect::<Vec<_>>();
    let (bb, cc) = (host_values(b * t * n, 205), host_values(b * t * n, 206));
    for chunk in [4, 16] {
        let run = |dev: &Device| {
            let params = ScanParams {
                a: tensor(a.clone(), [e, n], dev),
                d: tensor(d.clone(), [e], dev),
                b_rule: BDiscretisation::Euler,
            };
            let input = ScanInput {
                u: tensor(u.clone(), [b, t, e], dev),
                delta: tensor(delta.clone(), [b, t, e], dev),
                b: tensor(bb.clone(), [b, t, n], dev),
                c: tensor(cc.clone(), [b, t, n], dev),
            };
            move || chunked_scan(&params, input.clone(), None, chunk).y
        };
        let (yd, device_ms) = timed(run(device));
        let (yc, cpu_ms) = timed(run(&cpu));
        let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
        rows.push(CheckRow {
            op: format!("selective scan chunked Q={chunk} B={b} L={t} E={e} N={n}"),
            max_abs_diff,
            rel_diff,
            device_ms,
            cpu_ms,
            gating: true,
        });
    }
    // The fused op (the CubeCL kernel on CUDA): y, and the gradient of Σ w ⊙ y for every input.
    {
        use crate::scan::fused_scan;
        let (b, t, e, n) = (3, 257, 24, 16);
        let a = host_values(e * n, 211)
            .into_iter()
            .map(|v| -(v.abs() + 0.1))
            .collect::<Vec<_>>();
        let d = host_values(e, 212);
        let u = host_values(b * t * e, 213);
        let delta = host_values(b * t * e, 214)
            .into_iter()
            .map(|v| 0.01 + 0.05 * v.abs())
            .collect::<Vec<_>>();
        let (bb, cc, w) = (
            host_values(b * t * n, 215),
            host_values(b * t * n, 216),
            host_values(b * t * e, 217),
        );
        let run = |dev: &Device| {
            let ad = dev.clone().autodiff();
            let a_t = tensor(a.clone(), [e, n], &ad).require_grad();
            let d_t = tensor(d.clone(), [e], &ad).require_grad();
            let u_t = tensor(u.clone(), [b, t, e], &ad).require_grad();
            let delta_t = tensor(delta.clone(), [b, t, e], &ad).require_grad();
            let b_t = tensor(bb.clone(), [b, t, n], &ad).require_grad();
            let c_t = tensor(cc.clone(), [b, t, n], &ad).require_grad();
            let started = std::time::Instant::now();
            let (y, _) = fused_scan(
                u_t.clone(),
                delta_t.clone(),
                a_t.clone(),
                b_t.clone(),
                c_t.clone(),
                d_t.clone(),
            );
            let grads = (y.clone() * tensor(w.clone(), [b, t, e], &ad)).sum().backward();
            let all = vec![
                ("y", to_host(y.inner())),
                ("du", to_host(u_t.grad(&grads).expect("du"))),
                ("ddelta", to_host(delta_t.grad(&grads).expect("ddelta"))),
                ("dA", to_host(a_t.grad(&grads).expect("dA"))),
                ("dB", to_host(b_t.grad(&grads).expect("dB"))),
                ("dC", to_host(c_t.grad(&grads).expect("dC"))),
                ("dD", to_host(d_t.grad(&grads).expect("dD"))),
            ];
            (all, started.elapsed().as_secs_f64() * 1e3)
        };
        let (on_device, device_ms) = run(device);
        let (on_cpu, cpu_ms) = run(&cpu);
        for ((name, got), (_, want)) in on_device.iter().zip(&on_cpu) {
            let max_abs_diff = max_abs_diff_host(got, want);
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
            rows.push(CheckRow {
                op: format!("selective scan fused B={b} L={t} E={e} N={n}: {name}"),
                max_abs_diff,
                rel_diff: max_abs_diff / scale,
                device_ms,
                cpu_ms,
                gating: true,
            });
        }
    }
    for (name, cfg, v) in [
        (
            "simba L96 H24 V7 defaults",
            SimbaConfig::statecast_default(96, 24),
            7,
        ),
        (
            "simba L96 H96 V7 C32 K96",
            SimbaConfig::new(96, 96)
                .with_d_model(32)
                .with_d_state(16)
                .with_head_tokens(96),
            7,
        ),
    ] {
        let model_cpu = cfg.init(&cpu);
        let model_dev = model_cpu.clone().to_device(device);
        let l = cfg.lookback;
        for batch in [1usize, 32] {
            rows.push(forecast_row(
                format!("{name} B={batch}"),
                |x| model_dev.forecast(x),
                |x| model_cpu.forecast(x),
                [batch, l, v],
                300 + batch as u64,
                device,
            ));
        }
    }
    rows
}

/// The 2-D selective scan by rows and by columns, and Chimera's forecast (its default
/// configuration: 2-D scans in both variate orders, gate, FFN, token head), on the device against
/// the CPU.
fn chimera_checks(device: &Device) -> Vec<CheckRow> {
    use crate::chimera::ChimeraConfig;
    use crate::scan2d::{Scan2dInput, Scan2dParams, columns_scan, rows_scan};
    let cpu = Device::flex();
    let mut rows = Vec::new();
    let (b, v, t, e, n) = (2, 5, 40, 8, 4);
    let decay = |seed| {
        host_values(e * n, seed)
            .into_iter()
            .map(|x| -(x.abs() + 0.1))
            .collect::<Vec<_>>()
    };
    let step = |seed| {
        host_values(b * v * t * e, seed)
            .into_iter()
            .map(|x| 0.01 + 0.2 * x.abs())
            .collect::<Vec<_>>()
    };
    let grid = |values: Vec<f32>, width: usize, dev: &Device| tensor(values, [b, v, t, width], dev);
    let problem = |dev: &Device| {
        (
            Scan2dParams {
                a1: tensor(decay(401), [e, n], dev),
                a2: tensor(host_values(e * n, 402), [e, n], dev),
                a3: tensor(host_values(e * n, 403), [e, n], dev),
                a4: tensor(decay(404), [e, n], dev),
                d: tensor(host_values(e, 405), [e], dev),
            },
            Scan2dInput {
                x: grid(host_values(b * v * t * e, 406), e, dev),
                delta1: grid(step(407), e, dev),
                delta2: grid(step(408), e, dev),
                b1: grid(host_values(b * v * t * n, 409), n, dev),
                b2: grid(host_values(b * v * t * n, 410), n, dev),
                c1: grid(host_values(b * v * t * n, 411), n, dev),
                c2: grid(host_values(b * v * t * n, 412), n, dev),
            },
        )
    };
    type Scan = fn(&Scan2dParams, Scan2dInput, usize) -> crate::scan2d::Scan2dOutput;
    for (name, scan) in [("rows", rows_scan as Scan), ("columns", columns_scan as Scan)] {
        let run = |dev: &Device| {
            let (params, input) = problem(dev);
            scan(&params, input, 4).y
        };
        let (yd, device_ms) = timed(|| run(device));
        let (yc, cpu_ms) = timed(|| run(&cpu));
        let (max_abs_diff, rel_diff) = diffs(yd.to_device(&cpu), yc);
        rows.push(CheckRow {
            op: format!("scan2d {name} B={b} V={v} T={t} E={e} N={n}"),
            max_abs_diff,
            rel_diff,
            device_ms,
            cpu_ms,
            gating: true,
        });
    }
    let (l, h, variates) = (96, 24, 7);
    let model_cpu = ChimeraConfig::statecast_default(l, h).init(&cpu);
    let model_dev = model_cpu.clone().to_device(device);
    for batch in [1usize, 4] {
        rows.push(forecast_row(
            format!("chimera L96 H24 V7 defaults B={batch}"),
            |x| model_dev.forecast(x),
            |x| model_cpu.forecast(x),
            [batch, l, variates],
            500 + batch as u64,
            device,
        ));
    }
    rows
}

/// A gating row: one model's forecast of the same seeded input (`shape` = [batch, look-back,
/// variates]) on `device` and on the CPU, each timed after a warm-up call.
fn forecast_row(
    op: String,
    on_device: impl Fn(Tensor<3>) -> Tensor<3>,
    on_cpu: impl Fn(Tensor<3>) -> Tensor<3>,
    shape: [usize; 3],
    seed: u64,
    device: &Device,
) -> CheckRow {
    let cpu = Device::flex();
    let x = host_values(shape.iter().product(), seed);
    let (yd, device_ms) = timed(|| on_device(tensor(x.clone(), shape, device)).to_device(&cpu));
    let (yc, cpu_ms) = timed(|| on_cpu(tensor(x.clone(), shape, &cpu)));
    let (max_abs_diff, rel_diff) = diffs(yd, yc);
    CheckRow {
        op,
        max_abs_diff,
        rel_diff,
        device_ms,
        cpu_ms,
        gating: true,
    }
}

/// Device reductions of a forecast that is never read back (the evaluation's masked squared
/// error, the training loss) against the same computed on the CPU. A backend that fuses the
/// model's last operations into the reduction must give the same numbers as one that
/// materialises the forecast (compared on host values in [`model_checks`]).
fn reduction_checks(
    name: &str,
    model_cpu: &crate::spacetime::SpaceTime,
    model_dev: &crate::spacetime::SpaceTime,
    [b, l, v]: [usize; 3],
    device: &Device,
) -> Vec<CheckRow> {
    use crate::forecaster::Forecaster;
    let cpu = Device::flex();
    let h = model_cpu.horizon;
    let (x, y) = (host_values(b * l * v, 71), host_values(b * h * v, 72));
    let mask: Vec<f32> = (0..b * h * v)
        .map(|i| if i % 7 == 3 { 0.0 } else { 1.0 })
        .collect();
    let sse = |m: &crate::spacetime::SpaceTime, dev: &Device| {
        let f = m.forecast(tensor(x.clone(), [b, l, v], dev));
        let err = (f - tensor(y.clone(), [b, h, v], dev)) * tensor(mask.clone(), [b, h, v], dev);
        f64::from(err.square().sum().into_scalar::<f32>())
    };
    let loss = |m: &crate::spacetime::SpaceTime, dev: &Device| {
        let out = Forecaster::loss(
            m,
            tensor(x.clone(), [b, l, v], dev),
            tensor(y.clone(), [b, h, v], dev),
        );
        f64::from(out.into_scalar::<f32>())
    };
    let mut rows = Vec::new();
    for (what, f) in [
        (
            "masked SSE reduced on device",
            &sse as &dyn Fn(&_, &Device) -> f64,
        ),
        ("training loss", &loss),
    ] {
        let t0 = Instant::now();
        // Several calls: a wrong result that depends on timing or autotuning shows in any.
        let on_dev: Vec<f64> = (0..5).map(|_| f(model_dev, device)).collect();
        let device_ms = t0.elapsed().as_secs_f64() * 1e3 / 5.0;
        let t0 = Instant::now();
        let on_cpu = f(model_cpu, &cpu);
        let cpu_ms = t0.elapsed().as_secs_f64() * 1e3;
        let max_abs_diff = on_dev
            .iter()
            .map(|d| {
                let e = (d - on_cpu).abs();
                if e.is_nan() { f64::INFINITY } else { e }
            })
            .fold(0.0, f64::max);
        rows.push(CheckRow {
            op: format!("{name} B={b} {what}"),
            max_abs_diff: max_abs_diff as f32,
            rel_diff: (max_abs_diff / on_cpu.abs().max(1e-12)) as f32,
            device_ms,
            cpu_ms,
            gating: true,
        });
    }
    rows
}

/// Stage-by-stage comparison of one SpaceTime model (the same weights) on `device` and on the
/// CPU, on the windows `x` (`[B, L, V]`, row-major, the model's input scale).
///
/// Two kinds of rows: `stage` rows run the whole forward on each device (differences propagate
/// and accumulate), `iso stage` rows feed each encoder block and the decoder the *CPU's* input for
/// that stage, so a row's difference is the stage's own. The first stage whose isolated
/// difference jumps is where the device computes something else (rather than amplifying an
/// upstream rounding difference).
///
/// # Panics
/// If `x` does not hold `B·L·V` values or `L` is not the model's look-back.
pub fn spacetime_stage_rows(
    model_cpu: &crate::spacetime::SpaceTime,
    model_dev: &crate::spacetime::SpaceTime,
    x: &[f32],
    shape: [usize; 3],
    device: &Device,
) -> Vec<CheckRow> {
    use crate::spacetime::Trace;
    let cpu = Device::flex();
    let run = |model: &crate::spacetime::SpaceTime, dev: &Device| {
        let mut trace = Trace::default();
        let t0 = Instant::now();
        model.forward_traced(tensor(x.to_vec(), shape, dev), Some(&mut trace));
        (trace, t0.elapsed().as_secs_f64() * 1e3)
    };
    let (trace_cpu, cpu_ms) = run(model_cpu, &cpu);
    let (trace_dev, device_ms) = run(model_dev, device);
    let mut rows = stage_diffs("", &trace_dev, &trace_cpu, device_ms, cpu_ms);

    // Isolated: each block, then the decoder, from the CPU's input for it.
    let stage_tensor = |name: &str| {
        let s = trace_cpu.get(name).expect("stage recorded on the cpu");
        let [c, l, n] = s.shape[..] else {
            panic!("{name} is not [C, L, N]")
        };
        tensor(s.values.clone(), [c, l, n], device)
    };
    for (i, block) in model_dev.encoder.iter().enumerate() {
        let input = if i == 0 {
            "embed".to_string()
        } else {
            format!("block{}.out", i - 1)
        };
        let mut trace = Trace::default();
        block.forward_cln_traced(stage_tensor(&input), Some(&mut trace), &format!("block{i}"));
        rows.extend(stage_diffs("iso ", &trace, &trace_cpu, 0.0, 0.0));
    }
    let last = format!("block{}.out", model_dev.encoder.len() - 1);
    let mut trace = Trace::default();
    model_dev
        .decoder
        .forward_cln_traced(stage_tensor(&last), model_dev.horizon, false, Some(&mut trace));
    rows.extend(stage_diffs("iso ", &trace, &trace_cpu, 0.0, 0.0));
    rows
}

/// One row per stage of `dev` also recorded in `cpu` (the reference).
fn stage_diffs(
    prefix: &str,
    dev: &crate::spacetime::Trace,
    cpu: &crate::spacetime::Trace,
    device_ms: f64,
    cpu_ms: f64,
) -> Vec<CheckRow> {
    let mut rows: Vec<CheckRow> = dev
        .stages
        .iter()
        .filter_map(|d| {
            let c = cpu.get(&d.name)?;
            let scale = c.values.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let max_abs_diff = max_abs_diff_host(&d.values, &c.values);
            Some(CheckRow {
                op: format!("{prefix}{} {:?}", d.name, d.shape),
                max_abs_diff,
                rel_diff: max_abs_diff / scale,
                device_ms: 0.0,
                cpu_ms: 0.0,
                gating: true,
            })
        })
        .collect();
    if let Some(last) = rows.last_mut() {
        (last.device_ms, last.cpu_ms) = (device_ms, cpu_ms);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_conv_matches_direct_sum() {
        let dev = Device::flex();
        let len = 37;
        let (u, k) = (host_values(len, 11), host_values(len, 12));
        let y = fft_causal_conv(
            tensor(u.clone(), [1, len], &dev),
            tensor(k.clone(), [1, len], &dev),
        );
        let y = to_host(y);
        for t in 0..len {
            let direct: f32 = (0..=t).map(|j| k[j] * u[t - j]).sum();
            assert!(
                (y[t] - direct).abs() < 1e-4,
                "t={t}: fft {} vs direct {direct}",
                y[t]
            );
        }
    }

    #[test]
    fn stage_rows_cover_every_stage_and_are_exact_on_the_same_device() {
        use crate::spacetime::SpaceTimeConfig;
        let dev = Device::flex();
        let cfg = SpaceTimeConfig::new(16, 4)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(2)
            .with_n_kernels(8)
            .with_n_encoder_blocks(2);
        let model = cfg.init(&dev);
        let (b, v) = (3, 2);
        let x = host_values(b * 16 * v, 5);
        let rows = spacetime_stage_rows(&model, &model.clone(), &x, [b, 16, v], &dev);
        let names: Vec<&str> = rows
            .iter()
            .map(|r| r.op.split(' ').next().unwrap_or(""))
            .collect();
        for want in [
            "input",
            "embed",
            "block0.pre",
            "block0.ssm.kernel",
            "block1.ssm",
            "block1.out",
            "decoder.krylov",
            "decoder.x_L",
            "decoder.closed_rows",
            "decoder.y",
            "head.forecast",
            "forecast",
        ] {
            assert!(names.contains(&want), "no {want} row in {names:?}");
        }
        // Isolated rows: both blocks and the decoder.
        assert!(rows.iter().any(|r| r.op.starts_with("iso block1.out")));
        assert!(rows.iter().any(|r| r.op.starts_with("iso decoder.y ")));
        for r in &rows {
            assert_eq!(r.max_abs_diff, 0.0, "{r:?}");
        }
        // A perturbed copy shows up from the first stage that uses the perturbed weight.
        let mut other = model.clone();
        other.decoder.c = other.decoder.c.map(|c| c.add_scalar(0.5));
        let rows = spacetime_stage_rows(&model, &other, &x, [b, 16, v], &dev);
        let first = rows.iter().find(|r| r.max_abs_diff > 0.0).expect("a difference");
        assert!(first.op.starts_with("decoder.bank.c"), "{first:?}");
    }

    #[test]
    fn nan_counts_as_an_infinite_difference() {
        assert_eq!(max_abs_diff_host(&[1.0, f32::NAN], &[1.0, 2.0]), f32::INFINITY);
    }

    #[test]
    fn cpu_against_itself_is_exact() {
        for row in run(&Device::flex()) {
            assert!(row.rel_diff == 0.0, "{row:?}");
        }
    }
}
