//! The input-independent 2-D scan as a 2-D causal convolution (`docs/chimera.md` §1.5).
//!
//! When every cell has the same `Δ1`, `Δ2`, `B1`, `B2`, `C1`, `C2`, the coefficients `ā_i`, `b̄_i`
//! are the same everywhere, and the joint state `S = [h1; h2]` obeys
//!
//! ```text
//! S[v,t] = M1·S[v,t−1] + M2·S[v−1,t] + b̄·x[v,t],   M1 = [[ā1, ā2], [0, 0]],  M2 = [[0, 0], [ā3, ā4]]
//! ```
//!
//! (element-wise per channel and state). Unrolled, `S[v,t] = Σ_{i ≤ v, j ≤ t} K[i,j]·x[v−i, t−j]`
//! with the lattice kernel
//!
//! ```text
//! K[0,0] = b̄ = [b̄1; b̄2],   K[i,j] = M1·K[i,j−1] + M2·K[i−1,j]   (zero at negative lags)
//! ```
//!
//! (a sum over all monotone paths from `(0,0)` to `(i,j)`), and `y = k ⊛ x + D·x` with the output
//! kernel `k[i,j] = Σ_n C1·K1[i,j] + C2·K2[i,j]`: a causal convolution, lag `i` along the variates
//! and `j` along time. The kernel is the grid's response to a unit input at `(0,0)`; it is built a
//! line at a time like [`super::rows_scan`] (or [`super::columns_scan`], whichever axis is
//! shorter), once per call and independent of the batch. The convolution runs by 2-D FFT.
use burn::prelude::*;
use burn::signal::{cfft, irfft, rfft};

use super::line::previous_along;
use super::{Scan2dParams, Scan2dPath, linear_scan};
use crate::ssm::fft_len;

/// The parameters that the selective scan takes per cell, here one value for the whole grid.
#[derive(Debug, Clone)]
pub struct LtiParams {
    /// Step along time, `> 0`. `delta1: [channels]`
    pub delta1: Tensor<1>,
    /// Step along the variates, `> 0`. `delta2: [channels]`
    pub delta2: Tensor<1>,
    /// `b1: [state]`
    pub b1: Tensor<1>,
    /// `b2: [state]`
    pub b2: Tensor<1>,
    /// `c1: [state]`
    pub c1: Tensor<1>,
    /// `c2: [state]`
    pub c2: Tensor<1>,
}

/// The input-independent 2-D scan: `y = k ⊛ x + D·x` with the lattice kernel of `params`, `lti`
/// ([`lattice_kernel`], built in the orientation [`Scan2dPath::for_grid`] picks, with `chunk` the
/// chunk length of its line scans). Equal to the selective scan with the same values in every
/// cell, to float32 rounding; differentiable (burn-signal's FFTs have backward passes).
///
/// # Shapes
/// * `x`: `[batch, variates, time, channels]`; returns `y`, the same shape
///
/// # Panics
/// If the shapes disagree or `chunk == 0`.
pub fn lti_scan2d(params: &Scan2dParams, lti: &LtiParams, x: Tensor<4>, chunk: usize) -> Tensor<4> {
    let [_, variates, time, channels] = x.dims();
    let path = Scan2dPath::for_grid(variates, time);
    let k = lattice_kernel(params, lti, (variates, time), path, chunk);
    causal_conv2d(x.clone(), k) + x * params.d.clone().reshape([1, 1, 1, channels])
}

/// The output kernel `k[e, i, j]` for lags `i < variates`, `j < time`, built along rows
/// ([`Scan2dPath::Rows`]: `variates` line steps, each a scan along time) or along columns
/// ([`Scan2dPath::Columns`]: the same on the transposed lattice).
///
/// # Shapes
/// * returns `[channels, variates, time]`
///
/// # Panics
/// If the shapes disagree or `chunk == 0`.
pub fn lattice_kernel(
    params: &Scan2dParams,
    lti: &LtiParams,
    (variates, time): (usize, usize),
    path: Scan2dPath,
    chunk: usize,
) -> Tensor<3> {
    let lattice = Lattice::of(params, lti);
    match path {
        Scan2dPath::Rows => lattice.kernel_by_rows(variates, time, chunk),
        Scan2dPath::Columns => lattice
            .transposed()
            .kernel_by_rows(time, variates, chunk)
            .swap_dims(1, 2),
    }
}

