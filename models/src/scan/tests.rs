use super::reference::{HostScan, sequential_scan};
use super::*;
use crate::testing::{Rng, assert_close, host, tensor};
use burn::prelude::*;

const RULES: [BDiscretisation; 2] = [BDiscretisation::Euler, BDiscretisation::ExactZoh];

/// (batch, time, channels, state, chunk): exact multiples, ragged last chunks, time < chunk,
/// time = 1, chunk = 1.
const CASES: [(usize, usize, usize, usize, usize); 8] = [
    (1, 1, 1, 1, 4),
    (2, 7, 3, 4, 3),
    (2, 5, 3, 4, 8),
    (1, 16, 2, 3, 4),
    (3, 37, 4, 8, 16),
    (2, 64, 2, 4, 64),
    (2, 9, 2, 2, 1),
    (1, 50, 3, 5, 7),
];

/// A random problem: Δ in [0.05, 0.55), A in about [−4, −0.2], everything else standard normal.
fn random_problem(
    rng: &mut Rng,
    (batch, time, channels, state): (usize, usize, usize, usize),
    with_h0: bool,
) -> HostScan {
    let steps = batch * time * channels;
    HostScan {
        batch,
        time,
        channels,
        state,
        u: rng.normals(steps),
        delta: (0..steps).map(|_| 0.05 + 0.5 * rng.uniform()).collect(),
        a: (0..channels * state)
            .map(|_| -(0.6 * rng.normal()).exp())
            .collect(),
        b: rng.normals(batch * time * state),
        c: rng.normals(batch * time * state),
        d: rng.normals(channels),
        initial_state: with_h0.then(|| rng.normals(batch * channels * state)),
    }
}

/// The tensors of `p` on `device` (the initial state, when present, is the third item).
fn to_tensors(
    p: &HostScan,
    rule: BDiscretisation,
    device: &Device,
) -> (ScanParams, ScanInput, Option<Tensor<3>>) {
    let (bt, l, e, n) = (p.batch, p.time, p.channels, p.state);
    (
        ScanParams {
            a: tensor(&p.a, [e, n], device),
            d: tensor(&p.d, [e], device),
            b_rule: rule,
        },
        ScanInput {
            u: tensor(&p.u, [bt, l, e], device),
            delta: tensor(&p.delta, [bt, l, e], device),
            b: tensor(&p.b, [bt, l, n], device),
            c: tensor(&p.c, [bt, l, n], device),
        },
        p.initial_state.as_ref().map(|h| tensor(h, [bt, e, n], device)),
    )
}

/// The input of step `t`. `[batch, time, w]` → `[batch, w]`.
fn at(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [batch, _, width] = x.dims();
    x.clone().narrow(1, t, 1).reshape([batch, width])
}

/// The recurrence as a loop of [`scan_step`] calls: the naive tensor-op form (its autodiff graph
/// grows with the length; fine for the short sequences of the tests).
fn stepwise(params: &ScanParams, input: &ScanInput, initial_state: Option<Tensor<3>>) -> ScanOutput {
    let [batch, time, channels] = input.u.dims();
    let [_, state] = params.a.dims();
    let mut h = initial_state.unwrap_or_else(|| Tensor::zeros([batch, channels, state], &input.u.device()));
    let mut ys = Vec::with_capacity(time);
    for t in 0..time {
        let step = StepInput {
            u: at(&input.u, t),
            delta: at(&input.delta, t),
            b: at(&input.b, t),
            c: at(&input.c, t),
        };
        let out = scan_step(params, h, step);
        ys.push(out.y.unsqueeze_dim::<3>(1));
        h = out.state;
    }
    ScanOutput {
        y: Tensor::cat(ys, 1),
        final_state: h,
    }
}

