//! Named intermediates of one SpaceTime forward pass, read back to the host.
//!
//! A device that disagrees with the CPU on a trained model is diagnosed by running the same
//! weights and windows on both with a [`Trace`] and comparing stage by stage
//! ([`crate::selfcheck::spacetime_stage_rows`], `statecast score --stages`): the first stage whose
//! difference jumps is where the device computes something else. Recording synchronises the
//! device at every stage, so traces are for diagnosis only; the untraced forward never records.
use burn::prelude::*;

/// One recorded intermediate.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage name, e.g. `block0.ssm.kernel`.
    pub name: String,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// Intermediates in the order they were computed.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// Recorded stages.
    pub stages: Vec<Stage>,
}

impl Trace {
    /// Reads `t` back to the host under `name`.
    pub fn record<const D: usize>(&mut self, name: impl Into<String>, t: &Tensor<D>) {
        let shape = t.dims().to_vec();
        let values = t
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data after convert");
        self.stages.push(Stage {
            name: name.into(),
            shape,
            values,
        });
    }

    /// The stage called `name`, if recorded.
    pub fn get(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// Records `t` into `trace` when there is one (a no-op otherwise).
pub(crate) fn record<const D: usize>(trace: &mut Option<&mut Trace>, name: &str, t: &Tensor<D>) {
    if let Some(trace) = trace.as_deref_mut() {
        trace.record(name, t);
    }
}
