//! Forecast errors of a saved artifact on a dataset's split, with the artifact's own scaler
//! (never refitted): how a model trained on one device is checked on another.
use std::path::Path;
use std::sync::Arc;

use burn::prelude::Device;
use statecast_models::artifact::Artifact;
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_models::selfcheck::{self, CheckRow};
use statecast_models::zoo::AnyModel;
use statecast_pipelines::source::{self, DatasetSpec};
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_pipelines::window::{WindowDataset, WindowIndex, WindowSpec};

use crate::accuracy::forecast_errors;
use crate::{Error, Result};
use statecast_models::artifact::ForecastErrors;

/// Load the artifact at `dir` on `device`, read `data`, scale it with the artifact's scaler and
/// score the `part` split of `split` (windows of the artifact's look-back and horizon).
///
/// # Errors
/// Artifact, data and device errors; [`Error::InvalidArgument`] when the data's columns differ
/// from the artifact's schema or the split has no window.
pub fn score_artifact(
    dir: &Path,
    data: &DatasetSpec,
    split: &SplitSpec,
    part: SplitPart,
    device: DeviceSpec,
    drop_last: bool,
) -> Result<ForecastErrors> {
    let dev = device.device()?;
    let (model, dataset) = load_for_scoring(dir, data, split, part, &dev)?;
    Ok(forecast_errors(&model, &dataset, 32, drop_last, &dev))
}

/// The artifact at `dir` loaded on `dev` and the `part` windows of `data`, scaled with the
/// artifact's scaler.
fn load_for_scoring(
    dir: &Path,
    data: &DatasetSpec,
    split: &SplitSpec,
    part: SplitPart,
    dev: &Device,
) -> Result<(AnyModel, WindowDataset)> {
    let (artifact, model) = Artifact::load(dir, dev)?;
    let (mut frame, _) = source::load(data)?;
    if frame.columns != artifact.schema.columns {
        return Err(Error::InvalidArgument {
            field: "data".into(),
            reason: format!(
                "columns {:?} differ from the model's {:?}",
                frame.columns, artifact.schema.columns
            ),
        });
    }
    artifact.scaler.transform(&mut frame)?;
    let (l, h) = (model.lookback(), model.horizon());
    let ranges = split.frame_ranges(&frame, l)?;
    let frame = Arc::new(frame);
    let index = WindowIndex::for_split(&frame, WindowSpec::new(l, h), &ranges, part)?;
    if index.is_empty() {
        return Err(Error::InvalidArgument {
            field: "split".into(),
            reason: format!("no {part:?} window"),
        });
    }
    Ok((model, WindowDataset::new(frame, index)?))
}

/// Stage-by-stage CPU vs `device` comparison of a SpaceTime artifact
/// ([`selfcheck::spacetime_stage_rows`]) on windows `range` of the `part` split, for each range
/// given (e.g. the last `b` windows, or a batch that [`compare_batches`] flagged): how a device
/// that scores a trained model differently is diagnosed.
///
/// # Errors
/// As [`score_artifact`]; [`Error::InvalidArgument`] for a model other than SpaceTime or an
/// empty range or one past the split part's windows.
pub fn stage_comparison(
    dir: &Path,
    data: &DatasetSpec,
    split: &SplitSpec,
    part: SplitPart,
    device: DeviceSpec,
    windows: &[StageWindows],
) -> Result<Vec<(std::ops::Range<usize>, Vec<CheckRow>)>> {
    let dev = device.device()?;
    let cpu = Device::flex();
    let (model_dev, dataset) = load_for_scoring(dir, data, split, part, &dev)?;
    let (model_cpu, _) = load_for_scoring(dir, data, split, part, &cpu)?;
    let (AnyModel::SpaceTime(model_dev), AnyModel::SpaceTime(model_cpu)) = (model_dev, model_cpu) else {
        return Err(Error::InvalidArgument {
            field: "model".into(),
            reason: "stage comparison needs a SpaceTime artifact".into(),
        });
    };
    let n = dataset.index().len();
    let mut out = Vec::with_capacity(windows.len());
    for w in windows {
        let range = match w {
            StageWindows::Last(b) => n.saturating_sub(*b)..n,
            StageWindows::Range(r) => r.clone(),
        };
        if range.is_empty() || range.end > n {
            return Err(Error::InvalidArgument {
                field: "stages".into(),
                reason: format!("windows {range:?} are not within 0..{n} (windows in the split part)"),
            });
        }
        let batch = dataset.batch(range.clone(), &cpu);
        let shape = batch.x.dims();
        let x = selfcheck::to_host(batch.x);
        out.push((
            range,
            selfcheck::spacetime_stage_rows(&model_cpu, &model_dev, &x, shape, &dev),
        ));
    }
    Ok(out)
}

