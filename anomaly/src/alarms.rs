//! Alarm rules over flagged points (calibrated score above the threshold), one point at a time:
//!
//! - an alarm **opens** when at least `min_flags` of the last `window` points are flagged and the
//!   series is not in its suppression period;
//! - it stays open while the rule holds and **closes** once the rule has failed on `clear`
//!   consecutive points (1: at the first point where it does not; more merges the pieces of one
//!   incident whose score dips below the threshold now and then into one alarm);
//! - while open, it is **updated** when its peak score grows by more than half since it was last
//!   reported, or when another variate takes the lead of its attribution;
//! - after it closes, no new alarm opens for `suppress` points (the cooldown);
//! - **attribution**: each open alarm sums the per-variate scores of its flagged points; the
//!   variates with the largest shares are the sensors that drove it.
//!
//! Memory is `window` flags + `variates` sums per series, whatever the stream length.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The rule settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRules {
    /// Flags needed within the window (≥ 1).
    pub min_flags: usize,
    /// Window length in points (≥ `min_flags`).
    pub window: usize,
    /// Points after an alarm closes during which no new alarm opens.
    pub suppress: usize,
    /// Variates named in an alarm's attribution.
    pub top_k: usize,
    /// Consecutive points on which the rule fails that close an open alarm (≥ 1).
    #[serde(default = "one")]
    pub clear: usize,
}

fn one() -> usize {
    1
}

impl Default for AlarmRules {
    /// Any single flag opens an alarm; no suppression; three variates named.
    fn default() -> Self {
        Self {
            min_flags: 1,
            window: 1,
            suppress: 0,
            top_k: 3,
            clear: 1,
        }
    }
}

/// Peak growth (as a fraction of the last reported peak) that updates an open alarm.
const UPDATE_GROWTH: f64 = 0.5;

impl AlarmRules {
    /// The streaming monitor's rules: any flag opens an alarm, an alarm closes after 12 quiet
    /// points (an hour at 5-minute sampling) and is followed by a 12-point cooldown; three
    /// variates named.
    pub fn monitoring() -> Self {
        Self {
            min_flags: 1,
            window: 1,
            suppress: 12,
            top_k: 3,
            clear: 12,
        }
    }
}

impl AlarmRules {
    /// Check the settings.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.min_flags == 0 {
            return Err(Error::InvalidArgument {
                field: "min_flags".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.clear == 0 {
            return Err(Error::InvalidArgument {
                field: "clear".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.window < self.min_flags {
            return Err(Error::InvalidArgument {
                field: "window".into(),
                reason: format!("{} is shorter than min_flags {}", self.window, self.min_flags),
            });
        }
        Ok(())
    }
}

/// One variate's share of an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Variate index.
    pub variate: usize,
    /// Share of the summed per-variate scores over the alarm's flagged points, in [0, 1].
    pub share: f32,
}

/// A closed (or still open) alarm segment, in the series' point index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSegment {
    /// Point index where the alarm opened.
    pub start: u64,
    /// Point index after the last point of the alarm (exclusive).
    pub end: u64,
    /// Largest calibrated score inside.
    pub peak: f64,
    /// Variates that drove it, largest share first.
    pub top: Vec<Attribution>,
}

/// What one point did to the alarm state.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmEvent {
    /// An alarm opened at this point.
    Opened(AlarmSegment),
    /// The open alarm grew (peak or leading variate) at this point.
    Updated(AlarmSegment),
    /// The open alarm closed before this point.
    Closed(AlarmSegment),
}

/// Per-series alarm state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    rules: AlarmRules,
    /// Last `window` flags (ring).
    flags: Vec<bool>,
    head: usize,
    count: usize,
    /// Points seen.
    t: u64,
    /// First point index at which a new alarm may open.
    quiet_until: u64,
    open: Option<AlarmSegment>,
    /// Per-variate score sums of the open alarm.
    sums: Vec<f64>,
    /// Consecutive points on which the rule has failed while an alarm is open.
    #[serde(default)]
    failing: usize,
    /// Peak and leading variate of the open alarm when it was last reported.
    #[serde(default)]
    reported: Option<(f64, Option<usize>)>,
}

