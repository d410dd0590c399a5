//! Anomaly kinds, their placement after the clean prefix, and their injection into a clean
//! signal. Magnitudes are relative to each sensor's robust standard deviation (`1.4826 * MAD`).
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::SimConfig;
use super::signal::SensorInfo;
use super::stats::{ar1, mean_std, normal};
use crate::{Error, Result};

/// Fewest clean rows between two anomaly segments.
pub(crate) const MIN_GAP: usize = 12;

/// Lag-1 autocorrelation of the independent process that replaces a sensor during a
/// [`AnomalyKind::BrokenCorrelation`].
const BROKEN_RHO: f64 = 0.9;

/// A kind of anomaly. Text form (serde, [`FromStr`], [`fmt::Display`]) is snake_case:
/// `spike`, `level_shift`, `drift`, `variance_burst`, `broken_correlation`, `stuck_sensor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// 1–3 rows of one sensor displaced by ±6–10 robust std.
    Spike,
    /// One sensor offset by ±1–2 robust std for 30–200 rows.
    LevelShift,
    /// One sensor ramping linearly away from normal, reaching ±1.5–3 robust std at the end of
    /// its 30–200 rows, then snapping back.
    Drift,
    /// Measurement noise of one or two sensors ×5 for 20–100 rows.
    VarianceBurst,
    /// A driven sensor stops following its driver for 80–200 rows: it is replaced by an
    /// independent AR(1) process with the segment's own mean and standard deviation, made exactly
    /// uncorrelated with its lagged driver over the segment.
    BrokenCorrelation,
    /// One sensor frozen at its last reading before the segment for 20–150 rows.
    StuckSensor,
}

impl AnomalyKind {
    /// Every kind, in declaration order.
    pub const ALL: [AnomalyKind; 6] = [
        AnomalyKind::Spike,
        AnomalyKind::LevelShift,
        AnomalyKind::Drift,
        AnomalyKind::VarianceBurst,
        AnomalyKind::BrokenCorrelation,
        AnomalyKind::StuckSensor,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Spike => "spike",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::Drift => "drift",
            AnomalyKind::VarianceBurst => "variance_burst",
            AnomalyKind::BrokenCorrelation => "broken_correlation",
            AnomalyKind::StuckSensor => "stuck_sensor",
        }
    }

    /// Inclusive range of segment lengths, in rows.
    pub fn duration_range(self) -> (usize, usize) {
        match self {
            AnomalyKind::Spike => (1, 3),
            AnomalyKind::LevelShift | AnomalyKind::Drift => (30, 200),
            AnomalyKind::VarianceBurst => (20, 100),
            AnomalyKind::BrokenCorrelation => (80, 200),
            AnomalyKind::StuckSensor => (20, 150),
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AnomalyKind {
    type Err = Error;

    /// Case-insensitive; `-` is accepted for `_` (`level-shift`).
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        AnomalyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| {
                let known: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "anomaly kind",
                    format!("unknown kind {s:?} (expected one of: {})", known.join(", ")),
                )
            })
    }
}

/// One inserted anomaly: rows `start..end` of a series, labelled 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalySegment {
    /// Series id (`machine_01`, …).
    pub series: String,
    /// What was inserted.
    pub kind: AnomalyKind,
    /// First row of the segment (0-based row within its series, inclusive).
    pub start: usize,
    /// Row after the last row of the segment (exclusive).
    pub end: usize,
    /// Timestamp of row `start`, `YYYY-MM-DD HH:MM:SS`.
    pub start_time: String,
    /// Timestamp of row `end` (exclusive: the first normal row after the segment), same format.
    pub end_time: String,
    /// Names of the affected sensors (all other sensors behave normally on these rows, although
    /// the whole row is labelled anomalous).
    pub variates: Vec<String>,
}

impl AnomalySegment {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for an empty segment (never produced by the simulator).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `row` lies in the segment.
    pub fn contains(&self, row: usize) -> bool {
        (self.start..self.end).contains(&row)
    }
}

/// A segment before it is given names and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub(crate) kind: AnomalyKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Affected columns, ascending.
    pub(crate) variates: Vec<usize>,
}

