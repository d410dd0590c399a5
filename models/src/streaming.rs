//! Streaming outputs (forecasts and reconstructions) for any model with a recurrent form ([`Stepper`]): constant work per
//! point, whatever the look-back.
//!
//! A window path re-runs the model over the last `L` rows
//! at every point (`O(L)` work per point). Here each series keeps the model's recurrent state and
//! advances it by one step per point; the `K`-step forecast comes from that state
//! ([`Stepper::forecast_state`], a closed-loop rollout for SpaceTime).
//!
//! **Renewal.** A model may normalise each window by its own statistics (SpaceTime subtracts
//! the window mean), which a running state cannot update: its statistics are fixed when it is
//! primed. A stream that runs for days would drift away from them, and even within a few dozen
//! points a state anchored to an older window's level forecasts something else than the model
//! does for the current window. So every `R` points (`R` = [`RecurrentSeries::renew_every`],
//! the look-back `L` by default) the series' state is primed again on its last `L` rows:
//!
//! ```text
//! rows:   0 ........ L−1 | L ....... L+R−2 | L+R−1 | L+R ..... L+2R−2 | L+2R−1 | …
//! state:  primed on rows   stepped           primed on rows             primed on rows
//!         0..L−1           (one row each)    R..L+R−1       stepped      2R..L+2R−1
//! ```
//!
//! At each priming the output equals the window path's for that window exactly (up to float
//! rounding); in between, the state has consumed fewer than `R` rows more than its window and
//! normalises with statistics fewer than `R` rows old. `R = 1` is the window path itself.
//! Priming is one pass of the model over the window in convolution form ([`Stepper::prime_each`],
//! its weight-only work kept in the [`StreamPlan`]), so per point the model does one step, a
//! `K`-step forecast and `1/R` of a window pass. Memory per series is one state plus the last `L`
//! rows. Families without per-window statistics renew the same way; for them the renewal only
//! forgets rows older than the window, as the window path does.
//!
//! **Reconstruction.** When the model reconstructs ([`crate::forecaster::Forecaster::reconstructor`]),
//! the reconstruction of row `t` here is the state's one-step prediction made after row `t − 1`
//! (for SpaceTime exactly what its window reconstruction holds).
//!
//! Users: the anomaly crate's batch and streaming scoring (one state machine, so their scores are
//! identical) and the server's live forecasts (`StreamForecast`).
//!
//! **Many series at once.** [`push_many`] feeds one row to each of several series and does the
//! model work of all of them in one call per stage: the step of every state that is not due for
//! priming ([`Stepper::advance_many`]), the priming of the others ([`Stepper::prime_each`]) and
//! the forecasts ([`Stepper::forecast_many_planned`]), in chunks of [`STEP_CHUNK`] series ([`STEP_CHUNK_ACCELERATOR`] on a GPU). [`RecurrentSeries::push`] is
//! `push_many` of one series, so there is one code path; the monitor and the live forecasts use
//! it for every series with a point queued on a stream.
use burn::prelude::*;

use crate::forecaster::{StepState, Stepper, StreamPlan};
use crate::selfcheck::to_host;

/// What a model gives for the window that ends at a point (the window path) or for the state
/// that has consumed it (the recurrent path): the same fields either way, so what consumes
/// them (an anomaly scorer, a live forecast) does not care which path produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutput {
    /// Forecast of the next `steps` rows, [steps, variates] row-major (scaled axis).
    pub forecast_kv: Vec<f32>,
    /// Reconstruction of the window's last row, [variates] (models with a
    /// [`crate::forecaster::Forecaster::reconstructor`] only).
    pub recon_v: Option<Vec<f32>>,
}

/// A recurrent state and the rows it has consumed.
#[derive(Debug, Clone)]
struct Counted {
    state: Box<dyn StepState>,
    rows: usize,
}

