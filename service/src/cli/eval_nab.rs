//! `statecast eval nab-corpus`: the NAB scores of a corpus from the result files of
//! `statecast eval anomaly --nab-windows … --json`, one per data file. Prints, per profile, the
//! honest score (alarm openings at the thresholds fitted on each file's first rows) and the
//! label-tuned score (NAB's leaderboard procedure: one threshold on the anomaly scores, chosen
//! over the whole corpus to maximise the score, i.e. with the test labels). Both are normalised
//! as NAB does: raw, null and perfect summed over files, then `100·(raw − null)/(perfect − null)`.
use std::path::PathBuf;

use anyhow::Context;
use statecast_anomaly::eval::AnomalyEval;
use statecast_anomaly::nab::{NabFileScore, NabProfile, NabScores, label_tuned};

#[derive(Debug, clap::Args)]
pub(crate) struct NabCorpusArgs {
    /// Result files written by `eval anomaly --nab-windows … --json` (one per NAB data file).
    #[arg(required = true)]
    results: Vec<PathBuf>,
}

/// A profile's name, weights and honest score in a file's results.
type Profile = (&'static str, NabProfile, fn(&NabScores) -> NabFileScore);

pub(crate) fn run(args: &NabCorpusArgs) -> anyhow::Result<()> {
    let mut files: Vec<NabScores> = Vec::new();
    for p in &args.results {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let e: AnomalyEval =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        let nab = e.nab.with_context(|| {
            format!(
                "{} has no NAB scores (run eval anomaly with --nab-windows)",
                p.display()
            )
        })?;
        files.push(nab);
    }
    let sweeps: Vec<_> = files.iter().filter_map(|n| n.sweep.clone()).collect();
    println!(
        "| profile | honest (alarm openings) | label-tuned (leaderboard procedure) | label-tuned threshold |"
    );
    println!("|---|---|---|---|");
    let profiles: [Profile; 3] = [
        ("standard", NabProfile::STANDARD, |n| n.standard),
        ("reward_low_FP", NabProfile::REWARD_LOW_FP_RATE, |n| {
            n.reward_low_fp_rate
        }),
        ("reward_low_FN", NabProfile::REWARD_LOW_FN_RATE, |n| {
            n.reward_low_fn_rate
        }),
    ];
    for (name, profile, honest_of) in profiles {
        let honest = files
            .iter()
            .map(honest_of)
            .fold(NabFileScore::default(), |a, b| a.add(&b));
        let (tuned, threshold) = if sweeps.len() == files.len() {
            let t = label_tuned(&sweeps, profile);
            (
                format!("{:.1}", t.score.normalized()),
                format!("{:.4}", t.threshold),
            )
        } else {
            ("n/a (results without sweep rows)".to_string(), "-".to_string())
        };
        println!("| {name} | {:.1} | {tuned} | {threshold} |", honest.normalized());
    }
    println!(
        "{} files; label-tuned chooses its threshold with the test labels of the whole corpus \
         (not an honest detection score)",
        files.len()
    );
    Ok(())
}
