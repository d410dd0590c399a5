use super::reference::{direct_causal_conv, naive_companion_kernel};
use super::*;
use crate::testing::{Rng, assert_close, host, tensor};
use burn::prelude::*;

/// Random companion parameters with `a` projected to ‖a‖₁ ≤ ρ on the host.
fn random_abc(rng: &mut Rng, n: usize, d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut a = rng.normals(n * d);
    for row in a.chunks_mut(d) {
        let norm: f64 = row.iter().map(|x| x.abs()).sum();
        row.iter_mut()
            .for_each(|x| *x *= DEFAULT_RHO / norm.max(DEFAULT_RHO));
    }
    (a, rng.normals(n * d), rng.normals(n * d))
}

#[test]
fn krylov_kernel_matches_naive_kernel() {
    let device = Device::flex();
    let mut rng = Rng::new(1);
    for &d in &[1usize, 3, 8, 16] {
        for &len in &[1usize, 5, 16, 37, 100] {
            let n = 3;
            let (a, b, c) = random_abc(&mut rng, n, d);
            let k = host(companion_kernel(
                tensor(&a, [n, d], &device),
                tensor(&b, [n, d], &device),
                tensor(&c, [n, d], &device),
                len,
            ));
            for i in 0..n {
                let r = i * d..(i + 1) * d;
                let want = naive_companion_kernel(&a[r.clone()], &b[r.clone()], &c[r], len);
                assert_close(
                    &k[i * len..(i + 1) * len],
                    &want,
                    1e-4,
                    1e-6,
                    &format!("d={d} len={len}"),
                );
            }
        }
    }
}

#[test]
fn krylov_of_general_matrix_has_power_blocks() {
    // Columns j*m..(j+1)*m of krylov(M, X0, len) are M^j X0 (checked by explicit powers).
    let device = Device::flex();
    let mut rng = Rng::new(2);
    let (n, d, m, len) = (2, 4, 3, 7);
    let mm: Vec<f64> = rng.normals(n * d * d).iter().map(|x| x * 0.4).collect();
    let x0 = rng.normals(n * d * m);
    let got = host(krylov(
        tensor(&mm, [n, d, d], &device),
        tensor(&x0, [n, d, m], &device),
        len,
    ));
    for i in 0..n {
        let mut cur: Vec<f64> = x0[i * d * m..(i + 1) * d * m].to_vec(); // [d, m]
        for j in 0..len {
            for r in 0..d {
                let g = &got[(i * d + r) * len * m + j * m..(i * d + r) * len * m + (j + 1) * m];
                assert_close(g, &cur[r * m..(r + 1) * m], 1e-4, 1e-5, &format!("block {j}"));
            }
            let mat = &mm[i * d * d..(i + 1) * d * d];
            cur = (0..d * m)
                .map(|e| (0..d).map(|q| mat[(e / m) * d + q] * cur[q * m + e % m]).sum())
                .collect();
        }
    }
}