/// Recurrent predictor state of one series (module docs).
#[derive(Debug, Clone)]
pub struct RecurrentSeries {
    lookback: usize,
    n_variates: usize,
    steps: usize,
    /// Rows between primings (`1 ..= L`).
    renew_every: usize,
    /// The forecast steps (1-based, ascending, ≤ `steps`) that are computed; the others of the
    /// output are NaN (the scorer reads only these).
    needed: Vec<usize>,
    with_reconstruction: bool,
    /// Last `L` rows, [L, variates] ring (row `filled % L` is the oldest once full).
    ring: Vec<f32>,
    filled: u64,
    state: Option<Counted>,
    /// The state's prediction of the next row, [variates] (the next point's reconstruction).
    next_pred: Vec<f32>,
}

impl RecurrentSeries {
    /// An empty series: `lookback` rows of warm-up, then outputs with `steps` forecast steps and,
    /// if `with_reconstruction`, a reconstruction of each row; primed again every `lookback`
    /// rows ([`Self::with_renewal`] changes that).
    pub fn new(lookback: usize, n_variates: usize, steps: usize, with_reconstruction: bool) -> Self {
        Self {
            lookback,
            n_variates,
            steps,
            renew_every: lookback.max(1),
            needed: (1..=steps).collect(),
            with_reconstruction,
            ring: vec![0.0; lookback * n_variates],
            filled: 0,
            state: None,
            next_pred: Vec::new(),
        }
    }

    /// The same series primed again on its latest window every `every` rows (clamped to
    /// `1 ..= L`; 1 is the window path).
    #[must_use]
    pub fn with_renewal(mut self, every: usize) -> Self {
        self.renew_every = every.clamp(1, self.lookback.max(1));
        self
    }

    /// Rows between primings.
    pub fn renew_every(&self) -> usize {
        self.renew_every
    }

    /// Consume one scaled row `x_v`; `None` while fewer than `L` rows have been seen. Makes a
    /// [`StreamPlan`] for this one row: a caller streaming many rows keeps one and calls
    /// [`push_many`].
    ///
    /// # Panics
    /// If `x_v` does not hold one value per variate or the model's look-back differs.
    pub fn push(&mut self, model: &dyn Stepper, device: &Device, x_v: &[f32]) -> Option<WindowOutput> {
        let plan = model.plan_stream(&self.needed);
        push_many(model, device, &plan, &mut [self], &[x_v])
            .pop()
            .flatten()
    }

    /// The same series computing only the forecast steps `needed` (1-based; those above `steps`
    /// are dropped); the output's other steps are NaN.
    #[must_use]
    pub fn with_needed_steps(mut self, needed: &[usize]) -> Self {
        let mut needed: Vec<usize> = needed
            .iter()
            .copied()
            .filter(|&s| (1..=self.steps).contains(&s))
            .collect();
        needed.sort_unstable();
        needed.dedup();
        self.needed = needed;
        self
    }

    /// The forecast steps this series computes.
    pub fn needed_steps(&self) -> &[usize] {
        &self.needed
    }

    /// Write the row into the ring and say what the model must do for it.
    fn accept(&mut self, model: &dyn Stepper, x_v: &[f32]) -> Need {
        let (l, nv) = (self.lookback, self.n_variates);
        assert_eq!(
            x_v.len(),
            nv,
            "RecurrentSeries: row of {} values, {nv} variates",
            x_v.len()
        );
        assert_eq!(
            model.step_lookback(),
            l,
            "RecurrentSeries: model look-back differs"
        );
        let slot = (self.filled % l as u64) as usize;
        self.ring[slot * nv..(slot + 1) * nv].copy_from_slice(x_v);
        self.filled += 1;
        match &self.state {
            // Primed `rows − L` rows ago; this row is the `R`-th since.
            Some(s) if s.rows + 1 - l >= self.renew_every => Need::Renew,
            Some(_) => Need::Step,
            None if self.filled < l as u64 => Need::Nothing,
            None => Need::Prime,
        }
    }

