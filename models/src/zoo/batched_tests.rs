//! Batched stepping (`Stepper::advance_many` and friends) equals stepping each state alone, for
//! every family with a recurrent form: predictions, forecasts and the states themselves.
use burn::prelude::*;
use burn::tensor::Distribution;

use super::{AnyModel, ModelConfig};
use crate::baseline::RepeatConfig;
use crate::chimera::ChimeraConfig;
use crate::forecaster::{Forecaster, StepState, Stepper};
use crate::simba::SimbaConfig;
use crate::spacetime::SpaceTimeConfig;
use crate::testing::{assert_close, host};

const L: usize = 12;
const H: usize = 5;
const V: usize = 3;
/// Series stepped together.
const SERIES: usize = 4;

/// A small SpaceTime at `L`, `H` without dropout.
fn small_spacetime() -> SpaceTimeConfig {
    SpaceTimeConfig::new(L, H)
        .with_d_model(8)
        .with_state_dim(4)
        .with_first_n_kernels(2)
        .with_first_n_heads(4)
        .with_n_kernels(8)
        .with_dropout(0.0)
}

/// Mean seconds of `reps` calls of `f`, after one untimed call (for the timing probes).
fn mean_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = std::time::Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn models(device: &Device) -> Vec<(&'static str, AnyModel)> {
    let configs = [
        ("spacetime", ModelConfig::SpaceTime(small_spacetime())),
        (
            "simba",
            ModelConfig::Simba(
                SimbaConfig::new(L, H)
                    .with_d_model(12)
                    .with_n_blocks(2)
                    .with_d_state(4)
                    .with_einfft_blocks(3)
                    .with_dropout(0.0),
            ),
        ),
        (
            "chimera",
            ModelConfig::Chimera(
                ChimeraConfig::new(L, H)
                    .with_d_model(8)
                    .with_n_blocks(2)
                    .with_d_state(3)
                    .with_scan_chunk(3)
                    .with_dropout(0.0),
            ),
        ),
        ("repeat", ModelConfig::Repeat(RepeatConfig::new(L, H))),
    ];
    configs
        .into_iter()
        .map(|(name, c)| (name, c.init(device).expect("valid test config")))
        .collect()
}

fn state_json(model: &dyn Stepper, state: &dyn StepState) -> Vec<f64> {
    // Every family's state is plain data; compare all of it through a forecast of every step
    // the model can make plus its next-row prediction path below.
    let device = Device::flex();
    host(model.forecast_state(state, H, &device))
}

/// Prime `SERIES` windows in one call, then step them together for a few rows, and compare
/// with priming and stepping each series alone.
#[test]
fn batched_stepping_equals_stepping_each_series_alone() {
    let device = Device::flex();
    for (name, model) in models(&device) {
        let stepper = model.stepper().expect("a recurrent family");
        let windows = Tensor::<3>::random([SERIES, L, V], Distribution::Normal(0.0, 1.0), &device);
        let rows = Tensor::<3>::random([SERIES, 6, V], Distribution::Normal(0.0, 1.0), &device);

        let plan = stepper.plan_stream(&[1, 3, H]);
        let (mut together, preds_together) = stepper.prime_each(&plan, windows.clone());
        let mut alone: Vec<Box<dyn StepState>> = Vec::new();
        let mut preds_alone = Vec::new();
        for s in 0..SERIES {
            let (state, preds) = stepper.prime(windows.clone().narrow(0, s, 1));
            alone.push(state);
            preds_alone.extend(host(preds));
        }
        assert_close(
            &host(preds_together),
            &preds_alone,
            1e-5,
            1e-6,
            &format!("{name}: primed predictions"),
        );

        for t in 0..6 {
            let x_bv = rows.clone().narrow(1, t, 1).reshape([SERIES, V]);
            let mut all: Vec<&mut dyn StepState> = together.iter_mut().map(|b| &mut **b).collect();
            let got = host(stepper.advance_many(&mut all, x_bv.clone()));
            let mut want = Vec::new();
            for (s, state) in alone.iter_mut().enumerate() {
                want.extend(host(stepper.advance(&mut **state, x_bv.clone().narrow(0, s, 1))));
            }
            assert_close(&got, &want, 1e-5, 1e-6, &format!("{name}: step {t} predictions"));
        }
        let refs: Vec<&dyn StepState> = together.iter().map(|b| &**b).collect();
        let got = host(stepper.forecast_many(&refs, H, &device));
        let want: Vec<f64> = alone.iter().flat_map(|s| state_json(stepper, &**s)).collect();
        assert_close(&got, &want, 1e-5, 1e-6, &format!("{name}: forecasts"));
        // A plan of some steps gives those rows of the full forecast.
        let steps = [1usize, 3, H];
        let planned = host(stepper.forecast_many_planned(&plan, &refs, &device));
        let picked: Vec<f64> = (0..SERIES)
            .flat_map(|s| steps.iter().map(move |&h| (s, h)))
            .flat_map(|(s, h)| want[(s * H + h - 1) * V..(s * H + h) * V].to_vec())
            .collect();
        assert_close(&planned, &picked, 1e-5, 1e-6, &format!("{name}: planned steps"));
        // The split states are the per-series states: same serialised values, same size.
        for (a, b) in together.iter().zip(&alone) {
            assert_eq!(
                stepper.state_size(&**a),
                stepper.state_size(&**b),
                "{name}: state size"
            );
            assert_close(
                &state_json(stepper, &**a),
                &state_json(stepper, &**b),
                1e-5,
                1e-6,
                name,
            );
        }
    }
}

