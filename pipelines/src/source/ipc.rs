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
    if is_file_format {
        check_blocks_fit(&path)?;
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

/// Refuse an IPC file whose footer declares a block reaching past the end of the file.
///
/// The file reader allocates (zeroed) the length a block declares before reading it, so one
/// flipped bit in a length field of a 3 KB file made it allocate gigabytes and spend seconds
/// page-faulting (found by `tests/ingest_fuzz.rs`). Every record-batch and dictionary block
/// must satisfy `0 ≤ offset`, `0 ≤ lengths` and `offset + metadata + body ≤ file length`.
fn check_blocks_fit(path: &Path) -> Result<()> {
    let bytes_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = open_file(path)?;
    let file_len = file.metadata().map_err(bytes_err)?.len();
    // Trailer: footer (flatbuffer) · footer length (i32 LE) · "ARROW1".
    if file_len < 6 + 2 + 10 {
        return Err(corrupt(path, "too short for an IPC file"));
    }
    let mut trailer = [0u8; 10];
    file.seek(SeekFrom::End(-10)).map_err(bytes_err)?;
    file.read_exact(&mut trailer).map_err(bytes_err)?;
    if &trailer[4..] != b"ARROW1" {
        return Err(corrupt(path, "no ARROW1 magic at the end of the file"));
    }
    let footer_len = i32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let footer_len = u64::try_from(footer_len)
        .ok()
        .filter(|&n| n <= file_len - 10 - 8)
        .ok_or_else(|| corrupt(path, format!("footer length {footer_len} does not fit the file")))?;
    let mut footer = vec![0u8; usize::try_from(footer_len).unwrap_or(0)];
    file.seek(SeekFrom::End(-10 - i64::try_from(footer_len).unwrap_or(0)))
        .map_err(bytes_err)?;
    file.read_exact(&mut footer).map_err(bytes_err)?;
    let footer = arrow::ipc::root_as_footer(&footer).map_err(|e| corrupt(path, format!("footer: {e}")))?;
    let blocks = footer
        .recordBatches()
        .into_iter()
        .flatten()
        .chain(footer.dictionaries().into_iter().flatten());
    for block in blocks {
        let end = u64::try_from(block.offset())
            .ok()
            .zip(u64::try_from(block.metaDataLength()).ok())
            .zip(u64::try_from(block.bodyLength()).ok())
            .and_then(|((o, m), b)| o.checked_add(m)?.checked_add(b));
        if end.is_none_or(|end| end > file_len) {
            return Err(corrupt(
                path,
                format!(
                    "a block (offset {}, {} + {} bytes) reaches past the end of the {file_len}-byte file",
                    block.offset(),
                    block.metaDataLength(),
                    block.bodyLength()
                ),
            ));
        }
    }
    Ok(())
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
