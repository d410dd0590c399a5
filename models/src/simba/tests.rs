//! Whole-model tests: batch forward == streaming rollout, causality, validation, gradients.
use burn::prelude::*;

use super::{Simba, SimbaConfig};
use crate::error::Error;
use crate::forecaster::{Forecaster, StepForecaster};
use crate::spacetime::Normalization;
use crate::testing::{
    assert_close, assert_every_parameter_has_a_gradient, assert_long_forecasts_feed_back, f64s, host, series,
};

fn small(l: usize, h: usize) -> SimbaConfig {
    SimbaConfig::new(l, h)
        .with_d_model(12)
        .with_n_blocks(2)
        .with_d_state(4)
        .with_einfft_blocks(3)
        .with_einfft_init_scale(0.3)
        .with_dropout(0.0)
}

/// Priming on a window (one batch pass) equals a fresh state fed the same window point by point:
/// the next-row predictions, the forecast, and every state tensor; both equal the batch forward.
#[test]
fn batch_forward_equals_step_by_step_rollout() {
    for normalization in [
        Normalization::Standardize,
        Normalization::Mean,
        Normalization::None,
    ] {
        for head_tokens in [1, 4, 11] {
            let (l, h) = (11, 5);
            let model = small(l, h)
                .with_normalization(normalization)
                .with_head_tokens(head_tokens)
                .init(&Device::flex());
            let x = series(2, l, 3);
            let batch = model.forward(x.clone());
            let (primed, primed_preds) = model.prime(x.clone());
            let mut stepped = StepForecaster::fresh_state(&model, x.clone());
            let preds: Vec<Tensor<2>> = (0..l)
                .map(|t| model.step(x.clone().narrow(1, t, 1).reshape([2, 3]), &mut stepped))
                .collect();
            let stepped_preds = Tensor::stack::<3>(preds, 1);
            let what = format!("{normalization:?}, head on {head_tokens} tokens");
            assert_close(
                &host(stepped_preds),
                &host(batch.next_pred_blv.clone()),
                1e-4,
                1e-5,
                &what,
            );
            assert_close(&host(primed_preds), &host(batch.next_pred_blv), 1e-4, 1e-5, &what);
            for state in [&primed, &stepped] {
                let f = model.forecast_from_state(state, h, &Device::flex());
                assert_close(&host(f), &host(batch.forecast_bhv.clone()), 1e-4, 1e-5, &what);
            }
            assert_eq!(primed.head.steps, stepped.head.steps);
            for (p, s) in primed.blocks.iter().zip(&stepped.blocks) {
                assert_close(
                    &f64s(&p.scan_ned.values),
                    &f64s(&s.scan_ned.values),
                    1e-4,
                    1e-5,
                    "scan state",
                );
                assert_close(
                    &f64s(&p.conv_nek.values),
                    &f64s(&s.conv_nek.values),
                    1e-5,
                    1e-6,
                    "conv buffer",
                );
            }
            // The same after a few more points, through both states.
            let (mut a, mut b) = (primed.clone(), stepped.clone());
            for t in 0..4 {
                let row = x.clone().narrow(1, t, 1).reshape([2, 3]);
                let pa = model.step(row.clone(), &mut a);
                let pb = model.step(row, &mut b);
                assert_close(&host(pa), &host(pb), 1e-4, 1e-5, "continued stream");
            }
            // `Forecaster::forecast` is the same function as the full forward's forecast.
            assert_close(
                &host(Forecaster::forecast(&model, x.clone())),
                &host(model.forward(x).forecast_bhv),
                1e-6,
                1e-6,
                "forecast",
            );
        }
    }
}

/// Forecasts beyond `H` continue the first `H` rows by feeding them back, and never advance the
/// state given; the state round-trips through JSON.
#[test]
fn long_forecasts_feed_back_and_state_serialises() {
    let model = small(8, 3).with_head_tokens(3).init(&Device::flex());
    let state = assert_long_forecasts_feed_back(&model, series(1, 8, 2));
    let json = serde_json::to_string(&state).unwrap();
    // One level of keys, as before the head's part became a shared type (stored states load).
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "batch",
            "blocks",
            "forecast_nh",
            "head_inputs_nkc",
            "norm_scale_n1",
            "norm_shift_n1",
            "steps",
            "variates"
        ]
    );
    assert_eq!(StepForecaster::state_bytes(&model, &state), state.value_bytes());
}

