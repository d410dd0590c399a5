//! Hand-built frames for the `prep_*` tests (no file readers involved).
#![allow(dead_code, unreachable_pub)]

use statecast_pipelines::{Frequency, Series, TimeFrame};

/// Hourly, in microseconds.
pub const HOUR: i64 = 3_600_000_000;

/// A deterministic, distinct value for (series, variate, time).
pub fn value(s: usize, c: usize, t: usize) -> f32 {
    (s * 100_000 + c * 10_000) as f32 + t as f32 * 0.5 + ((t * 7 + c * 3) % 11) as f32
}

/// A frame of `lens.len()` series with `n_var` variates on an hourly grid.
pub fn frame(lens: &[usize], n_var: usize) -> TimeFrame {
    TimeFrame {
        columns: (0..n_var).map(|c| format!("v{c}")).collect(),
        series: lens
            .iter()
            .enumerate()
            .map(|(s, &n)| Series {
                id: format!("s{s}"),
                timestamps: (0..n as i64).map(|t| 1_467_331_200_000_000 + t * HOUR).collect(),
                values: (0..n_var)
                    .map(|c| (0..n).map(|t| value(s, c, t)).collect())
                    .collect(),
                labels: None,
            })
            .collect(),
        frequency: Some(Frequency::from_micros(HOUR)),
    }
}

/// Rows `[from, from + n)` of series `s`, [n, variates] row-major.
pub fn slice(frame: &TimeFrame, s: usize, from: usize, n: usize) -> Vec<f32> {
    let series = &frame.series[s];
    (from..from + n)
        .flat_map(|t| series.values.iter().map(move |col| col[t]))
        .collect()
}
