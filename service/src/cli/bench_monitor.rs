//! `statecast bench load --monitor-series N` (and `--live-series N`): streaming-monitor (and
//! live-forecast) throughput. `N` series share one bidirectional `StreamMonitor`
//! (`StreamForecast`) stream; every series gets one point per round
//! (a random walk per variate, 5-minute timestamps), for a bounded time and number of rounds.
//! Prints points/s (sent and answered), alarms, warm-up answers and server RSS, and splits the
//! run in two: **warm-up** (the first `L` rounds: windows filling, then every series primed on its
//! first window) and **steady state** (every later round: one recurrent step per point), with
//! throughput and exact latency percentiles of each. A point's latency is from the moment the
//! client hands it to its stream to the moment its answer arrives. Unpaced (the default), the
//! client sends as fast as the stream accepts, which measures capacity, and latencies then include
//! the time queued behind earlier points; `--monitor-rate N` offers N points/s instead, for the
//! latency at a given load.
use std::time::{Duration, Instant};

use super::client::ClientOptions;
use anyhow::Context;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::models::status;

/// Totals of one monitor run.
pub(crate) struct MonitorLevel {
    pub(crate) series: usize,
    pub(crate) sent: usize,
    pub(crate) answered: usize,
    pub(crate) alarms: usize,
    pub(crate) warming: usize,
    pub(crate) seconds: f64,
    /// Warm-up rounds (the model's look-back).
    pub(crate) warmup_rounds: usize,
    /// Answers, seconds and latency percentiles (ms: p50, p99) of the warm-up rounds.
    pub(crate) warmup: Phase,
    /// The same for the rounds after (`None` when the run ended inside the warm-up).
    pub(crate) steady: Option<Phase>,
    /// The second half of `steady`.
    pub(crate) settled: Option<Phase>,
}

/// Throughput and latency of a part of a run.
pub(crate) struct Phase {
    pub(crate) answered: usize,
    pub(crate) seconds: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

impl Phase {
    /// From answers `range` of the run: their latencies and arrival times (s since the start).
    fn of(
        latencies_ms: &[f64],
        arrivals_s: &[f64],
        range: std::ops::Range<usize>,
        from_s: f64,
    ) -> Option<Self> {
        if range.is_empty() {
            return None;
        }
        let mut lat = latencies_ms[range.clone()].to_vec();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        Some(Self {
            answered: range.len(),
            seconds: arrivals_s[range.end - 1] - from_s,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
        })
    }

    /// `N points/s, p50 A ms, p99 B ms`.
    pub(crate) fn line(&self) -> String {
        format!(
            "{:.0} points/s, p50 {:.1} ms, p99 {:.1} ms ({} answers in {:.1} s)",
            self.answered as f64 / self.seconds.max(1e-9),
            self.p50_ms,
            self.p99_ms,
            self.answered,
            self.seconds
        )
    }
}

/// What the monitor client sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MonitorLoad {
    /// Variates per point and the model's look-back (the warm-up rounds).
    pub(crate) variates: usize,
    pub(crate) lookback: usize,
    /// Series on the stream, one point each per round.
    pub(crate) series: usize,
    /// Bounds of the run.
    pub(crate) duration: Duration,
    pub(crate) max_rounds: usize,
    /// Points per second offered (0: as fast as the stream accepts).
    pub(crate) rate: f64,
    /// Which point stream to load.
    pub(crate) target: Target,
}

/// The point stream a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `MonitorService.StreamMonitor`.
    Monitor,
    /// `ForecastService.StreamForecast`, recurrent mode, the model's horizon, quantiles 0.1
    /// and 0.9.
    LiveForecast,
}

