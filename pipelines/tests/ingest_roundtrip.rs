//! Writers and readers agree: TimeFrame → CSV → load → Parquet → load → IPC → load, streaming
//! scan = load, projection.
// Tests match the one expected error variant and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
mod ingest_util;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use ingest_util::*;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use statecast_pipelines::frame::TimeFrame;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::sink::{WriteOptions, write_arrow_ipc, write_csv, write_parquet};
use statecast_pipelines::source::{Chunk, DatasetSpec, Format, Layout, load, scan};

fn labelled(path: &std::path::Path) -> DatasetSpec {
    DatasetSpec {
        layout: Layout::Wide {
            time_column: None,
            series_column: Some("series_id".into()),
            value_columns: None,
        },
        label_column: Some("label".into()),
        missing: MissingPolicy::Mask,
        ..DatasetSpec::wide(path)
    }
}

#[test]
fn csv_parquet_ipc_round_trip_is_bitwise() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture();
    let opts = WriteOptions::default();

    let csv = dir.path().join("a.csv");
    write_csv(&original, &csv, &opts).unwrap();
    let (f1, r1) = load(&labelled(&csv)).unwrap();
    assert_same(&original, &f1);
    assert_eq!(r1.format, Format::Csv);
    assert_eq!(r1.rows_read, 55);
    assert_eq!(r1.series, 2);
    assert_eq!(r1.gaps_filled, 0);
    let masked: usize = r1.missing.iter().map(|m| m.count).sum();
    let nans: usize = original
        .series
        .iter()
        .flat_map(|s| &s.values)
        .flatten()
        .filter(|v| v.is_nan())
        .count();
    assert!(nans > 0);
    assert_eq!(masked, nans);
    assert!(r1.missing.iter().all(|m| m.filled_by == MissingPolicy::Mask));

    let pq = dir.path().join("b.parquet");
    write_parquet(&f1, &pq, &opts).unwrap();
    let (f2, r2) = load(&labelled(&pq)).unwrap();
    assert_eq!(r2.format, Format::Parquet);
    assert_same(&original, &f2);

    let ipc = dir.path().join("c.arrow");
    write_arrow_ipc(&f2, &ipc, &opts).unwrap();
    let (f3, r3) = load(&labelled(&ipc)).unwrap();
    assert_eq!(r3.format, Format::ArrowIpc);
    assert_same(&original, &f3);
    assert_eq!(r1.missing, r3.missing);

    // gzip CSV, detected by magic bytes even under a misleading name.
    let gz = dir.path().join("d.csv.gz");
    write_csv(&f3, &gz, &opts).unwrap();
    assert_eq!(&std::fs::read(&gz).unwrap()[..2], &[0x1f, 0x8b]);
    assert_same(&original, &load(&labelled(&gz)).unwrap().0);
    let renamed = dir.path().join("d_plain_name.csv");
    std::fs::copy(&gz, &renamed).unwrap();
    assert_same(&original, &load(&labelled(&renamed)).unwrap().0);

    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn csv_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = fixture();
    f.series.truncate(1);
    f.series[0].timestamps.truncate(2);
    for c in &mut f.series[0].values {
        c.truncate(2);
    }
    f.series[0].values[0] = vec![0.1, f32::NAN];
    f.series[0].labels = Some(vec![0, 1]);
    let p = dir.path().join("x.csv");
    write_csv(&f, &p, &WriteOptions::default()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "series_id,timestamp,a,b b,\"c,1\",label");
    assert!(
        lines[1].starts_with("s-1,2016-07-01 00:00:00,0.1,"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("s-1,2016-07-01 01:00:00,,"), "{}", lines[2]);
    assert!(lines[2].ends_with(",1"));
}

#[test]
fn parquet_schema_and_row_groups() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    let opts = WriteOptions {
        row_group_rows: 10,
        ..WriteOptions::default()
    };
    write_parquet(&fixture(), &p, &opts).unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    let md = reader.metadata();
    assert!(md.num_row_groups() >= 6, "{}", md.num_row_groups());
    assert!((0..md.num_row_groups()).all(|i| md.row_group(i).num_rows() <= 10));
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&p).unwrap(),
    )
    .unwrap();
    let schema = b.schema();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        [
            "series_id:Utf8",
            "timestamp:Timestamp(µs)",
            "a:Float32",
            "b b:Float32",
            "c,1:Float32",
            "label:UInt8"
        ]
    );
    assert_eq!(
        md.row_group(0).column(2).compression(),
        parquet::basic::Compression::ZSTD(Default::default())
    );
}

fn concat_chunks(chunks: &[Chunk], columns: &[String]) -> TimeFrame {
    let mut out = TimeFrame {
        columns: columns.to_vec(),
        series: Vec::new(),
        frequency: None,
    };
    for ch in chunks {
        for r in 0..ch.len() {
            let id: &Arc<str> = &ch.series[r];
            let k = match out.series.iter().position(|s| s.id == **id) {
                Some(k) => k,
                None => {
                    out.series.push(statecast_pipelines::Series {
                        id: id.to_string(),
                        timestamps: vec![],
                        values: vec![vec![]; columns.len()],
                        labels: ch.labels.as_ref().map(|_| vec![]),
                    });
                    out.series.len() - 1
                }
            };
            let s = &mut out.series[k];
            s.timestamps.push(ch.timestamps[r]);
            for (c, v) in s.values.iter_mut().enumerate() {
                v.push(ch.values[c][r]);
            }
            if let (Some(l), Some(src)) = (s.labels.as_mut(), &ch.labels) {
                l.push(src[r]);
            }
        }
    }
    out
}

