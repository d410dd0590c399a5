//! The selective scan as **one backend op** with its own backward pass (`docs/simba.md` §1.8).
//!
//! The chunked scan ([`super::chunked_scan`]) builds the scan from tensor ops, so it materialises
//! `B·L·Q·E·N` segment weights and, under autodiff, a graph of a few dozen large ops. Here the
//! forward and the backward are each a single sequential sweep over time per `(batch, channel)`
//! pair, written once per backend:
//!
//! * **Flex (CPU)**: plain loops over the host buffers ([`flex_forward`], [`flex_backward`]);
//! * **CUDA** (`gpu` feature): CubeCL kernels with the same loops, one GPU thread per
//!   `(batch, channel)` pair (`scan/cube.rs`);
//! * **Autodiff** over either: the forward keeps every state `h_t` (`[B, L, E, N]`) and the
//!   backward op consumes them, so the autodiff graph holds one node whatever the length.
//!
//! Only the training configuration is covered: zero initial state and Euler `B̄ = Δ·B`
//! (Mamba's). Anything else goes through the chunked scan ([`super::selective_scan`] decides).
//!
//! **Backward pass.** With `ā_t = exp(Δ_t A)` (per channel `e` and state `n`),
//! `h_t = ā_t ⊙ h_{t−1} + Δ_t B_t u_t` and `y_t = C_t·h_t + D u_t`, let `g_t = ∂L/∂h_t`
//! (everything flowing into `h_t`): `g_t = dy_t C_t + ā_{t+1} ⊙ g_{t+1}`, swept from the last step
//! back. Then, per step,
//! `∂u_t = D dy_t + Δ_t Σ_n g_t B_t`,
//! `∂Δ_t = Σ_n g_t ⊙ (B_t u_t + A ā_t ⊙ h_{t−1})`,
//! `∂B_t = Σ_e g_t Δ_t u_t`, `∂C_t = Σ_e dy_t h_t`,
//! `∂A = Σ_{b,t} g_t Δ_t ā_t ⊙ h_{t−1}`, `∂D = Σ_{b,t} dy_t u_t`.
use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

/// Gradients of the fused scan with respect to each input, in the input's shape.
pub type ScanGradients<T> = (T, T, T, T, T, T);

/// The selective scan as a backend op (see the module docs). Shapes: `u`, `delta`:
/// `[B, L, E]`; `a`: `[E, N]`; `b`, `c`: `[B, L, N]`; `d`: `[E]`.
#[backend_extension(Flex, Autodiff, Cube: cfg(feature = "gpu"))]
pub trait SelectiveScanOps: Backend {
    /// Returns `y: [B, L, E]` and every state `h: [B, L, E, N]`.
    fn selective_scan_forward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// From the forward's inputs and states and `dy: [B, L, E]`, the gradients
    /// `(∂u, ∂Δ, ∂A, ∂B, ∂C, ∂D)`, each shaped as its input.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn selective_scan_backward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        states: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

/// `y` of the selective scan from zero state with Euler `B̄` through the fused op, and the
/// state after the last step. The final state is **not differentiable** through this path
/// (training reads `y` only); use the chunked scan when a loss depends on it.
///
/// # Shapes
/// * `u`, `delta`: `[B, L, E]`; `a`: `[E, N]`; `b`, `c`: `[B, L, N]`; `d`: `[E]`
/// * returns `y: [B, L, E]`, `final_state: [B, E, N]`
pub fn fused_scan(
    u: Tensor<3>,
    delta: Tensor<3>,
    a: Tensor<2>,
    b: Tensor<3>,
    c: Tensor<3>,
    d: Tensor<1>,
) -> (Tensor<3>, Tensor<3>) {
    let [batch, time, channels] = u.dims();
    let state = a.dims()[1];
    let (y, states) = <burn::backend::Dispatch as SelectiveScanOps>::selective_scan_forward(
        u.into_dispatch(),
        delta.into_dispatch(),
        a.into_dispatch(),
        b.into_dispatch(),
        c.into_dispatch(),
        d.into_dispatch(),
    );
    let states: Tensor<4> = Tensor::from_dispatch(states);
    let final_state = states.narrow(1, time - 1, 1).reshape([batch, channels, state]);
    (Tensor::from_dispatch(y), final_state)
}

impl<B: Backend + SelectiveScanOps, C: CheckpointStrategy> SelectiveScanOps for Autodiff<B, C> {
    fn selective_scan_forward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct ScanBackward;

        type Saved<B> = [FloatTensor<B>; 7];

        impl<B: Backend + SelectiveScanOps> Backward<B, 6> for ScanBackward {
            type State = Saved<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 6>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let dy = grads.consume::<B>(&ops.node);
                let [u, delta, a, b, c, d, states] = ops.state;
                let (du, ddelta, da, db, dc, dd) =
                    B::selective_scan_backward(u, delta, a, b, c, d, states, dy);
                for (parent, grad) in ops.parents.into_iter().zip([du, ddelta, da, db, dc, dd]) {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let guards = [u.node(), delta.node(), a.node(), b.node(), c.node(), d.node()];
        let inputs = [
            u.into_primitive(),
            delta.into_primitive(),
            a.into_primitive(),
            b.into_primitive(),
            c.into_primitive(),
            d.into_primitive(),
        ];
        let [u, delta, a, b, c, d] = inputs;
        let (y, states) = B::selective_scan_forward(
            u.clone(),
            delta.clone(),
            a.clone(),
            b.clone(),
            c.clone(),
            d.clone(),
        );
        let y = match ScanBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish([u, delta, a, b, c, d, states.clone()], y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, Self::from_inner(states))
    }

