//! Full-f32 matrix products on accelerators whose f32 matmul runs in TF32.
//!
//! burn's CUDA matmul is autotuned between CUDA-core kernels (f32) and tensor-core kernels,
//! which read f32 operands as **TF32** (the low 13 mantissa bits dropped: relative error up to
//! `2⁻¹⁰ ≈ 1e-3` per operand). Which kernel wins depends on the shape and the run. SpaceTime's
//! kernels are powers `Aʲ` of companion matrices whose trained spectral radius approaches 1; an
//! operand error ε grows to about `j·ε` in `Aʲ` (the test `krylov_with_tf32_products_needs_the_split`
//! shows 1e-2 relative kernel error at ℓ = 336 with TF32-truncated products, 8e-7 split).
//!
//! [`split_matmul`] recovers f32 accuracy with three TF32 products (the "3xTF32" scheme): each
//! operand is split `x = hi + lo` where `hi` keeps 10 significant bits (exact in TF32) and `lo`
//! the rest (itself truncated only at `2⁻²⁰` relative), then
//! `x·y ≈ hi_x·hi_y + (hi_x·lo_y + lo_x·hi_y)` — the dropped `lo·lo` term is `O(2⁻²⁰)`.
//! The split `hi = (x + σ) − σ` with `σ = 1.5·2^{⌊log₂|x|⌋+14}` rounds `x` to a multiple of
//! `ulp(σ)`; it needs no bit tricks, survives FMA contraction and off-by-one `log₂` (then `hi`
//! has 9–11 bits, still exact in TF32), and `σ` is detached, so gradients pass unchanged
//! (`∂hi/∂x = 1`, `∂lo/∂x = 0`).
//!
//! [`precise_matmul`] (SSM kernels, Krylov powers, Toeplitz convolutions, decoder) and
//! [`layer_matmul`] (dense layers) split on every device except burn's CPU backend `flex`,
//! whose matmul is plain f32. Measured on an H200 (BENCHMARKS.md §6): random-weight SpaceTime
//! forecasts agree with the CPU to 1e-6 relative with every product split (3e-4 with the SSM
//! products alone, 1e-3 with none). Splitting also hands every matmul freshly materialised
//! operands instead of views; a GPU-trained reference model improved from 9× to within 2× of
//! its CPU score, an open discrepancy that TF32 rounding alone does not explain (the CPU
//! emulation modes below reproduce TF32 rounding and change nothing on that model).
//!
//! `STATECAST_MATMUL` overrides the choice for a whole process: `native`, `split`, `split-ssm`,
//! and, on the CPU, `tf32`, `tf32-split-ssm`, `tf32-split` (products with TF32-truncated operands,
//! via the host; inference diagnostics only: the truncation is not differentiable).
use burn::prelude::*;
use std::sync::OnceLock;

/// Significant bits kept in the high part of a split (TF32 holds 11; one bit of slack each way).
const HI_BITS: i32 = 10;

/// How [`precise_matmul`] multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulPrecision {
    /// Split on accelerators, plain on the CPU backend (default).
    Auto,
    /// Always the backend's own matmul (TF32 on tensor cores).
    Native,
    /// Always the three-product split.
    Split,
    /// The split in the SSM kernels and convolutions only, dense layers native.
    SplitSsm,
    /// Diagnostics on the CPU: every product with operands truncated to TF32 (what tensor cores
    /// compute without the split).
    EmulateTf32,
    /// Diagnostics on the CPU: TF32-truncated products, split in the SSM kernels and
    /// convolutions ([`precise_matmul`]) but not in the dense layers ([`layer_matmul`]).
    EmulateTf32SplitSsm,
    /// Diagnostics on the CPU: TF32-truncated products, split everywhere.
    EmulateTf32SplitAll,
}

impl MatmulPrecision {
    /// The process-wide choice: `STATECAST_MATMUL` (`auto`, `native`, `split`), default `auto`.
    pub fn from_env() -> Self {
        static CHOICE: OnceLock<MatmulPrecision> = OnceLock::new();
        *CHOICE.get_or_init(|| match std::env::var("STATECAST_MATMUL").as_deref() {
            Ok("native") => Self::Native,
            Ok("split") => Self::Split,
            Ok("split-ssm") => Self::SplitSsm,
            Ok("tf32") => Self::EmulateTf32,
            Ok("tf32-split-ssm") => Self::EmulateTf32SplitSsm,
            Ok("tf32-split") => Self::EmulateTf32SplitAll,
            _ => Self::Auto,
        })
    }

