//! The fused selective scan on CubeCL runtimes (CUDA in the `gpu` build): the same sweeps as the
//! host loops of [`super::fused`], one GPU thread per `(batch, channel)` pair, sequential over
//! time with the `N` state entries in an inner loop.
//!
//! Every tensor is indexed through its strides: CUDA buffers from `empty_device_dtype` are
//! pitched, so dense offsets would be wrong.
//!
//! The backward kernel writes per-channel partial gradients of the inputs shared by all channels
//! (`B`, `C`: `[B, L, E, N]`; `A`: `[B, E, N]`; `D`: `[B, E]`); they are summed over the shared
//! axis with the backend's own reductions, so the kernel needs no atomics.
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Cube, TensorMetadata};
use burn::tensor::Shape;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{kernel::into_contiguous, ops::numeric::empty_device_dtype};
use cubecl::prelude::*;

use super::fused::{ScanGradients, SelectiveScanOps};

/// Threads per cube.
const THREADS: u32 = 128;

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn forward_kernel<F: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<F>,
    b: &Tensor<F>,
    c: &Tensor<F>,
    d: &Tensor<F>,
    y: &mut Tensor<F>,
    h: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = y.shape(0);
    let time = y.shape(1);
    let channels = y.shape(2);
    let states = a.shape(1);
    let idx = ABSOLUTE_POS;
    if idx >= batch * channels {
        terminate!();
    }
    let bi = idx / channels;
    let ei = idx % channels;
    let de = d[ei * d.stride(0)];
    for t in 0..time {
        let ut = u[bi * u.stride(0) + t * u.stride(1) + ei * u.stride(2)];
        let dt = delta[bi * delta.stride(0) + t * delta.stride(1) + ei * delta.stride(2)];
        let mut out = de * ut;
        for k in 0..states {
            let ak = a[ei * a.stride(0) + k * a.stride(1)];
            let bk = b[bi * b.stride(0) + t * b.stride(1) + k * b.stride(2)];
            let ck = c[bi * c.stride(0) + t * c.stride(1) + k * c.stride(2)];
            let here = bi * h.stride(0) + t * h.stride(1) + ei * h.stride(2) + k * h.stride(3);
            let mut prev = F::new(0.0);
            if t > 0 {
                prev = h[here - h.stride(1)];
            }
            let hk = F::exp(dt * ak) * prev + dt * bk * ut;
            h[here] = hk;
            out += ck * hk;
        }
        let iy = bi * y.stride(0) + t * y.stride(1) + ei * y.stride(2);
        y[iy] = out;
    }
}

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn backward_kernel<F: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<F>,
    b: &Tensor<F>,
    c: &Tensor<F>,
    d: &Tensor<F>,
    h: &Tensor<F>,
    dy: &Tensor<F>,
    du: &mut Tensor<F>,
    ddelta: &mut Tensor<F>,
    da_part: &mut Tensor<F>,
    db_part: &mut Tensor<F>,
    dc_part: &mut Tensor<F>,
    dd_part: &mut Tensor<F>,
    carry: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = u.shape(0);
    let time = u.shape(1);
    let channels = u.shape(2);
    let states = a.shape(1);
    let idx = ABSOLUTE_POS;
    if idx >= batch * channels {
        terminate!();
    }
    let bi = idx / channels;
    let ei = idx % channels;
    let de = d[ei * d.stride(0)];
    // carry[b, e, k] = ā_{t+1} g_{t+1}: the gradient reaching h_t from the later steps.
    for k in 0..states {
        let ic = bi * carry.stride(0) + ei * carry.stride(1) + k * carry.stride(2);
        carry[ic] = F::new(0.0);
        let ia = bi * da_part.stride(0) + ei * da_part.stride(1) + k * da_part.stride(2);
        da_part[ia] = F::new(0.0);
    }
    let mut dd_acc = F::new(0.0);
    for step in 0..time {
        let t = time - 1 - step;
        let ut = u[bi * u.stride(0) + t * u.stride(1) + ei * u.stride(2)];
        let dt = delta[bi * delta.stride(0) + t * delta.stride(1) + ei * delta.stride(2)];
        let dyt = dy[bi * dy.stride(0) + t * dy.stride(1) + ei * dy.stride(2)];
        let mut du_t = de * dyt;
        let mut ddt = F::new(0.0);
        dd_acc += dyt * ut;
        for k in 0..states {
            let ak = a[ei * a.stride(0) + k * a.stride(1)];
            let decay = F::exp(dt * ak);
            let here = bi * h.stride(0) + t * h.stride(1) + ei * h.stride(2) + k * h.stride(3);
            let mut prev = F::new(0.0);
            if t > 0 {
                prev = h[here - h.stride(1)];
            }
            let bk = b[bi * b.stride(0) + t * b.stride(1) + k * b.stride(2)];
            let ck = c[bi * c.stride(0) + t * c.stride(1) + k * c.stride(2)];
            let part = bi * db_part.stride(0)
                + t * db_part.stride(1)
                + ei * db_part.stride(2)
                + k * db_part.stride(3);
            let part_c = bi * dc_part.stride(0)
                + t * dc_part.stride(1)
                + ei * dc_part.stride(2)
                + k * dc_part.stride(3);
            dc_part[part_c] = dyt * h[here];
            let ic = bi * carry.stride(0) + ei * carry.stride(1) + k * carry.stride(2);
            let gk = carry[ic] + dyt * ck;
            du_t += gk * dt * bk;
            ddt += gk * (bk * ut + ak * decay * prev);
            db_part[part] = gk * dt * ut;
            let ia = bi * da_part.stride(0) + ei * da_part.stride(1) + k * da_part.stride(2);
            da_part[ia] += gk * dt * decay * prev;
            carry[ic] = gk * decay;
        }
        let iu = bi * du.stride(0) + t * du.stride(1) + ei * du.stride(2);
        du[iu] = du_t;
        let idt = bi * ddelta.stride(0) + t * ddelta.stride(1) + ei * ddelta.stride(2);
        ddelta[idt] = ddt;
    }
    let id = bi * dd_part.stride(0) + ei * dd_part.stride(1);
    dd_part[id] = dd_acc;
}

