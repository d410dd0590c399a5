//! Live input: the last `L` rows of each series, kept in fixed-size ring buffers.
//!
//! [`OnlineWindow`] holds one series; [`OnlineWindows`] holds many, keyed by series id, with a
//! bound on the number of series and idle expiry. Pushes are validated (variate count, strictly
//! increasing timestamps, finite values, spacing on the frequency grid) and a rejected push
//! leaves the state unchanged. Both types serialise with serde so that state survives a restart.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{Frequency, Micros, format_micros};

/// What a push does when timestamps skip one or more steps of the frequency grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum GapPolicy {
    /// Reject the push with [`Error::MissingValues`] (column `<time grid>`); the state is
    /// unchanged, so the caller may [`reset`](OnlineWindow::reset) and push again.
    #[default]
    Error,
    /// Accept the push but drop the rows held so far: the window restarts from this row and is
    /// ready again after `L` contiguous rows. Counted in [`OnlineWindow::gaps`].
    Restart,
}

/// The last `lookback` rows of one series in a ring buffer of `lookback × variates` values.
/// Push is O(variates), memory is fixed at creation. Equality compares the logical state (rows
/// oldest first, timestamps, counters), not the ring position.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "OnlineWindowState", into = "OnlineWindowState")]
pub struct OnlineWindow {
    id: String,
    lookback: usize,
    n_variates: usize,
    frequency: Option<Frequency>,
    gap_policy: GapPolicy,
    /// Ring of rows, [lookback, variates] row-major; slot `head` is written next.
    buf: Vec<f32>,
    head: usize,
    len: usize,
    last_timestamp: Option<Micros>,
    pushed: u64,
    gaps: u64,
}

/// Serialised form of [`OnlineWindow`]: rows oldest first, so the ring position is not part of
/// the format.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OnlineWindowState {
    id: String,
    lookback: usize,
    n_variates: usize,
    frequency: Option<Frequency>,
    gap_policy: GapPolicy,
    /// Rows held, [rows, variates] row-major, oldest first.
    rows: Vec<f32>,
    last_timestamp: Option<Micros>,
    pushed: u64,
    gaps: u64,
}

impl From<OnlineWindow> for OnlineWindowState {
    fn from(w: OnlineWindow) -> Self {
        let rows = w.window();
        Self {
            id: w.id,
            lookback: w.lookback,
            n_variates: w.n_variates,
            frequency: w.frequency,
            gap_policy: w.gap_policy,
            rows,
            last_timestamp: w.last_timestamp,
            pushed: w.pushed,
            gaps: w.gaps,
        }
    }
}

impl TryFrom<OnlineWindowState> for OnlineWindow {
    type Error = Error;

    fn try_from(s: OnlineWindowState) -> Result<Self> {
        let mut w =
            OnlineWindow::new(s.id, s.lookback, s.n_variates, s.frequency)?.with_gap_policy(s.gap_policy);
        let c = s.n_variates;
        if !s.rows.len().is_multiple_of(c)
            || s.rows.len() / c > s.lookback
            || !s.rows.iter().all(|v| v.is_finite())
        {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "saved online window of series `{}` holds {} values, not at most {} finite rows of {c} variates",
                    w.id,
                    s.rows.len(),
                    s.lookback
                ),
            });
        }
        if s.last_timestamp.is_none() && !s.rows.is_empty() {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "saved online window of series `{}` has rows but no last timestamp",
                    w.id
                ),
            });
        }
        w.len = s.rows.len() / c;
        w.buf[..s.rows.len()].copy_from_slice(&s.rows);
        w.head = w.len % w.lookback;
        w.last_timestamp = s.last_timestamp;
        w.pushed = s.pushed;
        w.gaps = s.gaps;
        Ok(w)
    }
}