/// The lattice coefficients, one per (channel, state).
#[derive(Debug, Clone)]
struct Lattice {
    /// `log ā1 = Δ1·A1`. `[channels, state]`
    log_a1: Tensor<2>,
    /// `ā2 = Δ1·A2`. `[channels, state]`
    a2: Tensor<2>,
    /// `ā3 = Δ2·A3`. `[channels, state]`
    a3: Tensor<2>,
    /// `log ā4 = Δ2·A4`. `[channels, state]`
    log_a4: Tensor<2>,
    /// `b̄1 = Δ1·B1`. `[channels, state]`
    b1: Tensor<2>,
    /// `b̄2 = Δ2·B2`. `[channels, state]`
    b2: Tensor<2>,
    /// `C1`. `[1, state]`
    c1: Tensor<2>,
    /// `C2`. `[1, state]`
    c2: Tensor<2>,
}

impl Lattice {
    fn of(params: &Scan2dParams, lti: &LtiParams) -> Self {
        let [channels, state] = params.a1.dims();
        for (name, a) in [
            ("A1", &params.a1),
            ("A2", &params.a2),
            ("A3", &params.a3),
            ("A4", &params.a4),
        ] {
            assert_eq!(a.dims(), [channels, state], "LTI 2-D scan: {name} must match A1");
        }
        assert_eq!(params.d.dims(), [channels], "LTI 2-D scan: D must be [channels]");
        for (name, t) in [("Δ1", &lti.delta1), ("Δ2", &lti.delta2)] {
            assert_eq!(t.dims(), [channels], "LTI 2-D scan: {name} must be [channels]");
        }
        for (name, t) in [("B1", &lti.b1), ("B2", &lti.b2), ("C1", &lti.c1), ("C2", &lti.c2)] {
            assert_eq!(t.dims(), [state], "LTI 2-D scan: {name} must be [state]");
        }
        let per_channel = |t: &Tensor<1>| t.clone().reshape([channels, 1]);
        let per_state = |t: &Tensor<1>| t.clone().reshape([1, state]);
        let (dt1, dt2) = (per_channel(&lti.delta1), per_channel(&lti.delta2));
        Self {
            log_a1: dt1.clone() * params.a1.clone(),
            a2: dt1.clone() * params.a2.clone(),
            a3: dt2.clone() * params.a3.clone(),
            log_a4: dt2.clone() * params.a4.clone(),
            b1: dt1 * per_state(&lti.b1),
            b2: dt2 * per_state(&lti.b2),
            c1: per_state(&lti.c1),
            c2: per_state(&lti.c2),
        }
    }

    /// The lattice with the axes exchanged: the variates become time and `h1` becomes `h2`.
    fn transposed(self) -> Self {
        Self {
            log_a1: self.log_a4,
            a2: self.a3,
            a3: self.a2,
            log_a4: self.log_a1,
            b1: self.b2,
            b2: self.b1,
            c1: self.c2,
            c2: self.c1,
        }
    }

