//! Bounded concurrency for expensive RPCs: reject with `RESOURCE_EXHAUSTED` when saturated.
//!
//! Forecasts run on tokio's blocking pool; without a bound a burst of requests queues there
//! and every caller waits. [`ConcurrencyLimitLayer`] admits at most `limit` calls whose path
//! matches (by default every `ForecastService` method) and answers the rest at once, so
//! clients can back off or retry elsewhere. A permit is held until the response body ends,
//! so a streaming forecast counts for as long as it streams.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::body::{ObservedBody, status_code};

/// The default forecast concurrency: two per CPU core (at least 2). Forecasts are CPU-bound
/// on the blocking pool, so more in flight only queue and hold their inputs in memory.
pub fn default_max_concurrent_forecasts() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .saturating_mul(2)
        .max(2)
}

/// Paths [`ConcurrencyLimitLayer::forecasts`] limits.
pub const FORECAST_SERVICE_PREFIX: &str = "/statecast.v1.ForecastService/";

/// Tower layer limiting concurrent calls to matching paths; a no-op without a limit.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    semaphore: Option<Arc<Semaphore>>,
    limit: usize,
    prefix: &'static str,
}

impl ConcurrencyLimitLayer {
    /// At most `limit` concurrent calls under `prefix` (`None`: unlimited).
    pub fn new(limit: Option<usize>, prefix: &'static str) -> Self {
        Self {
            semaphore: limit.map(|l| Arc::new(Semaphore::new(l.min(Semaphore::MAX_PERMITS)))),
            limit: limit.unwrap_or(0),
            prefix,
        }
    }

    /// At most `limit` concurrent `ForecastService` calls.
    pub fn forecasts(limit: Option<usize>) -> Self {
        Self::new(limit, FORECAST_SERVICE_PREFIX)
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ConcurrencyLimitLayer`] produces.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    layer: ConcurrencyLimitLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody> Service<http::Request<ReqBody>> for ConcurrencyLimit<S>
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
        let semaphore = match &self.layer.semaphore {
            Some(s) if request.uri().path().starts_with(self.layer.prefix) => s.clone(),
            _ => return Box::pin(self.inner.call(request)),
        };
        let Ok(permit) = semaphore.try_acquire_owned() else {
            let limit = self.layer.limit;
            tracing::info!(path = request.uri().path(), limit, "refused: saturated");
            let status = tonic::Status::resource_exhausted(format!(
                "server busy: {limit} concurrent forecasts already running (--max-concurrent-forecasts); retry later"
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let header_status = status_code(response.headers());
            let (parts, body) = response.into_parts();
            let body = ObservedBody::new(body, header_status, Box::new(move |_| drop(permit)));
            Ok(http::Response::from_parts(parts, tonic::body::Body::new(body)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::ServiceExt;

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    /// A service that takes 200 ms and answers OK.
    #[derive(Clone)]
    struct Slow;

    impl Service<http::Request<()>> for Slow {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            })
        }
    }

    fn slow() -> Slow {
        Slow
    }

    fn code(response: &http::Response<tonic::body::Body>) -> Option<tonic::Code> {
        status_code(response.headers())
    }

    #[tokio::test]
    async fn saturated_calls_are_rejected_not_queued() {
        let svc = ConcurrencyLimitLayer::forecasts(Some(2)).layer(slow());
        let path = "/statecast.v1.ForecastService/Forecast";
        let calls: Vec<_> = (0..5).map(|_| svc.clone().oneshot(request(path))).collect();
        let started = std::time::Instant::now();
        let responses: Vec<_> = futures_join(calls).await;
        let rejected = responses
            .iter()
            .filter(|r| code(r) == Some(tonic::Code::ResourceExhausted))
            .count();
        assert_eq!(rejected, 3);
        assert!(started.elapsed() < Duration::from_millis(390));
        // Permits come back once responses (and their bodies) are gone.
        drop(responses);
        let again = svc.clone().oneshot(request(path)).await.unwrap();
        assert_eq!(code(&again), None);
    }

    #[test]
    fn the_default_limit_follows_the_cores() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(default_max_concurrent_forecasts(), (2 * cores).max(2));
    }

    #[tokio::test]
    async fn other_paths_and_no_limit_pass() {
        let svc = ConcurrencyLimitLayer::forecasts(Some(0)).layer(slow());
        let r = svc
            .clone()
            .oneshot(request("/statecast.v1.ModelService/ListModels"))
            .await
            .unwrap();
        assert_eq!(code(&r), None);
        let open = ConcurrencyLimitLayer::forecasts(None).layer(slow());
        let r = open
            .oneshot(request("/statecast.v1.ForecastService/Forecast"))
            .await
            .unwrap();
        assert_eq!(code(&r), None);
    }

    /// Run the calls concurrently on this task and collect their responses.
    async fn futures_join<F>(calls: Vec<F>) -> Vec<http::Response<tonic::body::Body>>
    where
        F: Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send + 'static,
    {
        let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap().unwrap());
        }
        out
    }
}
