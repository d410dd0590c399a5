//! Choosing the compute device at run time.
//!
//! burn 0.22 picks the backend from the [`Device`] value. `Device::default()` prefers CUDA when
//! it is compiled in, so statecast never uses the default: every entry point takes an explicit
//! [`DeviceSpec`] (`cpu`, `cuda`, `cuda:N`), and `cpu` always means burn's pure-Rust `flex`
//! backend.
use burn::prelude::Device;
use std::str::FromStr;

/// A device named by the user (CLI `--device`, job config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DeviceSpec {
    /// burn's pure-Rust CPU backend (`flex`).
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal (needs a build with the `gpu` feature).
    Cuda(usize),
}

/// Why a device could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The text is not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device {0:?}: expected cpu, cuda or cuda:N")]
    Unknown(String),
    /// CUDA was asked for but this binary was built without the `gpu` feature.
    #[error(
        "this statecast build has no CUDA support; build it with `scripts/build-gpu.sh` (cargo feature `gpu`)"
    )]
    CudaNotCompiled,
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The burn device for this spec (no autodiff; call `.autodiff()` for training).
    ///
    /// # Errors
    /// [`DeviceError::CudaNotCompiled`] for `cuda` in a build without the `gpu` feature.
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "gpu")]
            Self::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "gpu"))]
            Self::Cuda(_) => Err(DeviceError::CudaNotCompiled),
        }
    }

    /// Devices this build can use, for `--help` and server info.
    pub fn compiled_in() -> &'static [&'static str] {
        if cfg!(feature = "gpu") {
            &["cpu", "cuda"]
        } else {
            &["cpu"]
        }
    }
}

/// Held while a device's random stream is seeded or drawn from by model initialisation.
static RANDOM_STREAM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lock of the backend's random stream, which is global to the process: model
/// initialisation ([`crate::zoo::ModelConfig::init`], [`crate::zoo::ModelConfig::init_seeded`])
/// and the trainer's reseeding take it, so a seeded initialisation draws exactly its seed's
/// values however many threads build or train models at once. Random draws inside forward
/// passes (dropout while training) do not take it.
pub(crate) fn random_stream() -> std::sync::MutexGuard<'static, ()> {
    RANDOM_STREAM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seed `device`'s random stream while holding [`random_stream`]'s lock.
pub fn reseed(device: &Device, seed: u64) {
    let _guard = random_stream();
    device.seed(seed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("CUDA".parse(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceSpec::Cuda(3)));
        assert_eq!(
            "tpu".parse::<DeviceSpec>(),
            Err(DeviceError::Unknown("tpu".into()))
        );
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn cpu_device_computes() {
        let dev = DeviceSpec::Cpu.device().unwrap();
        let t = burn::Tensor::<1>::from_floats([1.0, 2.0, 3.0], &dev);
        let s: f32 = t.sum().into_scalar();
        assert_eq!(s, 6.0);
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        assert_eq!(
            DeviceSpec::Cuda(0).device().unwrap_err(),
            DeviceError::CudaNotCompiled
        );
    }
}
