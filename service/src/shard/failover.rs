//! The client's bookkeeping for sharded monitoring ([`Feed`]): where each point goes, what each
//! endpoint still owes an answer for, each series' last `L` answered points, the alarms it has
//! seen open, and what moves, in which order, when an endpoint fails. Transport-free: the
//! caller sends the [`Outgoing`] messages and reports answers ([`Feed::answer`]) and failures
//! ([`Feed::fail`]).
//!
//! Invariants:
//! - an endpoint answers the points sent to it in the order sent, so its owed list is a queue;
//! - a series' points reach an endpoint in time order: its re-priming points, then the points
//!   the dead endpoint owed, then new ones;
//! - a data point is reported by [`Feed::answer`] exactly once: owed points of a failed
//!   endpoint are sent again, re-priming answers are reported as [`Answered::Prime`].
use std::collections::VecDeque;

use super::rendezvous::Rendezvous;

/// One point of a series as the client sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Microseconds since the epoch.
    pub timestamp: i64,
    /// One value per variate.
    pub values: Vec<f64>,
}

/// A message to send to `endpoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Endpoint index.
    pub endpoint: usize,
    /// Series index.
    pub series: usize,
    /// The point.
    pub point: Point,
    /// The series' first point on this endpoint (it must name the model).
    pub first_on_endpoint: bool,
    /// A re-priming point (already answered elsewhere; its answer is not a score to report).
    pub priming: bool,
}

/// What an endpoint's answer says about a series' alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The look-back window is still filling (no score).
    pub warming_up: bool,
    /// The point lies inside an alarm of this endpoint's detector.
    pub in_alarm: bool,
    /// The alarm event at this point, if any.
    pub event: Option<AlarmChange>,
}

/// An alarm event, as far as the client tracks it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlarmChange {
    /// An alarm opened; it started at `start`.
    Opened {
        /// Timestamp of its first point.
        start: i64,
        /// Largest score so far.
        peak: f64,
    },
    /// The open alarm's peak grew.
    Updated {
        /// Largest score so far.
        peak: f64,
    },
    /// The open alarm closed.
    Closed,
}

/// An alarm that was open on an endpoint that failed, kept open by the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarriedAlarm {
    /// Series index.
    pub series: usize,
    /// Timestamp of the alarm's first point.
    pub start: i64,
    /// Its largest score, as last reported by the endpoint that had it.
    pub peak: f64,
    /// The endpoint the alarm was open on (failed).
    pub gone: usize,
    /// The endpoint the series was re-primed on.
    pub on: usize,
    /// Points sent to re-prime it there.
    pub primed: usize,
    /// Scored points outside an alarm in a row on `on` since the move.
    pub quiet: usize,
}

/// How the new endpoint's detector ended a carried alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CarriedEnd {
    /// The new endpoint reports the series inside an alarm at `at`: the incident goes on there.
    Reopened {
        /// The carried alarm.
        alarm: CarriedAlarm,
        /// Timestamp of the point.
        at: i64,
    },
    /// The new endpoint scored `clear` points in a row outside an alarm, the last at `last`;
    /// the client closed the carried alarm.
    Closed {
        /// The carried alarm.
        alarm: CarriedAlarm,
        /// Timestamp of the last quiet point.
        last: i64,
    },
}

/// What an answer was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// Data point number `index` (the caller's numbering) of `series`: report it.
    Point {
        /// Series index.
        series: usize,
        /// The caller's index of the point.
        index: usize,
    },
    /// A re-priming point of `series`: not a new score.
    Prime {
        /// Series index.
        series: usize,
    },
}

/// One series moved off a failed endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Series index.
    pub series: usize,
    /// The failed endpoint.
    pub from: usize,
    /// Its next-ranked live endpoint.
    pub to: usize,
    /// Points sent to re-prime it (its last answered points, at most `L`).
    pub primed: usize,
    /// Points the failed endpoint had not answered, sent again.
    pub resent: usize,
    /// The alarm that was open on `from` (or carried to it), now carried by the client.
    pub carried: Option<CarriedAlarm>,
}

/// What [`Feed::fail`] decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failover {
    /// The series that had points on the failed endpoint, by series index.
    pub moves: Vec<Move>,
    /// Messages to send now, in order, before any new point.
    pub outgoing: Vec<Outgoing>,
}

/// Why the feed cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Every endpoint failed.
    #[error("no monitor endpoint left: all {0} failed")]
    NoEndpointLeft(usize),
    /// An endpoint answered something that was not sent to it next.
    #[error("endpoint `{endpoint}` answered out of order: {detail}")]
    Unexpected {
        /// The endpoint.
        endpoint: String,
        /// What was expected and what came.
        detail: String,
    },
}

