//! Scaler: hand-computed statistics, train-only fitting, inverse, persistence, schema checks.
#![allow(clippy::single_range_in_vec_init)]
mod prep_common;

use prep_common::frame;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::split::SplitSpec;
use statecast_pipelines::{Error, Series, TimeFrame};

fn one_series(cols: Vec<Vec<f32>>) -> TimeFrame {
    let n = cols[0].len();
    TimeFrame {
        columns: (0..cols.len()).map(|c| format!("c{c}")).collect(),
        series: vec![Series {
            id: "a".into(),
            timestamps: (0..n as i64).collect(),
            values: cols,
            labels: None,
        }],
        frequency: None,
    }
}

#[test]
fn zscore_uses_population_std_on_train_rows() {
    // Train rows 0..4 of c0 = [1, 2, 3, 4]: mean 2.5, population var 1.25 (sample var would be 5/3).
    let f = one_series(vec![
        vec![1.0, 2.0, 3.0, 4.0, 100.0, -50.0],
        vec![2.0, 2.0, 2.0, 2.0, 9.0, 9.0],
    ]);
    let s = Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..4]).unwrap();
    assert_eq!(s.center, vec![2.5, 2.0]);
    assert!((s.scale[0] - 1.25f32.sqrt()).abs() < 1e-7, "{}", s.scale[0]);
    assert_eq!(s.scale[1], 1.0, "zero spread must become 1");
    let mut g = f.clone();
    s.transform(&mut g).unwrap();
    let z = &g.series[0].values[0];
    assert!((z[0] - (1.0 - 2.5) / 1.25f32.sqrt()).abs() < 1e-6);
    assert!((z[4] - (100.0 - 2.5) / 1.25f32.sqrt()).abs() < 1e-4);
    assert_eq!(g.series[0].values[1][5], 7.0);
}

#[test]
fn zscore_is_pooled_over_series_and_ignores_nan() {
    let mut f = frame(&[50, 30], 2);
    f.series[0].values[0][3] = f32::NAN;
    let s = Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..40, 10..30]).unwrap();
    for c in 0..2 {
        let vals: Vec<f64> = f.series[0].values[c][0..40]
            .iter()
            .chain(&f.series[1].values[c][10..30])
            .filter(|v| !v.is_nan())
            .map(|&v| f64::from(v))
            .collect();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert_eq!(s.center[c], mean as f32, "c{c}");
        assert_eq!(s.scale[c], std as f32, "c{c}");
    }
    let mut g = f.clone();
    s.transform(&mut g).unwrap();
    assert!(g.series[0].values[0][3].is_nan());
}

#[test]
fn robust_scaler_median_and_iqr() {
    // [1..=9, 1000]: median 5.5; q25 = 3.25, q75 = 7.75 (linear) → IQR 4.5, scale 4.5 / 1.349.
    let mut c0: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    c0.push(1000.0);
    let f = one_series(vec![c0, vec![5.0; 10]]);
    let s = Scaler::fit(&f, ScalerKind::Robust, ScalerScope::Global, &[0..10]).unwrap();
    assert_eq!(s.center, vec![5.5, 5.0]);
    assert!((s.scale[0] - 4.5 / 1.349).abs() < 1e-6, "{}", s.scale[0]);
    assert_eq!(s.scale[1], 1.0);
}

#[test]
fn inverse_undoes_transform() {
    // ETT-like magnitudes (values ~ 1–30): f32 round trip within 1e-6 relative.
    let mut f = frame(&[200, 120], 3);
    for (si, s) in f.series.iter_mut().enumerate() {
        for (c, col) in s.values.iter_mut().enumerate() {
            for (t, v) in col.iter_mut().enumerate() {
                *v = 10.0 + 3.0 * si as f32 + c as f32 + 5.0 * (t as f32 * 0.37).sin();
            }
        }
    }
    for kind in [ScalerKind::ZScore, ScalerKind::Robust] {
        for scope in [ScalerScope::Global, ScalerScope::PerSeries] {
            let s = Scaler::fit(&f, kind, scope, &[0..140, 0..84]).unwrap();
            let mut g = f.clone();
            s.transform(&mut g).unwrap();
            assert_ne!(g, f);
            s.inverse(&mut g).unwrap();
            for (a, b) in g.series.iter().zip(&f.series) {
                for (ca, cb) in a.values.iter().zip(&b.values) {
                    for (x, y) in ca.iter().zip(cb) {
                        assert!(
                            ((x - y) / y.abs().max(1.0)).abs() <= 1e-6,
                            "{kind:?} {scope:?}: {x} vs {y}"
                        );
                    }
                }
            }
            // Row-level API agrees with the frame-level one.
            let mut row = vec![
                f.series[1].values[0][5],
                f.series[1].values[1][5],
                f.series[1].values[2][5],
            ];
            let orig = row.clone();
            s.transform_row("s1", &mut row).unwrap();
            let mut h = f.clone();
            s.transform(&mut h).unwrap();
            assert_eq!(
                row,
                vec![
                    h.series[1].values[0][5],
                    h.series[1].values[1][5],
                    h.series[1].values[2][5]
                ]
            );
            s.inverse_rows("s1", &mut row).unwrap();
            for (x, y) in row.iter().zip(&orig) {
                assert!(((x - y) / y.abs().max(1.0)).abs() <= 1e-6);
            }
        }
    }
}

