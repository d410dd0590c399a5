//! `statecast monitor` over several servers (issue 17, monitor sharding), against the real
//! binary: three `statecast serve` processes with their own data directories, the same trained
//! artifact registered on each, and simulated data streamed through `statecast monitor --server
//! A --server B,C`. Every point is answered exactly once, by the server the documented rule
//! picks (recomputed here from the rule as README.md states it, not from the crate's code); with
//! one server SIGKILLed mid-stream the run still completes, that server's series are re-primed
//! on their next-ranked server from their last L points and every later point is scored there;
//! with no server left the client fails with a clear error.
mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

const SERIES: usize = 6;
/// Rows simulated per series (the simulator's least: two days at 5 minutes).
const ROWS: usize = 576;
/// Points monitored per series (`--limit`: the first `SERIES × LENGTH` in time order).
const LENGTH: usize = 300;
/// The look-back of `common::train_monitorable`'s model.
const L: usize = 24;

/// The rule, from its documentation: `fmix64(FNV-1a-64(endpoint ‖ 0x00 ‖ series_id))`, the
/// largest weight wins (ties: the smaller endpoint).
fn weight(endpoint: &str, series: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in endpoint
        .as_bytes()
        .iter()
        .chain([0u8].iter())
        .chain(series.as_bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The endpoints best first for `series`.
fn ranking<'a>(endpoints: &[&'a str], series: &str) -> Vec<&'a str> {
    let mut r = endpoints.to_vec();
    r.sort_by(|a, b| weight(b, series).cmp(&weight(a, series)).then(a.cmp(b)));
    r
}

/// A trained, monitorable model, simulated data and three servers that have it registered as
/// `sensors`.
struct Fleet {
    _dir: tempfile::TempDir,
    data: String,
    servers: Vec<Server>,
    scores: String,
}

fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let data = common::simulate(
        &p("sim"),
        SERIES,
        3,
        ROWS,
        &["--seed", "11", "--missing-rate", "0", "--csv"],
    );
    let model = p("model");
    common::train_monitorable(&data, &model, &p("detect.csv"));
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            let server = Server::start(
                &dir.path().join(format!("data{i}")),
                &["--import-root", &dir.path().to_string_lossy()],
            );
            common::run_ok(&["models", "register", "--server", &server.addr, "sensors", &model]);
            server
        })
        .collect();
    Fleet {
        scores: p("scores.csv"),
        _dir: dir,
        data,
        servers,
    }
}

impl Fleet {
    fn endpoints(&self) -> Vec<&str> {
        self.servers.iter().map(|s| s.addr.as_str()).collect()
    }

    /// `monitor` flags over `data`: the first server as one `--server`, the other two
    /// comma-separated in a second.
    fn monitor_args(&self, data: &str) -> Vec<String> {
        let e = self.endpoints();
        #[rustfmt::skip]
        let args = [
            "monitor", "--server", e[0], "--server", &format!("{},{}", e[1], e[2]),
            "--model", "sensors", "--data", data, "--series-column", "series_id",
            "--label-column", "label", "--print-routing", "--scores-out", &self.scores,
            "--limit", &(SERIES * LENGTH).to_string(),
        ];
        args.iter().map(|s| s.to_string()).collect()
    }
}

/// `route SERIES → SERVER` lines.
fn routes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("route "))
        .map(|l| {
            let (s, e) = l.split_once(" → ").expect("route SERIES → SERVER");
            (s.to_string(), e.to_string())
        })
        .collect()
}

/// One row of `--scores-out`.
#[derive(Debug)]
struct Scored {
    series: String,
    timestamp: i64,
    server: String,
    score: f64,
    warming_up: bool,
}

