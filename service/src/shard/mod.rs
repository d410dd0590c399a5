//! Monitor sharding: which of several servers holds a series' monitor state, and what the client
//! does when that server goes away. No gRPC here; `statecast monitor` drives it.
//!
//! A `StreamMonitor` stream keeps each series' state (the model's recurrent state or look-back
//! window, the detector's feature averages and its alarm) on the server that scores it. With
//! several servers (replicas behind a headless Service, say), every client must send a series to
//! the same one. The rule is **rendezvous (highest-random-weight) hashing**
//! ([`rendezvous`]):
//!
//! - the weight of endpoint `e` for series `s` is `fmix64(FNV-1a-64(e ‖ 0x00 ‖ s))` over the
//!   UTF-8 bytes ([`weight`]): 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime
//!   `0x100000001b3`) finished by MurmurHash3's 64-bit finaliser (plain FNV-1a ranks endpoints
//!   whose names differ only in their last bytes unevenly: 43/30/27 % over three such names);
//! - `e` is the canonical endpoint ([`canonical_endpoint`]: trimmed, `http://` added when no
//!   scheme is given, trailing `/` removed), so clients must name the servers the same way;
//! - a series goes to the live endpoint of highest weight (ties: the smaller endpoint string).
//!
//! The hash is fixed and spelled out, never std's randomly keyed one, so every process on every
//! platform computes the same assignment, and the order in which endpoints are listed does not
//! matter. Removing an endpoint moves only its own series, each to its next-ranked endpoint;
//! adding one moves to it only the series it now ranks first for.
//!
//! **Failover** ([`failover::Feed`], the client's bookkeeping). When a server's stream fails
//! (connection refused, reset or closed, or `UNAVAILABLE`), the client drops that endpoint for
//! the rest of the run; each of its series goes to its next-ranked live endpoint, which is where
//! a client started without the dead endpoint would have sent it. What moves with a series:
//!
//! - **carried**: the series' last `L` answered points (`L` the model's look-back; the client
//!   keeps them in a ring buffer per series). They are sent to the new server first
//!   (**re-priming**: its answers are not reported as scores), then every point the dead server
//!   had not answered, then the new points. Every point of the data is answered, and reported,
//!   exactly once.
//! - **re-learned, not carried**: the new server rebuilds the look-back window and the recurrent
//!   state from the `L` points, so the first point after them is scored like any point with a
//!   full window. The detector's slower running averages (bias, drift, residual variance,
//!   seasonal and activity terms) restart from those points, so the first scores after a move can
//!   differ from what the dead server would have said, and its alarm rule starts without an open
//!   alarm and without a cooldown.
//! - **carried by the client only**: an alarm open on the dead server (its opening time and
//!   peak). The client says so when it moves the series and keeps the alarm open on its own
//!   account until the new server's detector decides: it **reopens** it (the new server reports
//!   the series inside an alarm, on a re-priming point or after) or it stays **quiet** for
//!   `clear` scored points in a row, after which the client closes the alarm itself. The
//!   alarm's attribution (the sensors that drove it) is not carried.
//! - **lost**: the dead server's scores of the points it had not answered (the new server
//!   scores those points again).
//!
//! A series with fewer than `L` answered points re-primes from those it has, and the new server
//! warms it up as it would a new series.
//!
//! When no endpoint is left, the run fails.
pub mod failover;
pub mod rendezvous;

pub use failover::Feed;
pub use rendezvous::{Rendezvous, ShardError, canonical_endpoint, weight};
