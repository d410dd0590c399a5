//! Parquet reader: projected, streamed record batches (one row group at a time).
use std::path::PathBuf;

use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::arrow_conv::{check_types, convert};
use super::plan::ColumnPlan;
use super::raw::{RawIter, open_file};
use super::spec::DatasetSpec;
use crate::error::{Error, Result};

fn corrupt(path: &std::path::Path, reason: impl ToString) -> Error {
    Error::CorruptFile {
        path: path.to_path_buf(),
        format: "parquet",
        reason: reason.to_string(),
    }
}

/// Open a Parquet file, reading only the columns `spec.layout` maps.
pub(crate) fn open(spec: &DatasetSpec) -> Result<(ColumnPlan, RawIter)> {
    let path: PathBuf = spec.path.clone();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(open_file(&path)?).map_err(|e| corrupt(&path, e))?;
    let schema = builder.schema().clone();
    let available: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let plan = ColumnPlan::resolve(spec, &available)?;
    check_types(&schema, &plan)?;
    let names = plan.names();
    let roots: Vec<usize> = available
        .iter()
        .enumerate()
        .filter(|(_, c)| names.contains(&c.as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(spec.batch_rows)
        .build()
        .map_err(|e| corrupt(&path, e))?;
    let batch_plan = plan.clone();
    let mut next_row = 0usize;
    let iter = reader.map(move |batch| {
        let batch = batch.map_err(|e| corrupt(&path, e))?;
        let raw = convert(&batch, &batch_plan, next_row, &path)?;
        next_row += batch.num_rows();
        Ok(raw)
    });
    Ok((plan, Box::new(iter)))
}
