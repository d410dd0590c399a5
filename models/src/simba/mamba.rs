//! The Mamba block (Gu and Dao, 2023) as SiMBA uses it for mixing along time (`docs/simba.md` §2).
//!
//! ```text
//! x (N, T, C) ─in_proj (C → 2E, no bias)─> u, z (N, T, E) each
//!   u ─causal depth-wise conv (kernel k, bias)─> SiLU ─> u
//!   u ─x_proj (E → R + 2d, no bias)─> Δ_low (R), B (d), C (d)
//!   Δ = softplus(dt_proj(Δ_low))            (R → E, with bias)
//!   y = selective scan(u, Δ, A = −exp(A_log), B, C, D)     (`crate::scan`)
//!   y ← y ⊙ SiLU(z) ─out_proj (E → C, no bias)─> (N, T, C)
//! ```
//!
//! Everything but the convolution and the scan is point-wise in time, so the block is causal and
//! has an exact recurrent form ([`Mamba::step`]): a ring buffer of the last `k` convolution inputs
//! and the scan state, `O(E·(k + d))` work per point.
//!
//! Shape letters: `n` series, `t` time, `c` model channels, `e` inner channels (`E = expand·C`),
//! `d` state size, `k` convolution taps, `r` rank of the step-size projection.
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{silu, softplus};

use crate::scan::{BDiscretisation, ScanInput, ScanParams, StepInput, scan_step, selective_scan};

/// Configuration of a [`Mamba`] block. Defaults are Mamba's (`mamba_simple.py`) except the
/// state size, which SiMBA's forecaster sets.
#[derive(Config, Debug)]
pub struct MambaConfig {
    /// Model channels `C` (input and output width).
    pub d_model: usize,
    /// State size `d` per inner channel. Default 16 (Mamba; SiMBA's vision model uses 64).
    #[config(default = 16)]
    pub d_state: usize,
    /// Taps `k` of the causal depth-wise convolution. Default 4.
    #[config(default = 4)]
    pub d_conv: usize,
    /// Inner width factor: `E = expand · C`. Default 2.
    #[config(default = 2)]
    pub expand: usize,
    /// Rank `R` of the step-size projection; 0 means `⌈C / 16⌉` (Mamba's "auto"). Default 0.
    #[config(default = 0)]
    pub dt_rank: usize,
    /// Smallest initial step size. Default 1e-3.
    #[config(default = 1e-3)]
    pub dt_min: f64,
    /// Largest initial step size. Default 0.1.
    #[config(default = 0.1)]
    pub dt_max: f64,
    /// Floor of the initial step sizes. Default 1e-4.
    #[config(default = 1e-4)]
    pub dt_init_floor: f64,
    /// Chunk length of the parallel scan (`crate::scan::chunked_scan`). Default 4.
    #[config(default = 4)]
    pub chunk: usize,
}

impl MambaConfig {
    /// Inner channels `E`.
    pub fn inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// Rank `R` of the step-size projection after resolving "auto".
    pub fn rank(&self) -> usize {
        if self.dt_rank == 0 {
            self.d_model.div_ceil(16)
        } else {
            self.dt_rank
        }
    }

    /// Builds the block with Mamba's initialisation: `A_log = log(1..d)` in every channel (so
    /// `A[e, n] = −(n + 1)`), `D = 1`, and a `dt_proj` bias that is the inverse softplus of step
    /// sizes drawn log-uniformly in `[dt_min, dt_max]` (floored at `dt_init_floor`). The linear
    /// layers keep burn's default, `U(±1/√fan_in)`, which for `dt_proj` is Mamba's `U(±R^{-1/2})`.
    ///
    /// # Panics
    /// If a size is zero or the step-size range is empty (the forecaster's `validate` rules these
    /// out first).
    pub fn init(&self, device: &Device) -> Mamba {
        let (c, e, d, k, r) = (self.d_model, self.inner(), self.d_state, self.d_conv, self.rank());
        assert!(
            c > 0 && d > 0 && k > 0 && self.expand > 0 && self.chunk > 0,
            "Mamba: every size must be at least 1"
        );
        assert!(
            self.dt_min > 0.0 && self.dt_min <= self.dt_max && self.dt_init_floor > 0.0,
            "Mamba: need 0 < dt_min ≤ dt_max and dt_init_floor > 0"
        );
        let conv_bound = 1.0 / (k as f64).sqrt();
        let a_log: Vec<f32> = (0..e).flat_map(|_| (1..=d).map(|n| (n as f32).ln())).collect();
        Mamba {
            in_proj: LinearConfig::new(c, 2 * e).with_bias(false).init(device),
            conv_weight: Param::from_tensor(Tensor::random(
                [e, k],
                Distribution::Uniform(-conv_bound, conv_bound),
                device,
            )),
            conv_bias: Param::from_tensor(Tensor::random(
                [e],
                Distribution::Uniform(-conv_bound, conv_bound),
                device,
            )),
            x_proj: LinearConfig::new(e, r + 2 * d).with_bias(false).init(device),
            dt_proj: {
                let mut layer = LinearConfig::new(r, e).init(device);
                layer.bias = Some(Param::from_tensor(step_size_bias(
                    e,
                    [self.dt_min, self.dt_max, self.dt_init_floor],
                    device,
                )));
                layer
            },
            a_log: Param::from_tensor(Tensor::from_data(TensorData::new(a_log, [e, d]), device)),
            d_skip: Param::from_tensor(Tensor::ones([e], device)),
            out_proj: LinearConfig::new(e, c).with_bias(false).init(device),
            d_state: d,
            d_conv: k,
            rank: r,
            chunk: self.chunk,
        }
    }
}

