//! Stacking windows into tensors.
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::{Device, Tensor, TensorData};

use super::dataset::WindowItem;
use super::index::WindowSpec;

/// A batch of windows. Missing values (`NaN`) are replaced by 0 in `x`/`y` and marked 0 in
/// the masks.
#[derive(Debug, Clone)]
pub struct WindowBatch {
    /// Look-backs, [batch, lookback, variates].
    pub x: Tensor<3>,
    /// Targets, [batch, horizon, variates].
    pub y: Tensor<3>,
    /// 1.0 where `x` was observed, 0.0 where missing, [batch, lookback, variates].
    pub x_mask: Tensor<3>,
    /// 1.0 where `y` was observed, 0.0 where missing, [batch, horizon, variates].
    pub y_mask: Tensor<3>,
    /// Series position of each window, [batch].
    pub series: Vec<usize>,
    /// Start row (first look-back step) of each window, [batch].
    pub starts: Vec<usize>,
}

/// Batcher for [`WindowItem`]s of one geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBatcher {
    lookback: usize,
    horizon: usize,
    n_variates: usize,
}

impl WindowBatcher {
    /// A batcher for windows of `spec` with `n_variates` variates.
    pub fn new(spec: WindowSpec, n_variates: usize) -> Self {
        Self {
            lookback: spec.lookback,
            horizon: spec.horizon,
            n_variates,
        }
    }
}

/// Values with NaN → 0 and the matching 0/1 mask.
fn split_mask(
    batch: usize,
    rows: usize,
    c: usize,
    parts: impl Iterator<Item = Vec<f32>>,
) -> (Vec<f32>, Vec<f32>) {
    let n = batch * rows * c;
    let mut values = Vec::with_capacity(n);
    let mut mask = Vec::with_capacity(n);
    for part in parts {
        assert_eq!(
            part.len(),
            rows * c,
            "window has {} values, expected {rows} rows × {c} variates",
            part.len()
        );
        for v in part {
            let observed = !v.is_nan();
            values.push(if observed { v } else { 0.0 });
            mask.push(if observed { 1.0 } else { 0.0 });
        }
    }
    (values, mask)
}

impl Batcher<WindowItem, WindowBatch> for WindowBatcher {
    /// Panics if an item does not have `[lookback, variates]` / `[horizon, variates]` values.
    fn batch(&self, items: Vec<WindowItem>, device: &Device) -> WindowBatch {
        let b = items.len();
        let (l, h, c) = (self.lookback, self.horizon, self.n_variates);
        let series = items.iter().map(|i| i.series).collect();
        let starts = items.iter().map(|i| i.start).collect();
        let mut xs = Vec::with_capacity(b);
        let mut ys = Vec::with_capacity(b);
        for item in items {
            xs.push(item.x);
            ys.push(item.y);
        }
        let (x, x_mask) = split_mask(b, l, c, xs.into_iter());
        let (y, y_mask) = split_mask(b, h, c, ys.into_iter());
        let t = |v: Vec<f32>, rows: usize| Tensor::<3>::from_data(TensorData::new(v, [b, rows, c]), device);
        WindowBatch {
            x: t(x, l),
            y: t(y, h),
            x_mask: t(x_mask, l),
            y_mask: t(y_mask, h),
            series,
            starts,
        }
    }
}
