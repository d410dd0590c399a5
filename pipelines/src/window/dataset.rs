//! A burn dataset of windows, built on demand from a shared frame.
use std::ops::Range;
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::Device;

use super::batcher::{WindowBatch, WindowBatcher};
use super::index::{WindowIndex, WindowRef};
use crate::error::{Error, Result};
use crate::frame::TimeFrame;

/// One window copied out of the frame. `NaN` marks missing values (mask policy).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowItem {
    /// Series position in the frame.
    pub series: usize,
    /// Row of the first look-back step in that series.
    pub start: usize,
    /// Look-back, [lookback, variates] row-major.
    pub x: Vec<f32>,
    /// Target, [horizon, variates] row-major.
    pub y: Vec<f32>,
}

/// The windows of a [`WindowIndex`] over a frame held in an [`Arc`]; each
/// [`get`](Dataset::get) copies one window (`(L + H) · C` values).
#[derive(Debug, Clone)]
pub struct WindowDataset {
    frame: Arc<TimeFrame>,
    index: WindowIndex,
}

impl WindowDataset {
    /// A dataset over `frame` with windows `index` (which must have been built on this frame).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when the index does not fit the frame (series count, variate
    /// count or row ranges).
    pub fn new(frame: Arc<TimeFrame>, index: WindowIndex) -> Result<Self> {
        let fits = index.n_series() == frame.series.len()
            && index.n_variates() == frame.n_variates()
            && frame.series.iter().enumerate().all(|(i, s)| {
                index.range(i).is_some_and(|r| r.end <= s.len()) && s.values.len() == frame.n_variates()
            });
        if !fits {
            return Err(Error::SchemaMismatch {
                reason: "the window index was built on another frame".into(),
            });
        }
        Ok(Self { frame, index })
    }

    /// The window index.
    pub fn index(&self) -> &WindowIndex {
        &self.index
    }

    /// The frame.
    pub fn frame(&self) -> &Arc<TimeFrame> {
        &self.frame
    }

    /// A batcher matching this dataset's geometry.
    pub fn batcher(&self) -> WindowBatcher {
        WindowBatcher::new(self.index.spec(), self.index.n_variates())
    }

    /// Window `i` (`None` when `i >= len()`).
    pub fn item(&self, i: usize) -> Option<WindowItem> {
        self.index.get(i).map(|w| self.copy(w))
    }

    /// The windows `range` stacked into one batch on `device` (for ordered evaluation with
    /// [`WindowIndex::batches`]). Panics if `range` exceeds `len()`.
    pub fn batch(&self, range: Range<usize>, device: &Device) -> WindowBatch {
        use burn::data::dataloader::batcher::Batcher;
        let items: Vec<WindowItem> = range
            .map(|i| self.item(i).expect("batch range within the dataset"))
            .collect();
        self.batcher().batch(items, device)
    }

    fn copy(&self, w: WindowRef) -> WindowItem {
        let spec = self.index.spec();
        let s = &self.frame.series[w.series];
        let rows = |from: usize, n: usize| {
            let mut out = Vec::with_capacity(n * s.values.len());
            for t in from..from + n {
                out.extend(s.values.iter().map(|col| col[t]));
            }
            out
        };
        WindowItem {
            series: w.series,
            start: w.start,
            x: rows(w.start, spec.lookback),
            y: rows(w.start + spec.lookback, spec.horizon),
        }
    }
}

impl Dataset<WindowItem> for WindowDataset {
    fn get(&self, index: usize) -> Result<WindowItem, DatasetError> {
        self.item(index).ok_or_else(|| {
            DatasetError::new(Error::invalid(
                "window number",
                format!(
                    "{index} is out of range (the dataset has {} windows)",
                    self.index.len()
                ),
            ))
        })
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}