    fn selective_scan_backward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        states: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> ScanGradients<FloatTensor<Self>> {
        // Not differentiable itself (no second derivatives): run on the inner backend.
        let (du, ddelta, da, db, dc, dd) = B::selective_scan_backward(
            u.into_primitive(),
            delta.into_primitive(),
            a.into_primitive(),
            b.into_primitive(),
            c.into_primitive(),
            d.into_primitive(),
            states.into_primitive(),
            dy.into_primitive(),
        );
        (
            Self::from_inner(du),
            Self::from_inner(ddelta),
            Self::from_inner(da),
            Self::from_inner(db),
            Self::from_inner(dc),
            Self::from_inner(dd),
        )
    }
}

/// Sizes of a scan problem, read off the inputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub batch: usize,
    pub time: usize,
    pub channels: usize,
    pub state: usize,
}

fn host(t: FloatTensor<Flex>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("selective scan: f32 data")
}

fn flex(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FloatTensor<Flex> {
    burn::backend::flex::FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The forward sweep on host buffers: `y [B, L, E]` and `h [B, L, E, N]`.
pub(crate) fn flex_forward(dims: Dims, [u, delta, a, b, c, d]: [&[f32]; 6]) -> (Vec<f32>, Vec<f32>) {
    let Dims {
        batch,
        time,
        channels: e_n,
        state: n,
    } = dims;
    let mut y = vec![0.0f32; batch * time * e_n];
    let mut h = vec![0.0f32; batch * time * e_n * n];
    for bi in 0..batch {
        for t in 0..time {
            let row = bi * time + t;
            for e in 0..e_n {
                let (ut, dt) = (u[row * e_n + e], delta[row * e_n + e]);
                let mut out = d[e] * ut;
                let here = (row * e_n + e) * n;
                for k in 0..n {
                    let prev = if t > 0 { h[here - e_n * n + k] } else { 0.0 };
                    let hk = (dt * a[e * n + k]).exp() * prev + dt * b[row * n + k] * ut;
                    h[here + k] = hk;
                    out += c[row * n + k] * hk;
                }
                y[row * e_n + e] = out;
            }
        }
    }
    (y, h)
}

/// The backward sweep on host buffers: `(∂u, ∂Δ, ∂A, ∂B, ∂C, ∂D)`.
pub(crate) fn flex_backward(dims: Dims, [u, delta, a, b, c, d, h, dy]: [&[f32]; 8]) -> [Vec<f32>; 6] {
    let Dims {
        batch,
        time,
        channels: e_n,
        state: n,
    } = dims;
    let mut du = vec![0.0f32; batch * time * e_n];
    let mut ddelta = vec![0.0f32; batch * time * e_n];
    let mut da = vec![0.0f32; e_n * n];
    let mut db = vec![0.0f32; batch * time * n];
    let mut dc = vec![0.0f32; batch * time * n];
    let mut dd = vec![0.0f32; e_n];
    let mut g = vec![0.0f32; n];
    for bi in 0..batch {
        for e in 0..e_n {
            g.iter_mut().for_each(|v| *v = 0.0);
            for t in (0..time).rev() {
                let row = bi * time + t;
                let (ut, dt, dyt) = (u[row * e_n + e], delta[row * e_n + e], dy[row * e_n + e]);
                let here = (row * e_n + e) * n;
                let (mut du_t, mut ddt) = (d[e] * dyt, 0.0f32);
                dd[e] += dyt * ut;
                for k in 0..n {
                    let ak = a[e * n + k];
                    let decay = (dt * ak).exp();
                    let prev = if t > 0 { h[here - e_n * n + k] } else { 0.0 };
                    let (bk, ck) = (b[row * n + k], c[row * n + k]);
                    dc[row * n + k] += dyt * h[here + k];
                    let gk = g[k] + dyt * ck;
                    du_t += gk * dt * bk;
                    ddt += gk * (bk * ut + ak * decay * prev);
                    db[row * n + k] += gk * dt * ut;
                    da[e * n + k] += gk * dt * decay * prev;
                    g[k] = gk * decay;
                }
                du[row * e_n + e] = du_t;
                ddelta[row * e_n + e] = ddt;
            }
        }
    }
    [du, ddelta, da, db, dc, dd]
}

fn dims_of(u: &FloatTensor<Flex>, a: &FloatTensor<Flex>) -> Dims {
    use burn::backend::TensorMetadata;
    let (us, as_) = (u.shape(), a.shape());
    Dims {
        batch: us[0],
        time: us[1],
        channels: us[2],
        state: as_[1],
    }
}

impl SelectiveScanOps for Flex {
    fn selective_scan_forward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let dims = dims_of(&u, &a);
        let [u, delta, a, b, c, d] = [u, delta, a, b, c, d].map(host);
        let (y, h) = flex_forward(dims, [&u, &delta, &a, &b, &c, &d]);
        let Dims {
            batch,
            time,
            channels,
            state,
        } = dims;
        (
            flex(y, [batch, time, channels]),
            flex(h, [batch, time, channels, state]),
        )
    }

    fn selective_scan_backward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
        states: FloatTensor<Self>,
        dy: FloatTensor<Self>,
    ) -> ScanGradients<FloatTensor<Self>> {
        let dims = dims_of(&u, &a);
        let [u, delta, a, b, c, d, h, dy] = [u, delta, a, b, c, d, states, dy].map(host);
        let [du, ddelta, da, db, dc, dd] = flex_backward(dims, [&u, &delta, &a, &b, &c, &d, &h, &dy]);
        let Dims {
            batch,
            time,
            channels,
            state,
        } = dims;
        (
            flex(du, [batch, time, channels]),
            flex(ddelta, [batch, time, channels]),
            flex(da, [channels, state]),
            flex(db, [batch, time, state]),
            flex(dc, [batch, time, state]),
            flex(dd, [channels]),
        )
    }
}
