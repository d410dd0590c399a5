//! `statecast detect`: per-timestamp anomaly scores, labels and alarm segments for a dataset.
use std::path::PathBuf;

use super::plot::{DetectionPanel, plot_detection, true_runs};
use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use statecast_anomaly::output::{scores_frame, write_scores, write_segments};
use statecast_anomaly::run::{DetectRequest, detect};
use statecast_anomaly::{Aggregate, AlarmRules, DetectorSettings, ThresholdMethod};
use statecast_models::device::DeviceSpec;
use statecast_pipelines::source::DatasetSpec;

use super::data_args::DataArgs;

/// Detector flags shared by `detect` and `eval anomaly`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DetectorArgs {
    /// Artifact directory written by `statecast train` (default: the raw-value z-score baseline).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Separate file to fit the detector on, read with the same dataset flags as --data (the
    /// --label-column is kept out of the inputs there too, and may be absent); default: --data.
    #[arg(long)]
    pub(crate) fit_data: Option<PathBuf>,
    /// Fraction of each fit series used for fitting (default 1.0 with --fit-data, else 0.5).
    #[arg(long)]
    pub(crate) fit_fraction: Option<f64>,
    /// Fraction of the fitting rows held out to calibrate scores and choose the threshold.
    #[arg(long, default_value_t = 0.3)]
    pub(crate) val_fraction: f64,
    /// Threshold on the calibrated scale: trimmed[:INIT_Q:TRIM:RISK] (POT fitted below the top
    /// TRIM of the scores, where a history's incidents lie), pot[:INIT_Q:RISK], quantile:Q or
    /// fixed:V.
    #[arg(long, default_value = "trimmed")]
    pub(crate) threshold: ThresholdMethod,
    /// Aggregation over variates.
    #[arg(
        long,
        default_value = "max",
        value_parser = PossibleValuesParser::new(Aggregate::NAMES).try_map(|s| s.parse::<Aggregate>())
    )]
    pub(crate) aggregate: Aggregate,
    /// Forecast steps of the short-horizon residual.
    #[arg(long, default_value_t = 4)]
    pub(crate) steps: usize,
    /// Alarm rule: flags needed within --alarm-window points.
    #[arg(long, default_value_t = 1)]
    pub(crate) min_flags: usize,
    /// Alarm rule window (points).
    #[arg(long, default_value_t = 1)]
    pub(crate) alarm_window: usize,
    /// Points after an alarm during which no new alarm opens (the cooldown).
    #[arg(long, default_value_t = 0)]
    pub(crate) suppress: usize,
    /// Consecutive points on which the alarm rule fails that close an open alarm.
    #[arg(long, default_value_t = 1)]
    pub(crate) clear: usize,
    /// Forecast lag of the drift feature (clamped to the model's horizon and 48; 0 = off).
    #[arg(long, default_value_t = statecast_anomaly::features::MAX_DRIFT_LAG)]
    pub(crate) drift_lag: usize,
    /// Leave out the cross-variate residual feature.
    #[arg(long)]
    pub(crate) no_cross: bool,
    /// Add the seasonal feature (difference from the value one day earlier; data with a daily
    /// cycle, at most 4096 values per day over all variates).
    #[arg(long)]
    pub(crate) seasonal: bool,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    pub(crate) device: DeviceSpec,
    /// Score SpaceTime by a forward pass over each look-back window (O(L) per point) instead of
    /// its recurrent state (the default: constant work per point, states renewed every L rows).
    #[arg(long)]
    pub(crate) window_scoring: bool,
}

