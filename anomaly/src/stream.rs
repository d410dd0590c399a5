//! Streaming detection of one series, one point at a time: raw values in, the artifact's scaler,
//! a ring buffer of the last `L` rows ([`OnlineWindow`]: validated, strictly increasing
//! timestamps), the model's output for the point — one recurrent state step for SpaceTime
//! ([`statecast_models::streaming`], constant work per point), a forward pass over the fixed window for
//! other models — then the same [`PointScorer`] as the batch path. Work per point does not grow
//! with the stream; memory per series is fixed ([`StreamDetector::memory_bytes`]).
use std::sync::Arc;

use statecast_pipelines::frame::Micros;
use statecast_pipelines::online::OnlineWindow;

use super::alarms::AlarmSegment;
use super::detector::{Detector, PointResult, PointScorer};
use super::predict::{Predictor, WindowOutput};
use crate::{Error, Result};
use statecast_models::streaming::RecurrentSeries;

/// Per-series streaming state.
#[derive(Debug, Clone)]
pub struct StreamDetector {
    detector: Arc<Detector>,
    predictor: Arc<Predictor>,
    /// Scaler centre and spread, [variates].
    center: Vec<f32>,
    scale: Vec<f32>,
    window: OnlineWindow,
    /// Recurrent model state (recurrent predictors only).
    recurrent: Option<RecurrentSeries>,
    scorer: PointScorer,
    /// Timestamp of the first scored point (to map alarm point indices back to time).
    first_scored: Option<Micros>,
    /// Timestamps of pushed points are kept only as `first_scored` and the window's last one.
    scored: u64,
    buf: Vec<f32>,
}

/// A row taken in by [`StreamDetector::accept`], waiting to be scored.
#[derive(Debug, Clone)]
pub struct AcceptedRow {
    timestamp: Micros,
    /// The row on the scaled axis, [variates].
    x: Vec<f32>,
}

impl AcceptedRow {
    /// Timestamp of the row.
    pub fn timestamp(&self) -> Micros {
        self.timestamp
    }
}

/// What one push produced.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOutput {
    /// Still filling the look-back window (`have` of `need` rows).
    WarmingUp {
        /// Rows held.
        have: usize,
        /// Rows needed.
        need: usize,
    },
    /// A scored point.
    Scored(PointResult),
}

impl StreamDetector {
    /// A fresh stream for series `id`; `center`/`scale` are the scaler statistics for it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the sizes disagree.
    pub fn new(
        id: &str,
        detector: Arc<Detector>,
        predictor: Arc<Predictor>,
        center: Vec<f32>,
        scale: Vec<f32>,
    ) -> Result<Self> {
        let nv = detector.columns.len();
        if center.len() != nv || scale.len() != nv || predictor.lookback() != detector.lookback {
            return Err(Error::InvalidArgument {
                field: "detector".into(),
                reason: format!(
                    "scaler has {} variates, detector {nv}; look-back {} vs {}",
                    center.len(),
                    predictor.lookback(),
                    detector.lookback
                ),
            });
        }
        detector.check_mode(&predictor)?;
        let window = OnlineWindow::new(id, detector.lookback, nv, None)?;
        Ok(Self {
            recurrent: predictor
                .recurrent_series(nv)
                .map(|r| r.with_needed_steps(&detector.features.needed_steps())),
            scorer: PointScorer::new(&detector, id),
            buf: vec![0.0; detector.lookback * nv],
            detector,
            predictor,
            center,
            scale,
            window,
            first_scored: None,
            scored: 0,
        })
    }

    /// Push one row of raw values at `timestamp`. A rejected push (wrong variate count, NaN/inf,
    /// timestamp not after the previous one) leaves the state unchanged.
    ///
    /// # Errors
    /// [`Error::Data`] from the window's validation.
    pub fn push(&mut self, timestamp: Micros, raw: &[f32]) -> Result<StreamOutput> {
        let row = self.accept(timestamp, raw)?;
        Ok(score_many(&mut [(self, row)]).remove(0))
    }

    /// First half of [`Self::push`]: validate the row, scale it and take it into the window. The
    /// row is scored by [`score_many`] (with rows of other series, one model call for all).
    /// A rejected row leaves the state unchanged; an accepted one must be scored before this
    /// series' next row is accepted.
    ///
    /// # Errors
    /// [`Error::Data`] from the window's validation.
    pub fn accept(&mut self, timestamp: Micros, raw: &[f32]) -> Result<AcceptedRow> {
        let x: Vec<f32> = raw
            .iter()
            .zip(self.center.iter().zip(&self.scale))
            .map(|(v, (c, s))| (v - c) / s)
            .collect();
        if raw.len() != self.center.len() {
            // Let the window produce the typed error.
            self.window.push(timestamp, raw)?;
        }
        self.window.push(timestamp, &x)?;
        Ok(AcceptedRow { timestamp, x })
    }

