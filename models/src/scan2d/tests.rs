//! The whole-grid algorithms against the `f64` oracle and each other: values, last column,
//! streaming continuation, gradients (each other and finite differences), the uncoupled special
//! case, causality, orientation choice and shape checks. `linear.rs` and `lti.rs` test their own
//! parts beside the code.
use super::reference::{HostScan2d, sequential_scan2d};
use super::*;
use crate::testing::{Rng, assert_close, host, tensor};
use burn::prelude::*;

/// (batch, variates, time, channels, state)
pub(super) type Sizes = (usize, usize, usize, usize, usize);

/// (sizes, chunk): one cell, one variate, one time step, more variates than steps and the
/// reverse, ragged last chunks along either axis, chunk 1, a chunk longer than both axes.
const CASES: [(Sizes, usize); 9] = [
    ((1, 1, 1, 1, 1), 4),
    ((2, 1, 9, 2, 3), 4),
    ((2, 6, 1, 2, 3), 4),
    ((1, 7, 3, 2, 4), 2),
    ((2, 3, 11, 3, 2), 4),
    ((1, 5, 6, 2, 3), 1),
    ((2, 4, 5, 2, 2), 8),
    ((1, 9, 13, 2, 3), 5),
    ((1, 12, 4, 1, 2), 3),
];

/// A random problem: `Δ1`, `Δ2` in [0.05, 0.55), `A1`, `A4` in about [−4, −0.2], `A2`, `A3` normal
/// with standard deviation 0.5 (either sign), everything else standard normal.
pub(super) fn random_problem(rng: &mut Rng, (batch, variates, time, channels, state): Sizes) -> HostScan2d {
    let cells = batch * variates * time;
    let mut steps = |n: usize| -> Vec<f64> { (0..n).map(|_| 0.05 + 0.5 * rng.uniform()).collect() };
    let (delta1, delta2) = (steps(cells * channels), steps(cells * channels));
    let mut decays = |n: usize| -> Vec<f64> { (0..n).map(|_| -(0.6 * rng.normal()).exp()).collect() };
    let (a1, a4) = (decays(channels * state), decays(channels * state));
    let mut coupling = |n: usize| -> Vec<f64> { rng.normals(n).into_iter().map(|a| 0.5 * a).collect() };
    let (a2, a3) = (coupling(channels * state), coupling(channels * state));
    HostScan2d {
        batch,
        variates,
        time,
        channels,
        state,
        x: rng.normals(cells * channels),
        delta1,
        delta2,
        a1,
        a2,
        a3,
        a4,
        b1: rng.normals(cells * state),
        b2: rng.normals(cells * state),
        c1: rng.normals(cells * state),
        c2: rng.normals(cells * state),
        d: rng.normals(channels),
    }
}

/// The tensors of `p` on `device`.
pub(super) fn to_tensors(p: &HostScan2d, device: &Device) -> (Scan2dParams, Scan2dInput) {
    let (bt, v, t, e, n) = (p.batch, p.variates, p.time, p.channels, p.state);
    (
        Scan2dParams {
            a1: tensor(&p.a1, [e, n], device),
            a2: tensor(&p.a2, [e, n], device),
            a3: tensor(&p.a3, [e, n], device),
            a4: tensor(&p.a4, [e, n], device),
            d: tensor(&p.d, [e], device),
        },
        Scan2dInput {
            x: tensor(&p.x, [bt, v, t, e], device),
            delta1: tensor(&p.delta1, [bt, v, t, e], device),
            delta2: tensor(&p.delta2, [bt, v, t, e], device),
            b1: tensor(&p.b1, [bt, v, t, n], device),
            b2: tensor(&p.b2, [bt, v, t, n], device),
            c1: tensor(&p.c1, [bt, v, t, n], device),
            c2: tensor(&p.c2, [bt, v, t, n], device),
        },
    )
}

type Scan = fn(&Scan2dParams, Scan2dInput, usize) -> Scan2dOutput;

const SCANS: [(&str, Scan); 3] = [("rows", rows_scan), ("columns", columns_scan), ("scan2d", scan2d)];