#[test]
fn chunked_scan_matches_the_sequential_reference() {
    let device = Device::flex();
    let mut rng = Rng::new(21);
    for (bt, l, e, n, chunk) in CASES {
        for with_h0 in [false, true] {
            let p = random_problem(&mut rng, (bt, l, e, n), with_h0);
            for rule in RULES {
                let (want_y, want_h) = sequential_scan(&p, rule);
                let (params, input, h0) = to_tensors(&p, rule, &device);
                let out = chunked_scan(&params, input, h0, chunk);
                let what = format!("{rule:?} B={bt} L={l} E={e} N={n} Q={chunk} h0={with_h0}");
                assert_eq!(out.y.dims(), [bt, l, e], "{what}");
                assert_close(&host(out.y), &want_y, 1e-4, 1e-6, &format!("{what}: y"));
                assert_close(
                    &host(out.final_state),
                    &want_h,
                    1e-4,
                    1e-6,
                    &format!("{what}: final state"),
                );
            }
        }
    }
}

#[test]
fn step_by_step_matches_the_reference_and_the_chunked_scan() {
    let device = Device::flex();
    let mut rng = Rng::new(22);
    for (bt, l, e, n, chunk) in CASES {
        let p = random_problem(&mut rng, (bt, l, e, n), false);
        for rule in RULES {
            let (want_y, want_h) = sequential_scan(&p, rule);
            let (params, input, _) = to_tensors(&p, rule, &device);
            let steps = stepwise(&params, &input, None);
            let chunked = chunked_scan(&params, input, None, chunk);
            let what = format!("{rule:?} B={bt} L={l} E={e} N={n} Q={chunk}");
            let (step_y, step_h) = (host(steps.y), host(steps.final_state));
            assert_close(
                &step_y,
                &want_y,
                1e-4,
                1e-6,
                &format!("{what}: step y vs reference"),
            );
            assert_close(
                &step_h,
                &want_h,
                1e-4,
                1e-6,
                &format!("{what}: step state vs reference"),
            );
            assert_close(
                &step_y,
                &host(chunked.y),
                1e-4,
                1e-6,
                &format!("{what}: step y vs chunked"),
            );
            assert_close(
                &step_h,
                &host(chunked.final_state),
                1e-4,
                1e-6,
                &format!("{what}: step state vs chunked"),
            );
        }
    }
}

#[test]
fn a_scan_continued_from_its_final_state_equals_one_long_scan() {
    // Split a sequence in two: the second half started from the first half's final state gives
    // the same outputs as scanning the whole (the carry a streaming session relies on).
    let device = Device::flex();
    let mut rng = Rng::new(23);
    let p = random_problem(&mut rng, (2, 30, 3, 4), true);
    let (params, input, h0) = to_tensors(&p, BDiscretisation::Euler, &device);
    let whole = chunked_scan(&params, input.clone(), h0.clone(), 8);
    let part = |x: &Tensor<3>, start, len| x.clone().narrow(1, start, len);
    let half = |start, len| ScanInput {
        u: part(&input.u, start, len),
        delta: part(&input.delta, start, len),
        b: part(&input.b, start, len),
        c: part(&input.c, start, len),
    };
    let first = chunked_scan(&params, half(0, 13), h0, 5);
    let second = chunked_scan(&params, half(13, 17), Some(first.final_state), 6);
    let joined = host(Tensor::cat(vec![first.y, second.y], 1));
    assert_close(&joined, &host(whole.y), 1e-4, 1e-6, "two halves vs whole: y");
    assert_close(
        &host(second.final_state),
        &host(whole.final_state),
        1e-4,
        1e-6,
        "two halves vs whole: final state",
    );
}

/// Gradients of `Σ w ⊙ y + Σ v ⊙ final_state` wrt (u, Δ, A, B, C, D, h0), through `scan`.
fn gradients(
    p: &HostScan,
    rule: BDiscretisation,
    weights: (&[f64], &[f64]),
    scan: &dyn Fn(&ScanParams, ScanInput, Option<Tensor<3>>) -> ScanOutput,
) -> Vec<Vec<f64>> {
    let ad = Device::flex().autodiff();
    let (params, input, h0) = to_tensors(p, rule, &ad);
    let params = ScanParams {
        a: params.a.require_grad(),
        d: params.d.require_grad(),
        b_rule: rule,
    };
    let input = ScanInput {
        u: input.u.require_grad(),
        delta: input.delta.require_grad(),
        b: input.b.require_grad(),
        c: input.c.require_grad(),
    };
    let h0 = h0.map(Tensor::require_grad);
    let out = scan(&params, input.clone(), h0.clone());
    let (bt, l, e, n) = (p.batch, p.time, p.channels, p.state);
    let loss = (out.y * tensor(weights.0, [bt, l, e], &ad)).sum()
        + (out.final_state * tensor(weights.1, [bt, e, n], &ad)).sum();
    let g = loss.backward();
    let mut all = vec![
        host(input.u.grad(&g).expect("du")),
        host(input.delta.grad(&g).expect("dΔ")),
        host(params.a.grad(&g).expect("dA")),
        host(input.b.grad(&g).expect("dB")),
        host(input.c.grad(&g).expect("dC")),
        host(params.d.grad(&g).expect("dD")),
    ];
    if let Some(h0) = h0 {
        all.push(host(h0.grad(&g).expect("dh0")));
    }
    all
}

