//! CSV reader (plain, or gzip detected by the `1f 8b` magic bytes), streaming `batch_rows`
//! records at a time. Only mapped cells are parsed.
//!
//! Missing-value cells: empty, `NA`, `N/A`, `null`, `NULL`, `None`, and `NaN`/`nan`.
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::{ByteRecord, ErrorKind};
use flate2::read::MultiGzDecoder;

use super::plan::ColumnPlan;
use super::raw::{RawBatch, RawIter, Runs, open_file};
use super::spec::DatasetSpec;
use super::time::TimeParser;
use crate::error::{Error, Result};

/// Column indices of the plan's roles.
#[derive(Debug)]
struct Indices {
    time: Option<usize>,
    series: Option<usize>,
    variable: Option<usize>,
    values: Vec<usize>,
    label: Option<usize>,
}

/// Streaming batches of a CSV file.
struct CsvBatches {
    reader: csv::Reader<Box<dyn Read>>,
    path: PathBuf,
    gzip: bool,
    names: Vec<String>,
    idx: Indices,
    batch_rows: usize,
    next_row: usize,
    record: ByteRecord,
    parser: TimeParser,
    done: bool,
}

/// Open `path` as text, transparently decompressing gzip. Returns the reader and whether
/// the file is gzip.
fn open_text(path: &Path) -> Result<(Box<dyn Read>, bool)> {
    let mut buf = BufReader::with_capacity(1 << 16, open_file(path)?);
    let head = buf.fill_buf().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    if gzip {
        Ok((
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(buf))),
            true,
        ))
    } else {
        Ok((Box::new(buf), false))
    }
}

fn map_csv_error(e: csv::Error, path: &Path, gzip: bool, row: usize) -> Error {
    let path = path.to_path_buf();
    let reason = e.to_string();
    let kind = e.into_kind();
    if let ErrorKind::Io(source) = kind {
        return if gzip {
            Error::CorruptFile {
                path,
                format: "gzip",
                reason: source.to_string(),
            }
        } else {
            Error::Io { path, source }
        };
    }
    if let ErrorKind::UnequalLengths {
        pos,
        expected_len,
        len,
    } = kind
    {
        let line = pos.map(|p| format!(" (line {})", p.line())).unwrap_or_default();
        return Error::CorruptFile {
            path,
            format: "csv",
            reason: format!("data row {row}{line} has {len} fields, expected {expected_len}"),
        };
    }
    Error::CorruptFile {
        path,
        format: "csv",
        reason,
    }
}

fn is_missing(cell: &[u8]) -> bool {
    matches!(cell, b"" | b"NA" | b"N/A" | b"null" | b"NULL" | b"None")
}

fn parse_f32(cell: &[u8]) -> Option<f32> {
    let cell = cell.trim_ascii();
    if is_missing(cell) {
        return Some(f32::NAN);
    }
    let v: f32 = std::str::from_utf8(cell).ok()?.parse().ok()?;
    Some(if v.is_nan() { f32::NAN } else { v })
}

fn text(cell: &[u8]) -> String {
    String::from_utf8_lossy(cell).into_owned()
}

/// Open a CSV file and resolve the mapping against its header (or `c0..cN`).
pub(crate) fn open(spec: &DatasetSpec) -> Result<(ColumnPlan, RawIter)> {
    let path = spec.path.clone();
    let (input, gzip) = open_text(&path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(spec.csv_header)
        .flexible(false)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let header = reader
        .byte_headers()
        .map_err(|e| map_csv_error(e, &path, gzip, 0))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(Error::EmptyFile { path });
    }
    let names: Vec<String> = if spec.csv_header {
        header.iter().map(|c| text(c.trim_ascii())).collect()
    } else {
        (0..header.len()).map(|i| format!("c{i}")).collect()
    };
    let plan = ColumnPlan::resolve(spec, &names)?;
    let find = |n: &str| names.iter().position(|c| c == n);
    let idx = Indices {
        time: plan.time.as_deref().and_then(find),
        series: plan.series.as_deref().and_then(find),
        variable: plan.variable.as_deref().and_then(find),
        values: plan.values.iter().filter_map(|v| find(v)).collect(),
        label: plan.label.as_deref().and_then(find),
    };
    let batches = CsvBatches {
        reader,
        path,
        gzip,
        names,
        idx,
        batch_rows: spec.batch_rows,
        next_row: 0,
        record: ByteRecord::new(),
        parser: TimeParser::default(),
        done: false,
    };
    Ok((plan, Box::new(batches)))
}

impl CsvBatches {
    fn read_batch(&mut self) -> Result<Option<RawBatch>> {
        let idx = &self.idx;
        let mut batch = RawBatch {
            first_row: self.next_row,
            series: idx.series.map(|_| Runs::default()),
            time: idx.time.map(|_| Vec::with_capacity(self.batch_rows)),
            variable: idx.variable.map(|_| Runs::default()),
            values: vec![Vec::with_capacity(self.batch_rows); idx.values.len()],
            labels: idx.label.map(|_| Vec::with_capacity(self.batch_rows)),
            ..RawBatch::default()
        };
        while batch.len < self.batch_rows {
            let row = self.next_row;
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| map_csv_error(e, &self.path, self.gzip, row))?;
            if !more {
                break;
            }
            let rec = &self.record;
            let name = |i: usize| self.names[i].clone();
            if let (Some(i), Some(t)) = (idx.time, batch.time.as_mut()) {
                let cell = &rec[i];
                let parsed = std::str::from_utf8(cell).ok().and_then(|s| self.parser.parse(s));
                t.push(parsed.ok_or_else(|| Error::BadTimestamp {
                    column: name(i),
                    row,
                    value: text(cell),
                })?);
            }
            if let (Some(i), Some(s)) = (idx.series, batch.series.as_mut()) {
                s.push(&String::from_utf8_lossy(rec[i].trim_ascii()));
            }
            if let (Some(i), Some(v)) = (idx.variable, batch.variable.as_mut()) {
                v.push(&String::from_utf8_lossy(rec[i].trim_ascii()));
            }
            for (&i, out) in idx.values.iter().zip(batch.values.iter_mut()) {
                let cell = &rec[i];
                out.push(parse_f32(cell).ok_or_else(|| Error::NotNumeric {
                    column: name(i),
                    row,
                    value: text(cell),
                })?);
            }
            if let (Some(i), Some(l)) = (idx.label, batch.labels.as_mut()) {
                let cell = rec[i].trim_ascii();
                let v = match cell {
                    b"true" | b"True" | b"TRUE" => Some(1.0),
                    b"false" | b"False" | b"FALSE" => Some(0.0),
                    other => parse_f32(other),
                };
                l.push(match v {
                    Some(0.0) => 0,
                    Some(1.0) => 1,
                    _ => {
                        return Err(Error::InvalidCell {
                            column: name(i),
                            row,
                            value: text(cell),
                            reason: "labels must be 0 or 1 (or true/false)".into(),
                        });
                    }
                });
            }
            batch.len += 1;
            self.next_row += 1;
        }
        Ok((batch.len > 0).then_some(batch))
    }
}

impl Iterator for CsvBatches {
    type Item = Result<RawBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let out = self.read_batch();
        if !matches!(out, Ok(Some(_))) {
            self.done = true;
        }
        out.transpose()
    }
}
