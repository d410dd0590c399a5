//! The SpaceTime network, its forward pass and the training loss (`docs/spacetime.md` §2.1, §2.8–§2.11).
//!
//! ```text
//! x (B, L, V) ─fold─> (N = B·V, L) ─normalise (docs/spacetime.md §2.10)─> u ─embed─> (N, L, C)
//!   ─encoder blocks (docs/spacetime.md §2.6)─> z (N, L, C) ─closed-loop decoder (docs/spacetime.md §2.7)─> ŷ (N, H, C), yᵒ (N, L, C)
//!   ─head: GELU → Dropout → Linear(C → 1)─> (N, H) ─denormalise─> ─unfold─> forecast (B, H, V)
//! ```
//!
//! Multivariate inputs are channel-independent (docs/spacetime.md §2.9): variates are folded into the batch
//! (`n = b·V + v`), share all weights and are unfolded at the end.
//!
//! Shape letters: `b` batch, `l` look-back, `h` horizon, `v` variates, `n` series (`b·v`),
//! `c` channels (`d_model`), `t` any time length.
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use super::block::{EncoderBlock, dropout, linear_cln};
use super::decoder::ClosedLoopSsm;
use super::norm::{NormStats, Normalization};
use super::trace::{Trace, record};
use crate::ssm::ConvPath;

/// Output head `GELU → Dropout → Linear(C → 1)`.
#[derive(Module, Debug)]
pub struct OutputHead {
    /// Dropout after the activation.
    pub dropout: Dropout,
    /// `Linear(C → 1)`.
    pub linear: Linear,
}

impl OutputHead {
    /// Builds the head for `width` channels.
    pub fn new(width: usize, dropout: f64, device: &Device) -> Self {
        Self {
            dropout: DropoutConfig::new(dropout).init(),
            linear: LinearConfig::new(width, 1).init(device),
        }
    }

    /// Point-wise head.
    ///
    /// # Shapes
    /// * `y`: `[…, C]`, returns `[…, 1]`
    pub fn forward<const D: usize>(&self, y: Tensor<D>) -> Tensor<D> {
        self.linear.forward(dropout(&self.dropout, gelu(y)))
    }

    /// [`Self::forward`] in the channel-major layout.
    ///
    /// # Shapes
    /// * `y_ctn`: `[C, T, N]`, returns `[N, T]`
    pub fn forward_cln(&self, y_ctn: Tensor<3>) -> Tensor<2> {
        let [_, t, n] = y_ctn.dims();
        linear_cln(&self.linear, dropout(&self.dropout, gelu(y_ctn)))
            .reshape([t, n])
            .transpose()
    }
}

/// The SpaceTime model (build it with [`super::SpaceTimeConfig::init`]).
#[derive(Module, Debug)]
pub struct SpaceTime {
    /// `Linear(1 → C)` embedding, or `None` for "repeat" (copy the scalar to all channels).
    pub embedding: Option<Linear>,
    /// Encoder blocks; block 0 carries the preprocessing.
    pub encoder: Vec<EncoderBlock>,
    /// Closed-loop companion SSM decoder.
    pub decoder: ClosedLoopSsm,
    /// Output head.
    pub head: OutputHead,
    /// Channels `C`.
    pub width: usize,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// State size `d` (sets the loss warm-up).
    pub state_dim: usize,
    /// Per-window normalisation.
    #[module(skip)]
    pub normalization: Normalization,
}

/// Everything [`SpaceTime::forward`] returns.
#[derive(Debug, Clone)]
pub struct SpaceTimeOutput {
    /// Closed-loop forecast, `[B, H, V]` (original scale).
    pub forecast_bhv: Tensor<3>,
    /// Open-loop next-step predictions over the look-back, `[B, L, V]`: position `t` predicts
    /// `x_{t+1}` (position `L − 1` predicts the first horizon value).
    pub lookback_pred_blv: Tensor<3>,
    /// Decoder's open-loop next-input predictions `ẑᵒ`, `[B·V, L, C]` (position `t` predicts
    /// `z_{t+1}`).
    pub next_input_pred_nlc: Tensor<3>,
    /// Decoder input `z` (encoder output), `[B·V, L, C]`; not detached (as in the reference).
    pub next_input_target_nlc: Tensor<3>,
}