const GRAD_NAMES: [&str; 7] = ["u", "Δ", "A", "B", "C", "D", "h0"];

#[test]
fn chunked_gradients_equal_autodiff_through_the_step_loop() {
    let mut rng = Rng::new(24);
    for (bt, l, e, n, chunk) in [
        (2, 7, 3, 4, 3),
        (1, 5, 2, 3, 8),
        (2, 24, 3, 4, 5),
        (1, 1, 2, 2, 4),
    ] {
        for rule in RULES {
            let p = random_problem(&mut rng, (bt, l, e, n), true);
            let w = rng.normals(bt * l * e);
            let v = rng.normals(bt * e * n);
            let want = gradients(&p, rule, (&w, &v), &|params, input, h0| {
                stepwise(params, &input, h0)
            });
            let got = gradients(&p, rule, (&w, &v), &|params, input, h0| {
                chunked_scan(params, input, h0, chunk)
            });
            for ((g, w), name) in got.iter().zip(&want).zip(GRAD_NAMES) {
                let what = format!("{rule:?} B={bt} L={l} E={e} N={n} Q={chunk}: d/d{name}");
                assert!(
                    w.iter().any(|x| x.abs() > 1e-3),
                    "{what}: reference gradient is zero"
                );
                assert_close(g, w, 1e-4, 1e-6, &what);
            }
        }
    }
}

/// The fused op as a [`ScanOutput`] (zero initial state, Euler only).
fn fused(params: &ScanParams, input: ScanInput, h0: Option<Tensor<3>>) -> ScanOutput {
    assert!(h0.is_none() && params.b_rule == BDiscretisation::Euler);
    let (y, final_state) = fused::fused_scan(
        input.u,
        input.delta,
        params.a.clone(),
        input.b,
        input.c,
        params.d.clone(),
    );
    ScanOutput { y, final_state }
}

#[test]
fn fused_scan_matches_the_sequential_reference() {
    let mut rng = Rng::new(41);
    for (bt, l, e, n, _) in CASES {
        let p = random_problem(&mut rng, (bt, l, e, n), false);
        let (y_ref, h_ref) = sequential_scan(&p, BDiscretisation::Euler);
        let (params, input, _) = to_tensors(&p, BDiscretisation::Euler, &Device::flex());
        let out = fused(&params, input, None);
        let what = format!("fused B={bt} L={l} E={e} N={n}");
        assert_close(&host(out.y), &y_ref, 1e-5, 1e-5, &what);
        assert_close(&host(out.final_state), &h_ref, 1e-5, 1e-5, &what);
    }
}

/// The fused op's own backward pass against autodiff through the chunked scan (itself checked
/// against the step loop and finite differences above), on shapes with ragged chunks.
#[test]
fn fused_gradients_equal_the_chunked_scan_gradients() {
    let mut rng = Rng::new(42);
    for (bt, l, e, n) in [(2, 7, 3, 4), (1, 2, 2, 2), (3, 37, 4, 8), (2, 96, 5, 3)] {
        let p = random_problem(&mut rng, (bt, l, e, n), false);
        let w = rng.normals(bt * l * e);
        let v = vec![0.0; bt * e * n];
        let want = gradients(&p, BDiscretisation::Euler, (&w, &v), &|params, input, h0| {
            chunked_scan(params, input, h0, 4)
        });
        let got = gradients(&p, BDiscretisation::Euler, (&w, &v), &fused);
        assert_eq!(got.len(), 6);
        for ((g, w), name) in got.iter().zip(&want).zip(GRAD_NAMES) {
            let what = format!("fused B={bt} L={l} E={e} N={n}: d/d{name}");
            assert!(
                w.iter().any(|x| x.abs() > 1e-3),
                "{what}: reference gradient is zero"
            );
            assert_close(g, w, 1e-4, 1e-5, &what);
        }
    }
}