/// The `--scores-out` rows, checked to hold every point of the data exactly once.
fn scored_once(path: &str) -> Vec<Scored> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("series_id,timestamp,server,score,threshold,alarm,warming_up")
    );
    let rows: Vec<Scored> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Scored {
                series: f[0].into(),
                timestamp: f[1].parse().unwrap(),
                server: f[2].into(),
                score: f[3].parse().unwrap(),
                warming_up: f[6].parse().unwrap(),
            }
        })
        .collect();
    let mut per_series: HashMap<&str, Vec<i64>> = HashMap::new();
    for r in &rows {
        per_series.entry(&r.series).or_default().push(r.timestamp);
    }
    assert_eq!(per_series.len(), SERIES);
    for (s, mut ts) in per_series {
        ts.sort_unstable();
        let n = ts.len();
        ts.dedup();
        assert_eq!((ts.len(), n), (LENGTH, LENGTH), "{s}: every point once");
    }
    rows
}

/// The simulator's CSV `path` with series `wild`'s second sensor pushed ±40 standard deviations
/// (alternating) from its row `from` on.
fn go_wild(path: &str, wild: &str, from: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("series_id,timestamp,"), "{header}");
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    let values: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == wild)
        .map(|r| r[3].parse().unwrap())
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    let mut out = vec![header.to_string()];
    let mut row = 0;
    for mut r in rows {
        if r[0] == wild {
            if row >= from {
                let v: f64 = r[3].parse().unwrap();
                let sign = if row % 2 == 0 { 1.0 } else { -1.0 };
                r[3] = (v + sign * 40.0 * sd).to_string();
            }
            row += 1;
        }
        out.push(r.join(","));
    }
    out.join("\n") + "\n"
}

#[test]
fn monitor_spreads_series_over_servers_by_rendezvous_hash() {
    let fleet = fleet();
    let endpoints = fleet.endpoints();
    let args = fleet.monitor_args(&fleet.data);
    let stdout = common::run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let total = SERIES * LENGTH;
    assert!(
        stdout.contains(&format!("sensors@1: {total} of {total} points scored")),
        "{stdout}"
    );
    let routes = routes(&stdout);
    assert_eq!(routes.len(), SERIES, "{stdout}");
    for (s, e) in &routes {
        assert_eq!(e, ranking(&endpoints, s)[0], "{s} went to the wrong server");
    }
    let rows = scored_once(&fleet.scores);
    let mut per_server: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        assert_eq!(r.server, routes[&r.series], "{r:?}");
        *per_server.entry(&r.server).or_default() += 1;
    }
    for e in &endpoints {
        let n = per_server.get(e).copied().unwrap_or(0);
        let series = routes.values().filter(|r| r == e).count();
        let line = format!("server {e}: {series} series, {n} points scored, 0 re-priming points");
        assert!(stdout.contains(&line), "`{line}` not in\n{stdout}");
    }
    assert!(!stdout.contains("failed"), "{stdout}");
}