fn empty_like(t: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_dtype(t.client.clone(), t.device.clone(), shape.into(), t.dtype)
}

/// Cubes and threads for one thread per `(batch, channel)` pair.
fn launch_size(pairs: usize) -> (CubeCount, CubeDim) {
    let cubes = u32::try_from(pairs.div_ceil(THREADS as usize)).expect("selective scan: too many series");
    (CubeCount::Static(cubes.max(1), 1, 1), CubeDim::new_1d(THREADS))
}

/// `t` summed over `dim` and that axis removed.
fn sum_out(t: CubeTensor, dim: usize) -> CubeTensor {
    let mut dims: Vec<usize> = t.shape().to_vec();
    let summed = <Cube as FloatTensorOps<Cube>>::float_sum_dim(t, dim);
    dims.remove(dim);
    <Cube as FloatTensorOps<Cube>>::float_reshape(summed, Shape::from(dims))
}

impl SelectiveScanOps for Cube {
    fn selective_scan_forward(
        u: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [u, delta, a, b, c, d] = [u, delta, a, b, c, d].map(into_contiguous);
        let (shape_u, shape_a) = (u.shape(), a.shape());
        let (batch, time, channels, states) = (shape_u[0], shape_u[1], shape_u[2], shape_a[1]);
        let y = empty_like(&u, [batch, time, channels]);
        let h = empty_like(&u, [batch, time, channels, states]);
        let (count, dim) = launch_size(batch * channels);
        let dtype = dtype_to_storage_type(u.dtype);
        let client = u.client.clone();
        forward_kernel::launch(
            &client,
            count,
            dim,
            u.into_tensor_arg(),
            delta.into_tensor_arg(),
            a.into_tensor_arg(),
            b.into_tensor_arg(),
            c.into_tensor_arg(),
            d.into_tensor_arg(),
            y.clone().into_tensor_arg(),
            h.clone().into_tensor_arg(),
            dtype,
        );
        (y, h)
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
        let [u, delta, a, b, c, d, h, dy] = [u, delta, a, b, c, d, states, dy].map(into_contiguous);
        let (shape_u, shape_a) = (u.shape(), a.shape());
        let (batch, time, channels, n) = (shape_u[0], shape_u[1], shape_u[2], shape_a[1]);
        let du = empty_like(&u, [batch, time, channels]);
        let ddelta = empty_like(&u, [batch, time, channels]);
        let da_part = empty_like(&u, [batch, channels, n]);
        let db_part = empty_like(&u, [batch, time, channels, n]);
        let dc_part = empty_like(&u, [batch, time, channels, n]);
        let dd_part = empty_like(&u, [batch, channels]);
        let carry = empty_like(&u, [batch, channels, n]);
        let (count, dim) = launch_size(batch * channels);
        let dtype = dtype_to_storage_type(u.dtype);
        let client = u.client.clone();
        backward_kernel::launch(
            &client,
            count,
            dim,
            u.into_tensor_arg(),
            delta.into_tensor_arg(),
            a.into_tensor_arg(),
            b.into_tensor_arg(),
            c.into_tensor_arg(),
            d.into_tensor_arg(),
            h.into_tensor_arg(),
            dy.into_tensor_arg(),
            du.clone().into_tensor_arg(),
            ddelta.clone().into_tensor_arg(),
            da_part.clone().into_tensor_arg(),
            db_part.clone().into_tensor_arg(),
            dc_part.clone().into_tensor_arg(),
            dd_part.clone().into_tensor_arg(),
            carry.into_tensor_arg(),
            dtype,
        );
        (
            du,
            ddelta,
            sum_out(da_part, 0),
            sum_out(db_part, 2),
            sum_out(dc_part, 2),
            sum_out(dd_part, 0),
        )
    }
}