impl AlarmState {
    /// A fresh state (rules must be valid).
    pub fn new(rules: AlarmRules, n_variates: usize) -> Self {
        Self {
            flags: vec![false; rules.window.max(1)],
            rules,
            head: 0,
            count: 0,
            t: 0,
            quiet_until: 0,
            open: None,
            sums: vec![0.0; n_variates],
            failing: 0,
            reported: None,
        }
    }

    /// Whether an alarm is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The open alarm, with its attribution so far.
    pub fn current(&self) -> Option<AlarmSegment> {
        self.open.as_ref().map(|a| AlarmSegment {
            end: self.t,
            top: self.top(),
            ..a.clone()
        })
    }

    fn top(&self) -> Vec<Attribution> {
        let total: f64 = self.sums.iter().sum();
        let mut idx: Vec<usize> = (0..self.sums.len()).collect();
        idx.sort_by(|&a, &b| self.sums[b].total_cmp(&self.sums[a]));
        idx.into_iter()
            .take(self.rules.top_k)
            .filter(|&v| self.sums[v] > 0.0)
            .map(|v| Attribution {
                variate: v,
                share: if total > 0.0 {
                    (self.sums[v] / total) as f32
                } else {
                    0.0
                },
            })
            .collect()
    }

    /// Consume one point: its calibrated score `z`, the threshold, and its per-variate scores.
    /// Returns whether the point lies in an alarm, and the event it caused (if any).
    pub fn update(&mut self, z: f64, threshold: f64, per_variate: &[f32]) -> (bool, Option<AlarmEvent>) {
        let flag = z > threshold;
        let w = self.flags.len();
        if self.flags[self.head] {
            self.count -= 1;
        }
        self.flags[self.head] = flag;
        self.count += usize::from(flag);
        self.head = (self.head + 1) % w;
        let holds = self.count >= self.rules.min_flags;
        let t = self.t;
        self.t += 1;
        let mut event = None;
        if self.open.is_some() {
            self.failing = if holds { 0 } else { self.failing + 1 };
        }
        if self.open.is_some() && self.failing >= self.rules.clear.max(1) {
            let mut seg = self.current().unwrap_or_else(|| unreachable!());
            seg.end = t;
            self.open = None;
            self.reported = None;
            self.quiet_until = t + self.rules.suppress as u64;
            event = Some(AlarmEvent::Closed(seg));
        } else if self.open.is_none() && holds && t >= self.quiet_until {
            self.sums.iter_mut().for_each(|s| *s = 0.0);
            self.failing = 0;
            self.open = Some(AlarmSegment {
                start: t,
                end: t + 1,
                peak: z,
                top: Vec::new(),
            });
        }
        if let Some(a) = self.open.as_mut() {
            a.peak = a.peak.max(z);
            if flag {
                for (s, &p) in self.sums.iter_mut().zip(per_variate) {
                    *s += f64::from(p);
                }
            }
            let seg = AlarmSegment {
                start: a.start,
                end: t + 1,
                peak: a.peak,
                top: self.top(),
            };
            let lead = seg.top.first().map(|a| a.variate);
            if seg.start == t {
                self.reported = Some((seg.peak, lead));
                event = Some(AlarmEvent::Opened(seg));
            } else if let Some((peak, reported_lead)) = self.reported
                && (seg.peak > peak + UPDATE_GROWTH * peak.abs() || (lead.is_some() && lead != reported_lead))
            {
                self.reported = Some((seg.peak, lead));
                event = Some(AlarmEvent::Updated(seg));
            }
        }
        (self.open.is_some(), event)
    }

    /// Close the open alarm at the end of the data.
    pub fn finish(&mut self) -> Option<AlarmSegment> {
        let seg = self.current();
        self.open = None;
        seg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rules: AlarmRules, z: &[f64]) -> (Vec<bool>, Vec<AlarmSegment>) {
        let mut s = AlarmState::new(rules, 2);
        let mut labels = Vec::new();
        let mut segs = Vec::new();
        for (i, &x) in z.iter().enumerate() {
            // Variate 1 drives every point except 4, where variate 0 dominates.
            let pv = if i == 4 { [2.0, 0.5] } else { [0.0, 1.0] };
            let (open, ev) = s.update(x, 1.0, &pv);
            labels.push(open);
            if let Some(AlarmEvent::Closed(seg)) = ev {
                segs.push(seg);
            }
        }
        segs.extend(s.finish());
        (labels, segs)
    }

