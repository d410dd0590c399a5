//! Streaming detection of one series, one point at a time: raw values in, the artifact's scaler,
//! a ring buffer of the last `L` rows ([`OnlineWindow`]: validated, strictly increasing
//! timestamps), the model's output for the point — one recurrent state step for SpaceTime
//! ([`super::recurrent`], constant work per point), a forward pass over the fixed window for
//! other models — then the same [`PointScorer`] as the batch path. Work per point does not grow
//! with the stream; memory per series is fixed ([`StreamDetector::memory_bytes`]).
use std::sync::Arc;

use statecast_pipelines::frame::Micros;
use statecast_pipelines::online::OnlineWindow;

use super::alarms::AlarmSegment;
use super::detector::{Detector, PointResult, PointScorer};
use super::predict::{Predictor, WindowOutput};
use super::recurrent::RecurrentSeries;
use crate::{Error, Result};

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
            recurrent: predictor.recurrent_series(nv),
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
        let recurrent_out = self
            .recurrent
            .as_mut()
            .and_then(|state| self.predictor.push_recurrent(state, &x));
        if !self.window.is_ready() {
            return Ok(StreamOutput::WarmingUp {
                have: self.window.len(),
                need: self.window.lookback(),
            });
        }
        let nv = x.len();
        let out: WindowOutput = if let Some(out) = recurrent_out {
            out
        } else if matches!(*self.predictor, Predictor::Model { .. }) {
            self.window.window_into(&mut self.buf);
            self.predictor.run(&self.buf, 1, nv).remove(0)
        } else {
            self.predictor.run(&[], 1, nv).remove(0)
        };
        self.first_scored.get_or_insert(timestamp);
        self.scored += 1;
        Ok(StreamOutput::Scored(self.scorer.update(&self.detector, &x, &out)))
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
