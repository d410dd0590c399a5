//! The registry's domain types.
use std::collections::BTreeMap;
use std::str::FromStr;

use burn::prelude::Device;
use chrono::{DateTime, Utc};
use statecast_models::artifact::Artifact;
use statecast_models::zoo::AnyModel;

use super::catalog::check_name;
use crate::forecast::intervals::IntervalStats;
use crate::{Error, Result};

/// Which version of a model a request means.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selector {
    /// The highest version.
    #[default]
    Latest,
    /// This version number.
    Version(u32),
    /// The version this label points at.
    Label(String),
}

/// A model name plus a [`Selector`]. Parses from `NAME`, `NAME@VERSION` and `NAME:LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Which version.
    pub selector: Selector,
}

impl ModelRef {
    /// The latest version of `name`.
    pub fn latest(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            selector: Selector::Latest,
        }
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidArgument {
            field: "model".into(),
            reason,
        };
        let (name, selector) = if let Some((name, v)) = s.split_once('@') {
            let v = v
                .parse()
                .map_err(|_| bad(format!("`{v}` in `{s}` is not a version number")))?;
            (name, Selector::Version(v))
        } else if let Some((name, label)) = s.split_once(':') {
            (name, Selector::Label(label.to_string()))
        } else {
            (s, Selector::Latest)
        };
        check_name("model", name)?;
        Ok(Self {
            name: name.to_string(),
            selector,
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            Selector::Latest => write!(f, "{}", self.name),
            Selector::Version(v) => write!(f, "{}@{v}", self.name),
            Selector::Label(l) => write!(f, "{}:{l}", self.name),
        }
    }
}

/// One registered version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// Model name.
    pub name: String,
    /// Version number (from 1).
    pub version: u32,
    /// Architecture (`SpaceTime`, `Linear`, `Repeat`).
    pub kind: String,
    /// Variate names in model input order.
    pub columns: Vec<String>,
    /// Sampling period (`1h`), when the training data had one.
    pub frequency: Option<String>,
    /// Look-back L.
    pub lookback: usize,
    /// Horizon H.
    pub horizon: usize,
    /// When the artifact was created.
    pub created_at: DateTime<Utc>,
    /// When this version was registered.
    pub registered_at: DateTime<Utc>,
    /// Labels pointing at this version, sorted.
    pub labels: Vec<String>,
    /// The artifact's metrics flattened to `split.metric`.
    pub metrics: BTreeMap<String, f64>,
    /// What quantiles are computed from (`None`: this version gives point forecasts only).
    pub intervals: Option<IntervalStats>,
    /// SHA-256 of the artifact's files (see [`crate::backend::objects::content_hash`]); the key
    /// of the local artifact cache in scale-out mode. `None` for versions registered before
    /// it was recorded.
    pub content_hash: Option<String>,
}

/// One model in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    /// Model name.
    pub name: String,
    /// Highest version.
    pub latest_version: u32,
    /// Number of versions.
    pub version_count: u32,
    /// Label → version.
    pub labels: BTreeMap<String, u32>,
    /// The latest version's architecture.
    pub kind: String,
}

/// A model with its versions.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDetail {
    /// Model name.
    pub name: String,
    /// Versions, ascending.
    pub versions: Vec<VersionInfo>,
    /// Label → version.
    pub labels: BTreeMap<String, u32>,
}

/// A version loaded for inference.
#[derive(Debug)]
pub struct LoadedModel {
    /// The artifact's metadata (scaler, schema).
    pub artifact: Artifact,
    /// The model in inference mode.
    pub model: AnyModel,
    /// Where the model lives.
    pub device: Device,
    /// What forecast quantiles are computed from (the conformal grid included), `None` when
    /// the artifact supports none.
    pub intervals: Option<IntervalStats>,
}

impl LoadedModel {
    /// A loaded model with its interval statistics read from `artifact`.
    pub fn new(artifact: Artifact, model: AnyModel, device: Device) -> Self {
        Self {
            intervals: IntervalStats::from_artifact(&artifact),
            artifact,
            model,
            device,
        }
    }
}
