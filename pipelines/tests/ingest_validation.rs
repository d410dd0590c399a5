//! One test per validation error (exact variant and fields), missing policies, gaps,
//! frequency inference, strict columns.
// Tests match the one expected error variant and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
mod ingest_util;

use ingest_util::*;
use statecast_pipelines::Error;
use statecast_pipelines::frame::Frequency;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::Layout;
use statecast_pipelines::validate::TIME_GRID;

fn csv(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "d.csv", content);
    (dir, p)
}

const MULTI: &str = "id,ts,x\n";

#[test]
fn missing_column_lists_available() {
    let (_d, p) = csv("date,x,y\n2020-01-01,1,2\n2020-01-02,1,2\n");
    let err = load_with(&p, |s| {
        s.layout = Layout::Wide {
            time_column: None,
            series_column: None,
            value_columns: Some(vec!["x".into(), "z".into()]),
        }
    })
    .unwrap_err();
    match err {
        Error::MissingColumn { column, available } => {
            assert_eq!((column.as_str(), available.as_str()), ("z", "date, x, y"))
        }
        other => panic!("{other:?}"),
    }
    let err = load_with(&p, |s| s.label_column = Some("label".into())).unwrap_err();
    assert!(matches!(err, Error::MissingColumn { column, .. } if column == "label"));
    // An optional label column the file lacks: read without labels.
    let (f, _) = load_with(&p, |s| {
        s.label_column = Some("label".into());
        s.label_column_optional = true;
    })
    .unwrap();
    assert_eq!(
        (f.columns.as_slice(), f.series[0].labels.as_ref()),
        (&["x".to_string(), "y".into()][..], None)
    );
}

#[test]
fn an_optional_label_column_is_used_when_present() {
    let (_d, p) = csv("date,x,label\n2020-01-01,1,0\n2020-01-02,1,1\n");
    let (f, _) = load_with(&p, |s| {
        s.label_column = Some("label".into());
        s.label_column_optional = true;
    })
    .unwrap();
    assert_eq!(f.columns, ["x"], "label is not a variate");
    assert_eq!(f.series[0].labels.as_deref(), Some(&[0u8, 1][..]));
}

#[test]
fn strict_columns_reject_unmapped() {
    let (_d, p) = csv("date,x,extra\n2020-01-01,1,2\n2020-01-02,1,2\n");
    let value_x = |s: &mut statecast_pipelines::source::DatasetSpec| {
        s.layout = Layout::Wide {
            time_column: None,
            series_column: None,
            value_columns: Some(vec!["x".into()]),
        };
    };
    assert!(load_with(&p, value_x).is_ok(), "non-strict ignores `extra`");
    let err = load_with(&p, |s| {
        value_x(s);
        s.strict_columns = true;
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::UnknownColumn { ref column, .. } if column == "extra"),
        "{err:?}"
    );
    // Auto value columns name every column: strict passes.
    assert!(load_with(&p, |s| s.strict_columns = true).is_ok());
}