    /// `k[e, i, j]` for `i < rows`, `j < cols`, one lattice row `i` at a time:
    /// `K2[i, ·] = ā3·K1[i−1, ·] + ā4·K2[i−1, ·]` element-wise (`K2[0, j] = b̄2` at `j = 0`, else 0),
    /// then `K1[i, j] = ā1·K1[i, j−1] + ā2·K2[i, j−1] (+ b̄1 at (0, 0))` by [`linear_scan`].
    ///
    /// # Shapes
    /// * returns `[channels, rows, cols]`
    fn kernel_by_rows(&self, rows: usize, cols: usize, chunk: usize) -> Tensor<3> {
        let [channels, state] = self.log_a1.dims();
        let device = self.log_a1.device();
        // Every coefficient broadcast along one lattice row, [1, cols, channels, state].
        let along = |t: &Tensor<2>| t.clone().reshape([1, 1, channels, state]).repeat_dim(1, cols);
        let (log_a1, a2, a3, a4) = (
            along(&self.log_a1),
            along(&self.a2),
            along(&self.a3),
            along(&self.log_a4).exp(),
        );
        let at_origin: Vec<f32> = (0..cols).map(|j| if j == 0 { 1.0 } else { 0.0 }).collect();
        let at_origin = Tensor::<4>::from_data(TensorData::new(at_origin, [1, cols, 1, 1]), &device);
        let (c1, c2) = (
            self.c1.clone().reshape([1, 1, 1, state]),
            self.c2.clone().reshape([1, 1, 1, state]),
        );
        let mut above: Option<(Tensor<4>, Tensor<4>)> = None;
        let mut k_rows = Vec::with_capacity(rows);
        for _ in 0..rows {
            let (k2, source) = match above {
                None => {
                    let k2 = at_origin.clone() * self.b2.clone().reshape([1, 1, channels, state]);
                    let b1 = at_origin.clone() * self.b1.clone().reshape([1, 1, channels, state]);
                    (k2.clone(), a2.clone() * previous_along(k2) + b1)
                }
                Some((k1_above, k2_above)) => {
                    let k2 = a3.clone() * k1_above + a4.clone() * k2_above;
                    (k2.clone(), a2.clone() * previous_along(k2))
                }
            };
            let k1 = linear_scan(log_a1.clone(), source, chunk);
            k_rows.push(
                (k1.clone() * c1.clone() + k2.clone() * c2.clone())
                    .sum_dim(3)
                    .reshape([1, cols, channels]),
            );
            above = Some((k1, k2));
        }
        Tensor::cat(k_rows, 0).permute([2, 0, 1])
    }
}

/// 2-D causal convolution per channel,
/// `y[b, v, t, e] = Σ_{i ≤ v, j ≤ t} k[e, i, j]·x[b, v−i, t−j, e]`, by FFT.
///
/// Both signals are zero-padded to `next_pow2(2V) × next_pow2(2T)`, which makes the circular
/// convolution equal the linear one on the first `V × T` outputs. Real FFT along time, complex FFT
/// along the variates; the inverse along the variates is `conj(FFT(conj(·)))/n` (burn-signal has
/// no inverse complex FFT).
///
/// # Shapes
/// * `x`: `[batch, variates, time, channels]`, `k`: `[channels, variates, time]`; returns the shape
///   of `x`
///
/// # Panics
/// If `k` is not `[channels, variates, time]`.
pub fn causal_conv2d(x: Tensor<4>, k: Tensor<3>) -> Tensor<4> {
    let [_, variates, time, channels] = x.dims();
    assert_eq!(
        k.dims(),
        [channels, variates, time],
        "2-D causal convolution: kernel must be [channels, variates, time] for x {:?}",
        x.dims()
    );
    let (n_v, n_t) = (fft_len(variates), fft_len(time));
    // [·, channels, variates, time] → spectrum [·, channels, n_v, n_t/2 + 1]
    let spectrum = |s: Tensor<4>| {
        let (re, im) = rfft(s, 3, Some(n_t));
        cfft(re, im, 2, Some(n_v))
    };
    let (x_re, x_im) = spectrum(x.permute([0, 3, 1, 2]));
    let (k_re, k_im) = spectrum(k.unsqueeze_dim::<4>(0));
    let re = x_re.clone() * k_re.clone() - x_im.clone() * k_im.clone();
    let im = x_re * k_im + x_im * k_re;
    let (re, im) = cfft(re, im.neg(), 2, None);
    let scale = 1.0 / n_v as f64;
    let (re, im) = (
        re.narrow(2, 0, variates) * scale,
        im.narrow(2, 0, variates) * (-scale),
    );
    irfft(re, im, 3, Some(n_t))
        .narrow(3, 0, time)
        .permute([0, 2, 3, 1])
}

