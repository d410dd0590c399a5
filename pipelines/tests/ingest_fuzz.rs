//! Fuzzing file ingestion: mutated CSV, gzip, Parquet and Arrow IPC bytes must give a frame or
//! an error, never a panic, a hang or an unbounded allocation.
//!
//! Seeds: the valid files [`seeds`] writes (every format, wide and long, labels, NaNs) plus the
//! small hand-made corpus in `tests/corpus/` (awkward CSVs). Each case applies a few byte-level
//! mutations (bit flips, overwrites, truncation, insertion, deletion, duplication of a range,
//! splicing another seed's bytes) and loads the result with several specs (`load` and `scan`,
//! every missing policy, drop/resample options).
//!
//! CI runs 256 cases per format; a longer run is
//! `PROPTEST_CASES=20000 cargo test --workspace --test ingest_fuzz --release` (see SECURITY.md
//! for the last long run and its duration). A case that takes longer than [`CASE_DEADLINE`] fails.
// Tests match the expected error variants and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
mod ingest_util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use statecast_pipelines::frame::TimeFrame;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::sink::{WriteOptions, write_arrow_ipc, write_csv, write_parquet};
use statecast_pipelines::source::{DatasetSpec, NonIncreasing, Resample, load, scan};

/// The longest one mutated file may take through every spec.
const CASE_DEADLINE: Duration = Duration::from_secs(20);

