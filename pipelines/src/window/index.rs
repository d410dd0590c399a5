//! The lazy window index: window number → `(series, start)`.
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::TimeFrame;
use crate::split::{SplitPart, SplitRanges};

/// Window geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowSpec {
    /// Look-back length `L` (rows given to the model), ≥ 1.
    pub lookback: usize,
    /// Horizon `H` (rows to forecast), ≥ 1.
    pub horizon: usize,
    /// Step between consecutive window starts, ≥ 1 (the LTSF protocol uses 1).
    pub stride: usize,
}

impl WindowSpec {
    /// A spec with stride 1.
    pub fn new(lookback: usize, horizon: usize) -> Self {
        Self {
            lookback,
            horizon,
            stride: 1,
        }
    }

    /// The same spec with another stride.
    pub fn with_stride(self, stride: usize) -> Self {
        Self { stride, ..self }
    }

    /// `L + H`: rows one window reads.
    pub fn span(&self) -> usize {
        self.lookback + self.horizon
    }

    /// Windows in a range of `len` rows: `floor((len − L − H) / stride) + 1`, 0 when `len < L + H`.
    pub fn count(&self, len: usize) -> usize {
        if len < self.span() || self.stride == 0 {
            0
        } else {
            (len - self.span()) / self.stride + 1
        }
    }

    /// `Ok` when all three sizes are ≥ 1.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the zero size.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("lookback", self.lookback),
            ("horizon", self.horizon),
            ("stride", self.stride),
        ] {
            if v == 0 {
                return Err(Error::invalid("window", format!("{name} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// One window: series number (position in the frame) and the absolute start row of its look-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowRef {
    /// Series position in [`TimeFrame::series`].
    pub series: usize,
    /// Row of the first look-back step in that series; `y` starts at `start + lookback`.
    pub start: usize,
}

/// Lazy index of all windows of a frame restricted to one row range per series. Windows are
/// numbered series by series, then by start row; nothing is materialised (memory is
/// `O(series)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowIndex {
    spec: WindowSpec,
    n_variates: usize,
    /// Row range per series, [series].
    ranges: Vec<Range<usize>>,
    /// `offsets[i]` = number of windows in series `0..i`, [series + 1].
    offsets: Vec<usize>,
}

impl WindowIndex {
    /// Index the windows of `frame` within `ranges[i]` of series `i` ([series]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero window size or a wrong number of ranges;
    /// [`Error::TooShort`] when a range ends past its series.
    pub fn new(frame: &TimeFrame, spec: WindowSpec, ranges: Vec<Range<usize>>) -> Result<Self> {
        spec.validate()?;
        if ranges.len() != frame.series.len() {
            return Err(Error::invalid(
                "window ranges",
                format!(
                    "{} row ranges given for {} series",
                    ranges.len(),
                    frame.series.len()
                ),
            ));
        }
        let mut offsets = Vec::with_capacity(ranges.len() + 1);
        offsets.push(0);
        let mut total = 0usize;
        for (s, r) in frame.series.iter().zip(&ranges) {
            if r.start > r.end || r.end > s.len() {
                return Err(Error::TooShort {
                    series: s.id.clone(),
                    len: s.len(),
                    needed: r.end,
                    what: format!("windows over rows {}..{}", r.start, r.end),
                });
            }
            if s.values.len() != frame.n_variates() {
                return Err(Error::SchemaMismatch {
                    reason: format!(
                        "series `{}` has {} variates, the frame has {}",
                        s.id,
                        s.values.len(),
                        frame.n_variates()
                    ),
                });
            }
            total += spec.count(r.len());
            offsets.push(total);
        }
        Ok(Self {
            spec,
            n_variates: frame.n_variates(),
            ranges,
            offsets,
        })
    }

    /// Index every row of every series.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn full(frame: &TimeFrame, spec: WindowSpec) -> Result<Self> {
        Self::new(frame, spec, frame.series.iter().map(|s| 0..s.len()).collect())
    }

    /// Index one part of a split (`splits[i]` for series `i`, [series]).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_split(
        frame: &TimeFrame,
        spec: WindowSpec,
        splits: &[SplitRanges],
        part: SplitPart,
    ) -> Result<Self> {
        Self::new(frame, spec, splits.iter().map(|s| s.get(part)).collect())
    }

    /// The window geometry.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// Variates per row of the indexed frame.
    pub fn n_variates(&self) -> usize {
        self.n_variates
    }

    /// Number of series (including those with no window).
    pub fn n_series(&self) -> usize {
        self.ranges.len()
    }

    /// The row range of series `series`.
    pub fn range(&self, series: usize) -> Option<Range<usize>> {
        self.ranges.get(series).cloned()
    }

    /// Total number of windows.
    pub fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of windows of series `series` (0 when out of range).
    pub fn count_for_series(&self, series: usize) -> usize {
        match (self.offsets.get(series), self.offsets.get(series + 1)) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }

    /// Window number `i` (`None` when `i >= len()`), in O(log series).
    pub fn get(&self, i: usize) -> Option<WindowRef> {
        if i >= self.len() {
            return None;
        }
        // Last series whose first window number is <= i (skips series with no window).
        let series = self.offsets.partition_point(|&o| o <= i) - 1;
        let k = i - self.offsets[series];
        Some(WindowRef {
            series,
            start: self.ranges[series].start + k * self.spec.stride,
        })
    }

    /// All windows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = WindowRef> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("index within len"))
    }

    /// Number of batches [`batches`](Self::batches) yields.
    pub fn n_batches(&self, batch_size: usize, drop_last: bool) -> usize {
        if batch_size == 0 {
            return 0;
        }
        if drop_last {
            self.len() / batch_size
        } else {
            self.len().div_ceil(batch_size)
        }
    }

    /// Consecutive window-number ranges of `batch_size` windows, in order (no shuffling), as the
    /// evaluation loaders use. With `drop_last` the final partial batch is left out (the LTSF
    /// test loader: batch 32, `drop_last=True`). A `batch_size` of 0 yields nothing.
    pub fn batches(&self, batch_size: usize, drop_last: bool) -> Batches {
        Batches {
            next: 0,
            total: self.len(),
            batch_size,
            remaining: self.n_batches(batch_size, drop_last),
        }
    }
}

