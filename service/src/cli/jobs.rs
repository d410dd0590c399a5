//! `statecast jobs`: a client for `statecast.v1.TrainingService` (submit, get, list, cancel,
//! watch training jobs on a server).
use std::path::PathBuf;

use super::client::AuthChannel;
use anyhow::Context;
use statecast_proto::v1 as pb;
use statecast_proto::v1::training_service_client::TrainingServiceClient;
use statecast_service::grpc::training::dataset_source;
use statecast_service::jobs::DatasetSubmission;
use statecast_service::train_defaults;

use super::data_args::DataArgs;
use super::models::ServerArg;
use super::train_args::TrainArgs;

/// Training job commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum JobsCommand {
    /// Queue a job: training (the default; the result is registered as the next version of
    /// --name), a backtest (`--kind backtest`, the summary is the job's result) or a tuning
    /// search (`--kind tune`, the best model is registered under --name).
    Submit(Box<SubmitArgs>),
    /// Show one job.
    Get {
        #[command(flatten)]
        server: ServerArg,
        /// Job id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first.
    List {
        #[command(flatten)]
        server: ServerArg,
        /// Only jobs in these states (queued, running, succeeded, failed, cancelled; repeatable).
        #[arg(long = "state")]
        states: Vec<String>,
        /// Jobs per page (default 50).
        #[arg(long, default_value_t = 0)]
        page_size: u32,
        /// Token printed by the previous page.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Cancel a queued or running job.
    Cancel {
        #[command(flatten)]
        server: ServerArg,
        /// Job id.
        id: String,
    },
    /// Print a job's progress until it ends.
    Watch {
        #[command(flatten)]
        server: ServerArg,
        /// Job id.
        id: String,
    },
}

/// `statecast jobs submit` flags (the dataset and training flags of `statecast train`).
#[derive(Debug, clap::Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    data: DataArgs,
    /// What the job does: train, backtest or tune.
    #[arg(long, default_value = "train")]
    kind: String,
    /// Registry name of the trained (or best tuned) model; not used by a backtest.
    #[arg(long, default_value = "")]
    name: String,
    /// Backtest: cut-offs.
    #[arg(long, default_value_t = 5)]
    cutoffs: u32,
    /// Backtest: rows between cut-offs (0: the horizon).
    #[arg(long, default_value_t = 0)]
    step: u32,
    /// Backtest: refit every this many cut-offs (0: once).
    #[arg(long, default_value_t = 0)]
    refit_every: u32,
    /// Backtest: validation share of a fit's history (0: 0.2).
    #[arg(long, default_value_t = 0.0)]
    val_fraction: f64,
    /// Backtest: MASE season in rows (0: 1).
    #[arg(long, default_value_t = 0)]
    season: u32,
    /// Tune: the search space JSON file (default: the family's built-in space).
    #[arg(long)]
    space: Option<PathBuf>,
    /// Tune: trials.
    #[arg(long, default_value_t = 20)]
    trials: u32,
    /// Tune: seed of the draws.
    #[arg(long, default_value_t = 0)]
    search_seed: u64,
    /// Tune: trials training at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Tune: median-rule pruning after this many epochs (0: off).
    #[arg(long, default_value_t = 2)]
    prune_after: u32,
    /// Labels to point at the new version (repeatable).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Model family: spacetime, simba, linear, repeat.
    #[arg(long, default_value = "spacetime", value_parser = super::parse_family)]
    model: statecast_models::zoo::ModelFamily,
    /// JSON file of model settings merged into the family's defaults.
    #[arg(long)]
    model_config: Option<PathBuf>,
    /// Split: ratio:TRAIN,VAL,TEST (default 0.7,0.1,0.2), ett-hourly, ett-15min, rows:A,B,C.
    #[arg(long, default_value = train_defaults::SPLIT)]
    split: String,
    /// Look-back L.
    #[arg(long, default_value_t = train_defaults::LOOKBACK as u32)]
    lookback: u32,
    /// Horizon H.
    #[arg(long, default_value_t = train_defaults::HORIZON as u32)]
    horizon: u32,
    #[command(flatten)]
    train: TrainArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = train_defaults::DEVICE)]
    device: String,
    /// Follow the job's progress until it ends.
    #[arg(long)]
    watch: bool,
}

fn u32_of(v: usize, flag: &str) -> anyhow::Result<u32> {
    u32::try_from(v).with_context(|| format!("--{flag} is too large"))
}

