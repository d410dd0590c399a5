//! `statecast.v1.ModelService` messages ↔ [`crate::registry`] types.
use statecast_proto::v1 as pb;

use crate::registry::{ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
use crate::{Error, Result};

/// A required `ModelRef` field (`field` names it in errors).
///
/// # Errors
/// [`Error::InvalidArgument`] when it is missing, has an empty name or version 0.
pub fn model_ref(field: &str, r: Option<pb::ModelRef>) -> Result<ModelRef> {
    let pb::ModelRef { name, selector } = r.ok_or_else(|| Error::InvalidArgument {
        field: field.into(),
        reason: "a model reference is required".into(),
    })?;
    if name.is_empty() {
        return Err(Error::InvalidArgument {
            field: format!("{field}.name"),
            reason: "the model name is empty".into(),
        });
    }
    let selector = match selector {
        None => Selector::Latest,
        Some(pb::model_ref::Selector::Version(0)) => {
            return Err(Error::InvalidArgument {
                field: format!("{field}.version"),
                reason: "versions start at 1".into(),
            });
        }
        Some(pb::model_ref::Selector::Version(v)) => Selector::Version(v),
        Some(pb::model_ref::Selector::Label(l)) if l.is_empty() => Selector::Latest,
        Some(pb::model_ref::Selector::Label(l)) => Selector::Label(l),
    };
    Ok(ModelRef { name, selector })
}

impl From<VersionInfo> for pb::ModelVersion {
    fn from(v: VersionInfo) -> Self {
        let VersionInfo {
            name,
            version,
            kind,
            columns,
            frequency,
            lookback,
            horizon,
            created_at,
            registered_at,
            labels,
            metrics,
            intervals,
            content_hash: _,
        } = v;
        pb::ModelVersion {
            name,
            version,
            family: super::family::of_kind(&kind).into(),
            kind,
            schema: Some(pb::ModelSchema {
                columns,
                frequency: frequency.unwrap_or_default(),
                lookback: lookback as u32,
                horizon: horizon as u32,
            }),
            created_at: created_at.to_rfc3339(),
            registered_at: registered_at.to_rfc3339(),
            labels,
            metrics: metrics.into_iter().collect(),
            interval_method: intervals.map(|i| i.method).unwrap_or_default(),
        }
    }
}

impl From<ModelSummary> for pb::ModelSummary {
    fn from(s: ModelSummary) -> Self {
        let ModelSummary {
            name,
            latest_version,
            version_count,
            labels,
            kind,
        } = s;
        pb::ModelSummary {
            name,
            latest_version,
            version_count,
            labels: labels.into_iter().collect(),
            family: super::family::of_kind(&kind).into(),
            kind,
        }
    }
}

impl From<ModelDetail> for pb::GetModelResponse {
    fn from(d: ModelDetail) -> Self {
        let ModelDetail {
            name,
            versions,
            labels,
        } = d;
        pb::GetModelResponse {
            name,
            versions: versions.into_iter().map(Into::into).collect(),
            labels: labels.into_iter().collect(),
        }
    }
}
