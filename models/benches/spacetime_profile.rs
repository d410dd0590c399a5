//! Per-op and per-component profile of SpaceTime on the CPU (`flex`), plus the default-size
//! forward / training-step / streaming timing. Prints tables; checks nothing (the numerical
//! checks are the unit tests in `statecast-models`).
//!
//! `cargo bench -p statecast-models --bench spacetime_profile [-- SECTION…]` runs the release
//! (bench) profile; add `--profile dev` for the dev profile with optimised dependencies, as in
//! BENCHMARKS.md §3. SECTIONs (substring match, default all): `conv`, `model`,
//! `training_step_variants`, `dropout`, `full`, `forward`.
//!
//! Every figure is the minimum over a few runs (the box may be busy); "fwd+bwd" is the forward
//! pass plus `backward()` of `Σ out ⊙ w` on an autodiff device. Component models are in training
//! mode (dropout on, parameters tracked). Sizes: B=32, L=96, H=96, V=7 (N = 224 series);
//! `STATECAST_PROFILE_RUNS` sets the run count.
use burn::prelude::*;
use burn::signal::{irfft, rfft};
use burn::tensor::Distribution;
use statecast_models::spacetime::block::dropout;
use statecast_models::spacetime::{SpaceTime, SpaceTimeConfig};
use statecast_models::ssm::{ConvPath, causal_conv_cln, fft_causal_conv, fft_len, toeplitz_matrix};

/// The sections, in run order.
const SECTIONS: [(&str, fn()); 6] = [
    ("conv", profile_conv),
    ("model", profile_model),
    ("training_step_variants", profile_training_step_variants),
    ("dropout", profile_dropout),
    ("full", profile_full),
    ("forward", forward_timing),
];

fn main() {
    // `cargo bench` passes `--bench`; every other non-flag argument selects sections.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for (name, section) in SECTIONS {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
            section();
        }
    }
}

const B: usize = 32;
const L: usize = 96;
const H: usize = 96;
const V: usize = 7;
const N: usize = B * V;