/// SpaceTime's forecast from a state (closed-loop rows, one product) equals the step-by-step
/// rollout, and after priming on a window equals the batch forecast of that window.
#[test]
fn spacetime_closed_rows_equal_the_rollout() {
    let device = Device::flex();
    let model = small_spacetime().init(&device);
    let x = Tensor::<3>::random([2, L, V], Distribution::Normal(0.0, 1.0), &device);
    let (state, _) = model.stream_lookback(x.clone());
    let x_ncd = state.decoder_x_ncd.to_tensor::<3>(&device);
    let (rolled, _) = model.decoder.rollout(x_ncd.clone(), H);
    let rows = model.decoder.closed_outputs(x_ncd, H);
    assert_close(&host(rows), &host(rolled), 1e-5, 1e-6, "closed rows vs rollout");
    let from_state = model.forecast_from_state(&state, H, &device);
    assert_close(
        &host(from_state),
        &host(model.forecast(x)),
        1e-4,
        1e-5,
        "state vs batch forecast",
    );
}

/// Timing probe (not a test of behaviour): `cargo test -p statecast-models --lib probe_step -- --ignored --nocapture`.
#[test]
#[ignore = "timing probe"]
fn probe_step() {
    let device = Device::flex();
    let model = SpaceTimeConfig::statecast_default(96, 24)
        .with_dropout(0.0)
        .init(&device);
    let stepper: &dyn Stepper = &model;
    // What the monitor's default detector reads: steps 1..=4 and the drift lag 24.
    let plan = stepper.plan_stream(&[1, 2, 3, 4, 24]);
    for series in [1usize, 16, 64, 128] {
        let windows = Tensor::<3>::random([series, 96, 4], Distribution::Normal(0.0, 1.0), &device);
        let (mut states, _) = stepper.prime_each(&plan, windows.clone());
        let x = Tensor::<2>::random([series, 4], Distribution::Normal(0.0, 1.0), &device);
        let step = mean_seconds(20, || {
            let mut all: Vec<&mut dyn StepState> = states.iter_mut().map(|b| &mut **b).collect();
            let _ = host(stepper.advance_many(&mut all, x.clone()));
        });
        let refs: Vec<&dyn StepState> = states.iter().map(|b| &**b).collect();
        let fc = mean_seconds(20, || {
            let _ = host(stepper.forecast_many_planned(&plan, &refs, &device));
        });
        let prime = mean_seconds(5, || {
            let (_, p) = stepper.prime_each(&plan, windows.clone());
            let _ = host(p);
        });
        let by_steps = mean_seconds(2, || {
            let _ = model.stream_lookback(windows.clone());
        });
        println!(
            "series {series:>4}: step {:>7.2} ms, planned forecast {:>6.2} ms, priming {:>7.2} ms \
             (streaming the windows {:>8.1} ms); per point with priming every 96 rows {:>6.1} µs; state {} B",
            step * 1e3,
            fc * 1e3,
            prime * 1e3,
            by_steps * 1e3,
            (step + fc + prime / 96.0) / series as f64 * 1e6,
            stepper.state_size(&*states[0])
        );
    }
}

/// Timing probe of the forecast stages: `cargo test -p statecast-models --lib probe_forecast -- --ignored --nocapture`.
#[test]
#[ignore = "timing probe"]
fn probe_forecast() {
    let device = Device::flex();
    let model = SpaceTimeConfig::statecast_default(96, 24)
        .with_dropout(0.0)
        .init(&device);
    let n = 256;
    let x_ncd = Tensor::<3>::random([n, 64, 32], Distribution::Normal(0.0, 1.0), &device);
    let time = |what: &str, f: &dyn Fn()| {
        println!("{what}: {:.2} ms", mean_seconds(20, f) * 1e3);
    };
    time("closed_rows", &|| {
        let _ = host(model.decoder.closed_rows(24));
    });
    let rows = model.decoder.closed_rows(24);
    time("permute x", &|| {
        let _ = host(x_ncd.clone().permute([1, 2, 0]));
    });
    time("matmul", &|| {
        let _ = host(rows.clone().matmul(x_ncd.clone().permute([1, 2, 0])));
    });
    let y = rows
        .clone()
        .matmul(x_ncd.clone().permute([1, 2, 0]))
        .permute([2, 1, 0]);
    time("head", &|| {
        let _ = host(model.head.forward(y.clone()));
    });
    time("closed_outputs", &|| {
        let _ = host(model.decoder.closed_outputs(x_ncd.clone(), 24));
    });
}

/// The CPU's in-place companion kernel (`spacetime/host_step.rs`) and the tensor-operation step
/// agree: a stream stepped both ways gives the same predictions and states.
#[test]
fn in_place_steps_equal_tensor_steps() {
    let device = Device::flex();
    for blocks in [1usize, 2] {
        let model = small_spacetime().with_n_encoder_blocks(blocks).init(&device);
        let x = Tensor::<3>::random([3, L + 6, V], Distribution::Normal(0.0, 1.0), &device);
        let (mut state, _) = model.stream_lookback(x.clone().narrow(1, 0, L));
        let mut reference = state.clone();
        for t in L..L + 6 {
            let x_bv = x.clone().narrow(1, t, 1).reshape([3, V]);
            let got = host(model.step(x_bv.clone(), &mut state).next_pred_bv);
            let want = host(model.step_with_tensor_ops(x_bv, &mut reference).next_pred_bv);
            assert_close(&got, &want, 1e-5, 1e-6, &format!("{blocks} blocks, row {t}"));
        }
        let values = |s: &crate::spacetime::SpaceTimeState| -> Vec<f64> {
            s.encoder
                .iter()
                .flat_map(|b| b.x_ncd.values.iter())
                .chain(&s.decoder_x_ncd.values)
                .map(|&v| f64::from(v))
                .collect()
        };
        assert_close(&values(&state), &values(&reference), 1e-5, 1e-6, "states");
    }
}
