//! Splits, window index, dataset and batcher: the LTSF protocol arithmetic and exact contents.
#![allow(clippy::single_range_in_vec_init)]
mod prep_common;

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::{Device, Tensor};
use prep_common::{frame, slice};
use statecast_pipelines::Error;
use statecast_pipelines::split::{SplitPart, SplitRanges, SplitSpec};
use statecast_pipelines::window::{WindowBatcher, WindowDataset, WindowIndex, WindowItem, WindowSpec};

const HORIZONS: [usize; 4] = [96, 192, 336, 720];

fn counts(frame: &statecast_pipelines::TimeFrame, split: SplitSpec, spec: WindowSpec) -> [usize; 3] {
    let ranges = split.frame_ranges(frame, spec.lookback).unwrap();
    [SplitPart::Train, SplitPart::Val, SplitPart::Test]
        .map(|p| WindowIndex::for_split(frame, spec, &ranges, p).unwrap().len())
}

fn tensor_values(t: Tensor<3>) -> (Vec<usize>, Vec<f32>) {
    let data = t.into_data();
    let shape = data.shape().to_vec();
    (shape, data.as_slice::<f32>().unwrap().to_vec())
}

#[test]
fn ett_hourly_window_counts_match_protocol() {
    let f = frame(&[17420], 1);
    for h in HORIZONS {
        let got = counts(&f, SplitSpec::EttHourly, WindowSpec::new(96, h));
        assert_eq!(
            got,
            [8640 - 96 - h + 1, 11520 - 8640 - h + 1, 14400 - 11520 - h + 1],
            "H={h}"
        );
    }
}

#[test]
fn ett_15min_window_counts_match_protocol() {
    let f = frame(&[69680], 1);
    for h in HORIZONS {
        let got = counts(&f, SplitSpec::Ett15Min, WindowSpec::new(96, h));
        assert_eq!(
            got,
            [34560 - 96 - h + 1, 46080 - 34560 - h + 1, 57600 - 46080 - h + 1],
            "H={h}"
        );
    }
}

#[test]
fn ratio_split_on_exchange_rate_size() {
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let r = split.ranges(7588, 96).unwrap();
    assert_eq!(
        r,
        SplitRanges {
            train: 0..5311,
            val: 5215..6071,
            test: 5975..7588
        }
    );
    let f = frame(&[7588], 1);
    for h in HORIZONS {
        let got = counts(&f, split, WindowSpec::new(96, h));
        // LTSF: len = border2 − border1 − L − H + 1 per part.
        assert_eq!(got, [5311 - 96 - h + 1, 760 - h + 1, 1517 - h + 1], "H={h}");
    }
}