/// Stream rounds of one point per series through one stream until `duration` or `max_rounds`.
pub(crate) async fn run_monitor(
    options: &ClientOptions,
    model: &str,
    load: &MonitorLoad,
) -> anyhow::Result<MonitorLevel> {
    let channel = options.connect().await?;
    match load.target {
        Target::Monitor => {
            let (tx, rx) = tokio::sync::mpsc::channel::<pb::MonitorRequest>(4096);
            let responses = MonitorServiceClient::new(channel)
                .stream_monitor(ReceiverStream::new(rx))
                .await
                .map_err(status)?
                .into_inner();
            let request = |series_id, model, timestamp, values| pb::MonitorRequest {
                series_id,
                model,
                timestamp,
                values,
            };
            let flags = |r: &pb::MonitorResponse| (r.fired.is_some(), r.warming_up);
            drive(load, model, tx, responses, request, flags).await
        }
        Target::LiveForecast => {
            let (tx, rx) = tokio::sync::mpsc::channel::<pb::StreamForecastRequest>(4096);
            let responses = ForecastServiceClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .stream_forecast(ReceiverStream::new(rx))
                .await
                .map_err(status)?
                .into_inner();
            let request = |series_id, model: String, timestamp, values| {
                let first = !model.is_empty();
                pb::StreamForecastRequest {
                    series_id,
                    model,
                    timestamp,
                    values,
                    horizon: 0,
                    quantiles: if first { vec![0.1, 0.9] } else { Vec::new() },
                    levels: Vec::new(),
                    mode: if first {
                        pb::LiveForecastMode::Recurrent as i32
                    } else {
                        0
                    },
                }
            };
            let flags = |r: &pb::StreamForecastResponse| (false, r.warming_up);
            drive(load, model, tx, responses, request, flags).await
        }
    }
}

/// The run over an open stream: `request(series, model on a series' first point, timestamp,
/// values)` builds a point, `flags(answer)` says (alarm fired, warming up).
async fn drive<R: Send + 'static, A>(
    load: &MonitorLoad,
    model: &str,
    tx: tokio::sync::mpsc::Sender<R>,
    mut responses: tonic::Streaming<A>,
    request: fn(String, String, i64, Vec<f64>) -> R,
    flags: fn(&A) -> (bool, bool),
) -> anyhow::Result<MonitorLevel> {
    let MonitorLoad {
        variates,
        lookback,
        series,
        duration,
        max_rounds,
        rate,
        target: _,
    } = *load;
    let model = model.to_string();
    let start = Instant::now();
    // Send time of every point, by position in the stream (answers come back in order).
    let sent_at = std::sync::Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let sent_log = sent_at.clone();
    let sender = tokio::spawn(async move {
        let mut level = vec![0.0f64; series * variates];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut sent = 0usize;
        for round in 0..max_rounds {
            if start.elapsed() >= duration {
                break;
            }
            for s in 0..series {
                let values = (0..variates)
                    .map(|v| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let step = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                        let x = &mut level[s * variates + v];
                        *x = 0.98 * *x + step;
                        *x
                    })
                    .collect();
                let req = request(
                    format!("s{s}"),
                    if round == 0 { model.clone() } else { String::new() },
                    1_700_000_000_000_000 + round as i64 * 300_000_000,
                    values,
                );
                if rate > 0.0 {
                    // Paced: point `sent` leaves at sent / rate seconds.
                    let due = start + Duration::from_secs_f64(sent as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                if tx.send(req).await.is_err() {
                    return sent;
                }
                sent_log
                    .lock()
                    .expect("send log")
                    .push(start.elapsed().as_secs_f64());
                sent += 1;
            }
        }
        sent
    });
    let (mut answered, mut alarms, mut warming) = (0usize, 0usize, 0usize);
    let mut arrivals_s = Vec::new();
    while let Some(msg) = responses.next().await {
        let msg = msg.map_err(status)?;
        arrivals_s.push(start.elapsed().as_secs_f64());
        answered += 1;
        let (fired, warming_up) = flags(&msg);
        alarms += usize::from(fired);
        warming += usize::from(warming_up);
    }
    let sent = sender.await.context("monitor sender")?;
    let sent_at = sent_at.lock().expect("send log").clone();
    let latencies_ms: Vec<f64> = arrivals_s
        .iter()
        .zip(&sent_at)
        .map(|(a, s)| (a - s) * 1e3)
        .collect();
    let boundary = (lookback * series).min(answered);
    let warmup = Phase::of(&latencies_ms, &arrivals_s, 0..boundary, 0.0).context("no monitor answer")?;
    let steady = boundary
        .checked_sub(1)
        .and_then(|last| Phase::of(&latencies_ms, &arrivals_s, boundary..answered, arrivals_s[last]));
    // The second half of the steady state: clear of the backlog that queued while every series
    // was primed at the end of the warm-up.
    let half = boundary + (answered - boundary) / 2;
    let settled = half
        .checked_sub(1)
        .filter(|_| half > boundary)
        .and_then(|last| Phase::of(&latencies_ms, &arrivals_s, half..answered, arrivals_s[last]));
    Ok(MonitorLevel {
        series,
        sent,
        answered,
        alarms,
        warming,
        seconds: start.elapsed().as_secs_f64(),
        warmup_rounds: lookback,
        warmup,
        steady,
        settled,
    })
}
