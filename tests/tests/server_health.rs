//! `statecast serve` starts, reports SERVING over grpc.health.v1, answers InfoService and
//! reflection, and shuts down gracefully on SIGTERM.
mod common;

use statecast_proto::v1::{GetServerInfoRequest, info_service_client::InfoServiceClient};
use std::time::Duration;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_is_healthy_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = common::Server::start(&data_dir, &["--shutdown-grace-s", "5"]);
    assert!(data_dir.is_dir(), "serve creates its data dir");

    let channel = tonic::transport::Endpoint::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overall.status(), ServingStatus::Serving);
    let info_health = health
        .check(HealthCheckRequest {
            service: "statecast.v1.InfoService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info_health.status(), ServingStatus::Serving);
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    let info = InfoServiceClient::new(channel)
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.devices.contains(&"cpu".to_string()));
    assert_eq!(info.max_message_bytes, 16 << 20);

    // The CLI client prints the same facts.
    let out = common::run_ok(&["info", "--server", &server.addr]);
    assert!(out.contains("health:   Serving"), "{out}");
    assert!(
        out.contains(&format!("version:  {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );

    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_statecast_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start(dir.path(), &[]);
    let channel = tonic::transport::Endpoint::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().expect("one reflection response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a list of services, got {:?}", response.message_response);
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"statecast.v1.InfoService".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
}

/// Per-model readiness: `statecast.v1.Model/NAME` is unknown before registration, SERVING once
/// the model is registered, NOT_SERVING after it is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_model_health_follows_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
    #[rustfmt::skip]
    common::run_ok(&["simulate", "--out", &p("sim"), "--series", "1", "--variates", "3", "--length", "600"]);
    #[rustfmt::skip]
    common::run_ok(&[
        "train", "--data", &p("sim/sensors.parquet"), "--series-column", "series_id", "--label-column",
        "label", "--missing", "linear", "--model", "linear", "--lookback", "24", "--horizon", "6",
        "--epochs", "1", "--out", &p("model"),
    ]);
    let server = common::Server::start(&dir.path().join("data"), &["--import-root", &p(".")]);
    let channel = tonic::transport::Endpoint::from_shared(server.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let service = "statecast.v1.Model/sensors".to_string();
    let status_of = |h: &mut HealthClient<tonic::transport::Channel>| {
        let mut h = h.clone();
        let service = service.clone();
        async move {
            h.check(HealthCheckRequest { service })
                .await
                .map(|r| r.into_inner().status())
        }
    };
    async fn wait_for<F, Fut>(mut f: F, want: ServingStatus)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<ServingStatus, tonic::Status>>,
    {
        for _ in 0..100 {
            if let Ok(s) = f().await
                && s == want
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("model health never became {want:?}");
    }
    assert_eq!(
        status_of(&mut health).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    common::run_ok(&[
        "models",
        "register",
        "--server",
        &server.addr,
        "sensors",
        &p("model"),
    ]);
    wait_for(|| status_of(&mut health), ServingStatus::Serving).await;
    common::run_ok(&["models", "delete", "--server", &server.addr, "sensors"]);
    wait_for(|| status_of(&mut health), ServingStatus::NotServing).await;
}
