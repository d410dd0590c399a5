//! Arrow record batches (from Parquet or IPC) → [`RawBatch`], with type checks up front.
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow::record_batch::RecordBatch;

use super::plan::ColumnPlan;
use super::raw::{RawBatch, Runs};
use super::time::{TimeParser, epoch_seconds_to_micros};
use crate::error::{Error, Result};
use crate::frame::Micros;

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn is_int(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

fn is_string(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Types accepted as variate values (cast to `f32`; nulls are missing values).
fn is_numeric(dt: &DataType) -> bool {
    is_int(dt)
        || matches!(
            dt,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Boolean
                | DataType::Null
        )
}

fn is_time(dt: &DataType) -> bool {
    is_int(dt) || is_string(dt) || matches!(dt, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64)
}

fn is_key(dt: &DataType) -> bool {
    if let DataType::Dictionary(_, v) = dt {
        is_string(v) || is_int(v)
    } else {
        is_string(dt) || is_int(dt)
    }
}

/// Check that every mapped column has a type its role accepts.
pub(crate) fn check_types(schema: &Schema, plan: &ColumnPlan) -> Result<()> {
    let check = |name: &str, ok: fn(&DataType) -> bool, expected: &str| -> Result<()> {
        let field = schema.field_with_name(name).map_err(|_| Error::MissingColumn {
            column: name.to_string(),
            available: schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        if ok(field.data_type()) {
            Ok(())
        } else {
            Err(Error::ColumnType {
                column: name.to_string(),
                expected: expected.to_string(),
                found: field.data_type().to_string(),
            })
        }
    };
    if let Some(t) = &plan.time {
        check(t, is_time, "timestamp, date, integer epoch seconds or string")?;
    }
    for key in [&plan.series, &plan.variable].into_iter().flatten() {
        check(key, is_key, "string or integer")?;
    }
    for v in &plan.values {
        check(v, is_numeric, "numeric")?;
    }
    if let Some(l) = &plan.label {
        check(
            l,
            |dt| is_int(dt) || matches!(dt, DataType::Boolean | DataType::Float32 | DataType::Float64),
            "0/1 integer, boolean or float",
        )?;
    }
    Ok(())
}

fn arrow_err(path: &Path, source: arrow_schema::ArrowError) -> Error {
    Error::Arrow {
        path: path.to_path_buf(),
        source,
    }
}

/// A numeric column as `f32`, nulls and NaN → canonical `NaN`.
fn to_f32(col: &ArrayRef, path: &Path) -> Result<Vec<f32>> {
    let cast = cast(col, &DataType::Float32).map_err(|e| arrow_err(path, e))?;
    let arr = cast.as_primitive::<Float32Type>();
    let vals = arr.values();
    Ok(match arr.nulls() {
        None => vals
            .iter()
            .map(|&v| if v.is_nan() { f32::NAN } else { v })
            .collect(),
        Some(nulls) => vals
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if nulls.is_null(i) || v.is_nan() {
                    f32::NAN
                } else {
                    v
                }
            })
            .collect(),
    })
}

fn to_runs(col: &ArrayRef, name: &str, first_row: usize, path: &Path) -> Result<Runs> {
    let cast = cast(col, &DataType::Utf8).map_err(|e| arrow_err(path, e))?;
    let arr = cast.as_string::<i32>();
    let mut runs = Runs::default();
    for i in 0..arr.len() {
        if arr.is_null(i) {
            return Err(Error::InvalidCell {
                column: name.to_string(),
                row: first_row + i,
                value: "null".into(),
                reason: "series ids and variable names must not be null".into(),
            });
        }
        runs.push(arr.value(i));
    }
    Ok(runs)
}

// Arrow's DataType has ~40 variants; the arms name every accepted time type and the last arm
// rejects the rest with a typed error, so a wildcard is the honest match here.
#[allow(clippy::wildcard_enum_match_arm)]
fn to_time(col: &ArrayRef, name: &str, first_row: usize, path: &Path) -> Result<Vec<Micros>> {
    let bad = |i: usize, value: String| Error::BadTimestamp {
        column: name.to_string(),
        row: first_row + i,
        value,
    };
    let dt = col.data_type();
    let scaled = |vals: Vec<Option<i64>>, f: &dyn Fn(i64) -> Option<i64>| -> Result<Vec<Micros>> {
        vals.into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                None => Err(bad(i, "null".into())),
                Some(v) => f(v).ok_or_else(|| bad(i, v.to_string())),
            })
            .collect()
    };
    match dt {
        DataType::Timestamp(unit, _) => {
            let (vals, f): (Vec<Option<i64>>, &dyn Fn(i64) -> Option<i64>) = match unit {
                TimeUnit::Second => (col.as_primitive::<TimestampSecondType>().iter().collect(), &|v| {
                    v.checked_mul(1_000_000)
                }),
                TimeUnit::Millisecond => (
                    col.as_primitive::<TimestampMillisecondType>().iter().collect(),
                    &|v| v.checked_mul(1_000),
                ),
                TimeUnit::Microsecond => (
                    col.as_primitive::<TimestampMicrosecondType>().iter().collect(),
                    &Some,
                ),
                TimeUnit::Nanosecond => (
                    col.as_primitive::<TimestampNanosecondType>().iter().collect(),
                    &|v| Some(v.div_euclid(1_000)),
                ),
            };
            scaled(vals, f)
        }
        DataType::Date32 => scaled(
            col.as_primitive::<Date32Type>()
                .iter()
                .map(|v| v.map(i64::from))
                .collect(),
            &|d| d.checked_mul(MICROS_PER_DAY),
        ),
        DataType::Date64 => scaled(col.as_primitive::<Date64Type>().iter().collect(), &|ms| {
            ms.checked_mul(1_000)
        }),
        dt if is_int(dt) => {
            let c = cast(col, &DataType::Int64).map_err(|e| arrow_err(path, e))?;
            scaled(
                c.as_primitive::<Int64Type>().iter().collect(),
                &epoch_seconds_to_micros,
            )
        }
        dt if is_string(dt) => {
            let c = cast(col, &DataType::Utf8).map_err(|e| arrow_err(path, e))?;
            let arr = c.as_string::<i32>();
            let mut parser = TimeParser::default();
            (0..arr.len())
                .map(|i| {
                    if arr.is_null(i) {
                        return Err(bad(i, "null".into()));
                    }
                    let s = arr.value(i);
                    parser.parse(s).ok_or_else(|| bad(i, s.to_string()))
                })
                .collect()
        }
        other => Err(Error::ColumnType {
            column: name.to_string(),
            expected: "timestamp, date, integer epoch seconds or string".into(),
            found: other.to_string(),
        }),
    }
}