/// Iterator over window-number ranges, see [`WindowIndex::batches`].
#[derive(Debug, Clone)]
pub struct Batches {
    next: usize,
    total: usize,
    batch_size: usize,
    remaining: usize,
}

impl Iterator for Batches {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let start = self.next;
        let end = (start + self.batch_size).min(self.total);
        self.next = end;
        Some(start..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Batches {}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::frame::Series;

    fn frame(lens: &[usize]) -> TimeFrame {
        TimeFrame {
            columns: vec!["a".into()],
            series: lens
                .iter()
                .enumerate()
                .map(|(i, &n)| Series {
                    id: format!("s{i}"),
                    timestamps: (0..n as i64).collect(),
                    values: vec![(0..n).map(|t| t as f32).collect()],
                    labels: None,
                })
                .collect(),
            frequency: None,
        }
    }

    #[test]
    fn counts_and_lookup_skip_short_series() {
        let f = frame(&[10, 3, 0, 7]);
        let idx = WindowIndex::full(&f, WindowSpec::new(3, 2)).unwrap();
        assert_eq!(idx.count_for_series(0), 6);
        assert_eq!(idx.count_for_series(1), 0);
        assert_eq!(idx.count_for_series(2), 0);
        assert_eq!(idx.count_for_series(3), 3);
        assert_eq!(idx.len(), 9);
        assert_eq!(idx.get(5), Some(WindowRef { series: 0, start: 5 }));
        assert_eq!(idx.get(6), Some(WindowRef { series: 3, start: 0 }));
        assert_eq!(idx.get(8), Some(WindowRef { series: 3, start: 2 }));
        assert_eq!(idx.get(9), None);
    }

    #[test]
    fn stride_and_offset_ranges() {
        let f = frame(&[20]);
        let idx = WindowIndex::new(&f, WindowSpec::new(4, 3).with_stride(5), vec![2..20]).unwrap();
        // (18 − 7) / 5 + 1 = 3 windows at 2, 7, 12 (12 + 7 = 19 <= 20; 17 + 7 = 24 > 20).
        let starts: Vec<usize> = idx.iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![2, 7, 12]);
    }

    #[test]
    fn rejects_bad_input() {
        let f = frame(&[10]);
        assert!(matches!(
            WindowIndex::full(&f, WindowSpec::new(0, 1)),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            WindowIndex::new(&f, WindowSpec::new(2, 1), vec![0..11]),
            Err(Error::TooShort { .. })
        ));
        assert!(matches!(
            WindowIndex::new(&f, WindowSpec::new(2, 1), vec![]),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn batches_cover_in_order() {
        let f = frame(&[104]);
        let idx = WindowIndex::full(&f, WindowSpec::new(2, 2)).unwrap(); // 101 windows
        let all: Vec<_> = idx.batches(32, false).collect();
        assert_eq!(all, vec![0..32, 32..64, 64..96, 96..101]);
        let dropped: Vec<_> = idx.batches(32, true).collect();
        assert_eq!(dropped, vec![0..32, 32..64, 64..96]);
        assert_eq!(idx.batches(32, true).len(), 3);
        assert_eq!(idx.batches(0, false).count(), 0);
    }
}
