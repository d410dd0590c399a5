//! Behaviour of the built-in sensor simulator (`statecast_pipelines::simulate`).
use std::collections::BTreeSet;
use std::time::Instant;

use statecast_pipelines::frame::{Frequency, to_micros};
use statecast_pipelines::simulate::{
    AnomalyKind, AnomalySegment, SimConfig, Simulation, read_segments_csv, sensors, simulate, variate_names,
    write_segments_csv, write_segments_json, write_simulation,
};
use statecast_pipelines::{Error, Series};

// ---------------------------------------------------------------- helpers

fn sim(cfg: &SimConfig) -> Simulation {
    simulate(cfg).expect("valid config")
}

fn column<'a>(s: &'a Series, columns: &[String], name: &str) -> &'a [f32] {
    let k = columns
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &s.values[k]
}

/// Pearson correlation of `x[t]` and `y[t]` over pairs where both are finite.
fn corr(x: &[f32], y: &[f32]) -> f64 {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (f64::from(a), f64::from(b)))
        .collect();
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (a, b)| (sx + a / n, sy + b / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in &pairs {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Correlation of `driven[t]` with `driver[t - lag]`, for `t` in `range` (with `range.start >= lag`).
fn lagged_corr(driver: &[f32], driven: &[f32], lag: usize, range: std::ops::Range<usize>) -> f64 {
    corr(&driver[range.start - lag..range.end - lag], &driven[range])
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        0.5 * (xs[m - 1] + xs[m])
    }
}

/// 1.4826 × MAD of the finite values.
fn robust_std(x: &[f32]) -> f64 {
    let mut v: Vec<f64> = x
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    let med = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    1.482_6 * median(&mut dev)
}

fn finite(x: &[f32]) -> Vec<f64> {
    x.iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect()
}

fn std_dev(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64).sqrt()
}

fn series_of<'a>(sim: &'a Simulation, seg: &AnomalySegment) -> &'a Series {
    sim.frame.get(&seg.series).expect("segment names a series")
}

/// The same config without anomalies: the clean signal under the same seed.
fn clean_twin(cfg: &SimConfig) -> Simulation {
    sim(&SimConfig {
        anomaly_rate: 0.0,
        ..cfg.clone()
    })
}

fn only(kind: AnomalyKind, rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        anomaly_kinds: vec![kind],
        anomaly_rate: rate,
        seed,
        ..SimConfig::default()
    }
}

