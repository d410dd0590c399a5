//! `statecast monitor`: stream a file's rows, in time order, to a server's
//! `statecast.v1.MonitorService` and print each alarm as it fires.
//!
//! With several `--server`s, each series goes to one of them by rendezvous hashing and the
//! client fails over when one goes away ([`statecast_service::shard`]: the rule, and what is
//! and is not carried). One `StreamMonitor` stream per server; a task per stream forwards its
//! answers to one loop, which sends the points in time order (at most [`WINDOW`] unanswered
//! per server), matches answers to what each server owes ([`Feed`]) and prints.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use statecast_pipelines::source;
use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_proto::v1::monitor_service_client::MonitorServiceClient;
use statecast_service::registry::ModelRef;
use statecast_service::shard::failover::{
    AlarmChange, Answered, CarriedAlarm, CarriedEnd, Failover, Outgoing, Point, Verdict,
};
use statecast_service::shard::{Feed, Rendezvous};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};

use super::client::AuthChannel;
use super::data_args::DataArgs;
use super::models::{ServerArg, ServersArg, status, to_pb};

/// Points a server may owe answers for before the client waits (per server).
const WINDOW: usize = 1024;

#[derive(Debug, clap::Args)]
pub(crate) struct MonitorArgs {
    #[command(flatten)]
    server: ServersArg,
    /// Registered model: NAME, NAME@VERSION or NAME:LABEL (it needs a saved detector).
    #[arg(long)]
    model: String,
    #[command(flatten)]
    data: DataArgs,
    /// Send at most this many points (all series together).
    #[arg(long)]
    limit: Option<usize>,
    /// Print each series' server before streaming (`route SERIES → SERVER`) and, at the end,
    /// what each server answered.
    #[arg(long)]
    print_routing: bool,
    /// Write every answered point to this CSV file (series_id, timestamp in microseconds, server,
    /// score, threshold, alarm, warming_up), in the order the answers came.
    #[arg(long)]
    scores_out: Option<PathBuf>,
    /// Send at most this many points per second, all series together (default: as fast as the
    /// servers answer).
    #[arg(long)]
    rate: Option<f64>,
    /// With several servers: an alarm open on a server that failed is kept open by the client
    /// until its new server reports the series inside an alarm, or scores this many points in a
    /// row outside one (the monitor's `clear`, 12 by default).
    #[arg(long, default_value_t = 12)]
    carried_alarm_clear: usize,
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

fn micros_to_string(ts: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts).map_or_else(|| ts.to_string(), |d| d.to_rfc3339())
}

/// What a server's stream task reports.
#[derive(Debug)]
enum Event {
    Answer(usize, Box<pb::MonitorResponse>),
    /// The call could not start (`true`) or the stream failed.
    Failed(usize, tonic::Status, bool),
    /// The server ended the stream.
    Ended(usize),
}

/// A failure of the server or the connection to it, not a refusal: connection refused, reset or
/// closed (tonic raises these from the transport, with the transport error as their source; the
/// server sends no status) or `UNAVAILABLE`.
fn server_gone(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::Unavailable || std::error::Error::source(s).is_some()
}

/// Open a `StreamMonitor` stream on `channel`; its answers and its end go to `events` as
/// endpoint `e`. Returns the sender of its requests.
fn open_stream(
    e: usize,
    channel: AuthChannel,
    events: mpsc::UnboundedSender<Event>,
) -> mpsc::UnboundedSender<pb::MonitorRequest> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut client = MonitorServiceClient::new(channel);
        let mut answers = match client.stream_monitor(UnboundedReceiverStream::new(rx)).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                let _ = events.send(Event::Failed(e, s, true));
                return;
            }
        };
        loop {
            let (event, last) = match answers.next().await {
                Some(Ok(r)) => (Event::Answer(e, Box::new(r)), false),
                Some(Err(s)) => (Event::Failed(e, s, false), true),
                None => (Event::Ended(e), true),
            };
            if events.send(event).is_err() || last {
                return;
            }
        }
    });
    tx
}

/// The look-back of `model` on a server (`GetModel`; for NAME alone, its latest version).
async fn lookback_of(channel: AuthChannel, model: &ModelRef) -> Result<(u32, Vec<String>), tonic::Status> {
    let detail = ModelServiceClient::new(channel)
        .get_model(pb::GetModelRequest {
            model: Some(to_pb(model)),
        })
        .await?
        .into_inner();
    let schema = detail
        .versions
        .last()
        .and_then(|v| v.schema.clone())
        .unwrap_or_default();
    Ok((schema.lookback, schema.columns))
}

