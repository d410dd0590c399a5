//! Writing a [`Simulation`]'s ground truth (and, through [`crate::sink`], its data) to files.
//! Every file is written to a temporary name in the same directory and renamed into place, so
//! readers never see a half-written file.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::anomaly::{AnomalyKind, AnomalySegment};
use super::generate::Simulation;
use crate::sink::{WriteOptions, write_csv, write_parquet};
use crate::{Error, Result};

/// Header of the segments CSV; `variates` is a `;`-separated list of sensor names.
const SEGMENTS_HEADER: [&str; 7] = [
    "series",
    "kind",
    "start",
    "end",
    "start_time",
    "end_time",
    "variates",
];

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write through `fill` to `path.tmp-<pid>` beside `path`, flush, fsync, then rename over
/// `path`. The temporary file is removed on failure.
pub(crate) fn write_atomic(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    let reason = e.to_string();
    if let csv::ErrorKind::Io(source) = e.into_kind() {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    } else {
        Error::CorruptFile {
            path: path.to_path_buf(),
            format: "csv",
            reason,
        }
    }
}

/// Write `segments` as CSV with header `series,kind,start,end,start_time,end_time,variates`
/// (`start` inclusive, `end` exclusive, `variates` separated by `;`), atomically.
pub fn write_segments_csv(segments: &[AnomalySegment], path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(SEGMENTS_HEADER).map_err(|e| csv_err(path, e))?;
        for s in segments {
            let (start, end) = (s.start.to_string(), s.end.to_string());
            let variates = s.variates.join(";");
            let row = [
                &s.series,
                s.kind.as_str(),
                &start,
                &end,
                &s.start_time,
                &s.end_time,
                &variates,
            ];
            csv.write_record(row).map_err(|e| csv_err(path, e))?;
        }
        csv.flush().map_err(io_err(path))
    })
}

/// Read a file written by [`write_segments_csv`].
pub fn read_segments_csv(path: &Path) -> Result<Vec<AnomalySegment>> {
    let mut csv = csv::Reader::from_path(path).map_err(|e| csv_err(path, e))?;
    let header = csv.headers().map_err(|e| csv_err(path, e))?;
    if header.iter().ne(SEGMENTS_HEADER) {
        return Err(Error::CorruptFile {
            path: path.to_path_buf(),
            format: "csv",
            reason: format!("expected header `{}`", SEGMENTS_HEADER.join(",")),
        });
    }
    let mut out = Vec::new();
    for (row, record) in csv.records().enumerate() {
        let r = record.map_err(|e| csv_err(path, e))?;
        let number = |i: usize| {
            r[i].parse::<usize>().map_err(|_| Error::NotNumeric {
                column: SEGMENTS_HEADER[i].to_string(),
                row,
                value: r[i].to_string(),
            })
        };
        let kind: AnomalyKind = r[1].parse()?;
        let variates = r[6]
            .split(';')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        out.push(AnomalySegment {
            series: r[0].to_string(),
            kind,
            start: number(2)?,
            end: number(3)?,
            start_time: r[4].to_string(),
            end_time: r[5].to_string(),
            variates,
        });
    }
    Ok(out)
}

/// Write `segments` as a pretty-printed JSON array of [`AnomalySegment`] objects, atomically.
pub fn write_segments_json(segments: &[AnomalySegment], path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, segments).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(io_err(path))
    })
}

/// Paths written by [`write_simulation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFiles {
    /// `<dir>/sensors.parquet`: columns `series_id, timestamp, <variates>, label`.
    pub sensors_parquet: PathBuf,
    /// `<dir>/sensors.csv`, when CSV was asked for.
    pub sensors_csv: Option<PathBuf>,
    /// `<dir>/anomalies.csv` (see [`write_segments_csv`]).
    pub anomalies_csv: PathBuf,
}

/// Write `sim` into `dir` (created if missing): `sensors.parquet` (and `sensors.csv` when `csv`)
/// with the default [`crate::sink::WriteOptions`] columns `series_id, timestamp, <variates>,
/// label`, and `anomalies.csv` (see [`write_segments_csv`]). Each file is written atomically.
pub fn write_simulation(sim: &Simulation, dir: &Path, csv: bool) -> Result<SimFiles> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let opts = WriteOptions::default();
    let files = SimFiles {
        sensors_parquet: dir.join("sensors.parquet"),
        sensors_csv: csv.then(|| dir.join("sensors.csv")),
        anomalies_csv: dir.join("anomalies.csv"),
    };
    write_parquet(&sim.frame, &files.sensors_parquet, &opts)?;
    if let Some(path) = &files.sensors_csv {
        write_csv(&sim.frame, path, &opts)?;
    }
    write_segments_csv(&sim.segments, &files.anomalies_csv)?;
    Ok(files)
}