#[test]
fn fit_uses_only_training_rows() {
    let f = frame(&[17420], 2);
    let splits = SplitSpec::EttHourly.frame_ranges(&f, 96).unwrap();
    let a = Scaler::fit_train(&f, ScalerKind::ZScore, ScalerScope::Global, &splits).unwrap();
    let mut g = f.clone();
    for col in &mut g.series[0].values {
        for v in &mut col[8640..] {
            *v = *v * 3.0 + 1000.0;
        }
    }
    let b = Scaler::fit_train(&g, ScalerKind::ZScore, ScalerScope::Global, &splits).unwrap();
    assert_eq!(a, b);
    // …whereas a change inside the training rows does change it.
    g.series[0].values[0][8639] += 1.0e4;
    let c = Scaler::fit_train(&g, ScalerKind::ZScore, ScalerScope::Global, &splits).unwrap();
    assert_ne!(a.center[0], c.center[0]);
    assert_eq!(a.center[1], c.center[1]);
}

#[test]
fn per_series_scope_keeps_stats_per_id() {
    let f = frame(&[100, 100], 1);
    let s = Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::PerSeries, &[0..70, 0..70]).unwrap();
    let (c0, _) = s.stats("s0").unwrap();
    let (c1, _) = s.stats("s1").unwrap();
    assert!((c1[0] - c0[0] - 100_000.0).abs() < 1e-2, "{} {}", c0[0], c1[0]);
    let mut g = f.clone();
    s.transform(&mut g).unwrap();
    for series in &g.series {
        let m: f64 = series.values[0][..70].iter().map(|&v| f64::from(v)).sum::<f64>() / 70.0;
        // Centres are stored as f32: at ~1e5 that is within half an ulp of the data itself.
        assert!(m.abs() < 1e-3, "{m}");
    }
    assert!(matches!(s.stats("unknown"), Err(Error::SchemaMismatch { .. })));
}

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scaler.json");
    let f = frame(&[100, 60], 2);
    for scope in [ScalerScope::Global, ScalerScope::PerSeries] {
        let s = Scaler::fit(&f, ScalerKind::Robust, scope, &[0..70, 0..40]).unwrap();
        s.save(&path).unwrap();
        assert_eq!(Scaler::load(&path).unwrap(), s);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind");
    assert!(matches!(
        Scaler::load(dir.path().join("absent.json")),
        Err(Error::Io { .. })
    ));
    std::fs::write(&path, b"{not json").unwrap();
    assert!(matches!(Scaler::load(&path), Err(Error::Json { .. })));
}

#[test]
fn schema_mismatch_is_an_error() {
    let f = frame(&[50], 2);
    let s = Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..30]).unwrap();
    let mut renamed = f.clone();
    renamed.columns[1] = "other".into();
    assert!(matches!(
        s.transform(&mut renamed),
        Err(Error::SchemaMismatch { .. })
    ));
    let mut wider = frame(&[50], 3);
    assert!(matches!(
        s.transform(&mut wider),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(matches!(
        s.inverse_row("s0", &mut [0.0; 3]),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(matches!(
        s.check_columns(&["v1".into(), "v0".into()]),
        Err(Error::SchemaMismatch { .. })
    ));
}

#[test]
fn fit_rejects_bad_rows() {
    let mut f = frame(&[20], 1);
    assert!(matches!(
        Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..21]),
        Err(Error::TooShort { .. })
    ));
    assert!(matches!(
        Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[]),
        Err(Error::InvalidConfig { .. })
    ));
    f.series[0].values[0][..5].fill(f32::NAN);
    assert!(matches!(
        Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..5]),
        Err(Error::TooShort { .. })
    ));
    f.series[0].values[0][6] = f32::INFINITY;
    assert!(matches!(
        Scaler::fit(&f, ScalerKind::ZScore, ScalerScope::Global, &[0..10]),
        Err(Error::NonFinite { row: 6, .. })
    ));
}