/// Deal the kinds over all segments of all series: round-robin over `cfg.anomaly_kinds`,
/// shuffled, then cut into one chunk of [`SimConfig::segments_per_series`] per series.
pub(crate) fn deal_kinds(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Vec<Vec<AnomalyKind>> {
    let per = cfg.segments_per_series();
    if per == 0 || cfg.anomaly_kinds.is_empty() {
        return vec![Vec::new(); cfg.series];
    }
    let mut all: Vec<AnomalyKind> = (0..per * cfg.series)
        .map(|i| cfg.anomaly_kinds[i % cfg.anomaly_kinds.len()])
        .collect();
    all.shuffle(rng);
    all.chunks(per).map(<[AnomalyKind]>::to_vec).collect()
}

/// Place the segments of one series: random lengths, random order-preserving positions in
/// `[region start, length)`, at least [`MIN_GAP`] rows apart, and the affected sensors.
pub(crate) fn place(
    cfg: &SimConfig,
    kinds: &[AnomalyKind],
    sensors: &[SensorInfo],
    series_id: &str,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Planned>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let durations: Vec<usize> = kinds
        .iter()
        .map(|k| {
            let (lo, hi) = k.duration_range();
            rng.random_range(lo..=hi)
        })
        .collect();
    let region_start = cfg.anomaly_region_start();
    let region = cfg.length - region_start;
    let needed = durations.iter().sum::<usize>() + (kinds.len() - 1) * MIN_GAP;
    if needed > region {
        return Err(Error::invalid(
            "simulation anomaly_rate",
            format!(
                "series `{series_id}`: {} anomaly segments need {needed} rows (with gaps of \
                 {MIN_GAP}) but only {region} rows follow the clean prefix; lower anomaly_rate or \
                 train_fraction_clean, or raise length",
                kinds.len()
            ),
        ));
    }
    let driven: Vec<usize> = (0..sensors.len())
        .filter(|&k| sensors[k].driver.is_some())
        .collect();
    let mut planned = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        let variates = match kind {
            AnomalyKind::BrokenCorrelation => vec![driven[rng.random_range(0..driven.len())]],
            AnomalyKind::VarianceBurst if sensors.len() > 1 && rng.random_bool(0.5) => {
                let a = rng.random_range(0..sensors.len());
                let b = (a + rng.random_range(1..sensors.len())) % sensors.len();
                let mut v = vec![a, b];
                v.sort_unstable();
                v
            }
            AnomalyKind::Spike
            | AnomalyKind::LevelShift
            | AnomalyKind::Drift
            | AnomalyKind::VarianceBurst
            | AnomalyKind::StuckSensor => vec![rng.random_range(0..sensors.len())],
        };
        planned.push(Planned {
            kind,
            start: 0,
            end: 0,
            variates,
        });
    }
    // Spread the slack over the n+1 gaps (before, between, after) with uniform cut points.
    let slack = region - needed;
    let mut cuts: Vec<usize> = (0..kinds.len()).map(|_| rng.random_range(0..=slack)).collect();
    cuts.sort_unstable();
    let mut pos = region_start;
    let mut used_slack = 0;
    for (i, p) in planned.iter_mut().enumerate() {
        pos += cuts[i] - used_slack;
        used_slack = cuts[i];
        p.start = pos;
        p.end = pos + durations[i];
        pos = p.end + MIN_GAP;
    }
    Ok(planned)
}

