//! `statecast eval anomaly --nab-windows --json` on two NAB-style files, then
//! `statecast eval nab-corpus` over the results: the label-tuned (leaderboard) score finds the one
//! threshold that catches both planted spikes at their windows' first rows, a perfect 100.
mod common;

use std::fmt::Write as _;

/// A NAB-style file of 1 000 five-minute rows of noise around 10 with a spike to 60 on row
/// `spike`.
fn nab_file(path: &std::path::Path, spike: usize, seed: u64) {
    let mut s = seed;
    let mut text = String::from("timestamp,value\n");
    for i in 0..1000 {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = ((s >> 33) % 1000) as f64 / 1000.0;
        let value = if i == spike { 60.0 } else { 10.0 + noise };
        let _ = writeln!(text, "{},{value}", stamp(i));
    }
    std::fs::write(path, text).unwrap();
}

/// The timestamp of row `i` (NAB's layout, from 2014-04-01 00:00).
fn stamp(i: usize) -> String {
    let minutes = 5 * i;
    format!(
        "2014-04-{:02} {:02}:{:02}:00",
        1 + minutes / 1440,
        minutes % 1440 / 60,
        minutes % 60
    )
}

#[test]
fn label_tuned_corpus_score_from_eval_results() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("realTest");
    std::fs::create_dir(&cat).unwrap();
    let spikes = [("a.csv", 600usize, 1u64), ("b.csv", 700, 2)];
    let mut windows = serde_json::Map::new();
    for (name, spike, seed) in spikes {
        nab_file(&cat.join(name), spike, seed);
        let w = vec![vec![
            format!("{}.000000", stamp(spike)),
            format!("{}.000000", stamp(spike + 20)),
        ]];
        windows.insert(format!("realTest/{name}"), serde_json::json!(w));
    }
    let labels = dir.path().join("combined_windows.json");
    std::fs::write(&labels, serde_json::to_string(&windows).unwrap()).unwrap();
    let mut results = Vec::new();
    for (name, _, _) in spikes {
        let json = dir.path().join(format!("{name}.json"));
        let stdout = common::run_ok(&[
            "eval",
            "anomaly",
            "--data",
            cat.join(name).to_str().unwrap(),
            "--nab-windows",
            labels.to_str().unwrap(),
            "--fit-fraction",
            "0.15",
            "--score-rest",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(stdout.contains("VUS-PR"), "{stdout}");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        // NAB's probation: ⌊0.15 · 1000⌋ rows; the other 850 are listed (all scored).
        assert_eq!(v["nab"]["sweep"]["scores"].as_array().unwrap().len(), 850);
        results.push(json.to_str().unwrap().to_string());
    }
    let mut args = vec!["eval", "nab-corpus"];
    args.extend(results.iter().map(String::as_str));
    let stdout = common::run_ok(&args);
    let standard = stdout
        .lines()
        .find(|l| l.starts_with("| standard |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<&str> = standard.split('|').map(str::trim).collect();
    assert_eq!(cells[3], "100.0", "{stdout}");
    assert!(stdout.contains("2 files"), "{stdout}");
}