fn verdict(r: &pb::MonitorResponse) -> Verdict {
    let event = r
        .event
        .as_ref()
        .and_then(|e| match pb::AlarmEventKind::try_from(e.kind) {
            Ok(pb::AlarmEventKind::Opened) => Some(AlarmChange::Opened {
                start: e.start_timestamp,
                peak: e.peak,
            }),
            Ok(pb::AlarmEventKind::Updated) => Some(AlarmChange::Updated { peak: e.peak }),
            Ok(pb::AlarmEventKind::Closed) => Some(AlarmChange::Closed),
            Ok(pb::AlarmEventKind::Unspecified) | Err(_) => None,
        });
    Verdict {
        warming_up: r.warming_up,
        in_alarm: r.alarm,
        event,
    }
}

/// Print the alarm event of an answer; `true` when an alarm opened.
fn print_event(r: &pb::MonitorResponse) -> bool {
    let Some(e) = &r.event else { return false };
    let top: Vec<String> = e
        .top_variates
        .iter()
        .map(|v| format!("{} {:.0}%", v.name, v.contribution * 100.0))
        .collect();
    match pb::AlarmEventKind::try_from(e.kind) {
        Ok(pb::AlarmEventKind::Opened) => {
            println!(
                "alarm opened  {} at {} score {:.2} > {:.2}: {}",
                r.series_id,
                micros_to_string(e.start_timestamp),
                r.score,
                r.threshold,
                top.join(", ")
            );
            return true;
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
        Ok(pb::AlarmEventKind::Unspecified) | Err(_) => {}
    }
    false
}

/// One run of the client over its servers.
struct Run {
    feed: Feed,
    senders: Vec<Option<mpsc::UnboundedSender<pb::MonitorRequest>>>,
    model: String,
    /// The model as the servers resolved it (`NAME@VERSION`), from the first answer.
    resolved: String,
    received: usize,
    alarms: usize,
    scores: Option<csv::Writer<std::fs::File>>,
    /// Why each failed server failed.
    failures: Vec<String>,
}

impl Run {
    fn endpoint(&self, e: usize) -> &str {
        &self.feed.shards().endpoints()[e]
    }

    fn send(&mut self, o: Outgoing) {
        let req = pb::MonitorRequest {
            series_id: self.feed.ids()[o.series].clone(),
            model: if o.first_on_endpoint {
                self.model.clone()
            } else {
                String::new()
            },
            timestamp: o.point.timestamp,
            values: o.point.values,
        };
        // A closed stream fails on its own (`Event::Failed`); the point stays owed until then.
        if let Some(tx) = &self.senders[o.endpoint] {
            let _ = tx.send(req);
        }
    }

    fn answer(&mut self, e: usize, r: &pb::MonitorResponse) -> anyhow::Result<()> {
        let (answered, ended) = self.feed.answer(e, &r.series_id, r.timestamp, verdict(r))?;
        if let Answered::Point { .. } = answered {
            self.received += 1;
            if self.resolved.is_empty() {
                self.resolved.clone_from(&r.model);
            }
            if print_event(r) {
                self.alarms += 1;
            }
            if let Some(w) = &mut self.scores {
                let endpoint = self.feed.shards().endpoints()[e].clone();
                w.write_record([
                    r.series_id.clone(),
                    r.timestamp.to_string(),
                    endpoint,
                    r.score.to_string(),
                    r.threshold.to_string(),
                    r.alarm.to_string(),
                    r.warming_up.to_string(),
                ])?;
            }
        }
        match ended {
            Some(CarriedEnd::Reopened { alarm, at }) => println!(
                "alarm reopened {} on {} at {}: continues the alarm open since {} on {} (gone)",
                self.feed.ids()[alarm.series],
                self.endpoint(alarm.on),
                micros_to_string(at),
                micros_to_string(alarm.start),
                self.endpoint(alarm.gone)
            ),
            Some(CarriedEnd::Closed { alarm, last }) => println!(
                "alarm closed  {} {} – {} peak {:.2}: carried from {} (gone), closed by the client \
                 after {} quiet points on {}",
                self.feed.ids()[alarm.series],
                micros_to_string(alarm.start),
                micros_to_string(last),
                alarm.peak,
                self.endpoint(alarm.gone),
                alarm.quiet,
                self.endpoint(alarm.on)
            ),
            None => {}
        }
        Ok(())
    }

    /// Server `e` is gone: move its series (see `shard`) and say so.
    fn fail(&mut self, e: usize, why: String) -> anyhow::Result<()> {
        if !self.feed.is_live(e) {
            return Ok(());
        }
        self.senders[e] = None;
        self.failures
            .push(format!("{} ({why})", self.feed.shards().endpoints()[e]));
        let Failover { moves, outgoing } = match self.feed.fail(e) {
            Ok(f) => f,
            Err(err) => anyhow::bail!("{err}: {}", self.failures.join("; ")),
        };
        println!(
            "server {} failed ({why}): {} series move to their next-ranked live server",
            self.endpoint(e),
            moves.len()
        );
        for m in &moves {
            let id = &self.feed.ids()[m.series];
            println!(
                "re-routed {id}: {} → {}, re-primed from {} points, {} unanswered points sent again",
                self.endpoint(m.from),
                self.endpoint(m.to),
                m.primed,
                m.resent
            );
            if let Some(c) = m.carried {
                self.print_carried(&c, "moved");
            }
        }
        for o in outgoing {
            self.send(o);
        }
        Ok(())
    }

    fn print_carried(&self, c: &CarriedAlarm, what: &str) {
        println!(
            "alarm carried {} ({what}): open since {} on {} (gone), peak {:.2}; re-primed on {} from {} \
             points; the client keeps it open until {} reopens it or scores {} quiet points",
            self.feed.ids()[c.series],
            micros_to_string(c.start),
            self.endpoint(c.gone),
            c.peak,
            self.endpoint(c.on),
            c.primed,
            self.endpoint(c.on),
            self.feed.clear()
        );
    }
}

pub(crate) fn run(args: MonitorArgs) -> anyhow::Result<()> {
    if let Some(rate) = args.rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate must be a positive number, got {rate}"
        );
    }
    let shards = Rendezvous::new(&args.server.servers).context("--server")?;
    let spec = args.data.spec()?;
    let (frame, _) = source::load(&spec).with_context(|| format!("reading {}", spec.path.display()))?;
    let order = time_order(&frame, args.limit);
    super::runtime()?.block_on(stream(args, shards, frame, order))
}