    /// Whether products on `device` are split.
    pub fn splits_on(self, device: &Device) -> bool {
        match self {
            Self::Native | Self::EmulateTf32 => false,
            Self::Split | Self::SplitSsm | Self::EmulateTf32SplitSsm | Self::EmulateTf32SplitAll => true,
            Self::Auto => device.clone().inner() != Device::flex(),
        }
    }

    /// Whether products are TF32-truncated on the host (the diagnostic modes).
    fn emulates_tf32(self) -> bool {
        matches!(
            self,
            Self::EmulateTf32 | Self::EmulateTf32SplitSsm | Self::EmulateTf32SplitAll
        )
    }

    /// Whether dense-layer products ([`layer_matmul`]) are split on `device`.
    pub fn splits_layers_on(self, device: &Device) -> bool {
        match self {
            Self::EmulateTf32SplitAll | Self::Split => true,
            Self::EmulateTf32 | Self::EmulateTf32SplitSsm | Self::SplitSsm | Self::Native => false,
            Self::Auto => device.clone().inner() != Device::flex(),
        }
    }
}

/// Splits every element into `hi + lo` with `hi` holding at most ~10 significant bits (exact in
/// TF32) and `lo = x − hi` (exact in f32). Zeros split into zeros; NaN stays NaN.
///
/// # Shapes
/// * `x`: any; returns two tensors of the same shape
pub fn split_tf32<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let exponent = x
        .clone()
        .detach()
        .abs()
        .log()
        .div_scalar(std::f64::consts::LN_2)
        .floor();
    // σ = 1.5 · 2^(e + 24 − HI_BITS): x + σ rounds x to a multiple of ulp(σ) = 2^(e + 1 − HI_BITS).
    let sigma = exponent
        .add_scalar(f64::from(24 - HI_BITS))
        .mul_scalar(std::f64::consts::LN_2)
        .exp()
        .mul_scalar(1.5)
        .detach();
    let hi = (x.clone() + sigma.clone()) - sigma;
    let lo = x - hi.clone();
    (hi, lo)
}

/// `a · b` to f32 accuracy through three products of `mm` (assumed TF32-exact on split parts).
///
/// # Shapes
/// * as [`Tensor::matmul`]
pub fn split_matmul_with<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    mm: impl Fn(Tensor<D>, Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let (a_hi, a_lo) = split_tf32(a);
    let (b_hi, b_lo) = split_tf32(b);
    let small = mm(a_hi.clone(), b_lo) + mm(a_lo, b_hi.clone());
    mm(a_hi, b_hi) + small
}

/// [`split_matmul_with`] using the backend's matmul.
pub fn split_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    split_matmul_with(a, b, |x, y| x.matmul(y))
}

/// `a · b` in full f32 accuracy on every backend (module docs): split on accelerators, plain on
/// the CPU backend, per [`MatmulPrecision::from_env`].
///
/// # Shapes
/// * as [`Tensor::matmul`]
pub fn precise_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let mode = MatmulPrecision::from_env();
    let split = mode.splits_on(&a.device());
    product(a, b, split, mode.emulates_tf32())
}

/// The products of dense layers (MLPs, embeddings, heads), per [`MatmulPrecision::splits_layers_on`].
///
/// # Shapes
/// * as [`Tensor::matmul`]
pub fn layer_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let mode = MatmulPrecision::from_env();
    let split = mode.splits_layers_on(&a.device());
    product(a, b, split, mode.emulates_tf32())
}

fn product<const D: usize>(a: Tensor<D>, b: Tensor<D>, split: bool, emulate: bool) -> Tensor<D> {
    match (split, emulate) {
        (false, false) => a.matmul(b),
        (true, false) => split_matmul(a, b),
        (false, true) => tf32_emulated_matmul(a, b),
        (true, true) => split_matmul_with(a, b, tf32_emulated_matmul),
    }
}

/// Host-side emulation of a tensor-core f32 matmul: both operands truncated to TF32 (low 13
/// mantissa bits cleared), products accumulated in f32. For tests and the precision benchmark.
///
/// # Shapes
/// * as [`Tensor::matmul`]
pub fn tf32_emulated_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    truncate_tf32(a).matmul(truncate_tf32(b))
}

