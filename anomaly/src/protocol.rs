//! The anomaly evaluation run behind `statecast eval anomaly`: fit a detector without test labels
//! ([`crate::run::detect_with`], optionally the PCA reference detector), optionally blank each
//! series' fit part so only the rest is scored, build the ground truth (label column, a label file
//! or NAB windows), then measure at the honest and the ratio-convention thresholds
//! ([`crate::eval::evaluate`]) and, for NAB windows, the NAB score of the honest alarm openings
//! (with the file's rows for NAB's label-tuned corpus score).
use std::time::Instant;

use crate::eval::{AnomalyEval, evaluate};
use crate::nab::{NabScores, NabSweepFile, alarm_openings, nab_probation, windows_to_rows};
use crate::pca::PcaConfig;
use crate::run::{DetectRequest, Detection, detect_with};
use crate::vus::VusConfig;
use crate::{Error, Result};

/// Where the test labels come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// The label column the data was read with (one 0/1 per row of every series).
    LabelColumn,
    /// One label per row of a single-series file (e.g. [`crate::datasets::read_labels`]).
    Rows(Vec<bool>),
    /// NAB windows `[start, end]` (µs, inclusive) of a single-series file (e.g.
    /// [`crate::datasets::read_nab_windows`]): rows inside a window are labelled anomalous, and
    /// the result carries the NAB score.
    NabWindows(Vec<(i64, i64)>),
}

/// One evaluation.
#[derive(Debug, Clone)]
pub struct EvalRequest<'a> {
    /// Name in the result (dataset or entity).
    pub name: String,
    /// What to fit and score.
    pub detect: DetectRequest<'a>,
    /// Ground truth.
    pub truth: Truth,
    /// Score only the rows after each series' first `detect.fit_fraction` (e.g. NAB's
    /// probationary period); meaningful when the detector is fitted on the scored data itself.
    pub score_rest: bool,
    /// Anomaly ratio (fraction) of the ratio convention; `None`: the true test ratio.
    pub protocol_ratio: Option<f64>,
    /// Label buffers and thresholds of VUS-PR / VUS-ROC.
    pub vus: VusConfig,
    /// Score with the PCA reconstruction reference detector ([`crate::pca`]) instead of
    /// `detect.model` (which must then be `None`).
    pub pca: Option<PcaConfig>,
}

/// Run the evaluation; `seconds` in the result covers fitting, scoring and measuring.
///
/// # Errors
/// Everything [`detect`] raises, and [`Error::InvalidArgument`] when the truth does not fit the
/// data (`labels`: a label file for a multi-series file, a length mismatch, no label column;
/// `nab_windows`: a multi-series file).
pub fn evaluate_detection(req: &EvalRequest<'_>) -> Result<AnomalyEval> {
    let started = Instant::now();
    // The measures hold every series to one threshold.
    let mut dr = req.detect.clone();
    dr.settings.per_series = false;
    let mut d = detect_with(&dr, req.pca.as_ref())?;
    if req.score_rest {
        blank_fit_part(&mut d, req.detect.fit_fraction);
    }
    let truth = truth_rows(&d, &req.truth)?;
    let mut e = evaluate(
        &req.name,
        &d.model,
        &d.scores,
        d.detector.threshold.value,
        &truth,
        req.protocol_ratio,
        &req.vus,
    );
    if let Truth::NabWindows(windows) = &req.truth {
        let (series, scores) = (&d.frame.series[0], &d.scores[0]);
        let scored: Vec<bool> = scores.score.iter().map(|x| !x.is_nan()).collect();
        let probation = scored.iter().take_while(|s| !**s).count();
        let rows = windows_to_rows(windows, &series.timestamps);
        let detections = alarm_openings(&scores.in_alarm, &scored);
        let mut nab = NabScores::compute(series.len(), &rows, probation, &detections);
        nab.sweep = Some(NabSweepFile::new(
            &rows,
            nab_probation(series.len()),
            &scores.score,
        ));
        e.nab = Some(nab);
    }
    e.seconds = started.elapsed().as_secs_f64();
    Ok(e)
}

/// Set the scores of each series' first `fit_fraction` rows to NaN (not scored).
fn blank_fit_part(d: &mut Detection, fit_fraction: f64) {
    for r in &mut d.scores {
        let n = ((r.score.len() as f64 * fit_fraction).floor() as usize).min(r.score.len());
        r.score[..n].fill(f64::NAN);
    }
}

