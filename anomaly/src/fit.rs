//! A detector for a freshly trained artifact, fitted on the rows the model was trained and
//! validated on (no labels, no test rows), so a model registered by a training job can be
//! monitored at once.
use std::path::Path;

use statecast_models::device::DeviceSpec;
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;

use super::alarms::AlarmRules;
use super::detector::{Detector, DetectorSettings};
use super::run::{DetectRequest, detect};
use super::threshold::ThresholdMethod;
use crate::Result;

/// File name of the saved detector inside an artifact directory; the artifact records it
/// (`Artifact::detector_file`) and the streaming monitor reads it from there.
pub use statecast_models::artifact::DETECTOR_FILE;

/// Fractions of each series used to fit the detector: `(fit_fraction, val_fraction)`, i.e. the
/// training and validation rows of a ratio split, the validation part held out for calibration.
/// Other splits (ETT month splits, row splits) use the first 80 % with the last eighth of it
/// held out.
pub fn fit_fractions(split: &SplitSpec) -> (f64, f64) {
    match split {
        SplitSpec::Ratio { train, val, .. } if train + val > 0.0 && *val > 0.0 => {
            (train + val, val / (train + val))
        }
        SplitSpec::Ratio { .. } | SplitSpec::Rows { .. } | SplitSpec::EttHourly | SplitSpec::Ett15Min => {
            (0.8, 0.125)
        }
    }
}

/// Fit a detector with default settings, the monitor's threshold
/// ([`ThresholdMethod::MONITORING`]) and alarm rules ([`AlarmRules::monitoring`]) for the artifact in `artifact_dir` on `data` under
/// `split` (see [`fit_fractions`]).
///
/// # Errors
/// Data, artifact and fitting errors (e.g. too few validation rows).
pub fn fit_for_artifact(
    artifact_dir: &Path,
    data: &DatasetSpec,
    split: &SplitSpec,
    device: DeviceSpec,
) -> Result<Detector> {
    let (fit_fraction, val_fraction) = fit_fractions(split);
    let req = DetectRequest {
        model: Some(artifact_dir),
        fit: data.clone(),
        fit_fraction,
        val_fraction,
        data: data.clone(),
        settings: DetectorSettings {
            rules: AlarmRules::monitoring(),
            threshold: ThresholdMethod::MONITORING,
            ..DetectorSettings::default()
        },
        device,
        exclude_labelled: true,
    };
    Ok(detect(&req)?.detector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_splits_fit_on_train_and_calibrate_on_val() {
        let (f, v) = fit_fractions(&"ratio:0.7,0.1,0.2".parse().unwrap());
        assert!((f - 0.8).abs() < 1e-12 && (v - 0.125).abs() < 1e-12);
        assert_eq!(fit_fractions(&SplitSpec::EttHourly), (0.8, 0.125));
    }
}
