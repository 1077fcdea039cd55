//! Static lint: every check that can be decided from the compose file and the images'
//! config alone, in seconds and with no boot. Checks that need the running stack (real
//! uids, reachability, persistence, timings) are listed as such, not guessed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::engine;
use crate::engine::compose::{self, ComposeModel, ComposeProject};
use crate::errors::Result;
use crate::judge::config;
use crate::judge::criteria::Criterion;
use crate::judge::facts::ServiceFacts;
use crate::judge::verdict::Verdict;
use crate::policy::Policy;

/// Criteria that only a running stack can decide, from the catalogue; `harness lint`
/// names them so a green lint is never mistaken for a full verdict.
pub fn needs_running_stack() -> Vec<&'static str> {
    Criterion::ALL.iter().filter(|c| !c.lint()).map(|c| c.id()).collect()
}

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
    super::apply_waivers(out, policy)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue says which criteria lint judges; lint must judge exactly those, so the
    /// two can never drift apart again.
    #[test]
    fn lint_judges_exactly_the_lint_able_criteria() {
        let raw = serde_json::json!({"services": {"api": {"image": "harness/app:0.1.0", "user": "65534"}}});
        let mut model: ComposeModel = serde_json::from_value(raw.clone()).expect("model");
        model.raw = raw;
        let policy = crate::policy::parse("", Path::new("acceptance.toml"), &["api"]).expect("policy");
        let configs = BTreeMap::from([("harness/app:0.1.0".to_owned(), serde_json::json!({"User": "65534"}))]);
        let mut judged: Vec<Criterion> = lint_model(&model, &configs, &policy).iter().map(|v| v.criterion).collect();
        judged.sort();
        judged.dedup();
        let lintable: Vec<Criterion> = Criterion::ALL.iter().copied().filter(|c| c.lint()).collect();
        assert_eq!(judged, lintable);
        let mut all: Vec<&str> = lintable.iter().map(|c| c.id()).chain(needs_running_stack()).collect();
        all.sort_unstable();
        assert_eq!(all.len(), Criterion::ALL.len(), "every criterion is either lint-able or needs a running stack");
    }
}
