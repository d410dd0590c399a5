//! `statecast.v1.ModelService`.
use std::sync::Arc;

use statecast_proto::v1 as pb;
use statecast_proto::v1::model_service_server::ModelService;
use tonic::{Request, Response, Status};

use super::blocking;
use crate::convert::registry::model_ref;
use crate::registry::{Registry, Selector};

/// Serves the model registry.
#[derive(Debug, Clone)]
pub struct ModelServiceImpl {
    registry: Arc<Registry>,
}

impl ModelServiceImpl {
    /// A service over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

#[tonic::async_trait]
impl ModelService for ModelServiceImpl {
    async fn register_model(
        &self,
        request: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        let pb::RegisterModelRequest { name, path, labels } = request.into_inner();
        let registry = self.registry.clone();
        // Only under the server's import roots (`--import-root`); never the data dir itself.
        let info = blocking(move || registry.import(&name, &path, &labels)).await?;
        Ok(Response::new(pb::RegisterModelResponse {
            version: Some(info.into()),
        }))
    }

    async fn list_models(
        &self,
        _request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let registry = self.registry.clone();
        let models = blocking(move || registry.list()).await?;
        Ok(Response::new(pb::ListModelsResponse {
            models: models.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let pb::GetModelRequest { model } = request.into_inner();
        let r = model_ref("model", model)?;
        let registry = self.registry.clone();
        let detail = blocking(move || {
            let mut detail = registry.get(&r.name)?;
            if r.selector != Selector::Latest {
                let one = registry.resolve(&r)?;
                detail.versions.retain(|v| v.version == one.version);
            }
            Ok(detail)
        })
        .await?;
        Ok(Response::new(detail.into()))
    }

    async fn delete_model(
        &self,
        request: Request<pb::DeleteModelRequest>,
    ) -> Result<Response<pb::DeleteModelResponse>, Status> {
        let pb::DeleteModelRequest { name, version } = request.into_inner();
        let registry = self.registry.clone();
        let deleted_versions = blocking(move || registry.delete(&name, version)).await?;
        Ok(Response::new(pb::DeleteModelResponse { deleted_versions }))
    }

    async fn set_label(
        &self,
        request: Request<pb::SetLabelRequest>,
    ) -> Result<Response<pb::SetLabelResponse>, Status> {
        let pb::SetLabelRequest { name, label, version } = request.into_inner();
        let registry = self.registry.clone();
        let info = blocking(move || registry.set_label(&name, &label, version)).await?;
        Ok(Response::new(pb::SetLabelResponse {
            version: Some(info.into()),
        }))
    }
}