#[test]
fn rows_and_columns_match_the_reference() {
    let device = Device::flex();
    let mut rng = Rng::new(71);
    for (sizes, chunk) in CASES {
        let (bt, v, t, e, n) = sizes;
        let p = random_problem(&mut rng, sizes);
        let want = sequential_scan2d(&p);
        let (params, input) = to_tensors(&p, &device);
        for (name, scan) in SCANS {
            let out = scan(&params, input.clone(), chunk);
            let what = format!("{name} B={bt} V={v} T={t} E={e} N={n} Q={chunk}");
            assert_eq!(out.y.dims(), [bt, v, t, e], "{what}");
            assert_close(&host(out.y), &want.y, 1e-5, 1e-6, &format!("{what}: y"));
            assert_close(
                &host(out.last_column.h1),
                &want.last_h1,
                1e-5,
                1e-6,
                &format!("{what}: last h1"),
            );
            assert_close(
                &host(out.last_column.h2),
                &want.last_h2,
                1e-5,
                1e-6,
                &format!("{what}: last h2"),
            );
        }
    }
}

/// The first `len` time steps of every tensor of `input`.
fn first_steps(input: &Scan2dInput, len: usize) -> Scan2dInput {
    let cut = |t: &Tensor<4>| t.clone().narrow(2, 0, len);
    Scan2dInput {
        x: cut(&input.x),
        delta1: cut(&input.delta1),
        delta2: cut(&input.delta2),
        b1: cut(&input.b1),
        b2: cut(&input.b2),
        c1: cut(&input.c1),
        c2: cut(&input.c2),
    }
}

#[test]
fn steps_continue_a_rows_scan_exactly() {
    // A stream primed by the parallel scan over the first half of the window and continued one
    // time step at a time gives the whole-window outputs and last column (the carry a streaming
    // session relies on).
    let device = Device::flex();
    let mut rng = Rng::new(72);
    for (sizes, chunk) in CASES.into_iter().filter(|((_, _, t, _, _), _)| *t >= 2) {
        let (bt, v, t, e, n) = sizes;
        let p = random_problem(&mut rng, sizes);
        let want = sequential_scan2d(&p);
        let (params, input) = to_tensors(&p, &device);
        let split = t / 2;
        let primed = rows_scan(&params, first_steps(&input, split), chunk);
        let mut ys = vec![primed.y];
        let mut state = primed.last_column;
        for step in split..t {
            let out = scan2d_step(&params, state, input.column(step), chunk);
            ys.push(out.y.unsqueeze_dim::<4>(2));
            state = out.state;
        }
        let what = format!("B={bt} V={v} T={t} E={e} N={n} Q={chunk} split {split}");
        assert_close(
            &host(Tensor::cat(ys, 2)),
            &want.y,
            1e-5,
            1e-6,
            &format!("{what}: y"),
        );
        assert_close(&host(state.h1), &want.last_h1, 1e-5, 1e-6, &format!("{what}: h1"));
        assert_close(&host(state.h2), &want.last_h2, 1e-5, 1e-6, &format!("{what}: h2"));
    }
}

const GRAD_NAMES: [&str; 12] = [
    "x", "Δ1", "Δ2", "A1", "A2", "A3", "A4", "B1", "B2", "C1", "C2", "D",
];

/// The loss weights of [`gradients`]: on `y`, on the last column's `h1` and on its `h2`.
struct LossWeights {
    y: Vec<f64>,
    h1: Vec<f64>,
    h2: Vec<f64>,
}

impl LossWeights {
    fn random(rng: &mut Rng, (bt, v, t, e, n): Sizes) -> Self {
        Self {
            y: rng.normals(bt * v * t * e),
            h1: rng.normals(bt * v * e * n),
            h2: rng.normals(bt * v * e * n),
        }
    }