/// Insert the planned anomalies into `values` ([variate][time], clean), in place.
/// `noise_std` is the measurement-noise std ([variate][time]), `scale` the robust std of each
/// sensor on clean data and `drivers[k]` the `(driver column, lag)` of a driven sensor `k`.
/// Rows outside the segments are left untouched.
pub(crate) fn inject(
    planned: &[Planned],
    values: &mut [Vec<f64>],
    noise_std: &[Vec<f64>],
    scale: &[f64],
    drivers: &[Option<(usize, usize)>],
    rng: &mut ChaCha8Rng,
) {
    for p in planned {
        let len = p.end - p.start;
        for &v in &p.variates {
            let sigma = scale[v];
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let last = values[v][p.start.saturating_sub(1)];
            // The lagged driver over the segment (only needed for a broken correlation).
            let driver: Vec<f64> = match (p.kind, drivers[v]) {
                (AnomalyKind::BrokenCorrelation, Some((d, lag))) => (p.start..p.end)
                    .map(|t| values[d][t.saturating_sub(lag)])
                    .collect(),
                _ => Vec::new(),
            };
            let x = &mut values[v][p.start..p.end];
            match p.kind {
                AnomalyKind::Spike => {
                    let m = sign * rng.random_range(6.0..10.0) * sigma;
                    for xi in x.iter_mut() {
                        *xi += m * rng.random_range(0.9..1.0);
                    }
                }
                AnomalyKind::LevelShift => {
                    let m = sign * rng.random_range(1.0..2.0) * sigma;
                    x.iter_mut().for_each(|xi| *xi += m);
                }
                AnomalyKind::Drift => {
                    let m = sign * rng.random_range(1.5..3.0) * sigma;
                    for (r, xi) in x.iter_mut().enumerate() {
                        *xi += m * (r + 1) as f64 / len as f64;
                    }
                }
                AnomalyKind::VarianceBurst => {
                    // Independent extra noise with variance 24 s^2: total std 5 s.
                    let extra = 24f64.sqrt();
                    for (xi, s) in x.iter_mut().zip(&noise_std[v][p.start..p.end]) {
                        *xi += extra * s * normal(rng);
                    }
                }
                AnomalyKind::BrokenCorrelation => {
                    let (mean, std) = mean_std(x);
                    let z = decoupled(ar1(rng, len, BROKEN_RHO, 1.0), &driver);
                    for (xi, zi) in x.iter_mut().zip(&z) {
                        *xi = mean + std * zi;
                    }
                }
                AnomalyKind::StuckSensor => x.iter_mut().for_each(|xi| *xi = last),
            }
        }
    }
}

