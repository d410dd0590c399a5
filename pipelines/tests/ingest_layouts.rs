//! Long (with and without variable column), several series per file, header-less CSV,
//! Arrow type coverage (dictionary ids, timestamps with time zones, dates), IPC stream format.
// Tests match the one expected error variant and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
mod ingest_util;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, TimestampNanosecondArray, UInt16Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use ingest_util::*;
use statecast_pipelines::frame::Frequency;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::{DatasetSpec, Layout, load};

fn long(var: Option<&str>) -> Layout {
    Layout::Long {
        series_column: "unique_id".into(),
        time_column: "ds".into(),
        value_column: "value".into(),
        variable_column: var.map(Into::into),
    }
}

#[test]
fn long_without_variable_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "l.csv",
        "unique_id,ds,value\nA,2020-01-01,1\nA,2020-01-02,2\nA,2020-01-03,3\nB,2020-01-01,10\nB,2020-01-02,20\n",
    );
    let (f, r) = load_with(&p, |s| s.layout = long(None)).unwrap();
    assert_eq!(f.columns, ["value"]);
    assert_eq!(r.series, 2);
    assert_eq!(r.frequency, Frequency::parse("1d").unwrap());
    assert_eq!(f.series[0].id, "A");
    assert_eq!(col(&f, 0, 0), [Some(1.0), Some(2.0), Some(3.0)]);
    assert_eq!(f.series[1].id, "B");
    assert_eq!(col(&f, 1, 0), [Some(10.0), Some(20.0)]);
    assert_eq!(f.series[1].timestamps, f.series[0].timestamps[..2]);
}

#[test]
fn long_with_variable_column_pivots_in_any_grouping() {
    let dir = tempfile::tempdir().unwrap();
    // Time-major: variables of one timestamp together; B lacks `y` at 01:00.
    let time_major = "unique_id,ds,variable,value\n\
        A,2020-01-01 00:00,x,1\nA,2020-01-01 00:00,y,10\nA,2020-01-01 01:00,x,2\nA,2020-01-01 01:00,y,20\n\
        B,2020-01-01 00:00,y,-10\nB,2020-01-01 00:00,x,-1\nB,2020-01-01 01:00,x,-2\n";
    // Variable-major (pandas melt order), series interleaved.
    let var_major = "unique_id,ds,variable,value\n\
        A,2020-01-01 00:00,x,1\nA,2020-01-01 01:00,x,2\nB,2020-01-01 00:00,x,-1\nB,2020-01-01 01:00,x,-2\n\
        A,2020-01-01 00:00,y,10\nA,2020-01-01 01:00,y,20\nB,2020-01-01 00:00,y,-10\n";
    for (name, content) in [("t.csv", time_major), ("v.csv", var_major)] {
        let p = write(dir.path(), name, content);
        let (f, r) = load_with(&p, |s| {
            s.layout = long(Some("variable"));
            s.missing = MissingPolicy::Mask;
        })
        .unwrap();
        assert_eq!(f.columns, ["x", "y"], "{name}");
        assert_eq!(r.rows_read, 7);
        assert_eq!(
            f.series.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert_eq!(col(&f, 0, 0), [Some(1.0), Some(2.0)]);
        assert_eq!(col(&f, 0, 1), [Some(10.0), Some(20.0)]);
        assert_eq!(col(&f, 1, 0), [Some(-1.0), Some(-2.0)]);
        assert_eq!(col(&f, 1, 1), [Some(-10.0), None], "{name}");
        assert_eq!(r.missing.len(), 1);
        assert_eq!(
            (r.missing[0].column.as_str(), r.missing[0].series.as_str()),
            ("y", "B")
        );
    }
    // A repeated (series, variable, time) is a duplicate.
    let p = write(
        dir.path(),
        "dup.csv",
        "unique_id,ds,variable,value\nA,2020-01-01,x,1\nA,2020-01-01,y,1\nA,2020-01-01,x,2\n",
    );
    let err = load_with(&p, |s| s.layout = long(Some("variable"))).unwrap_err();
    assert!(
        matches!(err, statecast_pipelines::Error::DuplicateTimestamp { ref series, row: 2, .. } if series == "A/x"),
        "{err:?}"
    );
}

#[test]
fn several_series_wide_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "m.csv",
        "machine,timestamp,cpu,mem,label\nm1,2020-01-01 00:00,0.5,0.1,0\nm2,2020-01-01 00:00,0.7,0.2,1\n\
         m1,2020-01-01 00:05,0.6,0.1,1\nm2,2020-01-01 00:05,0.8,0.3,0\n",
    );
    let (f, r) = load_with(&p, |s| {
        s.layout = Layout::Wide {
            time_column: None,
            series_column: Some("machine".into()),
            value_columns: None,
        };
        s.label_column = Some("label".into());
    })
    .unwrap();
    assert_eq!(f.columns, ["cpu", "mem"]);
    assert_eq!(r.frequency, Frequency::minutes(5));
    assert_eq!(f.get("m1").unwrap().labels.as_deref(), Some(&[0u8, 1][..]));
    assert_eq!(f.get("m2").unwrap().values[1], [0.2, 0.3]);
}

