//! The opt-in `NonIncreasing::Drop` timestamp policy: rows whose timestamp is not after the
//! previous kept row (a clock set back, a repeated timestamp) are dropped and counted; the
//! default still rejects the file.
use statecast_pipelines::Error;
use statecast_pipelines::source::{DatasetSpec, NonIncreasing, load};

#[test]
fn drop_policy_drops_and_counts_rows_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("dst.csv");
    // Row 3 repeats 02:00, rows 4-5 go back an hour (DST), row 6 continues after 02:00.
    std::fs::write(
        &csv,
        "timestamp,value\n\
         2020-01-01 00:00:00,1\n\
         2020-01-01 01:00:00,2\n\
         2020-01-01 02:00:00,3\n\
         2020-01-01 02:00:00,30\n\
         2020-01-01 01:00:00,20\n\
         2020-01-01 01:30:00,21\n\
         2020-01-01 03:00:00,4\n",
    )
    .unwrap();
    let spec = DatasetSpec::wide(&csv);
    assert_eq!(spec.non_increasing, NonIncreasing::Error);
    let err = load(&spec).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DuplicateTimestamp { .. } | Error::UnsortedTimestamps { .. }
        ),
        "{err:?}"
    );

    let spec = DatasetSpec {
        non_increasing: NonIncreasing::Drop,
        ..spec
    };
    let (frame, report) = load(&spec).unwrap();
    assert_eq!(report.rows_read, 7);
    assert_eq!(report.dropped_non_increasing, 3);
    let s = &frame.series[0];
    assert_eq!(s.values[0], vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(s.len(), 4);
    assert!(s.timestamps.windows(2).all(|w| w[0] < w[1]));
}
