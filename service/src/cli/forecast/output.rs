//! What `statecast forecast` prints and writes: a compact summary per series and variable, the
//! full table, a long-format Parquet/CSV file and a plot with the interval as a band.
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use statecast_pipelines::TimeFrame;
use statecast_pipelines::frame::format_micros;
use statecast_proto::v1 as pb;

use super::super::plot::ForecastPanel;

/// The value of step `h`, column `c` of a matrix.
fn at(m: &pb::Matrix, h: usize, c: usize) -> f32 {
    m.values[h * m.cols as usize + c]
}

/// The outermost quantiles of a forecast, when it has two or more.
fn band(f: &pb::SeriesForecast) -> Option<(&pb::QuantileForecast, &pb::QuantileForecast)> {
    match (f.quantiles.first(), f.quantiles.last()) {
        (Some(lo), Some(hi)) if f.quantiles.len() > 1 => Some((lo, hi)),
        _ => None,
    }
}

/// One line per series and variable: the next step and the last step (with the outermost
/// quantiles as an interval) and the mean over the horizon; `show` series at most.
pub(super) fn print_summary(model: &pb::ResolvedModel, series: &[pb::SeriesForecast], show: usize) {
    let Some(first) = series.first() else {
        println!("model {}@{}: no series", model.name, model.version);
        return;
    };
    let steps = first.timestamps.len();
    let interval = band(first)
        .map(|(lo, hi)| {
            format!(
                ", interval q{}–q{} ({})",
                lo.quantile, hi.quantile, model.interval_method
            )
        })
        .unwrap_or_default();
    println!(
        "model {}@{}: {} series, {steps} steps from {}{interval}",
        model.name,
        model.version,
        series.len(),
        first
            .timestamps
            .first()
            .map(|t| format_micros(*t))
            .unwrap_or_default(),
    );
    let cell = |f: &pb::SeriesForecast, h: usize, c: usize| {
        let point = f.point.clone().unwrap_or_default();
        match band(f) {
            Some((lo, hi)) => format!(
                "{:.3} [{:.3}, {:.3}]",
                at(&point, h, c),
                at(lo.values.as_ref().unwrap_or(&point), h, c),
                at(hi.values.as_ref().unwrap_or(&point), h, c)
            ),
            None => format!("{:.3}", at(&point, h, c)),
        }
    };
    println!(
        "{:<16} {:<14} {:>30} {:>30} {:>12}",
        "series",
        "variable",
        "next step",
        format!("step {steps}"),
        "mean"
    );
    for f in series.iter().take(show) {
        let point = f.point.clone().unwrap_or_default();
        let h = f.timestamps.len();
        for (c, name) in model.columns.iter().enumerate() {
            let mean = (0..h).map(|t| f64::from(at(&point, t, c))).sum::<f64>() / h.max(1) as f64;
            println!(
                "{:<16} {:<14} {:>30} {:>30} {:>12.3}",
                f.series_id,
                name,
                cell(f, 0, c),
                cell(f, h.saturating_sub(1), c),
                mean
            );
        }
    }
    if series.len() > show {
        println!(
            "… and {} more series (--show N, or --out FILE for all of them)",
            series.len() - show
        );
    }
}

/// Every step of every series and variable, one line each.
pub(super) fn print_table(model: &pb::ResolvedModel, series: &[pb::SeriesForecast]) {
    println!("model {}@{}", model.name, model.version);
    let mut header = format!(
        "{:<16} {:<20} {:<16} {:>12}",
        "series", "time", "variable", "point"
    );
    if let Some(first) = series.first() {
        for q in &first.quantiles {
            header.push_str(&format!(" {:>12}", format!("q{}", q.quantile)));
        }
    }
    println!("{header}");
    for f in series {
        let point = f.point.clone().unwrap_or_default();
        for (h, t) in f.timestamps.iter().enumerate() {
            for (c, name) in model.columns.iter().enumerate() {
                let mut line = format!(
                    "{:<16} {:<20} {:<16} {:>12.4}",
                    f.series_id,
                    format_micros(*t),
                    name,
                    at(&point, h, c)
                );
                for q in &f.quantiles {
                    let m = q.values.clone().unwrap_or_default();
                    line.push_str(&format!(" {:>12.4}", at(&m, h, c)));
                }
                println!("{line}");
            }
        }
    }
}

