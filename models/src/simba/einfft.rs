//! EinFFT channel mixing (SiMBA's channel mixer, `docs/simba.md` §3), one token at a time.
//!
//! The `C` channels of a token are cut into `n_b` blocks of `b_s = C / n_b`. With `F` the
//! orthonormal DFT over the **block axis** (length `n_b`, any size, not only powers of two):
//!
//! ```text
//! X̂ = F x                                            [n_b, b_s] complex
//! H[k] = ReLU(X̂[k] W₁[k] + b₁[k])                    per block frequency k; ReLU on Re and Im
//! Ŷ[k] = H[k] W₂[k] + b₂[k]
//! Ŷ ← softshrink_λ(Ŷ)                                 on Re and Im
//! y = Re(F⁻¹ Ŷ)                                       [C]
//! ```
//!
//! `W₁, W₂: [n_b, b_s, b_s]` and `b₁, b₂: [n_b, b_s]` are complex, stored as real and imaginary
//! parts, and every complex product is written out in real arithmetic.
//!
//! **Why only over the block axis.** SiMBA's vision model transforms over the token axis as well
//! (a 2-D FFT over tokens × blocks). Over time steps that would make every output depend on
//! every input of the window, future ones included, so the forecaster could no longer run one
//! point at a time and a window's outputs would change when a later point arrives. Transforming
//! each token's channels alone keeps the layer point-wise in time: the model stays causal, its
//! streaming form is exact, and time mixing is left to the Mamba block. The DFT is a `[n_b, n_b]`
//! matrix product (the block count is small), which handles every block count alike.
//!
//! Shape letters: `m` tokens (any leading axes flattened), `c` channels, `k` block frequencies
//! (`n_b` of them), `s` channels within a block (`b_s`).
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;

/// Configuration of an [`EinFft`] layer. Defaults are SiMBA's.
#[derive(Config, Debug)]
pub struct EinFftConfig {
    /// Channels `C`; must be a multiple of `n_blocks`.
    pub d_model: usize,
    /// Blocks `n_b`. Default 4.
    #[config(default = 4)]
    pub n_blocks: usize,
    /// Soft-shrink threshold `λ` (0 disables it). Default 0.01.
    #[config(default = 0.01)]
    pub shrink: f64,
    /// Standard deviation of the initial weights and biases (real and imaginary parts).
    /// Default 0.02.
    #[config(default = 0.02)]
    pub init_scale: f64,
}

impl EinFftConfig {
    /// Channels per block `b_s`.
    pub fn block_size(&self) -> usize {
        self.d_model / self.n_blocks
    }

    /// Builds the layer; every weight and bias part is `init_scale · N(0, 1)`.
    ///
    /// # Panics
    /// If `n_blocks` is zero or does not divide `d_model`, or `shrink` is negative.
    pub fn init(&self, device: &Device) -> EinFft {
        assert!(
            self.n_blocks > 0 && self.d_model > 0 && self.d_model.is_multiple_of(self.n_blocks),
            "EinFFT: d_model {} is not a positive multiple of n_blocks {}",
            self.d_model,
            self.n_blocks
        );
        assert!(self.shrink >= 0.0, "EinFFT: shrink must be ≥ 0");
        let (k, s) = (self.n_blocks, self.block_size());
        let normal = Distribution::Normal(0.0, self.init_scale);
        let w = || Param::from_tensor(Tensor::<3>::random([k, s, s], normal, device));
        let b = || Param::from_tensor(Tensor::<2>::random([k, s], normal, device));
        EinFft {
            w1_re: w(),
            w1_im: w(),
            b1_re: b(),
            b1_im: b(),
            w2_re: w(),
            w2_im: w(),
            b2_re: b(),
            b2_im: b(),
            shrink: self.shrink,
        }
    }
}

/// The EinFFT layer (build it with [`EinFftConfig::init`]).
#[derive(Module, Debug)]
pub struct EinFft {
    /// `Re W₁`, `[n_b, b_s, b_s]` (input index, then output index).
    pub w1_re: Param<Tensor<3>>,
    /// `Im W₁`.
    pub w1_im: Param<Tensor<3>>,
    /// `Re b₁`, `[n_b, b_s]`.
    pub b1_re: Param<Tensor<2>>,
    /// `Im b₁`.
    pub b1_im: Param<Tensor<2>>,
    /// `Re W₂`.
    pub w2_re: Param<Tensor<3>>,
    /// `Im W₂`.
    pub w2_im: Param<Tensor<3>>,
    /// `Re b₂`.
    pub b2_re: Param<Tensor<2>>,
    /// `Im b₂`.
    pub b2_im: Param<Tensor<2>>,
    /// Soft-shrink threshold `λ`.
    pub shrink: f64,
}

