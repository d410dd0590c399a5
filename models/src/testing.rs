//! Test helpers shared by the model tests: a seeded RNG, host <-> tensor conversion, tolerances.
use burn::prelude::*;

/// SplitMix64 with Box-Muller normals: tiny, seeded, dependency-free.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub(crate) fn normals(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.normal()).collect()
    }
}

pub(crate) fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 data")
        .into_iter()
        .map(f64::from)
        .collect()
}

pub(crate) fn scalar(t: Tensor<1>) -> f64 {
    host(t)[0]
}

/// Max |x - y| / (atol + rtol·max|y|) style check with a readable failure message.
#[track_caller]
pub(crate) fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length mismatch");
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut worst = (0.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}: non-finite value at {i}");
        let err = (g - w).abs();
        if err > worst.0 {
            worst = (err, i);
        }
    }
    let tol = atol + rtol * scale;
    assert!(
        worst.0 <= tol,
        "{what}: max abs error {:.3e} at index {} (got {}, want {}) exceeds tol {:.3e} (scale {:.3e})",
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1],
        tol,
        scale
    );
}