fn bits(s: &Simulation) -> Vec<Vec<Vec<u32>>> {
    s.frame
        .series
        .iter()
        .map(|s| {
            s.values
                .iter()
                .map(|c| c.iter().map(|v| v.to_bits()).collect())
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------- determinism

#[test]
fn same_seed_gives_bitwise_identical_frame_and_segments() {
    let cfg = SimConfig::default();
    let (a, b) = (sim(&cfg), sim(&cfg));
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.segments, b.segments);
    for (x, y) in a.frame.series.iter().zip(&b.frame.series) {
        assert_eq!(
            (&x.id, &x.timestamps, &x.labels),
            (&y.id, &y.timestamps, &y.labels)
        );
    }
    // A config that went through JSON simulates the same data.
    let back: SimConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(bits(&sim(&back)), bits(&a));
}

#[test]
fn different_seed_gives_different_data() {
    let a = sim(&SimConfig::default());
    let b = sim(&SimConfig {
        seed: 43,
        ..SimConfig::default()
    });
    assert_ne!(a.segments, b.segments);
    let (sa, sb) = (&a.frame.series[0].values[0], &b.frame.series[0].values[0]);
    let same = sa
        .iter()
        .zip(sb)
        .filter(|(x, y)| x.to_bits() == y.to_bits())
        .count();
    assert!(
        same < sa.len() / 100,
        "{same} identical load readings of {}",
        sa.len()
    );
    // Series of one simulation differ from each other too.
    assert_ne!(bits(&a)[0], bits(&a)[1]);
}

// ---------------------------------------------------------------- shape and time axis

#[test]
fn shapes_columns_and_regular_timestamps() {
    for cfg in [
        SimConfig::default(),
        SimConfig {
            series: 2,
            variates: 9,
            length: 24 * 10,
            frequency: Frequency::minutes(60),
            start: chrono::NaiveDate::from_ymd_opt(2023, 3, 26)
                .unwrap()
                .and_hms_opt(1, 30, 0)
                .unwrap(),
            anomaly_rate: 10.0,
            ..SimConfig::default()
        },
    ] {
        let s = sim(&cfg);
        let f = &s.frame;
        assert_eq!(f.frequency, Some(cfg.frequency));
        assert_eq!(f.columns, variate_names(cfg.variates));
        assert_eq!(f.columns[..2], ["load", "temp"]);
        assert_eq!(f.series.len(), cfg.series);
        let ids: Vec<&str> = f.series.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids[..2], ["machine_01", "machine_02"]);
        for series in &f.series {
            assert_eq!(series.timestamps.len(), cfg.length);
            assert_eq!(series.timestamps[0], to_micros(cfg.start));
            assert!(
                series
                    .timestamps
                    .windows(2)
                    .all(|w| w[1] - w[0] == cfg.frequency.micros)
            );
            assert_eq!(series.values.len(), cfg.variates);
            assert!(series.values.iter().all(|c| c.len() == cfg.length));
            assert_eq!(series.labels.as_ref().map(Vec::len), Some(cfg.length));
            assert!(
                series
                    .values
                    .iter()
                    .flatten()
                    .all(|v| v.is_nan() || v.is_finite())
            );
        }
    }
}

#[test]
fn readings_are_physically_plausible() {
    let s = sim(&SimConfig {
        anomaly_rate: 0.0,
        ..SimConfig::default()
    });
    let c = &s.frame.columns;
    for series in &s.frame.series {
        let within = |name: &str, lo: f32, hi: f32| {
            let col = column(series, c, name);
            let bad = col.iter().find(|v| v.is_finite() && !(lo..=hi).contains(*v));
            assert!(
                bad.is_none(),
                "{} {name}: {bad:?} outside [{lo}, {hi}]",
                series.id
            );
        };
        within("load", -5.0, 150.0);
        within("temp", 10.0, 80.0);
        within("power", 0.5, 30.0);
        within("fan", 100.0, 2500.0);
        within("vib", 0.0, 6.0);
        within("pressure", 4.0, 8.0);
    }
}

// ---------------------------------------------------------------- labels and segments

#[test]
fn labels_are_exactly_the_union_of_segments() {
    for seed in [42, 7] {
        let cfg = SimConfig {
            seed,
            anomaly_rate: 4.0,
            ..SimConfig::default()
        };
        let s = sim(&cfg);
        assert!(!s.segments.is_empty());
        let names: BTreeSet<&str> = s.frame.columns.iter().map(String::as_str).collect();
        for series in &s.frame.series {
            let mut expected = vec![0u8; cfg.length];
            let mine: Vec<&AnomalySegment> = s.segments.iter().filter(|g| g.series == series.id).collect();
            for g in &mine {
                assert!(g.start < g.end && g.end <= cfg.length, "{g:?}");
                assert!(
                    expected[g.start..g.end].iter().all(|&l| l == 0),
                    "overlap at {g:?}"
                );
                expected[g.start..g.end].fill(1);
                assert_eq!(
                    g.start_time,
                    statecast_pipelines::frame::format_micros(series.timestamps[g.start])
                );
                let end = series.timestamps[g.end - 1] + cfg.frequency.micros;
                assert_eq!(g.end_time, statecast_pipelines::frame::format_micros(end));
                assert!(!g.variates.is_empty() && g.variates.iter().all(|v| names.contains(v.as_str())));
            }
            assert!(
                mine.windows(2).all(|w| w[0].end <= w[1].start),
                "segments sorted by start"
            );
            assert_eq!(series.labels.as_deref(), Some(&expected[..]), "{}", series.id);
        }
    }
}

#[test]
fn every_requested_kind_appears_and_only_those() {
    let s = sim(&SimConfig::default());
    let kinds: BTreeSet<AnomalyKind> = s.segments.iter().map(|g| g.kind).collect();
    assert_eq!(kinds, AnomalyKind::ALL.into_iter().collect());
    // Segment counts follow the rate: round(1.5 * 2016 / 1000) = 3 per series.
    assert_eq!(s.segments.len(), 9);

    let want = [AnomalyKind::Drift, AnomalyKind::StuckSensor];
    let s = sim(&SimConfig {
        anomaly_kinds: want.to_vec(),
        length: 8000,
        ..SimConfig::default()
    });
    let kinds: BTreeSet<AnomalyKind> = s.segments.iter().map(|g| g.kind).collect();
    assert_eq!(kinds, want.into_iter().collect());

    let s = sim(&SimConfig {
        anomaly_rate: 0.0,
        ..SimConfig::default()
    });
    assert!(s.segments.is_empty());
    assert!(
        s.frame
            .series
            .iter()
            .all(|x| x.labels.as_ref().unwrap().iter().all(|&l| l == 0))
    );
}

#[test]
fn clean_prefix_has_no_anomaly() {
    for frac in [0.5, 0.7, 0.0] {
        let cfg = SimConfig {
            train_fraction_clean: frac,
            anomaly_rate: 5.0,
            ..SimConfig::default()
        };
        let s = sim(&cfg);
        let clean = cfg.clean_rows();
        assert_eq!(clean, (frac * cfg.length as f64) as usize);
        assert!(s.segments.iter().all(|g| g.start >= clean.max(1)), "frac {frac}");
        for series in &s.frame.series {
            assert!(series.labels.as_ref().unwrap()[..clean].iter().all(|&l| l == 0));
        }
    }
}

#[test]
fn anomalies_change_only_their_own_rows_and_sensors() {
    let cfg = SimConfig {
        anomaly_rate: 4.0,
        missing_rate: 0.01,
        ..SimConfig::default()
    };
    let (anom, clean) = (sim(&cfg), clean_twin(&cfg));
    for (a, c) in anom.frame.series.iter().zip(&clean.frame.series) {
        let segs: Vec<&AnomalySegment> = anom.segments.iter().filter(|g| g.series == a.id).collect();
        for (k, name) in anom.frame.columns.iter().enumerate() {
            for t in 0..cfg.length {
                let (x, y) = (a.values[k][t], c.values[k][t]);
                match segs.iter().find(|g| g.contains(t)) {
                    None => assert_eq!(x.to_bits(), y.to_bits(), "{} {name} row {t}", a.id),
                    // Unaffected sensors keep their clean reading (which the twin may have lost
                    // to a missing value: there are none inside segments).
                    Some(g) if !g.variates.contains(name) => assert!(y.is_nan() || x == y),
                    Some(_) => assert!(x.is_finite()),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- missing values

#[test]
fn missing_fraction_matches_rate_and_avoids_row0_and_anomalies() {
    for rate in [0.002, 0.02] {
        let cfg = SimConfig {
            missing_rate: rate,
            length: 8064,
            ..SimConfig::default()
        };
        let s = sim(&cfg);
        let (mut eligible, mut missing) = (0usize, 0usize);
        for series in &s.frame.series {
            let labels = series.labels.as_ref().unwrap();
            for col in &series.values {
                assert!(!col[0].is_nan(), "row 0 is never missing");
                for t in 1..cfg.length {
                    if labels[t] == 1 {
                        assert!(
                            !col[t].is_nan(),
                            "{} row {t}: missing inside an anomaly",
                            series.id
                        );
                    } else {
                        eligible += 1;
                        missing += usize::from(col[t].is_nan());
                    }
                }
            }
        }
        let expected = rate * eligible as f64;
        let tolerance = 4.0 * expected.sqrt(); // 4 binomial standard deviations
        assert!(
            (missing as f64 - expected).abs() < tolerance,
            "rate {rate}: {missing} missing, expected {expected}"
        );
    }
    let s = sim(&SimConfig {
        missing_rate: 0.0,
        ..SimConfig::default()
    });
    assert!(
        s.frame
            .series
            .iter()
            .flat_map(|x| x.values.iter().flatten())
            .all(|v| !v.is_nan())
    );
}

// ---------------------------------------------------------------- signal structure

#[test]
fn driven_sensors_follow_their_driver_at_the_configured_lag() {
    let info = sensors(10);
    let driven: Vec<_> = info.iter().filter(|s| s.driver.is_some()).collect();
    assert!(driven.iter().any(|s| s.lag > 0), "some coupling has a real lag");
    for seed in [42, 1, 2, 3, 4] {
        let cfg = SimConfig {
            seed,
            variates: 10,
            ..SimConfig::default()
        };
        let s = sim(&cfg);
        let clean = cfg.clean_rows();
        for series in &s.frame.series {
            for d in &driven {
                let driver = column(series, &s.frame.columns, d.driver.as_deref().unwrap());
                let target = column(series, &s.frame.columns, &d.name);
                let max_lag = 20;
                let xc: Vec<f64> = (0..=max_lag)
                    .map(|l| lagged_corr(driver, target, l, max_lag..clean))
                    .collect();
                let peak = (0..=max_lag).max_by(|&a, &b| xc[a].total_cmp(&xc[b])).unwrap();
                assert_eq!(
                    peak, d.lag,
                    "seed {seed} {} {}<-{:?}: {xc:.3?}",
                    series.id, d.name, d.driver
                );
                assert!(
                    xc[peak] > 0.6,
                    "seed {seed} {} {}: peak corr {:.3}",
                    series.id,
                    d.name,
                    xc[peak]
                );
            }
        }
    }
}

#[test]
fn load_has_daily_seasonality() {
    for seed in [42, 5, 6] {
        let cfg = SimConfig {
            seed,
            ..SimConfig::default()
        };
        let s = sim(&cfg);
        let day = cfg.rows_per_day() as usize;
        let clean = cfg.clean_rows();
        for series in &s.frame.series {
            let load = &column(series, &s.frame.columns, "load")[..clean];
            let acf = |lag: usize| corr(&load[..clean - lag], &load[lag..]);
            let (daily, half) = (acf(day), acf(day / 2));
            assert!(daily > 0.5, "seed {seed} {}: acf(1 day) = {daily:.3}", series.id);
            assert!(
                daily > half + 0.5,
                "seed {seed} {}: acf(day) {daily:.3} vs acf(half day) {half:.3}",
                series.id
            );
        }
    }
}

#[test]
fn measurement_noise_grows_with_load() {
    // Pressure does not depend on the load, but its noise does: its rough (second-difference)
    // part is larger in the busiest quarter of the rows than in the quietest.
    let cfg = SimConfig {
        anomaly_rate: 0.0,
        missing_rate: 0.0,
        length: 8064,
        ..SimConfig::default()
    };
    let s = sim(&cfg);
    for series in &s.frame.series {
        let load = column(series, &s.frame.columns, "load");
        let p = column(series, &s.frame.columns, "pressure");
        let mut rows: Vec<usize> = (1..cfg.length - 1).collect();
        rows.sort_by(|&a, &b| load[a].total_cmp(&load[b]));
        let rough = |ts: &[usize]| {
            let d2: Vec<f64> = ts
                .iter()
                .map(|&t| f64::from(p[t + 1] - 2.0 * p[t] + p[t - 1]))
                .collect();
            std_dev(&d2)
        };
        let q = rows.len() / 4;
        let (low, high) = (rough(&rows[..q]), rough(&rows[rows.len() - q..]));
        assert!(
            high > 1.3 * low,
            "{}: rough std {high:.4} (busy) vs {low:.4} (quiet)",
            series.id
        );
    }
}

// ---------------------------------------------------------------- anomaly kinds

#[test]
fn spikes_exceed_five_robust_std() {
    for seed in [42, 8] {
        let cfg = only(AnomalyKind::Spike, 4.0, seed);
        let (s, clean) = (sim(&cfg), clean_twin(&cfg));
        assert!(!s.segments.is_empty());
        for g in &s.segments {
            assert!((1..=3).contains(&g.len()) && g.variates.len() == 1, "{g:?}");
            let series = series_of(&s, g);
            let twin = series_of(&clean, g);
            let x = column(series, &s.frame.columns, &g.variates[0]);
            let c = column(twin, &s.frame.columns, &g.variates[0]);
            let scale = robust_std(&x[..cfg.clean_rows()]);
            let jump = (g.start..g.end)
                .map(|t| f64::from(x[t] - c[t]).abs())
                .fold(0.0, f64::max);
            assert!(jump > 5.0 * scale, "{g:?}: spike {jump} vs robust std {scale}");
            // It also stands out from the reading just before it.
            let before = (0..g.start).rev().map(|t| x[t]).find(|v| v.is_finite()).unwrap();
            let rise = (g.start..g.end)
                .map(|t| f64::from(x[t] - before).abs())
                .fold(0.0, f64::max);
            assert!(rise > 4.0 * scale, "{g:?}: rise {rise} vs robust std {scale}");
        }
    }
}

#[test]
fn level_shift_and_drift_have_their_shape() {
    for kind in [AnomalyKind::LevelShift, AnomalyKind::Drift] {
        let cfg = only(kind, 3.0, 11);
        let (s, clean) = (sim(&cfg), clean_twin(&cfg));
        assert!(!s.segments.is_empty());
        for g in &s.segments {
            let x = column(series_of(&s, g), &s.frame.columns, &g.variates[0]);
            let c = column(series_of(&clean, g), &s.frame.columns, &g.variates[0]);
            let scale = robust_std(&x[..cfg.clean_rows()]);
            // The twin may miss a reading where the anomalous run has none.
            let delta: Vec<f64> = (g.start..g.end)
                .filter(|&t| c[t].is_finite())
                .map(|t| f64::from(x[t]) - f64::from(c[t]))
                .collect();
            let last = delta[delta.len() - 1].abs() / scale;
            assert!((30..=200).contains(&g.len()));
            if kind == AnomalyKind::LevelShift {
                assert!(delta.iter().all(|d| (d - delta[0]).abs() < 1e-3 * scale), "{g:?}");
                assert!((0.95..2.05).contains(&last), "{g:?}: shift {last} robust std");
            } else {
                let ramp = delta.windows(2).all(|w| w[1].abs() >= w[0].abs() - 1e-3 * scale);
                assert!(ramp, "{g:?}: not a ramp");
                assert!(
                    (1.45..3.05).contains(&last),
                    "{g:?}: drift reaches {last} robust std"
                );
            }
        }
    }
}

#[test]
fn variance_burst_raises_the_noise() {
    let cfg = only(AnomalyKind::VarianceBurst, 4.0, 12);
    let (s, clean) = (sim(&cfg), clean_twin(&cfg));
    assert!(!s.segments.is_empty());
    for g in &s.segments {
        for v in &g.variates {
            let x = column(series_of(&s, g), &s.frame.columns, v);
            let c = column(series_of(&clean, g), &s.frame.columns, v);
            let rough = |y: &[f32]| {
                let d: Vec<f64> = (g.start + 1..g.end)
                    .filter(|&t| y[t].is_finite() && y[t - 1].is_finite())
                    .map(|t| f64::from(y[t] - y[t - 1]))
                    .collect();
                std_dev(&d)
            };
            let (burst, normal) = (rough(x), rough(c));
            assert!(burst > 1.5 * normal, "{g:?} {v}: diff std {burst} vs {normal}");
        }
    }
}

#[test]
fn broken_correlation_decouples_a_driven_sensor() {
    let info = sensors(6);
    let mut checked = 0;
    for seed in [42, 13, 14] {
        let cfg = only(AnomalyKind::BrokenCorrelation, 3.0, seed);
        let (s, clean) = (sim(&cfg), clean_twin(&cfg));
        for g in &s.segments {
            let sensor = info.iter().find(|i| i.name == g.variates[0]).unwrap();
            let driver = sensor
                .driver
                .as_deref()
                .expect("broken correlation hits a driven sensor");
            let series = series_of(&s, g);
            let x = column(series, &s.frame.columns, &sensor.name);
            let d = column(series, &s.frame.columns, driver);
            let inside = lagged_corr(d, x, sensor.lag, g.start..g.end);
            let before = lagged_corr(d, x, sensor.lag, sensor.lag..cfg.clean_rows());
            let twin = column(series_of(&clean, g), &s.frame.columns, &sensor.name);
            let was = lagged_corr(d, twin, sensor.lag, g.start..g.end);
            assert!(
                before > 0.6 && was > 0.6,
                "{g:?}: clean correlation {before:.3} / {was:.3}"
            );
            assert!(
                inside < was - 0.4 && inside < 0.5,
                "{g:?}: corr inside {inside:.3}, clean {was:.3}"
            );
            // Same marginal level and spread as the clean readings it replaces.
            let seg = |y: &[f32]| -> Vec<f64> { finite(&y[g.start..g.end]) };
            let (a, b) = (seg(x), seg(twin));
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            assert!(
                (mean(&a) - mean(&b)).abs() < 0.05 * std_dev(&b).max(1e-6) + 1e-3,
                "{g:?}"
            );
            assert!((std_dev(&a) / std_dev(&b) - 1.0).abs() < 0.1, "{g:?}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} segments");
}

#[test]
fn stuck_sensor_is_constant_at_its_last_reading() {
    let cfg = only(AnomalyKind::StuckSensor, 4.0, 15);
    let (s, clean) = (sim(&cfg), clean_twin(&cfg));
    assert!(!s.segments.is_empty());
    for g in &s.segments {
        let x = column(series_of(&s, g), &s.frame.columns, &g.variates[0]);
        let c = column(series_of(&clean, g), &s.frame.columns, &g.variates[0]);
        let inside: Vec<f64> = x[g.start..g.end].iter().map(|&v| f64::from(v)).collect();
        assert_eq!(std_dev(&inside), 0.0, "{g:?}");
        // The value it sticks at is the clean reading just before the segment.
        let twin_prev = c[g.start - 1];
        assert!(twin_prev.is_nan() || inside[0] as f32 == twin_prev, "{g:?}");
        assert!(
            std_dev(&finite(&c[g.start..g.end])) > 0.0,
            "the clean twin is not constant"
        );
    }
}

// ---------------------------------------------------------------- config validation

#[test]
fn invalid_configs_are_rejected() {
    let d = SimConfig::default;
    let bad = [
        ("no series", SimConfig { series: 0, ..d() }),
        ("one variate", SimConfig { variates: 1, ..d() }),
        (
            "shorter than two days",
            SimConfig {
                length: 2 * 288 - 1,
                ..d()
            },
        ),
        (
            "daily frequency",
            SimConfig {
                frequency: Frequency::minutes(24 * 60),
                ..d()
            },
        ),
        (
            "missing rate 1",
            SimConfig {
                missing_rate: 1.0,
                ..d()
            },
        ),
        (
            "negative missing rate",
            SimConfig {
                missing_rate: -0.1,
                ..d()
            },
        ),
        (
            "NaN missing rate",
            SimConfig {
                missing_rate: f64::NAN,
                ..d()
            },
        ),
        (
            "negative anomaly rate",
            SimConfig {
                anomaly_rate: -1.0,
                ..d()
            },
        ),
        (
            "NaN anomaly rate",
            SimConfig {
                anomaly_rate: f64::NAN,
                ..d()
            },
        ),
        (
            "clean fraction 1",
            SimConfig {
                train_fraction_clean: 1.0,
                ..d()
            },
        ),
        (
            "no kinds",
            SimConfig {
                anomaly_kinds: vec![],
                ..d()
            },
        ),
        (
            "repeated kind",
            SimConfig {
                anomaly_kinds: vec![AnomalyKind::Spike, AnomalyKind::Spike],
                ..d()
            },
        ),
        (
            "too many anomalies",
            SimConfig {
                anomaly_rate: 200.0,
                ..d()
            },
        ),
    ];
    for (what, cfg) in bad {
        match simulate(&cfg) {
            Err(Error::InvalidConfig { .. }) => {}
            Err(e) => panic!("{what}: wrong error {e}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
    // Boundary cases that are fine.
    simulate(&SimConfig {
        length: 2 * 288,
        variates: 2,
        series: 1,
        ..d()
    })
    .unwrap();
    simulate(&SimConfig {
        anomaly_kinds: vec![],
        anomaly_rate: 0.0,
        ..d()
    })
    .unwrap();
    simulate(&SimConfig {
        frequency: Frequency::minutes(360),
        length: 8,
        ..d()
    })
    .unwrap();
}

// ---------------------------------------------------------------- files and speed

#[test]
fn segments_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(&SimConfig {
        anomaly_rate: 5.0,
        ..SimConfig::default()
    });
    let csv = dir.path().join("anomalies.csv");
    write_segments_csv(&s.segments, &csv).unwrap();
    assert_eq!(read_segments_csv(&csv).unwrap(), s.segments);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("series,kind,start,end,start_time,end_time,variates\n"),
        "{text}"
    );
    // Overwriting works and leaves no temporary file behind.
    write_segments_csv(&s.segments[..1], &csv).unwrap();
    assert_eq!(read_segments_csv(&csv).unwrap(), s.segments[..1]);
    let json = dir.path().join("anomalies.json");
    write_segments_json(&s.segments, &json).unwrap();
    let back: Vec<AnomalySegment> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(back, s.segments);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Writing into a missing directory is an I/O error naming the file.
    let err = write_segments_csv(&s.segments, &dir.path().join("nope/anomalies.csv")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn write_simulation_writes_parquet_csv_and_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let s = sim(&SimConfig {
        series: 2,
        length: 600,
        anomaly_rate: 10.0,
        ..SimConfig::default()
    });
    let files = write_simulation(&s, &out, true).unwrap();
    assert_eq!(files.sensors_parquet, out.join("sensors.parquet"));
    let parquet = std::fs::read(&files.sensors_parquet).unwrap();
    assert!(parquet.len() > 1000, "{} bytes", parquet.len());
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));
    let csv = std::fs::read_to_string(files.sensors_csv.as_ref().unwrap()).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("series_id,timestamp,load,temp,power,fan,vib,pressure,label")
    );
    assert_eq!(csv.lines().count(), 1 + 2 * 600);
    assert_eq!(read_segments_csv(&files.anomalies_csv).unwrap(), s.segments);
    let files = write_simulation(&s, &out, false).unwrap();
    assert!(files.sensors_csv.is_none());
}

#[test]
fn simulation_is_fast() {
    let cfg = SimConfig {
        length: 10_000,
        ..SimConfig::default()
    };
    let t = Instant::now();
    let s = sim(&cfg);
    let took = t.elapsed();
    eprintln!("simulate 3 x 6 x 10k: {took:?}");
    assert_eq!(s.frame.n_rows(), 30_000);
    assert!(took.as_secs_f64() < 1.0, "3 x 6 x 10k took {took:?}");
}

/// `offset` continues the same machines: without anomalies or gaps, a stretch simulated at
/// offset A equals rows A.. of one simulation A + B rows long (values and timestamps); its
/// anomalies are new draws, placed in the stretch only.
#[test]
fn an_offset_stretch_continues_the_same_machines() {
    let quiet = SimConfig {
        length: 3000,
        anomaly_rate: 0.0,
        missing_rate: 0.0,
        ..SimConfig::default()
    };
    let whole = simulate(&quiet).unwrap();
    let later = simulate(&SimConfig {
        length: 1000,
        offset: 2000,
        ..quiet.clone()
    })
    .unwrap();
    for (w, l) in whole.frame.series.iter().zip(&later.frame.series) {
        assert_eq!(w.id, l.id);
        assert_eq!(&w.timestamps[2000..], &l.timestamps[..]);
        for (wc, lc) in w.values.iter().zip(&l.values) {
            assert_eq!(&wc[2000..], &lc[..]);
        }
    }
    let with_anomalies = SimConfig {
        length: 1000,
        offset: 2000,
        anomaly_rate: 3.0,
        ..SimConfig::default()
    };
    let a = simulate(&with_anomalies).unwrap();
    let b = simulate(&SimConfig {
        offset: 0,
        ..with_anomalies.clone()
    })
    .unwrap();
    assert!(!a.segments.is_empty());
    assert!(a.segments.iter().all(|s| s.end <= 1000));
    let places = |s: &statecast_pipelines::simulate::Simulation| -> Vec<(usize, usize)> {
        s.segments.iter().map(|g| (g.start, g.end)).collect()
    };
    assert_ne!(
        places(&a),
        places(&b),
        "a continued stretch draws its own anomalies"
    );
}

#[test]
fn an_offset_past_the_size_bound_is_refused_before_any_work() {
    for offset in [usize::MAX, 200_000_000] {
        let err = simulate(&SimConfig {
            offset,
            ..SimConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("offset + length"), "{err}");
    }
}
