//! Bad files give an error naming the file and the problem, never a panic.
// Tests match the one expected error variant and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
mod ingest_util;

use std::path::Path;

use ingest_util::*;
use statecast_pipelines::Error;
use statecast_pipelines::sink::{WriteOptions, write_arrow_ipc, write_parquet};
use statecast_pipelines::source::{DatasetSpec, Format, load, scan};

fn err(path: &Path) -> Error {
    let e = load(&DatasetSpec::wide(path)).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains(&path.display().to_string())
            || !matches!(e, Error::EmptyFile { .. } | Error::CorruptFile { .. }),
        "{shown}"
    );
    // scan reports the same kind of error.
    let s = scan(&DatasetSpec::wide(path)).and_then(|mut s| s.try_fold((), |(), c| c.map(|_| ())));
    assert!(s.is_err(), "scan accepted {path:?}");
    e
}

#[test]
fn empty_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["e.csv", "e.parquet", "e.arrow", "e.csv.gz"] {
        let p = write(dir.path(), name, "");
        assert!(
            matches!(err(&p), Error::EmptyFile { ref path } if path == &p),
            "{name}"
        );
    }
    let p = write(dir.path(), "header_only.csv", "date,x\n");
    assert!(matches!(err(&p), Error::EmptyFile { .. }));
    let p = write_gz(dir.path(), "empty_inside.csv.gz", "");
    assert!(matches!(err(&p), Error::EmptyFile { .. }));
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.parquet", "date,x\n2020-01-01,1\n");
    match err(&p) {
        Error::CorruptFile { path, format, .. } => {
            assert_eq!((path.as_path(), format), (p.as_path(), "parquet"))
        }
        other => panic!("{other:?}"),
    }
    let p = write(dir.path(), "x.arrow", "this is not arrow at all");
    assert!(matches!(
        err(&p),
        Error::CorruptFile {
            format: "arrow-ipc",
            ..
        }
    ));
    // A parquet file read as Arrow IPC.
    let pq = dir.path().join("real.parquet");
    write_parquet(&fixture(), &pq, &WriteOptions::default()).unwrap();
    let as_ipc = load(&DatasetSpec {
        format: Some(Format::ArrowIpc),
        ..DatasetSpec::wide(&pq)
    })
    .unwrap_err();
    assert!(
        matches!(
            as_ipc,
            Error::CorruptFile {
                format: "arrow-ipc",
                ..
            }
        ),
        "{as_ipc:?}"
    );
}

#[test]
fn truncated_parquet_and_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("full.parquet");
    write_parquet(&fixture(), &pq, &WriteOptions::default()).unwrap();
    let bytes = std::fs::read(&pq).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    match err(&cut) {
        Error::CorruptFile { path, format, reason } => {
            assert_eq!((path.as_path(), format), (cut.as_path(), "parquet"));
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let ipc = dir.path().join("full.arrow");
    write_arrow_ipc(&fixture(), &ipc, &WriteOptions::default()).unwrap();
    let bytes = std::fs::read(&ipc).unwrap();
    let cut = dir.path().join("cut.arrow");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        err(&cut),
        Error::CorruptFile {
            format: "arrow-ipc",
            ..
        }
    ));
}

#[test]
fn corrupt_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..2000)
        .map(|i| format!("2020-01-01 00:{:02}:{:02},{i}\n", i / 60 % 60, i % 60))
        .collect();
    let good = write_gz(dir.path(), "good.csv.gz", &format!("date,x\n{body}"));
    assert!(load(&DatasetSpec::wide(&good)).is_ok());
    let mut bytes = std::fs::read(&good).unwrap();
    // Truncated stream.
    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(
        matches!(err(&cut), Error::CorruptFile { format: "gzip", .. }),
        "{:?}",
        err(&cut)
    );
    // Garbage in the deflate data.
    for b in &mut bytes[20..60] {
        *b ^= 0x5a;
    }
    let bad = dir.path().join("bad.csv.gz");
    std::fs::write(&bad, &bytes).unwrap();
    match err(&bad) {
        Error::CorruptFile { path, format, .. } => {
            assert_eq!((path.as_path(), format), (bad.as_path(), "gzip"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ragged_csv_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "r.csv",
        "date,x,y\n2020-01-01,1,2\n2020-01-02,1,2\n2020-01-03,1\n",
    );
    match err(&p) {
        Error::CorruptFile { format, reason, .. } => {
            assert_eq!(format, "csv");
            assert!(
                reason.contains("data row 2") && reason.contains("line 4"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_format_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.json", "{}");
    assert!(matches!(
        load(&DatasetSpec::wide(&p)),
        Err(Error::UnknownFormat { .. })
    ));
    let gone = dir.path().join("gone.csv");
    assert!(matches!(load(&DatasetSpec::wide(&gone)), Err(Error::Io { .. })));
}
