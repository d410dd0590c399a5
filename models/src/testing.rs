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

/// For any recurrent family: forecasts beyond the horizon continue the first `H` rows by feeding
/// them back and leave the state alone, and the state round-trips through JSON. `x_blv` is one
/// look-back window; returns the state after it (for family-specific checks).
pub(crate) fn assert_long_forecasts_feed_back<M>(model: &M, x_blv: Tensor<3>) -> M::State
where
    M: crate::forecaster::StepForecaster,
    M::State: PartialEq,
{
    use crate::forecaster::{Forecaster, StepForecaster};
    let device = x_blv.device();
    let [b, _, v] = x_blv.dims();
    let h = Forecaster::horizon(model);
    let longer = 2 * h + 1;
    let (state, _) = StepForecaster::start(model, x_blv);
    let before = state.clone();
    let long = StepForecaster::forecast_from_state(model, &state, longer, &device);
    assert_eq!(long.dims(), [b, longer, v]);
    assert_eq!(state, before, "forecasting leaves the state alone");
    let short = StepForecaster::forecast_from_state(model, &state, h, &device);
    assert_close(
        &host(long.clone().narrow(1, 0, h)),
        &host(short.clone()),
        0.0,
        0.0,
        "first H rows",
    );
    let mut rolled = state.clone();
    for j in 0..h {
        StepForecaster::step(model, &mut rolled, short.clone().narrow(1, j, 1).reshape([b, v]));
    }
    let next = StepForecaster::forecast_from_state(model, &rolled, longer - h, &device);
    assert_close(
        &host(long.narrow(1, h, longer - h)),
        &host(next),
        1e-6,
        1e-6,
        "rows after H",
    );
    let json = serde_json::to_string(&state).unwrap();
    let back: M::State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state, "JSON round trip");
    state
}

/// After one backward pass of `model`'s training loss on `x_blv`, `y_bhv` (autodiff device),
/// every parameter has a finite, non-zero gradient. Returns how many parameters were checked.
pub(crate) fn assert_every_parameter_has_a_gradient<M>(model: &M, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> usize
where
    M: crate::forecaster::Forecaster,
{
    use burn::module::{ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    let grads = crate::forecaster::Forecaster::loss(model, x_blv, y_bhv).backward();
    let grads = GradientsParams::from_grads(grads, model);
    struct Check<'a> {
        grads: &'a GradientsParams,
        seen: usize,
    }
    impl ModuleVisitor for Check<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = self
                .grads
                .get::<D>(param.id)
                .unwrap_or_else(|| panic!("no gradient for a {:?} parameter", param.dims()));
            let norm: f32 = g.abs().sum().into_scalar();
            assert!(
                norm > 0.0 && norm.is_finite(),
                "gradient of {:?} is {norm}",
                param.dims()
            );
            self.seen += 1;
        }
    }
    let mut check = Check {
        grads: &grads,
        seen: 0,
    };
    model.visit(&mut check);
    check.seen
}

/// `[b, t, v]` windows of a sine around 5 (amplitude 2, 0.4 rad a step) plus N(0, 0.3) noise:
/// the whole-model tests' input.
pub(crate) fn series(b: usize, t: usize, v: usize) -> Tensor<3> {
    let device = Device::flex();
    let noise = Tensor::<3>::random([b, t, v], burn::tensor::Distribution::Normal(0.0, 0.3), &device);
    let trend = Tensor::<1, Int>::arange(0..t as i64, &device)
        .float()
        .mul_scalar(0.4)
        .sin()
        .reshape([1, t, 1]);
    noise + trend.mul_scalar(2.0).add_scalar(5.0)
}

/// `f32` values as `f64`.
pub(crate) fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}
