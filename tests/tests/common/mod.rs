//! Shared helpers: locate the binary, run subcommands, start a server on a free port.
#![allow(dead_code, unreachable_pub)]

pub mod hostile;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `statecast` binary: `$STATECAST_BIN`, else `<target>/debug/statecast` (built by
/// `scripts/test.sh`).
pub fn statecast_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STATECAST_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    let bin = target.join("debug").join("statecast");
    assert!(
        bin.exists(),
        "{} not found: run the tests with scripts/test.sh (it builds the binary first) or set STATECAST_BIN",
        bin.display()
    );
    bin
}

/// Run `statecast <args>` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(statecast_bin())
        .args(args)
        .env("BURN_DEVICE", "flex")
        .output()
        .expect("spawn statecast")
}

/// Run and assert success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "statecast {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run and assert failure; returns stderr.
/// `statecast simulate --out OUT --series S --variates V --length N` plus `extra` flags; returns
/// the path of the written `sensors.parquet`.
pub fn simulate(out: &str, series: usize, variates: usize, length: usize, extra: &[&str]) -> String {
    let (s, v, n) = (series.to_string(), variates.to_string(), length.to_string());
    let mut args = vec![
        "simulate",
        "--out",
        out,
        "--series",
        &s,
        "--variates",
        &v,
        "--length",
        &n,
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
    Path::new(out)
        .join("sensors.parquet")
        .to_string_lossy()
        .into_owned()
}

pub fn run_err(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "statecast {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `statecast serve` child process on a free loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Start the server with `data_dir` and extra flags; waits for the "listening on" line.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(statecast_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("BURN_DEVICE", "flex")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn statecast serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("statecast listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        Server {
            child,
            addr: format!("http://{addr}"),
        }
    }

    /// Send SIGTERM and wait (bounded) for exit; returns the exit status.
    pub fn terminate(mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "server did not exit within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Train a tiny `linear` model (L=24, H=4, one epoch) on the simulator file `data` (columns
/// `series_id`, `label`) into `model`, and save a detector next to it (`detect
/// --save-detector`), which makes it monitorable. `scores` receives the detect run's scores.
pub fn train_monitorable(data: &str, model: &str, scores: &str) {
    #[rustfmt::skip]
    run_ok(&[
        "train", "--data", data, "--model", "linear", "--lookback", "24", "--horizon", "4",
        "--epochs", "1", "--split", "ratio:0.6,0.2,0.2", "--device", "cpu", "--out", model,
        "--series-column", "series_id", "--label-column", "label",
    ]);
    #[rustfmt::skip]
    run_ok(&[
        "detect", "--data", data, "--model", model, "--out", scores,
        "--fit-fraction", "0.5", "--save-detector", &format!("{model}/detector.json"),
        "--series-column", "series_id", "--label-column", "label",
    ]);
}

/// Load a file written by `statecast simulate` (wide layout, `series_id`, `label`) with the
/// given missing-value policy.
pub fn load_simulated(
    data: impl AsRef<Path>,
    missing: statecast_pipelines::missing::MissingPolicy,
) -> statecast_pipelines::TimeFrame {
    use statecast_pipelines::source::{DatasetSpec, Layout};
    let mut spec = DatasetSpec::wide(data.as_ref());
    spec.layout = Layout::Wide {
        time_column: None,
        series_column: Some("series_id".into()),
        value_columns: None,
    };
    spec.label_column = Some("label".into());
    spec.missing = missing;
    statecast_pipelines::source::load(&spec).unwrap().0
}
