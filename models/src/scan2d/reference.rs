//! The plain-loop `f64` 2-D scan: the oracle the tensor paths are tested against. Slow on purpose
//! (one cell at a time, no tensors).

/// A whole 2-D scan problem on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostScan2d {
    /// Batch size.
    pub batch: usize,
    /// Variates (`V`).
    pub variates: usize,
    /// Time steps (`T`).
    pub time: usize,
    /// Channels (`E`).
    pub channels: usize,
    /// State size per channel and axis (`N`).
    pub state: usize,
    /// `x: [batch, variates, time, channels]`
    pub x: Vec<f64>,
    /// `delta1: [batch, variates, time, channels]`
    pub delta1: Vec<f64>,
    /// `delta2: [batch, variates, time, channels]`
    pub delta2: Vec<f64>,
    /// `a1: [channels, state]`
    pub a1: Vec<f64>,
    /// `a2: [channels, state]`
    pub a2: Vec<f64>,
    /// `a3: [channels, state]`
    pub a3: Vec<f64>,
    /// `a4: [channels, state]`
    pub a4: Vec<f64>,
    /// `b1: [batch, variates, time, state]`
    pub b1: Vec<f64>,
    /// `b2: [batch, variates, time, state]`
    pub b2: Vec<f64>,
    /// `c1: [batch, variates, time, state]`
    pub c1: Vec<f64>,
    /// `c2: [batch, variates, time, state]`
    pub c2: Vec<f64>,
    /// `d: [channels]`
    pub d: Vec<f64>,
}

/// What [`sequential_scan2d`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct HostScan2dOutput {
    /// `y: [batch, variates, time, channels]`
    pub y: Vec<f64>,
    /// `h1` of the last time step. `[batch, variates, channels, state]`
    pub last_h1: Vec<f64>,
    /// `h2` of the last time step. `[batch, variates, channels, state]`
    pub last_h2: Vec<f64>,
}

/// Runs the recurrence cell by cell, variates outer, time inner (any order that visits
/// `(v, t−1)` and `(v−1, t)` before `(v, t)` gives the same numbers).
pub fn sequential_scan2d(p: &HostScan2d) -> HostScan2dOutput {
    let (vs, ts, es, ns) = (p.variates, p.time, p.channels, p.state);
    let cells = p.batch * vs * ts;
    // Every cell's states, [batch, variates, time, channels, state].
    let (mut h1, mut h2) = (vec![0.0; cells * es * ns], vec![0.0; cells * es * ns]);
    let mut y = vec![0.0; cells * es];
    for bi in 0..p.batch {
        for v in 0..vs {
            for t in 0..ts {
                let cell = (bi * vs + v) * ts + t; // index of (bi, v, t) in the [batch, variates, time, ·] arrays
                for e in 0..es {
                    let (x, dt1, dt2) = (
                        p.x[cell * es + e],
                        p.delta1[cell * es + e],
                        p.delta2[cell * es + e],
                    );
                    let mut out = p.d[e] * x;
                    for n in 0..ns {
                        let at = |c: usize| (c * es + e) * ns + n;
                        let pn = e * ns + n; // index of (e, n) in the [channels, state] arrays
                        // The neighbours one step back in time and one variate up (zero outside).
                        let (h1_before, h2_before) = if t > 0 {
                            (h1[at(cell - 1)], h2[at(cell - 1)])
                        } else {
                            (0.0, 0.0)
                        };
                        let (h1_above, h2_above) = if v > 0 {
                            (h1[at(cell - ts)], h2[at(cell - ts)])
                        } else {
                            (0.0, 0.0)
                        };
                        let here1 = (dt1 * p.a1[pn]).exp() * h1_before
                            + dt1 * p.a2[pn] * h2_before
                            + dt1 * p.b1[cell * ns + n] * x;
                        let here2 = dt2 * p.a3[pn] * h1_above
                            + (dt2 * p.a4[pn]).exp() * h2_above
                            + dt2 * p.b2[cell * ns + n] * x;
                        h1[at(cell)] = here1;
                        h2[at(cell)] = here2;
                        out += p.c1[cell * ns + n] * here1 + p.c2[cell * ns + n] * here2;
                    }
                    y[cell * es + e] = out;
                }
            }
        }
    }
    let last = |h: &[f64]| -> Vec<f64> {
        (0..p.batch * vs)
            .flat_map(|row| {
                let cell = row * ts + ts - 1;
                h[cell * es * ns..(cell + 1) * es * ns].to_vec()
            })
            .collect()
    };
    HostScan2dOutput {
        last_h1: last(&h1),
        last_h2: last(&h2),
        y,
    }
}