/// The servers as the client found them at the start.
struct Connected {
    /// A channel per server, `None` for one that could not be reached.
    channels: Vec<Option<AuthChannel>>,
    /// The unreachable servers and why.
    down: Vec<(usize, String)>,
    /// The model's look-back (0 with one server: nothing to re-prime).
    lookback: usize,
}

/// Connect to every server. One server: as before sharding, any error ends the run. Several: a
/// server that cannot be reached is failed over from the start, and the look-back to re-prime
/// with comes from `GetModel` (every server must agree on it and on the columns).
async fn connect_all(args: &MonitorArgs, shards: &Rendezvous) -> anyhow::Result<Connected> {
    let servers: Vec<ServerArg> = args.server.each();
    if let [server] = servers.as_slice() {
        return Ok(Connected {
            channels: vec![Some(server.connect().await?)],
            down: Vec::new(),
            lookback: 0,
        });
    }
    let model: ModelRef = args.model.parse().context("--model")?;
    let mut out = Connected {
        channels: Vec::with_capacity(servers.len()),
        down: Vec::new(),
        lookback: 0,
    };
    // The first answer: (look-back, columns, server).
    let mut first: Option<(u32, Vec<String>, usize)> = None;
    for (e, server) in servers.iter().enumerate() {
        let channel = match server.options()?.connect().await {
            Ok(c) => c,
            Err(err) => {
                out.down.push((e, format!("{err}")));
                out.channels.push(None);
                continue;
            }
        };
        match lookback_of(channel.clone(), &model).await {
            Ok((l, columns)) => {
                if let Some((l0, c0, e0)) = &first {
                    anyhow::ensure!(
                        (*l0, c0) == (l, &columns),
                        "servers disagree on model `{}`: {} has look-back {l0} and columns {c0:?}, {} \
                         look-back {l} and columns {columns:?}; register the same artifact on every server",
                        args.model,
                        shards.endpoints()[*e0],
                        shards.endpoints()[e]
                    );
                } else {
                    out.lookback = l as usize;
                    first = Some((l, columns, e));
                }
                out.channels.push(Some(channel));
            }
            Err(s) if server_gone(&s) => {
                out.down.push((e, format!("{:?}: {}", s.code(), s.message())));
                out.channels.push(None);
            }
            Err(s) => {
                return Err(status(s)).with_context(|| {
                    format!("looking up model `{}` on {}", args.model, shards.endpoints()[e])
                });
            }
        }
    }
    Ok(out)
}

/// The error of a one-server run's stream, worded as before sharding.
fn single_failure(s: tonic::Status, starting: bool) -> anyhow::Error {
    let what = if starting {
        "starting the monitor stream"
    } else {
        "monitor stream"
    };
    anyhow::Error::new(s).context(what)
}

