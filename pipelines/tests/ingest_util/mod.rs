//! Helpers shared by the `ingest_*` integration tests.
#![allow(dead_code, unreachable_pub)]
use std::path::{Path, PathBuf};

use statecast_pipelines::frame::{Frequency, Series, TimeFrame};
use statecast_pipelines::source::{DatasetSpec, IngestReport, load};

/// 2016-07-01 00:00:00 in microseconds.
pub const T0: i64 = 1_467_331_200_000_000;
/// One hour in microseconds.
pub const HOUR: i64 = 3_600_000_000;

/// Write `content` to `dir/name`.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Gzip `content` into `dir/name`.
pub fn write_gz(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::io::Write;
    let p = dir.join(name);
    let mut e =
        flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
    e.write_all(content.as_bytes()).unwrap();
    e.finish().unwrap();
    p
}

/// Load with a spec tweak.
pub fn load_with(
    path: &Path,
    tweak: impl FnOnce(&mut DatasetSpec),
) -> statecast_pipelines::Result<(TimeFrame, IngestReport)> {
    let mut spec = DatasetSpec::wide(path);
    tweak(&mut spec);
    load(&spec)
}

/// Two hourly series, three variates with awkward values, NaNs (masked) and labels.
pub fn fixture() -> TimeFrame {
    let odd = [
        0.1f32,
        -1.0e-38,
        3.402_823_5e38,
        1.0 / 3.0,
        -0.0,
        7.0,
        1e-45,
        123_456.79,
    ];
    let mk = |id: &str, n: usize, shift: usize| Series {
        id: id.into(),
        timestamps: (0..n as i64).map(|i| T0 + i * HOUR).collect(),
        values: (0..3)
            .map(|c| {
                (0..n)
                    .map(|t| {
                        if (t + c + shift) % 5 == 3 {
                            f32::NAN
                        } else {
                            odd[(t * 3 + c + shift) % odd.len()] * (1.0 + t as f32)
                        }
                    })
                    .map(|v| if v.is_infinite() { 1.5 } else { v })
                    .collect()
            })
            .collect(),
        labels: Some((0..n).map(|t| u8::from(t % 4 == 1)).collect()),
    };
    TimeFrame {
        columns: vec!["a".into(), "b b".into(), "c,1".into()],
        series: vec![mk("s-1", 30, 0), mk("s,2", 25, 2)],
        frequency: Some(Frequency::from_micros(HOUR)),
    }
}

/// Frames equal with values compared bitwise (any NaN equals any NaN).
pub fn assert_same(a: &TimeFrame, b: &TimeFrame) {
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.frequency, b.frequency);
    assert_eq!(a.series.len(), b.series.len());
    for (x, y) in a.series.iter().zip(&b.series) {
        assert_eq!(x.id, y.id);
        assert_eq!(x.timestamps, y.timestamps, "series {}", x.id);
        assert_eq!(x.labels, y.labels, "series {}", x.id);
        assert_eq!(x.values.len(), y.values.len());
        for (c, (u, v)) in x.values.iter().zip(&y.values).enumerate() {
            assert_eq!(u.len(), v.len());
            for (t, (p, q)) in u.iter().zip(v).enumerate() {
                assert!(
                    p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()),
                    "series {} col {c} row {t}: {p:?} vs {q:?}",
                    x.id
                );
            }
        }
    }
}

/// Values of one column of one series, NaN shown as `None`.
pub fn col(f: &TimeFrame, series: usize, c: usize) -> Vec<Option<f32>> {
    f.series[series].values[c]
        .iter()
        .map(|v| (!v.is_nan()).then_some(*v))
        .collect()
}