fn runs() -> usize {
    std::env::var("STATECAST_PROFILE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Standard-normal values (timings do not depend on them).
fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Minimum wall time of `f` over `runs` runs (after one warm-up), in milliseconds.
fn time_ms(mut f: impl FnMut()) -> f64 {
    f();
    (0..runs())
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Forward time on `plain`, forward+backward time of `Σ f(x) ⊙ w` on `ad` (`x` requires grad).
fn fwd_bwd<const D: usize, const E: usize>(
    shape: [usize; D],
    f: impl Fn(Tensor<D>) -> Tensor<E>,
    plain: &Device,
    ad: &Device,
) -> (f64, f64) {
    let x = random(shape, plain);
    let fwd = time_ms(|| drop(f(x.clone())));
    let xa = Tensor::<D>::from_data(x.to_data(), ad).require_grad();
    let w = f(xa.clone()).detach().ones_like();
    let bwd = time_ms(|| {
        let g = (f(xa.clone()) * w.clone()).sum().backward();
        drop(xa.grad(&g));
    });
    (fwd, bwd)
}

fn print_row(name: &str, (fwd, bwd): (f64, f64)) {
    println!("| {name:<44} | {fwd:>9.1} | {bwd:>11.1} |");
}

fn header(title: &str) {
    println!(
        "\n{title}\n| {:<44} | {:>9} | {:>11} |",
        "op", "fwd ms", "fwd+bwd ms"
    );
    println!("|{:-<46}|{:-<11}|{:-<13}|", "", "", "");
}

fn config(width: usize, state: usize, path: ConvPath) -> SpaceTimeConfig {
    SpaceTimeConfig::new(L, H)
        .with_d_model(width)
        .with_state_dim(state)
        .with_first_n_kernels(width / 8)
        .with_n_kernels(width)
        .with_conv_path(path)
}

/// Per-op costs of one `[N, L, C]` causal convolution with per-channel length-`L` kernels.
fn conv_table(c: usize) {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let k = random([c, L], &plain).mul_scalar(0.1);
    let n_fft = fft_len(L);
    header(&format!("causal convolution, N={N} L={L} C={c}"));
    let ka = Tensor::<2>::from_data(k.to_data(), &ad);
    print_row(
        "rfft [N,L,C]→swap→dim 2 (old layout)",
        fwd_bwd(
            [N, L, c],
            |u| rfft(u.swap_dims(1, 2), 2, Some(n_fft)).0,
            &plain,
            &ad,
        ),
    );
    print_row(
        "rfft [C,L,N] along dim 1 (new layout)",
        fwd_bwd([c, L, N], |u| rfft(u, 1, Some(n_fft)).0, &plain, &ad),
    );
    print_row(
        "irfft [C,F,N] along dim 1",
        fwd_bwd(
            [c, n_fft / 2 + 1, N],
            |s| irfft(s.clone(), s, 1, Some(n_fft)),
            &plain,
            &ad,
        ),
    );
    print_row(
        "swap_dims(1,2) + copy of [N,L,C]",
        fwd_bwd([N, L, c], |u| u.swap_dims(1, 2).mul_scalar(1.0), &plain, &ad),
    );
    print_row(
        "toeplitz_matrix (gather [C,L]→[C,L,L])",
        fwd_bwd([c, L], toeplitz_matrix, &plain, &ad),
    );
    let t = toeplitz_matrix(k.clone());
    let ta = toeplitz_matrix(ka.clone());
    print_row(
        "batched matmul [C,L,L]×[C,L,N]",
        fwd_bwd(
            [c, L, N],
            |u| {
                let t = if u.device() == plain {
                    t.clone()
                } else {
                    ta.clone()
                };
                t.matmul(u)
            },
            &plain,
            &ad,
        ),
    );
    let kk = |u: &Tensor<3>| {
        if u.device() == plain {
            k.clone()
        } else {
            ka.clone()
        }
    };
    print_row(
        "fft_causal_conv [N,L,C] (before)",
        fwd_bwd([N, L, c], |u| fft_causal_conv(u.clone(), kk(&u)), &plain, &ad),
    );
    for path in [ConvPath::Fft, ConvPath::Toeplitz] {
        print_row(
            &format!("causal_conv_cln {path:?} [C,L,N]"),
            fwd_bwd(
                [c, L, N],
                |u| causal_conv_cln(u.clone(), kk(&u), path),
                &plain,
                &ad,
            ),
        );
    }
}

/// Per-component costs of the model (each component timed alone on random inputs).
fn model_table(width: usize, state: usize, path: ConvPath) {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let cfg = config(width, state, path);
    let m = cfg.init(&plain);
    let ma: SpaceTime = cfg.init(&ad).train();
    let pick = |u_dev: &Device| if *u_dev == plain { &m } else { &ma };
    header(&format!(
        "SpaceTime components, C={width} d={state} {path:?}, B={B} L={L} H={H} V={V}"
    ));
    let c = width;
    print_row(
        "embed (repeat) + preprocessing conv",
        fwd_bwd(
            [N, L],
            |u| {
                let m = pick(&u.device());
                m.encoder[0]
                    .pre
                    .as_ref()
                    .expect("pre")
                    .forward_cln(m.embed_cln(u))
            },
            &plain,
            &ad,
        ),
    );
    for (i, name) in [(0, "block 1"), (1, "block 2")] {
        print_row(
            &format!(
                "{name} SSM kernel (Krylov, {} kernels)",
                cfg.encoder_block(i).ssm.n_kernels
            ),
            fwd_bwd(
                [1],
                |s| pick(&s.device()).encoder[i].ssm.kernel(L) * s.reshape([1, 1]),
                &plain,
                &ad,
            ),
        );
        print_row(
            &format!("{name} SSM (kernel + conv + D skip)"),
            fwd_bwd(
                [c, L, N],
                |u| pick(&u.device()).encoder[i].ssm.forward_cln(u),
                &plain,
                &ad,
            ),
        );
    }
    print_row(
        "  GELU [C,L,N]",
        fwd_bwd([c, L, N], burn::tensor::activation::gelu, &plain, &ad),
    );
    print_row(
        "  matmul [C,C]×[C,L·N]",
        fwd_bwd(
            [c, L * N],
            |x| {
                let w = pick(&x.device()).encoder[1].mlp.linear.weight.val();
                w.transpose().matmul(x)
            },
            &plain,
            &ad,
        ),
    );
    print_row(
        "block MLP (GELU + [C,C]×[C,L·N])",
        fwd_bwd(
            [c, L, N],
            |u| pick(&u.device()).encoder[1].mlp.forward_cln(u),
            &plain,
            &ad,
        ),
    );
    for (i, name) in [(0, "encoder block 1 (all)"), (1, "encoder block 2 (all)")] {
        print_row(
            name,
            fwd_bwd(
                [c, L, N],
                |u| pick(&u.device()).encoder[i].forward_cln(u),
                &plain,
                &ad,
            ),
        );
    }
    print_row(
        "decoder (Krylov, 2 convs, x_L, horizon)",
        fwd_bwd(
            [c, L, N],
            |z| {
                let d = pick(&z.device()).decoder.forward_cln(z, H, false);
                Tensor::cat(vec![d.y_chn, d.y_open_cln, d.zhat_open_cln], 1)
            },
            &plain,
            &ad,
        ),
    );
    print_row(
        "output head ×2",
        fwd_bwd(
            [c, L + H, N],
            |y| {
                let m = pick(&y.device());
                Tensor::cat(
                    vec![
                        m.head.forward_cln(y.clone().narrow(1, 0, L)),
                        m.head.forward_cln(y.narrow(1, L, H)),
                    ],
                    1,
                )
            },
            &plain,
            &ad,
        ),
    );
    print_row(
        "full forward / forward + loss + backward",
        full_model(&m, &ma, &plain, &ad),
    );
}

/// Whole model: forward (inference) and forward + three-term loss + backward (training step
/// without the optimiser).
fn full_model(m: &SpaceTime, ma: &SpaceTime, plain: &Device, ad: &Device) -> (f64, f64) {
    let x = random([B, L, V], plain);
    let y = random([B, H, V], plain);
    let fwd = time_ms(|| drop(m.forward(x.clone()).forecast_bhv));
    let (xa, ya) = (
        Tensor::<3>::from_data(x.to_data(), ad),
        Tensor::<3>::from_data(y.to_data(), ad),
    );
    let ma = ma.clone().train();
    let bwd = time_ms(|| {
        let out = ma.forward(xa.clone());
        drop(ma.loss(&out, xa.clone(), ya.clone(), [1.0, 1.0, 1.0]).backward());
    });
    (fwd, bwd)
}

fn profile_conv() {
    conv_table(128);
    conv_table(64);
}

fn profile_model() {
    for (width, state) in [(128, 64), (64, 32)] {
        for path in [ConvPath::Fft, ConvPath::Toeplitz] {
            model_table(width, state, path);
        }
    }
}

fn profile_training_step_variants() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let x = random([B, L, V], &ad);
    let y = random([B, H, V], &ad);
    for (name, dropout, weights) in [
        ("default", 0.25, [1.0, 1.0, 1.0]),
        ("dropout 0", 0.0, [1.0, 1.0, 1.0]),
        ("dropout 0, forecast loss only", 0.0, [1.0, 0.0, 0.0]),
    ] {
        let m = config(128, 64, ConvPath::Auto)
            .with_dropout(dropout)
            .init(&ad)
            .train();
        let fwd = time_ms(|| drop(m.forward(x.clone()).forecast_bhv));
        let fwd_loss = time_ms(|| {
            let out = m.forward(x.clone());
            drop(m.loss(&out, x.clone(), y.clone(), weights));
        });
        let step = time_ms(|| {
            let out = m.forward(x.clone());
            drop(m.loss(&out, x.clone(), y.clone(), weights).backward());
        });
        println!("{name:<32} fwd(ad) {fwd:>7.1} ms  +loss {fwd_loss:>7.1} ms  +backward {step:>7.1} ms");
    }
}

fn profile_dropout() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let layer = burn::nn::DropoutConfig::new(0.25).init();
    let x = random([128, L, N], &ad);
    let ours = time_ms(|| drop(dropout(&layer, gelu_free(&x))));
    let burns = time_ms(|| drop(layer.forward(gelu_free(&x))));
    let base = time_ms(|| drop(gelu_free(&x)));
    println!(
        "dropout [128,L,N]: ours {:.1} ms, burn {:.1} ms (copy baseline {base:.1} ms)",
        ours - base,
        burns - base
    );
}

fn gelu_free(x: &Tensor<3>) -> Tensor<3> {
    x.clone().mul_scalar(1.0)
}

fn profile_full() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    for (width, state) in [(128, 64), (64, 32)] {
        for path in [ConvPath::Fft, ConvPath::Toeplitz] {
            let cfg = config(width, state, path);
            let (fwd, step) = full_model(&cfg.init(&plain), &cfg.init(&ad), &plain, &ad);
            println!(
                "FULL C={width} d={state} {path:?}: forward {fwd:.1} ms, forward+loss+backward {step:.1} ms"
            );
        }
    }
}

