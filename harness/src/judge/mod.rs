//! Checks: each judges one criterion family on a booted stack (or, for `lint`, on the
//! resolved compose model and image config alone) and returns verdicts with evidence.
//!
//! Checks never boot or tear down; they read what the harness booted. Destructive checks
//! (restart, backup, kill) are given a stack of their own by their callers.

pub mod change;
pub mod config;
pub mod criteria;
pub mod data;
pub mod facts;
pub mod http;
pub mod lifecycle;
pub mod lint;
pub mod network;
pub mod runtime;
pub mod startup;
pub mod swarm;
pub mod verdict;
mod way_in;

use std::path::Path;

use bollard::Docker;

use crate::boot::stack::Stack;
use crate::errors::Result;
use crate::judge::criteria::{Criterion, Selection, Step};
use crate::judge::verdict::Verdict;
use crate::policy::{self, Policy};

/// A stack's policy: `acceptance.toml` in its directory, or the file its `stack.toml` names,
/// or the harness defaults when there is none.
pub fn load_policy(dir: &Path, services: &[&str]) -> Result<Policy> {
    let path = crate::engine::compose::layout(dir)?.policy;
    if path.is_file() {
        return Ok(policy::load(&path, services)?);
    }
    Ok(Policy::harness_defaults(path, services))
}

/// [`load_policy`] for a resolved stack, with the names the policy uses checked against it:
/// its services, and the volumes and networks its `[[persistence]]`, `[[backup]]` and
/// `[networks.X]` entries name. A name that is not there is an input error with the policy
/// line, not a check that silently judges nothing.
pub fn load_policy_for(
    dir: &Path,
    model: &crate::engine::compose::ComposeModel,
    files: &[std::path::PathBuf],
) -> Result<Policy> {
    let policy = load_policy(dir, &model.service_names())?;
    // Compose's resolved model leaves out volumes and networks no service uses; a policy
    // may still name one the file declares (and judge that nothing mounts it).
    let written = crate::engine::compose::as_written(files);
    let volumes: std::collections::BTreeSet<String> =
        written.volumes.into_iter().chain(model.volumes.keys().cloned()).collect();
    let networks: std::collections::BTreeSet<String> =
        written.networks.into_iter().chain(model.networks.keys().cloned()).collect();
    let text = std::fs::read_to_string(&policy.path).unwrap_or_default();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map_or(0, |i| i + 1);
    let missing = |kind: &str, name: &str, known: Vec<&String>, needle: String| {
        let list = if known.is_empty() {
            "none".to_owned()
        } else {
            known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        };
        crate::Error::from(policy::PolicyError::Invalid {
            path: policy.path.clone(),
            line: line_of(&needle),
            message: format!(
                "names the {kind} `{name}`, which is not in the compose file ({kind}s there: {list}) (hint: use the {kind}'s key under `{kind}s:` in the compose file)"
            ),
        })
    };
    for volume in policy.persistence.iter().map(|p| &p.volume).chain(policy.backups.iter().map(|b| &b.volume)) {
        if !volumes.contains(volume) {
            return Err(missing("volume", volume, volumes.iter().collect(), format!("\"{volume}\"")));
        }
    }
    for network in policy.networks.keys() {
        if !networks.contains(network) {
            return Err(missing("network", network, networks.iter().collect(), format!("networks.{network}")));
        }
    }
    if let (Some(_), Some(gw)) = (&policy.availability, &policy.gateway)
        && let Some(why) = no_way_in(model, &gw.service, gw.port)
    {
        return Err(crate::Error::from(policy::PolicyError::Invalid {
            path: policy.path.clone(),
            line: line_of("[availability]"),
            message: format!(
                "asks for load through `{}`, which has no way in: {why} (hint: publish the port, or put `{}` on a network of the stack, where the harness loads it through a forwarder)",
                gw.service, gw.service
            ),
        }));
    }
    Ok(policy)
}

/// Why load cannot reach `service`'s container port `port`, if it cannot: the port is not
/// published and the service is on no network the stack creates, which a forwarder could
/// join (`judge::way_in`). A `network_mode` service is left to the run to find out.
fn no_way_in(model: &crate::engine::compose::ComposeModel, service: &str, port: u16) -> Option<String> {
    let svc = model.services.get(service)?;
    if !model.raw_service(service)["network_mode"].is_null() {
        return None;
    }
    let published =
        svc.ports.iter().any(|p| p["target"].as_u64() == Some(u64::from(port)) && !p["published"].is_null());
    // A forwarder publishes its port only from a network Docker publishes from: not an
    // internal one.
    let own = svc.networks.keys().any(|n| model.networks.get(n).is_some_and(|net| !net.external && !net.internal));
    (!published && !own).then(|| {
        format!("its port {port} is not published and it is on no network the stack creates that is not internal (Docker publishes no port from an internal network)")
    })
}

/// The verdicts of a catalogue run, with the time each family of checks took.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Every verdict, in the order the checks ran.
    pub verdicts: Vec<Verdict>,
    /// How long each family of checks took, as (family, time), in the order they ran.
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// The network probes' results, for the report's isolation grid.
    pub matrix: Option<network::Matrix>,
    /// Every load run, for the report's "under load" section.
    pub loads: Vec<crate::load::LoadRun>,
}

