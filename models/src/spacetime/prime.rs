//! Priming a recurrent state from a window in convolution form: the state that `L` streaming
//! steps would leave, from one batch pass over the window.
//!
//! ```text
//! x (B, L, V) ─normalise (the window's stats)─> u ─embed─> z₀ (C, L, N)
//!   block i:  history ← last K−1 inputs (most recent first)
//!             z ─Pre─> p,   state x = F · p  with F = [A^{L−1}b, …, Ab, b]   (one product)
//!             p ─SSM conv (kernel k) + D ⊙ p ─> MLP ─> + p                    (as the forward)
//!   decoder:  state x_L = F · z,   yᵒ = (cᵀAʲb) ∗ z  ─head─> next-row predictions
//! ```
//!
//! A companion layer's state after `u_0..u_{L−1}` is `Σ_i A^{L−1−i} b u_i`: the window times
//! the Krylov matrix of `(A, b)` read backwards ([`CompanionSsm::state_map`]). Everything here
//! that depends on the weights only (each layer's kernel and state map, the decoder's open-loop
//! kernel) is computed once into [`PrimeKernels`], so a server that re-primes many series keeps
//! it and pays per window only the convolutions and the products with the window.
//!
//! Streaming the window point by point ([`SpaceTime::stream_lookback`]) gives the same state and
//! predictions up to float rounding (tests); it costs `L` steps, which is what made re-priming a
//! running series on its latest window expensive before.
//!
//! Shape letters: `b` batch, `l` look-back, `v` variates, `n` series (`b·v`), `c` channels,
//! `d` state size, `j` preprocessing history.
//!
//! [`CompanionSsm::state_map`]: super::ssm_layer::CompanionSsm::state_map
use burn::prelude::*;

use super::model::{SpaceTime, fold_variates, unfold_variates};
use super::step::{SpaceTimeState, StateTensor};
use crate::ssm::{causal_conv_cln, precise_matmul};

/// A layer's weight-only priming tensors.
#[derive(Debug, Clone)]
struct LayerKernels {
    /// The convolution kernel of the forward pass, `[C, L]`.
    kernel_cl: Tensor<2>,
    /// Window → state after it, `[C, d, L]`.
    state_map_cdl: Tensor<3>,
}

/// What priming at one look-back needs from the weights ([`SpaceTime::prime_kernels`]); valid
/// for the model that made it while its weights are unchanged.
#[derive(Debug, Clone)]
pub struct PrimeKernels {
    lookback: usize,
    blocks: Vec<LayerKernels>,
    /// The decoder's open-loop output kernel `cᵀAʲb` and its state map.
    decoder: LayerKernels,
}

/// The state `F · u` after a window, `[N, C, d]`.
///
/// # Shapes
/// * `state_map_cdl`: `[C, d, L]`, `u_cln`: `[C, L, N]`
fn state_after(state_map_cdl: &Tensor<3>, u_cln: Tensor<3>) -> StateTensor {
    StateTensor::from_tensor(precise_matmul(state_map_cdl.clone(), u_cln).permute([2, 0, 1]))
}

/// The last `j` inputs of a window, most recent first, zero where the window is shorter:
/// the preprocessing history after streaming it from a zero history.
///
/// # Shapes
/// * `u_rln`: `[R, L, N]`; returns `[N, R, j]`
fn history_after(u_rln: Tensor<3>, j: usize) -> StateTensor {
    let [r, l, n] = u_rln.dims();
    let m = j.min(l);
    let recent_nrm = u_rln.narrow(1, l - m, m).flip([1]).permute([2, 0, 1]);
    let hist = if m < j {
        let device = recent_nrm.device();
        Tensor::cat(vec![recent_nrm, Tensor::zeros([n, r, j - m], &device)], 2)
    } else {
        recent_nrm
    };
    StateTensor::from_tensor(hist)
}

impl SpaceTime {
    /// The weight-only part of [`Self::prime_with`] for windows of `lookback` rows.
    pub fn prime_kernels(&self, lookback: usize) -> PrimeKernels {
        let blocks = self
            .encoder
            .iter()
            .map(|block| LayerKernels {
                kernel_cl: block.ssm.kernel(lookback),
                state_map_cdl: block.ssm.state_map(lookback),
            })
            .collect();
        let (kernel_cl, state_map_cdl) = self.decoder.prime_kernels(lookback);
        PrimeKernels {
            lookback,
            blocks,
            decoder: LayerKernels {
                kernel_cl,
                state_map_cdl,
            },
        }
    }

