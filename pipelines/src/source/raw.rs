//! The format-independent batch every reader produces, and the dispatch to the readers.
use std::path::Path;

use super::plan::ColumnPlan;
use super::spec::{DatasetSpec, Format};
use crate::error::{Error, Result};
use crate::frame::Micros;

/// Consecutive rows sharing one string (series id or variable name): `(value, row count)`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Runs(pub(crate) Vec<(String, usize)>);

impl Runs {
    /// Append one row with value `s`, extending the last run when equal.
    pub(crate) fn push(&mut self, s: &str) {
        match self.0.last_mut() {
            Some((last, n)) if last == s => *n += 1,
            _ => self.0.push((s.to_string(), 1)),
        }
    }

    /// `(value, rows)` with row ranges relative to the batch.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = (&str, std::ops::Range<usize>)> {
        let mut start = 0;
        self.0.iter().map(move |(s, n)| {
            let r = start..start + n;
            start += n;
            (s.as_str(), r)
        })
    }
}

/// One batch of rows as read from the file, before any validation.
#[derive(Debug, Default)]
pub(crate) struct RawBatch {
    /// File data row (0-based) of the first row.
    pub(crate) first_row: usize,
    /// Number of rows.
    pub(crate) len: usize,
    /// Series id per row (`None` = no series column).
    pub(crate) series: Option<Runs>,
    /// Timestamps, [rows] (`None` = no time column: synthetic index).
    pub(crate) time: Option<Vec<Micros>>,
    /// Variable name per row (long layout with a variable column).
    pub(crate) variable: Option<Runs>,
    /// Values of the mapped value columns, [value columns][rows]; `NaN` = missing.
    pub(crate) values: Vec<Vec<f32>>,
    /// 0/1 labels, [rows].
    pub(crate) labels: Option<Vec<u8>>,
}

/// Stream of raw batches.
pub(crate) type RawIter = Box<dyn Iterator<Item = Result<RawBatch>>>;

/// An opened file: how its columns map, and its batches.
pub(crate) struct RawSource {
    pub(crate) format: Format,
    pub(crate) plan: ColumnPlan,
    pub(crate) batches: RawIter,
}

impl std::fmt::Debug for RawSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSource")
            .field("format", &self.format)
            .field("plan", &self.plan)
            .finish()
    }
}

/// Open `spec.path` with the right reader.
pub(crate) fn open(spec: &DatasetSpec) -> Result<RawSource> {
    if spec.batch_rows == 0 {
        return Err(Error::invalid("batch_rows", "must be at least 1"));
    }
    let format = spec.resolved_format().ok_or_else(|| Error::UnknownFormat {
        path: spec.path.clone(),
    })?;
    check_not_empty(&spec.path)?;
    let (plan, batches) = guarded(&spec.path, format, || match format {
        Format::Parquet => super::parquet::open(spec),
        Format::ArrowIpc => super::ipc::open(spec),
        Format::Csv => super::csv::open(spec),
    })?;
    Ok(RawSource {
        format,
        plan,
        batches: Box::new(PanicGuard {
            inner: Some(batches),
            path: spec.path.clone(),
            format,
        }),
    })
}

/// Run a decoder step, turning a panic into [`Error::CorruptFile`].
///
/// The Arrow and Parquet decoders trust some offsets and lengths in the file and panic (slice
/// out of range) on crafted or damaged files instead of returning an error; the ingestion fuzz
/// test (`tests/ingest_fuzz.rs`) found such files. A hostile file must give an error, so every
/// decoder call runs under this guard. Decoders hold no state shared with the caller, so
/// nothing is left half-updated when one unwinds.
fn guarded<T>(path: &Path, format: Format, step: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::warn!(path = %path.display(), format = format.name(), "decoder panicked: {what}");
        Err(Error::CorruptFile {
            path: path.to_path_buf(),
            format: format.name(),
            reason: "the decoder rejected malformed data".into(),
        })
    })
}

/// A batch iterator whose decoder panics become one [`Error::CorruptFile`], after which it ends.
struct PanicGuard {
    inner: Option<RawIter>,
    path: std::path::PathBuf,
    format: Format,
}

impl Iterator for PanicGuard {
    type Item = Result<RawBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        match guarded(&self.path, self.format, || Ok(inner.next())) {
            Ok(item) => item,
            Err(e) => {
                self.inner = None; // a decoder that unwound is not polled again
                Some(Err(e))
            }
        }
    }
}

/// [`Error::EmptyFile`] for a zero-byte file, [`Error::Io`] if it cannot be opened.
fn check_not_empty(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Open a file for reading, mapping the error to [`Error::Io`].
pub(crate) fn open_file(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
