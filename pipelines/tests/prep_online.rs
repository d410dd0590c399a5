//! Online windows: equality with the offline series, validation, gaps, expiry, bounds, state.
#![allow(clippy::single_range_in_vec_init)]
mod prep_common;

use prep_common::{HOUR, frame, slice};
use statecast_pipelines::online::{GapPolicy, OnlineWindow, OnlineWindows};
use statecast_pipelines::{Error, Frequency};

fn hourly() -> Option<Frequency> {
    Some(Frequency::from_micros(HOUR))
}

#[test]
fn online_window_equals_last_rows_of_offline_series() {
    let f = frame(&[300], 4);
    let s = &f.series[0];
    let l = 96;
    let mut w = OnlineWindow::new("s0", l, 4, hourly()).unwrap();
    for t in 0..s.len() {
        w.push(s.timestamps[t], &s.row(t)).unwrap();
        assert_eq!(w.is_ready(), t + 1 >= l);
        // Checked at every step (covers every ring position), the full window each time.
        let n = (t + 1).min(l);
        assert_eq!(w.window(), slice(&f, 0, t + 1 - n, n), "after row {t}");
    }
    assert_eq!(w.pushed(), 300);
}

#[test]
fn bad_pushes_are_rejected_and_leave_state_unchanged() {
    let mut w = OnlineWindow::new("s", 3, 2, hourly()).unwrap();
    w.push(0, &[1.0, 2.0]).unwrap();
    w.push(HOUR, &[3.0, 4.0]).unwrap();
    let before = w.clone();
    let e = w.push(2 * HOUR, &[1.0]).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    let e = w.push(2 * HOUR, &[1.0, f32::NAN]).unwrap_err();
    assert!(
        matches!(&e, Error::NonFinite { column, row: 2, .. } if column == "#1"),
        "{e}"
    );
    let e = w.push(2 * HOUR, &[f32::INFINITY, 0.0]).unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    let e = w.push(HOUR, &[0.0, 0.0]).unwrap_err();
    assert!(matches!(e, Error::DuplicateTimestamp { row: 2, .. }), "{e}");
    let e = w.push(0, &[0.0, 0.0]).unwrap_err();
    assert!(matches!(e, Error::UnsortedTimestamps { .. }), "{e}");
    let e = w.push(HOUR + HOUR / 2, &[0.0, 0.0]).unwrap_err();
    assert!(matches!(e, Error::IrregularSpacing { .. }), "{e}");
    let e = w.push(4 * HOUR, &[0.0, 0.0]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingValues {
                count: 2,
                first_row: 2,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(w, before);
    w.push(2 * HOUR, &[5.0, 6.0]).unwrap();
    assert_eq!(w.window(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(matches!(
        OnlineWindow::new("s", 0, 2, None),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn gap_restart_policy_restarts_the_window() {
    let mut w = OnlineWindow::new("s", 3, 1, hourly())
        .unwrap()
        .with_gap_policy(GapPolicy::Restart);
    for t in 0..4 {
        w.push(t * HOUR, &[t as f32]).unwrap();
    }
    assert!(w.is_ready());
    w.push(10 * HOUR, &[10.0]).unwrap();
    assert_eq!((w.is_ready(), w.gaps(), w.window()), (false, 1, vec![10.0]));
    w.push(11 * HOUR, &[11.0]).unwrap();
    w.push(12 * HOUR, &[12.0]).unwrap();
    assert_eq!((w.is_ready(), w.window()), (true, vec![10.0, 11.0, 12.0]));
    // Without a frequency, any increasing timestamps are accepted.
    let mut free = OnlineWindow::new("f", 2, 1, None).unwrap();
    free.push(0, &[0.0]).unwrap();
    free.push(7, &[1.0]).unwrap();
    free.push(1000, &[2.0]).unwrap();
    assert_eq!(free.window(), vec![1.0, 2.0]);
}

#[test]
fn windows_by_id_bound_expiry_and_memory() {
    let cols: Vec<String> = vec!["a".into(), "b".into()];
    let mut ws = OnlineWindows::new(cols, 4, hourly(), 2).unwrap();
    assert!(ws.is_empty());
    ws.push("x", 0, &[1.0, 1.0]).unwrap();
    let empty_mem = ws.memory_bytes();
    ws.push("y", 0, &[2.0, 2.0]).unwrap();
    assert!(ws.memory_bytes() > empty_mem);
    let e = ws.push("z", 0, &[3.0, 3.0]).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { limit: 2, .. }), "{e}");
    assert_eq!(ws.len(), 2);
    // A bad first row of a new series does not create it.
    let e = ws.push("x", HOUR, &[f32::NAN, 0.0]).unwrap_err();
    assert!(
        matches!(&e, Error::NonFinite { column, series, .. } if column == "a" && series == "x"),
        "{e}"
    );
    for t in 1..10 {
        ws.push("x", t * HOUR, &[t as f32, 0.0]).unwrap();
    }
    let mem = ws.memory_bytes();
    for t in 10..100 {
        ws.push("x", t * HOUR, &[t as f32, 0.0]).unwrap();
    }
    assert_eq!(ws.memory_bytes(), mem, "memory must stay bounded");
    assert_eq!(
        ws.get("x").unwrap().window(),
        vec![96.0, 0.0, 97.0, 0.0, 98.0, 0.0, 99.0, 0.0]
    );
    // y's last row is at 0, x's at 99 h: expiring at 100 h with max idle 50 h drops y only.
    assert_eq!(ws.expire_idle(100 * HOUR, 50 * HOUR), vec!["y".to_string()]);
    assert_eq!(ws.ids().collect::<Vec<_>>(), vec!["x"]);
    ws.push("z", 0, &[3.0, 3.0]).unwrap();
    assert_eq!(ws.len(), 2);
    assert!(ws.expire_idle(100 * HOUR, 0).contains(&"z".to_string()));
}

#[test]
fn state_round_trips_through_json() {
    let f = frame(&[50, 30], 2);
    let mut ws = OnlineWindows::new(f.columns.clone(), 8, hourly(), 10).unwrap();
    for s in &f.series {
        for t in 0..s.len() {
            ws.push(&s.id, s.timestamps[t], &s.row(t)).unwrap();
        }
    }
    let json = serde_json::to_string(&ws).unwrap();
    let mut back: OnlineWindows = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ws);
    let next = f.series[0].timestamps[49] + HOUR;
    back.push("s0", next, &[1.0, 2.0]).unwrap();
    ws.push("s0", next, &[1.0, 2.0]).unwrap();
    assert_eq!(back.get("s0").unwrap().window(), ws.get("s0").unwrap().window());
    assert_eq!(back.get("s1").unwrap().window(), slice(&f, 1, 22, 8));
}