#[test]
fn scan_over_row_groups_equals_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    write_parquet(
        &fixture(),
        &p,
        &WriteOptions {
            row_group_rows: 8,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    let spec = DatasetSpec {
        batch_rows: 8,
        ..labelled(&p)
    };
    let (loaded, _) = load(&spec).unwrap();
    let sc = scan(&spec).unwrap();
    assert_eq!(sc.frequency().micros, HOUR);
    let columns = sc.columns().to_vec();
    let chunks: Vec<Chunk> = sc.collect::<Result<_, _>>().unwrap();
    assert!(chunks.len() >= 7, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= 8));
    let mut joined = concat_chunks(&chunks, &columns);
    joined.frequency = loaded.frequency;
    assert_same(&loaded, &joined);

    // Gaps are inserted on the fly too (mask), matching load.
    let csv = write(
        dir.path(),
        "g.csv",
        "date,x\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 04:00,5\n2020-01-01 05:00,6\n",
    );
    let spec = DatasetSpec {
        batch_rows: 3,
        missing: MissingPolicy::Mask,
        ..DatasetSpec::wide(&csv)
    };
    let chunks: Vec<Chunk> = scan(&spec).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(chunks.len(), 2);
    let mut joined = concat_chunks(&chunks, &["x".to_string()]);
    let (loaded, report) = load(&spec).unwrap();
    joined.frequency = loaded.frequency;
    assert_eq!(report.gaps_filled, 2);
    assert_same(&loaded, &joined);
}

#[test]
fn scan_validates_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "u.csv",
        "date,x\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 02:00,3\n2020-01-01 01:00,4\n",
    );
    let spec = DatasetSpec {
        batch_rows: 3,
        ..DatasetSpec::wide(&csv)
    };
    let results: Vec<_> = scan(&spec).unwrap().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    match &results[1] {
        Err(statecast_pipelines::Error::UnsortedTimestamps { row, .. }) => assert_eq!(row, &3),
        other => panic!("{other:?}"),
    }
    let spec = DatasetSpec {
        missing: MissingPolicy::Linear,
        ..spec
    };
    assert!(matches!(
        scan(&spec),
        Err(statecast_pipelines::Error::InvalidConfig { .. })
    ));
}

fn parquet_with_extra_string_column(path: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![0, 60, 120, 180])) as ArrayRef,
            Arc::new(StringArray::from(vec!["not", "a", "number", "!"])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(2.5),
                Some(f64::NAN),
            ])),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn projection_skips_unmapped_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.parquet");
    parquet_with_extra_string_column(&p);
    let spec = DatasetSpec {
        layout: Layout::Wide {
            time_column: Some("ts".into()),
            series_column: None,
            value_columns: Some(vec!["v".into()]),
        },
        missing: MissingPolicy::Mask,
        ..DatasetSpec::wide(&p)
    };
    let (f, report) = load(&spec).unwrap();
    assert_eq!(f.columns, ["v"]);
    assert_eq!(report.frequency.micros, 60_000_000, "Int64 time = epoch seconds");
    assert_eq!(f.series[0].timestamps, [0, 60_000_000, 120_000_000, 180_000_000]);
    assert_eq!(col(&f, 0, 0), [Some(1.5), None, Some(2.5), None]);
    assert_eq!(f.series[0].id, "x");
    // Mapping every column (auto) hits the string column: a typed error, not a panic.
    let auto = DatasetSpec {
        layout: Layout::Wide {
            time_column: Some("ts".into()),
            series_column: None,
            value_columns: None,
        },
        ..spec.clone()
    };
    match load(&auto) {
        Err(statecast_pipelines::Error::ColumnType {
            column,
            expected,
            found,
        }) => {
            assert_eq!(
                (column.as_str(), expected.as_str(), found.as_str()),
                ("note", "numeric", "Utf8")
            );
        }
        other => panic!("{other:?}"),
    }
    // Same for CSV: a non-numeric unmapped column is never parsed.
    let csv = write(
        dir.path(),
        "x.csv",
        "date,note,v\n2020-01-01 00:00,abc,1\n2020-01-01 00:01,def,2\n",
    );
    let (f, _) = load_with(&csv, |s| {
        s.layout = Layout::Wide {
            time_column: None,
            series_column: None,
            value_columns: Some(vec!["v".into()]),
        }
    })
    .unwrap();
    assert_eq!(col(&f, 0, 0), [Some(1.0), Some(2.0)]);
    // IPC too.
    let (frame, _) = load(&spec).unwrap();
    let ipc = dir.path().join("x.arrow");
    write_arrow_ipc(
        &frame,
        &ipc,
        &WriteOptions {
            series_column: None,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    let (g, _) = load(&DatasetSpec {
        missing: MissingPolicy::Mask,
        ..DatasetSpec::wide(&ipc)
    })
    .unwrap();
    assert_eq!(col(&g, 0, 0), [Some(1.5), None, Some(2.5), None]);
}
