//! The clean (anomaly-free, complete) signal: the latent load of a machine and the sensors that
//! observe it. See the module documentation of [`super`] for the equations.
use std::f64::consts::TAU;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::{DAY_MICROS, SimConfig};
use super::stats::{ar1, normal};
use crate::frame::Micros;

/// Named sensors, in column order; columns beyond these are `sensor_<k>` (k = column index).
const NAMED: [&str; 6] = ["load", "temp", "power", "fan", "vib", "pressure"];

/// Lag (rows) of the temperature behind the load, and half-width of its smoothing kernel.
pub(crate) const TEMP_LAG: usize = 6;
const TEMP_HALF: usize = 2;
/// Lag (rows) of the fan behind the temperature, and half-width of its smoothing kernel.
pub(crate) const FAN_LAG: usize = 3;
const FAN_HALF: usize = 1;
/// Half-width of the kernel of the generic driven sensors `sensor_<k>`.
const AUX_HALF: usize = 1;

/// 1970-01-05 (a Monday) in microseconds: the origin of the weekly phase.
const MONDAY: Micros = 4 * DAY_MICROS;

/// A simulated sensor: its column name, unit and, for a driven sensor, what drives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorInfo {
    /// Column name (`load`, `temp`, …, `sensor_<k>`).
    pub name: String,
    /// Physical unit (`%` of rated load, `degC`, `kW`, `rpm`, `mm/s`, `bar`, `a.u.`).
    pub unit: String,
    /// For a driven sensor, the column it follows; `None` for a free sensor.
    pub driver: Option<String>,
    /// Rows by which a driven sensor lags its driver: the lag at which their
    /// cross-correlation peaks (0 for free sensors).
    pub lag: usize,
}

/// What each column is, internally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Load,
    Temp,
    Power,
    Fan,
    Vib,
    Pressure,
    /// `sensor_<k>` following the load with this lag.
    AuxDriven(usize),
    /// `sensor_<k>` with its own dynamics.
    AuxFree,
}

fn role(k: usize) -> Role {
    match k {
        0 => Role::Load,
        1 => Role::Temp,
        2 => Role::Power,
        3 => Role::Fan,
        4 => Role::Vib,
        5 => Role::Pressure,
        _ => {
            let j = k - NAMED.len();
            if j.is_multiple_of(2) {
                Role::AuxDriven(2 + (j / 2) % 6)
            } else {
                Role::AuxFree
            }
        }
    }
}

/// The column names for `variates` sensors: `load, temp, power, fan, vib, pressure`, then
/// `sensor_6, sensor_7, …`.
pub fn variate_names(variates: usize) -> Vec<String> {
    (0..variates)
        .map(|k| {
            NAMED
                .get(k)
                .map_or_else(|| format!("sensor_{k}"), |n| (*n).to_string())
        })
        .collect()
}

/// Description of the `variates` sensors, in column order. Driven sensors: `temp` follows
/// `load` 6 rows later, `power` and `vib` follow `load` at lag 0, `fan` follows `temp` 3 rows
/// later, and even-numbered extra columns `sensor_6, sensor_8, …` follow `load` with lags 2–7.
/// `load`, `pressure` and odd-numbered extra columns are free.
pub fn sensors(variates: usize) -> Vec<SensorInfo> {
    let names = variate_names(variates);
    (0..variates)
        .map(|k| {
            let (unit, driver, lag) = match role(k) {
                Role::Load => ("%", None, 0),
                Role::Temp => ("degC", Some(0), TEMP_LAG),
                Role::Power => ("kW", Some(0), 0),
                Role::Fan => ("rpm", Some(1), FAN_LAG),
                Role::Vib => ("mm/s", Some(0), 0),
                Role::Pressure => ("bar", None, 0),
                Role::AuxDriven(lag) => ("a.u.", Some(0), lag),
                Role::AuxFree => ("a.u.", None, 0),
            };
            SensorInfo {
                name: names[k].clone(),
                unit: unit.to_string(),
                driver: driver.map(|d: usize| names[d].clone()),
                lag,
            }
        })
        .collect()
}

/// The clean signal of one series.
#[derive(Debug)]
pub(crate) struct CleanSeries {
    /// Sensor readings, [variate][time], with measurement noise, without anomalies or gaps.
    pub(crate) values: Vec<Vec<f64>>,
    /// Standard deviation of the measurement noise, [variate][time].
    pub(crate) noise_std: Vec<Vec<f64>>,
}

/// `U(lo, hi)`.
fn unif(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..hi)
}