/// A complex tensor as its real and imaginary parts.
#[derive(Debug, Clone)]
struct Complex<const D: usize> {
    re: Tensor<D>,
    im: Tensor<D>,
}

/// The orthonormal DFT over `n` points as `(cos, sin)` matrices, `[n, n]` each:
/// `F = cos − i·sin`, `F⁻¹ = cos + i·sin` (both symmetric).
fn dft_matrices(n: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let scale = 1.0 / (n as f64).sqrt();
    let angle = |j: usize, k: usize| 2.0 * std::f64::consts::PI * ((j * k) % n) as f64 / n as f64;
    let build = |f: fn(f64) -> f64| {
        let v: Vec<f32> = (0..n * n)
            .map(|i| (f(angle(i / n, i % n)) * scale) as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, [n, n]), device)
    };
    (build(f64::cos), build(f64::sin))
}

/// `x W + b` per block frequency: `x: [k, m, s]`, `w: [k, s, s]`, `b: [k, s]`.
fn complex_affine(
    x: Complex<3>,
    w_re: Tensor<3>,
    w_im: Tensor<3>,
    b_re: Tensor<2>,
    b_im: Tensor<2>,
) -> Complex<3> {
    let re =
        x.re.clone().matmul(w_re.clone()) - x.im.clone().matmul(w_im.clone()) + b_re.unsqueeze_dim::<3>(1);
    let im = x.re.matmul(w_im) + x.im.matmul(w_re) + b_im.unsqueeze_dim::<3>(1);
    Complex { re, im }
}

/// `sign(x)·max(|x| − λ, 0)`.
fn soft_shrink<const D: usize>(x: Tensor<D>, lambda: f64) -> Tensor<D> {
    if lambda == 0.0 {
        return x;
    }
    relu(x.clone().sub_scalar(lambda)) - relu(x.neg().sub_scalar(lambda))
}

impl EinFft {
    /// Blocks `n_b`.
    pub fn n_blocks(&self) -> usize {
        self.b1_re.dims()[0]
    }

    /// Channels `C`.
    pub fn width(&self) -> usize {
        let [k, s] = self.b1_re.dims();
        k * s
    }