#[test]
fn fused_gradients_match_finite_differences_of_the_reference() {
    let mut rng = Rng::new(43);
    let (bt, l, e, n) = (2, 9, 2, 3);
    let p = random_problem(&mut rng, (bt, l, e, n), false);
    let w = rng.normals(bt * l * e);
    let loss = |q: &HostScan| {
        let (y, _) = sequential_scan(q, BDiscretisation::Euler);
        y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
    };
    let got = gradients(&p, BDiscretisation::Euler, (&w, &vec![0.0; bt * e * n]), &fused);
    let fields: [fn(&mut HostScan) -> &mut Vec<f64>; 6] = [
        |q| &mut q.u,
        |q| &mut q.delta,
        |q| &mut q.a,
        |q| &mut q.b,
        |q| &mut q.c,
        |q| &mut q.d,
    ];
    for ((field, g), name) in fields.iter().zip(&got).zip(GRAD_NAMES) {
        let fd: Vec<f64> = (0..g.len())
            .map(|i| {
                let eps = 1e-6;
                let (mut plus, mut minus) = (p.clone(), p.clone());
                field(&mut plus)[i] += eps;
                field(&mut minus)[i] -= eps;
                (loss(&plus) - loss(&minus)) / (2.0 * eps)
            })
            .collect();
        assert_close(
            g,
            &fd,
            1e-4,
            1e-5,
            &format!("fused: d/d{name} vs finite differences"),
        );
    }
}

#[test]
fn chunked_gradients_match_finite_differences_of_the_reference() {
    // Independent of every tensor path: central differences of the f64 loop.
    let mut rng = Rng::new(25);
    let (bt, l, e, n, chunk) = (1, 11, 2, 3, 4);
    for rule in RULES {
        let p = random_problem(&mut rng, (bt, l, e, n), true);
        let w = rng.normals(bt * l * e);
        let v = rng.normals(bt * e * n);
        let loss = |q: &HostScan| {
            let (y, h) = sequential_scan(q, rule);
            y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
                + h.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
        };
        let got = gradients(&p, rule, (&w, &v), &|params, input, h0| {
            chunked_scan(params, input, h0, chunk)
        });
        let fields: [fn(&mut HostScan) -> &mut Vec<f64>; 7] = [
            |q| &mut q.u,
            |q| &mut q.delta,
            |q| &mut q.a,
            |q| &mut q.b,
            |q| &mut q.c,
            |q| &mut q.d,
            |q| q.initial_state.as_mut().expect("h0"),
        ];
        for ((field, g), name) in fields.iter().zip(&got).zip(GRAD_NAMES) {
            let fd: Vec<f64> = (0..g.len())
                .map(|i| {
                    let eps = 1e-6;
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    field(&mut plus)[i] += eps;
                    field(&mut minus)[i] -= eps;
                    (loss(&plus) - loss(&minus)) / (2.0 * eps)
                })
                .collect();
            assert_close(
                g,
                &fd,
                1e-4,
                1e-5,
                &format!("{rule:?}: d/d{name} vs finite differences"),
            );
        }
    }
}