/// The three RMSE terms of the loss (`docs/spacetime.md` §2.11), each a scalar `[1]`.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// Closed-loop horizon: `RMSE(ŷ_{L:L+H}, y)`.
    pub forecast: Tensor<1>,
    /// Open-loop next step over the look-back: `RMSE(yᵒ_{w:L}, x̄_{w+1:L+1})`.
    pub lookback: Tensor<1>,
    /// Next decoder input: `RMSE(ẑᵒ_{w:L−1}, z_{w+1:L})`.
    pub next_input: Tensor<1>,
}

/// `[B, T, V] → [B·V, T]` (series `n = b·V + v`).
///
/// # Shapes
/// * `x_btv`: `[B, T, V]`, returns `[B·V, T]`
pub fn fold_variates(x_btv: Tensor<3>) -> Tensor<2> {
    let [b, t, v] = x_btv.dims();
    x_btv.swap_dims(1, 2).reshape([b * v, t])
}

/// Inverse of [`fold_variates`].
///
/// # Shapes
/// * `x_nt`: `[B·V, T]`, returns `[B, T, V]`
pub fn unfold_variates(x_nt: Tensor<2>, batch: usize, variates: usize) -> Tensor<3> {
    let [n, t] = x_nt.dims();
    assert_eq!(
        n,
        batch * variates,
        "unfold_variates: {n} series is not {batch} x {variates}"
    );
    x_nt.reshape([batch, variates, t]).swap_dims(1, 2)
}

fn rmse<const D: usize>(pred: Tensor<D>, target: Tensor<D>) -> Tensor<1> {
    (pred - target).square().mean().sqrt()
}

impl SpaceTime {
    /// The same model (same weights) computing its convolutions by `path`, e.g. to switch a
    /// loaded model to another backend's best path. Outputs agree up to float round-off.
    pub fn with_conv_path(mut self, path: ConvPath) -> Self {
        for block in &mut self.encoder {
            if let Some(pre) = &mut block.pre {
                pre.conv_path = path;
            }
            block.ssm.conv_path = path;
        }
        self.decoder.conv_path = path;
        self
    }

    /// Lifts the normalised scalar to `C` channels.
    ///
    /// # Shapes
    /// * `u_nt`: `[N, T]`, returns `[N, T, C]`
    pub fn embed(&self, u_nt: Tensor<2>) -> Tensor<3> {
        let [n, t] = u_nt.dims();
        let u_nt1 = u_nt.reshape([n, t, 1]);
        match &self.embedding {
            Some(linear) => linear.forward(u_nt1),
            None => u_nt1.repeat_dim(2, self.width),
        }
    }

    /// Normalisation statistics of a look-back window, per series.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; fields `[B·V, 1]`
    pub fn norm_stats(&self, x_blv: Tensor<3>) -> NormStats {
        NormStats::from_lookback(fold_variates(x_blv), self.normalization)
    }

    /// [`Self::embed`] into the channel-major layout.
    ///
    /// # Shapes
    /// * `u_nt`: `[N, T]`, returns `[C, T, N]`
    pub fn embed_cln(&self, u_nt: Tensor<2>) -> Tensor<3> {
        let [n, t] = u_nt.dims();
        let u_1tn = u_nt.transpose().reshape([1, t, n]);
        match &self.embedding {
            Some(linear) => linear_cln(linear, u_1tn),
            None => u_1tn.repeat_dim(0, self.width),
        }
    }

    /// Encoder stack on normalised, folded series.
    ///
    /// # Shapes
    /// * `u_nl`: `[N, L]`, returns `z` `[N, L, C]`
    pub fn encode(&self, u_nl: Tensor<2>) -> Tensor<3> {
        self.encode_cln(u_nl).permute([2, 1, 0])
    }

    /// [`Self::encode`] in the channel-major layout (what [`Self::forward`] runs).
    ///
    /// # Shapes
    /// * `u_nl`: `[N, L]`, returns `z` `[C, L, N]`
    pub fn encode_cln(&self, u_nl: Tensor<2>) -> Tensor<3> {
        self.encoder
            .iter()
            .fold(self.embed_cln(u_nl), |z, block| block.forward_cln(z))
    }

    /// Forecast `H` steps from a look-back window (plus the training-only open-loop outputs).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`SpaceTimeOutput`]
    pub fn forward(&self, x_blv: Tensor<3>) -> SpaceTimeOutput {
        self.forward_traced(x_blv, None)
    }