    /// The last `L` rows in time order, [L, variates].
    fn window(&self) -> Vec<f32> {
        let (l, nv) = (self.lookback, self.n_variates);
        let oldest = (self.filled % l as u64) as usize;
        let mut out = Vec::with_capacity(l * nv);
        out.extend_from_slice(&self.ring[oldest * nv..]);
        out.extend_from_slice(&self.ring[..oldest * nv]);
        out
    }

    /// The volatility of each variate over the last `L` rows, in the units rows were pushed in
    /// ([`crate::conformal::window_volatility`]); zeros before `L` rows were pushed.
    pub fn window_volatility(&self) -> Vec<f32> {
        if self.filled < self.lookback as u64 {
            return vec![0.0; self.n_variates];
        }
        crate::conformal::window_volatility(&self.window(), self.n_variates)
    }

    /// Rows the state has consumed (`L ..= L + R − 1` once primed, 0 before; a few more when
    /// [`push_many`] put a priming off, see [`RENEWALS_PER_CHUNK`]).
    pub fn state_history(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.rows)
    }

    /// Whether the state was primed on the window ending at the last row pushed, so that the
    /// last output is the window path's for that window (up to float rounding).
    pub fn primed_on_last_row(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.rows == self.lookback)
    }

    /// Bytes held: ring, state, the pending prediction.
    pub fn memory_bytes(&self, model: &dyn Stepper) -> usize {
        (self.ring.len() + self.next_pred.len()) * std::mem::size_of::<f32>()
            + self.state.as_ref().map_or(0, |c| model.state_size(&*c.state))
    }
}

/// Series advanced per model call at most: larger batches gain little per point once the
/// per-call overhead is amortised, and their multi-megabyte state tensors would be mapped and
/// unmapped by the allocator on every call.
pub const STEP_CHUNK: usize = 128;

/// [`STEP_CHUNK`] on an accelerator, where a call's fixed cost (kernel launches, transfers) is
/// what batching amortises.
pub const STEP_CHUNK_ACCELERATOR: usize = 4096;

/// A call of [`push_many`] primes at most `chunk / RENEWALS_PER_CHUNK` running states again
/// (16 of 128 on the CPU): a priming costs about a window pass, so a fleet whose series all fall
/// due in the same row (they started together) would otherwise stall that row's answers. The
/// states left over step on and are primed on the following rows. A series' first priming is
/// never put off (it has no state yet).
pub const RENEWALS_PER_CHUNK: usize = 8;

/// What the model must do for a series' newest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Fewer than `L` rows so far.
    Nothing,
    /// The `L`-th row: prime the first state on the window.
    Prime,
    /// The `R`-th row since the last priming: prime a state on the latest window.
    Renew,
    /// Advance the state by the row.
    Step,
}