#[test]
fn headerless_csv_gets_synthetic_index() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_gz(
        dir.path(),
        "machine-9-9.txt.gz",
        "0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n",
    );
    let (f, r) = load_with(&p, |s| s.csv_header = false).unwrap();
    assert_eq!(f.columns, ["c0", "c1", "c2"]);
    assert_eq!(f.series[0].id, "machine-9-9");
    assert_eq!(r.frequency, Frequency::minutes(1));
    assert_eq!(f.series[0].timestamps, [0, 60_000_000, 120_000_000]);
    assert_eq!(col(&f, 0, 2), [Some(0.3), Some(0.6), Some(0.9)]);
    let (f, _) = load_with(&p, |s| {
        s.csv_header = false;
        s.frequency = Some(Frequency::parse("1s").unwrap());
    })
    .unwrap();
    assert_eq!(f.series[0].timestamps, [0, 1_000_000, 2_000_000]);
    // A headed file without any time-like column also gets the index (e.g. ASD).
    let p = write(dir.path(), "omi.csv", "m00,m01\n1,2\n3,4\n");
    let (f, _) = load_with(&p, |_| {}).unwrap();
    assert_eq!(f.columns, ["m00", "m01"]);
    assert_eq!(f.series[0].timestamps, [0, 60_000_000]);
}

fn arrow_types_batch() -> RecordBatch {
    let ids: DictionaryArray<Int32Type> = vec!["p", "p", "q", "q"].into_iter().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "id",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            false,
        ),
        Field::new("day", DataType::Date32, false),
        Field::new("i", DataType::Int32, true),
        Field::new("u", DataType::UInt16, false),
        Field::new("f", DataType::Float64, true),
        Field::new("flag", DataType::Int32, false),
    ]));
    let t0 = T0 * 1_000;
    let ns = |h: i64| t0 + h * HOUR * 1_000 + 7; // sub-µs part is truncated
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(ids) as ArrayRef,
            Arc::new(
                TimestampNanosecondArray::from(vec![ns(0), ns(1), ns(0), ns(1)]).with_timezone("+02:00"),
            ),
            Arc::new(Date32Array::from(vec![16983, 16984, 16983, 16984])),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(-4)])),
            Arc::new(UInt16Array::from(vec![1, 2, 3, 65535])),
            Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])),
            Arc::new(Int32Array::from(vec![0, 1, 1, 0])),
        ],
    )
    .unwrap()
}

#[test]
fn arrow_types_in_parquet_and_ipc_stream() {
    let dir = tempfile::tempdir().unwrap();
    let batch = arrow_types_batch();
    let pq = dir.path().join("t.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    // Stream format under an .ipc name.
    let ipc = dir.path().join("t.ipc");
    let mut w =
        arrow::ipc::writer::StreamWriter::try_new(std::fs::File::create(&ipc).unwrap(), &batch.schema())
            .unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    for path in [&pq, &ipc] {
        let spec = DatasetSpec {
            layout: Layout::Wide {
                time_column: Some("ts".into()),
                series_column: Some("id".into()),
                value_columns: Some(vec!["i".into(), "u".into(), "f".into()]),
            },
            label_column: Some("flag".into()),
            missing: MissingPolicy::Mask,
            ..DatasetSpec::wide(path)
        };
        let (f, r) = load(&spec).unwrap();
        assert_eq!(r.frequency.micros, HOUR, "{path:?}");
        assert_eq!(f.series[0].id, "p");
        assert_eq!(
            f.series[0].timestamps,
            [T0, T0 + HOUR],
            "stored instant, tz ignored"
        );
        assert_eq!(col(&f, 0, 0), [Some(1.0), None]);
        assert_eq!(col(&f, 1, 1), [Some(3.0), Some(65535.0)]);
        assert_eq!(f.series[1].labels.as_deref(), Some(&[1u8, 0][..]));
        // Date32 as the time column: midnight of each day.
        let by_day = DatasetSpec {
            layout: Layout::Wide {
                time_column: Some("day".into()),
                series_column: Some("id".into()),
                value_columns: Some(vec!["f".into()]),
            },
            ..spec.clone()
        };
        let (f, r) = load(&by_day).unwrap();
        assert_eq!(r.frequency, Frequency::parse("1d").unwrap());
        assert_eq!(f.series[0].timestamps[0], T0);
    }
}