impl PartialEq for OnlineWindow {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.lookback == other.lookback
            && self.n_variates == other.n_variates
            && self.frequency == other.frequency
            && self.gap_policy == other.gap_policy
            && self.len == other.len
            && self.last_timestamp == other.last_timestamp
            && self.pushed == other.pushed
            && self.gaps == other.gaps
            && self.window() == other.window()
    }
}

impl OnlineWindow {
    /// An empty window of `lookback` rows of `n_variates` values for series `id`. With a
    /// `frequency`, pushes must lie on that grid and skipped steps are gaps (see [`GapPolicy`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `lookback` or `n_variates` is 0.
    pub fn new(
        id: impl Into<String>,
        lookback: usize,
        n_variates: usize,
        frequency: Option<Frequency>,
    ) -> Result<Self> {
        if lookback == 0 || n_variates == 0 {
            return Err(Error::invalid(
                "online window",
                format!("lookback ({lookback}) and variates ({n_variates}) must be at least 1"),
            ));
        }
        Ok(Self {
            id: id.into(),
            lookback,
            n_variates,
            frequency,
            gap_policy: GapPolicy::default(),
            buf: vec![0.0; lookback * n_variates],
            head: 0,
            len: 0,
            last_timestamp: None,
            pushed: 0,
            gaps: 0,
        })
    }

    /// The same window with another gap policy.
    pub fn with_gap_policy(mut self, policy: GapPolicy) -> Self {
        self.gap_policy = policy;
        self
    }

    /// Series id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Look-back `L`.
    pub fn lookback(&self) -> usize {
        self.lookback
    }

    /// Variates per row.
    pub fn n_variates(&self) -> usize {
        self.n_variates
    }

    /// Rows held (≤ `L`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True once `L` contiguous rows are held.
    pub fn is_ready(&self) -> bool {
        self.len == self.lookback
    }

    /// Timestamp of the newest row (kept across [`GapPolicy::Restart`]).
    pub fn last_timestamp(&self) -> Option<Micros> {
        self.last_timestamp
    }

    /// Rows accepted since creation.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Gaps met under [`GapPolicy::Restart`].
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Append one row, `row`: [variates], at `timestamp`; the oldest row drops out once `L`
    /// rows are held. Nothing changes when an error is returned.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a wrong number of values; [`Error::NonFinite`] for NaN or
    /// ±inf; [`Error::DuplicateTimestamp`] / [`Error::UnsortedTimestamps`] when `timestamp` is
    /// not after the previous one; [`Error::IrregularSpacing`] for a step that is not a multiple
    /// of the frequency; [`Error::MissingValues`] for skipped steps under [`GapPolicy::Error`].
    /// Row numbers in errors count the rows accepted so far.
    pub fn push(&mut self, timestamp: Micros, row: &[f32]) -> Result<()> {
        self.push_named(timestamp, row, None)
    }