/// Which windows [`stage_comparison`] runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageWindows {
    /// The last `b` windows of the split part.
    Last(usize),
    /// These windows (indices into the split part's windows).
    Range(std::ops::Range<usize>),
}

/// One evaluation batch scored on the CPU and on a device ([`compare_batches`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchComparison {
    /// First window of the batch (index into the split part's windows).
    pub start: usize,
    /// Windows in the batch.
    pub windows: usize,
    /// MSE of the batch's forecasts on the CPU (scaled axis).
    pub mse_cpu: f64,
    /// MSE on the device.
    pub mse_device: f64,
    /// MSE as [`crate::accuracy::forecast_errors`] computes it on the device (sums reduced there).
    pub mse_device_reduced: f64,
    /// Observed target values counted by the device reduction (should be `windows · H · V`).
    pub count_device: f64,
    /// max |device − cpu| / max |cpu| over the batch's forecasts.
    pub max_rel_diff: f32,
}

/// Every evaluation batch (32 windows, `drop_last` as in [`score_artifact`]) of the `part` split
/// forecast on the CPU and on `device` with the same weights: which windows a device that scores
/// a model differently disagrees on, and which of the two is off (per-batch MSE on each).
///
/// # Errors
/// As [`score_artifact`].
pub fn compare_batches(
    dir: &Path,
    data: &DatasetSpec,
    split: &SplitSpec,
    part: SplitPart,
    device: DeviceSpec,
    drop_last: bool,
) -> Result<Vec<BatchComparison>> {
    let dev = device.device()?;
    let cpu = Device::flex();
    let (model_dev, dataset) = load_for_scoring(dir, data, split, part, &dev)?;
    let (model_cpu, _) = load_for_scoring(dir, data, split, part, &cpu)?;
    let mut out = Vec::new();
    for range in dataset.index().batches(32, drop_last) {
        let batch = dataset.batch(range.clone(), &cpu);
        let y = selfcheck::to_host(batch.y.clone());
        let f_cpu = selfcheck::to_host(model_cpu.forecast(batch.x.clone()));
        // The device side exactly as `accuracy::forecast_errors` runs it: batch built on the device,
        // error and sums reduced there.
        let on_dev = dataset.batch(range.clone(), &dev);
        let forecast_dev = model_dev.forecast(on_dev.x);
        let err = (forecast_dev.clone() - on_dev.y) * on_dev.y_mask.clone();
        let se_dev = f64::from(err.square().sum().into_scalar::<f32>());
        let count_device = f64::from(on_dev.y_mask.sum().into_scalar::<f32>());
        let f_dev = selfcheck::to_host(forecast_dev);
        let mse = |f: &[f32]| {
            f.iter()
                .zip(&y)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / y.len().max(1) as f64
        };
        let scale = f_cpu.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
        let max_diff = f_cpu
            .iter()
            .zip(&f_dev)
            .map(|(a, b)| {
                let d = (a - b).abs();
                if d.is_nan() { f32::INFINITY } else { d }
            })
            .fold(0f32, f32::max);
        out.push(BatchComparison {
            start: range.start,
            windows: range.len(),
            mse_cpu: mse(&f_cpu),
            mse_device: mse(&f_dev),
            mse_device_reduced: se_dev / count_device.max(1.0),
            count_device,
            max_rel_diff: max_diff / scale,
        });
    }
    Ok(out)
}
