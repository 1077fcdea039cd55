//! Static lint: every check that can be decided from the compose file and the images'
//! config alone, in seconds and with no boot. Checks that need the running stack (real
//! uids, reachability, persistence, timings) are listed as such, not guessed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checks::config;
use crate::checks::facts::ServiceFacts;
use crate::compose::{self, ComposeModel, ComposeProject};
use crate::engine;
use crate::errors::Result;
use crate::policy::Policy;
use crate::verdict::Verdict;

/// Criteria that only a running stack can decide; `harness lint` names them so a green lint
/// is never mistaken for a full verdict.
pub const NEEDS_RUNNING_STACK: [&str; 14] = [
    "startup.service",
    "image.size",
    "user.process",
    "healthcheck.passes",
    "healthcheck.response",
    "network.reach",
    "network.egress",
    "persistence.restart",
    "persistence.recreate",
    "backup.tar",
    "backup.pg_dump",
    "resources.memory",
    "shutdown.graceful",
    "recovery.restart",
];

/// Judges a resolved model. `image_configs` maps image reference to its `Config` JSON
/// (missing images judge on the compose file alone).
pub fn lint_model(
    model: &ComposeModel,
    image_configs: &BTreeMap<String, serde_json::Value>,
    policy: &Policy,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    let empty = serde_json::Value::Null;
    for service in model.services.keys() {
        let raw = model.raw_service(service);
        let image = raw["image"].as_str().unwrap_or_default();
        let facts = ServiceFacts::from_compose(service, raw, image_configs.get(image).unwrap_or(&empty));
        let settings = policy.settings(service);
        out.extend(config::judge(&facts, settings));
        out.push(config::pinned_tag(&facts, settings));
    }
    out
}

/// Lints a stack directory: compose resolves its files (no containers), the engine is asked
/// for the images' config if it has them, and the stack's policy is used (harness defaults
/// when there is none).
pub async fn lint_stack(stack: &Path) -> Result<Vec<Verdict>> {
    let layout = compose::layout(stack)?;
    for f in &layout.files {
        compose::validate_yaml(f)?;
    }
    let project = ComposeProject { project: "harness-lint".into(), files: layout.files.clone() };
    let model = project.model().await?;
    let services: Vec<&str> = model.service_names();
    let policy = super::load_policy(&layout.dir, &services)?;
    let mut configs = BTreeMap::new();
    if let Ok(docker) = engine::connect().await {
        for s in model.services.values() {
            let Some(image) = &s.image else { continue };
            if let Ok(img) = docker.inspect_image(image).await {
                let json = serde_json::to_value(&img).unwrap_or_default();
                configs.insert(image.clone(), json["Config"].clone());
            }
        }
    }
    Ok(lint_model(&model, &configs, &policy))
}
