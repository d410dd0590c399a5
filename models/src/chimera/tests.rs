//! Whole-model tests: batch forward == streaming rollout, causality in time, mixing across
//! variates, validation, gradients.
use burn::prelude::*;

use super::{Chimera, ChimeraConfig};
use crate::error::Error;
use crate::forecaster::{Forecaster, StepForecaster};
use crate::spacetime::Normalization;
use crate::testing::{
    assert_close, assert_every_parameter_has_a_gradient, assert_long_forecasts_feed_back, f64s, host, series,
};

fn small(l: usize, h: usize) -> ChimeraConfig {
    ChimeraConfig::new(l, h)
        .with_d_model(8)
        .with_n_blocks(2)
        .with_d_state(3)
        .with_scan_chunk(3)
        .with_coupling_init(0.5)
        .with_dropout(0.0)
}

/// Priming on a window (one batch pass) equals a fresh state fed the same window row by row: the
/// next-row predictions, the forecast, and every state tensor of every head; both equal the batch
/// forward. Covers both variate orders (bidirectional) and one order only.
#[test]
fn batch_forward_equals_row_by_row_rollout() {
    for (bidirectional, head_tokens, variates) in [(true, 1, 3), (true, 10, 4), (false, 4, 1)] {
        let (l, h) = (10, 4);
        let model = small(l, h)
            .with_bidirectional(bidirectional)
            .with_head_tokens(head_tokens)
            .init(&Device::flex());
        let x = series(2, l, variates);
        let batch = model.forward(x.clone());
        let (primed, primed_preds) = model.prime(x.clone());
        let mut stepped = StepForecaster::fresh_state(&model, x.clone());
        let preds: Vec<Tensor<2>> = (0..l)
            .map(|t| model.step(x.clone().narrow(1, t, 1).reshape([2, variates]), &mut stepped))
            .collect();
        let what = format!("bidirectional {bidirectional}, K {head_tokens}, V {variates}");
        let stepped_preds = Tensor::stack::<3>(preds, 1);
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
        let heads = if bidirectional { 4 } else { 2 };
        for (p, s) in primed.blocks.iter().zip(&stepped.blocks) {
            assert_eq!((p.len(), s.len()), (heads, heads));
            for (pc, sc) in p.iter().zip(s) {
                for (a, b) in [(&pc.h1_bven, &sc.h1_bven), (&pc.h2_bven, &sc.h2_bven)] {
                    assert_eq!(a.shape, b.shape);
                    assert_close(&f64s(&a.values), &f64s(&b.values), 1e-4, 1e-5, "column state");
                }
            }
        }
        let (mut a, mut b) = (primed.clone(), stepped.clone());
        for t in 0..3 {
            let row = x.clone().narrow(1, t, 1).reshape([2, variates]);
            let pa = model.step(row.clone(), &mut a);
            let pb = model.step(row, &mut b);
            assert_close(&host(pa), &host(pb), 1e-4, 1e-5, "continued stream");
        }
        assert_close(
            &host(Forecaster::forecast(&model, x.clone())),
            &host(model.forward(x).forecast_bhv),
            1e-6,
            1e-6,
            "forecast",
        );
    }
}

/// Forecasts beyond `H` continue the first `H` rows by feeding them back and leave the state
/// alone; the state round-trips through JSON and its byte count is what the trait reports.
#[test]
fn long_forecasts_feed_back_and_state_serialises() {
    let model = small(8, 3).with_head_tokens(3).init(&Device::flex());
    let state = assert_long_forecasts_feed_back(&model, series(1, 8, 2));
    assert_eq!(StepForecaster::state_bytes(&model, &state), state.value_bytes());
}

/// With window statistics off, perturbing variate 0 at row `t*` leaves every earlier next-row
/// prediction of every variate bit-identical (causal in time) and changes the predictions of the
/// other variates at `t*` (the 2-D scan mixes the variates at the same time step, in both
/// orders). Without the reversed heads, the last variate reaches the first only forwards.
#[test]
fn causal_in_time_and_mixing_across_variates() {
    let (l, v, star) = (9, 3, 5);
    for bidirectional in [true, false] {
        // Steps along the variates large enough that a neighbour's change is far above float
        // rounding whatever the random draw (with `Δ2` near 10⁻³ it can fall below one ulp).
        let model = small(l, 2)
            .with_normalization(Normalization::None)
            .with_bidirectional(bidirectional)
            .with_variate_dt([0.3, 1.0])
            .init(&Device::flex());
        // The series sit near +5 and every token is layer-normed, so a bump of the same sign
        // would change a token by little; one of the opposite sign flips it.
        let bump = |x: Tensor<3>, variate: usize| {
            x.slice_assign(
                [0..1, star..star + 1, variate..variate + 1],
                Tensor::ones([1, 1, 1], &Device::flex()).mul_scalar(-9.0),
            )
        };
        let x = series(1, l, v);
        let base = host(model.forward(x.clone()).next_pred_blv);
        for variate in [0, v - 1] {
            let moved = host(model.forward(bump(x.clone(), variate)).next_pred_blv);
            // Row-major [1, L, V]: rows before t* are the first t*·V values.
            assert_eq!(base[..star * v], moved[..star * v], "rows before t* changed");
            for other in 0..v {
                let at = star * v + other;
                let reached = bidirectional || other >= variate;
                assert_eq!(
                    base[at] != moved[at],
                    reached,
                    "bump of variate {variate}, variate {other}, bidirectional {bidirectional}"
                );
            }
        }
    }
}