/// Labels must be 0 or 1 (false/true); anything else, including null, is an error.
fn to_labels(col: &ArrayRef, name: &str, first_row: usize, path: &Path) -> Result<Vec<u8>> {
    let vals = to_f32(col, path)?;
    vals.iter()
        .enumerate()
        .map(|(i, &v)| match v {
            0.0 => Ok(0),
            1.0 => Ok(1),
            other => Err(Error::InvalidCell {
                column: name.to_string(),
                row: first_row + i,
                value: if other.is_nan() {
                    "null".into()
                } else {
                    other.to_string()
                },
                reason: "labels must be 0 or 1".into(),
            }),
        })
        .collect()
}

/// Convert one projected batch; columns are looked up by name.
pub(crate) fn convert(
    batch: &RecordBatch,
    plan: &ColumnPlan,
    first_row: usize,
    path: &Path,
) -> Result<RawBatch> {
    let col = |name: &str| -> Result<&ArrayRef> {
        batch.column_by_name(name).ok_or_else(|| Error::MissingColumn {
            column: name.to_string(),
            available: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    };
    Ok(RawBatch {
        first_row,
        len: batch.num_rows(),
        series: plan
            .series
            .as_deref()
            .map(|s| to_runs(col(s)?, s, first_row, path))
            .transpose()?,
        time: plan
            .time
            .as_deref()
            .map(|t| to_time(col(t)?, t, first_row, path))
            .transpose()?,
        variable: plan
            .variable
            .as_deref()
            .map(|v| to_runs(col(v)?, v, first_row, path))
            .transpose()?,
        values: plan
            .values
            .iter()
            .map(|v| to_f32(col(v)?, path))
            .collect::<Result<_>>()?,
        labels: plan
            .label
            .as_deref()
            .map(|l| to_labels(col(l)?, l, first_row, path))
            .transpose()?,
    })
}