    /// `Σ w ⊙ y + Σ w1 ⊙ h1[:, T−1] + Σ w2 ⊙ h2[:, T−1]` from the `f64` reference.
    fn host_loss(&self, p: &HostScan2d) -> f64 {
        let out = sequential_scan2d(p);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        dot(&out.y, &self.y) + dot(&out.last_h1, &self.h1) + dot(&out.last_h2, &self.h2)
    }
}

/// Gradients of the weighted loss wrt every input and parameter, in [`GRAD_NAMES`] order,
/// through `scan` under autodiff.
fn gradients(p: &HostScan2d, w: &LossWeights, scan: Scan, chunk: usize) -> Vec<Vec<f64>> {
    let ad = Device::flex().autodiff();
    let (params, input) = to_tensors(p, &ad);
    let params = Scan2dParams {
        a1: params.a1.require_grad(),
        a2: params.a2.require_grad(),
        a3: params.a3.require_grad(),
        a4: params.a4.require_grad(),
        d: params.d.require_grad(),
    };
    let input = Scan2dInput {
        x: input.x.require_grad(),
        delta1: input.delta1.require_grad(),
        delta2: input.delta2.require_grad(),
        b1: input.b1.require_grad(),
        b2: input.b2.require_grad(),
        c1: input.c1.require_grad(),
        c2: input.c2.require_grad(),
    };
    let out = scan(&params, input.clone(), chunk);
    let (bt, v, t, e, n) = (p.batch, p.variates, p.time, p.channels, p.state);
    let loss = (out.y * tensor(&w.y, [bt, v, t, e], &ad)).sum()
        + (out.last_column.h1 * tensor(&w.h1, [bt, v, e, n], &ad)).sum()
        + (out.last_column.h2 * tensor(&w.h2, [bt, v, e, n], &ad)).sum();
    let g = loss.backward();
    let grad2 = |t: &Tensor<2>| host(t.grad(&g).expect("parameter gradient"));
    let grad4 = |t: &Tensor<4>| host(t.grad(&g).expect("input gradient"));
    vec![
        grad4(&input.x),
        grad4(&input.delta1),
        grad4(&input.delta2),
        grad2(&params.a1),
        grad2(&params.a2),
        grad2(&params.a3),
        grad2(&params.a4),
        grad4(&input.b1),
        grad4(&input.b2),
        grad4(&input.c1),
        grad4(&input.c2),
        host(params.d.grad(&g).expect("dD")),
    ]
}

#[test]
fn rows_and_columns_gradients_agree() {
    // At least two variates and two time steps, so that every parameter reaches the loss.
    let mut rng = Rng::new(73);
    for (sizes, chunk) in [
        ((2, 3, 5, 2, 3), 2),
        ((1, 5, 3, 2, 2), 4),
        ((2, 4, 4, 3, 2), 1),
        ((1, 2, 7, 2, 2), 3),
    ] {
        let (bt, v, t, e, n) = sizes;
        let p = random_problem(&mut rng, sizes);
        let w = LossWeights::random(&mut rng, sizes);
        let rows = gradients(&p, &w, rows_scan, chunk);
        let columns = gradients(&p, &w, columns_scan, chunk);
        for ((r, c), name) in rows.iter().zip(&columns).zip(GRAD_NAMES) {
            let what = format!("B={bt} V={v} T={t} E={e} N={n} Q={chunk}: d/d{name}");
            assert!(r.iter().any(|x| x.abs() > 1e-3), "{what}: gradient is zero");
            assert_close(c, r, 1e-4, 1e-6, &format!("{what}, columns vs rows"));
        }
    }
}