    /// The threshold this series is held to (its own, or the fleet's).
    pub fn threshold(&self) -> f64 {
        self.scorer.threshold()
    }

    /// Points scored so far.
    pub fn scored(&self) -> u64 {
        self.scored
    }

    /// Timestamp of the last accepted point.
    pub fn last_timestamp(&self) -> Option<Micros> {
        self.window.last_timestamp()
    }

    /// Close the open alarm (end of stream).
    pub fn finish(&mut self) -> Option<AlarmSegment> {
        self.scorer.finish()
    }

    /// Bytes held by this series' state (window, forecasts ring, running averages), approximately.
    pub fn memory_bytes(&self) -> usize {
        let d = &self.detector;
        let nv = d.columns.len();
        let k = d.features.steps.max(1);
        let lags = d.cross.as_ref().map_or(0, |c| c.lags);
        self.window.memory_bytes()
            + self.buf.len() * 4
            + (k * k * nv + (d.features.drift_lag + d.features.season + lags + 1) * nv + 14 * nv) * 4
            + d.rules.window
            + 2 * nv * 4
            + self
                .recurrent
                .as_ref()
                .map_or(0, |r| self.predictor.recurrent_bytes(r))
    }
}

/// Score rows accepted by distinct streams ([`StreamDetector::accept`]; at most one row per
/// stream), with one model call per model and stage for all of them: recurrent streams of one
/// predictor advance together ([`statecast_models::streaming::push_many`]), windowed ones run their windows
/// as one batch ([`Predictor::run`]). Each stream ends as [`StreamDetector::push`] alone would
/// leave it, and its output is the same up to float rounding of the batched products.
pub fn score_many(rows: &mut [(&mut StreamDetector, AcceptedRow)]) -> Vec<StreamOutput> {
    let mut outs: Vec<Option<WindowOutput>> = vec![None; rows.len()];
    // Streams grouped by predictor (usually one per session), in first-seen order.
    let mut groups: Vec<(Arc<Predictor>, Vec<usize>)> = Vec::new();
    for (i, (d, _)) in rows.iter().enumerate() {
        match groups.iter_mut().find(|(p, _)| Arc::ptr_eq(p, &d.predictor)) {
            Some((_, members)) => members.push(i),
            None => groups.push((d.predictor.clone(), vec![i])),
        }
    }
    for (predictor, members) in groups {
        if predictor.is_recurrent() {
            let mut series = Vec::with_capacity(members.len());
            let mut xs: Vec<&[f32]> = Vec::with_capacity(members.len());
            for (d, row) in rows.iter_mut() {
                if Arc::ptr_eq(&d.predictor, &predictor) {
                    series.push(
                        d.recurrent
                            .as_mut()
                            .expect("a recurrent predictor's stream has a state"),
                    );
                    xs.push(&row.x);
                }
            }
            for (&i, out) in members
                .iter()
                .zip(predictor.push_recurrent_many(&mut series, &xs))
            {
                outs[i] = out;
            }
            continue;
        }
        let ready: Vec<usize> = members
            .into_iter()
            .filter(|&i| rows[i].0.window.is_ready())
            .collect();
        let Some(&first) = ready.first() else { continue };
        let nv = rows[first].1.x.len();
        let batch = if matches!(*predictor, Predictor::Model { .. }) {
            let mut windows = Vec::with_capacity(ready.len() * predictor.lookback() * nv);
            for &i in &ready {
                let d = &mut *rows[i].0;
                d.window.window_into(&mut d.buf);
                windows.extend_from_slice(&d.buf);
            }
            predictor.run(&windows, ready.len(), nv)
        } else {
            predictor.run(&[], ready.len(), nv)
        };
        for (i, out) in ready.into_iter().zip(batch) {
            outs[i] = Some(out);
        }
    }
    rows.iter_mut()
        .zip(outs)
        .map(|((d, row), out)| {
            if !d.window.is_ready() {
                return StreamOutput::WarmingUp {
                    have: d.window.len(),
                    need: d.window.lookback(),
                };
            }
            let out = out.expect("a ready window has a model output");
            d.first_scored.get_or_insert(row.timestamp);
            d.scored += 1;
            StreamOutput::Scored(d.scorer.update(&d.detector, &row.x, &out))
        })
        .collect()
}
