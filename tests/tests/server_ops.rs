//! Server operations against the real binary: TLS, bearer-token auth on mutating RPCs,
//! Prometheus metrics, client deadlines, message-size limits and the forecast concurrency
//! limit.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use statecast_proto::v1 as pb;
use statecast_proto::v1::forecast_service_client::ForecastServiceClient;
use statecast_proto::v1::model_service_client::ModelServiceClient;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const L: usize = 48;
const V: usize = 3;

/// A trained tiny `linear` model shared by every test of this file (trained once).
fn model_dir() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
            #[rustfmt::skip]
            common::run_ok(&["simulate", "--out", &d("sim"), "--series", "2", "--variates", "3", "--length", "1200"]);
            #[rustfmt::skip]
            common::run_ok(&[
                "train", "--data", &d("sim/sensors.parquet"), "--series-column", "series_id",
                "--label-column", "label", "--missing", "linear", "--model", "linear",
                "--lookback", &L.to_string(), "--horizon", "12", "--epochs", "1",
                "--max-batches-per-epoch", "4", "--out", &d("model"),
            ]);
            let model = dir.path().join("model");
            (dir, model)
        })
        .1
}

/// A `statecast serve` child; also reports the metrics address when it prints one.
struct Server {
    child: Child,
    port: u16,
    metrics: Option<String>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(common::statecast_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .arg("--import-root")
            .arg(model_dir().parent().expect("the model lies in a temp dir"))
            .args(extra)
            .env("BURN_DEVICE", "flex")
            .env_remove("STATECAST_AUTH_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn statecast serve");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("statecast listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let metrics = extra.contains(&"--metrics-addr").then(|| {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("statecast metrics on http://")
                .and_then(|s| s.strip_suffix("/metrics"))
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .to_string()
        });
        Server {
            child,
            port,
            metrics,
            _data: data,
        }
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(self.http())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn register(name: &str) -> tonic::Request<pb::RegisterModelRequest> {
    tonic::Request::new(pb::RegisterModelRequest {
        name: name.into(),
        path: model_dir().to_string_lossy().into_owned(),
        labels: vec![],
    })
}

fn with_token<T>(mut r: tonic::Request<T>, token: &str) -> tonic::Request<T> {
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A forecast request of `n` series of `rows` rows for model `name`.
fn forecast_request(name: &str, n: usize, rows: usize) -> pb::ForecastRequest {
    let step = 300_000_000; // 5 min, the simulator's default
    pb::ForecastRequest {
        model: Some(pb::ModelRef {
            name: name.into(),
            selector: None,
        }),
        series: (0..n)
            .map(|s| pb::SeriesInput {
                series_id: format!("s{s}"),
                timestamps: (0..rows as i64).map(|t| t * step).collect(),
                values: Some(pb::Matrix {
                    rows: rows as u32,
                    cols: V as u32,
                    values: (0..rows * V).map(|i| (i as f32 * 0.1).sin()).collect(),
                }),
            })
            .collect(),
        horizon: 0,
        quantiles: vec![0.1, 0.9],
        levels: vec![],
    }
}

async fn registered_server(extra: &[&str]) -> Server {
    let server = Server::start(extra);
    let mut models = ModelServiceClient::new(server.channel().await);
    let mut request = register("m");
    if let Some(i) = extra.iter().position(|a| *a == "--auth-token") {
        request = with_token(request, extra[i + 1]);
    }
    models.register_model(request).await.unwrap();
    server
}

#[tokio::test]
async fn tls_round_trip_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (key.cert.pem(), key.signing_key.serialize_pem());
    let (cert, keyf) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&keyf, key_pem).unwrap();
    // A free port for the plaintext health listener (bound, read, released).
    let health_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let health_addr = format!("127.0.0.1:{health_port}");
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        keyf.to_str().unwrap(),
        "--health-addr",
        &health_addr,
    ]);
    let https = format!("https://localhost:{}", server.port);

    // Probes that cannot speak TLS ask the plaintext health listener, which serves nothing else.
    let plain_health = Endpoint::from_shared(format!("http://{health_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = tonic_health::pb::health_client::HealthClient::new(plain_health.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let refused = ModelServiceClient::new(plain_health)
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");

    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert_pem));
    let channel = Endpoint::from_shared(https.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let list = ModelServiceClient::new(channel)
        .list_models(pb::ListModelsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(list.models.is_empty());

    // The CLI client over TLS.
    let out = common::run_ok(&["info", "--server", &https, "--ca-cert", cert.to_str().unwrap()]);
    assert!(out.contains("Serving"), "{out}");
    // Without the CA the handshake fails (self-signed), with a clear error.
    let err = common::run_err(&["info", "--server", &https]);
    assert!(err.contains("connecting to"), "{err}");

    // A plaintext client against the TLS port fails promptly instead of hanging.
    let plain = tokio::time::timeout(Duration::from_secs(20), async {
        let channel = Endpoint::from_shared(server.http())
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        ModelServiceClient::new(channel)
            .list_models(pb::ListModelsRequest {})
            .await
            .map_err(|s| -> Box<dyn std::error::Error> { Box::new(s) })?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .await
    .expect("plaintext call against TLS did not finish within 20 s");
    assert!(plain.is_err(), "plaintext call against a TLS server succeeded");
}

#[tokio::test]
async fn auth_token_guards_mutating_rpcs_only() {
    let server = Server::start(&["--auth-token", "s3cret"]);
    let channel = server.channel().await;
    let mut models = ModelServiceClient::new(channel.clone());

    let status = models.register_model(register("m")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = models
        .register_model(with_token(register("m"), "wrong"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let v = models
        .register_model(with_token(register("m"), "s3cret"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version.unwrap().version, 1);

    // Read-only RPCs stay open.
    assert_eq!(
        models
            .list_models(pb::ListModelsRequest {})
            .await
            .unwrap()
            .into_inner()
            .models
            .len(),
        1
    );
    ForecastServiceClient::new(channel.clone())
        .forecast(forecast_request("m", 1, L))
        .await
        .unwrap();

    // Label and delete are guarded too.
    let status = models
        .set_label(pb::SetLabelRequest {
            name: "m".into(),
            label: "stable".into(),
            version: Some(1),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // Training job submission and cancellation are guarded; listing jobs is open.
    let mut training =
        statecast_proto::v1::training_service_client::TrainingServiceClient::new(channel.clone());
    let status = training
        .submit_job(pb::SubmitJobRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = training
        .cancel_job(pb::CancelJobRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    training.list_jobs(pb::ListJobsRequest::default()).await.unwrap();

    // The CLI: --token (or STATECAST_AUTH_TOKEN) is sent; without it the call is refused.
    let path = model_dir().to_string_lossy().into_owned();
    let http = server.http();
    let err = common::run_err(&["models", "register", "--server", &http, "m", &path]);
    assert!(err.contains("Unauthenticated"), "{err}");
    common::run_ok(&[
        "models", "register", "--server", &http, "--token", "s3cret", "m", &path,
    ]);
}

/// GET http://addr/metrics over a raw HTTP/1.1 connection.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// The value of the sample line starting with `prefix`, 0 when absent.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn metrics_count_calls() {
    let server = Server::start(&["--metrics-addr", "127.0.0.1:0"]);
    let metrics = server.metrics.clone().unwrap();
    let list = r#"statecast_grpc_requests_total{code="OK",method="/statecast.v1.ModelService/ListModels"}"#;
    let missing =
        r#"statecast_grpc_requests_total{code="NOT_FOUND",method="/statecast.v1.ModelService/GetModel"}"#;
    let before = scrape(&metrics);
    assert_eq!(sample(&before, list), 0.0);
    assert!(sample(&before, "process_resident_memory_bytes") > 1e6, "{before}");

    let mut models = ModelServiceClient::new(server.channel().await);
    for _ in 0..3 {
        models.list_models(pb::ListModelsRequest {}).await.unwrap();
    }
    let status = models
        .get_model(pb::GetModelRequest {
            model: Some(pb::ModelRef {
                name: "nope".into(),
                selector: None,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let after = scrape(&metrics);
    assert_eq!(sample(&after, list), 3.0, "{after}");
    assert_eq!(sample(&after, missing), 1.0, "{after}");
    assert!(after.contains(
        r#"statecast_grpc_request_duration_seconds_count{method="/statecast.v1.ModelService/ListModels"} 3"#
    ));
    assert!(after.contains("statecast_grpc_active_streams"));
    // Job-state gauges come from the job manager at scrape time.
    assert!(after.contains(r#"statecast_jobs{state="queued"} 0"#), "{after}");
}

#[tokio::test]
async fn short_deadline_on_a_slow_forecast() {
    let server = registered_server(&[]).await;
    let mut forecasts =
        ForecastServiceClient::new(server.channel().await).max_decoding_message_size(256 << 20);
    let mut request = tonic::Request::new(forecast_request("m", 4000, L));
    request.set_timeout(Duration::from_millis(5));
    let status = forecasts.forecast(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    // The server is fine afterwards.
    forecasts.forecast(forecast_request("m", 1, L)).await.unwrap();
}

#[tokio::test]
async fn oversized_request_is_refused() {
    let server = registered_server(&["--max-message-mib", "1"]).await;
    let mut forecasts = ForecastServiceClient::new(server.channel().await);
    let status = forecasts
        .forecast(forecast_request("m", 2000, L)) // ≈ 1.9 MB
        .await
        .unwrap_err();
    // tonic reports an over-limit message as OUT_OF_RANGE (gRPC's spec suggests
    // RESOURCE_EXHAUSTED); either way it is refused before decoding.
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    forecasts.forecast(forecast_request("m", 1, L)).await.unwrap();
}

#[tokio::test]
async fn saturated_forecasts_are_rejected() {
    let server = registered_server(&["--max-concurrent-forecasts", "1"]).await;
    let channel = server.channel().await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = ForecastServiceClient::new(channel.clone()).max_decoding_message_size(256 << 20);
            tokio::spawn(async move { client.forecast(forecast_request("m", 3000, L)).await })
        })
        .collect();
    let mut codes = Vec::new();
    for c in calls {
        codes.push(match c.await.unwrap() {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        });
    }
    assert!(codes.contains(&Code::Ok), "{codes:?}");
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );
}