#[test]
fn split_applies_per_series_and_reports_short_series() {
    let f = frame(&[7588, 966], 2);
    let split: SplitSpec = "ratio:0.7,0.1,0.2".parse().unwrap();
    let r = split.frame_ranges(&f, 36).unwrap();
    assert_eq!(
        r[1],
        SplitRanges {
            train: 0..676,
            val: 640..773,
            test: 737..966
        }
    );
    let e = SplitSpec::EttHourly.frame_ranges(&f, 96).unwrap_err();
    assert!(
        matches!(&e, Error::TooShort { series, len: 7588, needed: 14400, .. } if series == "s0"),
        "{e}"
    );
    assert!(matches!(
        "ratio:0.5,0.1,0.2".parse::<SplitSpec>(),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn every_item_equals_its_source_slice() {
    let f = Arc::new(frame(&[40, 9, 25], 3));
    let spec = WindowSpec::new(5, 3);
    let idx = WindowIndex::full(&f, spec).unwrap();
    assert_eq!(idx.len(), (40 - 8 + 1) + (9 - 8 + 1) + (25 - 8 + 1));
    let ds = WindowDataset::new(f.clone(), idx).unwrap();
    let mut seen = Vec::new();
    for i in 0..ds.len() {
        let item = ds.get(i).unwrap();
        assert_eq!(item.x, slice(&f, item.series, item.start, 5), "x of window {i}");
        assert_eq!(
            item.y,
            slice(&f, item.series, item.start + 5, 3),
            "y of window {i}"
        );
        seen.push((item.series, item.start));
    }
    let expect: Vec<(usize, usize)> = [(0, 40), (1, 9), (2, 25)]
        .iter()
        .flat_map(|&(s, n)| (0..=n - 8).map(move |t| (s, t)))
        .collect();
    assert_eq!(seen, expect);
    assert!(ds.get(ds.len()).is_err());
}

#[test]
fn stride_and_split_ranges_choose_the_right_starts() {
    let f = Arc::new(frame(&[60], 2));
    let spec = WindowSpec::new(4, 2).with_stride(3);
    let split = SplitSpec::Rows {
        train_end: 30,
        val_end: 45,
        test_end: 60,
    };
    let ranges = split.frame_ranges(&f, 4).unwrap();
    let test = WindowIndex::for_split(&f, spec, &ranges, SplitPart::Test).unwrap();
    // Test rows [41, 60): floor((19 − 6) / 3) + 1 = 5 windows at 41, 44, 47, 50, 53.
    let starts: Vec<usize> = test.iter().map(|w| w.start).collect();
    assert_eq!(starts, vec![41, 44, 47, 50, 53]);
    let ds = WindowDataset::new(f.clone(), test).unwrap();
    let last = ds.get(4).unwrap();
    assert_eq!(last.y, slice(&f, 0, 57, 2));
}

#[test]
fn batcher_tensors_equal_source_slices() {
    let f = Arc::new(frame(&[30, 20], 3));
    let spec = WindowSpec::new(6, 4);
    let ds = WindowDataset::new(f.clone(), WindowIndex::full(&f, spec).unwrap()).unwrap();
    let device = Device::flex();
    let mut total = 0;
    for range in ds.index().batches(7, false) {
        let b = ds.batch(range.clone(), &device);
        let n = range.len();
        let (xs, x) = tensor_values(b.x);
        let (ys, y) = tensor_values(b.y);
        assert_eq!(xs, vec![n, 6, 3]);
        assert_eq!(ys, vec![n, 4, 3]);
        let (_, xm) = tensor_values(b.x_mask);
        assert!(xm.iter().all(|&m| m == 1.0));
        for (k, i) in range.enumerate() {
            let w = ds.index().get(i).unwrap();
            assert_eq!((b.series[k], b.starts[k]), (w.series, w.start));
            assert_eq!(
                &x[k * 18..(k + 1) * 18],
                slice(&f, w.series, w.start, 6).as_slice()
            );
            assert_eq!(
                &y[k * 12..(k + 1) * 12],
                slice(&f, w.series, w.start + 6, 4).as_slice()
            );
        }
        total += n;
    }
    assert_eq!(total, ds.len());
}

#[test]
fn nan_becomes_zero_with_mask() {
    let mut f = frame(&[12], 2);
    f.series[0].values[1][3] = f32::NAN; // variate 1, row 3: in x of window 0
    f.series[0].values[0][7] = f32::NAN; // variate 0, row 7: in y of window 0 (L = 5)
    let f = Arc::new(f);
    let ds = WindowDataset::new(f.clone(), WindowIndex::full(&f, WindowSpec::new(5, 3)).unwrap()).unwrap();
    let items: Vec<WindowItem> = (0..2).map(|i| ds.get(i).unwrap()).collect();
    assert!(items[0].x[3 * 2 + 1].is_nan());
    let b = WindowBatcher::new(WindowSpec::new(5, 3), 2).batch(items, &Device::flex());
    let (_, x) = tensor_values(b.x);
    let (_, xm) = tensor_values(b.x_mask);
    let (_, y) = tensor_values(b.y);
    let (_, ym) = tensor_values(b.y_mask);
    // Window 0: x row 3 variate 1; window 1 (start 1): x row 2 variate 1.
    for (k, r) in [(0usize, 3usize), (1, 2)] {
        let at = k * 10 + r * 2 + 1;
        assert_eq!((x[at], xm[at]), (0.0, 0.0));
    }
    assert_eq!(xm.iter().filter(|&&m| m == 0.0).count(), 2);
    // y of window 0: rows 5..8, row 7 is y step 2; window 1: rows 6..9, row 7 is y step 1.
    for (k, r) in [(0usize, 2usize), (1, 1)] {
        let at = k * 6 + r * 2;
        assert_eq!((y[at], ym[at]), (0.0, 0.0));
    }
    assert_eq!(ym.iter().filter(|&&m| m == 0.0).count(), 2);
    assert!(x.iter().chain(&y).all(|v| v.is_finite()));
}

#[test]
fn drop_last_batch_counts() {
    // ETTh1 test part with L = 96, H = 720: 14400 − 11520 − 720 + 1 = 2161 windows.
    let f = frame(&[17420], 1);
    let ranges = SplitSpec::EttHourly.frame_ranges(&f, 96).unwrap();
    let idx = WindowIndex::for_split(&f, WindowSpec::new(96, 720), &ranges, SplitPart::Test).unwrap();
    assert_eq!(idx.len(), 2161);
    assert_eq!(idx.batches(32, true).count(), 67); // 2161 / 32 = 67 full batches, 17 dropped
    assert_eq!(idx.batches(32, false).count(), 68);
    let covered: usize = idx.batches(32, true).map(|r| r.len()).sum();
    assert_eq!(covered, 67 * 32);
    assert!(idx.batches(32, true).all(|r| r.len() == 32));
    assert_eq!(idx.batches(32, false).last(), Some(2144..2161));
}

#[test]
fn dataloader_builder_accepts_dataset_and_batcher() {
    use burn::data::dataloader::DataLoaderBuilder;
    let f = Arc::new(frame(&[50], 2));
    let ds = WindowDataset::new(f.clone(), WindowIndex::full(&f, WindowSpec::new(8, 4)).unwrap()).unwrap();
    let n = ds.len();
    let loader = DataLoaderBuilder::new(ds.batcher())
        .batch_size(16)
        .num_workers(1)
        .set_device(Device::flex())
        .build(ds);
    let mut seen = 0;
    for batch in loader.iter() {
        let batch = batch.unwrap();
        seen += batch.series.len();
        assert_eq!(batch.x.dims()[1..], [8, 2]);
    }
    assert_eq!(seen, n);
}
