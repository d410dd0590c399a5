//! Label files of the public anomaly benchmarks, which keep labels apart from the values:
//! SMD `test_label/machine-X-Y.txt` (one 0/1 per line, no header) and ASD
//! `omi-K_test_label.csv` (header `label`, one 0/1 per line). The value files themselves read
//! with the ordinary loader (SMD: `--no-header --frequency 1min`; ASD: header `m00..m18`, no time
//! column; SMAP: `--series-column channel --label-column label`). NAB keeps its labels as time
//! windows per file in one `combined_windows.json`.
use std::collections::BTreeMap;
use std::path::Path;

use statecast_pipelines::source::parse_timestamp;

use crate::{Error, Result};

/// Read one 0/1 label per line (plain text; gzip files are refused); a first line that is not a
/// number is a header.
///
/// # Errors
/// I/O errors and lines that are neither 0 nor 1, naming the file and line.
pub fn read_labels(path: &Path) -> Result<Vec<bool>> {
    let io = |source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::InvalidArgument {
            field: "labels".into(),
            reason: format!(
                "{}: gzip label files are not supported; decompress first",
                path.display()
            ),
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        match l.parse::<f64>() {
            Ok(v) if v == 0.0 || v == 1.0 => out.push(v == 1.0),
            _ if i == 0 => {}
            _ => {
                return Err(Error::InvalidArgument {
                    field: "labels".into(),
                    reason: format!("{} line {}: {l:?} is not 0 or 1", path.display(), i + 1),
                });
            }
        }
    }
    Ok(out)
}

/// The NAB key of a data file: `<category>/<name>.csv` from a path ending in
/// `data/<category>/<name>.csv`.
///
/// # Errors
/// [`Error::InvalidArgument`] (`nab_key`) when the path has no parent directory or is not UTF-8.
pub fn nab_key(path: &Path) -> Result<String> {
    let name = path.file_name().and_then(|n| n.to_str());
    let category = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
    match (category, name) {
        (Some(c), Some(n)) => Ok(format!("{c}/{n}")),
        _ => Err(Error::invalid(
            "nab_key",
            format!(
                "cannot derive the NAB key from {}; name it explicitly",
                path.display()
            ),
        )),
    }
}

/// The `[start, end]` windows (µs) of `key` in a NAB `combined_windows.json`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::InvalidArgument`] (`nab_windows`) when it
/// is not NAB's JSON, has no entry `key` or holds a timestamp that does not parse.
pub fn read_nab_windows(path: &Path, key: &str) -> Result<Vec<(i64, i64)>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    let all: BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(&text)
        .map_err(|e| Error::invalid("nab_windows", format!("parsing {}: {e}", path.display())))?;
    let windows = all
        .get(key)
        .ok_or_else(|| Error::invalid("nab_windows", format!("{} has no entry {key:?}", path.display())))?;
    let time = |s: &str| {
        parse_timestamp(s)
            .ok_or_else(|| Error::invalid("nab_windows", format!("{}: bad timestamp {s:?}", path.display())))
    };
    windows.iter().map(|[a, b]| Ok((time(a)?, time(b)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_headed_label_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, "0\n1\n1\n0\n").unwrap();
        assert_eq!(read_labels(&a).unwrap(), vec![false, true, true, false]);
        let b = dir.path().join("b.csv");
        std::fs::write(&b, "label\n0\n1\n").unwrap();
        assert_eq!(read_labels(&b).unwrap(), vec![false, true]);
        std::fs::write(&b, "label\n0\n7\n").unwrap();
        assert!(read_labels(&b).is_err());
    }

    #[test]
    fn nab_key_is_category_and_file_name() {
        let key = nab_key(Path::new("/x/NAB/data/realKnownCause/nyc_taxi.csv")).unwrap();
        assert_eq!(key, "realKnownCause/nyc_taxi.csv");
        let err = nab_key(Path::new("/")).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, .. } if field == "nab_key"),
            "{err}"
        );
    }

    #[test]
    fn reads_the_windows_of_one_nab_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("combined_windows.json");
        std::fs::write(
            &p,
            r#"{"c/a.csv": [["2014-01-01 00:00:00.000000", "2014-01-01 01:00:00.000000"]],
                "c/b.csv": [["2014-01-01 00:00:00", "yesterday"]]}"#,
        )
        .unwrap();
        let w = read_nab_windows(&p, "c/a.csv").unwrap();
        let start = parse_timestamp("2014-01-01 00:00:00").unwrap();
        assert_eq!(w, vec![(start, start + 3_600_000_000)]);
        let err = read_nab_windows(&p, "c/z.csv").unwrap_err().to_string();
        assert!(err.contains("no entry \"c/z.csv\""), "{err}");
        let err = read_nab_windows(&p, "c/b.csv").unwrap_err().to_string();
        assert!(err.contains("bad timestamp \"yesterday\""), "{err}");
        assert!(matches!(
            read_nab_windows(&dir.path().join("none.json"), "c/a.csv"),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    #[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
    fn smd_label_file() {
        let p = statecast_pipelines::shared_data::shared_data_file("anomaly/SMD/test_label/machine-1-2.txt");
        let l = read_labels(&p).unwrap();
        assert!(l.len() > 20_000 && l.iter().any(|x| *x));
    }
}