/// Points answered by one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Data points answered.
    pub points: usize,
    /// Re-priming points answered.
    pub primes: usize,
    /// Series with at least one data point answered here.
    pub series: usize,
    /// The endpoint failed.
    pub failed: bool,
}

/// A point an endpoint owes an answer for.
#[derive(Debug, Clone)]
struct Owed {
    series: usize,
    /// `Some(index)` for a data point, `None` for a re-priming point.
    index: Option<usize>,
    point: Point,
}

#[derive(Debug, Clone, Copy)]
struct OpenAlarm {
    start: i64,
    peak: f64,
    endpoint: usize,
}

#[derive(Debug, Clone)]
struct SeriesState {
    /// Endpoints best first.
    ranking: Vec<usize>,
    /// The last `L` answered data points, oldest first.
    recent: VecDeque<Point>,
    /// The endpoint this series' last point went to (its next point there needs no model).
    on: Option<usize>,
    /// The alarm its endpoint reports open.
    open: Option<OpenAlarm>,
    carried: Option<CarriedAlarm>,
    /// Data points answered per endpoint.
    answered_on: Vec<bool>,
}

/// The client's sharding state over one run (see the module docs).
#[derive(Debug, Clone)]
pub struct Feed {
    shards: Rendezvous,
    live: Vec<bool>,
    owed: Vec<VecDeque<Owed>>,
    series: Vec<SeriesState>,
    ids: Vec<String>,
    lookback: usize,
    clear: usize,
    stats: Vec<EndpointStats>,
}

impl Feed {
    /// A feed of the series `ids` over `shards`, keeping the last `lookback` answered points of
    /// each series to re-prime with (0: none), closing a carried alarm after `clear` quiet points
    /// on its new endpoint.
    pub fn new(shards: Rendezvous, ids: Vec<String>, lookback: usize, clear: usize) -> Self {
        let n = shards.endpoints().len();
        let series = ids
            .iter()
            .map(|id| SeriesState {
                ranking: shards.ranking(id),
                recent: VecDeque::with_capacity(lookback),
                on: None,
                open: None,
                carried: None,
                answered_on: vec![false; n],
            })
            .collect();
        Self {
            live: vec![true; n],
            owed: vec![VecDeque::new(); n],
            stats: vec![EndpointStats::default(); n],
            shards,
            series,
            ids,
            lookback,
            clear: clear.max(1),
        }
    }

    /// The endpoints.
    pub fn shards(&self) -> &Rendezvous {
        &self.shards
    }

    /// The series ids.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Whether endpoint `e` is still in use.
    pub fn is_live(&self, e: usize) -> bool {
        self.live[e]
    }

    /// The live endpoint `series` goes to now (`None`: none left).
    pub fn route(&self, series: usize) -> Option<usize> {
        self.series[series]
            .ranking
            .iter()
            .copied()
            .find(|&e| self.live[e])
    }

    /// Quiet scored points after which the client closes an alarm it carries.
    pub fn clear(&self) -> usize {
        self.clear
    }

    /// Points endpoint `e` has been sent and not answered.
    pub fn owed(&self, e: usize) -> usize {
        self.owed[e].len()
    }

    /// Every live endpoint has answered everything it was sent.
    pub fn settled(&self) -> bool {
        self.owed.iter().all(VecDeque::is_empty)
    }

    /// Per-endpoint counts.
    pub fn stats(&self) -> &[EndpointStats] {
        &self.stats
    }

    /// The alarms the client still carries (open on a failed endpoint, not yet decided by the
    /// new one).
    pub fn carried(&self) -> Vec<CarriedAlarm> {
        self.series.iter().filter_map(|s| s.carried).collect()
    }

    fn outgoing(&mut self, e: usize, series: usize, index: Option<usize>, point: Point) -> Outgoing {
        let s = &mut self.series[series];
        let first_on_endpoint = s.on != Some(e);
        s.on = Some(e);
        self.owed[e].push_back(Owed {
            series,
            index,
            point: point.clone(),
        });
        Outgoing {
            endpoint: e,
            series,
            point,
            first_on_endpoint,
            priming: index.is_none(),
        }
    }

    /// Send data point `index` (the caller's numbering) of `series` to its endpoint; `None` when
    /// no endpoint is left.
    pub fn send(&mut self, series: usize, index: usize, point: Point) -> Option<Outgoing> {
        let e = self.route(series)?;
        Some(self.outgoing(e, series, Some(index), point))
    }

