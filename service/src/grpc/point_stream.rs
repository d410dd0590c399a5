//! The loop behind both point streams (`StreamMonitor`, `StreamForecast`): read points, answer
//! them in batches on the blocking pool, send the answers back in order.
//!
//! **Batching.** The task takes the next message and every message already received behind it
//! (up to `max_batch`); it never waits for more, so a lone point is answered at once and a busy
//! stream is answered in large batches (its backlog is what queued meanwhile, bounded by HTTP/2
//! flow control). **Back-pressure:** the task reads no further message until the batch's
//! answers are in the bounded response channel, so a client that sends faster than the server
//! answers fills only HTTP/2's flow-control window and then waits; a slow reader slows its own
//! stream instead of growing memory. A stream that sends nothing for `idle`, or whose client
//! stops reading answers for `idle`, is closed with `DEADLINE_EXCEEDED` (after the answers
//! already buffered); a refused point ends the stream with its status after the answers of the
//! points before it.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::Error;

/// Answers buffered per stream before the server waits for the client to read.
const RESPONSE_BUFFER: usize = 64;

/// A stream of answers, as tonic's server streaming methods return it.
pub type AnswerStream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// Answers a batch of points with exclusive use of the stream's state: the answers of the
/// points up to the first refused one, and the refusal.
pub type Handler<S, Req, Resp> = fn(&mut S, &[Req]) -> (Vec<Resp>, Option<Status>);

/// How a point stream is bounded.
#[derive(Debug, Clone, Copy)]
pub struct StreamBounds {
    /// Close the stream after this long without a message from the client, or without the
    /// client reading an answer.
    pub idle: Duration,
    /// Points answered together at most.
    pub max_batch: usize,
    /// The server flag that sets `idle` (named in the closing status).
    pub idle_flag: &'static str,
}

/// Answer `inbound` with `handle` (blocking: it runs on tokio's blocking pool, one batch at a
/// time, with exclusive use of `state`), holding `permit` until the stream ends. `handle`
/// returns the answers of a batch's points up to the first refused one, and the refusal.
pub fn serve<Req, Resp, S>(
    mut inbound: Streaming<Req>,
    permit: OwnedSemaphorePermit,
    state: S,
    bounds: StreamBounds,
    handle: Handler<S, Req, Resp>,
) -> AnswerStream<Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    S: Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(RESPONSE_BUFFER);
    let StreamBounds {
        idle,
        max_batch,
        idle_flag,
    } = bounds;
    let max_batch = max_batch.max(1);
    // Set when the task gives up on a client that stopped reading: the answer stream ends with
    // it after the buffered answers, so the client cannot mistake the end for a clean one.
    let stalled: Arc<Mutex<Option<Status>>> = Arc::default();
    let last = stalled.clone();
    let mut state = Some(state);
    tokio::spawn(async move {
        let _permit = permit;
        loop {
            let first = match tokio::time::timeout(idle, inbound.next()).await {
                Err(_) => {
                    let status = Status::deadline_exceeded(format!(
                        "no point for {} s: idle streams are closed ({idle_flag}); reconnect to resume",
                        idle.as_secs()
                    ));
                    let _ = tokio::time::timeout(idle, tx.send(Err(status))).await;
                    return;
                }
                Ok(None) => return,
                Ok(Some(Ok(req))) => req,
                Ok(Some(Err(status))) => {
                    tracing::debug!(%status, "point stream ended by the client");
                    return;
                }
            };
            let mut batch = vec![first];
            let mut ended = false;
            while batch.len() < max_batch {
                match inbound.next().now_or_never() {
                    Some(Some(Ok(req))) => batch.push(req),
                    Some(Some(Err(status))) => {
                        tracing::debug!(%status, "point stream ended by the client");
                        ended = true;
                        break;
                    }
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            let Some(mut st) = state.take() else { return };
            let joined = tokio::task::spawn_blocking(move || {
                let r = handle(&mut st, &batch);
                (st, r)
            })
            .await;
            let (st, (responses, refused)) = match joined {
                Ok(x) => x,
                Err(e) => {
                    let status = Error::Internal(format!("a stream task failed: {e}")).into();
                    let _ = tokio::time::timeout(idle, tx.send(Err(status))).await;
                    return;
                }
            };
            state = Some(st);
            for response in responses {
                match tokio::time::timeout(idle, tx.send(Ok(response))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return, // the client went away
                    Err(_) => {
                        let status = Status::deadline_exceeded(format!(
                            "answers not read for {} s: streams whose client stops reading are \
                             closed ({idle_flag}); points after the last answer were not taken",
                            idle.as_secs()
                        ));
                        *stalled.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
                        return;
                    }
                }
            }
            if let Some(status) = refused {
                let _ = tokio::time::timeout(idle, tx.send(Err(status))).await;
                return;
            }
            if ended {
                return;
            }
        }
    });
    let last =
        futures_util::stream::once(async move { last.lock().unwrap_or_else(PoisonError::into_inner).take() })
            .filter_map(|status| status.map(Err));
    Box::pin(ReceiverStream::new(rx).chain(last))
}