#[test]
fn monitor_fails_over_when_a_server_is_killed_mid_stream() {
    let mut fleet = fleet();
    let endpoints: Vec<String> = fleet.endpoints().iter().map(|s| s.to_string()).collect();
    let eps: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let ids: Vec<String> = (1..=SERIES).map(|i| format!("machine_{i:02}")).collect();
    // The victim: the server the rule gives most series.
    let top = |e: &str| ids.iter().filter(|s| ranking(&eps, s)[0] == e).count();
    let victim = (0..3).max_by_key(|&i| top(eps[i])).unwrap();
    let dead = eps[victim].to_string();
    let moved: Vec<&String> = ids.iter().filter(|s| ranking(&eps, s)[0] == dead).collect();
    assert!(!moved.is_empty());

    // One of them goes wild from its 30th point on (±40 standard deviations of one sensor,
    // alternating), so it is inside an alarm when its server dies.
    let wild = moved[0].clone();
    let noisy = fleet.data.replace("sensors.parquet", "noisy.csv");
    std::fs::write(
        &noisy,
        go_wild(&fleet.data.replace(".parquet", ".csv"), &wild, 30),
    )
    .unwrap();

    // 1800 points at 600 points/s: the kill lands about half-way.
    let mut args = fleet.monitor_args(&noisy);
    args.extend(["--rate".into(), "600".into()]);
    let mut child = Command::new(common::statecast_bin())
        .args(&args)
        .env("BURN_DEVICE", "flex")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while lines.iter().filter(|l: &&String| l.starts_with("route ")).count() < SERIES {
        let left = deadline.saturating_duration_since(Instant::now());
        lines.push(rx.recv_timeout(left).expect("the route lines"));
    }
    std::thread::sleep(Duration::from_millis(1500));
    fleet.servers[victim].child.kill().unwrap();
    fleet.servers[victim].child.wait().unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let stdout = lines.join("\n");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");

    let total = SERIES * LENGTH;
    assert!(
        stdout.contains(&format!("sensors@1: {total} of {total} points scored")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("server {dead} failed (Unknown: h2 protocol error"))
            || stdout.contains(&format!("server {dead} failed (Unavailable")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("server {dead}: ")) && stdout.contains("re-priming points, failed"),
        "{stdout}"
    );
    let rows = scored_once(&fleet.scores);
    for s in &ids {
        let rank = ranking(&eps, s);
        let mine: Vec<&Scored> = rows.iter().filter(|r| &r.series == s).collect();
        if rank[0] != dead {
            assert!(
                mine.iter().all(|r| r.server == rank[0]),
                "{s} stays on {}",
                rank[0]
            );
            continue;
        }
        // A prefix on the dead server, the rest on the next-ranked one.
        let mut by_time = mine.clone();
        by_time.sort_by_key(|r| r.timestamp);
        let before = by_time.iter().take_while(|r| r.server == dead).count();
        assert!(
            before > 0 && before < LENGTH,
            "{s}: {before} points before the kill"
        );
        let after = &by_time[before..];
        assert!(
            after.iter().all(|r| r.server == rank[1]),
            "{s} moves to {}",
            rank[1]
        );
        let primed = before.min(L);
        let line = format!(
            "re-routed {s}: {dead} → {}, re-primed from {primed} points",
            rank[1]
        );
        assert!(stdout.contains(&line), "`{line}` not in\n{stdout}");
        if primed == L {
            // Re-primed with a full look-back: every later point is scored at once.
            assert!(
                after.iter().all(|r| !r.warming_up && r.score.is_finite()),
                "{s}: {:?}",
                after.iter().find(|r| r.warming_up)
            );
        }
    }
    assert_eq!(
        moved.len(),
        stdout.matches("re-routed ").count(),
        "only the dead server's series move:\n{stdout}"
    );
    // The wild series' alarm was open on the dead server: carried by the client, said so, and
    // taken over by the next server's detector.
    let next = ranking(&eps, &wild)[1];
    let carried = format!("alarm carried {wild} (moved): open since ");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&carried))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains(&format!("on {dead} (gone)"))
            && line.contains(&format!("re-primed on {next} from {L} points")),
        "{line}"
    );
    let opened = stdout
        .lines()
        .take_while(|l| !l.starts_with(&format!("server {dead} failed")))
        .filter(|l| l.starts_with(&format!("alarm opened  {wild} at ")))
        .last()
        .expect("the dead server opened the wild series' alarm");
    let since = &opened[format!("alarm opened  {wild} at ").len()..]
        .split(' ')
        .next()
        .unwrap();
    assert!(
        line.contains(&format!("open since {since} on")),
        "{line} vs {opened}"
    );
    assert!(
        stdout.contains(&format!("alarm reopened {wild} on {next} at ")),
        "{stdout}"
    );

    // No server left: a clear error, non-zero exit.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    #[rustfmt::skip]
    let err = common::run_err(&[
        "monitor", "--server", &dead, "--server", &nobody, "--model", "sensors",
        "--data", &fleet.data, "--series-column", "series_id", "--label-column", "label",
    ]);
    assert!(err.contains("no monitor endpoint left: all 2 failed"), "{err}");
    assert!(err.contains(&dead) && err.contains(&nobody), "{err}");
}

/// The rule's oracle here agrees with the fixed assignments of the crate's unit tests.
#[test]
fn the_oracle_matches_the_documented_assignments() {
    let eps = [
        "http://10.0.0.1:50051",
        "http://10.0.0.2:50051",
        "http://10.0.0.3:50051",
    ];
    assert_eq!(weight(eps[0], "machine_000"), 0xd644_2db8_5e47_6fdf);
    assert_eq!(ranking(&eps, "machine_005"), [eps[1], eps[0], eps[2]]);
}