#[test]
fn outputs_before_a_perturbation_are_unchanged() {
    // T14: change u, Δ, B and C at t*; outputs at t < t* stay bit-identical, outputs at t ≥ t*
    // move. t* inside a chunk, on a chunk boundary, and at the start.
    let device = Device::flex();
    let mut rng = Rng::new(26);
    let (bt, l, e, n, chunk) = (2, 20, 3, 4, 6);
    let p = random_problem(&mut rng, (bt, l, e, n), true);
    let (want_y, _) = sequential_scan(&p, BDiscretisation::Euler);
    let base = {
        let (params, input, h0) = to_tensors(&p, BDiscretisation::Euler, &device);
        host(chunked_scan(&params, input, h0, chunk).y)
    };
    assert_close(&base, &want_y, 1e-4, 1e-6, "unperturbed");
    for t_star in [0, 6, 9, 19] {
        let mut q = p.clone();
        for bi in 0..bt {
            let row = bi * l + t_star;
            q.u[row * e..(row + 1) * e].iter_mut().for_each(|x| *x += 3.0);
            q.delta[row * e..(row + 1) * e].iter_mut().for_each(|x| *x *= 2.0);
            q.b[row * n..(row + 1) * n].iter_mut().for_each(|x| *x -= 1.5);
            q.c[row * n..(row + 1) * n].iter_mut().for_each(|x| *x += 0.5);
        }
        let (params, input, h0) = to_tensors(&q, BDiscretisation::Euler, &device);
        let got = host(chunked_scan(&params, input, h0, chunk).y);
        for bi in 0..bt {
            let before = bi * l * e..(bi * l + t_star) * e;
            assert_eq!(
                got[before.clone()],
                base[before],
                "t*={t_star}: outputs before t* changed"
            );
            let at_star = (bi * l + t_star) * e..(bi * l + t_star + 1) * e;
            assert!(
                got[at_star.clone()]
                    .iter()
                    .zip(&base[at_star])
                    .all(|(g, b)| g != b),
                "t*={t_star}: the perturbation did not reach y_t*"
            );
        }
    }
}

#[test]
fn a_long_sequence_stays_finite_and_accurate() {
    // L = 4096 with |Δ·A| ≈ 0.03 per step: the total log decay reaches about −120, so
    // exp(−ℓ) of a global log-space form would overflow f32 (e^88). Chunked segment sums never
    // form it.
    let device = Device::flex();
    let mut rng = Rng::new(27);
    let (bt, l, e, n) = (1, 4096, 2, 4);
    let mut p = random_problem(&mut rng, (bt, l, e, n), true);
    p.delta
        .iter_mut()
        .for_each(|x| *x = 0.02 + 0.02 * (*x - 0.05) / 0.5);
    p.a.iter_mut().for_each(|x| *x = -1.0 + 0.5 * x.tanh());
    let total_log_decay: f64 = (0..l).map(|t| p.delta[t * e] * p.a[0]).sum();
    assert!(
        total_log_decay < -89.0,
        "the test must overflow a global exp(−ℓ): ℓ = {total_log_decay}"
    );
    for rule in RULES {
        let (want_y, want_h) = sequential_scan(&p, rule);
        let (params, input, h0) = to_tensors(&p, rule, &device);
        let out = chunked_scan(&params, input, h0, 64);
        assert_close(&host(out.y), &want_y, 1e-4, 1e-6, &format!("{rule:?} L=4096: y"));
        assert_close(
            &host(out.final_state),
            &want_h,
            1e-4,
            1e-6,
            &format!("{rule:?} L=4096: final state"),
        );
    }
}

#[test]
fn huge_decays_underflow_to_zero_without_nans() {
    // Δ·A down to about −300 per step: exp(Δ·A) underflows to 0 in f32, and the masked upper
    // triangle would hold exp(+300) = inf if it were exponentiated. Values and gradients stay
    // finite and equal the step loop's.
    let mut rng = Rng::new(32);
    let (bt, l, e, n, chunk) = (2, 19, 3, 4, 8);
    let mut p = random_problem(&mut rng, (bt, l, e, n), true);
    p.delta.iter_mut().for_each(|x| *x *= 40.0);
    p.a.iter_mut().for_each(|x| *x *= 4.0);
    let worst: f64 = p.a.iter().fold(0.0, |m, a| m.min(a * 22.0));
    assert!(
        worst < -100.0,
        "the test needs exp(Δ·A) to underflow: min Δ·A = {worst}"
    );
    let w = rng.normals(bt * l * e);
    let v = rng.normals(bt * e * n);
    for rule in RULES {
        let (want_y, _) = sequential_scan(&p, rule);
        let (params, input, h0) = to_tensors(&p, rule, &Device::flex());
        let y = host(chunked_scan(&params, input, h0, chunk).y);
        assert_close(&y, &want_y, 1e-4, 1e-6, &format!("{rule:?}: y"));
        let want = gradients(&p, rule, (&w, &v), &|params, input, h0| {
            stepwise(params, &input, h0)
        });
        let got = gradients(&p, rule, (&w, &v), &|params, input, h0| {
            chunked_scan(params, input, h0, chunk)
        });
        for ((g, w), name) in got.iter().zip(&want).zip(GRAD_NAMES) {
            assert_close(g, w, 1e-4, 1e-6, &format!("{rule:?}: d/d{name}"));
        }
    }
}

