//! Static lint: every check that can be decided from the compose file and the images'
//! config alone, in seconds and with no boot. Checks that need the running stack (real
//! uids, reachability, persistence, timings) are listed as such, not guessed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::engine;
use crate::engine::compose::{self, ComposeModel, ComposeProject};
use crate::engine::dockerfile;
use crate::errors::{Error, Result};
use crate::judge::config;
use crate::judge::criteria::Criterion;
use crate::judge::facts::{ImageSide, ServiceFacts};
use crate::judge::verdict::Verdict;
use crate::policy::Policy;

/// Criteria that only a running stack can decide, from the catalogue; `harness lint`
/// names them so a green lint is never mistaken for a full verdict.
pub fn needs_running_stack() -> Vec<&'static str> {
    Criterion::ALL.iter().filter(|c| !c.lint()).map(|c| c.id()).collect()
}

/// Judges a resolved model. `sides` maps a service to what its image side says (its
/// Dockerfile, its image's config); a service with none is judged on the compose file alone,
/// and what only the image could tell is not judged.
/// `stand_ins` maps a service a stand-in plays to why ([`compose::stand_ins`]).
pub fn lint_model(
    model: &ComposeModel,
    sides: &BTreeMap<String, ImageSide>,
    stand_ins: &BTreeMap<String, String>,
    policy: &Policy,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    let none = ImageSide::default();
    let host_paths = volume_host_paths(&model.raw);
    for service in model.services.keys() {
        let raw = model.raw_service(service);
        let mut facts = ServiceFacts::from_compose(service, raw, sides.get(service).unwrap_or(&none));
        facts.bind_volumes(&host_paths);
        if let Some(why) = stand_ins.get(service) {
            facts.played_by_stand_in(why, raw);
        }
        let settings = policy.settings(service);
        out.extend(config::judge(&facts, settings));
        out.push(config::pinned_tag(&facts, settings));
        out.push(config::fixed_addresses(service, &model.fixed_addresses(service), settings));
    }
    super::apply_waivers(out, policy)
}

/// Top-level volumes (by their key, as services mount them) whose options bind a host path.
fn volume_host_paths(raw: &serde_json::Value) -> BTreeMap<String, String> {
    raw["volumes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, v)| {
            let opts: BTreeMap<String, String> = serde_json::from_value(v["driver_opts"].clone()).unwrap_or_default();
            super::facts::volume_host_path(v["driver"].as_str().unwrap_or_default(), &opts).map(|p| (key.clone(), p))
        })
        .collect()
}

/// What `lint` found: the verdicts, and warnings about the input that did not become
/// verdicts (compose's unset variables, each with where it is used; an engine that could
/// not be asked).
#[derive(Debug, Clone, Default)]
pub struct Linted {
    /// The verdicts, as [`lint_model`] gives them.
    pub verdicts: Vec<Verdict>,
    /// One line per warning.
    pub warnings: Vec<String>,
}

/// Lints a stack directory with every profile active: see [`lint_stack_with`].
pub async fn lint_stack(stack: &Path) -> Result<Linted> {
    lint_stack_with(stack, &[]).await
}

/// Lints a stack directory: compose resolves its files (no containers) with `profiles`
/// active (empty: all of them), each `build:` service's Dockerfile is read, the engine is
/// asked for the images' config if it has them, and the stack's policy is used (harness
/// defaults when there is none).
pub async fn lint_stack_with(stack: &Path, profiles: &[String]) -> Result<Linted> {
    let layout = compose::layout(stack)?;
    for f in &layout.files {
        compose::validate_yaml(f)?;
    }
    let mut project = ComposeProject::new("harness-lint", layout.files.clone());
    project.profiles = profiles.to_vec();
    let (model, compose_warnings) = project.model_and_warnings().await?;
    if model.services.is_empty() {
        return Err(Error::NoServices { stack: layout.dir.clone(), profiles: profiles.join(", ") });
    }
    let services: Vec<&str> = model.service_names();
    let policy = super::load_policy_for(&layout.dir, &model, &layout.files)?;
    let mut warnings: Vec<String> =
        compose_warnings.iter().map(|w| compose::describe_warning(w, &layout.files)).collect();
    let docker = match engine::connect().await {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!(
                "{e}; what only an image's config can tell (USER, HEALTHCHECK, ENV of images that are not built here) is not judged"
            ));
            None
        }
    };
    // One inspect per distinct image, however many services run it.
    let mut configs: BTreeMap<String, ImageSide> = BTreeMap::new();
    let mut sides = BTreeMap::new();
    for service in services {
        let raw = model.raw_service(service);
        let file = match &raw["build"] {
            b if b.is_object() => Some(dockerfile::read_for_service(service, b)?),
            _ => None,
        };
        let reference = match &file {
            Some(f) => f.base.as_ref().map(|b| b.value.clone()),
            None => raw["image"].as_str().map(str::to_owned),
        };
        let config = match (reference, &docker) {
            (Some(r), Some(docker)) => match configs.get(&r) {
                Some(c) => c.clone(),
                None => {
                    let c = match docker.inspect_image(&r).await {
                        Ok(img) => {
                            ImageSide::from_config(&r, &serde_json::to_value(&img).unwrap_or_default()["Config"])
                        }
                        Err(_) => ImageSide::default(),
                    };
                    configs.insert(r, c.clone());
                    c
                }
            },
            _ => ImageSide::default(),
        };
        let side = match &file {
            Some(f) => ImageSide::from_build(f, config),
            None => config,
        };
        sides.insert(service.to_owned(), side);
    }
    let stand_ins = compose::stand_ins(&layout.files);
    Ok(Linted { verdicts: lint_model(&model, &sides, &stand_ins, &policy), warnings })
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
        let sides = BTreeMap::from([(
            "api".to_owned(),
            ImageSide::from_config("harness/app:0.1.0", &serde_json::json!({"User": "65534"})),
        )]);
        let mut judged: Vec<Criterion> =
            lint_model(&model, &sides, &BTreeMap::new(), &policy).iter().map(|v| v.criterion).collect();
        judged.sort();
        judged.dedup();
        let lintable: Vec<Criterion> = Criterion::ALL.iter().copied().filter(|c| c.lint()).collect();
        assert_eq!(judged, lintable);
        let mut all: Vec<&str> = lintable.iter().map(|c| c.id()).chain(needs_running_stack()).collect();
        all.sort_unstable();
        assert_eq!(all.len(), Criterion::ALL.len(), "every criterion is either lint-able or needs a running stack");
    }
}