    /// Endpoint `e` answered its oldest owed point: `series_id` at `timestamp`, with `verdict`.
    /// Returns what it answered and, when it decides an alarm the client carries, how.
    ///
    /// # Errors
    /// [`FeedError::Unexpected`] when `e` owed nothing or another point.
    pub fn answer(
        &mut self,
        e: usize,
        series_id: &str,
        timestamp: i64,
        verdict: Verdict,
    ) -> Result<(Answered, Option<CarriedEnd>), FeedError> {
        let unexpected = |detail: String| FeedError::Unexpected {
            endpoint: self.shards.endpoints()[e].clone(),
            detail,
        };
        let Some(front) = self.owed[e].front() else {
            return Err(unexpected(format!(
                "{series_id} at {timestamp} with nothing owed"
            )));
        };
        if self.ids[front.series] != series_id || front.point.timestamp != timestamp {
            return Err(unexpected(format!(
                "{series_id} at {timestamp}, expected {} at {}",
                self.ids[front.series], front.point.timestamp
            )));
        }
        let Owed { series, index, point } = self.owed[e].pop_front().expect("front exists");
        let lookback = self.lookback;
        let clear = self.clear;
        let s = &mut self.series[series];
        match verdict.event {
            Some(AlarmChange::Opened { start, peak }) => {
                s.open = Some(OpenAlarm {
                    start,
                    peak,
                    endpoint: e,
                });
            }
            Some(AlarmChange::Updated { peak }) => {
                if let Some(o) = &mut s.open {
                    o.peak = peak;
                }
            }
            Some(AlarmChange::Closed) => s.open = None,
            None => {}
        }
        let answered = match index {
            Some(index) => {
                if lookback > 0 {
                    if s.recent.len() == lookback {
                        s.recent.pop_front();
                    }
                    s.recent.push_back(point);
                }
                let stats = &mut self.stats[e];
                stats.points += 1;
                if !std::mem::replace(&mut s.answered_on[e], true) {
                    stats.series += 1;
                }
                Answered::Point { series, index }
            }
            None => {
                self.stats[e].primes += 1;
                Answered::Prime { series }
            }
        };
        let mut ended = None;
        if let Some(c) = &mut s.carried
            && c.on == e
        {
            if verdict.in_alarm {
                ended = Some(CarriedEnd::Reopened {
                    alarm: *c,
                    at: timestamp,
                });
            } else if index.is_some() && !verdict.warming_up {
                c.quiet += 1;
                if c.quiet >= clear {
                    ended = Some(CarriedEnd::Closed {
                        alarm: *c,
                        last: timestamp,
                    });
                }
            }
            if ended.is_some() {
                s.carried = None;
            }
        }
        Ok((answered, ended))
    }