impl SubmitArgs {
    fn request(&self) -> anyhow::Result<pb::SubmitJobRequest> {
        // A path that exists here is sent absolute (the server resolves it on its own disk).
        let options = self.data.options();
        let path = std::fs::canonicalize(&options.path).unwrap_or_else(|_| options.path.clone());
        let dataset = dataset_source(DatasetSubmission::from_options(&options.for_path(path)));
        let model_config_json = match &self.model_config {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            None => String::new(),
        };
        let t = &self.train;
        if t.train_config.is_some() {
            anyhow::bail!(
                "--train-config is not sent to a server (a job takes the flags' settings); a tune job searches training settings itself"
            );
        }
        let kind = match self.kind.to_ascii_lowercase().as_str() {
            "train" => pb::JobKind::Train,
            "backtest" => pb::JobKind::Backtest,
            "tune" => pb::JobKind::Tune,
            other => anyhow::bail!("--kind {other:?}: expected train, backtest or tune"),
        };
        let backtest = (kind == pb::JobKind::Backtest).then_some(pb::BacktestSettings {
            cutoffs: self.cutoffs,
            step: self.step,
            refit_every: self.refit_every,
            val_fraction: self.val_fraction,
            season: self.season,
        });
        let tune = if kind == pb::JobKind::Tune {
            Some(pb::TuneSettings {
                space_json: match &self.space {
                    Some(p) => {
                        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
                    }
                    None => String::new(),
                },
                trials: self.trials,
                search_seed: self.search_seed,
                concurrency: self.concurrency,
                prune_after: self.prune_after,
                prune_min_trials: 0,
            })
        } else {
            None
        };
        Ok(pb::SubmitJobRequest {
            kind: kind.into(),
            backtest,
            tune,
            dataset: Some(dataset),
            model_kind: String::new(),
            model_family: statecast_service::convert::family::to_proto(self.model).into(),
            model_config_json,
            lookback: self.lookback,
            horizon: self.horizon,
            split: self.split.clone(),
            training: Some(pb::TrainingSettings {
                epochs: u32_of(t.epochs, "epochs")?,
                batch_size: u32_of(t.batch_size, "batch-size")?,
                lr: t.lr,
                warmup_epochs: Some(u32_of(t.warmup_epochs, "warmup-epochs")?),
                patience: Some(u32_of(t.patience, "patience")?),
                max_batches_per_epoch: t
                    .max_batches_per_epoch
                    .map(|m| u32_of(m, "max-batches-per-epoch"))
                    .transpose()?,
                seed: t.seed,
            }),
            device: self.device.clone(),
            model_name: self.name.clone(),
            labels: self.labels.clone(),
        })
    }
}

fn state_name(state: i32) -> &'static str {
    match pb::JobState::try_from(state) {
        Ok(pb::JobState::Queued) => "QUEUED",
        Ok(pb::JobState::Running) => "RUNNING",
        Ok(pb::JobState::Succeeded) => "SUCCEEDED",
        Ok(pb::JobState::Failed) => "FAILED",
        Ok(pb::JobState::Cancelled) => "CANCELLED",
        Ok(pb::JobState::Unspecified) | Err(_) => "UNKNOWN",
    }
}

fn parse_state(s: &str) -> anyhow::Result<i32> {
    let state = match s.to_ascii_lowercase().as_str() {
        "queued" => pb::JobState::Queued,
        "running" => pb::JobState::Running,
        "succeeded" => pb::JobState::Succeeded,
        "failed" => pb::JobState::Failed,
        "cancelled" | "canceled" => pb::JobState::Cancelled,
        other => anyhow::bail!(
            "unknown job state {other:?}: expected queued, running, succeeded, failed or cancelled"
        ),
    };
    Ok(state.into())
}

/// One line per job: id, state, model, version, epochs, message.
fn job_line(job: &pb::Job) -> String {
    let version = if job.model_version > 0 {
        format!("@{}", job.model_version)
    } else {
        String::new()
    };
    let epochs = job.progress.as_ref().map_or(0, |p| p.epochs);
    let resumed = if job.resumed_from_epoch > 0 {
        format!(" resumed from epoch {}", job.resumed_from_epoch)
    } else {
        String::new()
    };
    let worker = if job.worker.is_empty() {
        String::new()
    } else {
        format!(" on {}", job.worker)
    };
    format!(
        "{:>5}  {:<9}  {}{}  epochs {}/{}{}{}  {}",
        job.id,
        state_name(job.state),
        job.model_name,
        version,
        job.history.len(),
        epochs,
        resumed,
        worker,
        job.message
    )
}