/// With window statistics off, perturbing row `t*` leaves every earlier next-row prediction
/// bit-identical and changes the one at `t*` (the whole network is causal: Mamba, per-token
/// EinFFT and layer norms).
#[test]
fn the_network_is_causal() {
    let l = 10;
    let model = small(l, 2)
        .with_normalization(Normalization::None)
        .init(&Device::flex());
    let x = series(1, l, 1);
    let star = 6;
    let bumped = x.clone().slice_assign(
        [0..1, star..star + 1, 0..1],
        Tensor::ones([1, 1, 1], &Device::flex()).mul_scalar(9.0),
    );
    let a = host(model.forward(x).next_pred_blv);
    let b = host(model.forward(bumped).next_pred_blv);
    assert_eq!(a[..star], b[..star]);
    assert_ne!(a[star], b[star]);
}

/// The forecast is invariant to shifting (mean) and to shifting and scaling (standardize) the
/// input, up to the same affine map of the output.
#[test]
fn window_normalisation_is_inverted() {
    let (l, h) = (9, 4);
    let model = small(l, h).init(&Device::flex());
    let x = series(2, l, 2);
    let f = host(model.forecast(x.clone()));
    let g = host(model.forecast(x.mul_scalar(3.0).add_scalar(-7.0)));
    let want: Vec<f64> = f.iter().map(|v| 3.0 * v - 7.0).collect();
    assert_close(&g, &want, 1e-3, 1e-3, "standardize equivariance");
}

/// Training reaches every parameter: after one backward pass, each has a non-zero gradient.
#[test]
fn every_parameter_gets_a_gradient() {
    let device = Device::flex().autodiff();
    let (l, h) = (8, 3);
    let model: Simba = small(l, h).with_einfft_shrink(0.0).init(&device);
    let x = series(3, l, 2).to_device(&device);
    let y = series(3, h, 2).to_device(&device);
    let seen = assert_every_parameter_has_a_gradient(&model, x, y);
    // embedding (2) + 2 blocks × (2 LN × 2 + Mamba 9 + EinFFT 8) + final LN (2) + head (2).
    assert_eq!(seen, 2 + 2 * (4 + 9 + 8) + 2 + 2);
}

/// `validate` refuses every size `init` cannot build, naming the setting.
#[test]
fn validate_names_the_bad_setting() {
    let cases: Vec<(SimbaConfig, &str)> = vec![
        (SimbaConfig::new(0, 4), "lookback"),
        (SimbaConfig::new(8, 0), "horizon"),
        (SimbaConfig::new(8, 4).with_d_model(0), "d_model"),
        (SimbaConfig::new(8, 4).with_n_blocks(0), "n_blocks"),
        (SimbaConfig::new(8, 4).with_d_state(0), "d_state"),
        (SimbaConfig::new(8, 4).with_d_conv(0), "d_conv"),
        (SimbaConfig::new(8, 4).with_expand(0), "expand"),
        (SimbaConfig::new(8, 4).with_expand(usize::MAX), "expand"),
        (SimbaConfig::new(8, 4).with_scan_chunk(0), "scan_chunk"),
        (SimbaConfig::new(8, 4).with_einfft_blocks(0), "einfft_blocks"),
        (SimbaConfig::new(8, 4).with_einfft_blocks(5), "einfft_blocks"),
        (SimbaConfig::new(8, 4).with_dt_min(0.0), "dt_min"),
        (SimbaConfig::new(8, 4).with_dt_min(f64::NAN), "dt_min"),
        (SimbaConfig::new(8, 4).with_dt_max(1e-4), "dt_max"),
        (SimbaConfig::new(8, 4).with_dt_init_floor(-1.0), "dt_init_floor"),
        (SimbaConfig::new(8, 4).with_einfft_shrink(-0.1), "einfft_shrink"),
        (
            SimbaConfig::new(8, 4).with_einfft_init_scale(f64::INFINITY),
            "einfft_init_scale",
        ),
        (SimbaConfig::new(8, 4).with_dropout(1.0), "dropout"),
        (SimbaConfig::new(8, 4).with_norm_eps(0.0), "norm_eps"),
        (SimbaConfig::new(8, 4).with_head_tokens(0), "head_tokens"),
        (SimbaConfig::new(8, 4).with_head_tokens(9), "head_tokens"),
    ];
    for (cfg, field) in cases {
        match cfg.validate() {
            Err(Error::InvalidConfig { what: got, .. }) => assert_eq!(got, field, "{cfg:?}"),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
    // Odd sizes that are valid build and forecast: L = 1, block counts that are not powers of two.
    let device = Device::flex();
    for cfg in [
        SimbaConfig::new(1, 1).with_d_model(6).with_einfft_blocks(3),
        SimbaConfig::new(3, 2)
            .with_d_model(5)
            .with_einfft_blocks(5)
            .with_d_conv(1),
        SimbaConfig::statecast_default(96, 24),
    ] {
        cfg.validate().unwrap();
        let m = cfg.init(&device);
        let f = m.forecast(series(1, cfg.lookback, 2));
        assert_eq!(f.dims(), [1, cfg.horizon, 2]);
        assert!(host(f).iter().all(|v| v.is_finite()));
    }
}