/// Default-size model (C=128, d=64, 2 blocks): forward (mean of 3 runs after a warm-up), then
/// one forward+backward, one streaming look-back and one rollout.
fn forward_timing() {
    let device = Device::flex();
    let (b, l, h, v) = (32, 96, 96, 7);
    let model = SpaceTimeConfig::new(l, h).init(&device);
    let x = random([b, l, v], &device);
    let _ = model.forward(x.clone()).forecast_bhv.into_data(); // warm-up
    let runs = 3;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        let _ = model.forward(x.clone()).forecast_bhv.into_data();
    }
    let fwd = start.elapsed().as_secs_f64() / runs as f64;
    let ad = device.clone().autodiff();
    let model_ad = model.clone().to_device(&ad).train();
    let (xa, ya) = (x.clone().to_device(&ad), random([b, h, v], &ad));
    let start = std::time::Instant::now();
    let out = model_ad.forward(xa.clone());
    let loss = model_ad.loss(&out, xa, ya, [1.0, 1.0, 1.0]);
    let _grads = loss.backward();
    let train = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let (state, _) = model.stream_lookback(x);
    let stream = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let _ = model.forecast_from_state(&state, h, &device).into_data();
    let rollout = start.elapsed().as_secs_f64();
    println!(
        "B={b} L={l} H={h} V={v} C=128 d=64 blocks=2: forward {:.1} ms, forward+backward {:.1} ms, \
         streaming look-back {:.1} ms ({:.2} ms/point), rollout {:.1} ms",
        fwd * 1e3,
        train * 1e3,
        stream * 1e3,
        stream * 1e3 / l as f64,
        rollout * 1e3
    );
}
