//! `statecast eval anomaly`: fit a detector without test labels, score labelled test data and
//! print honest metrics next to the common (label-informed) protocol.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use statecast_pipelines::source::parse_timestamp;
use statecast_service::anomaly::datasets::read_labels;
use statecast_service::anomaly::eval::{AnomalyEval, evaluate};
use statecast_service::anomaly::nab::{NabScores, alarm_openings, windows_to_rows};
use statecast_service::anomaly::run::detect;

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
    /// Name in the results (default: the file stem).
    #[arg(long)]
    name: Option<String>,
    /// Write the result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: EvalAnomalyArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = args.data.spec()?;
    let name = args.name.clone().unwrap_or_else(|| data.default_series_id());
    let req = args.detector.request(data);
    let fit_fraction = req.fit_fraction;
    let mut d = detect(&req).context("detecting anomalies")?;
    if args.score_rest {
        for r in &mut d.scores {
            let n = ((r.score.len() as f64 * fit_fraction).floor() as usize).min(r.score.len());
            r.score[..n].fill(f64::NAN);
        }
    }
    let nab_windows = match &args.nab_windows {
        Some(p) => {
            anyhow::ensure!(
                d.frame.series.len() == 1,
                "--nab-windows needs a single-series file ({} has {} series)",
                args.data.data.display(),
                d.frame.series.len()
            );
            let key = match &args.nab_key {
                Some(k) => k.clone(),
                None => nab_key(&args.data.data)?,
            };
            Some(read_nab_windows(p, &key)?)
        }
        None => None,
    };
    let nab = nab_windows.as_ref().map(|windows| {
        d.frame
            .series
            .iter()
            .map(|s| {
                s.timestamps
                    .iter()
                    .map(|t| windows.iter().any(|&(a, b)| a <= *t && *t <= b))
                    .collect::<Vec<bool>>()
            })
            .collect()
    });
    let truth: Vec<Vec<bool>> = match (nab, &args.labels) {
        (Some(t), _) => t,
        (None, Some(p)) => {
            anyhow::ensure!(d.frame.series.len() == 1, "--labels needs a single-series file");
            let l = read_labels(p)?;
            anyhow::ensure!(
                l.len() == d.frame.series[0].len(),
                "{} has {} labels for {} rows",
                p.display(),
                l.len(),
                d.frame.series[0].len()
            );
            vec![l]
        }
        (None, None) => d
            .frame
            .series
            .iter()
            .map(|s| {
                s.labels
                    .as_ref()
                    .map(|l| l.iter().map(|&x| x != 0).collect())
                    .context("no labels: pass --labels FILE or --label-column")
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let mut e = evaluate(
        &name,
        &d.model,
        &d.scores,
        d.detector.threshold.value,
        &truth,
        args.ratio.map(|r| r / 100.0),
    );
    if let Some(windows) = &nab_windows {
        let (series, scores) = (&d.frame.series[0], &d.scores[0]);
        let scored: Vec<bool> = scores.score.iter().map(|x| !x.is_nan()).collect();
        let probation = scored.iter().take_while(|s| !**s).count();
        let rows = windows_to_rows(windows, &series.timestamps);
        let detections = alarm_openings(&scores.in_alarm, &scored);
        e.nab = Some(NabScores::compute(series.len(), &rows, probation, &detections));
    }
    e.seconds = started.elapsed().as_secs_f64();
    print_eval(&e);
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&e)?)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// `<category>/<name>.csv` from a path ending in `data/<category>/<name>.csv`.
fn nab_key(path: &std::path::Path) -> anyhow::Result<String> {
    let name = path.file_name().and_then(|n| n.to_str());
    let category = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
    match (category, name) {
        (Some(c), Some(n)) => Ok(format!("{c}/{n}")),
        _ => anyhow::bail!(
            "cannot derive the NAB key from {}: pass --nab-key",
            path.display()
        ),
    }
}

/// The `[start, end]` windows (micros) of `key` in a NAB `combined_windows.json`.
fn read_nab_windows(path: &std::path::Path, key: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let all: std::collections::BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let windows = all
        .get(key)
        .with_context(|| format!("{} has no entry {key:?}", path.display()))?;
    windows
        .iter()
        .map(|[a, b]| {
            let t = |s: &str| {
                parse_timestamp(s).with_context(|| format!("{}: bad timestamp {s:?}", path.display()))
            };
            Ok((t(a)?, t(b)?))
        })
        .collect()
}

fn print_eval(e: &AnomalyEval) {
    println!(
        "{} / {}: {} points, anomaly ratio {:.2}%, AUC-PR {:.3}, {:.1}s",
        e.name,
        e.model,
        e.points,
        e.anomaly_ratio * 100.0,
        e.auc_pr,
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
