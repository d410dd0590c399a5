//! The future of a layer that either calls the inner service or answers at once.
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The inner future, or a ready response (a refusal).
pub struct ResponseFuture<F, E> {
    inner: Option<Pin<Box<F>>>,
    ready: Option<http::Response<tonic::body::Body>>,
    _error: PhantomData<fn() -> E>,
}

impl<F, E> std::fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.ready.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, E> ResponseFuture<F, E> {
    /// Resolve to `response` at once.
    pub fn ready(response: http::Response<tonic::body::Body>) -> Self {
        Self {
            inner: None,
            ready: Some(response),
            _error: PhantomData,
        }
    }

    /// Delegate to `future`.
    pub fn inner(future: F) -> Self {
        Self {
            inner: Some(Box::pin(future)),
            ready: None,
            _error: PhantomData,
        }
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<http::Response<tonic::body::Body>, E>>,
{
    type Output = Result<http::Response<tonic::body::Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(response) = self.ready.take() {
            return Poll::Ready(Ok(response));
        }
        match self.inner.as_mut() {
            Some(inner) => inner.as_mut().poll(cx),
            None => Poll::Ready(Ok(tonic::Status::internal("polled after completion").into_http())),
        }
    }
}