impl Catalogue {
    fn add(&mut self, family: &'static str, started: std::time::Instant, verdicts: Vec<Verdict>, cx: Judging<'_>) {
        let took = started.elapsed();
        self.timings.push((family, took));
        let before = self.verdicts.len();
        let selected = verdicts.into_iter().filter(|v| cx.sel.includes(v.criterion));
        self.verdicts.extend(apply_waivers(selected, cx.policy));
        crate::progress::note(format!(
            "{family}: {} verdict(s) in {}",
            self.verdicts.len() - before,
            crate::units::secs(took)
        ));
    }

    /// `family 1.234s, ...` for logs and the README's benchmark.
    pub fn timing_line(&self) -> String {
        let total: std::time::Duration = self.timings.iter().map(|(_, d)| *d).sum();
        let parts: Vec<String> = self.timings.iter().map(|(f, d)| format!("{f} {}", crate::units::secs(*d))).collect();
        format!("catalogue {} ({})", crate::units::secs(total), parts.join(", "))
    }
}

/// What [`Catalogue::add`] needs besides the verdicts: which criteria were selected, and
/// the policy whose waivers apply.
#[derive(Clone, Copy)]
struct Judging<'a> {
    sel: &'a Selection,
    policy: &'a Policy,
}

/// The policy's `[[waive]]` entries applied: a waived verdict says so, with the file and
/// line, instead of its strict budget. Every producer of verdicts for a stack goes through
/// this, so a waiver means the same in `check`, `lint` and the library.
pub fn apply_waivers(verdicts: impl IntoIterator<Item = Verdict>, policy: &Policy) -> Vec<Verdict> {
    verdicts
        .into_iter()
        .map(|v| match policy.waiver(v.criterion.id(), &v.subject) {
            Some(w) => {
                let place = format!("{}:{}: {}", crate::workspace::display_path(&w.path), w.line, w.reason);
                v.waive(place)
            }
            None => v,
        })
        .collect()
}

/// The whole catalogue (or the selected part of it) on one stack the caller owns: the
/// read-only checks first, then the destructive ones in an order where each leaves the
/// stack usable for the next (shutdown and recovery restart what they stop; persistence
/// recreates the stack; backup, which replaces volumes, comes last).
pub async fn full(cx: &Context<'_>, sel: &Selection) -> Result<Catalogue> {
    full_in_turn(cx, sel, None).await
}

/// [`full`] for a run that takes turns (`crate::turns`): `turn`, taken before the boot, is
/// given back once the last step that times anything (change) has run, so that another
/// run's timed steps overlap only this one's persistence and backup, which time nothing.
pub async fn full_in_turn(cx: &Context<'_>, sel: &Selection, turn: Option<crate::turns::Turn>) -> Result<Catalogue> {
    let mut c = Catalogue::default();
    let j = Judging { sel, policy: cx.policy };
    let sel_runs = |step| {
        let runs = sel.runs(step);
        if runs {
            // Fault injection (`bench soak`): a panic as a step begins. See `crate::faults`.
            fail::fail_point!(crate::faults::STEP);
        }
        runs
    };
    if sel_runs(Step::Startup) {
        let t = std::time::Instant::now();
        let mut v = startup::judge(&cx.stack.timeline, &startup::Budgets::from_policy(cx.policy));
        v.push(startup::deploy_time(&cx.stack.timeline, cx.policy.deploy_time));
        c.add("startup", t, v, j);
    }
    if sel_runs(Step::Runtime) {
        crate::progress::note(
            "judging configuration and runtime (inspect, docker top, stats, one timed healthcheck each)",
        );
        let t = std::time::Instant::now();
        let mut v = runtime::all(cx).await?;
        v.extend(pinned_tags(cx));
        // Judged from the file as written: the boot moved every fixed name and port aside.
        let fixed = &cx.stack.file_facts.fixed;
        v.extend(cx.stack.model.services.keys().map(|s| {
            config::fixed_addresses(s, fixed.get(s).map(Vec::as_slice).unwrap_or_default(), cx.policy.settings(s))
        }));
        c.add("runtime", t, v, j);
    }
    if sel_runs(Step::Network) {
        crate::progress::note("probing reachability: one probe container per network");
        let t = std::time::Instant::now();
        let matrix = network::probe(cx).await?;
        let mut v = network::judge(&matrix, cx.policy);
        v.extend(http::discovery_verdicts(&matrix, cx.policy));
        c.matrix = Some(matrix);
        c.add("network", t, v, j);
    }
    if sel_runs(Step::Http) {
        let t = std::time::Instant::now();
        let mut v = http::routes(cx).await?;
        v.extend(http::observability(cx).await?);
        // One load serves both: gateway.balance reads the steady load's replica counts.
        if sel.includes(Criterion::AvailabilitySteady) || sel.includes(Criterion::GatewayBalance) {
            let (verdicts, load) = http::availability_run(cx).await?;
            v.extend(verdicts);
            c.loads.extend(load);
        }
        c.add("http", t, v, j);
    }
    if sel_runs(Step::Lifecycle) {
        let t = std::time::Instant::now();
        let mut v = Vec::new();
        for service in cx.stack.model.services.keys() {
            crate::progress::note(format!("lifecycle of {service}: SIGTERM, then SIGKILL of PID 1"));
            if sel.includes(Criterion::ShutdownGraceful) {
                v.push(lifecycle::shutdown(cx, service).await?);
            }
            if sel.includes(Criterion::RecoveryRestart) {
                v.push(lifecycle::recovery(cx, service).await?);
            }
        }
        c.add("lifecycle", t, v, j);
    }
    if sel_runs(Step::Change) {
        let t = std::time::Instant::now();
        let (mut verdicts, loads) = change::all(cx, sel).await?;
        // Only the selected checks ran, so every load here belongs to a selected criterion.
        c.loads.extend(loads);
        // Compose has no rollback of its own: said when asked for by name, else not listed.
        if sel.names(Criterion::DeployRollback) {
            let subject =
                cx.policy.availability.as_ref().and_then(|a| a.upstream.clone()).unwrap_or_else(|| "stack".into());
            verdicts.push(Verdict::not_judged(
                Criterion::DeployRollback,
                &subject,
                "compose has no rollback of its own: run `harness check --engine swarm` to judge it",
            ));
        }
        c.add("change", t, verdicts, j);
    }
    drop(turn);
    if sel_runs(Step::Persistence) {
        crate::progress::note("persistence: write, restart, recreate keeping volumes, read back");
        let t = std::time::Instant::now();
        c.add("persistence", t, data::persistence(cx).await?, j);
    }
    if sel_runs(Step::Backup) {
        crate::progress::note("backup: back up, destroy, restore, boot, compare");
        let t = std::time::Instant::now();
        c.add("backup", t, data::backup(cx).await?, j);
    }
    Ok(c)
}

