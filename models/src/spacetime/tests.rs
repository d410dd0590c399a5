use burn::module::Param;
use burn::prelude::*;

use super::*;
use crate::ssm::reference::{ar_forecast, closed_loop_rollout, direct_causal_conv, naive_companion_kernel};
use crate::ssm::{ConvPath, channel_kernel_index, companion_matrix, krylov};
use crate::testing::{Rng, assert_close, host, scalar, tensor};

/// Tiny model: width 8 = (4 diff + 4 MA) preprocessing types; block 1 shares 2 kernels × 2 heads.
fn tiny_config(lookback: usize, horizon: usize) -> SpaceTimeConfig {
    SpaceTimeConfig::new(lookback, horizon)
        .with_d_model(8)
        .with_state_dim(4)
        .with_first_n_kernels(2)
        .with_first_n_heads(2)
        .with_n_kernels(8)
        .with_min_avg_window(2)
        .with_max_avg_window(7)
        .with_dropout(0.0)
}

fn random_tensor<const D: usize>(rng: &mut Rng, shape: [usize; D], device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    tensor(&rng.normals(n), shape, device)
}

/// `t[.., i, ..]` of a host copy laid out `[n, l, c]`.
fn at3(v: &[f64], dims: [usize; 3], i: usize, j: usize, k: usize) -> f64 {
    v[(i * dims[1] + j) * dims[2] + k]
}

#[test]
fn kernel_sharing_layout_follows_spec() {
    let device = Device::flex();
    let idx: Vec<i64> = channel_kernel_index(8, 2, 2, &device)
        .into_data()
        .iter::<i64>()
        .collect();
    assert_eq!(idx, vec![0, 0, 1, 1, 0, 0, 1, 1]);
    let layer = CompanionSsmConfig::new(8)
        .with_state_dim(3)
        .with_n_kernels(2)
        .with_n_heads(2)
        .init(&device);
    let k = host(layer.kernel(5));
    for c in 0..8 {
        let group = (c / 2) % 2;
        assert_eq!(
            &k[c * 5..c * 5 + 5],
            &k[group * 2 * 5..group * 2 * 5 + 5],
            "channel {c}"
        );
    }
    assert_ne!(&k[0..5], &k[10..15]);
}

#[test]
fn companion_layer_convolution_equals_step() {
    let device = Device::flex();
    let mut rng = Rng::new(10);
    let configs = [
        CompanionSsmConfig::new(6)
            .with_state_dim(5)
            .with_n_kernels(3)
            .with_n_heads(2),
        CompanionSsmConfig::new(4)
            .with_state_dim(3)
            .with_n_kernels(4)
            .with_kind(SsmKind::Shift),
        CompanionSsmConfig::new(4)
            .with_state_dim(7)
            .with_n_kernels(2)
            .with_skip(false),
    ];
    for cfg in configs {
        let layer = cfg.init(&device);
        let (n, l, c, d) = (2, 13, cfg.width, cfg.state_dim);
        let u_nlc = random_tensor(&mut rng, [n, l, c], &device);
        let conv = host(layer.forward(u_nlc.clone()));
        let mut x = Tensor::<3>::zeros([n, c, d], &device);
        let mut steps = Vec::new();
        for t in 0..l {
            let (y, x_new) = layer.step(u_nlc.clone().narrow(1, t, 1).reshape([n, c]), x);
            x = x_new;
            steps.push(y.unsqueeze_dim::<3>(1));
        }
        assert_close(
            &host(Tensor::cat(steps, 1)),
            &conv,
            1e-4,
            1e-5,
            &format!("{cfg:?} outputs"),
        );
        // Final state equals Σ_i A^{L−1−i} b u_i (Krylov matrix times the reversed input).
        let p = layer.channel_params();
        let x_cdl = krylov(companion_matrix(p.a_cd), p.b_cd.reshape([c, d, 1]), l);
        let x_cdn = x_cdl.matmul(u_nlc.flip([1]).permute([2, 1, 0]));
        assert_close(
            &host(x),
            &host(x_cdn.permute([2, 0, 1])),
            1e-4,
            1e-5,
            "final state",
        );
    }
}

