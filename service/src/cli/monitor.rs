//! `statecast monitor`: stream a file's rows, in time order, to a server's
//! `statecast.v1.MonitorService` and print each alarm as it fires.
use std::time::Instant;

use anyhow::Context;
use statecast_pipelines::source;
use statecast_proto::v1 as pb;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::data_args::DataArgs;
use super::models::ServerArg;

#[derive(Debug, clap::Args)]
pub(crate) struct MonitorArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Registered model: NAME, NAME@VERSION or NAME:LABEL (it needs a saved detector).
    #[arg(long)]
    model: String,
    #[command(flatten)]
    data: DataArgs,
    /// Send at most this many points (all series together).
    #[arg(long)]
    limit: Option<usize>,
}

/// Every row of every series as `(series, row, first of its series)`, merged in time order
/// (ties: file order), at most `limit` of them.
pub(crate) fn time_order(
    frame: &statecast_pipelines::TimeFrame,
    limit: Option<usize>,
) -> Vec<(usize, usize, bool)> {
    let mut rows: Vec<(i64, usize, usize)> = frame
        .series
        .iter()
        .enumerate()
        .flat_map(|(s, series)| {
            series
                .timestamps
                .iter()
                .enumerate()
                .map(move |(t, &ts)| (ts, s, t))
        })
        .collect();
    rows.sort_by_key(|&(ts, s, t)| (ts, s, t));
    let mut first = vec![true; frame.series.len()];
    rows.into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|(_, s, t)| (s, t, std::mem::take(&mut first[s])))
        .collect()
}

/// `reqs` as a client stream, fed by a task (abort it once the answers are read).
pub(crate) fn outbound<T: Send + 'static>(reqs: Vec<T>) -> (ReceiverStream<T>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let producer = tokio::spawn(async move {
        for r in reqs {
            if tx.send(r).await.is_err() {
                return;
            }
        }
    });
    (ReceiverStream::new(rx), producer)
}

/// Every row of every series as one request, merged in time order (ties: file order).
fn requests(
    frame: &statecast_pipelines::TimeFrame,
    model: &str,
    limit: Option<usize>,
) -> Vec<pb::MonitorRequest> {
    time_order(frame, limit)
        .into_iter()
        .map(|(s, t, first)| {
            let series = &frame.series[s];
            pb::MonitorRequest {
                series_id: series.id.clone(),
                model: if first { model.to_string() } else { String::new() },
                timestamp: series.timestamps[t],
                values: series.values.iter().map(|c| f64::from(c[t])).collect(),
            }
        })
        .collect()
}

fn micros_to_string(ts: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts).map_or_else(|| ts.to_string(), |d| d.to_rfc3339())
}

pub(crate) fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let spec = args.data.spec()?;
    let (frame, _) = source::load(&spec).with_context(|| format!("reading {}", spec.path.display()))?;
    let reqs = requests(&frame, &args.model, args.limit);
    let total = reqs.len();
    super::runtime()?.block_on(async move {
        let mut client = MonitorServiceClient::new(args.server.connect().await?);
        let (outbound, producer) = outbound(reqs);
        let start = Instant::now();
        let mut responses = client
            .stream_monitor(outbound)
            .await
            .context("starting the monitor stream")?
            .into_inner();
        let (mut received, mut alarms) = (0usize, 0usize);
        let mut model = String::new();
        while let Some(item) = responses.next().await {
            let r = item.context("monitor stream")?;
            received += 1;
            if model.is_empty() {
                model.clone_from(&r.model);
            }
            if let Some(e) = &r.event {
                let top: Vec<String> = e
                    .top_variates
                    .iter()
                    .map(|v| format!("{} {:.0}%", v.name, v.contribution * 100.0))
                    .collect();
                match pb::AlarmEventKind::try_from(e.kind) {
                    Ok(pb::AlarmEventKind::Opened) => {
                        alarms += 1;
                        println!(
                            "alarm opened  {} at {} score {:.2} > {:.2}: {}",
                            r.series_id,
                            micros_to_string(e.start_timestamp),
                            r.score,
                            r.threshold,
                            top.join(", ")
                        );
                    }
                    Ok(pb::AlarmEventKind::Updated) => println!(
                        "alarm updated {} at {} peak {:.2}: {}",
                        r.series_id,
                        micros_to_string(r.timestamp),
                        e.peak,
                        top.join(", ")
                    ),
                    Ok(pb::AlarmEventKind::Closed) => println!(
                        "alarm closed  {} {} – {} peak {:.2}: {}",
                        r.series_id,
                        micros_to_string(e.start_timestamp),
                        micros_to_string(e.end_timestamp),
                        e.peak,
                        top.join(", ")
                    ),
                    _ => {}
                }
            }
        }
        producer.abort();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{model}: {received} of {total} points scored, {alarms} alarms, {:.0} points/s",
            received as f64 / secs.max(1e-9)
        );
        Ok(())
    })
}