#[test]
fn shift_kernel_is_c_then_zeros() {
    let device = Device::flex();
    let c = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let got = host(shift_kernel(tensor(&c, [2, 3], &device), 5));
    assert_eq!(got, vec![1.0, 2.0, 3.0, 0.0, 0.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
    // and equals the companion kernel with a = 0, b = e1
    let a = [0.0; 6];
    let b = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
    let comp = host(companion_kernel(
        tensor(&a, [2, 3], &device),
        tensor(&b, [2, 3], &device),
        tensor(&c, [2, 3], &device),
        5,
    ));
    assert_close(&got, &comp, 0.0, 1e-6, "shift vs companion(a=0, b=e1)");
    assert_eq!(
        host(shift_kernel(tensor(&c, [2, 3], &device), 2)),
        vec![1.0, 2.0, 4.0, 5.0]
    );
}

#[test]
fn l1_projection_bounds_norm_and_keeps_kernels_bounded() {
    let device = Device::flex();
    let mut rng = Rng::new(3);
    let (n, d) = (4, 8);
    let mut raw = rng.normals(n * d);
    raw[..d].iter_mut().for_each(|x| *x *= 0.01); // row 0 inside the ball: unchanged
    let a = host(l1_project(tensor(&raw, [n, d], &device), DEFAULT_RHO));
    assert_close(&a[..d], &raw[..d], 1e-6, 0.0, "row inside the ball is unchanged");
    for row in a.chunks(d) {
        let norm: f64 = row.iter().map(|x| x.abs()).sum();
        assert!(norm <= DEFAULT_RHO + 1e-5, "‖a‖₁ = {norm}");
    }
    // T4: all roots inside the unit disk, so long kernels decay instead of blowing up.
    let len = 4096;
    let b = rng.normals(n * d);
    let c = rng.normals(n * d);
    let k = host(companion_kernel(
        tensor(&a, [n, d], &device),
        tensor(&b, [n, d], &device),
        tensor(&c, [n, d], &device),
        len,
    ));
    for row in k.chunks(len) {
        let max = row.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let tail = row[len - 512..].iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            max.is_finite() && tail <= 0.1 * max + 1e-6,
            "max {max}, tail {tail}"
        );
    }
}

#[test]
fn fft_conv_matches_direct_sum() {
    let device = Device::flex();
    let mut rng = Rng::new(4);
    for &(l, kl) in &[(1usize, 1usize), (7, 7), (33, 5), (100, 100), (37, 80)] {
        let (b, c) = (2, 3);
        let u = rng.normals(b * l * c);
        let k = rng.normals(c * kl);
        let y = host(fft_causal_conv(
            tensor(&u, [b, l, c], &device),
            tensor(&k, [c, kl], &device),
        ));
        for bi in 0..b {
            for ci in 0..c {
                let us: Vec<f64> = (0..l).map(|t| u[(bi * l + t) * c + ci]).collect();
                let want = direct_causal_conv(&us, &k[ci * kl..(ci + 1) * kl]);
                let got: Vec<f64> = (0..l).map(|t| y[(bi * l + t) * c + ci]).collect();
                assert_close(&got, &want, 1e-4, 1e-5, &format!("L={l} ℓ={kl}"));
            }
        }
    }
}

#[test]
fn fft_conv_does_not_wrap_around() {
    // T2: an impulse at t = L-1 must not leak into earlier outputs.
    let device = Device::flex();
    let l = 45;
    let mut u = vec![0.0; l];
    u[l - 1] = 1.0;
    let k = vec![1.0; l];
    let y = host(fft_causal_conv(
        tensor(&u, [1, l, 1], &device),
        tensor(&k, [1, l], &device),
    ));
    assert_close(&y[..l - 1], &vec![0.0; l - 1], 0.0, 1e-5, "no wrap-around");
    assert!((y[l - 1] - 1.0).abs() < 1e-5);
}

/// `(L, ℓ)` pairs: L = 1, odd, not a power of two, kernels shorter and longer than L.
const CONV_SIZES: [(usize, usize); 8] = [
    (1, 1),
    (1, 4),
    (2, 2),
    (7, 7),
    (33, 5),
    (37, 80),
    (96, 96),
    (100, 100),
];

#[test]
fn conv_paths_match_direct_sum() {
    let device = Device::flex();
    let mut rng = Rng::new(5);
    for &(l, kl) in &CONV_SIZES {
        let (n, c) = (2, 3);
        let u = rng.normals(n * l * c);
        let k = rng.normals(c * kl);
        let k2 = rng.normals(c * kl);
        let want = |kernels: &[f64], ni: usize, ci: usize| {
            let us: Vec<f64> = (0..l).map(|t| u[(ni * l + t) * c + ci]).collect();
            direct_causal_conv(&us, &kernels[ci * kl..(ci + 1) * kl])
        };
        for path in [ConvPath::Fft, ConvPath::Toeplitz, ConvPath::Auto] {
            let what = format!("{path:?} L={l} ℓ={kl}");
            let u_nlc = tensor(&u, [n, l, c], &device);
            let y = host(causal_conv(u_nlc.clone(), tensor(&k, [c, kl], &device), path));
            // The same input as [C, L, N], two banks at once.
            let outs = causal_conv_many_cln(
                u_nlc.permute([2, 1, 0]),
                vec![tensor(&k, [c, kl], &device), tensor(&k2, [c, kl], &device)],
                path,
            );
            let ys_cln: Vec<Vec<f64>> = outs.into_iter().map(host).collect();
            for ni in 0..n {
                for ci in 0..c {
                    let got: Vec<f64> = (0..l).map(|t| y[(ni * l + t) * c + ci]).collect();
                    assert_close(&got, &want(&k, ni, ci), 1e-4, 1e-5, &what);
                    for (bank, kern) in [(0, &k), (1, &k2)] {
                        let got: Vec<f64> = (0..l).map(|t| ys_cln[bank][(ci * l + t) * n + ni]).collect();
                        assert_close(
                            &got,
                            &want(kern, ni, ci),
                            1e-4,
                            1e-5,
                            &format!("{what} bank {bank}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn toeplitz_matrix_is_lower_triangular_toeplitz() {
    let device = Device::flex();
    let t = host(toeplitz_matrix(tensor(&[1.0, 2.0, 3.0], [1, 3], &device)));
    assert_eq!(t, vec![1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 3.0, 2.0, 1.0]);
    assert_eq!(ConvPath::Auto.resolve(TOEPLITZ_MAX_LEN), ConvPath::Toeplitz);
    assert_eq!(ConvPath::Auto.resolve(TOEPLITZ_MAX_LEN + 1), ConvPath::Fft);
    assert_eq!(ConvPath::Fft.resolve(3), ConvPath::Fft);
    assert_eq!(ConvPath::Toeplitz.resolve(4096), ConvPath::Toeplitz);
}

#[test]
fn toeplitz_matrix_matches_the_definition_and_its_gradient_sums_diagonals() {
    // Both constructions. Values for several lengths and channels; the gradient of Σ W ⊙ T wrt k_d is the sum of
    // W over diagonal d (the dense construction must not lose or double-count a copy).
    let ad = Device::flex().autodiff();
    let mut rng = Rng::new(11);
    for &l in &[1usize, 2, 3, 5, 17, 64] {
        let c = 3;
        let (k, w) = (rng.normals(c * l), rng.normals(c * l * l));
        for build in [toeplitz_matrix_dense, toeplitz_matrix_gather] {
            let k_t = tensor(&k, [c, l], &ad).require_grad();
            let t = build(k_t.clone());
            let got = host(t.clone());
            for ch in 0..c {
                for i in 0..l {
                    for j in 0..l {
                        let want = if i >= j { k[ch * l + i - j] } else { 0.0 };
                        let got = got[(ch * l + i) * l + j];
                        assert!(
                            (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                            "L={l} c={ch} ({i},{j})"
                        );
                    }
                }
            }
            let grads = (t * tensor(&w, [c, l, l], &ad)).sum().backward();
            let g = host(k_t.grad(&grads).unwrap());
            for ch in 0..c {
                for d in 0..l {
                    let want: f64 = (d..l).map(|i| w[(ch * l + i) * l + i - d]).sum();
                    assert!(
                        (g[ch * l + d] - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "L={l} d={d}"
                    );
                }
            }
        }
    }
}

#[test]
fn conv_path_gradients_equal_the_fft_reference() {
    // Gradients wrt the input and the kernels of Σ w ⊙ conv(u, k), every path against the
    // original FFT implementation (`fft_causal_conv`).
    let ad = Device::flex().autodiff();
    let mut rng = Rng::new(6);
    for &(l, kl) in &CONV_SIZES {
        let (n, c) = (2, 3);
        let (u, k, w) = (
            rng.normals(n * l * c),
            rng.normals(c * kl),
            rng.normals(n * l * c),
        );
        let grads = |f: &dyn Fn(Tensor<3>, Tensor<2>) -> Tensor<3>| {
            let ut = tensor(&u, [n, l, c], &ad).require_grad();
            let kt = tensor(&k, [c, kl], &ad).require_grad();
            let g = (f(ut.clone(), kt.clone()) * tensor(&w, [n, l, c], &ad))
                .sum()
                .backward();
            (
                host(ut.grad(&g).expect("input gradient")),
                host(kt.grad(&g).expect("kernel gradient")),
            )
        };
        let (gu_ref, gk_ref) = grads(&fft_causal_conv);
        for path in [ConvPath::Fft, ConvPath::Toeplitz, ConvPath::Auto] {
            let (gu, gk) = grads(&|u, k| causal_conv(u, k, path));
            let what = format!("{path:?} L={l} ℓ={kl}");
            assert_close(&gu, &gu_ref, 1e-4, 1e-5, &format!("{what}: d/du"));
            assert_close(&gk, &gk_ref, 1e-4, 1e-5, &format!("{what}: d/dk"));
        }
        // And the two-bank form: the gradients of both banks and the shared input.
        let two_banks = |path: ConvPath| {
            let ut = tensor(&u, [n, l, c], &ad).require_grad();
            let k1 = tensor(&k, [c, kl], &ad).require_grad();
            let k2 = k1.clone().mul_scalar(-0.5).add_scalar(0.25);
            let outs = causal_conv_many_cln(ut.clone().permute([2, 1, 0]), vec![k1.clone(), k2], path);
            let wt = tensor(&w, [n, l, c], &ad).permute([2, 1, 0]);
            let loss = outs
                .into_iter()
                .enumerate()
                .map(|(i, y)| (y * wt.clone()).sum().mul_scalar(1.0 + i as f64))
                .reduce(|a, b| a + b)
                .expect("two banks");
            let g = loss.backward();
            (host(ut.grad(&g).expect("du")), host(k1.grad(&g).expect("dk")))
        };
        let (gu_fft, gk_fft) = two_banks(ConvPath::Fft);
        let (gu_toe, gk_toe) = two_banks(ConvPath::Toeplitz);
        assert_close(&gu_toe, &gu_fft, 1e-4, 1e-5, &format!("two banks L={l}: d/du"));
        assert_close(&gk_toe, &gk_fft, 1e-4, 1e-5, &format!("two banks L={l}: d/dk"));
    }
}

/// The CUDA failure mode, reproduced on the CPU: a trained near-periodic companion matrix
/// (`a = 0.999·e₁`, eigenvalues at radius 0.999^{1/d}) raised to the 335th power with products
/// whose operands are truncated to TF32 as tensor cores do. Plain TF32 products lose about
/// `j·2⁻¹¹` relative accuracy in `Aʲ`; the split products of [`precise`] keep f32 accuracy.
#[test]
fn krylov_with_tf32_products_needs_the_split() {
    use super::precise::{split_matmul_with, tf32_emulated_matmul};
    let device = Device::flex();
    let mut rng = Rng::new(11);
    let (n, d, len) = (2, 16, 336);
    let mut a = vec![0.0; n * d];
    for i in 0..n {
        a[i * d] = DEFAULT_RHO;
    }
    let (b, c) = (rng.normals(n * d), rng.normals(n * d));
    let kernel_with = |mm: &dyn Fn(Tensor<3>, Tensor<3>) -> Tensor<3>| {
        let x = krylov_with(
            companion_matrix(tensor(&a, [n, d], &device)),
            tensor(&b, [n, d, 1], &device),
            len,
            mm,
        );
        host(mm(tensor(&c, [n, 1, d], &device), x).reshape([n, len]))
    };
    let tf32 = kernel_with(&|x, y| tf32_emulated_matmul(x, y));
    let split = kernel_with(&|x, y| split_matmul_with(x, y, tf32_emulated_matmul));
    let rel_err = |got: &[f64]| {
        let mut worst = 0.0f64;
        for i in 0..n {
            let r = i * d..(i + 1) * d;
            let want = naive_companion_kernel(&a[r.clone()], &b[r.clone()], &c[r], len);
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got[i * len..(i + 1) * len].iter().zip(&want) {
                worst = worst.max((g - w).abs() / scale);
            }
        }
        worst
    };
    let (e_tf32, e_split) = (rel_err(&tf32), rel_err(&split));
    assert!(
        e_tf32 > 1e-3,
        "TF32 products should visibly drift, got {e_tf32:.2e}"
    );
    assert!(
        e_split < 1e-4,
        "split products must stay accurate, got {e_split:.2e} (TF32 {e_tf32:.2e})"
    );
    eprintln!("kernel relative error at len {len}: TF32 {e_tf32:.2e}, split {e_split:.2e}");
}