#[test]
fn preprocessing_matches_explicit_formulas_and_step() {
    let device = Device::flex();
    let mut rng = Rng::new(11);
    let cfg = PreprocessConfig::new(16)
        .with_min_avg_window(3)
        .with_max_avg_window(9)
        .with_seed(7);
    let kernels = cfg.kernels();
    let pre = cfg.init(&device);
    let (n, l, c) = (2, 12, 16);
    let u = rng.normals(n * l * c);
    let y = host(pre.forward(tensor(&u, [n, l, c], &device)));
    let dims = [n, l, c];
    let ux = |i: usize, t: isize, ch: usize| {
        if t < 0 {
            0.0
        } else {
            at3(&u, dims, i, t as usize, ch)
        }
    };
    let windows: Vec<usize> = kernels[4..8]
        .iter()
        .chain(&kernels[12..16])
        .map(Vec::len)
        .collect();
    assert!(windows.iter().all(|m| (3..9).contains(m)), "windows {windows:?}");
    for i in 0..n {
        for t in 0..l as isize {
            for (ch, kernel) in kernels.iter().enumerate() {
                let want = match ch % 8 {
                    0 => ux(i, t, ch),
                    1 => ux(i, t, ch) - ux(i, t - 1, ch),
                    2 => ux(i, t, ch) - 2.0 * ux(i, t - 1, ch) + ux(i, t - 2, ch),
                    3 => ux(i, t, ch) - 3.0 * ux(i, t - 1, ch) + 3.0 * ux(i, t - 2, ch) - ux(i, t - 3, ch),
                    _ => {
                        let m = kernel.len();
                        ux(i, t, ch) - (0..m as isize).map(|j| ux(i, t - j, ch)).sum::<f64>() / m as f64
                    }
                };
                let got = at3(&y, dims, i, t as usize, ch);
                assert!((got - want).abs() < 1e-4, "ch {ch} t {t}: {got} vs {want}");
            }
        }
    }
    // Streaming FIR equals the convolution.
    let u_nlc = tensor(&u, [n, l, c], &device);
    let mut hist = Tensor::<3>::zeros([n, c, pre.taps() - 1], &device);
    let mut ys = Vec::new();
    for t in 0..l {
        let (yt, h) = pre.step(u_nlc.clone().narrow(1, t, 1).reshape([n, c]), hist);
        hist = h;
        ys.push(yt.unsqueeze_dim::<3>(1));
    }
    assert_close(&host(Tensor::cat(ys, 1)), &y, 1e-4, 1e-5, "preprocessing step");
}

fn host_rows(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, d] = t.dims();
    host(t).chunks(d).map(<[f64]>::to_vec).collect()
}

#[test]
fn closed_loop_decoder_equals_rollout_that_appends_predictions() {
    let device = Device::flex();
    let mut rng = Rng::new(12);
    let cfg = ClosedLoopSsmConfig::new(4)
        .with_state_dim(3)
        .with_n_kernels(2)
        .with_n_heads(2);
    let dec = cfg.init(&device);
    let (n, l, c, h) = (2, 9, 4, 6);
    let z = rng.normals(n * l * c);
    let z_nlc = tensor(&z, [n, l, c], &device);
    let out = dec.forward(z_nlc.clone(), h);
    let p = dec.channel_params();
    let (a, b, cc, k) = (
        host_rows(p.a_cd),
        host_rows(p.b_cd),
        host_rows(p.c_cd),
        host_rows(p.k_cd),
    );
    // Consistent normalisation (`docs/spacetime.md` §2.13): ‖a‖₁ ≤ ρ, and the same unit-L1 b, c, k everywhere.
    let l1 = |r: &Vec<f64>| r.iter().map(|x| x.abs()).sum::<f64>();
    assert!(a.iter().all(|r| l1(r) <= 0.999 + 1e-5));
    assert!(b.iter().chain(&cc).chain(&k).all(|r| l1(r) <= 1.0 + 1e-5));
    let (y, zhat) = (host(out.y_nhc.clone()), host(out.zhat_nhc.clone()));
    let (y_open, zhat_open) = (host(out.y_open_nlc.clone()), host(out.zhat_open_nlc.clone()));
    for i in 0..n {
        for ch in 0..c {
            let zs: Vec<f64> = (0..l).map(|t| at3(&z, [n, l, c], i, t, ch)).collect();
            let (want_y, want_z) = closed_loop_rollout(&a[ch], &b[ch], &cc[ch], &k[ch], &zs, h);
            let got_y: Vec<f64> = (0..h).map(|t| at3(&y, [n, h, c], i, t, ch)).collect();
            let got_z: Vec<f64> = (0..h).map(|t| at3(&zhat, [n, h, c], i, t, ch)).collect();
            assert_close(&got_y, &want_y, 1e-4, 1e-5, "closed-loop y");
            assert_close(&got_z, &want_z, 1e-4, 1e-5, "closed-loop zhat");
            let ko = naive_companion_kernel(&a[ch], &b[ch], &cc[ch], l);
            let want_open = direct_causal_conv(&zs, &ko);
            let got_open: Vec<f64> = (0..l).map(|t| at3(&y_open, [n, l, c], i, t, ch)).collect();
            assert_close(&got_open, &want_open, 1e-4, 1e-5, "open-loop y");
            let kk = naive_companion_kernel(&a[ch], &b[ch], &k[ch], l);
            let want_zo = direct_causal_conv(&zs, &kk);
            let got_zo: Vec<f64> = (0..l).map(|t| at3(&zhat_open, [n, l, c], i, t, ch)).collect();
            assert_close(&got_zo, &want_zo, 1e-4, 1e-5, "open-loop zhat");
            // ŷ_L = cᵀ x_L equals the open-loop output at t = L − 1.
            assert!((got_y[0] - got_open[l - 1]).abs() < 1e-4);
        }
    }
    // Tensor step path: open-loop steps over the look-back, then the explicit rollout.
    let mut x = Tensor::<3>::zeros([n, c, 3], &device);
    let mut opens = Vec::new();
    for t in 0..l {
        let (yo, _, x_new) = dec.step(z_nlc.clone().narrow(1, t, 1).reshape([n, c]), x);
        x = x_new;
        opens.push(yo.unsqueeze_dim::<3>(1));
    }
    assert_close(&host(Tensor::cat(opens, 1)), &y_open, 1e-4, 1e-5, "decoder step");
    let (ry, rz) = dec.rollout(x, h);
    assert_close(&host(ry), &y, 1e-4, 1e-5, "rollout y");
    assert_close(&host(rz), &zhat, 1e-4, 1e-5, "rollout zhat");
}

