//! The built-in sensor simulator: statecast's embedded default data, used by the quickstart
//! (`statecast simulate`) and by every test that must not need external data.
//!
//! [`simulate`] turns a [`SimConfig`] into a [`Simulation`]: a [`crate::TimeFrame`] of
//! `series` machines × `variates` sensors on a regular grid, with 0/1 labels, plus the list of
//! inserted [`AnomalySegment`]s. The same config (seed included) gives a bitwise identical
//! result; independent random streams are used for the clean signal, the anomalies and the
//! missing-value mask, so changing the anomaly settings leaves the clean signal and the mask
//! outside the segments unchanged.
//!
//! ```
//! use statecast_pipelines::simulate::{SimConfig, simulate};
//!
//! let sim = simulate(&SimConfig { series: 1, length: 2000, ..SimConfig::default() })?;
//! assert_eq!(sim.frame.columns, ["load", "temp", "power", "fan", "vib", "pressure"]);
//! let labels = sim.frame.series[0].labels.as_ref().unwrap();
//! let anomalous_rows: usize = sim.segments.iter().map(|s| s.len()).sum();
//! assert_eq!(labels.iter().filter(|&&l| l == 1).count(), anomalous_rows);
//! # Ok::<(), statecast_pipelines::Error>(())
//! ```
//!
//! # Signal model
//!
//! Rows are `t = 0..length`, at times `τ_t` (days since the start); `d_t ∈ [0,1)` is the time of
//! day and `w_t ∈ [0,1)` the time of week from Monday 00:00. Each series is a machine whose
//! state is a latent **load** `L_t` (per-series parameters drawn from the seed):
//!
//! ```text
//! L_t = max(0.02, μ + Σ_{h=1..3} a_h cos(2πh(d_t − c_h))         daily profile, peak ≈ 13:00 ± 2h
//!                  + b_1 cos(2π(w_t − e_1)) + b_2 cos(4π(w_t − e_2))   weekly profile (weekend dip)
//!                  + κ τ_t                                          slow trend
//!                  + s_t + f_t)                                     AR(1) components
//! s_t = ρ_s s_{t−1} + σ_s √(1−ρ_s²) ε_t,   ρ_s = e^{−1/48}  (slow wander, ~4h at 5min)
//! f_t = ρ_f f_{t−1} + σ_f √(1−ρ_f²) ε_t,   ρ_f = e^{−1/2.5} (fast fluctuations)
//! ```
//!
//! with `μ ~ U(.50,.58)`, `a_1 ~ U(.17,.23)`, `b_1 ~ U(.04,.07)`, `σ_s ~ U(.04,.06)`,
//! `σ_f ~ U(.03,.045)`. Sensors (columns, see [`sensors`]) observe it; `K_{ℓ,h}` is a causal
//! triangular smoother centred `ℓ` rows back, `K_{ℓ,h}[x]_t = Σ_{|k|≤h} (h+1−|k|)/(h+1)² ·
//! x_{t−ℓ−k}`, whose delay is exactly `ℓ` rows, so a driven sensor's cross-correlation with its
//! driver peaks at lag `ℓ`:
//!
//! ```text
//! load     [%]    = 100 L_t                                        percent of rated load
//! temp     [degC] = T_t = A + α_t + G_T K_{6,2}[L]_t + u_t      ambient A + slow AR α (1 day), AR(1) u
//! power    [kW]   = p_0 + p_1 L_t + p_2 L_t²
//! fan      [rpm]  = f_0 + G_F (K_{3,1}[T]_t − 25)                fan follows the true temperature
//! vib      [mm/s] = v_0 + G_V L_t + wear·τ_t + AR(1)
//! pressure [bar]  = 6 ± .5 + A_p cos(2π(d_t − c_p)) + AR(1)      free (own daily cycle)
//! sensor_k [a.u.] = even k−6: x_0 + G K_{ℓ,1}[L]_t + AR(1), ℓ = 2 + ((k−6)/2 mod 6);
//!                   odd k−6: x_0 + A cos(2π(d_t − c)) + AR(1)    free
//! ```
//!
//! Every reading then gets **heteroscedastic** Gaussian measurement noise with std
//! `σ_k (0.2 + L_t) / 0.7`, growing with the load (×2 from a quiet `L = 0.3` to a busy `L = 0.8`).
//!
//! # Anomalies
//!
//! The first [`SimConfig::clean_rows`] rows of every series (`train_fraction_clean`, half by
//! default) are **anomaly-free**, so models can be trained on them. After that, each series gets
//! [`SimConfig::segments_per_series`] non-overlapping segments, at least 12 rows apart, whose
//! rows are labelled 1 (all other rows 0). Kinds are dealt round-robin over all segments of all
//! series, so every requested kind appears once there are as many segments as kinds. With `σ`
//! the sensor's robust std (`1.4826·MAD` of its clean readings over the clean prefix, or
//! over the whole series when the prefix is shorter than a day), see [`AnomalyKind`]:
//! spike (±6–10σ, 1–3 rows), level shift (±1–2σ, 30–200 rows), drift (ramp to ±1.5–3σ,
//! 30–200 rows), variance burst (noise ×5, 20–100 rows, 1–2 sensors), broken correlation (a
//! driven sensor replaced by an independent AR(1) made exactly uncorrelated with its lagged
//! driver over the segment, with the segment's mean and std, 80–200 rows),
//! stuck sensor (frozen at the last reading, 20–150 rows).
//!
//! # Missing values
//!
//! Each cell is `NaN` with probability `missing_rate`, independently, except in row 0 (so every
//! series starts complete) and on anomaly rows (so every anomaly is fully observable and labels
//! never point at missing data).

mod anomaly;
mod config;
mod generate;
mod io;
mod signal;
mod stats;

pub use anomaly::{AnomalyKind, AnomalySegment};
pub use config::SimConfig;
pub use generate::{Simulation, simulate};
pub use io::{SimFiles, read_segments_csv, write_segments_csv, write_segments_json, write_simulation};
pub use signal::{SensorInfo, sensors, variate_names};