async fn stream(
    args: MonitorArgs,
    shards: Rendezvous,
    frame: statecast_pipelines::TimeFrame,
    order: Vec<(usize, usize, bool)>,
) -> anyhow::Result<()> {
    let single = shards.endpoints().len() == 1;
    let Connected {
        channels,
        down,
        lookback,
    } = connect_all(&args, &shards).await?;
    let ids: Vec<String> = frame.series.iter().map(|s| s.id.clone()).collect();
    let feed = Feed::new(shards, ids, lookback, args.carried_alarm_clear);
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let senders = channels
        .into_iter()
        .enumerate()
        .map(|(e, c)| c.map(|c| open_stream(e, c, events_tx.clone())))
        .collect();
    drop(events_tx);
    let scores = match &args.scores_out {
        Some(path) => {
            let mut w =
                csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
            w.write_record([
                "series_id",
                "timestamp",
                "server",
                "score",
                "threshold",
                "alarm",
                "warming_up",
            ])?;
            Some(w)
        }
        None => None,
    };
    let mut run = Run {
        feed,
        senders,
        model: args.model.clone(),
        resolved: String::new(),
        received: 0,
        alarms: 0,
        scores,
        failures: Vec::new(),
    };
    for (e, why) in down {
        run.fail(e, format!("unreachable: {why}"))?;
    }
    if args.print_routing {
        let mut routes: Vec<(String, usize)> = (0..run.feed.ids().len())
            .filter_map(|s| Some((run.feed.ids()[s].clone(), run.feed.route(s)?)))
            .collect();
        routes.sort();
        for (id, e) in routes {
            println!("route {id} → {}", run.endpoint(e));
        }
    }

    let total = order.len();
    let start = Instant::now();
    let mut next = 0;
    loop {
        let mut due = None;
        while next < total {
            if let Some(rate) = args.rate {
                let at = start + Duration::from_secs_f64(next as f64 / rate);
                if Instant::now() < at {
                    due = Some(at);
                    break;
                }
            }
            let (s, t, _) = order[next];
            let Some(e) = run.feed.route(s) else {
                anyhow::bail!("no monitor endpoint left: {}", run.failures.join("; "));
            };
            if run.feed.owed(e) >= WINDOW {
                break;
            }
            let series = &frame.series[s];
            let point = Point {
                timestamp: series.timestamps[t],
                values: series.values.iter().map(|c| f64::from(c[t])).collect(),
            };
            let o = run.feed.send(s, next, point).expect("a live server");
            run.send(o);
            next += 1;
        }
        if next == total && run.feed.settled() {
            break;
        }
        let event = match due {
            Some(at) => tokio::select! {
                ev = events.recv() => ev,
                () = tokio::time::sleep_until(at.into()) => continue,
            },
            None => events.recv().await,
        };
        let Some(event) = event else {
            anyhow::bail!("every monitor stream ended with points unanswered");
        };
        match event {
            Event::Answer(e, r) => run.answer(e, &r)?,
            Event::Failed(_, s, starting) if single => return Err(single_failure(s, starting)),
            Event::Failed(e, s, _) if server_gone(&s) => {
                run.fail(e, format!("{:?}: {}", s.code(), s.message()))?;
            }
            Event::Failed(e, s, _) => {
                return Err(anyhow::Error::new(s).context(format!("monitor stream to {}", run.endpoint(e))));
            }
            // One server: the stream ended (as before sharding: report what was answered).
            Event::Ended(_) if single => break,
            Event::Ended(e) => {
                let owed = run.feed.owed(e);
                run.fail(e, format!("the stream ended with {owed} points unanswered"))?;
            }
        }
    }
    // Close the streams and let the servers end them.
    run.senders.iter_mut().for_each(|s| *s = None);
    while let Some(event) = events.recv().await {
        match event {
            Event::Answer(e, r) => run.answer(e, &r)?,
            Event::Failed(_, s, starting) if single => return Err(single_failure(s, starting)),
            Event::Failed(..) | Event::Ended(_) => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(w) = &mut run.scores {
        w.flush()?;
    }
    for c in run.feed.carried() {
        run.print_carried(&c, "still open at the end of the data");
    }
    println!(
        "{}: {} of {total} points scored, {} alarms, {:.0} points/s",
        run.resolved,
        run.received,
        run.alarms,
        run.received as f64 / secs.max(1e-9)
    );
    if !single || args.print_routing {
        for (e, st) in run.feed.stats().iter().enumerate() {
            println!(
                "server {}: {} series, {} points scored, {} re-priming points{}",
                run.endpoint(e),
                st.series,
                st.points,
                st.primes,
                if st.failed { ", failed" } else { "" }
            );
        }
    }
    Ok(())
}