/// The forecast is invariant to shifting and scaling the input, up to the same affine map of the
/// output (standardize), and a model trained on some variate count runs on any other.
#[test]
fn window_normalisation_is_inverted_and_any_variate_count_runs() {
    let (l, h) = (9, 4);
    let model = small(l, h).init(&Device::flex());
    let x = series(2, l, 2);
    let f = host(model.forecast(x.clone()));
    let g = host(model.forecast(x.mul_scalar(3.0).add_scalar(-7.0)));
    let want: Vec<f64> = f.iter().map(|v| 3.0 * v - 7.0).collect();
    assert_close(&g, &want, 1e-3, 1e-3, "standardize equivariance");
    for v in [1, 5] {
        assert_eq!(model.forecast(series(1, l, v)).dims(), [1, h, v]);
    }
}

/// Training reaches every parameter: after one backward pass, each has a non-zero gradient.
#[test]
fn every_parameter_gets_a_gradient() {
    let device = Device::flex().autodiff();
    let (l, h) = (8, 3);
    let model: Chimera = small(l, h).init(&device);
    let x = series(3, l, 3).to_device(&device);
    let y = series(3, h, 3).to_device(&device);
    let seen = assert_every_parameter_has_a_gradient(&model, x, y);
    // embedding (2) + 2 blocks × (2 LN × 2 + in/out proj 2 + 4 heads × 10 + FFN 4) + final LN (2)
    // + head (2). A head: x_proj 1, dt1/dt2 proj 2 × 2, A1..A4 4, D 1.
    assert_eq!(seen, 2 + 2 * (4 + 2 + 4 * 10 + 4) + 2 + 2);
}

/// `validate` refuses every setting `init` cannot build, naming it; odd valid sizes build and
/// forecast.
#[test]
fn validate_names_the_bad_setting() {
    let c = || ChimeraConfig::new(8, 4);
    let cases: Vec<(ChimeraConfig, &str)> = vec![
        (ChimeraConfig::new(0, 4), "lookback"),
        (ChimeraConfig::new(8, 0), "horizon"),
        (c().with_d_model(0), "d_model"),
        (c().with_n_blocks(0), "n_blocks"),
        (c().with_d_state(0), "d_state"),
        (c().with_expand(0), "expand"),
        (c().with_expand(usize::MAX), "expand"),
        (c().with_ffn_expand(0), "ffn_expand"),
        (c().with_ffn_expand(usize::MAX), "ffn_expand"),
        (c().with_scan_chunk(0), "scan_chunk"),
        (c().with_trend_dt([0.0, 1.0]), "trend_dt"),
        (c().with_seasonal_dt([1.0, 0.5]), "seasonal_dt"),
        (c().with_variate_dt([f64::NAN, 1.0]), "variate_dt"),
        (c().with_dt_init_floor(-1.0), "dt_init_floor"),
        (c().with_coupling_init(f64::INFINITY), "coupling_init"),
        (c().with_dropout(1.0), "dropout"),
        (c().with_norm_eps(0.0), "norm_eps"),
        (c().with_head_tokens(0), "head_tokens"),
        (c().with_head_tokens(9), "head_tokens"),
    ];
    for (cfg, field) in cases {
        match cfg.validate() {
            Err(Error::InvalidConfig { what: got, .. }) => assert_eq!(got, field, "{cfg:?}"),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
    let device = Device::flex();
    for cfg in [
        ChimeraConfig::new(1, 1).with_d_model(3).with_d_state(1),
        ChimeraConfig::new(5, 2)
            .with_d_model(5)
            .with_expand(3)
            .with_dt_rank(2),
        ChimeraConfig::statecast_default(96, 24),
    ] {
        cfg.validate().unwrap();
        let m = cfg.init(&device);
        let f = m.forecast(series(1, cfg.lookback, 2));
        assert_eq!(f.dims(), [1, cfg.horizon, 2]);
        assert!(host(f).iter().all(|v| v.is_finite()));
    }
}