impl DetectorArgs {
    /// The detection request for `data`; the fit file (if any) is read with the same options,
    /// only the path differs, and its labels are optional. `exclude_labelled`: leave the rows
    /// around the fit data's labelled incidents out of the fit (never in evaluations, where the
    /// fit data's labels may be the test truth).
    pub(crate) fn request<'a>(&'a self, data: DatasetSpec, exclude_labelled: bool) -> DetectRequest<'a> {
        let mut fit = data.clone();
        if let Some(p) = &self.fit_data {
            fit.path = p.clone();
            fit.label_column_optional = true;
        }
        DetectRequest {
            model: self.model.as_deref(),
            fit,
            fit_fraction: self
                .fit_fraction
                .unwrap_or(if self.fit_data.is_some() { 1.0 } else { 0.5 }),
            val_fraction: self.val_fraction,
            data,
            settings: DetectorSettings {
                steps: self.steps,
                aggregate: self.aggregate,
                threshold: self.threshold,
                rules: AlarmRules {
                    min_flags: self.min_flags,
                    window: self.alarm_window,
                    suppress: self.suppress,
                    top_k: 3,
                    clear: self.clear,
                },
                batch: 256,
                window_scoring: self.window_scoring,
                drift_lag: self.drift_lag,
                cross: !self.no_cross,
                seasonal: self.seasonal,
                per_series: true,
            },
            device: self.device,
            exclude_labelled,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct DetectArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Scores file: .parquet, .arrow or .csv (segments go to <stem>.segments.csv beside it).
    #[arg(long)]
    out: PathBuf,
    /// Also write the fitted detector (normaliser, calibration, threshold, rules) as JSON.
    #[arg(long)]
    save_detector: Option<PathBuf>,
    /// Also draw a PNG: for the first 3 series, the 3 top-scoring variates' values and the
    /// calibrated score with the threshold, alarm segments and labelled anomalies shaded.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Series and variates drawn by `--plot`.
const PLOT_SERIES: usize = 3;
const PLOT_VARIATES: usize = 3;

fn detection_panels(
    columns: &[String],
    input: &[&statecast_pipelines::Series],
    scores: &[statecast_anomaly::SeriesScores],
    threshold: f64,
) -> Vec<DetectionPanel> {
    input
        .iter()
        .zip(scores)
        .take(PLOT_SERIES)
        .map(|(s, r)| {
            let mut peak: Vec<(usize, f32)> = (0..columns.len())
                .map(|v| {
                    let m = r
                        .per_variate
                        .iter()
                        .map(|p| p[v])
                        .filter(|x| x.is_finite())
                        .fold(f32::NEG_INFINITY, f32::max);
                    (v, m)
                })
                .collect();
            peak.sort_by(|a, b| b.1.total_cmp(&a.1));
            let variates = peak
                .iter()
                .take(PLOT_VARIATES)
                .map(|&(v, _)| (columns[v].clone(), s.values[v].clone()))
                .collect();
            DetectionPanel {
                title: s.id.clone(),
                variates,
                score: r.score.clone(),
                threshold,
                alarms: r
                    .segments
                    .iter()
                    .map(|g| (g.start as usize, g.end as usize))
                    .collect(),
                labels: s
                    .labels
                    .as_ref()
                    .map(|l| true_runs(l.iter().map(|&x| x != 0)))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

pub(crate) fn run(args: DetectArgs) -> anyhow::Result<()> {
    let data = args.data.spec()?;
    let req = args.detector.request(data, true);
    let d = detect(&req).context("detecting anomalies")?;
    let input: Vec<_> = d.frame.series.iter().collect();
    let frame = scores_frame(&d.detector.columns, &input, &d.scores);
    write_scores(&frame, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let seg_path = args.out.with_extension("segments.csv");
    write_segments(&seg_path, &d.detector.columns, &input, &d.scores)?;
    if let Some(p) = &args.save_detector {
        d.detector.save(p)?;
        // Saved into the model's own artifact directory: record it there, so the artifact (and
        // a registry copy of it) names its detector.
        if let (Some(model_dir), Some(dir), Some(name)) = (
            &args.detector.model,
            p.parent(),
            p.file_name().and_then(|n| n.to_str()),
        ) && same_dir(model_dir, dir)
        {
            statecast_models::artifact::Artifact::record_detector(model_dir, name)?;
            println!("recorded {name} as the detector of {}", model_dir.display());
        }
    }
    if let Some(p) = &args.plot {
        let panels = detection_panels(&d.detector.columns, &input, &d.scores, d.detector.threshold.value);
        let file = args.data.data.file_name().map_or_else(
            || args.data.data.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let title = format!("{file} / {}", d.model);
        plot_detection(p, &title, &panels).with_context(|| format!("plotting {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    let n_alarms: usize = d.scores.iter().map(|s| s.segments.len()).sum();
    println!(
        "{}: threshold {:.3} ({:?}); {} alarms over {} series; wrote {} and {}",
        d.model,
        d.detector.threshold.value,
        d.detector.threshold.method,
        n_alarms,
        d.scores.len(),
        args.out.display(),
        seg_path.display()
    );
    for (s, r) in input.iter().zip(&d.scores) {
        for seg in r.segments.iter().take(20) {
            let top: Vec<String> = seg
                .top
                .iter()
                .map(|t| format!("{} {:.0}%", d.detector.columns[t.variate], t.share * 100.0))
                .collect();
            println!(
                "  alarm {} rows {}..{} peak {:.1}: {}",
                s.id,
                seg.start,
                seg.end,
                seg.peak,
                top.join(", ")
            );
        }
    }
    Ok(())
}

/// Whether two paths name the same existing directory.
fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    let b = if b.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        b
    };
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}
