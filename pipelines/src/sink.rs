//! Writers: a [`TimeFrame`] to Parquet, Arrow IPC or CSV (optionally gzip), in the wide
//! layout that [`crate::source::load`] reads back:
//!
//! `[series_id: Utf8], timestamp: Timestamp(µs, no tz), <variates: Float32, NaN → null>, [label: UInt8]`
//!
//! Rows of one series are contiguous, series in frame order. Every writer writes to a
//! temporary file in the destination directory and renames it into place, so readers never
//! see a half-written file.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, StringArray, TimestampMicrosecondArray, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::frame::{TimeFrame, format_micros};

/// Column names and sizes for the writers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Time column name (default `timestamp`).
    pub time_column: String,
    /// Series id column (default `Some("series_id")`); `None` is only allowed for a frame
    /// with a single series.
    pub series_column: Option<String>,
    /// Label column (default `Some("label")`), written when any series has labels.
    pub label_column: Option<String>,
    /// Maximum rows per Parquet row group / IPC record batch (default 100 000).
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            time_column: "timestamp".into(),
            series_column: Some("series_id".into()),
            label_column: Some("label".into()),
            row_group_rows: 100_000,
        }
    }
}

/// The columns actually written.
#[derive(Debug)]
struct Layout<'a> {
    series: Option<&'a str>,
    label: Option<&'a str>,
    schema: SchemaRef,
}

fn layout<'a>(frame: &TimeFrame, opts: &'a WriteOptions) -> Result<Layout<'a>> {
    if opts.row_group_rows == 0 {
        return Err(Error::invalid("row_group_rows", "must be at least 1"));
    }
    if opts.series_column.is_none() && frame.series.len() > 1 {
        return Err(Error::invalid(
            "write options",
            format!(
                "the frame has {} series but no series column is set",
                frame.series.len()
            ),
        ));
    }
    let label = opts
        .label_column
        .as_deref()
        .filter(|_| frame.series.iter().any(|s| s.labels.is_some()));
    let series = opts.series_column.as_deref();
    let mut names: Vec<&str> = series.into_iter().chain([opts.time_column.as_str()]).collect();
    names.extend(frame.columns.iter().map(String::as_str));
    names.extend(label);
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::invalid(
                "write options",
                format!("column name `{n}` is used twice"),
            ));
        }
    }
    for s in &frame.series {
        let ok = s.values.len() == frame.columns.len()
            && s.values.iter().all(|c| c.len() == s.len())
            && s.labels.as_ref().is_none_or(|l| l.len() == s.len());
        if !ok {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "series `{}` does not match the frame's {} columns",
                    s.id,
                    frame.columns.len()
                ),
            });
        }
    }
    let mut fields = Vec::new();
    if let Some(s) = series {
        fields.push(Field::new(s, DataType::Utf8, false));
    }
    fields.push(Field::new(
        &opts.time_column,
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    ));
    fields.extend(
        frame
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Float32, true)),
    );
    if let Some(l) = label {
        fields.push(Field::new(l, DataType::UInt8, true));
    }
    Ok(Layout {
        series,
        label,
        schema: Arc::new(Schema::new(fields)),
    })
}

/// Record batches of at most `row_group_rows` rows, series by series.
fn batches<'a>(
    frame: &'a TimeFrame,
    lay: &'a Layout<'_>,
    rows: usize,
) -> impl Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>> + 'a {
    frame.series.iter().flat_map(move |s| {
        (0..s.len()).step_by(rows).map(move |start| {
            let r = start..(start + rows).min(s.len());
            let mut cols: Vec<ArrayRef> = Vec::new();
            if lay.series.is_some() {
                cols.push(Arc::new(StringArray::from(vec![s.id.as_str(); r.len()])));
            }
            cols.push(Arc::new(TimestampMicrosecondArray::from(
                s.timestamps[r.clone()].to_vec(),
            )));
            for c in &s.values {
                cols.push(Arc::new(
                    c[r.clone()]
                        .iter()
                        .map(|v| (!v.is_nan()).then_some(*v))
                        .collect::<Float32Array>(),
                ));
            }
            if lay.label.is_some() {
                let l: UInt8Array = match &s.labels {
                    Some(l) => l[r.clone()].iter().map(|&x| Some(x)).collect(),
                    None => vec![None; r.len()].into_iter().collect(),
                };
                cols.push(Arc::new(l));
            }
            RecordBatch::try_new(lay.schema.clone(), cols)
        })
    })
}

