//! The plain-loop `f64` selective scan: the oracle the tensor paths are tested against. Slow on
//! purpose (one step at a time, no tensors).
use super::BDiscretisation;

/// A whole scan problem on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostScan {
    /// Batch size.
    pub batch: usize,
    /// Sequence length.
    pub time: usize,
    /// Channels.
    pub channels: usize,
    /// State size per channel.
    pub state: usize,
    /// `u: [batch, time, channels]`
    pub u: Vec<f64>,
    /// `delta: [batch, time, channels]`
    pub delta: Vec<f64>,
    /// `a: [channels, state]`
    pub a: Vec<f64>,
    /// `b: [batch, time, state]`
    pub b: Vec<f64>,
    /// `c: [batch, time, state]`
    pub c: Vec<f64>,
    /// `d: [channels]`
    pub d: Vec<f64>,
    /// `initial_state: [batch, channels, state]`; zero when `None`.
    pub initial_state: Option<Vec<f64>>,
}

/// Runs the recurrence one step at a time. Returns `(y [batch, time, channels],
/// final_state [batch, channels, state])`.
pub fn sequential_scan(p: &HostScan, rule: BDiscretisation) -> (Vec<f64>, Vec<f64>) {
    let (e_n, n) = (p.channels, p.state);
    let mut y = vec![0.0; p.batch * p.time * e_n];
    let mut h = p
        .initial_state
        .clone()
        .unwrap_or_else(|| vec![0.0; p.batch * e_n * n]);
    for bi in 0..p.batch {
        for t in 0..p.time {
            let row = bi * p.time + t; // index of (bi, t) in the [batch, time, ·] arrays
            for e in 0..e_n {
                let (u, dt) = (p.u[row * e_n + e], p.delta[row * e_n + e]);
                let mut out = p.d[e] * u;
                for k in 0..n {
                    let a = p.a[e * n + k];
                    let coef = match rule {
                        BDiscretisation::Euler => dt,
                        BDiscretisation::ExactZoh if a == 0.0 => dt,
                        BDiscretisation::ExactZoh => (dt * a).exp_m1() / a,
                    };
                    let hk = &mut h[(bi * e_n + e) * n + k];
                    *hk = (dt * a).exp() * *hk + coef * p.b[row * n + k] * u;
                    out += p.c[row * n + k] * *hk;
                }
                y[row * e_n + e] = out;
            }
        }
    }
    (y, h)
}
