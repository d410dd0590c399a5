//! Backtest rows as a file: Parquet (zstd) or CSV, chosen by the extension, written atomically.
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::BacktestRow;
use crate::{Error, Result};

/// The columns, in file order.
const COLUMNS: [&str; 15] = [
    "cutoff",
    "cutoff_time",
    "fitted_at",
    "series",
    "step",
    "observed",
    "mse",
    "mae",
    "smape",
    "mase",
    "coverage80",
    "coverage90",
    "coverage95",
    "wql",
    "abs_actual_sum",
];

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("writing backtest rows: {e}"))
}

/// Write `rows` to `path`: CSV when it ends in `.csv`, Parquet otherwise. The file appears
/// complete or not at all (written beside it, then renamed).
///
/// # Errors
/// [`Error::Internal`] on encoding and I/O errors.
pub fn write_rows(path: &Path, rows: &[BacktestRow]) -> Result<()> {
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    crate::fsutil::replace_via_temp(
        path,
        |tmp| {
            if csv {
                write_csv(tmp, rows)
            } else {
                write_parquet(tmp, rows)
            }
        },
        internal,
    )
}

fn write_csv(path: &Path, rows: &[BacktestRow]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(internal)?;
    w.write_record(COLUMNS).map_err(internal)?;
    for r in rows {
        let time = chrono::DateTime::from_timestamp_micros(r.cutoff_time)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
            .unwrap_or_default();
        let mut record = vec![
            r.cutoff.to_string(),
            time,
            r.fitted_at.to_string(),
            r.series.clone(),
            r.step.to_string(),
            r.observed.to_string(),
        ];
        record.extend(
            [
                r.mse,
                r.mae,
                r.smape,
                r.mase,
                r.coverage[0],
                r.coverage[1],
                r.coverage[2],
                r.wql,
                r.abs_actual_sum,
            ]
            .iter()
            .map(|x| {
                if x.is_finite() {
                    x.to_string()
                } else {
                    String::new()
                }
            }),
        );
        w.write_record(&record).map_err(internal)?;
    }
    w.flush().map_err(internal)
}

fn write_parquet(path: &Path, rows: &[BacktestRow]) -> Result<()> {
    let u32s = |f: fn(&BacktestRow) -> usize| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| u32::try_from(f(r)).unwrap_or(u32::MAX)),
        ))
    };
    let f64s = |f: fn(&BacktestRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| Some(f(r)).filter(|x| x.is_finite())),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        u32s(|r| r.cutoff),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.cutoff_time))
                .with_timezone("UTC"),
        ),
        u32s(|r| r.fitted_at),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.series.as_str()),
        )),
        u32s(|r| r.step),
        u32s(|r| r.observed),
        f64s(|r| r.mse),
        f64s(|r| r.mae),
        f64s(|r| r.smape),
        f64s(|r| r.mase),
        f64s(|r| r.coverage[0]),
        f64s(|r| r.coverage[1]),
        f64s(|r| r.coverage[2]),
        f64s(|r| r.wql),
        f64s(|r| r.abs_actual_sum),
    ];
    let fields: Vec<Field> = COLUMNS
        .iter()
        .zip(&columns)
        .map(|(name, c)| {
            let nullable = matches!(c.data_type(), DataType::Float64);
            Field::new(*name, c.data_type().clone(), nullable)
        })
        .collect();
    debug_assert!(matches!(
        fields[1].data_type(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_))
    ));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(internal)?;
    let file = std::fs::File::create(path).map_err(internal)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(internal)?;
    w.write(&batch).map_err(internal)?;
    w.close().map_err(internal)?;
    Ok(())
}