/// Feed one scaled row to each of several series of the same model (distinct series, `rows[i]`
/// for `series[i]`; `plan` is the model's [`Stepper::plan_stream`] for the series' steps) and
/// return each one's output (`None` while warming up), with one model call per stage for all of
/// them: the step of every state not due for priming ([`Stepper::advance_many`]), the priming of
/// the others on their latest windows ([`Stepper::prime_each`]) and the forecasts
/// ([`Stepper::forecast_many_planned`]). Each series ends in the state [`RecurrentSeries::push`]
/// alone would leave it in, and gets the same output up to float rounding of the batched
/// products, unless more running states fall due for priming in one call than
/// [`RENEWALS_PER_CHUNK`] allows: those beyond it step once more and are primed on a later row.
///
/// # Panics
/// If the lengths differ, or a row does not hold one value per variate, or the series were made
/// for another look-back, variate count, step count or renewal than the first one, or the plan
/// is for other steps.
pub fn push_many(
    model: &dyn Stepper,
    device: &Device,
    plan: &StreamPlan,
    series: &mut [&mut RecurrentSeries],
    rows: &[&[f32]],
) -> Vec<Option<WindowOutput>> {
    assert_eq!(series.len(), rows.len(), "push_many: one row per series");
    let chunk = if device.clone().inner() == Device::flex() {
        STEP_CHUNK
    } else {
        STEP_CHUNK_ACCELERATOR
    };
    if series.len() > chunk {
        // Bounded forwards: state tensors stay in the allocator's reused blocks and the cache.
        return series
            .chunks_mut(chunk)
            .zip(rows.chunks(chunk))
            .flat_map(|(s, r)| push_many(model, device, plan, s, r))
            .collect();
    }
    let Some(first) = series.first() else {
        return Vec::new();
    };
    let (l, nv, steps) = (first.lookback, first.n_variates, first.steps);
    assert!(
        series
            .iter()
            .all(|s| (s.lookback, s.n_variates, s.steps, s.renew_every, &s.needed)
                == (l, nv, steps, first.renew_every, &first.needed)),
        "push_many: series of different shapes"
    );
    let needed = first.needed.clone();
    assert_eq!(
        plan.steps(),
        needed.as_slice(),
        "push_many: the plan is for other steps"
    );
    let mut needs: Vec<Need> = series
        .iter_mut()
        .zip(rows)
        .map(|(s, x)| s.accept(model, x))
        .collect();
    // At most `chunk / RENEWALS_PER_CHUNK` renewals per call; the others step once more and are
    // due again on their next row, so series that fall due together are primed over a few rows.
    let mut renewals = chunk / RENEWALS_PER_CHUNK;
    for need in &mut needs {
        if *need == Need::Renew {
            if renewals == 0 {
                *need = Need::Step;
            } else {
                renewals -= 1;
            }
        }
    }
    let stepping: Vec<usize> = (0..series.len()).filter(|&i| needs[i] == Need::Step).collect();
    let priming: Vec<usize> = (0..series.len())
        .filter(|&i| matches!(needs[i], Need::Prime | Need::Renew))
        .collect();
    let mut recon: Vec<Option<Vec<f32>>> = vec![None; series.len()];

    // The step of every state that is not due for priming, in one forward.
    if !stepping.is_empty() {
        let x: Vec<f32> = stepping.iter().flat_map(|&i| rows[i].iter().copied()).collect();
        let x_bv = Tensor::<2>::from_data(TensorData::new(x, [stepping.len(), nv]), device);
        let mut states: Vec<&mut dyn StepState> = series
            .iter_mut()
            .zip(&needs)
            .filter(|(_, need)| **need == Need::Step)
            .map(|(s, _)| &mut *s.state.as_mut().expect("a stepped series is primed").state)
            .collect();
        let preds = to_host(model.advance_many(&mut states, x_bv));
        for (k, &i) in stepping.iter().enumerate() {
            let s = &mut *series[i];
            recon[i] = Some(std::mem::replace(
                &mut s.next_pred,
                preds[k * nv..(k + 1) * nv].to_vec(),
            ));
            s.state.as_mut().expect("primed").rows += 1;
        }
    }

    // States primed on the latest windows, together: first states, and renewals.
    if !priming.is_empty() {
        let windows: Vec<f32> = priming.iter().flat_map(|&i| series[i].window()).collect();
        let windows_blv = Tensor::<3>::from_data(TensorData::new(windows, [priming.len(), l, nv]), device);
        let (states, preds_blv) = model.prime_each(plan, windows_blv);
        let preds = to_host(preds_blv);
        for ((k, &i), state) in priming.iter().enumerate().zip(states) {
            let s = &mut *series[i];
            let p = &preds[k * l * nv..(k + 1) * l * nv];
            recon[i] = if needs[i] == Need::Renew {
                // The running state's prediction of this row, made before it was seen.
                Some(std::mem::take(&mut s.next_pred))
            } else {
                // Row L−2 of the predictions is the estimate of the window's last row.
                (s.with_reconstruction && l >= 2).then(|| p[(l - 2) * nv..(l - 1) * nv].to_vec())
            };
            s.next_pred = p[(l - 1) * nv..].to_vec();
            s.state = Some(Counted { state, rows: l });
        }
    }

    // Forecasts of every series that produced an output.
    let scored: Vec<usize> = (0..series.len()).filter(|&i| needs[i] != Need::Nothing).collect();
    let mut out: Vec<Option<WindowOutput>> = vec![None; series.len()];
    if scored.is_empty() {
        return out;
    }
    let kv = steps * nv;
    let forecasts = if needed.is_empty() {
        Vec::new()
    } else {
        let states: Vec<&dyn StepState> = scored
            .iter()
            .map(|&i| &*series[i].state.as_ref().expect("primed").state)
            .collect();
        to_host(model.forecast_many_planned(plan, &states, device))
    };
    let m = needed.len();
    for (k, &i) in scored.iter().enumerate() {
        // [steps, variates], the planned steps filled in.
        let mut forecast_kv = vec![f32::NAN; kv];
        for (j, &step) in needed.iter().enumerate() {
            let from = (k * m + j) * nv;
            forecast_kv[(step - 1) * nv..step * nv].copy_from_slice(&forecasts[from..from + nv]);
        }
        let with_reconstruction = series[i].with_reconstruction;
        out[i] = Some(WindowOutput {
            forecast_kv,
            recon_v: if with_reconstruction {
                recon[i].take()
            } else {
                None
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecaster::Forecaster;
    use crate::spacetime::{SpaceTime, SpaceTimeConfig};

    const L: usize = 16;
    const NV: usize = 2;

    fn model() -> SpaceTime {
        SpaceTimeConfig::new(L, 4)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(2)
            .with_n_kernels(8)
            .with_n_encoder_blocks(2)
            .init(&Device::flex())
    }

    /// A smooth two-variate signal plus a little deterministic noise, [rows, variates].
    fn rows(n: usize) -> Vec<f32> {
        (0..n)
            .flat_map(|t| {
                let t = t as f32;
                [
                    (t * 0.3).sin() + 0.05 * (t * 7.1).cos(),
                    (t * 0.11).cos() * 2.0 + 0.05 * (t * 3.7).sin(),
                ]
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    #[test]
    fn first_output_equals_the_window_forward() {
        let m = model();
        let dev = Device::flex();
        let data = rows(L);
        let mut series = RecurrentSeries::new(L, NV, 3, true);
        let outs: Vec<_> = data.chunks(NV).map(|x| series.push(&m, &dev, x)).collect();
        assert!(outs[..L - 1].iter().all(Option::is_none), "warm-up");
        let rec = outs[L - 1].clone().expect("output at row L−1");
        let x_blv = Tensor::<3>::from_data(TensorData::new(data, [1, L, NV]), &dev);
        let (forecast, recon) = m
            .reconstructor()
            .expect("SpaceTime reconstructs")
            .forecast_and_reconstruct(x_blv);
        let window_forecast = to_host(forecast.narrow(1, 0, 3));
        let window_recon = to_host(recon.narrow(1, L - 1, 1));
        assert!(
            close(&rec.forecast_kv, &window_forecast, 1e-4),
            "{:?} vs {:?}",
            rec.forecast_kv,
            window_forecast
        );
        let (r, w) = (rec.recon_v.unwrap(), window_recon);
        assert!(close(&r, &w, 1e-4), "{r:?} vs {w:?}");
    }

    /// The window path's forecast of 3 steps at every row from `L − 1` on, `[3, NV]` each, from
    /// one forward per window.
    fn window_forecasts(m: &SpaceTime, data: &[f32], dev: &Device) -> Vec<Vec<f32>> {
        let rows = data.len() / NV;
        (L - 1..rows)
            .map(|t| {
                let window = data[(t + 1 - L) * NV..(t + 1) * NV].to_vec();
                let x_blv = Tensor::<3>::from_data(TensorData::new(window, [1, L, NV]), dev);
                to_host(m.forecast(x_blv).narrow(1, 0, 3))
            })
            .collect()
    }

    /// The state is primed again every `R` rows: its history stays within `L ..= L + R − 1`,
    /// memory is fixed, and at every priming the forecast is the window path's for that window
    /// (with `R = 1`, at every row: the window path itself).
    #[test]
    fn states_are_primed_every_r_rows_and_then_equal_the_window_path() {
        let m = model();
        let dev = Device::flex();
        let data = rows(6 * L);
        let window = window_forecasts(&m, &data, &dev);
        for r in [L, 5, 1] {
            let mut series = RecurrentSeries::new(L, NV, 3, true).with_renewal(r);
            assert_eq!(series.renew_every(), r);
            let mut memory = None;
            for (t, x) in data.chunks(NV).enumerate() {
                let out = series.push(&m, &dev, x);
                if t + 1 < L {
                    assert!(out.is_none());
                    continue;
                }
                let out = out.expect("scored");
                assert!(out.forecast_kv.iter().all(|v| v.is_finite()));
                let h = series.state_history();
                assert!(
                    (L..L + r).contains(&h),
                    "R {r}, row {t}: the state has seen {h} rows"
                );
                let bytes = series.memory_bytes(&m);
                assert_eq!(*memory.get_or_insert(bytes), bytes, "row {t}: memory changed");
                let forecast = &window[t + 1 - L];
                assert_eq!(
                    series.primed_on_last_row(),
                    (t + 1 - L).is_multiple_of(r),
                    "R {r}, row {t}"
                );
                if series.primed_on_last_row() {
                    assert!(
                        close(&out.forecast_kv, forecast, 1e-4),
                        "R {r}, row {t}: primed {:?} vs window {forecast:?}",
                        out.forecast_kv
                    );
                }
            }
        }
    }

    /// A level shift: once the state has been primed on the new level, the model sees it exactly
    /// as it saw the old one (mean normalisation), so its forecast is the old forecast plus the
    /// shift. A state anchored to the old level (never primed again) forecasts something else.
    #[test]
    fn renewal_follows_a_level_shift() {
        let m = model();
        let dev = Device::flex();
        let shift = 50.0f32;
        let mut series = RecurrentSeries::new(L, NV, 2, true);
        let mut forecasts = Vec::new();
        for t in 0..6 * L {
            let level = if t < 3 * L { 0.0 } else { shift };
            forecasts.push(series.push(&m, &dev, &[level + 1.0, level - 1.0]));
        }
        // Primed at rows L−1, 2L−1, …: at 2L−1 on rows L..2L−1 (old level), at 6L−1 on rows
        // 5L..6L−1 (new level only). Same inputs relative to the shift, so the same forecast.
        let before = forecasts[2 * L - 1].clone().unwrap().forecast_kv;
        let after = forecasts[6 * L - 1].clone().unwrap().forecast_kv;
        let shifted: Vec<f32> = before.iter().map(|v| v + shift).collect();
        assert!(close(&after, &shifted, 1e-4), "{after:?} vs {shifted:?}");
        // Without renewal: one state primed on the old level, fed the new one.
        let mut stale = m.stream_lookback(Tensor::<3>::from_data(
            TensorData::new([1.0f32, -1.0].repeat(L), [1, L, NV]),
            &dev,
        ));
        for _ in 0..3 * L {
            m.step(
                Tensor::<2>::from_data(TensorData::new(vec![shift + 1.0, shift - 1.0], [1, NV]), &dev),
                &mut stale.0,
            );
        }
        let stale_f = to_host(m.forecast_from_state(&stale.0, 2, &dev));
        assert!(
            !close(&stale_f, &shifted, 1e-2),
            "a stale state should not match: {stale_f:?}"
        );
    }
}
#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::spacetime::SpaceTimeConfig;

    /// Series that all fall due in the same row are primed over the next rows, at most
    /// `STEP_CHUNK / RENEWALS_PER_CHUNK` per call, and each one's history stays bounded.
    #[test]
    fn renewals_due_together_are_spread_over_rows() {
        let device = Device::flex();
        let model = SpaceTimeConfig::new(16, 2)
            .with_d_model(4)
            .with_state_dim(2)
            .with_first_n_kernels(2)
            .with_first_n_heads(2)
            .with_n_kernels(4)
            .init(&device);
        let n = STEP_CHUNK;
        let cap = STEP_CHUNK / RENEWALS_PER_CHUNK;
        let mut all: Vec<RecurrentSeries> = (0..n).map(|_| RecurrentSeries::new(16, 1, 1, false)).collect();
        let plan = Stepper::plan_stream(&model, &[1]);
        let mut primed_at: Vec<Vec<usize>> = vec![Vec::new(); n];
        for t in 0..16 * 4 {
            let rows: Vec<Vec<f32>> = (0..n).map(|s| vec![((t * 3 + s) as f32 * 0.2).sin()]).collect();
            let xs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            let mut refs: Vec<&mut RecurrentSeries> = all.iter_mut().collect();
            push_many(&model, &device, &plan, &mut refs, &xs);
            let now: Vec<usize> = (0..n).filter(|&s| all[s].primed_on_last_row()).collect();
            if t > 15 {
                assert!(now.len() <= cap, "row {t}: {} renewals in one call", now.len());
            }
            for s in now {
                primed_at[s].push(t);
            }
            for s in &all {
                assert!(
                    s.state_history() < 16 + 16 + n / cap,
                    "row {t}: history {}",
                    s.state_history()
                );
            }
        }
        // Everyone was primed first at row 15, and again within `n / cap` rows of each due row.
        for (s, rows) in primed_at.iter().enumerate() {
            assert_eq!(rows[0], 15, "series {s}");
            assert!(rows.len() >= 3, "series {s} primed at {rows:?}");
        }
    }

    /// Five series that join the stream at different rows, fed together (first primings,
    /// steps and renewals in the same calls, forecasts from a kept plan), get the outputs of
    /// each series fed alone, and the same reconstructions.
    #[test]
    fn push_many_equals_push() {
        let device = Device::flex();
        let model = SpaceTimeConfig::new(16, 4)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(2)
            .with_n_kernels(8)
            .init(&device);
        let series = 5;
        let mut a: Vec<RecurrentSeries> = (0..series)
            .map(|_| RecurrentSeries::new(16, 2, 4, true).with_renewal(6))
            .collect();
        let mut b = a.clone();
        let plan = Stepper::plan_stream(&model, &[1, 2, 3, 4]);
        for t in 0..60 {
            // Series `s` joins at row 3s, so their primings fall on different rows.
            let live: Vec<usize> = (0..series).filter(|&s| t >= 3 * s).collect();
            let rows: Vec<Vec<f32>> = live
                .iter()
                .map(|&s| {
                    vec![
                        ((t + 7 * s) as f32 * 0.3).sin(),
                        (t as f32 * 0.1 + s as f32).cos(),
                    ]
                })
                .collect();
            let alone: Vec<_> = live
                .iter()
                .zip(&rows)
                .map(|(&s, x)| a[s].push(&model, &device, x))
                .collect();
            let mut refs: Vec<&mut RecurrentSeries> = b
                .iter_mut()
                .enumerate()
                .filter(|(s, _)| t >= 3 * s)
                .map(|(_, r)| r)
                .collect();
            let xs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
            let many = push_many(&model, &device, &plan, &mut refs, &xs);
            for (s, (x, y)) in live.iter().zip(alone.iter().zip(&many)) {
                assert_eq!(x.is_some(), y.is_some());
                if let (Some(x), Some(y)) = (x, y) {
                    for (p, q) in x.forecast_kv.iter().zip(&y.forecast_kv) {
                        assert!(
                            (p - q).abs() < 1e-4,
                            "t {t} s {s}: forecast {:?} vs {:?}",
                            x.forecast_kv,
                            y.forecast_kv
                        );
                    }
                    let (rx, ry) = (x.recon_v.as_ref().unwrap(), y.recon_v.as_ref().unwrap());
                    assert!(
                        rx.iter().zip(ry).all(|(p, q)| (p - q).abs() < 1e-4),
                        "t {t} s {s}: {rx:?} vs {ry:?}"
                    );
                }
            }
        }
    }
}
