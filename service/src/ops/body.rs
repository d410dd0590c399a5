//! A response-body wrapper that reports how an RPC ended.
//!
//! A gRPC status travels either in the response headers (trailers-only responses: errors
//! raised before the first message) or in the trailers after the last message. The wrapper
//! notes the header status, watches the trailers, and calls its callback exactly once: when
//! the body ends, fails, or is dropped early (the client went away: `CANCELLED`).
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::Code;

/// Called once with the RPC's final status code.
pub type OnEnd = Box<dyn FnOnce(Code) + Send>;

/// The gRPC status code in a header or trailer map, when it carries one.
pub fn status_code(headers: &http::HeaderMap) -> Option<Code> {
    tonic::Status::from_header_map(headers).map(|s| s.code())
}

/// A body that calls [`OnEnd`] with the final status when it finishes or is dropped.
pub struct ObservedBody<B> {
    inner: B,
    status: Option<Code>,
    on_end: Option<OnEnd>,
}

impl<B> std::fmt::Debug for ObservedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedBody")
            .field("status", &self.status)
            .field("finished", &self.on_end.is_none())
            .finish_non_exhaustive()
    }
}

impl<B> ObservedBody<B> {
    /// Wrap `inner`; `header_status` is the status already sent in the headers, if any.
    pub fn new(inner: B, header_status: Option<Code>, on_end: OnEnd) -> Self {
        Self {
            inner,
            status: header_status,
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self, code: Code) {
        if let Some(on_end) = self.on_end.take() {
            on_end(code);
        }
    }
}

impl<B: Body<Error = tonic::Status> + Unpin> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_code) {
                    this.status = Some(code);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(e.code());
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                let code = this.status.unwrap_or(Code::Unknown);
                this.finish(code);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        // Trailers seen (or a trailers-only response): the RPC completed with that status even
        // if the transport dropped the body without polling its end. Otherwise it was cut off.
        let code = self.status.unwrap_or(Code::Cancelled);
        self.finish(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (Arc<Mutex<Vec<Code>>>, OnEnd) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (seen, Box::new(move |c| s.lock().unwrap().push(c)))
    }

    #[test]
    fn header_status_is_reported_on_drop() {
        let (seen, on_end) = recorder();
        drop(ObservedBody::new(
            tonic::body::Body::empty(),
            Some(Code::NotFound),
            on_end,
        ));
        assert_eq!(*seen.lock().unwrap(), vec![Code::NotFound]);
    }

    #[test]
    fn dropped_without_status_is_cancelled_once() {
        let (seen, on_end) = recorder();
        drop(ObservedBody::new(tonic::body::Body::empty(), None, on_end));
        assert_eq!(*seen.lock().unwrap(), vec![Code::Cancelled]);
    }
}
