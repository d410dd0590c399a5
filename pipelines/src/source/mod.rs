//! Readers: Parquet, Arrow IPC and CSV (plain or gzip) into a validated [`crate::TimeFrame`].
//!
//! [`DatasetOptions`] is what front ends (CLI flags, job messages) describe a file with; its
//! [`DatasetOptions::to_spec`] gives the [`DatasetSpec`] the readers take.
//!
//! [`load`] reads a whole dataset (series in memory, file streamed batch by batch);
//! [`scan`] streams validated [`Chunk`]s with bounded memory. Both read only the columns the
//! [`Layout`] maps (Parquet/IPC projection; CSV cells of other columns are never parsed).
//!
//! Time column conventions: Arrow `Timestamp` of any unit (a time zone, if any, is ignored:
//! the stored instant is used as naive wall-clock time), `Date32`/`Date64` (midnight), integer
//! columns = **epoch seconds**, and strings in the formats listed in [`parse_timestamp`].
mod arrow_conv;
mod assemble;
mod csv;
mod ipc;
mod load;
mod options;
mod parquet;
mod plan;
mod raw;
mod scan;
mod spec;
mod time;

pub use load::load;
pub use options::{
    DEFAULT_LONG_SERIES_COLUMN, DEFAULT_LONG_TIME_COLUMN, DEFAULT_VALUE_COLUMN, DatasetOptions, LayoutKind,
    OptionError, UnknownChoice,
};
pub use scan::{Chunk, Scan, scan};
pub use spec::{DatasetSpec, Format, IngestReport, Layout, NonIncreasing, Resample};
pub use time::parse_timestamp;