#[test]
fn closed_loop_shift_ssm_is_ar_on_the_input() {
    let device = Device::flex();
    let mut rng = Rng::new(13);
    let d = 3;
    let dec = ClosedLoopSsmConfig::new(2)
        .with_state_dim(d)
        .with_n_kernels(2)
        .with_kind(SsmKind::Shift)
        .init(&device);
    let (n, l, c, h) = (1, 7, 2, 8);
    let z = rng.normals(n * l * c);
    let out = dec.forward(tensor(&z, [n, l, c], &device), h);
    let (k, cc) = (host_rows(dec.k.val()), host_rows(dec.c.val()));
    let (y, zhat) = (host(out.y_nhc), host(out.zhat_nhc));
    for ch in 0..c {
        let zs: Vec<f64> = (0..l).map(|t| at3(&z, [n, l, c], 0, t, ch)).collect();
        let want = ar_forecast(&k[ch], &zs, h);
        let got: Vec<f64> = (0..h).map(|t| at3(&zhat, [n, h, c], 0, t, ch)).collect();
        assert_close(&got, &want, 1e-4, 1e-5, "AR(d) on z");
        // ŷ_{L+h} = Σ_i c_i s_{L+h−1−i} over the AR-extended sequence s.
        let s: Vec<f64> = zs.iter().chain(&want).copied().collect();
        let want_y: Vec<f64> = (0..h)
            .map(|j| (0..d).map(|i| cc[ch][i] * s[l + j - 1 - i]).sum())
            .collect();
        let got_y: Vec<f64> = (0..h).map(|t| at3(&y, [n, h, c], 0, t, ch)).collect();
        assert_close(&got_y, &want_y, 1e-4, 1e-5, "shift-SSM output");
    }
}

fn model_configs() -> Vec<SpaceTimeConfig> {
    vec![
        tiny_config(20, 7).with_embedding(Embedding::Linear),
        tiny_config(11, 5)
            .with_normalization(Normalization::Standardize)
            .with_encoder_ssm(SsmKind::Shift)
            .with_decoder_ssm(SsmKind::Shift)
            .with_n_encoder_blocks(3),
        tiny_config(9, 4)
            .with_normalization(Normalization::Last)
            .with_preprocess(false)
            .with_n_encoder_blocks(1),
    ]
}