/// `z` made exactly uncorrelated with `driver` (least-squares residual of `z` on `[1, driver]`;
/// an empty or constant `driver` only centres `z`), then scaled to unit standard deviation.
/// Over a short segment two smooth independent processes often correlate by chance; removing
/// that chance correlation makes every broken-correlation segment unambiguous.
fn decoupled(mut z: Vec<f64>, driver: &[f64]) -> Vec<f64> {
    let (zm, _) = mean_std(&z);
    z.iter_mut().for_each(|v| *v -= zm);
    if driver.len() == z.len() {
        let (dm, ds) = mean_std(driver);
        if ds > 0.0 {
            let dc: Vec<f64> = driver.iter().map(|d| d - dm).collect();
            let beta =
                z.iter().zip(&dc).map(|(a, b)| a * b).sum::<f64>() / dc.iter().map(|b| b * b).sum::<f64>();
            z.iter_mut().zip(&dc).for_each(|(a, b)| *a -= beta * b);
        }
    }
    let (_, zs) = mean_std(&z);
    let zs = if zs > 0.0 { zs } else { 1.0 };
    z.iter_mut().for_each(|v| *v /= zs);
    z
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::simulate::signal::sensors;

    #[test]
    fn kind_text_round_trip() {
        for k in AnomalyKind::ALL {
            assert_eq!(k.to_string().parse::<AnomalyKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(
            "Level-Shift".parse::<AnomalyKind>().unwrap(),
            AnomalyKind::LevelShift
        );
        assert!(matches!(
            "wobble".parse::<AnomalyKind>(),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn dealing_covers_every_kind_once_there_are_enough_segments() {
        let cfg = SimConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dealt = deal_kinds(&cfg, &mut rng);
        assert_eq!(dealt.len(), 3);
        assert!(dealt.iter().all(|d| d.len() == 3));
        for k in AnomalyKind::ALL {
            assert!(dealt.iter().flatten().any(|&d| d == k), "{k} missing");
        }
    }

    #[test]
    fn placement_is_ordered_gapped_and_inside_the_region() {
        let cfg = SimConfig {
            anomaly_rate: 8.0,
            ..SimConfig::default()
        };
        let s = sensors(cfg.variates);
        for seed in 0..50 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let kinds: Vec<AnomalyKind> = (0..16).map(|i| AnomalyKind::ALL[i % 6]).collect();
            let p = place(&cfg, &kinds, &s, "m", &mut rng).unwrap();
            assert_eq!(p.len(), 16);
            assert!(p[0].start >= cfg.clean_rows());
            assert!(p.last().unwrap().end <= cfg.length);
            for w in p.windows(2) {
                assert!(w[1].start >= w[0].end + MIN_GAP);
            }
            for q in &p {
                let (lo, hi) = q.kind.duration_range();
                assert!((lo..=hi).contains(&(q.end - q.start)));
                if q.kind == AnomalyKind::BrokenCorrelation {
                    assert!(s[q.variates[0]].driver.is_some());
                }
            }
        }
    }

    #[test]
    fn too_many_segments_is_an_invalid_config() {
        let cfg = SimConfig {
            anomaly_rate: 400.0,
            ..SimConfig::default()
        };
        let kinds = vec![AnomalyKind::LevelShift; cfg.segments_per_series()];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let err = place(&cfg, &kinds, &sensors(6), "m", &mut rng).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    what: "simulation anomaly_rate",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn injection_shapes() {
        let n = 400;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let base: Vec<Vec<f64>> = (0..2)
            .map(|_| (0..n).map(|t| (t as f64 * 0.1).sin()).collect())
            .collect();
        let noise = vec![vec![0.1; n]; 2];
        let mk = |kind, start, end| Planned {
            kind,
            start,
            end,
            variates: vec![1],
        };
        let plan = [
            mk(AnomalyKind::Spike, 10, 12),
            mk(AnomalyKind::LevelShift, 30, 60),
            mk(AnomalyKind::Drift, 80, 120),
            mk(AnomalyKind::StuckSensor, 140, 170),
            mk(AnomalyKind::BrokenCorrelation, 200, 300),
            mk(AnomalyKind::VarianceBurst, 320, 390),
        ];
        let mut v = base.clone();
        inject(
            &plan,
            &mut v,
            &noise,
            &[1.0, 1.0],
            &[None, Some((0, 3))],
            &mut rng,
        );
        assert_eq!(v[0], base[0], "untouched sensor");
        let d: Vec<f64> = (0..n).map(|t| v[1][t] - base[1][t]).collect();
        let inside = |t: usize| plan.iter().any(|p| (p.start..p.end).contains(&t));
        assert!(
            (0..n).filter(|&t| !inside(t)).all(|t| d[t] == 0.0),
            "only segment rows change"
        );
        assert!(d[10].abs() >= 5.4 && d[11].abs() >= 5.4 && d[10].signum() == d[11].signum());
        assert!(d[30..60].iter().all(|x| (x - d[30]).abs() < 1e-12) && (1.0..2.0).contains(&d[30].abs()));
        assert!(d[119].abs() >= 1.5 && (d[80] / d[119] - 1.0 / 40.0).abs() < 1e-9);
        assert!(v[1][140..170].iter().all(|&x| x == base[1][139]));
        let (m0, s0) = mean_std(&base[1][200..300]);
        let (m1, s1) = mean_std(&v[1][200..300]);
        assert!(
            (m0 - m1).abs() < 1e-9 && (s0 - s1).abs() < 1e-9,
            "same marginal mean/std"
        );
        let lagged: Vec<f64> = (200..300).map(|t| v[0][t - 3]).collect();
        let (lm, _) = mean_std(&lagged);
        let cov: f64 = (200..300).map(|t| (v[1][t] - m1) * (v[0][t - 3] - lm)).sum();
        assert!(cov.abs() < 1e-9, "uncorrelated with the lagged driver: {cov}");
        let (_, burst) = mean_std(&d[320..390]);
        assert!((burst / (0.1 * 24f64.sqrt()) - 1.0).abs() < 0.3, "{burst}");
    }
}
