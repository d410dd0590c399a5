//! The library side of `statecast detect` and `statecast eval anomaly`: load the predictor
//! (artifact or raw-value baseline) and its scaler, fit a detector on the fit data's
//! training/validation rows, score the data. [`detect_with`] can put the PCA reconstruction
//! residual ([`super::pca`]) in place of the scaled rows first: the PCA reference detector.
use std::path::Path;

use burn::prelude::*;
use statecast_models::artifact::Artifact;
use statecast_models::device::DeviceSpec;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::source::{self, DatasetSpec};
use statecast_pipelines::{Series, TimeFrame};

use super::detector::{Detector, DetectorSettings, SeriesScores};
use super::pca::PcaConfig;
use super::predict::Predictor;
use crate::{Error, Result};

/// What to detect with.
#[derive(Debug, Clone)]
pub struct DetectRequest<'a> {
    /// Artifact directory; `None` = raw-value baseline.
    pub model: Option<&'a Path>,
    /// Data fitted on: the first `1 − val_fraction` of each series' first `fit_fraction` rows fit
    /// the normaliser, the rest of those rows the calibration and threshold.
    pub fit: DatasetSpec,
    /// Fraction of each fit series used (1.0 for a separate training file).
    pub fit_fraction: f64,
    /// Fraction of the used fit rows held out for calibration.
    pub val_fraction: f64,
    /// Data to score.
    pub data: DatasetSpec,
    /// Detector settings.
    pub settings: DetectorSettings,
    /// Device.
    pub device: DeviceSpec,
    /// Leave the rows around labelled incidents of the fit data out of the fit (the fit data's
    /// labels are history the user has annotated). Off in evaluations that fit on the data they
    /// score, where those labels are the test truth.
    pub exclude_labelled: bool,
}

/// The fitted detector, the scored (scaled) frame and the scores per series.
#[derive(Debug)]
pub struct Detection {
    /// Fitted detector.
    pub detector: Detector,
    /// Model label (`raw` or the artifact's model kind).
    pub model: String,
    /// Scored data (raw values, with labels when the file had them).
    pub frame: TimeFrame,
    /// Scores, one per series of `frame`.
    pub scores: Vec<SeriesScores>,
}

/// Replace every row of `s` by its PCA reconstruction residual.
fn to_residuals(s: &mut Series, pca: &super::pca::Pca) {
    let mut row = vec![0f32; s.values.len()];
    for t in 0..s.len() {
        for (x, c) in row.iter_mut().zip(&s.values) {
            *x = c[t];
        }
        for (c, r) in s.values.iter_mut().zip(pca.residual(&row)) {
            c[t] = r;
        }
    }
}

fn head(s: &Series, n: usize, keep_labels: bool) -> Series {
    Series {
        id: s.id.clone(),
        timestamps: s.timestamps[..n].to_vec(),
        values: s.values.iter().map(|c| c[..n].to_vec()).collect(),
        labels: s.labels.as_ref().filter(|_| keep_labels).map(|l| l[..n].to_vec()),
    }
}

/// Fit and score per `req`.
///
/// # Errors
/// Data, artifact, device and fitting errors.
pub fn detect(req: &DetectRequest<'_>) -> Result<Detection> {
    detect_with(req, None)
}

/// [`detect`], and with `pca` the PCA reference detector: a PCA fitted on the scaled training
/// rows (the rows the normaliser is fitted on) replaces every scaled row of the fit and scored
/// data by its reconstruction residual before the raw-value baseline scores it (model label
/// `pca`).
///
/// # Errors
/// As [`detect`]; [`Error::InvalidArgument`] (`pca`) for a PCA with a model, or a PCA fit error.
pub fn detect_with(req: &DetectRequest<'_>, pca: Option<&PcaConfig>) -> Result<Detection> {
    if pca.is_some() && req.model.is_some() {
        return Err(Error::invalid(
            "pca",
            "the PCA reference detector replaces the model: give no model with it",
        ));
    }
    let (fit_frame, _) = source::load(&req.fit)?;
    let (frame, _) = source::load(&req.data)?;
    let used: Vec<usize> = fit_frame
        .series
        .iter()
        .map(|s| ((s.len() as f64 * req.fit_fraction).floor() as usize).min(s.len()))
        .collect();
    let train_end: Vec<usize> = used
        .iter()
        .map(|&n| ((n as f64) * (1.0 - req.val_fraction)).floor() as usize)
        .collect();
    let (predictor, scaler, model) = match req.model {
        Some(dir) => {
            let dev: Device = req.device.device()?;
            let (art, m) = Artifact::load(dir, &dev)?;
            let kind = m.kind().to_string();
            let predictor = Predictor::model(m, req.settings.forecast_steps(), dev)
                .with_recurrent(!req.settings.window_scoring);
            (predictor, art.scaler, kind)
        }
        None => {
            let rows: Vec<_> = train_end.iter().map(|&e| 0..e).collect();
            let sc = Scaler::fit(&fit_frame, ScalerKind::ZScore, ScalerScope::Global, &rows)?;
            (Predictor::RawValue, sc, "raw".to_string())
        }
    };
    for (field, columns) in [("data", &frame.columns), ("fit_data", &fit_frame.columns)] {
        if *columns != scaler.columns {
            return Err(Error::InvalidArgument {
                field: field.into(),
                reason: format!("columns {columns:?} differ from the model's {:?}", scaler.columns),
            });
        }
    }
    let mut fit_scaled = fit_frame;
    scaler.transform(&mut fit_scaled)?;
    let mut scaled = frame.clone();
    scaler.transform(&mut scaled)?;
    let model = match pca {
        Some(cfg) => {
            let n_variates = scaler.columns.len();
            let train_rows =
                fit_scaled.series.iter().zip(&train_end).flat_map(|(s, &e)| {
                    (0..e).map(move |t| s.values.iter().map(|c| c[t]).collect::<Vec<f32>>())
                });
            let rows: Vec<Vec<f32>> = train_rows.collect();
            let fitted = cfg.fit(rows.iter().map(Vec::as_slice), n_variates)?;
            for s in fit_scaled.series.iter_mut().chain(scaled.series.iter_mut()) {
                to_residuals(s, &fitted);
            }
            "pca".to_string()
        }
        None => model,
    };
    let heads: Vec<Series> = fit_scaled
        .series
        .iter()
        .zip(&used)
        .map(|(s, &n)| head(s, n, req.exclude_labelled))
        .collect();
    let parts: Vec<(&Series, usize)> = heads.iter().zip(&train_end).map(|(s, &e)| (s, e)).collect();
    let detector = Detector::fit(&predictor, &req.settings, &scaler.columns, &parts)?;
    let scores = scaled
        .series
        .iter()
        .map(|s| detector.score_series(&predictor, s, req.settings.batch))
        .collect::<Result<Vec<_>>>()?;
    Ok(Detection {
        detector,
        model,
        frame,
        scores,
    })
}