#[test]
fn full_model_forward_equals_streaming_step_path() {
    let device = Device::flex();
    let mut rng = Rng::new(14);
    for cfg in model_configs() {
        let model = cfg.init(&device);
        let (b, l, v, h) = (2, cfg.lookback, 3, cfg.horizon);
        let x = random_tensor(&mut rng, [b, l, v], &device).add_scalar(2.0);
        let out = model.forward(x.clone());
        let (state, steps) = model.stream_lookback(x);
        assert_eq!(state.steps, l);
        let z_stream: Vec<Tensor<3>> = steps
            .iter()
            .map(|s| s.encoder_out_nc.clone().unsqueeze_dim(1))
            .collect();
        let what = format!("{:?}/{:?}", cfg.normalization, cfg.encoder_ssm);
        assert_close(
            &host(Tensor::cat(z_stream, 1)),
            &host(out.next_input_target_nlc),
            1e-4,
            1e-4,
            &what,
        );
        let preds: Vec<Tensor<3>> = steps
            .iter()
            .map(|s| s.next_pred_bv.clone().unsqueeze_dim(1))
            .collect();
        assert_close(
            &host(Tensor::cat(preds, 1)),
            &host(out.lookback_pred_blv),
            1e-4,
            1e-4,
            &what,
        );
        let fc = model.forecast_from_state(&state, h, &device);
        assert_eq!([b, h, v], fc.dims());
        assert_close(&host(fc), &host(out.forecast_bhv), 1e-4, 1e-4, &what);
    }
}

#[test]
fn streaming_state_survives_serde_round_trip() {
    let device = Device::flex();
    let mut rng = Rng::new(15);
    let model = tiny_config(10, 3).init(&device);
    let x = random_tensor(&mut rng, [1, 10, 2], &device);
    let mut state = model.init_state(1, 2, &model.norm_stats(x.clone()));
    for t in 0..6 {
        model.step(x.clone().narrow(1, t, 1).reshape([1, 2]), &mut state);
    }
    let json = serde_json::to_string(&state).unwrap();
    let mut restored: SpaceTimeState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, state);
    for t in 6..10 {
        let a = model.step(x.clone().narrow(1, t, 1).reshape([1, 2]), &mut state);
        let b = model.step(x.clone().narrow(1, t, 1).reshape([1, 2]), &mut restored);
        assert_eq!(host(a.next_pred_bv), host(b.next_pred_bv));
    }
    let (fc, want) = (
        model.forecast_from_state(&restored, 3, &device),
        model.forward(x).forecast_bhv,
    );
    assert_close(&host(fc), &host(want), 1e-4, 1e-4, "forecast after restore");
}

#[test]
fn normalisation_round_trips() {
    let device = Device::flex();
    let mut rng = Rng::new(16);
    let x = random_tensor(&mut rng, [3, 17], &device)
        .mul_scalar(4.0)
        .add_scalar(7.0);
    for mode in [
        Normalization::None,
        Normalization::Mean,
        Normalization::Last,
        Normalization::Standardize,
    ] {
        let stats = NormStats::from_lookback(x.clone(), mode);
        let u = stats.normalize(x.clone());
        assert_close(
            &host(stats.denormalize(u.clone())),
            &host(x.clone()),
            1e-5,
            1e-5,
            "round trip",
        );
        let uh = host(u);
        for row in uh.chunks(17) {
            let mean = row.iter().sum::<f64>() / 17.0;
            let var = row.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 17.0;
            match mode {
                Normalization::None => {}
                Normalization::Mean => assert!(mean.abs() < 1e-5),
                Normalization::Last => assert!(row[16].abs() < 1e-6),
                Normalization::Standardize => assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3),
            }
        }
    }
}

#[test]
fn multivariate_fold_equals_running_each_variate() {
    let device = Device::flex();
    let mut rng = Rng::new(17);
    let model = tiny_config(12, 4).init(&device);
    let (b, l, v) = (2, 12, 3);
    let x = random_tensor(&mut rng, [b, l, v], &device);
    let out = model.forward(x.clone());
    let folded = fold_variates(x.clone());
    assert_eq!(host(unfold_variates(folded, b, v)), host(x.clone()));
    for vi in 0..v {
        let single = model.forward(x.clone().narrow(2, vi, 1));
        let want = host(single.forecast_bhv);
        let got = host(out.forecast_bhv.clone().narrow(2, vi, 1));
        assert_close(&got, &want, 1e-5, 1e-6, &format!("variate {vi}"));
    }
}

