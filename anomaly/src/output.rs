//! Writers for detection results: per-timestamp scores and labels (Parquet, Arrow or CSV through
//! `pipelines::sink`, in its wide layout) and the alarm segments (CSV).
//!
//! Score file columns: `series_id, timestamp, score, flagged, alarm, score_<variate>…, label`
//! where `label` is the ground truth when the input had one (else the alarm label).
use std::fmt::Write as _;
use std::path::Path;

use statecast_pipelines::frame::format_micros;
use statecast_pipelines::sink::{WriteOptions, write_arrow_ipc, write_csv, write_parquet};
use statecast_pipelines::{Series, TimeFrame};

use super::detector::SeriesScores;
use crate::{Error, Result};

/// The scores as a frame (one variate column per score column).
pub fn scores_frame(columns: &[String], input: &[&Series], scores: &[SeriesScores]) -> TimeFrame {
    let mut names = vec!["score".to_string(), "flagged".into(), "alarm".into()];
    names.extend(columns.iter().map(|c| format!("score_{c}")));
    let series = input
        .iter()
        .zip(scores)
        .map(|(s, r)| {
            let b = |v: &[bool]| v.iter().map(|&x| f32::from(u8::from(x))).collect::<Vec<f32>>();
            let mut values = vec![
                r.score.iter().map(|&x| x as f32).collect(),
                b(&r.flagged),
                b(&r.in_alarm),
            ];
            for v in 0..columns.len() {
                values.push(r.per_variate.iter().map(|p| p[v]).collect());
            }
            Series {
                id: s.id.clone(),
                timestamps: s.timestamps.clone(),
                values,
                labels: Some(
                    s.labels
                        .clone()
                        .unwrap_or_else(|| r.in_alarm.iter().map(|&x| u8::from(x)).collect()),
                ),
            }
        })
        .collect();
    TimeFrame {
        columns: names,
        series,
        frequency: None,
    }
}

/// Write `frame` by the extension of `path` (`.parquet`, `.arrow`, else CSV).
///
/// # Errors
/// Writer errors naming the file.
pub fn write_scores(frame: &TimeFrame, path: &Path) -> Result<()> {
    let opts = WriteOptions::default();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => write_parquet(frame, path, &opts)?,
        "arrow" | "ipc" | "feather" => write_arrow_ipc(frame, path, &opts)?,
        _ => write_csv(frame, path, &opts)?,
    }
    Ok(())
}

/// Write the alarm segments as CSV:
/// `series_id,start,end,start_time,end_time,peak_score,top_variates` (rows `[start, end)`,
/// `top_variates` = `name:share;…`).
///
/// # Errors
/// I/O errors naming the file.
pub fn write_segments(
    path: &Path,
    columns: &[String],
    input: &[&Series],
    scores: &[SeriesScores],
) -> Result<()> {
    let mut out = String::from("series_id,start,end,start_time,end_time,peak_score,top_variates\n");
    for (s, r) in input.iter().zip(scores) {
        for seg in &r.segments {
            let (a, b) = (seg.start as usize, (seg.end as usize).min(s.len()));
            let end_time = s
                .timestamps
                .get(b)
                .or(s.timestamps.last())
                .copied()
                .unwrap_or_default();
            let top: Vec<String> = seg
                .top
                .iter()
                .map(|t| format!("{}:{:.3}", columns[t.variate], t.share))
                .collect();
            let _ = writeln!(
                out,
                "{},{a},{b},{},{},{:.4},{}",
                s.id,
                format_micros(s.timestamps[a.min(s.len() - 1)]),
                format_micros(end_time),
                seg.peak,
                top.join(";")
            );
        }
    }
    std::fs::write(path, out).map_err(|source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}