/// Labels per series, [series][time].
fn truth_rows(d: &Detection, truth: &Truth) -> Result<Vec<Vec<bool>>> {
    let series = &d.frame.series;
    match truth {
        Truth::NabWindows(windows) => {
            if series.len() != 1 {
                return Err(Error::invalid(
                    "nab_windows",
                    format!(
                        "needs a single-series file (the data has {} series)",
                        series.len()
                    ),
                ));
            }
            Ok(series
                .iter()
                .map(|s| {
                    s.timestamps
                        .iter()
                        .map(|t| windows.iter().any(|&(a, b)| a <= *t && *t <= b))
                        .collect()
                })
                .collect())
        }
        Truth::Rows(labels) => {
            if series.len() != 1 {
                return Err(Error::invalid(
                    "labels",
                    format!(
                        "a label file needs a single-series file (the data has {} series)",
                        series.len()
                    ),
                ));
            }
            if labels.len() != series[0].len() {
                return Err(Error::invalid(
                    "labels",
                    format!("{} labels for {} rows", labels.len(), series[0].len()),
                ));
            }
            Ok(vec![labels.clone()])
        }
        Truth::LabelColumn => series
            .iter()
            .map(|s| {
                s.labels
                    .as_ref()
                    .map(|l| l.iter().map(|&x| x != 0).collect())
                    .ok_or_else(|| {
                        Error::invalid(
                            "labels",
                            format!(
                                "series `{}` has no labels: read the data with its label column or \
                                 give a label file",
                                s.id
                            ),
                        )
                    })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use statecast_models::device::DeviceSpec;
    use statecast_pipelines::missing::MissingPolicy;
    use statecast_pipelines::simulate::{SimConfig, simulate, write_simulation};
    use statecast_pipelines::sink::WriteOptions;
    use statecast_pipelines::source::DatasetSpec;

    use super::*;
    use crate::DetectorSettings;

    /// Two simulated series, written as a Parquet file with a label column.
    fn data(dir: &Path) -> DatasetSpec {
        let sim = simulate(&SimConfig {
            series: 2,
            variates: 3,
            length: 1200,
            missing_rate: 0.0,
            seed: 11,
            ..SimConfig::default()
        })
        .unwrap();
        let files = write_simulation(&sim, dir, false).unwrap();
        DatasetSpec::for_written(
            &files.sensors_parquet,
            &WriteOptions::default(),
            MissingPolicy::Error,
        )
    }

    fn request(data: DatasetSpec, truth: Truth, score_rest: bool) -> EvalRequest<'static> {
        EvalRequest {
            name: "sim".into(),
            detect: DetectRequest {
                model: None,
                fit: data.clone(),
                fit_fraction: 0.4,
                val_fraction: 0.25,
                data,
                settings: DetectorSettings::default(),
                device: DeviceSpec::Cpu,
                exclude_labelled: false,
            },
            truth,
            score_rest,
            protocol_ratio: None,
            vus: VusConfig::default(),
            pca: None,
        }
    }

    #[test]
    fn evaluates_the_raw_baseline_on_labelled_simulator_data() {
        let dir = tempfile::tempdir().unwrap();
        let spec = data(dir.path());
        let all = evaluate_detection(&request(spec.clone(), Truth::LabelColumn, false)).unwrap();
        assert_eq!((all.name.as_str(), all.model.as_str()), ("sim", "raw"));
        assert_eq!(all.points, 2 * 1200, "the raw baseline scores every row");
        assert!(
            all.anomaly_ratio > 0.0 && all.auc_pr > all.anomaly_ratio,
            "{all:?}"
        );
        assert!(all.vus_pr > all.anomaly_ratio && all.vus_pr <= 1.0, "{all:?}");
        assert_eq!(all.vus_max_buffer, 100);
        assert!(all.nab.is_none());
        let rest = evaluate_detection(&request(spec.clone(), Truth::LabelColumn, true)).unwrap();
        assert_eq!(rest.points, 2 * (1200 - 480), "only the rows after the fit part");
        // The result is the JSON the CLI writes, and reads back unchanged.
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(serde_json::from_str::<AnomalyEval>(&json).unwrap(), all);
        // Per-row labels and NAB windows need a single-series file.
        let err =
            evaluate_detection(&request(spec.clone(), Truth::Rows(vec![false; 1200]), false)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, .. } if field == "labels"),
            "{err}"
        );
        let err = evaluate_detection(&request(spec, Truth::NabWindows(vec![]), false)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, .. } if field == "nab_windows"),
            "{err}"
        );
    }

    #[test]
    fn evaluates_the_pca_reference_detector() {
        let dir = tempfile::tempdir().unwrap();
        let spec = data(dir.path());
        let mut req = request(spec, Truth::LabelColumn, false);
        req.pca = Some(PcaConfig { variance: 0.9 });
        let e = evaluate_detection(&req).unwrap();
        assert_eq!(e.model, "pca");
        assert_eq!(e.points, 2 * 1200, "one score per row, as the raw baseline");
        assert!(e.auc_pr > e.anomaly_ratio && e.vus_pr > e.anomaly_ratio, "{e:?}");
        // The PCA replaces the model: both at once are refused before the model is read.
        req.detect.model = Some(Path::new("no-such-artifact"));
        let err = evaluate_detection(&req).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { field, .. } if field == "pca"),
            "{err}"
        );
    }

    #[test]
    fn data_without_labels_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // Read without its label column, the label becomes one more variate and no row has a label.
        let mut spec = data(dir.path());
        spec.label_column = None;
        let err = evaluate_detection(&request(spec, Truth::LabelColumn, false))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid argument `labels`: series `"), "{err}");
        assert!(err.contains("has no labels"), "{err}");
    }
}