#[test]
fn encoder_and_open_loop_outputs_are_causal() {
    // T14 (normalisation off: window statistics are not causal by design).
    let device = Device::flex();
    let mut rng = Rng::new(18);
    let model = tiny_config(16, 3)
        .with_normalization(Normalization::None)
        .init(&device);
    let x = random_tensor(&mut rng, [1, 16, 1], &device);
    let t_star = 9;
    let bump = Tensor::<3>::zeros([1, 16, 1], &device).slice_assign(
        [0..1, t_star..t_star + 1, 0..1],
        Tensor::<3>::ones([1, 1, 1], &device),
    );
    let a = host(model.forward(x.clone()).lookback_pred_blv);
    let b = host(model.forward(x + bump).lookback_pred_blv);
    // FFT round-off is global, so "unchanged" means equal to float precision.
    assert_close(&a[..t_star], &b[..t_star], 1e-5, 1e-6, "outputs before t*");
    assert!(
        (a[t_star] - b[t_star]).abs() > 1e-4,
        "the perturbation must reach t*"
    );
}

/// Central finite differences of `f` wrt selected entries of a parameter, compared with autodiff.
fn check_fd(name: &str, autodiff: &[f64], value: &[f64], f: impl Fn(&[f64]) -> f64, entries: &[usize]) {
    let eps = 1e-2;
    let scale = autodiff.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    for &i in entries {
        let mut plus = value.to_vec();
        plus[i] += eps;
        let mut minus = value.to_vec();
        minus[i] -= eps;
        let fd = (f(&plus) - f(&minus)) / (2.0 * eps);
        let err = (fd - autodiff[i]).abs();
        assert!(
            err <= 2e-2 * scale.max(1e-3),
            "{name}[{i}]: autodiff {} vs fd {fd} (scale {scale})",
            autodiff[i]
        );
    }
}

/// Parameter values away from the kinks of |·| in the L1 projections.
fn away_from_zero(rng: &mut Rng, n: usize) -> Vec<f64> {
    rng.normals(n)
        .into_iter()
        .map(|x| x.signum() * (0.3 + x.abs()))
        .collect()
}

#[test]
fn companion_layer_gradients_match_finite_differences() {
    let ad = Device::flex().autodiff();
    let plain = Device::flex();
    let mut rng = Rng::new(19);
    let (n, l, c, d, nk) = (2, 10, 4, 3, 2);
    let cfg = CompanionSsmConfig::new(c)
        .with_state_dim(d)
        .with_n_kernels(nk)
        .with_n_heads(2);
    let vals: Vec<Vec<f64>> = (0..3).map(|_| away_from_zero(&mut rng, nk * d)).collect();
    let skip = rng.normals(c);
    let u = rng.normals(n * l * c);
    let w = rng.normals(n * l * c);
    let build = |dev: &Device, v: &[Vec<f64>], skip: &[f64]| {
        let mut layer = cfg.init(dev);
        layer.a = Some(Param::from_tensor(tensor(&v[0], [nk, d], dev)));
        layer.b = Some(Param::from_tensor(tensor(&v[1], [nk, d], dev)));
        layer.c = Param::from_tensor(tensor(&v[2], [nk, d], dev));
        layer.d_skip = Some(Param::from_tensor(tensor(skip, [c], dev)));
        layer
    };
    let loss = |layer: &CompanionSsm, dev: &Device| {
        (layer.forward(tensor(&u, [n, l, c], dev)) * tensor(&w, [n, l, c], dev)).sum()
    };
    let layer = build(&ad, &vals, &skip);
    let grads = loss(&layer, &ad).backward();
    let g = |p: &Param<Tensor<2>>| host(p.val().grad(&grads).expect("gradient"));
    let ga = [
        g(layer.a.as_ref().unwrap()),
        g(layer.b.as_ref().unwrap()),
        g(&layer.c),
    ];
    let gd = host(
        layer
            .d_skip
            .as_ref()
            .unwrap()
            .val()
            .grad(&grads)
            .expect("gradient"),
    );
    for (p, name) in ["a", "b", "c"].iter().enumerate() {
        let f = |x: &[f64]| {
            let mut v = vals.clone();
            v[p] = x.to_vec();
            scalar(loss(&build(&plain, &v, &skip), &plain))
        };
        check_fd(name, &ga[p], &vals[p], f, &(0..nk * d).collect::<Vec<_>>());
    }
    let f = |x: &[f64]| scalar(loss(&build(&plain, &vals, x), &plain));
    check_fd("D", &gd, &skip, f, &[0, 1, 2, 3]);
}