/// Causal symmetric triangular smoothing centred `lag` rows back:
/// `y_t = sum_{k=-h..h} w_k x_{t-lag-k}`, `w_k ∝ h+1-|k|`, indices clamped to the series.
/// Its group delay is exactly `lag` rows.
fn lagged_smooth(x: &[f64], lag: usize, half: usize) -> Vec<f64> {
    debug_assert!(lag >= half, "kernel must stay causal");
    let n = x.len() as isize;
    let norm = ((half + 1) * (half + 1)) as f64;
    (0..n)
        .map(|t| {
            (-(half as isize)..=half as isize)
                .map(|k| {
                    let w = (half as isize + 1 - k.abs()) as f64 / norm;
                    w * x[(t - lag as isize - k).clamp(0, n - 1) as usize]
                })
                .sum()
        })
        .collect()
}

/// Fraction of the day, and of the week (from Monday 00:00), elapsed at `ts`.
fn phases(ts: Micros) -> (f64, f64) {
    let day = ts.rem_euclid(DAY_MICROS) as f64 / DAY_MICROS as f64;
    let week = (ts - MONDAY).rem_euclid(7 * DAY_MICROS) as f64 / (7 * DAY_MICROS) as f64;
    (day, week)
}

/// Generate the clean signal of one series on `timestamps`. Draws happen sensor by sensor in
/// column order, so adding columns leaves the earlier ones unchanged.
pub(crate) fn generate(cfg: &SimConfig, timestamps: &[Micros], rng: &mut ChaCha8Rng) -> CleanSeries {
    let n = timestamps.len();
    let t0 = timestamps.first().copied().unwrap_or(0);
    let days: Vec<f64> = timestamps
        .iter()
        .map(|&t| (t - t0) as f64 / DAY_MICROS as f64)
        .collect();
    let (day_phase, week_phase): (Vec<f64>, Vec<f64>) = timestamps.iter().map(|&t| phases(t)).unzip();

    // Latent load.
    let mu = unif(rng, 0.50, 0.58);
    let amp = [
        unif(rng, 0.17, 0.23),
        unif(rng, 0.05, 0.09),
        unif(rng, 0.01, 0.04),
    ];
    let peak = [
        (13.0 + unif(rng, -2.0, 2.0)) / 24.0,
        unif(rng, 0.0, 1.0),
        unif(rng, 0.0, 1.0),
    ];
    let (w1, p1) = (unif(rng, 0.04, 0.07), (2.5 + unif(rng, -0.5, 0.5)) / 7.0);
    let (w2, p2) = (unif(rng, 0.0, 0.03), unif(rng, 0.0, 1.0));
    let slope = unif(rng, -0.003, 0.006);
    let (slow_std, fast_std) = (unif(rng, 0.04, 0.06), unif(rng, 0.03, 0.045));
    let slow = ar1(rng, n, (-1.0f64 / 48.0).exp(), slow_std);
    let fast = ar1(rng, n, (-1.0f64 / 2.5).exp(), fast_std);
    let load: Vec<f64> = (0..n)
        .map(|t| {
            let (d, w) = (day_phase[t], week_phase[t]);
            let daily: f64 = (0..3)
                .map(|h| amp[h] * (TAU * (h + 1) as f64 * (d - peak[h])).cos())
                .sum();
            let weekly = w1 * (TAU * (w - p1)).cos() + w2 * (2.0 * TAU * (w - p2)).cos();
            (mu + daily + weekly + slope * days[t] + slow[t] + fast[t]).max(0.02)
        })
        .collect();
    let hetero: Vec<f64> = load.iter().map(|l| (0.2 + l) / 0.7).collect();

    let mut values = Vec::with_capacity(cfg.variates);
    let mut noise_std = Vec::with_capacity(cfg.variates);
    let mut temp_true: Vec<f64> = Vec::new();
    for k in 0..cfg.variates {
        let (clean, base): (Vec<f64>, f64) = match role(k) {
            Role::Load => (load.iter().map(|l| 100.0 * l).collect(), 1.5),
            Role::Temp => {
                let ambient0 = 22.0 + unif(rng, -2.0, 2.0);
                let gain = unif(rng, 28.0, 36.0);
                let ambient = ar1(rng, n, (-1.0f64 / 288.0).exp(), 0.8);
                let turbulence = ar1(rng, n, (-1.0f64 / 2.0).exp(), 0.35);
                let heat = lagged_smooth(&load, TEMP_LAG, TEMP_HALF);
                temp_true = (0..n)
                    .map(|t| ambient0 + ambient[t] + gain * heat[t] + turbulence[t])
                    .collect();
                (temp_true.clone(), 0.25)
            }
            Role::Power => {
                let (p0, a, b) = (unif(rng, 1.5, 2.5), unif(rng, 8.0, 12.0), unif(rng, 3.0, 6.0));
                (load.iter().map(|l| p0 + a * l + b * l * l).collect(), 0.3)
            }
            Role::Fan => {
                let (f0, gain) = (600.0 + unif(rng, -50.0, 50.0), unif(rng, 35.0, 45.0));
                let cooled = lagged_smooth(&temp_true, FAN_LAG, FAN_HALF);
                (cooled.iter().map(|c| f0 + gain * (c - 25.0)).collect(), 10.0)
            }
            Role::Vib => {
                let (v0, gain, wear) = (
                    0.6 + unif(rng, -0.1, 0.1),
                    unif(rng, 1.5, 2.5),
                    unif(rng, 0.0, 0.01),
                );
                let rough = ar1(rng, n, (-1.0f64 / 6.0).exp(), 0.08);
                (
                    (0..n)
                        .map(|t| v0 + gain * load[t] + wear * days[t] + rough[t])
                        .collect(),
                    0.06,
                )
            }
            Role::Pressure => {
                let (p0, amp, phase) = (
                    6.0 + unif(rng, -0.5, 0.5),
                    unif(rng, 0.15, 0.3),
                    unif(rng, 0.0, 1.0),
                );
                let wander = ar1(rng, n, (-1.0f64 / 24.0).exp(), 0.08);
                let clean = (0..n).map(|t| p0 + amp * (TAU * (day_phase[t] - phase)).cos() + wander[t]);
                (clean.collect(), 0.03)
            }
            Role::AuxDriven(lag) => {
                let (x0, gain) = (10.0 + unif(rng, -2.0, 2.0), unif(rng, 3.0, 6.0));
                let wander = ar1(rng, n, (-1.0f64 / 4.0).exp(), 0.2);
                let driven = lagged_smooth(&load, lag, AUX_HALF);
                ((0..n).map(|t| x0 + gain * driven[t] + wander[t]).collect(), 0.1)
            }
            Role::AuxFree => {
                let (x0, amp, phase) = (
                    50.0 + unif(rng, -5.0, 5.0),
                    unif(rng, 2.0, 4.0),
                    unif(rng, 0.0, 1.0),
                );
                let wander = ar1(rng, n, (-1.0f64 / 36.0).exp(), 1.5);
                let clean = (0..n).map(|t| x0 + amp * (TAU * (day_phase[t] - phase)).cos() + wander[t]);
                (clean.collect(), 0.3)
            }
        };
        let std: Vec<f64> = hetero.iter().map(|h| base * h).collect();
        values.push(clean.iter().zip(&std).map(|(x, s)| x + s * normal(rng)).collect());
        noise_std.push(std);
    }
    CleanSeries { values, noise_std }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_couplings() {
        assert_eq!(variate_names(2), ["load", "temp"]);
        let s = sensors(9);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "load", "temp", "power", "fan", "vib", "pressure", "sensor_6", "sensor_7", "sensor_8"
            ]
        );
        assert_eq!((s[1].driver.as_deref(), s[1].lag), (Some("load"), TEMP_LAG));
        assert_eq!((s[3].driver.as_deref(), s[3].lag), (Some("temp"), FAN_LAG));
        assert_eq!((s[6].driver.as_deref(), s[6].lag), (Some("load"), 2));
        assert_eq!((s[8].driver.as_deref(), s[8].lag), (Some("load"), 3));
        assert!(s[0].driver.is_none() && s[5].driver.is_none() && s[7].driver.is_none());
        // A driven sensor's driver always comes before it.
        for (k, info) in s.iter().enumerate() {
            if let Some(d) = &info.driver {
                assert!(s[..k].iter().any(|o| &o.name == d));
            }
        }
    }

    #[test]
    fn lagged_smooth_delays_an_impulse_by_the_lag() {
        let mut x = vec![0.0; 30];
        x[10] = 1.0;
        let y = lagged_smooth(&x, 6, 2);
        let argmax = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
        assert_eq!(argmax, 16);
        assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(y[16 - 3], 0.0);
        assert_eq!(y[16 + 3], 0.0);
        assert!((y[15] - y[17]).abs() < 1e-12, "kernel is symmetric");
    }

    #[test]
    fn phases_start_on_monday_midnight() {
        // 2024-01-01 00:00 is a Monday.
        let t = crate::frame::to_micros(
            chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        );
        assert_eq!(phases(t), (0.0, 0.0));
        assert_eq!(phases(t + DAY_MICROS / 2), (0.5, 0.5 / 7.0));
    }
}