/// Clears the low 13 mantissa bits of every element (what tensor cores read of an f32).
pub fn truncate_tf32<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let shape = x.shape();
    let values: Vec<f32> = x
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
        .into_iter()
        .map(|v| f32::from_bits(v.to_bits() & !0x1FFF))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::flex()
    }

    fn seeded(shape: [usize; 3], seed: u64) -> Tensor<3> {
        let n: usize = shape.iter().product();
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // spread over several binades, both signs
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                ((u - 0.5) * 8.0 * 10f64.powf((u * 7.0).floor() - 3.0)) as f32
            })
            .collect();
        Tensor::from_data(TensorData::new(values, shape), &dev())
    }

    fn max_rel(a: Tensor<3>, b: Tensor<3>) -> f32 {
        let scale: f32 = b.clone().abs().max().into_scalar();
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    #[test]
    fn split_parts_are_tf32_exact_and_sum_back() {
        let x = seeded([2, 16, 16], 3);
        let (hi, lo) = split_tf32(x.clone());
        // hi survives TF32 truncation unchanged; hi + lo is x exactly.
        let hi_v = hi.clone().into_data().try_to_vec::<f32>().unwrap();
        let tr_v = truncate_tf32(hi.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(hi_v, tr_v, "hi must be exactly representable in TF32");
        let back = (hi + lo.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(back, x.clone().into_data().try_to_vec::<f32>().unwrap());
        // lo is small: |lo| <= 2^-10 |x|.
        let ratio: f32 = (lo.abs() - x.abs().mul_scalar(2f64.powi(-HI_BITS)))
            .max()
            .into_scalar();
        assert!(ratio <= 0.0, "lo too large: {ratio}");
    }

    #[test]
    fn split_of_zero_is_zero() {
        let x = Tensor::<1>::from_floats([0.0, -0.0, 1.0, -3.5], &dev());
        let (hi, lo) = split_tf32(x);
        assert_eq!(
            hi.into_data().try_to_vec::<f32>().unwrap(),
            vec![0.0, 0.0, 1.0, -3.5]
        );
        assert_eq!(
            lo.into_data().try_to_vec::<f32>().unwrap(),
            vec![0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn split_matmul_defeats_tf32_truncation() {
        let (a, b) = (seeded([3, 32, 48], 1), seeded([3, 48, 24], 2));
        let exact = a.clone().matmul(b.clone());
        let tf32 = tf32_emulated_matmul(a.clone(), b.clone());
        let split = split_matmul_with(a.clone(), b.clone(), tf32_emulated_matmul);
        let (e_tf32, e_split) = (max_rel(tf32, exact.clone()), max_rel(split, exact.clone()));
        assert!(
            e_tf32 > 1e-4,
            "TF32 emulation should be visibly inexact, got {e_tf32}"
        );
        assert!(e_split < 2e-6, "split matmul error {e_split}");
        // With an exact matmul underneath the split changes nothing beyond f32 rounding.
        assert!(max_rel(split_matmul(a, b), exact) < 1e-6);
    }

    #[test]
    fn split_matmul_gradients_equal_plain_matmul() {
        let device = dev().autodiff();
        let a0 = seeded([1, 6, 5], 7);
        let b0 = seeded([1, 5, 4], 8);
        let grads_of = |split: bool| {
            let a = Tensor::<3>::from_data(a0.to_data(), &device).require_grad();
            let b = Tensor::<3>::from_data(b0.to_data(), &device).require_grad();
            let y = if split {
                split_matmul(a.clone(), b.clone())
            } else {
                a.clone().matmul(b.clone())
            };
            let g = y.powi_scalar(2).sum().backward();
            (a.grad(&g).unwrap(), b.grad(&g).unwrap())
        };
        let ((ga, gb), (sa, sb)) = (grads_of(false), grads_of(true));
        assert!(max_rel(sa, ga) < 1e-5);
        assert!(max_rel(sb, gb) < 1e-5);
    }

    #[test]
    fn auto_splits_off_the_cpu_backend_only() {
        assert!(!MatmulPrecision::Auto.splits_on(&Device::flex()));
        assert!(!MatmulPrecision::Auto.splits_on(&Device::flex().autodiff()));
        assert!(MatmulPrecision::Split.splits_on(&Device::flex()));
        assert!(!MatmulPrecision::Native.splits_on(&Device::flex()));
        assert!(!MatmulPrecision::Auto.splits_layers_on(&Device::flex()));
        assert!(MatmulPrecision::SplitSsm.splits_on(&Device::flex()));
        assert!(!MatmulPrecision::SplitSsm.splits_layers_on(&Device::flex()));
        assert!(MatmulPrecision::EmulateTf32SplitAll.splits_layers_on(&Device::flex()));
    }
}