#[test]
fn gradients_match_finite_differences_of_the_reference() {
    // Independent of every tensor path: central differences of the f64 loop.
    let mut rng = Rng::new(74);
    let sizes = (1, 3, 4, 2, 2);
    let p = random_problem(&mut rng, sizes);
    let w = LossWeights::random(&mut rng, sizes);
    let fields: [fn(&mut HostScan2d) -> &mut Vec<f64>; 12] = [
        |q| &mut q.x,
        |q| &mut q.delta1,
        |q| &mut q.delta2,
        |q| &mut q.a1,
        |q| &mut q.a2,
        |q| &mut q.a3,
        |q| &mut q.a4,
        |q| &mut q.b1,
        |q| &mut q.b2,
        |q| &mut q.c1,
        |q| &mut q.c2,
        |q| &mut q.d,
    ];
    let finite_differences: Vec<Vec<f64>> = fields
        .iter()
        .map(|field| {
            (0..field(&mut p.clone()).len())
                .map(|i| {
                    let eps = 1e-6;
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    field(&mut plus)[i] += eps;
                    field(&mut minus)[i] -= eps;
                    (w.host_loss(&plus) - w.host_loss(&minus)) / (2.0 * eps)
                })
                .collect()
        })
        .collect();
    for (name, scan) in [("rows", rows_scan as Scan), ("columns", columns_scan)] {
        let got = gradients(&p, &w, scan, 3);
        for ((g, fd), field) in got.iter().zip(&finite_differences).zip(GRAD_NAMES) {
            assert!(fd.iter().any(|x| x.abs() > 1e-3), "d/d{field} is zero");
            assert_close(
                g,
                fd,
                1e-4,
                1e-5,
                &format!("{name}: d/d{field} vs finite differences"),
            );
        }
    }
}

/// Every variate of `p` must scan as Mamba's 1-D selective scan along time (Euler `b̄`, with `D`
/// and `C1`), by the reference and by the chunked scan, and `h2` must stay zero.
fn assert_one_1d_scan_per_variate(p: &HostScan2d, chunk: usize, device: &Device) {
    let (bt, v, t, e, n) = (p.batch, p.variates, p.time, p.channels, p.state);
    // The 1-D problems: the variates folded into the batch ([batch·variates, time, ·]).
    let one_d = crate::scan::reference::HostScan {
        batch: bt * v,
        time: t,
        channels: e,
        state: n,
        u: p.x.clone(),
        delta: p.delta1.clone(),
        a: p.a1.clone(),
        b: p.b1.clone(),
        c: p.c1.clone(),
        d: p.d.clone(),
        initial_state: None,
    };
    let (want_y, want_h) =
        crate::scan::reference::sequential_scan(&one_d, crate::scan::BDiscretisation::Euler);
    let one_d_params = crate::scan::ScanParams {
        a: tensor(&one_d.a, [e, n], device),
        d: tensor(&one_d.d, [e], device),
        b_rule: crate::scan::BDiscretisation::Euler,
    };
    let one_d_input = crate::scan::ScanInput {
        u: tensor(&one_d.u, [bt * v, t, e], device),
        delta: tensor(&one_d.delta, [bt * v, t, e], device),
        b: tensor(&one_d.b, [bt * v, t, n], device),
        c: tensor(&one_d.c, [bt * v, t, n], device),
    };
    let chunked = crate::scan::chunked_scan(&one_d_params, one_d_input, None, chunk);
    let chunked_y = host(chunked.y);
    assert_close(&chunked_y, &want_y, 1e-5, 1e-6, "1-D chunked vs 1-D reference");
    let (params, input) = to_tensors(p, device);
    for (name, scan) in SCANS {
        let what = format!("{name} B={bt} V={v} T={t} E={e} N={n} Q={chunk}");
        let out = scan(&params, input.clone(), chunk);
        let y = host(out.y);
        assert_close(&y, &want_y, 1e-5, 1e-6, &format!("{what}: y vs 1-D reference"));
        assert_close(&y, &chunked_y, 1e-5, 1e-6, &format!("{what}: y vs 1-D chunked"));
        assert_close(
            &host(out.last_column.h1),
            &want_h,
            1e-5,
            1e-6,
            &format!("{what}: last h1 vs 1-D final state"),
        );
        assert!(
            host(out.last_column.h2).iter().all(|&h| h == 0.0),
            "{what}: h2 must stay zero"
        );
    }
}

