//! Property tests: whatever configuration a user or a request sends, [`ModelConfig::validate`]
//! either refuses it naming a setting, or [`ModelConfig::init`] builds a model that forecasts.
use burn::prelude::*;
use proptest::prelude::*;

use super::{ModelConfig, ModelFamily};
use crate::baseline::{LinearConfig, RepeatConfig};
use crate::error::Error;
use crate::forecaster::Forecaster;
use crate::simba::SimbaConfig;
use crate::spacetime::SpaceTimeConfig;

/// Settings a validation error may name.
const FIELDS: &[&str] = &[
    "model",
    "ffn_expand",
    "trend_dt",
    "seasonal_dt",
    "variate_dt",
    "coupling_init",
    "lookback",
    "horizon",
    "d_model",
    "state_dim",
    "n_encoder_blocks",
    "first_n_kernels",
    "first_n_heads",
    "n_kernels",
    "n_heads",
    "dropout",
    "rho",
    "norm_order",
    "diff_orders",
    "min_avg_window",
    "max_avg_window",
    "n_blocks",
    "d_state",
    "d_conv",
    "expand",
    "scan_chunk",
    "head_tokens",
    "einfft_blocks",
    "dt_min",
    "dt_max",
    "dt_init_floor",
    "einfft_shrink",
    "einfft_init_scale",
    "norm_eps",
];

fn spacetime() -> impl Strategy<Value = ModelConfig> {
    (
        (0usize..20, 0usize..6, 0usize..17, 0usize..5, 0usize..3),
        (0usize..5, 0usize..5, 0usize..9, 0usize..3),
        (
            any::<bool>(),
            prop::collection::vec(prop_oneof![0usize..5, Just(40usize)], 0..3),
            0usize..3,
            0usize..6,
            0usize..10,
        ),
        (-0.5f64..1.5, -0.5f64..1.5, 0usize..3),
    )
        .prop_map(
            |((l, h, d, n, blocks), (fk, fh, k, kh), (pre, diffs, ma, lo, hi), (drop, rho, norm))| {
                ModelConfig::SpaceTime(
                    SpaceTimeConfig::new(l, h)
                        .with_d_model(d)
                        .with_state_dim(n)
                        .with_n_encoder_blocks(blocks)
                        .with_first_n_kernels(fk)
                        .with_first_n_heads(fh)
                        .with_n_kernels(k)
                        .with_n_heads(kh)
                        .with_preprocess(pre)
                        .with_diff_orders(diffs)
                        .with_n_ma_residual(ma)
                        .with_min_avg_window(lo)
                        .with_max_avg_window(hi)
                        .with_dropout(drop)
                        .with_rho(rho)
                        .with_norm_order(norm),
                )
            },
        )
}

fn simba() -> impl Strategy<Value = ModelConfig> {
    (
        (0usize..12, 0usize..5, 0usize..13, 0usize..3, 0usize..5),
        (0usize..4, 0usize..3, 0usize..4, 0usize..7, 0usize..6),
        (
            -1e-3f64..0.2,
            -1e-3f64..0.2,
            -0.1f64..0.5,
            -0.5f64..1.5,
            0.0f64..1e-3,
        ),
    )
        .prop_map(
            |((l, h, d, blocks, state), (conv, expand, rank, fft, chunk), (lo, hi, shrink, drop, eps))| {
                ModelConfig::Simba(
                    SimbaConfig::new(l, h)
                        .with_d_model(d)
                        .with_n_blocks(blocks)
                        .with_d_state(state)
                        .with_d_conv(conv)
                        .with_expand(expand)
                        .with_dt_rank(rank)
                        .with_einfft_blocks(fft)
                        .with_scan_chunk(chunk)
                        .with_dt_min(lo)
                        .with_dt_max(hi)
                        .with_einfft_shrink(shrink)
                        .with_dropout(drop)
                        .with_norm_eps(eps),
                )
            },
        )
}

