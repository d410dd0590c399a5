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
