//! Baseline tests on `Device::flex()`.
use burn::prelude::*;

use super::*;
use crate::forecaster::Forecaster;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32")
}

fn ramp(b: usize, l: usize, v: usize, dev: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..b * l * v)
        .map(|i| (i as f32 * 0.37).sin() * 3.0 + i as f32 * 0.01)
        .collect();
    Tensor::from_data(TensorData::new(values, [b, l, v]), dev)
}

#[test]
fn repeat_forecast_is_the_last_value_exactly() {
    let dev = Device::flex();
    let (b, l, h, v) = (3, 7, 5, 4);
    let model = RepeatConfig::new(l, h).init(&dev);
    let x = ramp(b, l, v, &dev);
    let xs = host(x.clone());
    let f = host(model.forecast(x));
    for bi in 0..b {
        for hi in 0..h {
            for vi in 0..v {
                assert_eq!(f[(bi * h + hi) * v + vi], xs[(bi * l + l - 1) * v + vi]);
            }
        }
    }
    assert_eq!(model.num_params(), 0);
}

#[test]
fn linear_shapes_and_nlinear_identity() {
    let dev = Device::flex();
    let (b, l, h, v) = (2, 6, 3, 5);
    let model = LinearConfig::new(l, h).init(&dev);
    let x = ramp(b, l, v, &dev);
    assert_eq!(model.forecast(x.clone()).dims(), [b, h, v]);
    assert_eq!(model.num_params(), l * h + h);
    // With a zero map NLinear forecasts the last value (it is added back).
    let mut zero = model.clone();
    zero.map.weight = zero.map.weight.map(|w| w.zeros_like());
    zero.map.bias = zero.map.bias.map(|p| p.map(|b| b.zeros_like()));
    let repeat = RepeatConfig::new(l, h).init(&dev);
    assert_eq!(host(zero.forecast(x.clone())), host(repeat.forecast(x.clone())));
    // Variates share the map: permuting variates permutes the forecast.
    let swapped = x.clone().flip([2]);
    let a = host(model.forecast(swapped));
    let b_ = host(model.forecast(x).flip([2]));
    for (p, q) in a.iter().zip(&b_) {
        assert!((p - q).abs() < 1e-6);
    }
}

#[test]
fn linear_loss_has_gradients() {
    let ad = Device::flex().autodiff();
    let model = LinearConfig::new(4, 2).init(&ad);
    let x = ramp(2, 4, 3, &ad);
    let y = ramp(2, 2, 3, &ad);
    let loss = model.loss(x, y);
    let grads = loss.backward();
    let g = model.map.weight.grad(&grads).expect("weight gradient");
    assert_eq!(g.dims(), [4, 2]);
    assert!(host(g).iter().any(|v| *v != 0.0));
}
