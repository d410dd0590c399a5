//! [`simulate`]: assemble the clean signal, anomalies, labels and missing values of every series.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::anomaly::{self, AnomalySegment};
use super::config::SimConfig;
use super::signal::{self, sensors};
use super::stats::robust_std;
use crate::Result;
use crate::frame::{Series, TimeFrame, format_micros, to_micros};

/// The simulated dataset and the ground truth of its anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The series `machine_01, machine_02, …`, with columns from [`super::variate_names`],
    /// frequency set, `NaN` for missing values and `labels = Some(..)`: 1 exactly on the rows
    /// of [`Self::segments`], 0 elsewhere.
    pub frame: TimeFrame,
    /// The inserted anomalies, by series then start row.
    pub segments: Vec<AnomalySegment>,
}

/// Independent random streams, so that e.g. changing the anomaly settings leaves the clean
/// signal and the missing-value mask unchanged.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Signal = 1,
    DealKinds = 2,
    Anomalies = 3,
    Missing = 4,
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of `stream` for series `index`.
fn rng_for(seed: u64, stream: Stream, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ mix(((stream as u64) << 48) ^ index as u64)))
}

/// The seed of the draws that are new in a continued stretch (anomalies, missing values): the
/// seed itself at offset 0, so files without an offset are unchanged.
fn stretch_seed(cfg: &SimConfig) -> u64 {
    if cfg.offset == 0 {
        cfg.seed
    } else {
        cfg.seed ^ mix(cfg.offset as u64 ^ 0x5EED_0FF5_E700_0000)
    }
}

/// Simulate the dataset described by `cfg` (validated first: an unusable setting gives
/// [`crate::Error::InvalidConfig`]). Deterministic: the same config gives a bitwise identical
/// result.
pub fn simulate(cfg: &SimConfig) -> Result<Simulation> {
    cfg.validate()?;
    let sensors = sensors(cfg.variates);
    let columns: Vec<String> = sensors.iter().map(|s| s.name.clone()).collect();
    let drivers: Vec<Option<(usize, usize)>> = sensors
        .iter()
        .map(|s| {
            s.driver
                .as_ref()
                .and_then(|d| columns.iter().position(|c| c == d))
                .map(|d| (d, s.lag))
        })
        .collect();
    let step = cfg.frequency.micros;
    let off = cfg.offset;
    // The machines' whole life up to the end of this stretch; the stretch is its last `length` rows.
    let life: Vec<i64> = (0..(off + cfg.length) as i64)
        .map(|t| to_micros(cfg.start) + t * step)
        .collect();
    let timestamps: Vec<i64> = life[off..].to_vec();
    let t0 = timestamps[0];
    let new_seed = stretch_seed(cfg);
    let scale_rows = if cfg.clean_rows() as f64 >= cfg.rows_per_day() {
        cfg.clean_rows()
    } else {
        cfg.length
    };
    let width = cfg.series.to_string().len().max(2);
    let dealt = anomaly::deal_kinds(cfg, &mut rng_for(new_seed, Stream::DealKinds, 0));

    let mut series = Vec::with_capacity(cfg.series);
    let mut segments = Vec::new();
    for (i, kinds) in dealt.iter().enumerate() {
        let id = format!("machine_{:0width$}", i + 1);
        let mut clean = signal::generate(cfg, &life, &mut rng_for(cfg.seed, Stream::Signal, i));
        for col in clean.values.iter_mut().chain(clean.noise_std.iter_mut()) {
            col.drain(..off);
        }
        let scale: Vec<f64> = clean
            .values
            .iter()
            .map(|v| robust_std(&v[..scale_rows]))
            .collect();

        let mut rng = rng_for(new_seed, Stream::Anomalies, i);
        let planned = anomaly::place(cfg, kinds, &sensors, &id, &mut rng)?;
        let mut values = clean.values;
        anomaly::inject(
            &planned,
            &mut values,
            &clean.noise_std,
            &scale,
            &drivers,
            &mut rng,
        );

        let mut labels = vec![0u8; cfg.length];
        for p in &planned {
            labels[p.start..p.end].fill(1);
        }
        // One uniform per cell (after row 0) whatever the labels, so the mask outside the
        // segments does not depend on where the segments are.
        let mut rng = rng_for(new_seed, Stream::Missing, i);
        let values: Vec<Vec<f32>> = values
            .into_iter()
            .map(|col| {
                col.into_iter()
                    .enumerate()
                    .map(|(t, x)| {
                        let drop = t > 0 && rng.random::<f64>() < cfg.missing_rate;
                        if drop && labels[t] == 0 {
                            f32::NAN
                        } else {
                            x as f32
                        }
                    })
                    .collect()
            })
            .collect();

        segments.extend(planned.into_iter().map(|p| AnomalySegment {
            series: id.clone(),
            kind: p.kind,
            start: p.start,
            end: p.end,
            start_time: format_micros(t0 + p.start as i64 * step),
            end_time: format_micros(t0 + p.end as i64 * step),
            variates: p.variates.iter().map(|&v| columns[v].clone()).collect(),
        }));
        series.push(Series {
            id,
            timestamps: timestamps.clone(),
            values,
            labels: Some(labels),
        });
    }
    Ok(Simulation {
        frame: TimeFrame {
            columns,
            series,
            frequency: Some(cfg.frequency),
        },
        segments,
    })
}