    /// One state per window (stacked along the batch), normalising with the window's own
    /// statistics, as [`Self::stream_lookback`] leaves it, and every row's next-row prediction
    /// (original scale), from one pass in convolution form (module docs).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; returns the state and `[B, L, V]`
    ///
    /// # Panics
    /// If `kernels` were made for another look-back than the window's.
    pub fn prime_with(&self, kernels: &PrimeKernels, x_blv: Tensor<3>) -> (SpaceTimeState, Tensor<3>) {
        let [b, l, v] = x_blv.dims();
        assert_eq!(
            l, kernels.lookback,
            "prime_with: a {l}-row window with kernels for {} rows",
            kernels.lookback
        );
        let n = b * v;
        let stats = self.norm_stats(x_blv.clone());
        let u_nl = stats.normalize(fold_variates(x_blv));
        let mut state = self.init_state(b, v, &stats);
        let mut z_cln = self.embed_cln(u_nl.clone());
        for (i, (block, layer)) in self.encoder.iter().zip(&kernels.blocks).enumerate() {
            let s = &mut state.encoder[i];
            if let Some(hist) = &mut s.hist_ncj {
                let (rows, j) = (hist.shape[1], hist.shape[2]);
                if j > 0 {
                    // A history kept once per series holds the normalised input itself.
                    let input_rln = if rows == 1 && self.shared_history(i) {
                        u_nl.clone().transpose().reshape([1, l, n])
                    } else {
                        z_cln.clone()
                    };
                    *hist = history_after(input_rln, j);
                }
            }
            let pre_cln = match &block.pre {
                Some(pre) => pre.forward_cln(z_cln),
                None => z_cln,
            };
            s.x_ncd = state_after(&layer.state_map_cdl, pre_cln.clone());
            z_cln = block.after_pre_cln(pre_cln, layer.kernel_cl.clone());
        }
        let y_open_cln = causal_conv_cln(
            z_cln.clone(),
            kernels.decoder.kernel_cl.clone(),
            self.decoder.conv_path,
        );
        state.decoder_x_ncd = state_after(&kernels.decoder.state_map_cdl, z_cln);
        state.steps = l;
        let preds_nl = stats.denormalize(self.head.forward_cln(y_open_cln));
        (state, unfold_variates(preds_nl, b, v))
    }

    /// [`Self::prime_with`] computing the kernels for this window's length.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; returns the state and `[B, L, V]`
    pub fn prime(&self, x_blv: Tensor<3>) -> (SpaceTimeState, Tensor<3>) {
        let kernels = self.prime_kernels(x_blv.dims()[1]);
        self.prime_with(&kernels, x_blv)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::spacetime::{Embedding, SpaceTimeConfig};

    fn close(a: &StateTensor, b: &StateTensor, what: &str) {
        assert_eq!(a.shape, b.shape, "{what}: shapes");
        let scale = b.values.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        let worst = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 2e-5 * scale,
            "{what}: differs by {worst} (scale {scale})"
        );
    }

    /// The primed state equals the streamed one in every part, and the predictions too, for
    /// the layouts that matter: the shared first-block history (repeat embedding), per-channel
    /// histories (linear embedding), a window shorter than the preprocessing history, and more
    /// than one series per window.
    #[test]
    fn priming_equals_streaming_the_window() {
        let device = Device::flex();
        for (l, embedding, b, v) in [
            (24, Embedding::Repeat, 2, 3),
            (24, Embedding::Linear, 1, 2),
            (6, Embedding::Repeat, 3, 1),
        ] {
            let model = SpaceTimeConfig::new(l, 5)
                .with_d_model(8)
                .with_state_dim(4)
                .with_first_n_kernels(2)
                .with_first_n_heads(4)
                .with_n_kernels(8)
                .with_n_encoder_blocks(2)
                .with_embedding(embedding)
                .with_dropout(0.0)
                .init(&device);
            let x = Tensor::<3>::random([b, l, v], Distribution::Normal(3.0, 2.0), &device);
            let (streamed, outputs) = model.stream_lookback(x.clone());
            let (primed, preds_blv) = model.prime(x);
            let case = format!("L {l}, {embedding:?}, B {b}, V {v}");
            assert_eq!(primed.steps, streamed.steps, "{case}: steps");
            assert_eq!(primed.encoder.len(), streamed.encoder.len());
            for (i, (p, s)) in primed.encoder.iter().zip(&streamed.encoder).enumerate() {
                close(&p.x_ncd, &s.x_ncd, &format!("{case}: block {i} state"));
                match (&p.hist_ncj, &s.hist_ncj) {
                    (Some(p), Some(s)) => close(p, s, &format!("{case}: block {i} history")),
                    (None, None) => {}
                    _ => panic!("{case}: block {i} history layout differs"),
                }
            }
            close(
                &primed.decoder_x_ncd,
                &streamed.decoder_x_ncd,
                &format!("{case}: decoder"),
            );
            close(
                &primed.norm_shift_n1,
                &streamed.norm_shift_n1,
                &format!("{case}: shift"),
            );
            let stepped: Tensor<3> = Tensor::stack(outputs.into_iter().map(|o| o.next_pred_bv).collect(), 1);
            close(
                &StateTensor::from_tensor(preds_blv),
                &StateTensor::from_tensor(stepped),
                &format!("{case}: predictions"),
            );
        }
    }
}