#[test]
fn an_uncoupled_grid_is_one_1d_selective_scan_per_variate() {
    // A3 = 0 and B2 = 0 make h2 zero everywhere whatever A4 (it starts at zero and never receives
    // anything), and A2 = 0 keeps h1 to itself as well: each variate is then Mamba's 1-D selective
    // scan along time (Euler b̄), with D and C1.
    let device = Device::flex();
    let mut rng = Rng::new(75);
    for ((bt, v, t, e, n), chunk) in [((2, 3, 10, 2, 3), 4), ((1, 6, 5, 3, 2), 2), ((2, 4, 1, 2, 2), 1)] {
        let mut p = random_problem(&mut rng, (bt, v, t, e, n));
        p.a2.iter_mut().for_each(|a| *a = 0.0);
        p.a3.iter_mut().for_each(|a| *a = 0.0);
        p.b2.iter_mut().for_each(|b| *b = 0.0);
        assert_one_1d_scan_per_variate(&p, chunk, &device);
    }
}

#[test]
fn one_variate_without_variate_input_is_the_1d_selective_scan() {
    // With one variate nothing comes from a previous variate, so B2 = 0 alone keeps h2 at zero:
    // the couplings A2, A3 and the decay A4 (left random here) then change nothing.
    let device = Device::flex();
    let mut rng = Rng::new(76);
    for ((bt, t, e, n), chunk) in [((2, 11, 3, 4), 4), ((1, 7, 2, 2), 3), ((3, 1, 2, 3), 1)] {
        let mut p = random_problem(&mut rng, (bt, 1, t, e, n));
        assert!(
            p.a2.iter().chain(&p.a3).any(|&a| a != 0.0),
            "couplings are random"
        );
        p.b2.iter_mut().for_each(|b| *b = 0.0);
        assert_one_1d_scan_per_variate(&p, chunk, &device);
    }
}

#[test]
fn a_cell_reaches_no_output_earlier_in_time_or_above_it() {
    // Change every input of cell (v*, t*): outputs at t < t* (every variate) and at v < v* (every
    // time) stay bit-identical; the output at (v*, t*) and its neighbours after it in time and
    // below it move.
    let device = Device::flex();
    let mut rng = Rng::new(76);
    let sizes = (2, 6, 9, 2, 3);
    let (bt, vs, ts, e, n) = sizes;
    let p = random_problem(&mut rng, sizes);
    let (params, input) = to_tensors(&p, &device);
    for (name, scan) in [("rows", rows_scan as Scan), ("columns", columns_scan)] {
        let base = host(scan(&params, input.clone(), 4).y);
        for (v_star, t_star) in [(0, 0), (2, 4), (5, 8), (3, 0), (0, 5)] {
            let mut q = p.clone();
            for bi in 0..bt {
                let cell = (bi * vs + v_star) * ts + t_star;
                q.x[cell * e..(cell + 1) * e].iter_mut().for_each(|x| *x += 3.0);
                q.delta1[cell * e..(cell + 1) * e]
                    .iter_mut()
                    .for_each(|x| *x *= 2.0);
                q.delta2[cell * e..(cell + 1) * e]
                    .iter_mut()
                    .for_each(|x| *x *= 1.5);
                for b in [&mut q.b1, &mut q.b2, &mut q.c1, &mut q.c2] {
                    b[cell * n..(cell + 1) * n].iter_mut().for_each(|x| *x -= 1.0);
                }
            }
            let (params, input) = to_tensors(&q, &device);
            let got = host(scan(&params, input, 4).y);
            let what = format!("{name} (v*, t*) = ({v_star}, {t_star})");
            let at = |bi: usize, v: usize, t: usize| {
                ((bi * vs + v) * ts + t) * e..((bi * vs + v) * ts + t + 1) * e
            };
            for bi in 0..bt {
                for v in 0..vs {
                    for t in 0..ts {
                        if t < t_star || v < v_star {
                            assert_eq!(
                                got[at(bi, v, t)],
                                base[at(bi, v, t)],
                                "{what}: ({v}, {t}) changed"
                            );
                        }
                    }
                }
                let moved = |v: usize, t: usize| {
                    got[at(bi, v, t)]
                        .iter()
                        .zip(&base[at(bi, v, t)])
                        .all(|(g, b)| g != b)
                };
                assert!(moved(v_star, t_star), "{what}: y(v*, t*) did not move");
                if v_star + 1 < vs {
                    assert!(moved(v_star + 1, t_star), "{what}: y(v*+1, t*) did not move");
                }
                if t_star + 1 < ts {
                    assert!(moved(v_star, t_star + 1), "{what}: y(v*, t*+1) did not move");
                }
            }
        }
    }
}

