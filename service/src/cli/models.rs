//! `statecast models`: a client for `statecast.v1.ModelService`.
use std::path::PathBuf;

use super::client::{AuthChannel, ClientOptions};
use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use statecast_service::registry::{ModelRef, Selector};

/// Model registry commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelsCommand {
    /// Register an artifact directory on the server's disk as the next version of NAME.
    Register {
        #[command(flatten)]
        server: ServerArg,
        /// Model name.
        name: String,
        /// Artifact directory on the server, under one of its `--import-root` directories
        /// (absolute, or relative to a root; made absolute when it exists here).
        path: PathBuf,
        /// Labels to point at the new version (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List models.
    List {
        #[command(flatten)]
        server: ServerArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Describe a model (every version), or one version: NAME, NAME@VERSION, NAME:LABEL.
    Get {
        #[command(flatten)]
        server: ServerArg,
        /// NAME, NAME@VERSION or NAME:LABEL.
        model: ModelRef,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one version (NAME@VERSION) or the whole model (NAME).
    Delete {
        #[command(flatten)]
        server: ServerArg,
        /// NAME or NAME@VERSION.
        model: ModelRef,
    },
    /// Point LABEL of NAME at a version (default: the latest).
    Label {
        #[command(flatten)]
        server: ServerArg,
        /// Model name.
        name: String,
        /// Label, e.g. stable or canary.
        label: String,
        /// Version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
    },
}

/// The connection flags every client subcommand shares: `--server`, `--ca-cert`, `--token`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArg {
    /// Server address (`https://…` for TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051", env = "STATECAST_SERVER")]
    pub(crate) server: String,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
}

/// The connection flags of a client of several servers at once (`statecast monitor`): `--server`
/// repeated or comma-separated, one `--ca-cert` and token for all of them.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServersArg {
    /// Server address (`https://…` for TLS); repeat the flag or separate addresses with commas
    /// to spread the series over several servers.
    #[arg(
        long = "server",
        value_name = "SERVER",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50051",
        env = "STATECAST_SERVER"
    )]
    pub(crate) servers: Vec<String>,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
}

impl ServersArg {
    /// One [`ServerArg`] per address, sharing the CA and token.
    pub(crate) fn each(&self) -> Vec<ServerArg> {
        self.servers
            .iter()
            .map(|server| ServerArg {
                server: server.clone(),
                access: self.access.clone(),
            })
            .collect()
    }
}

/// `--ca-cert`, `--token`, `--token-file`: how a client is let in.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AccessArgs {
    /// CA certificate (PEM) to verify an `https://` server (default: web PKI roots).
    #[arg(long, env = "STATECAST_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Bearer token sent with every call (needed for register, delete, label and jobs, and for
    /// everything on a server started with --auth-all-rpcs).
    #[arg(
        long,
        env = "STATECAST_AUTH_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub(crate) token: Option<String>,
    /// Read the bearer token from this file instead (keeps it out of the process list).
    #[arg(long, env = "STATECAST_AUTH_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
}

impl ServerArg {
    /// The connection options these flags describe.
    ///
    /// # Errors
    /// When `--token-file` cannot be read.
    pub(crate) fn options(&self) -> anyhow::Result<ClientOptions> {
        let AccessArgs {
            ca_cert,
            token,
            token_file,
        } = &self.access;
        let token = match token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading --token-file {}: {e}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            None => token.clone(),
        };
        Ok(ClientOptions {
            ca_cert: ca_cert.clone(),
            token,
            ..ClientOptions::new(self.server.clone())
        })
    }

    /// Connect to the server (TLS for `https://`; the token goes with every call).
    pub(crate) async fn connect(&self) -> anyhow::Result<AuthChannel> {
        Ok(self.options()?.connect().await?)
    }
}

/// The proto form of a model reference.
pub(crate) fn to_pb(r: &ModelRef) -> pb::ModelRef {
    pb::ModelRef {
        name: r.name.clone(),
        selector: match &r.selector {
            Selector::Latest => None,
            Selector::Version(v) => Some(pb::model_ref::Selector::Version(*v)),
            Selector::Label(l) => Some(pb::model_ref::Selector::Label(l.clone())),
        },
    }
}

/// A status as an error that says what the server answered.
pub(crate) fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

fn version_json(v: &pb::ModelVersion) -> serde_json::Value {
    let schema = v.schema.clone().unwrap_or_default();
    serde_json::json!({
        "name": v.name,
        "version": v.version,
        "kind": v.kind,
        "columns": schema.columns,
        "frequency": schema.frequency,
        "lookback": schema.lookback,
        "horizon": schema.horizon,
        "created_at": v.created_at,
        "registered_at": v.registered_at,
        "labels": v.labels,
        "metrics": v.metrics,
        "interval_method": v.interval_method,
    })
}