fn chimera() -> impl Strategy<Value = ModelConfig> {
    (
        (0usize..10, 0usize..4, 0usize..9, 0usize..3, 0usize..4),
        (0usize..3, 0usize..3, 0usize..5, 0usize..11, any::<bool>()),
        (-1e-3f64..0.5, -1e-3f64..1.0, -0.1f64..0.5, -0.5f64..1.5),
    )
        .prop_map(
            |((l, h, d, blocks, state), (expand, ffn, chunk, head, both), (lo, hi, coupling, drop))| {
                ModelConfig::Chimera(
                    crate::chimera::ChimeraConfig::new(l, h)
                        .with_d_model(d)
                        .with_n_blocks(blocks)
                        .with_d_state(state)
                        .with_expand(expand)
                        .with_ffn_expand(ffn)
                        .with_scan_chunk(chunk)
                        .with_head_tokens(head)
                        .with_bidirectional(both)
                        .with_seasonal_dt([lo, hi])
                        .with_coupling_init(coupling)
                        .with_dropout(drop),
                )
            },
        )
}

fn baseline() -> impl Strategy<Value = ModelConfig> {
    (0usize..6, 0usize..6, any::<bool>(), any::<bool>()).prop_map(|(l, h, linear, sub)| {
        if linear {
            ModelConfig::Linear(LinearConfig::new(l, h).with_subtract_last(sub))
        } else {
            ModelConfig::Repeat(RepeatConfig::new(l, h))
        }
    })
}

fn check(cfg: &ModelConfig) -> Result<(), TestCaseError> {
    let device = Device::flex();
    match cfg.validate() {
        Err(Error::InvalidConfig { what, reason }) => {
            prop_assert!(
                FIELDS.contains(&what.as_str()),
                "unknown field {what:?} ({reason})"
            );
            prop_assert!(cfg.init(&device).is_err(), "init accepted what validate refused");
        }
        Err(other) => prop_assert!(false, "not an InvalidConfig: {other}"),
        Ok(()) => {
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let model = cfg.init(&device).expect("validated");
                let x = Tensor::<3>::random(
                    [1, cfg.lookback(), 2],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    &device,
                );
                model.forecast(x).dims()
            }));
            match built {
                Ok(dims) => prop_assert_eq!(dims, [1, cfg.horizon(), 2]),
                Err(_) => prop_assert!(false, "a validated configuration panicked: {cfg:?}"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn spacetime_configs_are_refused_by_name_or_build(cfg in spacetime()) {
        check(&cfg)?;
    }

    #[test]
    fn simba_configs_are_refused_by_name_or_build(cfg in simba()) {
        check(&cfg)?;
    }

    #[test]
    fn chimera_configs_are_refused_by_name_or_build(cfg in chimera()) {
        check(&cfg)?;
    }

    #[test]
    fn baseline_configs_are_refused_by_name_or_build(cfg in baseline()) {
        check(&cfg)?;
    }

    /// JSON overrides of any shape: an error naming a setting, or a valid configuration.
    #[test]
    fn overrides_never_panic(
        family in prop::sample::select(ModelFamily::ALL.to_vec()),
        key in prop::sample::select(vec!["d_model", "lookback", "dropout", "diff_orders", "nope", "rho"]),
        value in prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
            Just(serde_json::json!([1, 2])),
            Just(serde_json::Value::Null),
        ],
    ) {
        let patch = serde_json::json!({ key: value });
        match family.default_config(8, 2).with_overrides(Some(&patch)) {
            Ok(cfg) => prop_assert!(cfg.validate().is_ok()),
            Err(Error::InvalidConfig { what, .. }) => {
                prop_assert!(FIELDS.contains(&what.as_str()) || what == key, "{what}")
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}

/// The cases that reached `init` and panicked in a training worker before validation mirrored
/// `init`: SpaceTime with look-back 1, and an empty moving-average window range.
#[test]
fn configurations_that_used_to_panic_are_refused_by_name() {
    let named = |cfg: SpaceTimeConfig| match ModelConfig::SpaceTime(cfg).validate() {
        Err(Error::InvalidConfig { what, .. }) => what,
        other => panic!("{other:?}"),
    };
    assert_eq!(named(SpaceTimeConfig::statecast_default(1, 4)), "lookback");
    assert_eq!(
        named(SpaceTimeConfig::statecast_default(16, 4).with_min_avg_window(0)),
        "min_avg_window"
    );
    assert_eq!(
        named(
            SpaceTimeConfig::statecast_default(16, 4)
                .with_diff_orders(vec![])
                .with_n_ma_residual(0)
        ),
        "diff_orders"
    );
    let patch = serde_json::json!({"d_model": 65});
    let err = ModelFamily::Spacetime
        .default_config(16, 4)
        .with_overrides(Some(&patch))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid first_n_kernels: d_model 65 must be a multiple of first_n_kernels 8 × first_n_heads 8"
    );
}