#[test]
fn exact_zoh_solves_the_continuous_system_for_constant_input() {
    // T10: with constant Δ, u, B, the ZOH recurrence after k steps equals the continuous solution
    // h(kΔ) = e^{a kΔ} h0 + (e^{a kΔ} − 1)/a · b u; Euler does not.
    let device = Device::flex();
    let (l, dt, u, b) = (12, 0.3, 0.7, 1.3);
    let a = [-0.5, -2.0, -0.01];
    let h0 = [0.4, -1.0, 2.0];
    let p = HostScan {
        batch: 1,
        time: l,
        channels: 1,
        state: 3,
        u: vec![u; l],
        delta: vec![dt; l],
        a: a.to_vec(),
        b: vec![b; l * 3],
        c: (0..l * 3).map(|i| if i % 3 == 0 { 1.0 } else { 0.0 }).collect(),
        d: vec![0.0],
        initial_state: Some(h0.to_vec()),
    };
    let exact: Vec<f64> = (0..3)
        .map(|k| {
            let decay = (a[k] * dt * l as f64).exp();
            decay * h0[k] + (decay - 1.0) / a[k] * b * u
        })
        .collect();
    let (_, zoh) = sequential_scan(&p, BDiscretisation::ExactZoh);
    assert_close(&zoh, &exact, 0.0, 1e-10, "f64 ZOH vs continuous solution");
    let (_, euler) = sequential_scan(&p, BDiscretisation::Euler);
    assert!(
        (euler[1] - exact[1]).abs() > 1e-2,
        "Euler must differ at a·Δ = −0.6"
    );
    let (params, input, h0) = to_tensors(&p, BDiscretisation::ExactZoh, &device);
    let out = chunked_scan(&params, input, h0, 5);
    assert_close(
        &host(out.final_state),
        &exact,
        1e-5,
        1e-6,
        "chunked ZOH vs continuous solution",
    );
}

#[test]
fn exact_zoh_tends_to_euler_as_the_step_shrinks() {
    // T10: the per-step difference is O((ΔA)²), so the difference of the outputs over a fixed
    // number of steps shrinks about 100× when Δ shrinks 10×.
    let mut rng = Rng::new(28);
    let base = random_problem(&mut rng, (1, 20, 2, 3), true);
    let gap = |scale: f64| {
        let mut p = base.clone();
        p.delta.iter_mut().for_each(|x| *x *= scale);
        let (ye, _) = sequential_scan(&p, BDiscretisation::Euler);
        let (yz, _) = sequential_scan(&p, BDiscretisation::ExactZoh);
        ye.iter().zip(&yz).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
    };
    let gaps: Vec<f64> = [1e-1, 1e-2, 1e-3].iter().map(|&s| gap(s)).collect();
    assert!(gaps[2] > 0.0, "ZOH and Euler must differ at all");
    for w in gaps.windows(2) {
        let ratio = w[0] / w[1];
        assert!(
            (70.0..140.0).contains(&ratio),
            "gap ratio {ratio} for a 10× smaller Δ (gaps {gaps:?})"
        );
    }
    // And the tensor ZOH stays accurate where (exp(x) − 1)/x would cancel in f32.
    let device = Device::flex();
    let mut p = base;
    p.delta.iter_mut().for_each(|x| *x *= 1e-3);
    let (want, _) = sequential_scan(&p, BDiscretisation::ExactZoh);
    let (params, input, h0) = to_tensors(&p, BDiscretisation::ExactZoh, &device);
    let got = host(chunked_scan(&params, input, h0, 6).y);
    assert_close(&got, &want, 1e-4, 1e-7, "tensor ZOH at tiny Δ");
}

