//! `statecast eval anomaly`: fit a detector without test labels, score labelled test data and
//! print honest metrics next to the common (label-informed) protocol. The protocol itself is
//! `statecast_anomaly::protocol`; this module parses flags, reads the label files and prints.
use std::path::PathBuf;

use anyhow::Context;
use statecast_anomaly::datasets::{nab_key, read_labels, read_nab_windows};
use statecast_anomaly::eval::AnomalyEval;
use statecast_anomaly::pca::PcaConfig;
use statecast_anomaly::protocol::{EvalRequest, Truth, evaluate_detection};
use statecast_anomaly::vus::VusConfig;

use super::data_args::DataArgs;
use super::detect::DetectorArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct EvalAnomalyArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Label file, one 0/1 per test row (SMD `test_label/*.txt`, ASD `*_test_label.csv`);
    /// default: the data's --label-column.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// NAB label windows (`labels/combined_windows.json`): rows whose timestamp lies in one of
    /// the file's `[start, end]` windows are labelled 1; also computes the NAB score of the
    /// honest alarm openings (`anomaly::nab`; single-series files only).
    #[arg(long, conflicts_with = "labels")]
    nab_windows: Option<PathBuf>,
    /// Key of the file in --nab-windows (default: `<category>/<name>.csv` from the --data path).
    #[arg(long, requires = "nab_windows")]
    nab_key: Option<String>,
    /// Evaluate only the rows after each series' fit part (the first --fit-fraction rows, e.g.
    /// NAB's 15 % probationary period); needs the detector fitted on --data itself.
    #[arg(long, conflicts_with = "fit_data")]
    score_rest: bool,
    /// Anomaly ratio in percent for the ratio-convention threshold (default: the true test ratio,
    /// which is label-informed either way).
    #[arg(long)]
    ratio: Option<f64>,
    /// Largest label buffer (rows) of VUS-PR / VUS-ROC: the range-based PR curves are averaged
    /// over buffers 0..=this (TSB-AD's sliding window; its default is 100).
    #[arg(long, default_value_t = VusConfig::default().max_buffer)]
    vus_buffer: usize,
    /// Score with the PCA reconstruction reference detector instead of a model: keep the
    /// principal components of the scaled training rows that explain more than this fraction of
    /// their variance (e.g. 0.9), score the reconstruction residual (model label `pca`).
    #[arg(long, conflicts_with = "model")]
    pca: Option<f64>,
    /// Name in the results (default: the file stem).
    #[arg(long)]
    name: Option<String>,
    /// Write the result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: EvalAnomalyArgs) -> anyhow::Result<()> {
    let data = args.data.spec()?;
    let name = args.name.clone().unwrap_or_else(|| data.default_series_id());
    let truth = match (&args.nab_windows, &args.labels) {
        (Some(p), _) => {
            let key = match &args.nab_key {
                Some(k) => k.clone(),
                None => nab_key(&args.data.data)?,
            };
            Truth::NabWindows(read_nab_windows(p, &key)?)
        }
        (None, Some(p)) => Truth::Rows(read_labels(p)?),
        (None, None) => Truth::LabelColumn,
    };
    let req = EvalRequest {
        name,
        detect: args.detector.request(data, false),
        truth,
        score_rest: args.score_rest,
        protocol_ratio: args.ratio.map(|r| r / 100.0),
        vus: VusConfig {
            max_buffer: args.vus_buffer,
            ..VusConfig::default()
        },
        pca: args.pca.map(|variance| PcaConfig { variance }),
    };
    let e = evaluate_detection(&req).context("evaluating anomaly detection")?;
    print_eval(&e);
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&e)?)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn print_eval(e: &AnomalyEval) {
    println!(
        "{} / {}: {} points, anomaly ratio {:.2}%, AUC-PR {:.3}, VUS-PR {:.3} (buffers 0..={}), \
         VUS-ROC {:.3}, {:.1}s",
        e.name,
        e.model,
        e.points,
        e.anomaly_ratio * 100.0,
        e.auc_pr,
        e.vus_pr,
        e.vus_max_buffer,
        e.vus_roc,
        e.seconds
    );
    println!("| threshold | P | R | F1 point | F1 PA | F1 event | F1 affil. | flagged % |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, m) in [
        (
            format!("validation (honest) {:.2}", e.honest_threshold),
            &e.honest,
        ),
        (
            format!("ratio {:.2}% of test (label-informed)", e.protocol_ratio_percent),
            &e.protocol,
        ),
    ] {
        println!(
            "| {label} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
            m.point.precision,
            m.point.recall,
            m.point.f1,
            m.point_adjusted.f1,
            m.event.f1,
            m.affiliation.f1,
            m.flagged_ratio * 100.0
        );
    }
    if let Some(n) = &e.nab {
        println!(
            "NAB (honest alarm openings): standard {:.1}, reward_low_FP {:.1}, reward_low_FN {:.1} \
             ({} windows, {} detections, {} false positives, {} probationary rows)",
            n.standard.normalized(),
            n.reward_low_fp_rate.normalized(),
            n.reward_low_fn_rate.normalized(),
            n.windows,
            n.detections,
            n.false_positives,
            n.probation
        );
    }
}