    /// Endpoint `e` failed: drop it, move each of its series to its next-ranked live endpoint
    /// and re-prime it there. Failing an endpoint twice changes nothing.
    ///
    /// # Errors
    /// [`FeedError::NoEndpointLeft`] when `e` was the last live endpoint.
    pub fn fail(&mut self, e: usize) -> Result<Failover, FeedError> {
        if !self.live[e] {
            return Ok(Failover::default());
        }
        self.live[e] = false;
        self.stats[e].failed = true;
        if !self.live.contains(&true) {
            return Err(FeedError::NoEndpointLeft(self.live.len()));
        }
        let owed = std::mem::take(&mut self.owed[e]);
        let mut out = Failover::default();
        for series in 0..self.series.len() {
            let s = &self.series[series];
            if s.on != Some(e) && s.carried.is_none_or(|c| c.on != e) {
                continue;
            }
            let to = self.route(series).expect("a live endpoint is left");
            let s = &mut self.series[series];
            s.on = None;
            let carried = match (s.carried, s.open.take()) {
                (Some(c), _) => Some(CarriedAlarm {
                    on: to,
                    quiet: 0,
                    ..c
                }),
                (None, Some(o)) if o.endpoint == e => Some(CarriedAlarm {
                    series,
                    start: o.start,
                    peak: o.peak,
                    gone: e,
                    on: to,
                    primed: 0,
                    quiet: 0,
                }),
                (None, _) => None,
            };
            let primes: Vec<Point> = s.recent.iter().cloned().collect();
            let primed = primes.len();
            s.carried = carried.map(|c| CarriedAlarm { primed, ..c });
            for p in primes {
                let o = self.outgoing(to, series, None, p);
                out.outgoing.push(o);
            }
            let mut resent = 0;
            for o in owed.iter().filter(|o| o.series == series) {
                if let Some(index) = o.index {
                    let o = self.outgoing(to, series, Some(index), o.point.clone());
                    out.outgoing.push(o);
                    resent += 1;
                }
            }
            out.moves.push(Move {
                series,
                from: e,
                to,
                primed,
                resent,
                carried: self.series[series].carried,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: [&str; 3] = [
        "http://10.0.0.1:50051",
        "http://10.0.0.2:50051",
        "http://10.0.0.3:50051",
    ];

    fn point(t: i64) -> Point {
        Point {
            timestamp: t,
            values: vec![t as f64],
        }
    }

    const QUIET: Verdict = Verdict {
        warming_up: false,
        in_alarm: false,
        event: None,
    };

    /// `machine_000` ranks endpoints [0, 2, 1], `machine_005` [1, 0, 2] (see the rendezvous
    /// tests); `pump-7` [2, 1, 0].
    fn feed(lookback: usize) -> Feed {
        let ids = ["machine_000", "machine_005", "pump-7"]
            .map(String::from)
            .to_vec();
        Feed::new(Rendezvous::new(EPS).unwrap(), ids, lookback, 3)
    }

    /// Answer everything endpoint `e` owes with `verdict`; the data point indices answered.
    fn drain(f: &mut Feed, e: usize, verdict: Verdict) -> Vec<usize> {
        let mut got = Vec::new();
        while let Some(o) = f.owed[e].front().cloned() {
            let id = f.ids()[o.series].clone();
            if let (Answered::Point { index, .. }, _) = f.answer(e, &id, o.point.timestamp, verdict).unwrap()
            {
                got.push(index);
            }
        }
        got
    }

    #[test]
    fn points_go_to_the_top_ranked_endpoint_and_name_the_model_once() {
        let mut f = feed(4);
        let a = f.send(0, 0, point(0)).unwrap();
        let b = f.send(0, 1, point(1)).unwrap();
        let c = f.send(1, 2, point(0)).unwrap();
        assert_eq!((a.endpoint, a.first_on_endpoint, a.priming), (0, true, false));
        assert_eq!((b.endpoint, b.first_on_endpoint), (0, false));
        assert_eq!((c.endpoint, c.first_on_endpoint), (1, true));
        assert_eq!((f.owed(0), f.owed(1), f.owed(2)), (2, 1, 0));
        let err = f.answer(0, "machine_000", 1, QUIET).unwrap_err();
        assert!(matches!(err, FeedError::Unexpected { .. }), "{err}");
        assert_eq!(drain(&mut f, 0, QUIET), vec![0, 1]);
        assert!(f.answer(0, "machine_000", 2, QUIET).is_err());
        assert_eq!(drain(&mut f, 1, QUIET), vec![2]);
        assert!(f.settled());
        assert_eq!(
            f.stats()[0],
            EndpointStats {
                points: 2,
                primes: 0,
                series: 1,
                failed: false
            }
        );
    }

    /// A failed endpoint's series re-prime on their next-ranked endpoint from their last `L`
    /// answered points, then get the points it owed, then new points; every data point is
    /// answered once; other series stay where they are.
    #[test]
    fn failover_reprimes_from_the_last_l_points_and_resends_what_was_owed() {
        let mut f = feed(4);
        let mut index = 0;
        for t in 0..10 {
            for s in 0..3 {
                f.send(s, index, point(t)).unwrap();
                index += 1;
            }
        }
        // Endpoint 0 (machine_000's) answers its first 7 points, then dies.
        let id = "machine_000";
        for t in 0..7 {
            f.answer(0, id, t, QUIET).unwrap();
        }
        let fo = f.fail(0).unwrap();
        assert_eq!(fo.moves.len(), 1);
        let m = &fo.moves[0];
        assert_eq!((m.series, m.from, m.to, m.primed, m.resent), (0, 0, 2, 4, 3));
        assert_eq!(m.carried, None);
        let ts: Vec<(i64, bool, bool)> = fo
            .outgoing
            .iter()
            .map(|o| (o.point.timestamp, o.priming, o.first_on_endpoint))
            .collect();
        assert_eq!(
            ts,
            vec![
                (3, true, true),
                (4, true, false),
                (5, true, false),
                (6, true, false),
                (7, false, false),
                (8, false, false),
                (9, false, false)
            ]
        );
        assert!(fo.outgoing.iter().all(|o| o.endpoint == 2));
        // New points of machine_000 follow on endpoint 2; the other series did not move.
        assert_eq!(f.send(0, 30, point(10)).unwrap().endpoint, 2);
        assert_eq!(f.send(1, 31, point(10)).unwrap().endpoint, 1);
        let mut seen: Vec<usize> = (0..7).map(|t| 3 * t).collect();
        seen.extend(drain(&mut f, 1, QUIET));
        seen.extend(drain(&mut f, 2, QUIET));
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..32).collect::<Vec<_>>(),
            "every data point answered exactly once"
        );
        assert_eq!(f.stats()[2].primes, 4);
        assert!(f.stats()[0].failed);
        // Failing it again is a no-op; failing the rest ends the run.
        assert_eq!(f.fail(0).unwrap(), Failover::default());
        f.fail(1).unwrap();
        assert_eq!(f.fail(2), Err(FeedError::NoEndpointLeft(3)));
        assert_eq!(f.send(0, 32, point(11)), None);
    }

    #[test]
    fn a_series_with_fewer_than_l_points_reprimes_from_what_it_has() {
        let mut f = feed(24);
        f.send(2, 0, point(0)).unwrap();
        f.send(2, 1, point(1)).unwrap();
        f.answer(2, "pump-7", 0, QUIET).unwrap();
        let fo = f.fail(2).unwrap();
        assert_eq!(
            (fo.moves[0].to, fo.moves[0].primed, fo.moves[0].resent),
            (1, 1, 1)
        );
        assert!(fo.outgoing[0].first_on_endpoint && fo.outgoing[0].priming);
        // Without a look-back nothing is kept: the series starts afresh on the new endpoint.
        let mut f = feed(0);
        f.send(2, 0, point(0)).unwrap();
        f.answer(2, "pump-7", 0, QUIET).unwrap();
        let fo = f.fail(2).unwrap();
        assert_eq!((fo.moves[0].primed, fo.outgoing.len()), (0, 0));
        assert!(f.send(2, 1, point(1)).unwrap().first_on_endpoint);
    }

    fn alarm_open(f: &mut Feed) {
        for t in 0..5 {
            f.send(0, t as usize, point(t)).unwrap();
        }
        for t in 0..5 {
            let event = match t {
                3 => Some(AlarmChange::Opened { start: 3, peak: 9.0 }),
                4 => Some(AlarmChange::Updated { peak: 12.0 }),
                _ => None,
            };
            let verdict = Verdict {
                warming_up: t < 2,
                in_alarm: t >= 3,
                event,
            };
            assert_eq!(f.answer(0, "machine_000", t, verdict).unwrap().1, None);
        }
    }

    /// An alarm open on a failed endpoint is carried: reported with the move, then closed by
    /// the client after `clear` quiet scored points on the new endpoint (re-priming and
    /// warming-up answers do not count).
    #[test]
    fn a_carried_alarm_closes_after_clear_quiet_points() {
        let mut f = feed(2);
        alarm_open(&mut f);
        let fo = f.fail(0).unwrap();
        let c = fo.moves[0].carried.expect("the open alarm is carried");
        assert_eq!((c.start, c.peak, c.gone, c.on, c.primed), (3, 12.0, 0, 2, 2));
        assert_eq!(f.carried(), vec![c]);
        for t in 5..9 {
            f.send(0, t as usize, point(t)).unwrap();
        }
        let mut ends = Vec::new();
        for t in [3, 4, 5, 6, 7, 8] {
            let warming_up = t == 5;
            let (_, end) = f
                .answer(2, "machine_000", t, Verdict { warming_up, ..QUIET })
                .unwrap();
            ends.extend(end.map(|e| (t, e)));
        }
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(ends[0].0, 8, "3 quiet scored points after the warming-up one");
        assert!(matches!(ends[0].1, CarriedEnd::Closed { last: 8, alarm } if alarm.start == 3));
        assert!(f.carried().is_empty());
    }

    /// The new endpoint's detector reporting the series inside an alarm (on a re-priming point
    /// or later) takes the incident over; a second failover keeps carrying an undecided alarm.
    #[test]
    fn a_carried_alarm_is_reopened_or_carried_on() {
        let mut f = feed(2);
        alarm_open(&mut f);
        f.fail(0).unwrap();
        let inside = Verdict {
            in_alarm: true,
            ..QUIET
        };
        let (answered, end) = f.answer(2, "machine_000", 3, inside).unwrap();
        assert_eq!(answered, Answered::Prime { series: 0 });
        assert!(matches!(end, Some(CarriedEnd::Reopened { at: 3, alarm }) if alarm.gone == 0));

        let mut f = feed(2);
        alarm_open(&mut f);
        f.fail(0).unwrap();
        let fo = f.fail(2).unwrap();
        let c = fo.moves[0].carried.expect("still carried");
        assert_eq!((c.start, c.gone, c.on, c.primed, fo.moves[0].to), (3, 0, 1, 2, 1));
        assert_eq!(fo.moves[0].resent, 0);
    }
}