/// One byte-level edit.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
    /// Replace a range with bytes from another seed (structure from elsewhere).
    Splice {
        at: usize,
        seed: usize,
        from: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        3 => (at, prop_oneof![Just(b','), Just(b'\n'), Just(b'"'), Just(0u8), Just(0xff), any::<u8>()])
            .prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        2 => (at, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (at, 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (at, 1usize..256).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        1 => (at, any::<usize>(), any::<usize>(), 1usize..128)
            .prop_map(|(at, seed, from, len)| Mutation::Splice { at, seed, from, len }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation], seeds: &[Vec<u8>]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match m {
            Mutation::FlipBit { at, bit } if n > 0 => bytes[at % n] ^= 1 << bit,
            Mutation::Set { at, byte } if n > 0 => bytes[at % n] = *byte,
            Mutation::Truncate { at } => bytes.truncate(pos(*at)),
            Mutation::Insert { at, bytes: b } => {
                let p = pos(*at);
                bytes.splice(p..p, b.iter().copied());
            }
            Mutation::Delete { at, len } => {
                let p = pos(*at);
                let end = (p + len).min(n);
                bytes.drain(p..end);
            }
            Mutation::Duplicate { at, len } => {
                let p = pos(*at);
                let end = (p + len).min(n);
                let copy = bytes[p..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Mutation::Splice { at, seed, from, len } => {
                let other = &seeds[seed % seeds.len()];
                if !other.is_empty() {
                    let f = from % other.len();
                    let chunk = &other[f..(f + len).min(other.len())];
                    let p = pos(*at);
                    let end = (p + chunk.len()).min(n);
                    bytes.splice(p..end, chunk.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes
}

/// A frame whose files exercise every column kind: two series, labels, NaNs, awkward names.
fn frame() -> TimeFrame {
    let mut f = ingest_util::fixture();
    // Keep the seeds small: mutations should land in structure, not only in data pages.
    for s in &mut f.series {
        s.timestamps.truncate(12);
        for v in &mut s.values {
            v.truncate(12);
        }
        if let Some(l) = &mut s.labels {
            l.truncate(12);
        }
    }
    f
}

/// Valid files of `extension` (`csv`, `parquet`, `arrow`): the bytes of each.
fn seeds(extension: &str) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let f = frame();
    let mut out = Vec::new();
    let single = TimeFrame {
        series: vec![f.series[0].clone()],
        ..f.clone()
    };
    let variants = [
        (f.clone(), WriteOptions::default()),
        (
            single,
            WriteOptions {
                series_column: None,
                label_column: None,
                row_group_rows: 5,
                ..WriteOptions::default()
            },
        ),
    ];
    for (i, (frame, opts)) in variants.iter().enumerate() {
        let path = dir.path().join(format!("seed{i}.{extension}"));
        match extension {
            "csv" => write_csv(frame, &path, opts).unwrap(),
            "parquet" => write_parquet(frame, &path, opts).unwrap(),
            "arrow" => write_arrow_ipc(frame, &path, opts).unwrap(),
            other => panic!("no writer for {other}"),
        }
        out.push(std::fs::read(&path).unwrap());
    }
    if extension == "csv" {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&corpus)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        names.sort();
        assert!(
            !names.is_empty(),
            "the CSV corpus in {} is empty",
            corpus.display()
        );
        out.extend(names.iter().map(|p| std::fs::read(p).unwrap()));
    }
    out
}

/// The specs every mutated file is read with.
fn specs(path: &Path) -> Vec<DatasetSpec> {
    let wide = DatasetSpec::wide(path);
    let written = DatasetSpec::for_written(path, &WriteOptions::default(), MissingPolicy::Mask);
    vec![
        wide.clone(),
        DatasetSpec {
            missing: MissingPolicy::Linear,
            non_increasing: NonIncreasing::Drop,
            ..written.clone()
        },
        DatasetSpec {
            missing: MissingPolicy::ForwardFill,
            resample: Resample::Mean,
            ..written.clone()
        },
        DatasetSpec {
            batch_rows: 3,
            ..written
        },
        DatasetSpec::long(path, "series_id", "timestamp", "a"),
    ]
}

/// Load `bytes` (written as `name`) with every spec; panics (a failure) only on a broken
/// invariant or a case slower than [`CASE_DEADLINE`].
fn exercise(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let started = Instant::now();
    for spec in specs(&path) {
        if let Ok((frame, _report)) = load(&spec) {
            check_frame(&frame, &spec);
        }
        if let Ok(mut s) = scan(&spec) {
            for chunk in s.by_ref().take(64) {
                if chunk.is_err() {
                    break;
                }
            }
        }
    }
    assert!(
        started.elapsed() < CASE_DEADLINE,
        "a {}-byte {name} took {:?}",
        bytes.len(),
        started.elapsed()
    );
}

/// What `load` promises for any frame it returns.
fn check_frame(frame: &TimeFrame, spec: &DatasetSpec) {
    assert!(!frame.series.is_empty());
    for s in &frame.series {
        assert_eq!(s.values.len(), frame.columns.len());
        assert!(
            s.timestamps.windows(2).all(|w| w[0] < w[1]),
            "timestamps not increasing"
        );
        for v in &s.values {
            assert_eq!(v.len(), s.timestamps.len());
            assert!(
                v.iter().all(|x| !x.is_infinite()),
                "an infinite value was accepted"
            );
            if spec.missing != MissingPolicy::Mask {
                assert!(
                    v.iter().all(|x| x.is_finite()),
                    "a missing value survived {:?}",
                    spec.missing
                );
            }
        }
        if let Some(l) = &s.labels {
            assert_eq!(l.len(), s.timestamps.len());
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn fuzz(extension: &'static str) {
    let seeds = seeds(extension);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("fuzz.{extension}");
    // The unmutated seeds load: the multi-series file with its written columns, the
    // single-series one (no series or label column) as a plain wide file.
    let path = dir.path().join(&name);
    std::fs::write(&path, &seeds[0]).unwrap();
    load(&DatasetSpec::for_written(
        &path,
        &WriteOptions::default(),
        MissingPolicy::Mask,
    ))
    .unwrap_or_else(|e| panic!("seed 0 ({extension}) does not load: {e}"));
    std::fs::write(&path, &seeds[1]).unwrap();
    load(&DatasetSpec {
        missing: MissingPolicy::Mask,
        ..DatasetSpec::wide(&path)
    })
    .unwrap_or_else(|e| panic!("seed 1 ({extension}) does not load: {e}"));
    let n = seeds.len();
    proptest!(config(), |(seed in 0..n, mutations in prop::collection::vec(mutation(), 1..6))| {
        let bytes = apply(seeds[seed].clone(), &mutations, &seeds);
        exercise(dir.path(), &name, &bytes);
    });
}

#[test]
fn mutated_csv_never_panics() {
    fuzz("csv");
}

#[test]
fn mutated_parquet_never_panics() {
    fuzz("parquet");
}

#[test]
fn mutated_arrow_ipc_never_panics() {
    fuzz("arrow");
}

#[test]
fn mutated_gzip_csv_never_panics() {
    use std::io::Write;
    let seeds: Vec<Vec<u8>> = seeds("csv")
        .into_iter()
        .map(|csv| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&csv).unwrap();
            e.finish().unwrap()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let n = seeds.len();
    proptest!(config(), |(seed in 0..n, mutations in prop::collection::vec(mutation(), 1..4))| {
        let bytes = apply(seeds[seed].clone(), &mutations, &seeds);
        exercise(dir.path(), "fuzz.csv.gz", &bytes);
    });
}

#[test]
fn arbitrary_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    proptest!(config(), |(bytes in prop::collection::vec(any::<u8>(), 0..2048), ext in prop_oneof![Just("csv"), Just("parquet"), Just("arrow"), Just("csv.gz")])| {
        exercise(dir.path(), &format!("noise.{ext}"), &bytes);
    });
}

/// Regression (found by this fuzzer): one flipped bit in a block length of the IPC footer made
/// the reader allocate ~4 GiB zeroed and page-fault for seconds before failing.
#[test]
fn an_ipc_block_longer_than_the_file_is_refused_at_once() {
    let mut bytes = seeds("arrow")[0].clone();
    let at = 11_273_807_138_866_586_162usize % bytes.len();
    bytes[at] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.arrow");
    std::fs::write(&path, &bytes).unwrap();
    for spec in specs(&path) {
        let started = Instant::now();
        match load(&spec) {
            Err(statecast_pipelines::Error::CorruptFile { reason, .. }) => {
                assert!(reason.contains("reaches past the end"), "{reason}");
            }
            other => panic!("expected CorruptFile, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