#[cfg(test)]
mod tests {
    use super::super::reference::{HostScan2d, sequential_scan2d};
    use super::super::tests::{Sizes, random_problem, to_tensors};
    use super::super::{Scan2dInput, rows_scan};
    use super::*;
    use crate::testing::{Rng, assert_close, host, tensor};

    /// An input-independent problem on the host: a random selective problem whose `Δ1`, `Δ2`
    /// (`[channels]`) and `B1`, `B2`, `C1`, `C2` (`[state]`) are the same in every cell.
    struct HostLti {
        /// The same problem written out cell by cell, for the `f64` reference.
        grid: HostScan2d,
        delta1: Vec<f64>,
        delta2: Vec<f64>,
        b1: Vec<f64>,
        b2: Vec<f64>,
        c1: Vec<f64>,
        c2: Vec<f64>,
    }

    fn random_lti(rng: &mut Rng, sizes: Sizes) -> HostLti {
        let (bt, v, t, e, n) = sizes;
        let mut grid = random_problem(rng, sizes);
        let delta1: Vec<f64> = grid.delta1[..e].to_vec();
        let delta2: Vec<f64> = grid.delta2[..e].to_vec();
        let (b1, b2, c1, c2) = (
            grid.b1[..n].to_vec(),
            grid.b2[..n].to_vec(),
            grid.c1[..n].to_vec(),
            grid.c2[..n].to_vec(),
        );
        let every_cell = |w: &[f64]| w.repeat(bt * v * t);
        grid.delta1 = every_cell(&delta1);
        grid.delta2 = every_cell(&delta2);
        grid.b1 = every_cell(&b1);
        grid.b2 = every_cell(&b2);
        grid.c1 = every_cell(&c1);
        grid.c2 = every_cell(&c2);
        HostLti {
            grid,
            delta1,
            delta2,
            b1,
            b2,
            c1,
            c2,
        }
    }

    fn lti_tensors(p: &HostLti, device: &Device) -> LtiParams {
        let (e, n) = (p.grid.channels, p.grid.state);
        LtiParams {
            delta1: tensor(&p.delta1, [e], device),
            delta2: tensor(&p.delta2, [e], device),
            b1: tensor(&p.b1, [n], device),
            b2: tensor(&p.b2, [n], device),
            c1: tensor(&p.c1, [n], device),
            c2: tensor(&p.c2, [n], device),
        }
    }

    /// `k[e, i, j]` by the lattice recursion `K[i,j] = M1·K[i,j−1] + M2·K[i−1,j]`, `K[0,0] = b̄`,
    /// written out per (channel, state) in `f64`. `[channels, variates, time]`.
    fn host_kernel(p: &HostLti, variates: usize, time: usize) -> Vec<f64> {
        let (g, es, ns) = (&p.grid, p.grid.channels, p.grid.state);
        let mut k = vec![0.0; es * variates * time];
        for e in 0..es {
            for n in 0..ns {
                let pn = e * ns + n;
                let (dt1, dt2) = (p.delta1[e], p.delta2[e]);
                let (a1, a2) = ((dt1 * g.a1[pn]).exp(), dt1 * g.a2[pn]);
                let (a3, a4) = (dt2 * g.a3[pn], (dt2 * g.a4[pn]).exp());
                // K1, K2 over the lattice, [variates, time].
                let (mut k1, mut k2) = (vec![0.0; variates * time], vec![0.0; variates * time]);
                for i in 0..variates {
                    for j in 0..time {
                        let at = i * time + j;
                        if (i, j) == (0, 0) {
                            k1[at] = dt1 * p.b1[n];
                            k2[at] = dt2 * p.b2[n];
                            continue;
                        }
                        // M1 acts on the lattice point one lag back in time, M2 on the one a
                        // variate back.
                        if j > 0 {
                            k1[at] = a1 * k1[at - 1] + a2 * k2[at - 1];
                        }
                        if i > 0 {
                            k2[at] = a3 * k1[at - time] + a4 * k2[at - time];
                        }
                    }
                }
                for at in 0..variates * time {
                    k[e * variates * time + at] += p.c1[n] * k1[at] + p.c2[n] * k2[at];
                }
            }
        }
        k
    }