    fn push_named(&mut self, timestamp: Micros, row: &[f32], columns: Option<&[String]>) -> Result<()> {
        let at = usize::try_from(self.pushed).unwrap_or(usize::MAX);
        if row.len() != self.n_variates {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "series `{}`: a pushed row has {} values, the window expects {} variates",
                    self.id,
                    row.len(),
                    self.n_variates
                ),
            });
        }
        if let Some((c, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let column = columns
                .and_then(|cols| cols.get(c).cloned())
                .unwrap_or_else(|| format!("#{c}"));
            return Err(Error::NonFinite {
                column,
                series: self.id.clone(),
                row: at,
                value: v.to_string(),
            });
        }
        let mut restart = false;
        if let Some(last) = self.last_timestamp {
            if timestamp == last {
                return Err(Error::DuplicateTimestamp {
                    series: self.id.clone(),
                    row: at,
                    timestamp: format_micros(timestamp),
                });
            }
            if timestamp < last {
                return Err(Error::UnsortedTimestamps {
                    series: self.id.clone(),
                    row: at,
                    previous: format_micros(last),
                    next: format_micros(timestamp),
                });
            }
            if let Some(f) = self.frequency {
                let step = timestamp
                    .checked_sub(last)
                    .ok_or_else(|| Error::TimestampOverflow {
                        series: self.id.clone(),
                        row: at,
                        what: format!(
                            "the step from {} to {}",
                            format_micros(last),
                            format_micros(timestamp)
                        ),
                    })?;
                if step % f.micros != 0 {
                    return Err(Error::IrregularSpacing {
                        series: self.id.clone(),
                        row: at,
                        step: Frequency::from_micros(step).to_string(),
                        frequency: f.to_string(),
                    });
                }
                let missing = step / f.micros - 1;
                if missing > 0 {
                    match self.gap_policy {
                        GapPolicy::Error => {
                            return Err(Error::MissingValues {
                                column: "<time grid>".into(),
                                series: self.id.clone(),
                                count: usize::try_from(missing).unwrap_or(usize::MAX),
                                first_row: at,
                            });
                        }
                        GapPolicy::Restart => restart = true,
                    }
                }
            }
        }
        if restart {
            self.gaps += 1;
            self.head = 0;
            self.len = 0;
        }
        let c = self.n_variates;
        self.buf[self.head * c..(self.head + 1) * c].copy_from_slice(row);
        self.head = (self.head + 1) % self.lookback;
        self.len = (self.len + 1).min(self.lookback);
        self.last_timestamp = Some(timestamp);
        self.pushed += 1;
        Ok(())
    }

    /// The rows held, oldest first, [len, variates] row-major; `[L, variates]` once
    /// [`is_ready`](Self::is_ready).
    pub fn window(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len * self.n_variates];
        self.window_into(&mut out);
        out
    }

    /// Copy the rows held, oldest first, into `out[..len · variates]`; returns the number of
    /// rows copied. Panics if `out` is shorter.
    pub fn window_into(&self, out: &mut [f32]) -> usize {
        let c = self.n_variates;
        let oldest = (self.head + self.lookback - self.len) % self.lookback;
        let first = (self.lookback - oldest).min(self.len);
        out[..first * c].copy_from_slice(&self.buf[oldest * c..(oldest + first) * c]);
        out[first * c..self.len * c].copy_from_slice(&self.buf[..(self.len - first) * c]);
        self.len
    }

    /// Drop the rows held and the last timestamp (counters are kept).
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
        self.last_timestamp = None;
    }

    /// Approximate bytes used (struct, id and ring buffer).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.id.capacity() + self.buf.capacity() * std::mem::size_of::<f32>()
    }
}

/// Online windows of many series sharing columns, look-back and frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineWindows {
    columns: Vec<String>,
    lookback: usize,
    frequency: Option<Frequency>,
    gap_policy: GapPolicy,
    max_series: usize,
    windows: BTreeMap<String, OnlineWindow>,
}

impl OnlineWindows {
    /// An empty set for rows of `columns` ([variates]), keeping `lookback` rows per series and
    /// at most `max_series` series.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `columns` is empty or `lookback`/`max_series` is 0.
    pub fn new(
        columns: Vec<String>,
        lookback: usize,
        frequency: Option<Frequency>,
        max_series: usize,
    ) -> Result<Self> {
        if columns.is_empty() || lookback == 0 || max_series == 0 {
            return Err(Error::invalid(
                "online windows",
                format!(
                    "need at least one column, lookback >= 1 and max_series >= 1 (got {} columns, lookback {lookback}, max_series {max_series})",
                    columns.len()
                ),
            ));
        }
        Ok(Self {
            columns,
            lookback,
            frequency,
            gap_policy: GapPolicy::default(),
            max_series,
            windows: BTreeMap::new(),
        })
    }

    /// The same set with another gap policy for windows created from now on.
    pub fn with_gap_policy(mut self, policy: GapPolicy) -> Self {
        self.gap_policy = policy;
        self
    }

    /// Column names, [variates].
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Look-back `L`.
    pub fn lookback(&self) -> usize {
        self.lookback
    }

