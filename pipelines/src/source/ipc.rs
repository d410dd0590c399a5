//! Arrow IPC reader (file format, or stream format when the file lacks the `ARROW1` magic),
//! with projection to the mapped columns.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::record_batch::RecordBatch;

use super::arrow_conv::{check_types, convert};
use super::plan::ColumnPlan;
use super::raw::{RawIter, open_file};
use super::spec::DatasetSpec;
use crate::error::{Error, Result};

fn corrupt(path: &Path, reason: impl ToString) -> Error {
    Error::CorruptFile {
        path: path.to_path_buf(),
        format: "arrow-ipc",
        reason: reason.to_string(),
    }
}

/// Open an Arrow IPC file, reading only the columns `spec.layout` maps.
pub(crate) fn open(spec: &DatasetSpec) -> Result<(ColumnPlan, RawIter)> {
    let path: PathBuf = spec.path.clone();
    let mut file = open_file(&path)?;
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    file.seek(SeekFrom::Start(0)).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let is_file_format = n == 6 && &magic == b"ARROW1";
    let is_stream = n >= 4 && magic[..4] == [0xff; 4];
    if !is_file_format && !is_stream {
        return Err(corrupt(&path, "no ARROW1 magic and no IPC stream header"));
    }
    // Read the schema first (no projection) to resolve the mapping, then reopen projected.
    let schema = if is_file_format {
        FileReader::try_new_buffered(open_file(&path)?, None)
            .map_err(|e| corrupt(&path, e))?
            .schema()
    } else {
        StreamReader::try_new_buffered(open_file(&path)?, None)
            .map_err(|e| corrupt(&path, e))?
            .schema()
    };
    let available: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let plan = ColumnPlan::resolve(spec, &available)?;
    check_types(&schema, &plan)?;
    let names = plan.names();
    let projection: Vec<usize> = (0..available.len())
        .filter(|&i| names.contains(&available[i].as_str()))
        .collect();
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>>> =
        if is_file_format {
            Box::new(FileReader::try_new_buffered(file, Some(projection)).map_err(|e| corrupt(&path, e))?)
        } else {
            Box::new(StreamReader::try_new_buffered(file, Some(projection)).map_err(|e| corrupt(&path, e))?)
        };
    let batch_plan = plan.clone();
    let batch_rows = spec.batch_rows;
    let mut next_row = 0usize;
    let iter = batches
        .flat_map(
            move |b| -> Vec<std::result::Result<RecordBatch, arrow_schema::ArrowError>> {
                // Split oversized IPC batches so that memory per raw batch stays bounded.
                match b {
                    Ok(b) if b.num_rows() > batch_rows => (0..b.num_rows())
                        .step_by(batch_rows)
                        .map(|s| Ok(b.slice(s, batch_rows.min(b.num_rows() - s))))
                        .collect(),
                    other => vec![other],
                }
            },
        )
        .map(move |batch| {
            let batch = batch.map_err(|e| corrupt(&path, e))?;
            let raw = convert(&batch, &batch_plan, next_row, &path)?;
            next_row += batch.num_rows();
            Ok(raw)
        });
    Ok((plan, Box::new(iter)))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
