//! `statecast forecast-live`: stream a file's rows, in time order, to a server's
//! `StreamForecast` and print the forecast the server answers after each point.
use std::time::Instant;

use anyhow::Context;
use statecast_pipelines::frame::format_micros;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_service::registry::ModelRef;
use tokio_stream::StreamExt;

use super::data_args::DataArgs;
use super::forecast::{ForecastSettings, column_order, model_version};
use super::models::{ServerArg, status};
use super::monitor::{outbound, time_order};

/// How the server follows each series.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    /// The forecast of the last look-back rows at every point (what `forecast` returns).
    Window,
    /// The model's recurrent state: constant work per point; drifts from the window forecast
    /// between renewals (BENCHMARKS.md §15b).
    Recurrent,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LiveArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Model: NAME, NAME@VERSION or NAME:LABEL (default: latest version).
    #[arg(long)]
    model: ModelRef,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    settings: ForecastSettings,
    #[arg(long, value_enum, default_value = "window")]
    mode: Mode,
    /// Send at most this many points (all series together).
    #[arg(long)]
    limit: Option<usize>,
    /// Print each answer as a JSON line (every step, variate and quantile) instead of a line
    /// with the next step's forecast.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: LiveArgs) -> anyhow::Result<()> {
    let (frame, _) = args.data.load()?;
    super::runtime()?.block_on(async move {
        let channel = args.server.connect().await?;
        let version = model_version(channel.clone(), &args.model).await?;
        let schema = version.schema.clone().unwrap_or_default();
        let order = column_order(&schema.columns, &frame)?;
        let model = format!("{}@{}", version.name, version.version);
        let mode = match args.mode {
            Mode::Recurrent => pb::LiveForecastMode::Recurrent,
            Mode::Window => pb::LiveForecastMode::Window,
        } as i32;
        let reqs: Vec<pb::StreamForecastRequest> = time_order(&frame, args.limit)
            .into_iter()
            .map(|(s, t, first)| {
                let series = &frame.series[s];
                pb::StreamForecastRequest {
                    series_id: series.id.clone(),
                    model: if first { model.clone() } else { String::new() },
                    timestamp: series.timestamps[t],
                    values: order.iter().map(|&c| f64::from(series.values[c][t])).collect(),
                    horizon: if first { args.settings.horizon.unwrap_or(0) } else { 0 },
                    quantiles: if first { args.settings.quantiles.clone() } else { Vec::new() },
                    levels: if first { args.settings.levels.clone() } else { Vec::new() },
                    mode: if first { mode } else { 0 },
                }
            })
            .collect();
        let total = reqs.len();
        let (outbound, producer) = outbound(reqs);
        let start = Instant::now();
        let mut answers = ForecastServiceClient::new(channel)
            .stream_forecast(outbound)
            .await
            .map_err(status)
            .context("starting the live forecast stream")?
            .into_inner();
        let (mut received, mut forecasts, mut exact) = (0usize, 0usize, 0usize);
        while let Some(item) = answers.next().await {
            let a = item.map_err(status).context("live forecast stream")?;
            received += 1;
            let Some(f) = &a.forecast else { continue };
            forecasts += 1;
            exact += usize::from(a.exact);
            let point = f.point.clone().unwrap_or_default();
            let cols = point.cols as usize;
            if args.json {
                let quantiles: Vec<_> = f
                    .quantiles
                    .iter()
                    .map(|q| {
                        let m = q.values.clone().unwrap_or_default();
                        serde_json::json!({"quantile": q.quantile, "values": m.values.chunks(cols.max(1)).collect::<Vec<_>>()})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "series_id": a.series_id, "timestamp": a.timestamp, "model": a.model, "exact": a.exact,
                        "timestamps": f.timestamps, "point": point.values.chunks(cols.max(1)).collect::<Vec<_>>(),
                        "quantiles": quantiles,
                    })
                );
                continue;
            }
            // The next step's forecast of each variate, with the outermost quantiles.
            let next: Vec<String> = schema
                .columns
                .iter()
                .enumerate()
                .map(|(c, name)| {
                    let band = match (f.quantiles.first(), f.quantiles.last()) {
                        (Some(lo), Some(hi)) if f.quantiles.len() > 1 => {
                            let at = |q: &pb::QuantileForecast| q.values.as_ref().map_or(f32::NAN, |m| m.values[c]);
                            format!(" [{:.3}, {:.3}]", at(lo), at(hi))
                        }
                        _ => String::new(),
                    };
                    format!("{name} {:.3}{band}", point.values[c])
                })
                .collect();
            println!(
                "{:<16} {:<20} next {:<20} {}{}",
                a.series_id,
                format_micros(a.timestamp),
                f.timestamps.first().map_or_else(String::new, |&t| format_micros(t)),
                next.join(", "),
                if a.exact { "  (exact)" } else { "" }
            );
        }
        producer.abort();
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{model}: {received} of {total} points answered, {forecasts} forecasts ({exact} exact), {:.0} points/s",
            received as f64 / secs.max(1e-9)
        );
        Ok(())
    })
}