/// `lint.pinned_tags` from the resolved compose file: a floating tag is a finding whatever
/// image the engine happens to have under it today.
fn pinned_tags(cx: &Context<'_>) -> Vec<Verdict> {
    cx.stack
        .model
        .services
        .keys()
        .map(|s| {
            let raw = cx.stack.model.raw_service(s);
            // A `build:` service's FROM lines are what it pins (its Dockerfile was read at boot).
            let side = cx
                .stack
                .file_facts
                .dockerfiles
                .get(s)
                .map(|file| facts::ImageSide::from_build(file, facts::ImageSide::default()))
                .unwrap_or_default();
            let facts = facts::ServiceFacts::from_compose(s, raw, &side);
            config::pinned_tag(&facts, cx.policy.settings(s))
        })
        .collect()
}

/// Every read-only check on a booted stack: [`full`] without the steps that stop, kill,
/// recreate or replace anything (lifecycle, persistence, backup), so a shared stack can be
/// judged by many tests at once.
pub async fn read_only(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let destructive = Criterion::ALL.iter().filter(|c| !c.read_only()).map(|c| c.id().to_owned()).collect();
    let sel = Selection::new(Vec::new(), destructive)?;
    Ok(full(cx, &sel).await?.verdicts)
}

/// What a check needs: the booted stack and the policy to judge it by.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The booted stack.
    pub stack: &'a Stack,
    /// The policy to judge it by.
    pub policy: &'a Policy,
}

impl Context<'_> {
    /// The engine connection the stack was booted with.
    pub fn docker(&self) -> &Docker {
        self.stack.docker()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::verdict::Outcome;
    use crate::judge::verdict::Summary;

    #[test]
    fn a_waiver_replaces_the_budget_with_its_place_and_counts_apart() {
        let text = "[[waive]]\ncriterion = \"user\"\nservice = \"legacy\"\nreason = \"vendor image runs as root\"\n";
        let path = Path::new("/nowhere/acceptance.toml");
        let policy = policy::parse(text, path, &["legacy", "api"]).expect("valid policy");
        let verdict = |subject: &str, outcome: Outcome| Verdict {
            criterion: Criterion::UserProcess,
            subject: subject.into(),
            measured: "1 root process(es)".into(),
            budget: "no process with uid 0".into(),
            outcome,
            evidence: String::new(),
            hint: Some("run as non-root".into()),
        };
        let out = apply_waivers(
            [
                verdict("legacy", Outcome::Fail),
                verdict("api", Outcome::Fail),
                Verdict::not_judged(Criterion::UserImage, "legacy", "image absent"),
            ],
            &policy,
        );
        assert_eq!(
            out[0].line(),
            "WAIVED user.process legacy: 1 root process(es) (budget waived (/nowhere/acceptance.toml:2: vendor image runs as root))"
        );
        assert_eq!(out[1].outcome, Outcome::Fail, "the waiver names one service");
        assert_eq!(out[2].outcome.word(), "SKIP", "nothing measured, nothing waived");
        let s = Summary::of(&out);
        assert_eq!((s.failed, s.waived, s.not_judged, s.exit_code()), (1, 1, 1, 1));
    }
}
