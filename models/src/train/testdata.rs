//! Small simulator datasets for the training, baseline and artifact tests.
use std::sync::Arc;

use statecast_pipelines::frame::Frequency;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::simulate::{SimConfig, simulate};
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_pipelines::window::{WindowDataset, WindowIndex, WindowSpec};

/// Scaled train/val/test windows of a small hourly simulation, and the scaler.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    pub(crate) train: WindowDataset,
    pub(crate) val: WindowDataset,
    pub(crate) test: WindowDataset,
    pub(crate) scaler: Scaler,
}

/// `series` × `variates` hourly series of `length` rows (no anomalies, no missing values), split
/// 70/10/20, z-scored on the training rows, windowed with `L`, `H`.
pub(crate) fn data(series: usize, variates: usize, length: usize, lookback: usize, horizon: usize) -> Data {
    let cfg = SimConfig {
        series,
        variates,
        length,
        frequency: Frequency::minutes(60),
        seed: 7,
        missing_rate: 0.0,
        anomaly_rate: 0.0,
        ..SimConfig::default()
    };
    let mut frame = simulate(&cfg).expect("valid simulation").frame;
    let split = SplitSpec::Ratio {
        train: 0.7,
        val: 0.1,
        test: 0.2,
    };
    let ranges = split.frame_ranges(&frame, lookback).expect("long enough");
    let scaler = Scaler::fit_train(&frame, ScalerKind::ZScore, ScalerScope::Global, &ranges).expect("scaler");
    scaler.transform(&mut frame).expect("transform");
    let frame = Arc::new(frame);
    let spec = WindowSpec::new(lookback, horizon);
    let part = |p| {
        let index = WindowIndex::for_split(&frame, spec, &ranges, p).expect("index");
        WindowDataset::new(frame.clone(), index).expect("dataset")
    };
    Data {
        train: part(SplitPart::Train),
        val: part(SplitPart::Val),
        test: part(SplitPart::Test),
        scaler,
    }
}