    /// [`Self::forward`], recording every stage into `trace` (module [`super::trace`]): `input`
    /// (normalised, `[N, L]`), `embed`, `block{i}.*`, `decoder.*`, `head.forecast` (normalised
    /// scale) and `forecast`.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`SpaceTimeOutput`]
    pub fn forward_traced(&self, x_blv: Tensor<3>, mut trace: Option<&mut Trace>) -> SpaceTimeOutput {
        let [b, l, v] = x_blv.dims();
        assert_eq!(
            l, self.lookback,
            "SpaceTime: look-back {l} differs from the configured {}",
            self.lookback
        );
        let stats = self.norm_stats(x_blv.clone());
        let u_nl = stats.normalize(fold_variates(x_blv));
        // Everything runs channel-major ([C, L, N]): the convolutions batch over channels and the
        // MLPs are [C, C] × [C, L·N] matmuls, so no activation is ever transposed.
        record(&mut trace, "input", &u_nl);
        let mut z_cln = self.embed_cln(u_nl);
        record(&mut trace, "embed", &z_cln);
        for (i, block) in self.encoder.iter().enumerate() {
            z_cln = block.forward_cln_traced(z_cln, trace.as_deref_mut(), &format!("block{i}"));
        }
        let dec = self
            .decoder
            .forward_cln_traced(z_cln.clone(), self.horizon, false, trace.as_deref_mut());
        let head_nh = self.head.forward_cln(dec.y_chn);
        record(&mut trace, "head.forecast", &head_nh);
        let forecast_nh = stats.denormalize(head_nh);
        let lookback_nl = stats.denormalize(self.head.forward_cln(dec.y_open_cln));
        let forecast_bhv = unfold_variates(forecast_nh, b, v);
        record(&mut trace, "forecast", &forecast_bhv);
        SpaceTimeOutput {
            forecast_bhv,
            lookback_pred_blv: unfold_variates(lookback_nl, b, v),
            // [N, L, C] views of the channel-major tensors (no copy on strided backends).
            next_input_pred_nlc: dec.zhat_open_cln.permute([2, 1, 0]),
            next_input_target_nlc: z_cln.permute([2, 1, 0]),
        }
    }

    /// Warm-up `w` skipped by the look-back loss terms: `min(d − 1, L − 2)` (the reference skips
    /// `d − 1` steps; the cap keeps at least one term when `d ≥ L`).
    pub fn loss_warmup(&self) -> usize {
        (self.state_dim - 1).min(self.lookback - 2)
    }

    /// The three RMSE terms of `docs/spacetime.md` §2.11 (RMSE = square root of the mean squared error over batch,
    /// time, variates and, for the third, channels).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]` (look-back), `y_bhv`: `[B, H, V]` (targets), same scale as the input
    pub fn loss_terms(&self, out: &SpaceTimeOutput, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> LossTerms {
        let [_, l, _] = x_blv.dims();
        let w = self.loss_warmup();
        let next_values_btv = Tensor::cat(
            vec![x_blv.narrow(1, w + 1, l - w - 1), y_bhv.clone().narrow(1, 0, 1)],
            1,
        );
        LossTerms {
            forecast: rmse(out.forecast_bhv.clone(), y_bhv),
            lookback: rmse(out.lookback_pred_blv.clone().narrow(1, w, l - w), next_values_btv),
            // The RMSE is a mean over all entries, so it can be taken in the channel-major layout
            // the model produced these in ([N, L, C] → [C, L, N] is a view there).
            next_input: rmse(
                out.next_input_pred_nlc
                    .clone()
                    .permute([2, 1, 0])
                    .narrow(1, w, l - 1 - w),
                out.next_input_target_nlc
                    .clone()
                    .permute([2, 1, 0])
                    .narrow(1, w + 1, l - 1 - w),
            ),
        }
    }

    /// Training loss `w₀·RMSE_forecast + w₁·RMSE_lookback + w₂·RMSE_next_input` (`docs/spacetime.md` §2.11).
    ///
    /// All three terms are used at every training step, in every epoch (reference weights
    /// `[1, 1, 1]`). In the official code an evaluation flag that switches the auxiliary terms off
    /// is (per the project notes) never reset after the first validation, so from then on only the
    /// forecast term trains; we deliberately do not replicate that. Pass `[1, 0, 0]` for the
    /// forecast-only objective.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    pub fn loss(
        &self,
        out: &SpaceTimeOutput,
        x_blv: Tensor<3>,
        y_bhv: Tensor<3>,
        weights: [f64; 3],
    ) -> Tensor<1> {
        let t = self.loss_terms(out, x_blv, y_bhv);
        t.forecast.mul_scalar(weights[0])
            + t.lookback.mul_scalar(weights[1])
            + t.next_input.mul_scalar(weights[2])
    }
}