    /// `y = k ⊛ x + D·x` by the defining double sum. `[batch, variates, time, channels]`.
    fn host_conv(p: &HostLti, k: &[f64]) -> Vec<f64> {
        let g = &p.grid;
        let (vs, ts, es) = (g.variates, g.time, g.channels);
        let mut y = vec![0.0; g.x.len()];
        for bi in 0..g.batch {
            for v in 0..vs {
                for t in 0..ts {
                    for e in 0..es {
                        let mut out = g.d[e] * g.x[((bi * vs + v) * ts + t) * es + e];
                        for i in 0..=v {
                            for j in 0..=t {
                                out +=
                                    k[(e * vs + i) * ts + j] * g.x[((bi * vs + v - i) * ts + t - j) * es + e];
                            }
                        }
                        y[((bi * vs + v) * ts + t) * es + e] = out;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn the_lattice_kernel_matches_the_f64_recursion_in_both_orientations() {
        let device = Device::flex();
        let mut rng = Rng::new(81);
        for (v, t) in [(1, 1), (1, 6), (5, 1), (4, 7), (9, 3)] {
            let p = random_lti(&mut rng, (1, v, t, 3, 2));
            let want = host_kernel(&p, v, t);
            let (params, _) = to_tensors(&p.grid, &device);
            let lti = lti_tensors(&p, &device);
            for path in [Scan2dPath::Rows, Scan2dPath::Columns] {
                for chunk in [1, 3] {
                    let k = lattice_kernel(&params, &lti, (v, t), path, chunk);
                    assert_eq!(k.dims(), [3, v, t]);
                    assert_close(
                        &host(k),
                        &want,
                        1e-5,
                        1e-7,
                        &format!("{path:?} V={v} T={t} Q={chunk}"),
                    );
                }
            }
        }
    }

    #[test]
    fn lti_convolution_equals_the_selective_scan_and_the_reference() {
        let device = Device::flex();
        let mut rng = Rng::new(82);
        for sizes in [
            (2, 3, 8, 2, 3),
            (1, 9, 4, 2, 2),
            (2, 1, 5, 2, 2),
            (1, 6, 1, 3, 2),
            (1, 5, 7, 2, 3),
        ] {
            let (bt, v, t, e, n) = sizes;
            let p = random_lti(&mut rng, sizes);
            let what = format!("B={bt} V={v} T={t} E={e} N={n}");
            let reference = sequential_scan2d(&p.grid).y;
            let direct = host_conv(&p, &host_kernel(&p, v, t));
            assert_close(
                &direct,
                &reference,
                1e-10,
                1e-12,
                &format!("{what}: f64 conv vs f64 scan"),
            );
            let (params, input) = to_tensors(&p.grid, &device);
            let got = host(lti_scan2d(&params, &lti_tensors(&p, &device), input.x.clone(), 3));
            assert_close(&got, &reference, 1e-5, 1e-6, &format!("{what}: LTI vs reference"));
            let selective = host(rows_scan(&params, input, 3).y);
            assert_close(&got, &selective, 1e-5, 1e-6, &format!("{what}: LTI vs rows scan"));
        }
    }

    #[test]
    fn an_impulse_in_the_last_cell_does_not_wrap_around() {
        // V and T not powers of two; without padding to 2V × 2T the impulse's response would wrap
        // into the first rows and steps.
        let device = Device::flex();
        let mut rng = Rng::new(83);
        let (v, t, e) = (5, 7, 2);
        let mut p = random_lti(&mut rng, (1, v, t, e, 3));
        p.grid.x = (0..v * t * e)
            .map(|i| if i / e == v * t - 1 { 1.0 } else { 0.0 })
            .collect();
        let (params, input) = to_tensors(&p.grid, &device);
        let y = host(lti_scan2d(&params, &lti_tensors(&p, &device), input.x, 2));
        let k = host_kernel(&p, v, t);
        for (i, got) in y.iter().enumerate() {
            let (cell, ch) = (i / e, i % e);
            let want = if cell == v * t - 1 {
                k[ch * v * t] + p.grid.d[ch]
            } else {
                0.0
            };
            assert!(
                (got - want).abs() < 1e-5,
                "y[cell {cell}, channel {ch}] = {got}, want {want}"
            );
        }
    }

    #[test]
    fn lti_gradients_equal_the_selective_scan_gradients() {
        // The same leaf tensors feed the convolution and, broadcast to every cell, the rows scan;
        // autodiff must give the same gradients through the FFTs as through the scan.
        let ad = Device::flex().autodiff();
        let mut rng = Rng::new(84);
        for sizes in [(2, 3, 5, 2, 3), (1, 6, 3, 2, 2)] {
            let (bt, v, t, e, n) = sizes;
            let p = random_lti(&mut rng, sizes);
            let w = rng.normals(bt * v * t * e);
            let grads = |by_conv: bool| {
                let (params, input) = to_tensors(&p.grid, &ad);
                let params = Scan2dParams {
                    a1: params.a1.require_grad(),
                    a2: params.a2.require_grad(),
                    a3: params.a3.require_grad(),
                    a4: params.a4.require_grad(),
                    d: params.d.require_grad(),
                };
                let x = input.x.require_grad();
                let lti = lti_tensors(&p, &ad);
                let lti = LtiParams {
                    delta1: lti.delta1.require_grad(),
                    delta2: lti.delta2.require_grad(),
                    b1: lti.b1.require_grad(),
                    b2: lti.b2.require_grad(),
                    c1: lti.c1.require_grad(),
                    c2: lti.c2.require_grad(),
                };
                let y = if by_conv {
                    lti_scan2d(&params, &lti, x.clone(), 2)
                } else {
                    let every = |per: &Tensor<1>| {
                        let [width] = per.dims();
                        per.clone().reshape([1, 1, 1, width]) * Tensor::ones([bt, v, t, width], &ad)
                    };
                    let input = Scan2dInput {
                        x: x.clone(),
                        delta1: every(&lti.delta1),
                        delta2: every(&lti.delta2),
                        b1: every(&lti.b1),
                        b2: every(&lti.b2),
                        c1: every(&lti.c1),
                        c2: every(&lti.c2),
                    };
                    rows_scan(&params, input, 2).y
                };
                let g = (y * tensor(&w, [bt, v, t, e], &ad)).sum().backward();
                let of1 = |t: &Tensor<1>| host(t.grad(&g).expect("gradient"));
                let of2 = |t: &Tensor<2>| host(t.grad(&g).expect("gradient"));
                vec![
                    host(x.grad(&g).expect("dx")),
                    of2(&params.a1),
                    of2(&params.a2),
                    of2(&params.a3),
                    of2(&params.a4),
                    of1(&params.d),
                    of1(&lti.delta1),
                    of1(&lti.delta2),
                    of1(&lti.b1),
                    of1(&lti.b2),
                    of1(&lti.c1),
                    of1(&lti.c2),
                ]
            };
            let (conv, scan) = (grads(true), grads(false));
            let names = [
                "x", "A1", "A2", "A3", "A4", "D", "Δ1", "Δ2", "B1", "B2", "C1", "C2",
            ];
            for ((c, s), name) in conv.iter().zip(&scan).zip(names) {
                let what = format!("B={bt} V={v} T={t} E={e} N={n}: d/d{name}");
                assert!(s.iter().any(|g| g.abs() > 1e-3), "{what}: gradient is zero");
                assert_close(c, s, 1e-4, 1e-6, &format!("{what}, convolution vs scan"));
            }
        }
    }
}