#[test]
fn decoder_gradients_match_finite_differences() {
    let ad = Device::flex().autodiff();
    let plain = Device::flex();
    let mut rng = Rng::new(20);
    let (n, l, c, d, h) = (2, 8, 2, 3, 4);
    let cfg = ClosedLoopSsmConfig::new(c).with_state_dim(d).with_n_kernels(c);
    let vals: Vec<Vec<f64>> = (0..4).map(|_| away_from_zero(&mut rng, c * d)).collect();
    let z = rng.normals(n * l * c);
    let w: Vec<Vec<f64>> = (0..4).map(|_| rng.normals(n * l.max(h) * c)).collect();
    let build = |dev: &Device, v: &[Vec<f64>]| {
        let mut dec = cfg.init(dev);
        dec.a = Some(Param::from_tensor(tensor(&v[0], [c, d], dev)));
        dec.b = Some(Param::from_tensor(tensor(&v[1], [c, d], dev)));
        dec.c = Param::from_tensor(tensor(&v[2], [c, d], dev));
        dec.k = Param::from_tensor(tensor(&v[3], [c, d], dev));
        dec
    };
    let loss = |dec: &ClosedLoopSsm, dev: &Device| {
        let out = dec.forward(tensor(&z, [n, l, c], dev), h);
        let wt = |i: usize, t: usize| tensor(&w[i][..n * t * c], [n, t, c], dev);
        (out.y_nhc * wt(0, h)).sum()
            + (out.zhat_nhc * wt(1, h)).sum()
            + (out.y_open_nlc * wt(2, l)).sum()
            + (out.zhat_open_nlc * wt(3, l)).sum()
    };
    let dec = build(&ad, &vals);
    let grads = loss(&dec, &ad).backward();
    let g = |p: &Param<Tensor<2>>| host(p.val().grad(&grads).expect("gradient"));
    let ga = [
        g(dec.a.as_ref().unwrap()),
        g(dec.b.as_ref().unwrap()),
        g(&dec.c),
        g(&dec.k),
    ];
    for (p, name) in ["a", "b", "c", "k"].iter().enumerate() {
        let f = |x: &[f64]| {
            let mut v = vals.clone();
            v[p] = x.to_vec();
            scalar(loss(&build(&plain, &v), &plain))
        };
        check_fd(name, &ga[p], &vals[p], f, &(0..c * d).collect::<Vec<_>>());
    }
}

#[test]
fn full_model_loss_gradients_match_finite_differences() {
    let ad = Device::flex().autodiff();
    let plain = Device::flex();
    let mut rng = Rng::new(21);
    let cfg = tiny_config(12, 4);
    let model = cfg.init(&plain);
    let x = rng.normals(2 * 12);
    let y = rng.normals(2 * 4);
    let c0 = host(model.encoder[0].ssm.c.val());
    let k0 = host(model.decoder.k.val());
    let with = |dev: &Device, c: &[f64], k: &[f64]| {
        let mut m = model.clone().to_device(dev);
        m.encoder[0].ssm.c = Param::from_tensor(tensor(c, [2, 4], dev));
        m.decoder.k = Param::from_tensor(tensor(k, [8, 4], dev));
        m
    };
    let loss = |m: &SpaceTime, dev: &Device| {
        let (xt, yt) = (tensor(&x, [2, 12, 1], dev), tensor(&y, [2, 4, 1], dev));
        let out = m.forward(xt.clone());
        m.loss(&out, xt, yt, [1.0, 1.0, 1.0])
    };
    let m = with(&ad, &c0, &k0);
    let grads = loss(&m, &ad).backward();
    let gc = host(m.encoder[0].ssm.c.val().grad(&grads).expect("gradient"));
    let gk = host(m.decoder.k.val().grad(&grads).expect("gradient"));
    check_fd(
        "encoder c",
        &gc,
        &c0,
        |v| scalar(loss(&with(&plain, v, &k0), &plain)),
        &[0, 3, 5, 7],
    );
    check_fd(
        "decoder k",
        &gk,
        &k0,
        |v| scalar(loss(&with(&plain, &c0, v), &plain)),
        &[0, 9, 18, 31],
    );
}