    /// Mixes the channels of every token independently (module docs).
    ///
    /// # Shapes
    /// * `x`: `[…, C]`, returns the same shape
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.mix(x, true)
    }

    /// The layer with (`nonlinear`) or without the ReLU and the soft-shrink; without them it is
    /// linear in the input plus a constant (the tests' special cases).
    pub(crate) fn mix<const D: usize>(&self, x: Tensor<D>, nonlinear: bool) -> Tensor<D> {
        let shape = x.dims();
        let c = shape[D - 1];
        assert_eq!(
            c,
            self.width(),
            "EinFFT: {c} channels into a {}-channel layer",
            self.width()
        );
        let [k, s] = self.b1_re.dims();
        let m = shape[..D - 1].iter().product::<usize>();
        let device = x.device();
        let (cos_kk, sin_kk) = dft_matrices(k, &device);
        // Block axis first, so the DFT is one [k, k] × [k, m·s] product.
        let x_km = x.reshape([m, k, s]).swap_dims(0, 1).reshape([k, m * s]);
        let spectrum = Complex {
            re: cos_kk.clone().matmul(x_km.clone()).reshape([k, m, s]),
            im: sin_kk.clone().matmul(x_km).neg().reshape([k, m, s]),
        };
        let hidden = complex_affine(
            spectrum,
            self.w1_re.val(),
            self.w1_im.val(),
            self.b1_re.val(),
            self.b1_im.val(),
        );
        let hidden = if nonlinear {
            Complex {
                re: relu(hidden.re),
                im: relu(hidden.im),
            }
        } else {
            hidden
        };
        let out = complex_affine(
            hidden,
            self.w2_re.val(),
            self.w2_im.val(),
            self.b2_re.val(),
            self.b2_im.val(),
        );
        let (out_re, out_im) = if nonlinear {
            (soft_shrink(out.re, self.shrink), soft_shrink(out.im, self.shrink))
        } else {
            (out.re, out.im)
        };
        // Re(F⁻¹ Ŷ) = cos·Re Ŷ − sin·Im Ŷ.
        let y_km = cos_kk.matmul(out_re.reshape([k, m * s])) - sin_kk.matmul(out_im.reshape([k, m * s]));
        y_km.reshape([k, m, s]).swap_dims(0, 1).reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Rng, assert_close, host, tensor};

    /// `(re, im)` pairs.
    type C64 = (f64, f64);

    fn mul(a: C64, b: C64) -> C64 {
        (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
    }

    /// The layer evaluated literally with complex `f64` numbers: DFT by its defining sum, the
    /// two complex block-diagonal layers, ReLU and soft-shrink on both parts, inverse DFT, real part.
    fn naive(layer: &EinFft, x: &[f64], tokens: usize, nonlinear: bool) -> Vec<f64> {
        let [k, s] = layer.b1_re.dims();
        let c = k * s;
        let (w1r, w1i, b1r, b1i) = (
            host(layer.w1_re.val()),
            host(layer.w1_im.val()),
            host(layer.b1_re.val()),
            host(layer.b1_im.val()),
        );
        let (w2r, w2i, b2r, b2i) = (
            host(layer.w2_re.val()),
            host(layer.w2_im.val()),
            host(layer.b2_re.val()),
            host(layer.b2_im.val()),
        );
        let norm = 1.0 / (k as f64).sqrt();
        let root = |sign: f64, j: usize, q: usize| {
            let a = sign * 2.0 * std::f64::consts::PI * (j * q) as f64 / k as f64;
            (a.cos(), a.sin())
        };
        let shrink = |v: f64| {
            if !nonlinear {
                v
            } else {
                v.signum() * (v.abs() - layer.shrink).max(0.0)
            }
        };
        let act = |v: f64| if nonlinear { v.max(0.0) } else { v };
        let mut out = vec![0.0; tokens * c];
        for m in 0..tokens {
            let xt = &x[m * c..(m + 1) * c];
            let mut spec = vec![(0.0, 0.0); c];
            for q in 0..k {
                for i in 0..s {
                    for j in 0..k {
                        let term = mul((xt[j * s + i], 0.0), root(-1.0, j, q));
                        spec[q * s + i].0 += norm * term.0;
                        spec[q * s + i].1 += norm * term.1;
                    }
                }
            }
            let layer_fn = |input: &[C64], wr: &[f64], wi: &[f64], br: &[f64], bi: &[f64], relu: bool| {
                let mut o = vec![(0.0, 0.0); c];
                for q in 0..k {
                    for jo in 0..s {
                        let mut acc = (br[q * s + jo], bi[q * s + jo]);
                        for ji in 0..s {
                            let w = (wr[(q * s + ji) * s + jo], wi[(q * s + ji) * s + jo]);
                            let p = mul(input[q * s + ji], w);
                            acc = (acc.0 + p.0, acc.1 + p.1);
                        }
                        o[q * s + jo] = if relu { (act(acc.0), act(acc.1)) } else { acc };
                    }
                }
                o
            };
            let h = layer_fn(&spec, &w1r, &w1i, &b1r, &b1i, true);
            let y = layer_fn(&h, &w2r, &w2i, &b2r, &b2i, false);
            let y: Vec<C64> = y.into_iter().map(|(r, i)| (shrink(r), shrink(i))).collect();
            for j in 0..k {
                for i in 0..s {
                    let mut acc = 0.0;
                    for q in 0..k {
                        acc += norm * mul(y[q * s + i], root(1.0, j, q)).0;
                    }
                    out[m * c + j * s + i] = acc;
                }
            }
        }
        out
    }

    fn layer(c: usize, blocks: usize, scale: f64, shrink: f64) -> EinFft {
        EinFftConfig::new(c)
            .with_n_blocks(blocks)
            .with_init_scale(scale)
            .with_shrink(shrink)
            .init(&Device::flex())
    }

    /// Against the naive complex reference, with and without the nonlinearities, for power-of-two
    /// and other block counts (1, 3, 4, 5, 6) and several leading shapes.
    #[test]
    fn matches_the_naive_complex_reference() {
        let device = Device::flex();
        let mut rng = Rng::new(11);
        for (blocks, bs) in [(1, 4), (3, 2), (4, 3), (5, 2), (6, 1)] {
            let c = blocks * bs;
            // Large weights so that ReLU and the soft-shrink cut a real share of the entries.
            let l = layer(c, blocks, 0.7, 0.3);
            let (n, t) = (2, 3);
            let x = rng.normals(n * t * c);
            for nonlinear in [true, false] {
                let got = host(l.mix(tensor(&x, [n, t, c], &device), nonlinear));
                let want = naive(&l, &x, n * t, nonlinear);
                assert_close(
                    &got,
                    &want,
                    1e-4,
                    1e-5,
                    &format!("EinFFT n_b={blocks} nonlinear={nonlinear}"),
                );
                let flat = host(l.mix(tensor(&x, [n * t, c], &device), nonlinear));
                assert_eq!(flat, got, "leading axes are only flattened");
            }
            // The soft-shrink and ReLU do something at these sizes.
            let lin = host(l.mix(tensor(&x, [n, t, c], &device), false));
            let full = host(l.forward(tensor(&x, [n, t, c], &device)));
            assert!(lin.iter().zip(&full).any(|(a, b)| (a - b).abs() > 1e-3));
        }
    }

    /// With `W = I` per block, zero biases and no nonlinearity the layer is the identity (the
    /// orthonormal DFT round trip), for any block count.
    #[test]
    fn identity_weights_round_trip() {
        let device = Device::flex();
        let mut rng = Rng::new(3);
        for (blocks, bs) in [(4, 2), (3, 3), (7, 1)] {
            let c = blocks * bs;
            let mut l = layer(c, blocks, 0.0, 0.0);
            let eye = Tensor::<2>::eye(bs, &device)
                .unsqueeze::<3>()
                .repeat_dim(0, blocks);
            l.w1_re = Param::from_tensor(eye.clone());
            l.w2_re = Param::from_tensor(eye);
            let x = rng.normals(5 * c);
            let got = host(l.mix(tensor(&x, [5, c], &device), false));
            assert_close(&got, &x, 1e-5, 1e-6, "identity round trip");
            // With the nonlinearities (λ = 0) the ReLU keeps only the positive parts of the
            // spectrum, which is no longer the identity.
            let relu_out = host(l.forward(tensor(&x, [5, c], &device)));
            assert!(relu_out.iter().zip(&x).any(|(a, b)| (a - b).abs() > 1e-3));
        }
    }

    /// Without the nonlinearities the layer is affine: `f(αx + βy) − f(0) = α(f(x) − f(0)) +
    /// β(f(y) − f(0))`; and it is real-valued and shape-preserving by construction.
    #[test]
    fn linear_variant_is_affine() {
        let device = Device::flex();
        let mut rng = Rng::new(5);
        let (c, blocks) = (12, 3);
        let l = layer(c, blocks, 0.5, 0.0);
        let (x, y) = (rng.normals(2 * c), rng.normals(2 * c));
        let f = |v: &[f64]| host(l.mix(tensor(v, [2, c], &device), false));
        let zero = f(&vec![0.0; 2 * c]);
        let combo: Vec<f64> = x.iter().zip(&y).map(|(a, b)| 2.0 * a - 0.5 * b).collect();
        let (fx, fy, fc) = (f(&x), f(&y), f(&combo));
        let want: Vec<f64> = (0..2 * c)
            .map(|i| 2.0 * (fx[i] - zero[i]) - 0.5 * (fy[i] - zero[i]) + zero[i])
            .collect();
        assert_close(&fc, &want, 1e-4, 1e-5, "affine");
    }

    /// Tokens never mix: changing one token changes that token's output only (what keeps the
    /// forecaster causal and streamable).
    #[test]
    fn tokens_are_independent() {
        let device = Device::flex();
        let mut rng = Rng::new(8);
        let (t, c) = (6, 8);
        let l = layer(c, 4, 0.5, 0.01);
        let x = rng.normals(t * c);
        let mut moved = x.clone();
        for v in &mut moved[3 * c..4 * c] {
            *v += 1.0;
        }
        let a = host(l.forward(tensor(&x, [1, t, c], &device)));
        let b = host(l.forward(tensor(&moved, [1, t, c], &device)));
        for tok in 0..t {
            let same = a[tok * c..(tok + 1) * c] == b[tok * c..(tok + 1) * c];
            assert_eq!(same, tok != 3, "token {tok}");
        }
    }

    /// Soft-shrink zeroes every entry with `|x| ≤ λ` and moves the others towards 0 by `λ`.
    #[test]
    fn soft_shrink_zeroes_small_entries() {
        let device = Device::flex();
        let x = [-0.5, -0.1, -0.05, 0.0, 0.04, 0.1, 0.3];
        let got = host(soft_shrink(tensor(&x, [7], &device), 0.1));
        assert_close(
            &got,
            &[-0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2],
            1e-6,
            1e-7,
            "soft-shrink",
        );
    }
}
