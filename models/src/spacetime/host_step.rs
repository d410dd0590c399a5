//! The companion recurrence `x ← A x + b u`, `y = cᵀ x` of a streaming step, computed in place on
//! the host state (CPU backend only).
//!
//! [`super::ssm_layer::companion_step`] runs the step as tensor operations: a shift by
//! concatenation, two broadcast products, two sums and a readout, each one a pass over the
//! `[N, C, d]` state, plus the state's conversions to and from a tensor. On the CPU the state is
//! host memory already ([`super::StateTensor`]), so this kernel reads each channel's `d` values
//! once, writes them once and accumulates the readout on the way: the same arithmetic in one
//! pass. The monitor advances thousands of states per second this way. Accelerators keep the
//! tensor path. Tests hold the two to float rounding.

/// One step of every channel of every row, in place.
///
/// With `A = S + a e_dᵀ` (`S` shifts down by one), the new state is
/// `x'_0 = a_0 x_{d−1} + b_0 u`, `x'_i = x_{i−1} + a_i x_{d−1} + b_i u`, and the output is
/// `y = Σ_i c_i x'_i (+ D u)`.
///
/// # Shapes
/// * `a_cd`, `b_cd`, `c_cd`: `[C, d]`; `d_skip_c`: `[C]`; `x_ncd`: `[N, C, d]` (updated);
///   `u_nc`: `[N, C]`; returns `y`, `[N, C]`
///
/// # Panics
/// If the lengths do not match these shapes.
pub(crate) fn companion_step_in_place(
    a_cd: &[f32],
    b_cd: &[f32],
    c_cd: &[f32],
    d_skip_c: Option<&[f32]>,
    x_ncd: &mut [f32],
    u_nc: &[f32],
    channels: usize,
) -> Vec<f32> {
    let c = channels;
    let d = a_cd.len() / c;
    assert!(
        d >= 1 && a_cd.len() == c * d && b_cd.len() == c * d && c_cd.len() == c * d,
        "companion_step_in_place: parameters are not [C, d]"
    );
    assert_eq!(u_nc.len() % c, 0, "companion_step_in_place: input is not [N, C]");
    let n = u_nc.len() / c;
    assert_eq!(
        x_ncd.len(),
        n * c * d,
        "companion_step_in_place: state is not [N, C, d]"
    );
    if let Some(skip) = d_skip_c {
        assert_eq!(skip.len(), c, "companion_step_in_place: skip is not [C]");
    }
    let mut y_nc = vec![0.0f32; n * c];
    let mut next = vec![0.0f32; d];
    for ((x_cd, u_c), y_c) in x_ncd
        .chunks_exact_mut(c * d)
        .zip(u_nc.chunks_exact(c))
        .zip(y_nc.chunks_exact_mut(c))
    {
        for ch in 0..c {
            let x = &mut x_cd[ch * d..(ch + 1) * d];
            let (a, b, out) = (
                &a_cd[ch * d..(ch + 1) * d],
                &b_cd[ch * d..(ch + 1) * d],
                &c_cd[ch * d..(ch + 1) * d],
            );
            let (last, u) = (x[d - 1], u_c[ch]);
            // Iterators rather than indices: no bounds checks, so the loop vectorises.
            next[0] = a[0] * last + b[0] * u;
            for (((n, xp), ai), bi) in next[1..].iter_mut().zip(&x[..d - 1]).zip(&a[1..]).zip(&b[1..]) {
                *n = xp + ai * last + bi * u;
            }
            let mut y = store_and_dot(x, &next, out);
            if let Some(skip) = d_skip_c {
                y += skip[ch] * u;
            }
            y_c[ch] = y;
        }
    }
    y_nc
}

/// Copy `src` into `dst` and return `Σ src_i q_i`, in one pass with eight independent partial
/// sums. One pass instead of a copy and a dot product; the compiler turns the lanes into SIMD (a
/// single running sum is one long chain of dependent additions), and the copy does not become a
/// `memcpy` call per channel, whose overhead dominated at `d = 32`.
// The copy is fused with the products on purpose: one pass and no `memcpy` call per channel.
#[allow(clippy::manual_memcpy)]
fn store_and_dot(dst: &mut [f32], src: &[f32], q: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (dc, sc, qc) = (
        dst.chunks_exact_mut(LANES),
        src.chunks_exact(LANES),
        q.chunks_exact(LANES),
    );
    let (sr, qr) = (sc.remainder(), qc.remainder());
    let mut tail = 0.0f32;
    let n = src.len() - sr.len();
    for ((d, s), q) in dc.zip(sc).zip(qc) {
        let (d, s, q): (&mut [f32; LANES], &[f32; LANES], &[f32; LANES]) = (
            d.try_into().expect("a lane chunk"),
            s.try_into().expect("a lane chunk"),
            q.try_into().expect("a lane chunk"),
        );
        for l in 0..LANES {
            d[l] = s[l];
            acc[l] += s[l] * q[l];
        }
    }
    for ((d, s), q) in dst[n..].iter_mut().zip(sr).zip(qr) {
        *d = *s;
        tail += s * q;
    }
    acc.iter().sum::<f32>() + tail
}

/// [`companion_step_in_place`] of several states, each in its own buffer (`xs[i]`: `[N_i, C, d]`,
/// its rows of `u_nc` in order), without stacking them; returns `y` of all rows, `[Σ N_i, C]`.
///
/// # Panics
/// If the states' rows do not add up to the rows of `u_nc`, or as [`companion_step_in_place`].
pub(crate) fn companion_step_in_place_many(
    a_cd: &[f32],
    b_cd: &[f32],
    c_cd: &[f32],
    d_skip_c: Option<&[f32]>,
    xs: &mut [&mut [f32]],
    u_nc: &[f32],
    channels: usize,
) -> Vec<f32> {
    let per_row = a_cd.len();
    let mut y = Vec::with_capacity(u_nc.len());
    let mut from = 0;
    for x in xs.iter_mut() {
        let rows = x.len() / per_row.max(1);
        let to = from + rows * channels;
        assert!(
            to <= u_nc.len(),
            "companion_step_in_place_many: more state rows than inputs"
        );
        y.extend(companion_step_in_place(
            a_cd,
            b_cd,
            c_cd,
            d_skip_c,
            x,
            &u_nc[from..to],
            channels,
        ));
        from = to;
    }
    assert_eq!(from, u_nc.len(), "companion_step_in_place_many: inputs left over");
    y
}