#[test]
fn string_cell_in_value_column() {
    let (_d, p) = csv("date,x,y\n2020-01-01,1,2\n2020-01-02,1,oops\n");
    match load_with(&p, |_| {}).unwrap_err() {
        Error::NotNumeric { column, row, value } => {
            assert_eq!((column.as_str(), row, value.as_str()), ("y", 1, "oops"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unparseable_timestamp() {
    let (_d, p) = csv("date,x\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,1\n2020-13-01 02:00:00,1\n");
    match load_with(&p, |_| {}).unwrap_err() {
        Error::BadTimestamp { column, row, value } => {
            assert_eq!(
                (column.as_str(), row, value.as_str()),
                ("date", 2, "2020-13-01 02:00:00")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsorted_timestamps_per_series() {
    // Interleaved series are fine; going back in time within `b` is not.
    let (_d, p) = csv(&format!(
        "{MULTI}a,2020-01-01 00:00,1\nb,2020-01-01 01:00,1\na,2020-01-01 01:00,1\nb,2020-01-01 00:00,1\n"
    ));
    let err = load_with(&p, |s| {
        s.layout = Layout::Long {
            series_column: "id".into(),
            time_column: "ts".into(),
            value_column: "x".into(),
            variable_column: None,
        }
    })
    .unwrap_err();
    match err {
        Error::UnsortedTimestamps {
            series,
            row,
            previous,
            next,
        } => {
            assert_eq!((series.as_str(), row), ("b", 3));
            assert_eq!(
                (previous.as_str(), next.as_str()),
                ("2020-01-01 01:00:00", "2020-01-01 00:00:00")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_timestamps_per_series() {
    let (_d, p) = csv(&format!(
        "{MULTI}a,2020-01-01 00:00,1\nb,2020-01-01 00:00,1\na,2020-01-01 01:00,1\na,2020-01-01 01:00,2\n"
    ));
    let err = load_with(&p, |s| {
        s.layout = Layout::Wide {
            time_column: Some("ts".into()),
            series_column: Some("id".into()),
            value_columns: None,
        }
    })
    .unwrap_err();
    match err {
        Error::DuplicateTimestamp {
            series,
            row,
            timestamp,
        } => {
            assert_eq!(
                (series.as_str(), row, timestamp.as_str()),
                ("a", 3, "2020-01-01 01:00:00")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn irregular_spacing() {
    let (_d, p) =
        csv("date,x\n2020-01-01 00:00,1\n2020-01-01 01:00,1\n2020-01-01 02:00,1\n2020-01-01 02:30,1\n");
    match load_with(&p, |_| {}).unwrap_err() {
        Error::IrregularSpacing {
            series,
            row,
            step,
            frequency,
        } => {
            assert_eq!(
                (series.as_str(), row, step.as_str(), frequency.as_str()),
                ("d", 3, "30min", "1h")
            );
        }
        other => panic!("{other:?}"),
    }
    // With an explicit frequency of 30 min the same file has no error (gaps need a policy).
    let (f, r) = load_with(&p, |s| {
        s.frequency = Some(Frequency::minutes(30));
        s.missing = MissingPolicy::Mask;
    })
    .unwrap();
    assert_eq!(r.gaps_filled, 2);
    assert_eq!(f.series[0].len(), 6);
}

#[test]
fn infinity_is_an_error_nan_is_missing() {
    let (_d, p) = csv("date,x,y\n2020-01-01,1,2\n2020-01-02,NaN,-inf\n");
    match load_with(&p, |s| s.missing = MissingPolicy::Mask).unwrap_err() {
        Error::NonFinite {
            column,
            series,
            row,
            value,
        } => {
            assert_eq!(
                (column.as_str(), series.as_str(), row, value.as_str()),
                ("y", "d", 1, "-inf")
            )
        }
        other => panic!("{other:?}"),
    }
    let (_d, p) = csv("date,x\n2020-01-01,1\n2020-01-02,NaN\n2020-01-03,\n2020-01-04,4\n");
    match load_with(&p, |_| {}).unwrap_err() {
        Error::MissingValues {
            column,
            series,
            count,
            first_row,
        } => {
            assert_eq!(
                (column.as_str(), series.as_str(), count, first_row),
                ("x", "d", 2, 1)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_synthetic_index_past_the_end_of_time_is_an_error() {
    // No time column: rows get 0, f, 2f, … With f = 15 250 284 weeks (the largest whole
    // number of weeks that fits in i64 µs), row 2 lies past i64::MAX.
    let (_d, p) = csv("x\n1\n2\n3\n");
    let huge = Frequency::parse("15250284w").unwrap();
    match load_with(&p, |s| s.frequency = Some(huge)).unwrap_err() {
        Error::TimestampOverflow { series, row, what } => {
            assert_eq!((series.as_str(), row), ("d", 2));
            assert!(what.contains("synthetic timestamp 2 × 15250284w"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // Two rows still fit.
    let (_d, p) = csv("x\n1\n2\n");
    assert!(load_with(&p, |s| s.frequency = Some(huge)).is_ok());
}

#[test]
fn frequency_inference() {
    // Steps: 15 min ×3, 30 min ×1 (a gap) → 15 min.
    let (_d, p) = csv(
        "date,x\n2020-01-01 00:00,1\n2020-01-01 00:15,2\n2020-01-01 00:30,3\n2020-01-01 01:00,5\n2020-01-01 01:15,6\n",
    );
    let (f, r) = load_with(&p, |s| s.missing = MissingPolicy::Linear).unwrap();
    assert_eq!(r.frequency, Frequency::minutes(15));
    assert_eq!(f.frequency, Some(Frequency::minutes(15)));
    assert_eq!(
        col(&f, 0, 0),
        [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0), Some(6.0)]
    );
    // Fewer than 2 rows → Frequency error.
    let (_d, p) = csv("date,x\n2020-01-01 00:00,1\n");
    assert!(matches!(load_with(&p, |_| {}), Err(Error::Frequency { .. })));
    // ... unless given.
    assert!(load_with(&p, |s| s.frequency = Some(Frequency::minutes(1))).is_ok());
}

#[test]
fn gaps_under_error_policy_and_filled() {
    let content = "date,x,y\n2020-01-01 00:00,1,10\n2020-01-01 01:00,2,20\n2020-01-01 02:00,3,30\n2020-01-01 05:00,6,60\n2020-01-01 06:00,7,70\n";
    let (_d, p) = csv(content);
    match load_with(&p, |_| {}).unwrap_err() {
        Error::MissingValues {
            column,
            series,
            count,
            first_row,
        } => {
            assert_eq!(
                (column.as_str(), series.as_str(), count, first_row),
                (TIME_GRID, "d", 2, 3)
            )
        }
        other => panic!("{other:?}"),
    }
    let (f, r) = load_with(&p, |s| s.missing = MissingPolicy::Mask).unwrap();
    assert_eq!(r.gaps_filled, 2);
    assert_eq!(r.rows_read, 5);
    let ts: Vec<i64> = f.series[0]
        .timestamps
        .iter()
        .map(|t| (t - f.series[0].timestamps[0]) / 3_600_000_000)
        .collect();
    assert_eq!(ts, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        col(&f, 0, 1),
        [
            Some(10.0),
            Some(20.0),
            Some(30.0),
            None,
            None,
            Some(60.0),
            Some(70.0)
        ]
    );
    assert_eq!(r.missing.len(), 2);
    assert!(
        r.missing
            .iter()
            .all(|m| m.count == 2 && m.filled_by == MissingPolicy::Mask)
    );
}

/// A hand-made series: x = [_, 2, _, _, 8, _], y = [1, _, 3, 4, _, _] with a gap after row 2.
const HAND: &str = "date,x,y\n\
2020-01-01 00:00,,1\n\
2020-01-01 01:00,2,\n\
2020-01-01 02:00,,3\n\
2020-01-01 04:00,8,\n\
2020-01-01 05:00,NA,null\n";
// On the grid (03:00 inserted): x = [_, 2, _, _, 8, _], y = [1, _, 3, _, _, _]

#[test]
fn missing_policy_ffill() {
    let (_d, p) = csv(HAND);
    let (f, r) = load_with(&p, |s| s.missing = MissingPolicy::ForwardFill).unwrap();
    assert_eq!(r.gaps_filled, 1);
    assert_eq!(col(&f, 0, 0), [2.0, 2.0, 2.0, 2.0, 8.0, 8.0].map(Some));
    assert_eq!(col(&f, 0, 1), [1.0, 1.0, 3.0, 3.0, 3.0, 3.0].map(Some));
    let counts: Vec<(String, usize)> = r.missing.iter().map(|m| (m.column.clone(), m.count)).collect();
    assert_eq!(counts, [("x".to_string(), 4), ("y".to_string(), 4)]);
    assert!(
        r.missing
            .iter()
            .all(|m| m.filled_by == MissingPolicy::ForwardFill && m.series == "d")
    );
}

#[test]
fn missing_policy_linear() {
    let (_d, p) = csv(HAND);
    let (f, _) = load_with(&p, |s| s.missing = MissingPolicy::Linear).unwrap();
    assert_eq!(col(&f, 0, 0), [2.0, 2.0, 4.0, 6.0, 8.0, 8.0].map(Some));
    assert_eq!(col(&f, 0, 1), [1.0, 2.0, 3.0, 3.0, 3.0, 3.0].map(Some));
}

#[test]
fn missing_policy_mask_and_error() {
    let (_d, p) = csv(HAND);
    let (f, _) = load_with(&p, |s| s.missing = MissingPolicy::Mask).unwrap();
    assert_eq!(col(&f, 0, 0), [None, Some(2.0), None, None, Some(8.0), None]);
    assert_eq!(col(&f, 0, 1), [Some(1.0), None, Some(3.0), None, None, None]);
    // Under `error` the gap is reported first.
    assert!(matches!(load_with(&p, |_| {}), Err(Error::MissingValues { column, .. }) if column == TIME_GRID));
}

#[test]
fn all_missing_column_is_unfillable() {
    let (_d, p) = csv("date,x,y\n2020-01-01,1,\n2020-01-02,2,\n");
    for policy in [MissingPolicy::ForwardFill, MissingPolicy::Linear] {
        match load_with(&p, |s| s.missing = policy).unwrap_err() {
            Error::Unfillable { column, series, .. } => {
                assert_eq!((column.as_str(), series.as_str()), ("y", "d"))
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(load_with(&p, |s| s.missing = MissingPolicy::Mask).is_ok());
}

#[test]
fn policies_apply_per_series() {
    // ffill must not carry `a`'s last value into `b`.
    let (_d, p) = csv(
        "id,ts,x\na,2020-01-01 00:00,1\na,2020-01-01 01:00,2\nb,2020-01-01 00:00,\nb,2020-01-01 01:00,5\n",
    );
    let (f, r) = load_with(&p, |s| {
        s.layout = Layout::Wide {
            time_column: Some("ts".into()),
            series_column: Some("id".into()),
            value_columns: None,
        };
        s.missing = MissingPolicy::ForwardFill;
    })
    .unwrap();
    assert_eq!(col(&f, 1, 0), [Some(5.0), Some(5.0)]);
    assert_eq!(r.missing.len(), 1);
    assert_eq!((r.missing[0].series.as_str(), r.missing[0].count), ("b", 1));
}

#[test]
fn bad_labels() {
    let (_d, p) = csv("date,x,label\n2020-01-01,1,0\n2020-01-02,1,2\n");
    match load_with(&p, |s| s.label_column = Some("label".into())).unwrap_err() {
        Error::InvalidCell {
            column, row, value, ..
        } => assert_eq!((column.as_str(), row, value.as_str()), ("label", 1, "2")),
        other => panic!("{other:?}"),
    }
    let (_d, p) = csv("date,x,label\n2020-01-01,1,true\n2020-01-02,1,0.0\n");
    let (f, _) = load_with(&p, |s| s.label_column = Some("label".into())).unwrap();
    assert_eq!(f.columns, ["x"], "label is not a variate");
    assert_eq!(f.series[0].labels.as_deref(), Some(&[1u8, 0][..]));
}
