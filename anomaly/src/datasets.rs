//! Label files of the public anomaly benchmarks, which keep labels apart from the values:
//! SMD `test_label/machine-X-Y.txt` (one 0/1 per line, no header) and ASD
//! `omi-K_test_label.csv` (header `label`, one 0/1 per line). The value files themselves read
//! with the ordinary loader (SMD: `--no-header --frequency 1min`; ASD: header `m00..m18`, no time
//! column; SMAP: `--series-column channel --label-column label`).
use std::path::Path;

use crate::{Error, Result};

/// Read one 0/1 label per line (plain or gzip); a first line that is not a number is a header.
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
    fn smd_label_file_when_present() {
        let Some(p) = statecast_pipelines::shared_data::shared_file(
            "anomaly/SMD/test_label/machine-1-2.txt",
            "smd_label_file_when_present",
        ) else {
            return;
        };
        let l = read_labels(&p).unwrap();
        assert!(l.len() > 20_000 && l.iter().any(|x| *x));
    }
}