fn print_version(v: &pb::ModelVersion) {
    let schema = v.schema.clone().unwrap_or_default();
    let mut metrics: Vec<_> = v.metrics.iter().collect();
    metrics.sort_by(|a, b| a.0.cmp(b.0));
    println!(
        "{}@{}  {}  L={} H={} freq={}  columns={}  labels=[{}]",
        v.name,
        v.version,
        v.kind,
        schema.lookback,
        schema.horizon,
        if schema.frequency.is_empty() {
            "?"
        } else {
            &schema.frequency
        },
        schema.columns.join(","),
        v.labels.join(",")
    );
    println!("    created {}  registered {}", v.created_at, v.registered_at);
    if !metrics.is_empty() {
        let text: Vec<String> = metrics.iter().map(|(k, x)| format!("{k}={x:.4}")).collect();
        println!("    metrics {}", text.join("  "));
    }
    println!(
        "    quantiles: {}",
        if v.interval_method.is_empty() {
            "none (point forecasts only)"
        } else {
            &v.interval_method
        }
    );
}

pub(crate) fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        match cmd {
            ModelsCommand::Register {
                server,
                name,
                path,
                labels,
                json,
            } => {
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                let mut client = ModelServiceClient::new(server.connect().await?);
                let v = client
                    .register_model(pb::RegisterModelRequest {
                        name,
                        path: path.to_string_lossy().into_owned(),
                        labels,
                    })
                    .await
                    .map_err(status)?
                    .into_inner()
                    .version
                    .unwrap_or_default();
                if json {
                    println!("{}", version_json(&v));
                } else {
                    println!("registered {}@{}", v.name, v.version);
                    print_version(&v);
                }
            }
            ModelsCommand::List { server, json } => {
                let mut client = ModelServiceClient::new(server.connect().await?);
                let list = client
                    .list_models(pb::ListModelsRequest {})
                    .await
                    .map_err(status)?
                    .into_inner();
                if json {
                    let models: Vec<_> = list
                        .models
                        .iter()
                        .map(|m| {
                            serde_json::json!({
                                "name": m.name, "latest_version": m.latest_version,
                                "version_count": m.version_count, "labels": m.labels, "kind": m.kind,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(models));
                } else {
                    println!("{:<24} {:>7} {:>8}  {:<10} labels", "name", "latest", "versions", "kind");
                    for m in &list.models {
                        let mut labels: Vec<_> = m.labels.iter().map(|(l, v)| format!("{l}→{v}")).collect();
                        labels.sort();
                        println!(
                            "{:<24} {:>7} {:>8}  {:<10} {}",
                            m.name,
                            m.latest_version,
                            m.version_count,
                            m.kind,
                            labels.join(" ")
                        );
                    }
                }
            }
            ModelsCommand::Get { server, model, json } => {
                let mut client = ModelServiceClient::new(server.connect().await?);
                let detail = client
                    .get_model(pb::GetModelRequest {
                        model: Some(to_pb(&model)),
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                if json {
                    let versions: Vec<_> = detail.versions.iter().map(version_json).collect();
                    println!(
                        "{}",
                        serde_json::json!({"name": detail.name, "labels": detail.labels, "versions": versions})
                    );
                } else {
                    for v in &detail.versions {
                        print_version(v);
                    }
                }
            }
            ModelsCommand::Delete { server, model } => {
                let version = match model.selector {
                    Selector::Latest => None,
                    Selector::Version(v) => Some(v),
                    Selector::Label(_) => anyhow::bail!("delete takes NAME or NAME@VERSION, not a label"),
                };
                let mut client = ModelServiceClient::new(server.connect().await?);
                let deleted = client
                    .delete_model(pb::DeleteModelRequest {
                        name: model.name.clone(),
                        version,
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                println!("deleted {} versions {:?}", model.name, deleted.deleted_versions);
            }
            ModelsCommand::Label {
                server,
                name,
                label,
                version,
            } => {
                let mut client = ModelServiceClient::new(server.connect().await?);
                let v = client
                    .set_label(pb::SetLabelRequest {
                        name,
                        label: label.clone(),
                        version,
                    })
                    .await
                    .map_err(status)?
                    .into_inner()
                    .version
                    .unwrap_or_default();
                println!("{}:{label} → version {}", v.name, v.version);
            }
        }
        Ok(())
    })
}
