//! The token head that SiMBA and Chimera share: `Linear(K·C → H)` over the last `K` tokens of a
//! series (oldest first, flattened), and what follows from it.
//!
//! Every token is the causal summary of its series up to that time step, so the head applied to
//! tokens `t−K+1 ..= t` (zeros before the first token) forecasts rows `t + 1 ..= t + H`:
//!
//! * on the last `K` tokens of a window it is the forecast ([`head_input`]);
//! * its first output at every token is the model's one-step prediction, which the anomaly scorer
//!   uses as the reconstruction ([`next_row_predictions`], [`align_next_predictions`]);
//! * a stream keeps the last `K` head inputs in its state ([`push_head_input`]), so a point costs
//!   `O(K·C·H)` whatever came before, and forecasts beyond `H` by feeding the forecast back
//!   ([`roll_forecast`]).
//!
//! Shape letters: `n` series, `t` time, `c` channels, `k` head tokens, `h` horizon, `b` batch,
//! `v` variates.
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;

use crate::spacetime::{NormStats, unfold_variates};

/// The head's input after the last of `T ≥ K` tokens: the last `K` tokens, oldest first,
/// flattened.
///
/// # Shapes
/// * `z_ntc`: `[N, T, C]`, returns `[N, K·C]`
pub(crate) fn head_input(z_ntc: Tensor<3>, k: usize) -> Tensor<2> {
    let [n, t, c] = z_ntc.dims();
    z_ntc.narrow(1, t - k, k).reshape([n, k * c])
}

/// The head's first output (the next-row prediction) at every token, each reading the `K`
/// tokens up to it with zeros before the first: a causal convolution over tokens with the
/// head's first column as its kernel.
///
/// # Shapes
/// * `z_ntc`: `[N, T, C]`, returns `[N, T]`
pub(crate) fn next_row_predictions(head: &Linear, k: usize, z_ntc: Tensor<3>) -> Tensor<2> {
    let [n, t, c] = z_ntc.dims();
    let weight_kc = head.weight.val().narrow(1, 0, 1).reshape([k, c]);
    let bias = head.bias.as_ref().map(|b| b.val().narrow(0, 0, 1));
    let z_nct = z_ntc.swap_dims(1, 2);
    let padded = if k > 1 {
        Tensor::cat(vec![Tensor::zeros([n, c, k - 1], &z_nct.device()), z_nct], 2)
    } else {
        z_nct
    };
    let weight_1ck = weight_kc.swap_dims(0, 1).reshape([1, c, k]);
    conv1d(padded, weight_1ck, bias, ConvOptions::new([1], [0], [1], 1)).reshape([n, t])
}

/// Row `t ≥ 1` is the prediction of row `t` made from rows `..t`; row 0 has no predecessor and is
/// the input row itself.
///
/// # Shapes
/// * `x_blv`, `next_pred_blv`: `[B, L, V]`; returns `[B, L, V]`
pub(crate) fn align_next_predictions(x_blv: Tensor<3>, next_pred_blv: Tensor<3>) -> Tensor<3> {
    let [_, l, _] = x_blv.dims();
    if l < 2 {
        return x_blv;
    }
    Tensor::cat(vec![x_blv.narrow(1, 0, 1), next_pred_blv.narrow(1, 0, l - 1)], 1)
}

/// The last `K` head inputs after one more token: drops the oldest, appends `newest_nc`.
///
/// # Shapes
/// * `earlier_nkc`: `[N, K, C]`, `newest_nc`: `[N, C]`; returns `[N, K, C]`
pub(crate) fn push_head_input(earlier_nkc: Tensor<3>, newest_nc: Tensor<2>) -> Tensor<3> {
    let [n, k, c] = earlier_nkc.dims();
    let newest_n1c = newest_nc.reshape([n, 1, c]);
    if k > 1 {
        Tensor::cat(vec![earlier_nkc.narrow(1, 1, k - 1), newest_n1c], 1)
    } else {
        newest_n1c
    }
}

/// The next `steps` rows of a stream without advancing it, `[B, steps, V]` (original scale). Up
/// to `H` steps this is the head's output after the last point (`forecast_of`, normalised scale,
/// `[B·V, H]`); beyond `H` the forecast is fed back point by point (`step`) into a copy of the
/// state and the head's next output continues it.
pub(crate) fn roll_forecast<S: Clone>(
    state: &S,
    stats: &NormStats,
    [b, v, horizon, steps]: [usize; 4],
    forecast_of: impl Fn(&S) -> Tensor<2>,
    step: impl Fn(Tensor<2>, &mut S),
    device: &Device,
) -> Tensor<3> {
    let mut rolled = state.clone();
    let mut parts = Vec::new();
    let mut left = steps;
    while left > 0 {
        let forecast_nh = stats.denormalize(forecast_of(&rolled));
        let take = left.min(horizon);
        parts.push(forecast_nh.clone().narrow(1, 0, take));
        left -= take;
        if left > 0 {
            let forecast_bhv = unfold_variates(forecast_nh, b, v);
            for j in 0..horizon {
                step(forecast_bhv.clone().narrow(1, j, 1).reshape([b, v]), &mut rolled);
            }
        }
    }
    let joined = if parts.is_empty() {
        Tensor::zeros([b * v, 0], device)
    } else {
        Tensor::cat(parts, 1)
    };
    unfold_variates(joined, b, v)
}
