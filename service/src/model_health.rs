//! Per-model readiness in `grpc.health.v1`: the service name `statecast.v1.Model/NAME` is
//! SERVING while `NAME` has a registered version whose artifact is on disk, NOT_SERVING after it
//! is deleted. A background task re-reads the registry every `period` (registration, deletion
//! and training jobs all go through the registry, so no handler needs to know about health).
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::registry::Registry;

/// The health service name of a model.
pub fn health_name(model: &str) -> String {
    format!("statecast.v1.Model/{model}")
}

/// Spawn the readiness updater on the current tokio runtime.
pub fn spawn(registry: Arc<Registry>, reporter: HealthReporter, period: Duration) {
    tokio::spawn(async move {
        let mut known = BTreeSet::new();
        loop {
            let reg = registry.clone();
            let ready = tokio::task::spawn_blocking(move || ready_models(&reg))
                .await
                .ok()
                .flatten();
            if let Some(ready) = ready {
                for name in known.difference(&ready) {
                    reporter
                        .set_service_status(health_name(name), ServingStatus::NotServing)
                        .await;
                }
                for name in &ready {
                    reporter
                        .set_service_status(health_name(name), ServingStatus::Serving)
                        .await;
                }
                known = ready;
            }
            tokio::time::sleep(period).await;
        }
    });
}

/// Names whose latest version's artifact directory exists (`None` if the registry is unreadable).
fn ready_models(registry: &Registry) -> Option<BTreeSet<String>> {
    let models = registry.list().ok()?;
    Some(
        models
            .into_iter()
            .filter(|m| registry.has_artifact(&m.name, m.latest_version))
            .map(|m| m.name)
            .collect(),
    )
}