/// One progress line.
fn progress_line(p: &pb::JobProgress) -> String {
    let val = p.val_loss.map(|v| format!("  val {v:.5}")).unwrap_or_default();
    let eta = if p.eta_s > 0.0 {
        format!("  eta {:.0}s", p.eta_s)
    } else {
        String::new()
    };
    let message = if p.message.is_empty() {
        String::new()
    } else {
        format!("  {}", p.message)
    };
    format!(
        "job {} {}  epoch {}/{}  step {}/{}  loss {:.5}{val}{eta}{message}",
        p.job_id,
        state_name(p.state),
        p.epoch,
        p.epochs,
        p.step,
        p.steps_per_epoch,
        p.train_loss
    )
}

/// Print progress until the job ends; fails when it ends FAILED.
async fn watch(client: &mut TrainingServiceClient<AuthChannel>, id: String) -> anyhow::Result<()> {
    let mut stream = client.watch_job(pb::WatchJobRequest { id }).await?.into_inner();
    let mut last = None;
    while let Some(p) = stream.message().await? {
        println!("{}", progress_line(&p));
        last = Some(p);
    }
    match last {
        Some(p) if p.state == i32::from(pb::JobState::Failed) => {
            anyhow::bail!("job {} failed: {}", p.job_id, p.message)
        }
        _ => Ok(()),
    }
}

fn job_of(job: Option<pb::Job>) -> anyhow::Result<pb::Job> {
    job.context("the server sent no job")
}

/// Run a `jobs` subcommand.
pub(crate) fn run(command: JobsCommand) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        match command {
            JobsCommand::Submit(args) => {
                let request = args.request()?;
                let mut client = TrainingServiceClient::new(args.server.connect().await?);
                let job = job_of(client.submit_job(request).await?.into_inner().job)?;
                println!("submitted job {}", job.id);
                if args.watch {
                    watch(&mut client, job.id).await?;
                }
            }
            JobsCommand::Get { server, id, json } => {
                let mut client = TrainingServiceClient::new(server.connect().await?);
                let job = job_of(client.get_job(pb::GetJobRequest { id }).await?.into_inner().job)?;
                if json {
                    println!("{}", job_json(&job));
                } else {
                    println!("{}", job_line(&job));
                    if !job.result_json.is_empty() {
                        let result: serde_json::Value =
                            serde_json::from_str(&job.result_json).unwrap_or_default();
                        println!(
                            "result: {}",
                            serde_json::to_string_pretty(&result).unwrap_or_default()
                        );
                    }
                    for h in &job.history {
                        let val = h.val_loss.map(|v| format!("  val {v:.5}")).unwrap_or_default();
                        println!(
                            "       epoch {:>3}  train {:.5}{val}  {:.1}s",
                            h.epoch, h.train_loss, h.seconds
                        );
                    }
                }
            }
            JobsCommand::List {
                server,
                states,
                page_size,
                page_token,
            } => {
                let states = states
                    .iter()
                    .map(|s| parse_state(s))
                    .collect::<anyhow::Result<_>>()?;
                let mut client = TrainingServiceClient::new(server.connect().await?);
                let page = client
                    .list_jobs(pb::ListJobsRequest {
                        states,
                        page_size,
                        page_token,
                    })
                    .await?
                    .into_inner();
                for job in &page.jobs {
                    println!("{}", job_line(job));
                }
                if !page.next_page_token.is_empty() {
                    println!("more: --page-token {}", page.next_page_token);
                }
            }
            JobsCommand::Cancel { server, id } => {
                let mut client = TrainingServiceClient::new(server.connect().await?);
                let job = job_of(
                    client
                        .cancel_job(pb::CancelJobRequest { id })
                        .await?
                        .into_inner()
                        .job,
                )?;
                println!("{}", job_line(&job));
            }
            JobsCommand::Watch { server, id } => {
                let mut client = TrainingServiceClient::new(server.connect().await?);
                watch(&mut client, id).await?;
            }
        }
        Ok(())
    })
}

/// A job as JSON (the fields scripts need).
fn job_json(job: &pb::Job) -> String {
    let value = serde_json::json!({
        "id": job.id,
        "state": state_name(job.state),
        "message": job.message,
        "model_name": job.model_name,
        "model_version": job.model_version,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "resumed_from_epoch": job.resumed_from_epoch,
        "attempts": job.attempts,
        "worker": job.worker,
        "epochs_done": job.history.len(),
        "spec": serde_json::from_str::<serde_json::Value>(&job.spec_json).unwrap_or_default(),
        "kind": match pb::JobKind::try_from(job.kind) {
            Ok(pb::JobKind::Backtest) => "backtest",
            Ok(pb::JobKind::Tune) => "tune",
            _ => "train",
        },
        "result": serde_json::from_str::<serde_json::Value>(&job.result_json).unwrap_or_default(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