/// Write via a temporary file beside `path`, renamed into place on success.
fn write_atomic(path: &Path, write: impl FnOnce(File) -> Result<File>) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = File::create(&tmp)
        .map_err(io)
        .and_then(write)
        .and_then(|f| f.sync_all().map_err(io));
    match result.and_then(|()| std::fs::rename(&tmp, path).map_err(io)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Write `frame` as Parquet (ZSTD, row groups of at most `opts.row_group_rows` rows).
pub fn write_parquet(frame: &TimeFrame, path: &Path, opts: &WriteOptions) -> Result<()> {
    let lay = layout(frame, opts)?;
    let pq = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    write_atomic(path, |file| {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(opts.row_group_rows))
            .build();
        let mut w = ArrowWriter::try_new(file, lay.schema.clone(), Some(props)).map_err(pq)?;
        for b in batches(frame, &lay, opts.row_group_rows) {
            let b = b.map_err(|source| Error::Arrow {
                path: path.to_path_buf(),
                source,
            })?;
            w.write(&b).map_err(pq)?;
        }
        w.into_inner().map_err(pq)
    })
}

/// Write `frame` as an Arrow IPC file (`ARROW1`, uncompressed), one record batch per at most
/// `opts.row_group_rows` rows.
pub fn write_arrow_ipc(frame: &TimeFrame, path: &Path, opts: &WriteOptions) -> Result<()> {
    let lay = layout(frame, opts)?;
    let ar = |source| Error::Arrow {
        path: path.to_path_buf(),
        source,
    };
    write_atomic(path, |file| {
        let mut w = FileWriter::try_new_buffered(file, &lay.schema).map_err(ar)?;
        for b in batches(frame, &lay, opts.row_group_rows) {
            w.write(&b.map_err(ar)?).map_err(ar)?;
        }
        w.finish().map_err(ar)?;
        let buf = w.into_inner().map_err(ar)?;
        buf.into_inner().map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into_error(),
        })
    })
}

/// Write `frame` as CSV with a header; gzip when `path` ends in `.gz`. Timestamps as
/// `%Y-%m-%d %H:%M:%S` (with `.ffffff` when sub-second), missing values as empty cells, floats
/// in the shortest form that parses back to the same `f32`.
pub fn write_csv(frame: &TimeFrame, path: &Path, opts: &WriteOptions) -> Result<()> {
    let lay = layout(frame, opts)?;
    let gzip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    write_atomic(path, |file| {
        let buffered = BufWriter::with_capacity(1 << 16, file);
        let buffered = if gzip {
            let enc = csv_rows(frame, &lay, GzEncoder::new(buffered, GzLevel::default()), path)?;
            enc.finish().map_err(io)?
        } else {
            csv_rows(frame, &lay, buffered, path)?
        };
        buffered.into_inner().map_err(|e| io(e.into_error()))
    })
}

fn csv_rows<W: Write>(frame: &TimeFrame, lay: &Layout<'_>, sink: W, path: &Path) -> Result<W> {
    let csv_err = |e: csv::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut w = csv::WriterBuilder::new().from_writer(sink);
    w.write_record(lay.schema.fields().iter().map(|f| f.name().as_str()))
        .map_err(csv_err)?;
    let mut rec: Vec<String> = Vec::with_capacity(lay.schema.fields().len());
    for s in &frame.series {
        for t in 0..s.len() {
            rec.clear();
            if lay.series.is_some() {
                rec.push(s.id.clone());
            }
            rec.push(format_micros(s.timestamps[t]));
            rec.extend(s.values.iter().map(|c| {
                if c[t].is_nan() {
                    String::new()
                } else {
                    c[t].to_string()
                }
            }));
            if lay.label.is_some() {
                rec.push(s.labels.as_ref().map(|l| l[t].to_string()).unwrap_or_default());
            }
            w.write_record(&rec).map_err(csv_err)?;
        }
    }
    w.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}
