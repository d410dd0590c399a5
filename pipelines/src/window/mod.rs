//! Sliding windows over a [`TimeFrame`](crate::TimeFrame): a lazy index of
//! `(series, start)` pairs, a burn [`Dataset`](burn::data::dataset::Dataset) that copies each
//! window from the frame on demand, and a [`Batcher`](burn::data::dataloader::batcher::Batcher)
//! that stacks windows into `[batch, time, variates]` tensors with observation masks.
//!
//! A window starting at row `s` reads the look-back `x = rows[s, s + L)` and the target
//! `y = rows[s + L, s + L + H)`. Within a row range of `len` rows there are
//! `floor((len − L − H) / stride) + 1` windows (0 when `len < L + H`), exactly the LTSF
//! `Dataset_ETT_hour.__len__` with stride 1.
mod batcher;
mod dataset;
mod index;

pub use batcher::{WindowBatch, WindowBatcher};
pub use dataset::{WindowDataset, WindowItem};
pub use index::{Batches, WindowIndex, WindowRef, WindowSpec};