    /// The bound on the number of series.
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// True when no series is held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Series ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.windows.keys().map(String::as_str)
    }

    /// The window of series `id`.
    pub fn get(&self, id: &str) -> Option<&OnlineWindow> {
        self.windows.get(id)
    }

    /// Forget series `id`.
    pub fn remove(&mut self, id: &str) -> Option<OnlineWindow> {
        self.windows.remove(id)
    }

    /// Push one row ([variates]) of series `id`, creating its window on first use, and return
    /// the window. Nothing changes when an error is returned.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] when `id` is new and `max_series` series are held; otherwise as
    /// [`OnlineWindow::push`] (with column names in [`Error::NonFinite`]).
    pub fn push(&mut self, id: &str, timestamp: Micros, row: &[f32]) -> Result<&OnlineWindow> {
        if !self.windows.contains_key(id) {
            if self.windows.len() >= self.max_series {
                return Err(Error::LimitExceeded {
                    what: format!("online windows: cannot add series `{id}`, too many live series"),
                    limit: self.max_series,
                });
            }
            let mut w = OnlineWindow::new(id, self.lookback, self.columns.len(), self.frequency)?
                .with_gap_policy(self.gap_policy);
            w.push_named(timestamp, row, Some(&self.columns))?;
            self.windows.insert(id.to_string(), w);
        } else if let Some(w) = self.windows.get_mut(id) {
            w.push_named(timestamp, row, Some(&self.columns))?;
        }
        Ok(&self.windows[id])
    }

    /// Remove the series whose newest row is older than `now − max_idle` (both in
    /// microseconds of the data's clock) and return their ids, sorted.
    pub fn expire_idle(&mut self, now: Micros, max_idle: i64) -> Vec<String> {
        let cutoff = now.saturating_sub(max_idle);
        let expired: Vec<String> = self
            .windows
            .iter()
            .filter(|(_, w)| w.last_timestamp().is_none_or(|t| t < cutoff))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.windows.remove(id);
        }
        expired
    }

    /// Approximate bytes used by the set (windows, keys, map nodes).
    pub fn memory_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<String>() + 2 * std::mem::size_of::<usize>();
        std::mem::size_of::<Self>()
            + self
                .columns
                .iter()
                .map(|c| c.capacity() + std::mem::size_of::<String>())
                .sum::<usize>()
            + self
                .windows
                .iter()
                .map(|(k, w)| k.capacity() + per_entry + w.memory_bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_keeps_order() {
        let mut w = OnlineWindow::new("s", 3, 2, None).unwrap();
        for t in 0..7i64 {
            w.push(t, &[t as f32, -(t as f32)]).unwrap();
            let n = (t as usize + 1).min(3);
            let expect: Vec<f32> = (t + 1 - n as i64..=t)
                .flat_map(|k| [k as f32, -(k as f32)])
                .collect();
            assert_eq!(w.window(), expect, "after t={t}");
        }
        assert!(w.is_ready());
        let mem = w.memory_bytes();
        for t in 7..1000 {
            w.push(t, &[0.0, 0.0]).unwrap();
        }
        assert_eq!(w.memory_bytes(), mem);
    }

    #[test]
    fn serde_round_trip_mid_ring() {
        let mut w = OnlineWindow::new("s", 4, 1, Some(Frequency::from_micros(10))).unwrap();
        for t in 0..6i64 {
            w.push(t * 10, &[t as f32]).unwrap();
        }
        let json = serde_json::to_string(&w).unwrap();
        let mut back: OnlineWindow = serde_json::from_str(&json).unwrap();
        assert_eq!(back.window(), w.window());
        back.push(60, &[6.0]).unwrap();
        assert_eq!(back.window(), vec![3.0, 4.0, 5.0, 6.0]);
        let bad = json.replace("\"lookback\":4", "\"lookback\":2");
        assert!(serde_json::from_str::<OnlineWindow>(&bad).is_err());
    }
}
