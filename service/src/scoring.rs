//! Score a saved artifact on a dataset's split, with the artifact's own scaler (never refitted):
//! how a model trained on one device is checked on another.
use std::path::Path;
use std::sync::Arc;

use statecast_models::artifact::Artifact;
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::source::{self, DatasetSpec};
use statecast_pipelines::split::{SplitPart, SplitSpec};
use statecast_pipelines::window::{WindowDataset, WindowIndex, WindowSpec};

use crate::metrics::{ForecastMetrics, score};
use crate::{Error, Result};

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
) -> Result<ForecastMetrics> {
    let dev = device.device()?;
    let (artifact, model) = Artifact::load(dir, &dev)?;
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
    let dataset = WindowDataset::new(frame, index)?;
    Ok(score(&model, &dataset, 32, drop_last, &dev))
}