/// Write the forecasts in long format (`series_id, timestamp, step, variable, point, q<…>`):
/// CSV when `path` ends in `.csv`, Parquet otherwise; written beside the target, then renamed.
///
/// # Errors
/// Encoding and I/O errors.
pub(super) fn write_forecasts(
    path: &Path,
    columns: &[String],
    series: &[pb::SeriesForecast],
) -> anyhow::Result<()> {
    let quantiles: Vec<f64> = series
        .first()
        .map(|f| f.quantiles.iter().map(|q| q.quantile).collect())
        .unwrap_or_default();
    let (mut ids, mut times, mut steps, mut vars, mut points) = (vec![], vec![], vec![], vec![], vec![]);
    let mut qs: Vec<Vec<f64>> = vec![Vec::new(); quantiles.len()];
    for f in series {
        let point = f.point.clone().unwrap_or_default();
        for (h, t) in f.timestamps.iter().enumerate() {
            for (c, name) in columns.iter().enumerate() {
                ids.push(f.series_id.as_str());
                times.push(*t);
                steps.push(h as u32 + 1);
                vars.push(name.as_str());
                points.push(f64::from(at(&point, h, c)));
                for (k, q) in f.quantiles.iter().enumerate().take(quantiles.len()) {
                    qs[k].push(f64::from(at(q.values.as_ref().unwrap_or(&point), h, c)));
                }
            }
        }
    }
    let q_names: Vec<String> = quantiles.iter().map(|q| format!("q{q}")).collect();
    let write = |tmp: &Path| -> anyhow::Result<()> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            let mut w = csv::Writer::from_path(tmp)?;
            let mut header = vec!["series_id", "timestamp", "step", "variable", "point"];
            header.extend(q_names.iter().map(String::as_str));
            w.write_record(&header)?;
            for i in 0..ids.len() {
                let mut record = vec![
                    ids[i].to_string(),
                    format_micros(times[i]),
                    steps[i].to_string(),
                    vars[i].to_string(),
                    points[i].to_string(),
                ];
                record.extend(qs.iter().map(|q| q[i].to_string()));
                w.write_record(&record)?;
            }
            w.flush()?;
        } else {
            let mut fields = vec![
                Field::new("series_id", arrow::datatypes::DataType::Utf8, false),
                Field::new(
                    "timestamp",
                    arrow::datatypes::DataType::Timestamp(
                        arrow::datatypes::TimeUnit::Microsecond,
                        Some("UTC".into()),
                    ),
                    false,
                ),
                Field::new("step", arrow::datatypes::DataType::UInt32, false),
                Field::new("variable", arrow::datatypes::DataType::Utf8, false),
                Field::new("point", arrow::datatypes::DataType::Float64, false),
            ];
            fields.extend(
                q_names
                    .iter()
                    .map(|n| Field::new(n, arrow::datatypes::DataType::Float64, false)),
            );
            let mut arrays: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(&ids)),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(times.iter().copied()).with_timezone("UTC"),
                ),
                Arc::new(UInt32Array::from_iter_values(steps.iter().copied())),
                Arc::new(StringArray::from_iter_values(&vars)),
                Arc::new(Float64Array::from_iter_values(points.iter().copied())),
            ];
            arrays.extend(
                qs.iter()
                    .map(|q| Arc::new(Float64Array::from_iter_values(q.iter().copied())) as ArrayRef),
            );
            let schema = Arc::new(Schema::new(fields));
            let batch = RecordBatch::try_new(schema.clone(), arrays)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut w = ArrowWriter::try_new(std::fs::File::create(tmp)?, schema, Some(props))?;
            w.write(&batch)?;
            w.close()?;
        }
        Ok(())
    };
    statecast_service::fsutil::replace_via_temp(path, write, anyhow::Error::from)
        .with_context(|| format!("writing {}", path.display()))
}

/// Panels of up to three series × two variables (the last column, usually the target, and the
/// first): the last `lookback` rows of the file as history, the forecast, and the outermost
/// quantiles as a band.
pub(super) fn forecast_panels(
    frame: &TimeFrame,
    order: &[usize],
    lookback: usize,
    columns: &[String],
    series: &[pb::SeriesForecast],
) -> Vec<ForecastPanel> {
    let c = columns.len();
    let variates: Vec<usize> = if c > 1 { vec![c - 1, 0] } else { vec![0] };
    let mut panels = Vec::new();
    for f in series.iter().take(3) {
        let Some(input) = frame.get(&f.series_id) else {
            continue;
        };
        let point = f.point.clone().unwrap_or_default();
        let h = f.timestamps.len();
        let start = input.len().saturating_sub(lookback);
        for &v in &variates {
            let column = |m: &pb::Matrix| (0..h).map(|t| at(m, t, v)).collect::<Vec<f32>>();
            panels.push(ForecastPanel {
                title: format!("{} {}", f.series_id, columns[v]),
                history: input.values[order[v]][start..].to_vec(),
                actual: vec![f32::NAN; h],
                forecast: column(&point),
                band: band(f).map(|(lo, hi)| {
                    (
                        column(lo.values.as_ref().unwrap_or(&point)),
                        column(hi.values.as_ref().unwrap_or(&point)),
                        format!("q{}–q{}", lo.quantile, hi.quantile),
                    )
                }),
            });
        }
    }
    panels
}