/// `b_Δ = Δ + log(−expm1(−Δ))` (inverse softplus) of `n` step sizes
/// `Δ = max(exp(U[log dt_min, log dt_max]), floor)`, so that `softplus(b_Δ) = Δ` at
/// initialisation (Mamba's `dt_proj` bias; Chimera uses it for both of its steps).
pub(crate) fn step_size_bias(n: usize, [dt_min, dt_max, floor]: [f64; 3], device: &Device) -> Tensor<1> {
    let draws = Tensor::<1>::random([n], Distribution::Uniform(0.0, 1.0), device)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 data");
    let (lo, hi) = (dt_min.ln(), dt_max.ln());
    let bias: Vec<f32> = draws
        .into_iter()
        .map(|u| {
            let dt = (lo + f64::from(u) * (hi - lo)).exp().max(floor);
            (dt + (-(-dt).exp_m1()).ln()) as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(bias, [n]), device)
}

/// The Mamba block (build it with [`MambaConfig::init`]).
#[derive(Module, Debug)]
pub struct Mamba {
    /// `C → 2E`, no bias: the scan input `u` (first `E`) and the gate `z` (last `E`).
    pub in_proj: Linear,
    /// Depth-wise convolution taps, `[E, k]`; tap `k − 1` multiplies the current step.
    pub conv_weight: Param<Tensor<2>>,
    /// Convolution bias, `[E]`.
    pub conv_bias: Param<Tensor<1>>,
    /// `E → R + 2d`, no bias: `Δ_low`, `B`, `C`.
    pub x_proj: Linear,
    /// `R → E` with bias (the bias sets the initial step sizes).
    pub dt_proj: Linear,
    /// `A = −exp(A_log)`, `[E, d]`.
    pub a_log: Param<Tensor<2>>,
    /// Skip `D`, `[E]`.
    pub d_skip: Param<Tensor<1>>,
    /// `E → C`, no bias.
    pub out_proj: Linear,
    /// State size `d`.
    pub d_state: usize,
    /// Convolution taps `k`.
    pub d_conv: usize,
    /// Rank `R` of the step-size projection.
    pub rank: usize,
    /// Chunk length of the parallel scan.
    pub chunk: usize,
}

/// Recurrent state of a [`Mamba`] block for `N` series.
#[derive(Debug, Clone)]
pub struct MambaState {
    /// The last `k` convolution inputs, oldest first, `[N, E, k]` (zeros before the first step).
    pub conv_nek: Tensor<3>,
    /// Scan state, `[N, E, d]`.
    pub scan_ned: Tensor<3>,
}

/// Per-step quantities the scan reads, from the convolved input.
struct Selective<const D: usize> {
    delta: Tensor<D>,
    b: Tensor<D>,
    c: Tensor<D>,
}

impl Mamba {
    /// Inner channels `E`.
    pub fn inner(&self) -> usize {
        self.d_skip.dims()[0]
    }

    /// The scan's time-invariant parameters: `A = −exp(A_log)`, `D`, Euler rule for `B`.
    pub fn scan_params(&self) -> ScanParams {
        ScanParams {
            a: self.a_log.val().exp().neg(),
            d: self.d_skip.val(),
            b_rule: BDiscretisation::Euler,
        }
    }

    /// A state that has seen nothing, for `n` series.
    pub fn zero_state(&self, n: usize, device: &Device) -> MambaState {
        let e = self.inner();
        MambaState {
            conv_nek: Tensor::zeros([n, e, self.d_conv], device),
            scan_ned: Tensor::zeros([n, e, self.d_state], device),
        }
    }

    /// `Δ = softplus(dt_proj(Δ_low))`, `B`, `C` from the convolved input (any leading shape).
    fn selective<const D: usize>(&self, u: Tensor<D>) -> Selective<D> {
        let (r, d) = (self.rank, self.d_state);
        let proj = self.x_proj.forward(u);
        let dt_low = proj.clone().narrow(D - 1, 0, r);
        Selective {
            delta: softplus(self.dt_proj.forward(dt_low), 1.0),
            b: proj.clone().narrow(D - 1, r, d),
            c: proj.narrow(D - 1, r + d, d),
        }
    }

    /// Causal depth-wise convolution with bias: `out_t = Σ_j w[:, j] · x_{t−(k−1)+j} + bias`
    /// (zeros before `t = 0`).
    ///
    /// # Shapes
    /// * `x_nte`: `[N, T, E]`, returns `[N, T, E]`
    fn causal_conv(&self, x_nte: Tensor<3>) -> Tensor<3> {
        let [n, t, e] = x_nte.dims();
        let k = self.d_conv;
        let padded = if k == 1 {
            x_nte
        } else {
            Tensor::cat(vec![Tensor::zeros([n, k - 1, e], &x_nte.device()), x_nte], 1)
        };
        let w_ek = self.conv_weight.val();
        let bias = self.conv_bias.val().reshape([1, 1, e]);
        (0..k).fold(bias, |acc, j| {
            acc + padded.clone().narrow(1, j, t) * w_ek.clone().narrow(1, j, 1).reshape([1, 1, e])
        })
    }

    /// Whole sequences from a zero state.
    ///
    /// # Shapes
    /// * `x_ntc`: `[N, T, C]`, returns `[N, T, C]`
    pub fn forward(&self, x_ntc: Tensor<3>) -> Tensor<3> {
        self.forward_with_state(x_ntc).0
    }

    /// [`Self::forward`], also returning the state after the last step, so that [`Self::step`]
    /// can continue exactly where the sequence stopped.
    ///
    /// # Shapes
    /// * `x_ntc`: `[N, T, C]`, returns `([N, T, C], state)`
    pub fn forward_with_state(&self, x_ntc: Tensor<3>) -> (Tensor<3>, MambaState) {
        let [n, t, _] = x_ntc.dims();
        let (e, k) = (self.inner(), self.d_conv);
        let xz = self.in_proj.forward(x_ntc);
        let x_nte = xz.clone().narrow(2, 0, e);
        let z_nte = xz.narrow(2, e, e);
        // The ring buffer after the last step: the last k convolution inputs, zeros before t = 0.
        let conv_nek = if t >= k {
            x_nte.clone().narrow(1, t - k, k)
        } else {
            Tensor::cat(
                vec![Tensor::zeros([n, k - t, e], &x_nte.device()), x_nte.clone()],
                1,
            )
        }
        .swap_dims(1, 2);
        let u_nte = silu(self.causal_conv(x_nte));
        let s = self.selective(u_nte.clone());
        let out = selective_scan(
            &self.scan_params(),
            ScanInput {
                u: u_nte,
                delta: s.delta,
                b: s.b,
                c: s.c,
            },
            None,
            self.chunk,
        );
        let y_ntc = self.out_proj.forward(out.y * silu(z_nte));
        (
            y_ntc,
            MambaState {
                conv_nek,
                scan_ned: out.final_state,
            },
        )
    }

    /// One time step: push the input into the convolution buffer, advance the scan by one step
    /// (`crate::scan::scan_step`). From a zero state, step `t`'s output equals
    /// [`Self::forward`]'s output at `t`.
    ///
    /// # Shapes
    /// * `x_nc`: `[N, C]`; returns `([N, C], state)`
    pub fn step(&self, x_nc: Tensor<2>, state: MambaState) -> (Tensor<2>, MambaState) {
        let e = self.inner();
        let k = self.d_conv;
        let [n, _] = x_nc.dims();
        let xz = self.in_proj.forward(x_nc);
        let x_ne = xz.clone().narrow(1, 0, e);
        let z_ne = xz.narrow(1, e, e);
        let x_ne1 = x_ne.reshape([n, e, 1]);
        let conv_nek = if k == 1 {
            x_ne1
        } else {
            Tensor::cat(vec![state.conv_nek.narrow(2, 1, k - 1), x_ne1], 2)
        };
        let conv_ne = (conv_nek.clone() * self.conv_weight.val().unsqueeze::<3>())
            .sum_dim(2)
            .reshape([n, e])
            + self.conv_bias.val().unsqueeze::<2>();
        let u_ne = silu(conv_ne);
        let s = self.selective(u_ne.clone());
        let out = scan_step(
            &self.scan_params(),
            state.scan_ned,
            StepInput {
                u: u_ne,
                delta: s.delta,
                b: s.b,
                c: s.c,
            },
        );
        let y_nc = self.out_proj.forward(out.y * silu(z_ne));
        (
            y_nc,
            MambaState {
                conv_nek,
                scan_ned: out.state,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::testing::{assert_close, host};

    fn block(c: usize, d: usize, chunk: usize) -> Mamba {
        MambaConfig::new(c)
            .with_d_state(d)
            .with_chunk(chunk)
            .init(&Device::flex())
    }

    fn input(n: usize, t: usize, c: usize) -> Tensor<3> {
        Tensor::random([n, t, c], Distribution::Normal(0.0, 1.0), &Device::flex())
    }

    /// The spec's initialisation: `A[e, n] = −(n + 1)`, `D = 1`, step sizes in `[dt_min, dt_max]`.
    #[test]
    fn initialisation_follows_mamba() {
        let cfg = MambaConfig::new(20).with_d_state(5);
        let m = cfg.init(&Device::flex());
        assert_eq!(m.inner(), 40);
        assert_eq!(m.rank, 2, "⌈20/16⌉");
        let a = host(m.scan_params().a);
        for (i, &v) in a.iter().enumerate() {
            assert!((v + (i % 5 + 1) as f64).abs() < 1e-5, "A[{i}] = {v}");
        }
        assert!(host(m.d_skip.val()).iter().all(|&v| v == 1.0));
        let bias = m.dt_proj.bias.as_ref().unwrap().val();
        let dt = host(softplus(bias, 1.0));
        assert!(
            dt.iter().all(|&v| (0.999e-3..=0.1001).contains(&v)),
            "softplus(b_Δ) in [dt_min, dt_max]: {dt:?}"
        );
        assert_eq!(m.in_proj.weight.dims(), [20, 80]);
        assert!(m.in_proj.bias.is_none() && m.x_proj.bias.is_none() && m.out_proj.bias.is_none());
        assert_eq!(m.x_proj.weight.dims(), [40, 2 + 10]);
        assert_eq!(m.dt_proj.weight.dims(), [2, 40]);
        assert_eq!(m.conv_weight.dims(), [40, 4]);
    }

    /// The block equals an explicit `f64` evaluation of its own definition (module docs).
    #[test]
    fn forward_matches_an_f64_evaluation_of_the_definition() {
        let (n, t, c, d) = (2, 7, 4, 3);
        let m = block(c, d, 2);
        let x = input(n, t, c);
        let got = host(m.forward(x.clone()));
        let e = m.inner();
        let w_in = host(m.in_proj.weight.val()); // [c, 2e]
        let w_conv = host(m.conv_weight.val()); // [e, k]
        let b_conv = host(m.conv_bias.val());
        let w_x = host(m.x_proj.weight.val()); // [e, r + 2d]
        let w_dt = host(m.dt_proj.weight.val()); // [r, e]
        let b_dt = host(m.dt_proj.bias.as_ref().unwrap().val());
        let a = host(m.scan_params().a);
        let w_out = host(m.out_proj.weight.val()); // [e, c]
        let (k, r) = (m.d_conv, m.rank);
        let xs = host(x);
        let silu = |v: f64| v / (1.0 + (-v).exp());
        let softplus = |v: f64| (1.0 + v.exp()).ln();
        let mut want = vec![0.0; n * t * c];
        for b in 0..n {
            let proj: Vec<Vec<f64>> = (0..t)
                .map(|s| {
                    (0..2 * e)
                        .map(|o| {
                            (0..c)
                                .map(|i| xs[(b * t + s) * c + i] * w_in[i * 2 * e + o])
                                .sum()
                        })
                        .collect()
                })
                .collect();
            let mut h = vec![0.0; e * d];
            for s in 0..t {
                let u: Vec<f64> = (0..e)
                    .map(|ch| {
                        let mut acc = b_conv[ch];
                        for j in 0..k {
                            let src = s as isize - (k - 1) as isize + j as isize;
                            if src >= 0 {
                                acc += w_conv[ch * k + j] * proj[src as usize][ch];
                            }
                        }
                        silu(acc)
                    })
                    .collect();
                let xp: Vec<f64> = (0..r + 2 * d)
                    .map(|o| (0..e).map(|ch| u[ch] * w_x[ch * (r + 2 * d) + o]).sum())
                    .collect();
                let mut y = vec![0.0; e];
                for ch in 0..e {
                    let dt = softplus(b_dt[ch] + (0..r).map(|q| xp[q] * w_dt[q * e + ch]).sum::<f64>());
                    for st in 0..d {
                        let hi = &mut h[ch * d + st];
                        *hi = (dt * a[ch * d + st]).exp() * *hi + dt * xp[r + st] * u[ch];
                        y[ch] += xp[r + d + st] * *hi;
                    }
                    y[ch] = (y[ch] + u[ch]) * silu(proj[s][e + ch]);
                }
                for o in 0..c {
                    want[(b * t + s) * c + o] = (0..e).map(|ch| y[ch] * w_out[ch * c + o]).sum();
                }
            }
        }
        assert_close(&got, &want, 1e-4, 1e-5, "Mamba forward vs f64 definition");
    }

    /// Step by step from a zero state equals the whole-sequence forward, outputs and final
    /// state; a forward's final state continues exactly with steps (T < k and T ≥ k).
    #[test]
    fn step_equals_forward_and_continues_it() {
        let (n, c, d) = (3, 6, 4);
        for (t, split, chunk) in [(9, 5, 4), (5, 2, 3), (12, 1, 4), (6, 3, 1)] {
            let m = block(c, d, chunk);
            let x = input(n, t, c);
            let (whole, end) = m.forward_with_state(x.clone());
            let mut state = m.zero_state(n, &Device::flex());
            let mut stepped = Vec::new();
            for s in 0..t {
                let (y, next) = m.step(x.clone().narrow(1, s, 1).reshape([n, c]), state);
                stepped.push(y);
                state = next;
            }
            let stepped = Tensor::stack::<3>(stepped, 1);
            assert_close(
                &host(stepped),
                &host(whole.clone()),
                1e-4,
                1e-5,
                "step loop vs forward",
            );
            assert_close(
                &host(state.scan_ned.clone()),
                &host(end.scan_ned),
                1e-4,
                1e-5,
                "final scan state",
            );
            assert_close(
                &host(state.conv_nek),
                &host(end.conv_nek),
                0.0,
                0.0,
                "conv buffer",
            );
            // Forward over a prefix, then steps over the rest.
            let (_, mut state) = m.forward_with_state(x.clone().narrow(1, 0, split));
            let mut rest = Vec::new();
            for s in split..t {
                let (y, next) = m.step(x.clone().narrow(1, s, 1).reshape([n, c]), state);
                rest.push(y);
                state = next;
            }
            assert_close(
                &host(Tensor::stack::<3>(rest, 1)),
                &host(whole.narrow(1, split, t - split)),
                1e-4,
                1e-5,
                "prefix forward then steps",
            );
        }
    }

    /// Perturbing the input at `t*` leaves every earlier output unchanged (bit for bit) and
    /// changes the output at `t*`.
    #[test]
    fn forward_is_causal() {
        let (n, t, c) = (2, 10, 4);
        let m = block(c, 4, 4);
        let x = input(n, t, c);
        let base = host(m.forward(x.clone()));
        let star = 6;
        let bump = Tensor::<3>::zeros([n, t, c], &Device::flex()).slice_assign(
            [0..n, star..star + 1, 0..c],
            Tensor::ones([n, 1, c], &Device::flex()),
        );
        let moved = host(m.forward(x + bump));
        let before = star * c;
        for b in 0..n {
            let off = b * t * c;
            assert_eq!(
                base[off..off + before],
                moved[off..off + before],
                "outputs before t*"
            );
            let at = (off + before)..(off + before + c);
            assert!(
                base[at.clone()].iter().zip(&moved[at]).any(|(p, q)| p != q),
                "output at t* changes"
            );
        }
    }
}
