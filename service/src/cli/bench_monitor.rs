//! `statecast bench load --monitor-series N`: streaming-monitor throughput. `N` series share
//! one bidirectional `StreamMonitor` stream per client; every series gets one point per round
//! (a random walk per variate, 5-minute timestamps), for a bounded time and number of rounds.
//! Prints points/s (sent and answered), alarms, warm-up answers and server RSS.
use std::time::{Duration, Instant};

use super::client::ClientOptions;
use anyhow::Context;
use statecast_proto::v1 as pb;
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
}

/// Stream rounds of one point per series through one stream until `duration` or `max_rounds`.
pub(crate) async fn run_monitor(
    options: &ClientOptions,
    model: &str,
    variates: usize,
    series: usize,
    duration: Duration,
    max_rounds: usize,
) -> anyhow::Result<MonitorLevel> {
    let mut client = MonitorServiceClient::new(options.connect().await?);
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::MonitorRequest>(4096);
    let mut responses = client
        .stream_monitor(ReceiverStream::new(rx))
        .await
        .map_err(status)?
        .into_inner();
    let model = model.to_string();
    let start = Instant::now();
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
                let req = pb::MonitorRequest {
                    series_id: format!("s{s}"),
                    model: if round == 0 { model.clone() } else { String::new() },
                    timestamp: 1_700_000_000_000_000 + round as i64 * 300_000_000,
                    values,
                };
                if tx.send(req).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
        }
        sent
    });
    let (mut answered, mut alarms, mut warming) = (0usize, 0usize, 0usize);
    while let Some(msg) = responses.next().await {
        let msg = msg.map_err(status)?;
        answered += 1;
        alarms += usize::from(msg.fired.is_some());
        warming += usize::from(msg.warming_up);
    }
    let sent = sender.await.context("monitor sender")?;
    Ok(MonitorLevel {
        series,
        sent,
        answered,
        alarms,
        warming,
        seconds: start.elapsed().as_secs_f64(),
    })
}