    #[test]
    fn k_of_n_rule_and_suppression() {
        let rules = AlarmRules {
            min_flags: 2,
            window: 3,
            suppress: 4,
            top_k: 2,
            clear: 1,
        };
        rules.validate().unwrap();
        // Flags at 1, 3, 4 → 2-of-3 holds at 3 (flags 1, 3) and 4, 5 (flags 3,4 / 4 + …);
        // at 6 window {4,5,6} has one flag → closes. Flags 8, 9 satisfy the rule at 9, inside the
        // suppression period (until 10); it opens at 10 and runs to the end.
        let z = [0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 2.0, 2.0];
        let (labels, segs) = run(rules, &z);
        let opened: Vec<usize> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(opened, vec![3, 4, 5, 10, 11, 12]);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].start, segs[0].end), (3, 6));
        assert_eq!((segs[1].start, segs[1].end), (10, 13));
        // Attribution of the first alarm: flagged points 3 ([0,1]) and 4 ([2,0.5]) → v0 2, v1 1.5.
        assert_eq!(segs[0].top[0].variate, 0);
        assert!((segs[0].top[0].share - 2.0 / 3.5).abs() < 1e-6);
    }

    #[test]
    fn lifecycle_opens_updates_and_closes_after_clear_quiet_points_then_cools_down() {
        let rules = AlarmRules {
            min_flags: 1,
            window: 1,
            suppress: 3,
            top_k: 1,
            clear: 2,
        };
        let mut s = AlarmState::new(rules, 2);
        // (score, per-variate) per point; threshold 1.
        let pts: [(f64, [f32; 2]); 12] = [
            (0.0, [0.0, 0.0]),
            (2.0, [2.0, 0.0]), // opens, v0 leads
            (2.5, [2.5, 0.0]), // peak +25 %: no update
            (0.5, [0.0, 0.0]), // one quiet point: still open
            (3.5, [0.0, 9.0]), // peak 3.5 > 1.5 · 2.0 and v1 leads: update
            (0.0, [0.0, 0.0]),
            (0.0, [0.0, 0.0]), // second quiet point: closes here
            (5.0, [5.0, 0.0]), // cooldown (until 6 + 3 = 9)
            (5.0, [5.0, 0.0]),
            (5.0, [5.0, 0.0]), // opens again at 9
            (0.0, [0.0, 0.0]),
            (0.0, [0.0, 0.0]),
        ];
        let mut events = Vec::new();
        let mut open = Vec::new();
        for (i, (z, pv)) in pts.iter().enumerate() {
            let (o, ev) = s.update(*z, 1.0, pv);
            open.push(o);
            if let Some(ev) = ev {
                events.push((i, ev));
            }
        }
        let kinds: Vec<(usize, &str)> = events
            .iter()
            .map(|(i, e)| {
                (
                    *i,
                    match e {
                        AlarmEvent::Opened(_) => "opened",
                        AlarmEvent::Updated(_) => "updated",
                        AlarmEvent::Closed(_) => "closed",
                    },
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, "opened"),
                (4, "updated"),
                (6, "closed"),
                (9, "opened"),
                (11, "closed")
            ]
        );
        let AlarmEvent::Updated(u) = &events[1].1 else {
            unreachable!()
        };
        assert_eq!((u.peak, u.top[0].variate), (3.5, 1));
        let AlarmEvent::Closed(c) = &events[2].1 else {
            unreachable!()
        };
        assert_eq!((c.start, c.end, c.peak), (1, 6, 3.5));
        assert_eq!(
            open,
            vec![
                false, true, true, true, true, true, false, false, false, true, true, false
            ]
        );
    }

    #[test]
    fn rejects_bad_rules() {
        let bad = AlarmRules {
            min_flags: 3,
            window: 2,
            ..Default::default()
        };
        assert!(matches!(bad.validate(), Err(Error::InvalidArgument { field, .. }) if field == "window"));
        let bad = AlarmRules {
            clear: 0,
            ..Default::default()
        };
        assert!(matches!(bad.validate(), Err(Error::InvalidArgument { field, .. }) if field == "clear"));
    }
}
