//! Real datasets from `shared/data` (reported as ignored when it was not found at build time).
// Tests match the one expected error variant and panic on any other.
#![allow(clippy::wildcard_enum_match_arm)]
use statecast_pipelines::frame::{Frequency, format_micros};
use statecast_pipelines::shared_data::shared_data_file;
use statecast_pipelines::source::{DatasetSpec, Format, load, scan};

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn etth1_csv() {
    let p = shared_data_file("forecasting/ETTh1.csv");
    let (f, r) = load(&DatasetSpec::wide(&p)).unwrap();
    assert_eq!(r.format, Format::Csv);
    assert_eq!((r.rows_read, f.n_rows(), f.n_variates()), (17420, 17420, 7));
    assert_eq!(f.columns, ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]);
    assert_eq!(r.frequency, Frequency::parse("1h").unwrap());
    assert_eq!(r.gaps_filled, 0);
    assert!(r.missing.is_empty());
    let s = &f.series[0];
    assert_eq!(s.id, "ETTh1");
    assert_eq!(format_micros(s.timestamps[0]), "2016-07-01 00:00:00");
    assert_eq!(
        format_micros(*s.timestamps.last().unwrap()),
        "2018-06-26 19:00:00"
    );
    assert_eq!(s.values[0][0], 5.827_f32);
    assert_eq!(s.values[6][1], 27.787_f32);
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn ettm1_csv_gz() {
    let p = shared_data_file("forecasting/ETTm1.csv.gz");
    let (f, r) = load(&DatasetSpec::wide(&p)).unwrap();
    assert_eq!((f.n_rows(), f.n_variates()), (69680, 7));
    assert_eq!(r.frequency, Frequency::minutes(15));
    assert_eq!(format_micros(f.series[0].timestamps[0]), "2016-07-01 00:00:00");
    // Streaming scan agrees row for row.
    let mut n = 0;
    let mut chunks = 0;
    for c in scan(&DatasetSpec {
        batch_rows: 10_000,
        ..DatasetSpec::wide(&p)
    })
    .unwrap()
    {
        let c = c.unwrap();
        for (i, &t) in c.timestamps.iter().enumerate() {
            assert_eq!(t, f.series[0].timestamps[n + i]);
        }
        assert_eq!(c.values[6][..], f.series[0].values[6][n..n + c.len()]);
        n += c.len();
        chunks += 1;
    }
    assert_eq!((n, chunks), (69680, 7));
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn smd_headerless_txt_gz() {
    let name = "anomaly/SMD/train/machine-1-2.txt.gz";
    let p = shared_data_file(name);
    let (f, r) = load(&DatasetSpec {
        csv_header: false,
        ..DatasetSpec::wide(&p)
    })
    .unwrap();
    assert_eq!(f.n_variates(), 38);
    assert_eq!(f.columns[0], "c0");
    assert_eq!(r.frequency, Frequency::minutes(1));
    assert!(f.n_rows() > 20_000, "{}", f.n_rows());
    assert_eq!(f.series[0].id, "machine-1-2");
    assert_eq!(f.series[0].values[0][0], 0.16);
    assert_eq!(f.series[0].timestamps[1] - f.series[0].timestamps[0], 60_000_000);
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn other_shared_files_load() {
    for (rel, rows, vars, freq) in [
        ("forecasting/exchange_rate.csv", 7588, 8, "1d"),
        ("forecasting/national_illness.csv", 966, 7, "1w"),
        (
            "anomaly/NAB/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
            4032,
            1,
            "5min",
        ),
    ] {
        let p = shared_data_file(rel);
        let (f, r) = load(&DatasetSpec {
            missing: statecast_pipelines::missing::MissingPolicy::Mask,
            ..DatasetSpec::wide(&p)
        })
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!((r.rows_read, f.n_variates()), (rows, vars), "{rel}");
        assert_eq!(r.frequency, Frequency::parse(freq).unwrap(), "{rel}");
    }
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]
fn nab_machine_temperature_has_a_real_backwards_step() {
    // The file jumps back an hour after 2014-01-07 02:55 (line 10151): the validator must say so.
    let rel = "anomaly/NAB/data/realKnownCause/machine_temperature_system_failure.csv";
    let p = shared_data_file(rel);
    match load(&DatasetSpec::wide(&p)).unwrap_err() {
        statecast_pipelines::Error::UnsortedTimestamps {
            series,
            row,
            previous,
            next,
        } => {
            assert_eq!(
                (series.as_str(), row),
                ("machine_temperature_system_failure", 10149)
            );
            assert_eq!(
                (previous.as_str(), next.as_str()),
                ("2014-01-07 02:55:00", "2014-01-07 02:00:00")
            );
        }
        other => panic!("{other:?}"),
    }
}
