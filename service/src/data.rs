//! Turning a dataset spec into what training and evaluation need: the validated frame, its
//! chronological split, the scaler fitted on the training rows only, and lazy window datasets.
use std::sync::Arc;

use statecast_pipelines::TimeFrame;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::source::{self, DatasetSpec, IngestReport};
use statecast_pipelines::split::{SplitPart, SplitRanges, SplitSpec};
use statecast_pipelines::window::{WindowDataset, WindowIndex, WindowSpec};

use crate::Result;

/// A dataset read, split and scaled for one look-back length.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// The reader spec the data came from.
    pub spec: DatasetSpec,
    /// What the reader found.
    pub report: IngestReport,
    /// The frame on the scaled axis (z-scores of the training rows' statistics).
    pub scaled: Arc<TimeFrame>,
    /// Scaler fitted on the training rows of every series.
    pub scaler: Scaler,
    /// Row ranges of each split, one per series.
    pub ranges: Vec<SplitRanges>,
    /// Look-back the ranges were computed for (val/test start `lookback` rows early).
    pub lookback: usize,
}

/// Window datasets of the three splits.
#[derive(Debug, Clone)]
pub struct SplitDatasets {
    /// Training windows.
    pub train: WindowDataset,
    /// Validation windows (`None` when the split leaves too few rows for one window).
    pub val: Option<WindowDataset>,
    /// Test windows (`None` when the split leaves too few rows for one window).
    pub test: Option<WindowDataset>,
}

/// Read `spec`, split with `split` for look-back `lookback`, fit a z-score scaler on the
/// training rows only and scale the frame.
///
/// # Errors
/// Reader, validation, split and scaler errors from `pipelines`.
pub fn prepare(spec: &DatasetSpec, split: &SplitSpec, lookback: usize) -> Result<PreparedData> {
    let (frame, report) = source::load(spec)?;
    let ranges = split.frame_ranges(&frame, lookback)?;
    let scaler = Scaler::fit_train(&frame, ScalerKind::ZScore, ScalerScope::Global, &ranges)?;
    let mut scaled = frame;
    scaler.transform(&mut scaled)?;
    Ok(PreparedData {
        spec: spec.clone(),
        report,
        scaled: Arc::new(scaled),
        scaler,
        ranges,
        lookback,
    })
}

impl PreparedData {
    /// Stride-1 windows of look-back `self.lookback` and horizon `horizon` for each split.
    ///
    /// # Errors
    /// When the training split has no complete window.
    pub fn datasets(&self, horizon: usize) -> Result<SplitDatasets> {
        let window = WindowSpec::new(self.lookback, horizon);
        let part = |p: SplitPart| -> Result<Option<WindowDataset>> {
            let index = WindowIndex::for_split(&self.scaled, window, &self.ranges, p)?;
            if index.is_empty() {
                return Ok(None);
            }
            Ok(Some(WindowDataset::new(self.scaled.clone(), index)?))
        };
        let train = part(SplitPart::Train)?.ok_or_else(|| crate::Error::InvalidArgument {
            field: "horizon".into(),
            reason: format!(
                "the training split has no complete window of lookback {} + horizon {horizon}",
                self.lookback
            ),
        })?;
        Ok(SplitDatasets {
            train,
            val: part(SplitPart::Val)?,
            test: part(SplitPart::Test)?,
        })
    }
}