#[test]
fn the_orientation_follows_the_cheaper_axis() {
    use Scan2dPath::{Columns, Rows};
    for ((variates, time), want) in [
        ((7, 96), Rows),      // 7·8 = 56 against 96·4 = 384
        ((862, 96), Columns), // 862·8 = 6 896 against 96·11 = 1 056
        ((1, 50), Rows),
        ((50, 1), Columns),
        ((1, 1), Rows),
        ((16, 16), Rows), // a tie
        ((21, 7), Columns),
    ] {
        assert_eq!(
            Scan2dPath::for_grid(variates, time),
            want,
            "V={variates} T={time}"
        );
    }
}

#[test]
#[should_panic(expected = "B2 must be [batch, variates, time, state]")]
fn mismatched_shapes_are_refused() {
    let device = Device::flex();
    let p = random_problem(&mut Rng::new(77), (1, 3, 4, 2, 3));
    let (params, mut input) = to_tensors(&p, &device);
    input.b2 = input.b2.narrow(3, 0, 2);
    scan2d(&params, input, 2);
}

#[test]
#[should_panic(expected = "previous h2 must be [batch, variates, channels, state]")]
fn a_step_from_a_mismatched_state_is_refused() {
    let device = Device::flex();
    let p = random_problem(&mut Rng::new(78), (1, 3, 4, 2, 3));
    let (params, input) = to_tensors(&p, &device);
    let mut state = ColumnState::zeros(1, 3, 2, 3, &device);
    state.h2 = state.h2.narrow(1, 0, 2);
    scan2d_step(&params, state, input.column(0), 2);
}

#[test]
#[should_panic(expected = "chunk length must be at least 1")]
fn a_zero_chunk_is_refused() {
    let device = Device::flex();
    let p = random_problem(&mut Rng::new(79), (1, 3, 4, 2, 3));
    let (params, input) = to_tensors(&p, &device);
    rows_scan(&params, input, 0);
}

/// Forward + backward timings of the two orientations on the CPU (flex) for `docs/chimera.md`
/// §1.6. Prints a table; asserts nothing. Run with
/// `cargo test --workspace --lib -- scan2d::tests::timing --ignored --nocapture`.
#[test]
#[ignore = "timing table, prints figures only"]
fn timing() {
    use std::time::Instant;
    let ad = Device::flex().autodiff();
    let (bt, e, n, chunk) = (2, 8, 8, 4);
    println!("batch {bt}, channels {e}, state {n}, chunk {chunk}; minimum of 3 runs");
    println!("| V | T | picked | rows fwd+bwd ms | columns fwd+bwd ms |");
    println!("|---|---|---|---|---|");
    for (v, t) in [(7, 96), (32, 32), (96, 7), (128, 16)] {
        let p = random_problem(&mut Rng::new(80), (bt, v, t, e, n));
        let time = |scan: Scan| {
            (0..3)
                .map(|_| {
                    let (params, input) = to_tensors(&p, &ad);
                    let params = Scan2dParams {
                        a1: params.a1.require_grad(),
                        ..params
                    };
                    let input = Scan2dInput {
                        x: input.x.require_grad(),
                        ..input
                    };
                    let start = Instant::now();
                    let g = scan(&params, input, chunk).y.sum().backward();
                    let _ = host(params.a1.grad(&g).expect("dA1"));
                    start.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        };
        println!(
            "| {v} | {t} | {:?} | {:.1} | {:.1} |",
            Scan2dPath::for_grid(v, t),
            time(rows_scan),
            time(columns_scan)
        );
    }
}
