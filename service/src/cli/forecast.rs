//! `statecast forecast`: forecast the next steps of every series of a file with a registered
//! model on a running server.
use anyhow::Context;
use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_service::registry::ModelRef;

use super::data_args::DataArgs;

mod output;
use super::models::{ServerArg, status, to_pb};

#[derive(Debug, clap::Args)]
pub(crate) struct ForecastArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Model: NAME, NAME@VERSION or NAME:LABEL (default: latest version).
    #[arg(long)]
    model: ModelRef,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    settings: ForecastSettings,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Print every step of every series and variable instead of the summary.
    #[arg(long)]
    table: bool,
    /// Series shown in the summary (the rest are counted; `--out` has them all).
    #[arg(long, default_value_t = 10)]
    show: usize,
    /// Write the whole forecast (point and every quantile, one row per series, step and
    /// variable) here: Parquet, or CSV when the name ends in .csv.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Write a PNG of the first series' history and forecast with the outermost quantiles as a
    /// band (up to three series, two variables each).
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

/// What to forecast: steps and quantiles (the `forecast` and `forecast-live` clients).
#[derive(Debug, clap::Args)]
pub(crate) struct ForecastSettings {
    /// Steps to forecast (default: the model's horizon).
    #[arg(long)]
    pub(crate) horizon: Option<u32>,
    /// Quantiles as fractions, comma-separated (e.g. 0.1,0.5,0.9).
    #[arg(long, value_delimiter = ',')]
    pub(crate) quantiles: Vec<f64>,
    /// Central interval levels in percent, comma-separated (80 adds 0.1 and 0.9).
    #[arg(long, value_delimiter = ',')]
    pub(crate) levels: Vec<f64>,
}

pub(crate) fn run(args: ForecastArgs) -> anyhow::Result<()> {
    let (frame, _) = args.data.load()?;
    super::runtime()?.block_on(async move {
        let channel = args.server.connect().await?;
        let version = model_version(channel.clone(), &args.model).await?;
        let schema = version.schema.clone().unwrap_or_default();
        let lookback = schema.lookback as usize;
        let order = column_order(&schema.columns, &frame)?;
        let series: Vec<pb::SeriesInput> = frame
            .series
            .iter()
            .map(|s| {
                let start = s.len().saturating_sub(lookback);
                let rows = s.len() - start;
                let values = (start..s.len())
                    .flat_map(|t| order.iter().map(move |&c| s.values[c][t]))
                    .collect();
                pb::SeriesInput {
                    series_id: s.id.clone(),
                    timestamps: s.timestamps[start..].to_vec(),
                    values: Some(pb::Matrix {
                        rows: rows as u32,
                        cols: order.len() as u32,
                        values,
                    }),
                }
            })
            .collect();
        let response = ForecastServiceClient::new(channel)
            .max_decoding_message_size(256 << 20)
            .forecast(pb::ForecastRequest {
                model: Some(pb::ModelRef {
                    name: version.name.clone(),
                    selector: Some(pb::model_ref::Selector::Version(version.version)),
                }),
                series,
                horizon: args.settings.horizon.unwrap_or(0),
                quantiles: args.settings.quantiles,
                levels: args.settings.levels,
            })
            .await
            .map_err(status)?
            .into_inner();
        let model = response.model.unwrap_or_default();
        if args.json {
            let series: Vec<_> = response
                .series
                .iter()
                .map(|f| {
                    let point = f.point.clone().unwrap_or_default();
                    serde_json::json!({
                        "series_id": f.series_id,
                        "timestamps": f.timestamps,
                        "point": point.values.chunks(point.cols.max(1) as usize).collect::<Vec<_>>(),
                        "quantiles": f.quantiles.iter().map(|q| {
                            let m = q.values.clone().unwrap_or_default();
                            serde_json::json!({"quantile": q.quantile, "values": m.values.chunks(m.cols.max(1) as usize).collect::<Vec<_>>()})
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({"model": model.name, "version": model.version, "columns": model.columns, "series": series})
            );
            return Ok(());
        }
        if let Some(path) = &args.out {
            output::write_forecasts(path, &model.columns, &response.series)?;
            println!("wrote {} ({} series)", path.display(), response.series.len());
        }
        if let Some(path) = &args.plot {
            let panels = output::forecast_panels(&frame, &order, lookback, &model.columns, &response.series);
            let title = format!("{}@{}: forecast", model.name, model.version);
            super::plot::plot_forecasts(path, &title, &panels)
                .with_context(|| format!("plotting {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        if args.table {
            output::print_table(&model, &response.series);
        } else {
            output::print_summary(&model, &response.series, args.show);
        }
        Ok(())
    })
}

/// Where each of the model's columns is in the file (the file may order them differently).
///
/// # Errors
/// When the file lacks one of them.
pub(crate) fn column_order(
    model_columns: &[String],
    frame: &statecast_pipelines::TimeFrame,
) -> anyhow::Result<Vec<usize>> {
    model_columns
        .iter()
        .map(|c| {
            frame.columns.iter().position(|f| f == c).with_context(|| {
                format!(
                    "the file has no column `{c}` (model reads {})",
                    model_columns.join(",")
                )
            })
        })
        .collect()
}

/// The latest (or named) version of `model` on the server.
///
/// # Errors
/// When the server cannot be asked or the model has no version.
pub(crate) async fn model_version(
    channel: super::client::AuthChannel,
    model: &ModelRef,
) -> anyhow::Result<pb::ModelVersion> {
    let detail = ModelServiceClient::new(channel)
        .get_model(pb::GetModelRequest {
            model: Some(to_pb(model)),
        })
        .await
        .map_err(status)?
        .into_inner();
    detail
        .versions
        .last()
        .cloned()
        .context("the model has no version")
}
