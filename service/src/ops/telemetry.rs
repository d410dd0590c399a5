//! Per-RPC telemetry: a tracing span (method, status, latency) and Prometheus metrics.
//!
//! [`Metrics`] owns a Prometheus registry with
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `statecast_grpc_requests_total` | counter | `method`, `code` |
//! | `statecast_grpc_request_duration_seconds` | histogram | `method` |
//! | `statecast_grpc_active_streams` | gauge (RPCs whose response is still open) | |
//! | `statecast_jobs` | gauge | `state` |
//! | `process_resident_memory_bytes` | gauge (read at scrape time) | |
//!
//! The `method` label is the path of a served method or `unknown` ([`known_methods`]), so the
//! label set is fixed by the server's own descriptor sets, whatever paths clients invent.
//!
//! [`TelemetryLayer`] is a tower layer over the whole tonic router. Job states are pushed with
//! [`Metrics::set_job_states`] or pulled at scrape time from a source registered with
//! [`Metrics::set_job_states_source`]; both work on the process-wide [`Metrics::global`].
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};
use tracing::Instrument;

use super::body::{ObservedBody, status_code};

/// A function returning `(state, count)` for every job state, polled at scrape time.
pub type JobStatesSource = Box<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// Latency buckets, seconds: 0.5 ms … 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The server's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    active: IntGauge,
    jobs: IntGaugeVec,
    rss: IntGauge,
    job_source: Mutex<Option<JobStatesSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("active_streams", &self.active.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every statecast metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "statecast_grpc_requests_total",
                "gRPC requests by method and final status code.",
            ),
            &["method", "code"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "statecast_grpc_request_duration_seconds",
                "gRPC request latency (until the response ends) by method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        let active = IntGauge::new(
            "statecast_grpc_active_streams",
            "gRPC calls (HTTP/2 streams) in flight, streaming responses included.",
        )
        .expect("valid metric");
        let jobs = IntGaugeVec::new(Opts::new("statecast_jobs", "Training jobs by state."), &["state"])
            .expect("valid metric");
        let rss = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident set size of the server process, bytes.",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(active.clone()),
            Box::new(jobs.clone()),
            Box::new(rss.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            active,
            jobs,
            rss,
            job_source: Mutex::new(None),
        }
    }

    /// The process-wide metrics every server in this process reports to.
    pub fn global() -> &'static Metrics {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL.get_or_init(Metrics::new)
    }

    /// Replace the job-state gauges with `counts` (states not listed are removed).
    pub fn set_job_states<S: AsRef<str>>(&self, counts: &[(S, u64)]) {
        self.jobs.reset();
        for (state, count) in counts {
            self.jobs
                .with_label_values(&[state.as_ref()])
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
    }

    /// Poll `source` for job-state counts at every scrape (replaces any earlier source).
    pub fn set_job_states_source(&self, source: JobStatesSource) {
        *self.job_source.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Record one finished RPC.
    pub fn observe(&self, method: &str, code: Code, seconds: f64) {
        self.requests.with_label_values(&[method, code_name(code)]).inc();
        self.latency.with_label_values(&[method]).observe(seconds);
    }

    /// Requests counted so far for `method` and `code` (for tests and the bench).
    pub fn requests(&self, method: &str, code: Code) -> u64 {
        self.requests.with_label_values(&[method, code_name(code)]).get()
    }

    /// Refresh the scrape-time gauges and render the Prometheus text format.
    pub fn render(&self) -> String {
        if let Some(rss) = process_rss_bytes() {
            self.rss.set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        if let Some(source) = &*self.job_source.lock().unwrap_or_else(|e| e.into_inner()) {
            self.set_job_states(&source());
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Resident set size of this process (`VmRSS` of `/proc/self/status`), bytes; Linux only.
pub fn process_rss_bytes() -> Option<u64> {
    proc_status_kib("/proc/self/status", "VmRSS:").map(|k| k * 1024)
}

/// A `kB` field (e.g. `VmRSS:`, `VmHWM:`) of a `/proc/PID/status` file, in KiB.
pub fn proc_status_kib(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The canonical upper-case name of a gRPC status code (`OK`, `NOT_FOUND`, …).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The `method` label of every path a request may carry that is not a served method.
pub const UNKNOWN_METHOD: &str = "unknown";

/// Every method the server serves, as `/package.Service/Method`: the statecast services, gRPC
/// health and both reflection versions, read from their descriptor sets once.
pub fn known_methods() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        [
            statecast_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]
        .into_iter()
        .filter_map(|bytes| prost_types::FileDescriptorSet::decode(bytes).ok())
        .flat_map(|set| set.file)
        .flat_map(|file| {
            let package = file.package.unwrap_or_default();
            file.service.into_iter().flat_map(move |service| {
                let prefix = match (package.as_str(), service.name.as_deref().unwrap_or_default()) {
                    ("", name) => format!("/{name}/"),
                    (package, name) => format!("/{package}.{name}/"),
                };
                service
                    .method
                    .into_iter()
                    .map(move |m| format!("{prefix}{}", m.name.unwrap_or_default()))
            })
        })
        .collect()
    })
}

/// The `method` label for a request path: the path of a [`known_methods`] entry,
/// [`UNKNOWN_METHOD`] for anything else, so clients cannot grow the label set (and `/metrics`)
/// by calling invented paths.
fn method_label(path: &str) -> String {
    if known_methods().contains(path) {
        path.to_string()
    } else {
        UNKNOWN_METHOD.to_string()
    }
}

/// Tower layer: one tracing span and one metrics record per RPC.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryLayer {
    metrics: &'static Metrics,
}

impl TelemetryLayer {
    /// Report to `metrics` (usually [`Metrics::global`]).
    pub fn new(metrics: &'static Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            metrics: self.metrics,
        }
    }
}

/// The service [`TelemetryLayer`] produces.
#[derive(Debug, Clone)]
pub struct TelemetryService<S> {
    inner: S,
    metrics: &'static Metrics,
}

/// Records the RPC once: when its response ends, or as `CANCELLED` when dropped before.
struct Completion {
    metrics: &'static Metrics,
    method: String,
    start: Instant,
    span: tracing::Span,
    done: bool,
}

impl Completion {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // An unknown method on a known service prefix must not become a label of its own.
        let method = if code == Code::Unimplemented {
            "unimplemented"
        } else {
            &self.method
        };
        let seconds = self.start.elapsed().as_secs_f64();
        self.metrics.observe(method, code, seconds);
        self.metrics.active.dec();
        self.span.record("code", code_name(code));
        self.span.record("latency_ms", seconds * 1e3);
        let _enter = self.span.enter();
        if matches!(code, Code::Ok) {
            tracing::debug!("rpc finished");
        } else {
            tracing::info!("rpc failed");
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody> Service<http::Request<ReqBody>> for TelemetryService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = method_label(request.uri().path());
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            code = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        self.metrics.active.inc();
        let mut completion = Completion {
            metrics: self.metrics,
            method,
            start: Instant::now(),
            span: span.clone(),
            done: false,
        };
        let future = self.inner.call(request);
        Box::pin(
            async move {
                match future.await {
                    Ok(response) => {
                        let header_status = status_code(response.headers());
                        let (parts, body) = response.into_parts();
                        let on_end = Box::new(move |code| {
                            let mut completion = completion;
                            completion.finish(code);
                        });
                        let body = ObservedBody::new(body, header_status, on_end);
                        Ok(http::Response::from_parts(parts, tonic::body::Body::new(body)))
                    }
                    Err(e) => {
                        completion.finish(Code::Internal);
                        Err(e)
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_replace_previous_values() {
        let m = Metrics::new();
        m.set_job_states(&[("queued", 2), ("running", 1)]);
        m.set_job_states(&[("running", 3)]);
        let text = m.render();
        assert!(text.contains("statecast_jobs{state=\"running\"} 3"), "{text}");
        assert!(!text.contains("queued"), "{text}");
    }

    #[test]
    fn job_state_source_is_polled_at_scrape() {
        let m = Metrics::new();
        m.set_job_states_source(Box::new(|| vec![("failed".to_string(), 4)]));
        assert!(m.render().contains("statecast_jobs{state=\"failed\"} 4"));
    }

    #[test]
    fn render_reports_rss_and_requests() {
        let m = Metrics::new();
        m.observe("/statecast.v1.ModelService/ListModels", Code::Ok, 0.01);
        let text = m.render();
        assert!(text.contains(
            "statecast_grpc_requests_total{code=\"OK\",method=\"/statecast.v1.ModelService/ListModels\"} 1"
        ), "{text}");
        assert!(text.contains("statecast_grpc_request_duration_seconds_bucket"));
        if cfg!(target_os = "linux") {
            assert!(!text.contains("process_resident_memory_bytes 0\n"), "{text}");
        }
    }

    #[test]
    fn method_labels_are_bounded() {
        for known in [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            "/statecast.v1.ForecastService/Forecast",
            "/statecast.v1.MonitorService/StreamMonitor",
            "/statecast.v1.ModelService/DeleteModel",
        ] {
            assert_eq!(method_label(known), known);
        }
        // Invented paths, including ones under served services and packages, share one label.
        for invented in [
            "/wp-admin/x",
            "/statecast.v1.A/B/C",
            "/statecast.v1.ForecastService/Invented17",
            "/statecast.v1.ModelService/DeleteEverything",
            "/grpc.health.v1.Health/Check2",
            "/grpc.x/Y",
            "",
        ] {
            assert_eq!(method_label(invented), UNKNOWN_METHOD, "{invented}");
        }
    }

    /// 5000 refused calls to invented methods add one label, not 5000.
    #[test]
    fn invented_methods_do_not_grow_the_metrics() {
        let m = Metrics::new();
        for i in 0..5000 {
            let path = format!("/statecast.v1.ForecastService/Invented{i}");
            m.observe(&method_label(&path), Code::ResourceExhausted, 0.001);
        }
        let text = m.render();
        assert!(text.len() < 8 << 10, "{} bytes of metrics", text.len());
        assert!(
            text.contains(
                "statecast_grpc_requests_total{code=\"RESOURCE_EXHAUSTED\",method=\"unknown\"} 5000"
            ),
            "{text}"
        );
    }

    #[test]
    fn every_statecast_service_is_known() {
        let known = known_methods();
        for service in [
            "ForecastService",
            "ModelService",
            "MonitorService",
            "TrainingService",
            "InfoService",
        ] {
            let prefix = format!("/statecast.v1.{service}/");
            assert!(
                known.iter().any(|m| m.starts_with(&prefix)),
                "{service}: {known:?}"
            );
        }
    }
}