#[test]
fn a_few_adamw_steps_fit_a_noisy_sine() {
    use burn::optim::{AdamWConfig, GradientsParams};
    let ad = Device::flex().autodiff();
    ad.seed(5);
    let mut rng = Rng::new(22);
    let (l, h, b) = (32, 8, 16);
    let series: Vec<f64> = (0..400)
        .map(|t| (2.0 * std::f64::consts::PI * t as f64 / 16.0).sin() + 0.1 * rng.normal())
        .collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..b {
        let s = 7 + i * 19;
        xs.extend_from_slice(&series[s..s + l]);
        ys.extend_from_slice(&series[s + l..s + l + h]);
    }
    let x = tensor(&xs, [b, l, 1], &ad);
    let y = tensor(&ys, [b, h, 1], &ad);
    let cfg = SpaceTimeConfig::new(l, h)
        .with_d_model(16)
        .with_state_dim(8)
        .with_n_encoder_blocks(1)
        .with_first_n_kernels(4)
        .with_first_n_heads(2)
        .with_n_kernels(16)
        .with_max_avg_window(16)
        .with_dropout(0.0);
    let mut model = cfg.init(&ad);
    let mut optim = AdamWConfig::new().init();
    let forecast_rmse = |m: &SpaceTime| {
        let out = m.forward(x.clone());
        scalar(m.loss_terms(&out, x.clone(), y.clone()).forecast)
    };
    let before = forecast_rmse(&model);
    for _ in 0..40 {
        let out = model.forward(x.clone());
        let loss = model.loss(&out, x.clone(), y.clone(), [1.0, 1.0, 1.0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let after = forecast_rmse(&model);
    eprintln!("forecast RMSE {before} -> {after}");
    assert!(after < 0.5 * before, "forecast RMSE {before} -> {after}");
}

#[test]
fn loss_terms_align_predictions_with_next_values() {
    let device = Device::flex();
    let mut rng = Rng::new(23);
    let model = tiny_config(10, 3).init(&device); // d = 4: warm-up w = 3
    let (b, l, v, h, c, w) = (2, 10, 2, 3, 8, 3);
    let x = random_tensor(&mut rng, [b, l, v], &device);
    let y = random_tensor(&mut rng, [b, h, v], &device);
    let z = random_tensor(&mut rng, [b * v, l, c], &device);
    // A perfect predictor: position t holds the value at t + 1.
    let next_btv = Tensor::cat(vec![x.clone().narrow(1, 1, l - 1), y.clone().narrow(1, 0, 1)], 1);
    let z_next = Tensor::cat(
        vec![
            z.clone().narrow(1, 1, l - 1),
            Tensor::zeros([b * v, 1, c], &device),
        ],
        1,
    );
    let perfect = SpaceTimeOutput {
        forecast_bhv: y.clone(),
        lookback_pred_blv: next_btv.clone(),
        next_input_pred_nlc: z_next.clone(),
        next_input_target_nlc: z.clone(),
    };
    let total = scalar(model.loss(&perfect, x.clone(), y.clone(), [1.0, 1.0, 1.0]));
    assert!(total.abs() < 1e-6, "perfect predictor has loss {total}");
    // Errors inside the warm-up do not count; errors after it do, as RMSE.
    let mut bad = perfect.clone();
    let bump = |t: usize, val: f32| {
        Tensor::<3>::zeros([b, l, v], &device).slice_assign(
            [0..b, t..t + 1, 0..v],
            Tensor::<3>::ones([b, 1, v], &device).mul_scalar(val),
        )
    };
    bad.lookback_pred_blv = next_btv.clone() + bump(w - 1, 100.0) + bump(l - 1, 2.0);
    let terms = model.loss_terms(&bad, x.clone(), y.clone());
    let want = (4.0f64 / (l - w) as f64).sqrt();
    assert!((scalar(terms.lookback) - want).abs() < 1e-5, "lookback RMSE");
    assert!(scalar(terms.forecast).abs() < 1e-6 && scalar(terms.next_input).abs() < 1e-6);
}

#[test]
fn full_model_conv_paths_agree_on_outputs_and_loss_gradients() {
    // Same weights, FFT vs Toeplitz convolutions: forward outputs and the gradients of the
    // three-term loss wrt every parameter agree within 1e-4 relative (odd and even look-backs,
    // both embeddings, several variates).
    let ad = Device::flex().autodiff();
    let mut rng = Rng::new(25);
    for (l, h, embedding) in [
        (13, 5, Embedding::Repeat),
        (12, 7, Embedding::Linear),
        (33, 4, Embedding::Repeat),
    ] {
        let cfg = tiny_config(l, h).with_embedding(embedding);
        let (b, v) = (2, 3);
        let x = rng.normals(b * l * v);
        let y = rng.normals(b * h * v);
        let base = cfg.init(&ad);
        let run = |path: ConvPath| {
            let m = base.clone().with_conv_path(path);
            let (xt, yt) = (tensor(&x, [b, l, v], &ad), tensor(&y, [b, h, v], &ad));
            let out = m.forward(xt.clone());
            let values = [
                host(out.forecast_bhv.clone()),
                host(out.lookback_pred_blv.clone()),
                host(out.next_input_pred_nlc.clone()),
            ];
            let grads = m.loss(&out, xt, yt, [1.0, 1.0, 1.0]).backward();
            let mut g = Vec::new();
            let mut visit = |name: &str, p: Vec<f64>| g.push((name.to_string(), p));
            let g1 = |p: Tensor<1>| host(p.grad(&grads).expect("gradient"));
            let g2 = |p: Tensor<2>| host(p.grad(&grads).expect("gradient"));
            for (i, block) in m.encoder.iter().enumerate() {
                visit(&format!("enc{i}.a"), g2(block.ssm.a.as_ref().expect("a").val()));
                visit(&format!("enc{i}.b"), g2(block.ssm.b.as_ref().expect("b").val()));
                visit(&format!("enc{i}.c"), g2(block.ssm.c.val()));
                visit(
                    &format!("enc{i}.D"),
                    g1(block.ssm.d_skip.as_ref().expect("D").val()),
                );
                visit(&format!("enc{i}.mlp"), g2(block.mlp.linear.weight.val()));
                let bias = block.mlp.linear.bias.as_ref().expect("bias");
                visit(&format!("enc{i}.mlp.bias"), g1(bias.val()));
            }
            visit("dec.a", g2(m.decoder.a.as_ref().expect("a").val()));
            visit("dec.b", g2(m.decoder.b.as_ref().expect("b").val()));
            visit("dec.c", g2(m.decoder.c.val()));
            visit("dec.k", g2(m.decoder.k.val()));
            visit("head", g2(m.head.linear.weight.val()));
            if let Some(e) = &m.embedding {
                visit("embedding", g2(e.weight.val()));
            }
            (values, g)
        };
        let (v_fft, g_fft) = run(ConvPath::Fft);
        let (v_toe, g_toe) = run(ConvPath::Toeplitz);
        assert_ne!(v_toe[0], v_fft[0], "both paths ran (they differ in round-off)");
        for (i, name) in ["forecast", "look-back", "next input"].iter().enumerate() {
            assert_close(&v_toe[i], &v_fft[i], 1e-4, 1e-6, &format!("L={l} {name}"));
        }
        for ((name, gt), (_, gf)) in g_toe.iter().zip(&g_fft) {
            assert_close(gt, gf, 1e-4, 1e-7, &format!("L={l} grad {name}"));
        }
    }
}

#[test]
fn dropout_keeps_burns_semantics() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let layer = burn::nn::DropoutConfig::new(0.25).init();
    let x = Tensor::<2>::ones([64, 1000], &ad);
    let draw = || host(super::block::dropout(&layer, x.clone()));
    let y = draw();
    let zeros = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.25).abs() < 0.01, "dropped fraction {zeros}");
    assert!(
        y.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.75).abs() < 1e-6),
        "kept entries scaled by 1/(1-p)"
    );
    assert_ne!(y, draw(), "a fresh mask per call");
    ad.seed(3);
    let first = draw();
    ad.seed(3);
    assert_eq!(first, draw(), "reproducible under Device::seed");
    // Inactive without autodiff, when frozen, or with p = 0 (as burn's Dropout).
    let x_plain = Tensor::<2>::ones([4, 5], &plain);
    assert_eq!(host(super::block::dropout(&layer, x_plain)), vec![1.0; 20]);
    let frozen = layer.clone().freeze();
    assert_eq!(host(super::block::dropout(&frozen, x.clone())), vec![1.0; 64_000]);
    let off = burn::nn::DropoutConfig::new(0.0).init();
    assert_eq!(host(super::block::dropout(&off, x)), vec![1.0; 64_000]);
}

#[test]
fn conv_path_round_trips_through_the_config_json() {
    // burn's `Config` derive does not default missing fields, so `conv_path` is always written.
    let cfg = SpaceTimeConfig::new(96, 24).with_conv_path(ConvPath::Toeplitz);
    let back: SpaceTimeConfig = serde_json::from_str(&cfg.to_string()).expect("config json");
    assert_eq!(back.conv_path, ConvPath::Toeplitz);
    assert_eq!(SpaceTimeConfig::new(96, 24).conv_path, ConvPath::Auto);
}