#[test]
fn phi1_is_accurate_and_differentiable_around_zero() {
    let ad = Device::flex().autodiff();
    let xs = [-3.0, -0.5, -1e-2, -9.99e-3, -1e-4, 0.0, 1e-6, 5e-3, 0.2];
    let x = tensor(&xs, [xs.len()], &ad).require_grad();
    let y = discretise::phi1(x.clone());
    let want: Vec<f64> = xs
        .iter()
        .map(|&v: &f64| if v == 0.0 { 1.0 } else { v.exp_m1() / v })
        .collect();
    assert_close(&host(y.clone()), &want, 1e-6, 0.0, "φ(x)");
    let grad = host(x.grad(&y.sum().backward()).expect("dφ/dx"));
    // φ'(x) = (x e^x − e^x + 1)/x², φ'(0) = 1/2.
    let want_grad: Vec<f64> = xs
        .iter()
        .map(|&v: &f64| {
            if v.abs() < 1e-3 {
                0.5 + v / 3.0
            } else {
                (v * v.exp() - v.exp_m1()) / (v * v)
            }
        })
        .collect();
    assert_close(&grad, &want_grad, 1e-4, 0.0, "φ'(x)");
}

#[test]
#[should_panic(expected = "chunk length must be at least 1")]
fn a_zero_chunk_is_refused() {
    let device = Device::flex();
    let p = random_problem(&mut Rng::new(29), (1, 4, 1, 1), false);
    let (params, input, _) = to_tensors(&p, BDiscretisation::Euler, &device);
    chunked_scan(&params, input, None, 0);
}

#[test]
#[should_panic(expected = "B is [batch, time, state]")]
fn mismatched_shapes_are_refused() {
    let device = Device::flex();
    let p = random_problem(&mut Rng::new(30), (1, 4, 2, 3), false);
    let (params, mut input, _) = to_tensors(&p, BDiscretisation::Euler, &device);
    input.b = input.b.narrow(2, 0, 2);
    chunked_scan(&params, input, None, 2);
}

/// Forward + backward timings of the chunked scan on the CPU (flex) for `docs/simba.md` §1.5,
/// with the naive step loop as a baseline. Prints a table; asserts nothing. Run with
/// `cargo test --workspace --lib -- scan::tests::timing --ignored --nocapture`.
#[test]
#[ignore = "timing table, prints figures only"]
fn timing() {
    use std::time::Instant;
    let ad = Device::flex().autodiff();
    let (bt, e, n) = (2, 8, 16);
    let chunked =
        |chunk| move |params: &ScanParams, input: ScanInput| chunked_scan(params, input, None, chunk);
    println!("batch {bt}, channels {e}, state {n}; minimum of 3 runs");
    println!("| L | form | fwd ms | fwd+bwd ms | intra-chunk weights MB |");
    println!("|---|---|---|---|---|");
    for l in [256, 1024, 4096] {
        let p = random_problem(&mut Rng::new(31), (bt, l, e, n), false);
        let time = |scan: &dyn Fn(&ScanParams, ScanInput) -> ScanOutput, backward: bool| {
            (0..3)
                .map(|_| {
                    let (params, input, _) = to_tensors(&p, BDiscretisation::Euler, &ad);
                    let params = ScanParams {
                        a: params.a.require_grad(),
                        ..params
                    };
                    let input = ScanInput {
                        u: input.u.require_grad(),
                        ..input
                    };
                    let start = Instant::now();
                    let loss = scan(&params, input).y.sum();
                    if backward {
                        let g = loss.backward();
                        let _ = host(params.a.grad(&g).expect("dA"));
                    } else {
                        let _ = host(loss);
                    }
                    start.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        };
        for chunk in [1, 2, 4, 8, 16, 32, 64] {
            let scan = chunked(chunk);
            let weights_mb = (bt * l.div_ceil(chunk) * chunk * chunk * e * n * 4) as f64 / 1e6;
            println!(
                "| {l} | chunked Q={chunk} | {:.1} | {:.1} | {weights_mb:.0} |",
                time(&scan, false),
                time(&scan, true)
            );
        }
        if l <= 1024 {
            let steps = |params: &ScanParams, input: ScanInput| stepwise(params, &input, None);
            println!(
                "| {l} | step loop | {:.1} | {:.1} | – |",
                time(&steps, false),
                time(&steps, true)
            );
        }
    }
}
