//! The catalogue on Docker Swarm (`harness check --engine swarm`): what can be judged from
//! a Swarm deployment, judged the same way as on compose, and everything else reported as
//! not judged with the reason, never passed.
//!
//! Judged here:
//! - the startup criteria and `deploy.time`, from the per-task timeline;
//! - `user.process`, from `docker top` of every running task;
//! - `availability.steady` and `gateway.balance`, from the same steady load through the
//!   gateway's host-mode port on 127.0.0.1;
//! - `availability.rolling_update`: Swarm's own rolling update (`docker service update
//!   --force` through the Engine API, with the service's `update_config`: start-first, one
//!   task at a time) under load;
//! - `availability.replica_loss`: SIGKILL of one task's PID 1 under load; Swarm replaces it;
//! - `scale.out`: replicas to `scale_to` and back, under load;
//! - `deploy.rollback`: a deliberately bad version (a healthcheck that never passes) rolled
//!   out under load; Swarm must roll it back by itself.
//!
//! The load, its summaries and the verdicts' arithmetic are the compose engine's own
//! ([`crate::load`], [`super::http::steady_verdict`], [`super::http::balance_verdict`]).

use std::time::{Duration, Instant};

use crate::boot::swarm::SwarmStack;
use crate::errors::Result;
use crate::judge::change::{self, Load, TAIL, run};
use crate::judge::criteria::{Criterion, Selection, Step};
use crate::judge::verdict::Verdict;
use crate::judge::{Catalogue, Judging, startup};
use crate::load::{LoadRun, Summary};
use crate::policy::{Availability, Policy};
use crate::units::secs;

/// Why a criterion is not judged on Swarm, by step.
fn not_here(c: Criterion) -> String {
    let why = match c.step() {
        Step::Runtime => {
            "the harness reads this from one container per service on compose; on Swarm only `user.process` is read per task so far"
        }
        Step::Network => {
            "the reachability probes attach to compose's networks; on Swarm's overlay networks they are not built yet"
        }
        Step::Http => "only the steady load and the balance are judged through Swarm's host-mode port so far",
        Step::Lifecycle => {
            "Swarm replaces a stopped task instead of restarting it, so graceful shutdown and restart recovery are judged on compose"
        }
        Step::Persistence | Step::Backup => {
            "the data checks recreate and restore compose services; on Swarm they are not built yet"
        }
        _ => "this change is judged on compose",
    };
    format!("not judged on --engine swarm: {why} (run `harness check` without --engine to judge it)")
}

/// The whole catalogue, or the selected part, on a stack deployed on Swarm.
pub async fn full(stack: &SwarmStack, policy: &Policy, sel: &Selection) -> Result<Catalogue> {
    let mut c = Catalogue::default();
    let j = Judging { sel, policy };
    let mut judged: Vec<Criterion> = Vec::new();
    if sel.runs(Step::Startup) {
        let t = Instant::now();
        let mut v = startup::judge(&stack.timeline, &startup::Budgets::from_policy(policy));
        v.push(startup::deploy_time(&stack.timeline, policy.deploy_time));
        judged.extend([Criterion::StartupService, Criterion::StartupStack, Criterion::DeployTime]);
        judged.extend(v.iter().map(|v| v.criterion));
        c.add("startup", t, v, j);
    }
    if sel.includes(Criterion::UserProcess) {
        let t = Instant::now();
        let mut v = Vec::new();
        for service in stack.model.services.keys() {
            v.push(user_process(stack, policy, service).await?);
        }
        judged.push(Criterion::UserProcess);
        c.add("runtime", t, v, j);
    }
    let setup = Setup::new(stack, policy).await;
    if sel.includes(Criterion::AvailabilitySteady) || sel.includes(Criterion::GatewayBalance) {
        let t = Instant::now();
        judged.extend([Criterion::AvailabilitySteady, Criterion::GatewayBalance]);
        let v = match &setup {
            Ok(Some(s)) => {
                let (v, run) = steady(stack, s).await?;
                c.loads.push(run);
                v
            }
            Ok(None) => Vec::new(),
            Err(reason) => change::steady_unjudged(policy, reason),
        };
        c.add("http", t, v, j);
    }
    const CHANGES: [Criterion; 4] = [
        Criterion::AvailabilityReplicaLoss,
        Criterion::AvailabilityRollingUpdate,
        Criterion::ScaleOut,
        Criterion::DeployRollback,
    ];
    if CHANGES.iter().any(|c| sel.includes(*c)) {
        let t = Instant::now();
        let mut v = Vec::new();
        for criterion in CHANGES.into_iter().filter(|c| sel.includes(*c)) {
            judged.push(criterion);
            let s = match &setup {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(reason) => {
                    v.push(Verdict::not_judged(criterion, &change::subject(policy, criterion), reason.clone()));
                    continue;
                }
            };
            let note = match s.serving(stack).await? {
                Ok(note) => note,
                Err(reason) => {
                    v.push(Verdict::not_judged(criterion, &s.upstream, reason));
                    continue;
                }
            };
            crate::progress::note(format!("swarm change: {criterion} of `{}` under load", s.upstream));
            let (mut verdict, run) = match criterion {
                Criterion::AvailabilityReplicaLoss => replica_loss(stack, s).await?,
                Criterion::AvailabilityRollingUpdate => rolling_update(stack, s).await?,
                Criterion::ScaleOut => scale_out(stack, s).await?,
                _ => rollback(stack, s).await?,
            };
            if let Some(note) = note {
                verdict.evidence = format!("{note}; {}", verdict.evidence);
            }
            v.push(verdict);
            c.loads.extend(run);
        }
        c.add("change", t, v, j);
    }
    // Everything else that was selected: not judged here, with the reason.
    let t = Instant::now();
    let rest: Vec<Verdict> = Criterion::ALL
        .iter()
        .copied()
        .filter(|c| sel.includes(*c) && !judged.contains(c))
        .map(|c| Verdict::not_judged(c, "stack", not_here(c)))
        .collect();
    if !rest.is_empty() {
        c.add("not judged on swarm", t, rest, j);
    }
    Ok(c)
}

/// `user.process` over every running task of a service: all their processes together.
async fn user_process(stack: &SwarmStack, policy: &Policy, service: &str) -> Result<Verdict> {
    let tasks = stack.running_tasks(service).await?;
    let mut titles = Vec::new();
    let mut procs = Vec::new();
    for t in &tasks {
        let top = stack
            .docker()
            .top_processes(&t.container, Some(super::runtime::top_options()))
            .await
            .map_err(|e| crate::Error::engine("top", service, e))?;
        titles = top.titles.unwrap_or_default();
        procs.extend(top.processes.unwrap_or_default());
    }
    let mut v = super::runtime::judge_user_process(service, &titles, &procs, policy.settings(service).non_root);
    v.evidence = format!("{} task(s): {}", tasks.len(), v.evidence);
    Ok(v)
}

/// What the load checks need: the policy's load, the upstream, and the gateway's address.
struct Setup<'a> {
    a: &'a Availability,
    upstream: String,
    gateway: String,
    gateway_port: u16,
    /// The gateway's published address: a new gateway task gets a new host port.
    base: std::sync::Mutex<std::net::SocketAddr>,
    recovery: Duration,
    rollback_budget: Duration,
}

impl<'a> Setup<'a> {
    /// `Ok(None)` when the policy asks for no load; `Err` with the reason none can be sent.
    async fn new(stack: &SwarmStack, policy: &'a Policy) -> std::result::Result<Option<Setup<'a>>, String> {
        let (Some(a), Some(gw)) = (&policy.availability, &policy.gateway) else { return Ok(None) };
        let Some(upstream) = a.upstream.clone() else {
            return Err(format!(
                "no upstream for {}: name one with [availability] upstream, or add a [[routes]] entry for the path",
                a.path
            ));
        };
        let base = stack
            .host_port(&gw.service, gw.port)
            .await
            .map_err(|e| format!("the gateway's port {} is not published: {e}", gw.port))?;
        a.target(base).map_err(|e| e.to_string())?;
        Ok(Some(Setup {
            a,
            recovery: policy.settings(&upstream).recovery,
            upstream,
            gateway: gw.service.clone(),
            gateway_port: gw.port,
            base: std::sync::Mutex::new(base),
            rollback_budget: policy.deploy_rollback,
        }))
    }

    fn base(&self) -> std::net::SocketAddr {
        *self.base.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn url(&self) -> String {
        format!("http://{}{}", self.base(), self.a.path)
    }

    async fn answers(&self) -> Result<bool> {
        change::answers(self.base(), self.a).await
    }

    /// Each change starts from a stack that answers, as on compose: a gateway that kept a
    /// gone task's address after the previous change (a finding there) gets a new task
    /// (a forced update), and its new host port is read. `Ok(Some(note))` when that was
    /// needed; `Err` with the reason when the stack does not answer even then.
    async fn serving(&self, stack: &SwarmStack) -> Result<std::result::Result<Option<String>, String>> {
        if self.answers().await? {
            return Ok(Ok(None));
        }
        stack
            .update(&self.gateway, |spec| {
                if let Some(t) = spec.task_template.as_mut() {
                    t.force_update = Some(t.force_update.unwrap_or(0) + 1);
                }
            })
            .await?;
        // The old task stops once the new one is up: wait until only new ones run.
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(seen) = stack.wait_service(&self.gateway, stack.boot_timeout()).await {
            return Ok(Err(format!("`{}` did not come back after a forced update: {seen}", self.gateway)));
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(base) = stack.host_port(&self.gateway, self.gateway_port).await {
                *self.base.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = base;
                if self.answers().await? {
                    return Ok(Ok(Some(format!(
                        "`{}` did not answer after the previous change, so the harness gave it a new task before this one",
                        self.gateway
                    ))));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(Err(format!(
            "the stack did not answer {} through `{}` before the change, even with a new gateway task",
            self.a.path, self.gateway
        )))
    }

    async fn start(&self) -> Result<Load> {
        change::start_load(self.base(), self.a).await
    }
}

/// `availability.steady` and `gateway.balance` from one steady load.
async fn steady(stack: &SwarmStack, s: &Setup<'_>) -> Result<(Vec<Verdict>, LoadRun)> {
    let target = s.a.target(s.base())?;
    crate::progress::note(format!("availability: {} req/s for {} to {}", s.a.rate, secs(s.a.duration), target.url()));
    let samples = crate::load::run(&target, &crate::load::Plan::steady(s.a.rate, s.a.duration, s.a.p99)).await?;
    let summary = Summary::of(&samples);
    let gateway = s.gateway.clone();
    let mut v = vec![super::http::steady_verdict(&gateway, &target.url(), s.a, &summary)];
    let running: Vec<String> = stack.running_tasks(&s.upstream).await?.into_iter().map(|t| t.hostname).collect();
    v.push(super::http::balance_verdict(&s.upstream, s.a, &running, &summary));
    Ok((v, run(Criterion::AvailabilitySteady, &gateway, &summary, Vec::new())))
}

/// The compose engine's verdict of a change under load ([`change::judged`]), its evidence
/// marked as Swarm's.
fn judged(
    criterion: Criterion,
    s: &Setup<'_>,
    summary: &Summary,
    change: std::result::Result<String, String>,
    hint: &str,
) -> Verdict {
    let mut v = change::judged(criterion, &s.upstream, s.a, &s.url(), summary, change, hint);
    v.evidence = format!("on Swarm: {}", v.evidence);
    v
}

/// Waits until the service's update reaches one of `states` (`completed`, `paused`,
/// `rollback_completed`, ...), at most `deadline`; returns the state and message seen last.
async fn update_settles(
    stack: &SwarmStack,
    service: &str,
    states: &[&str],
    deadline: Duration,
) -> Result<(Option<Duration>, String, String)> {
    let started = Instant::now();
    let (mut state, mut message) = (String::new(), String::new());
    // The update status appears a moment after the update call.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while started.elapsed() < deadline {
        if let Some((st, msg)) = stack.update_status(service).await? {
            state = st;
            message = msg;
            if states.contains(&state.as_str()) {
                return Ok((Some(started.elapsed()), state, message));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok((None, state, message))
}

/// `availability.rolling_update`: Swarm's own rolling update (a forced update: every task
/// replaced, as a new version would be), under load.
async fn rolling_update(stack: &SwarmStack, s: &Setup<'_>) -> Result<(Verdict, Option<LoadRun>)> {
    let up = &s.upstream;
    let old: Vec<String> = stack.running_tasks(up).await?.into_iter().map(|t| t.task).collect();
    let load = s.start().await?;
    let at = load.at().as_secs_f64();
    stack
        .update(up, |spec| {
            if let Some(t) = spec.task_template.as_mut() {
                t.force_update = Some(t.force_update.unwrap_or(0) + 1);
            }
        })
        .await?;
    let deadline = stack.boot_timeout();
    let (took, state, message) =
        update_settles(stack, up, &["completed", "paused", "rollback_completed"], deadline).await?;
    let tasks = stack.wait_service(up, stack.boot_timeout()).await;
    let samples = load.finish(TAIL).await?;
    let summary = Summary::of(&samples);
    let now: Vec<String> = match &tasks {
        Ok(t) => t.iter().map(|t| t.task.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let replaced = old.iter().all(|o| !now.contains(o));
    let silent: Vec<String> = match &tasks {
        Ok(t) => t.iter().filter(|t| !summary.replicas.contains_key(&t.hostname)).map(|t| t.hostname.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let story = format!(
        "`docker service update --force` of {} task(s) (update_config: {}); update {} after {}",
        old.len(),
        update_config_text(stack, up).await,
        if state.is_empty() { "state unknown".to_owned() } else { format!("`{state}`") },
        took.map_or_else(|| format!("more than {}", secs(deadline)), secs),
    );
    let change = match (took, state.as_str(), replaced, &tasks) {
        (Some(_), "completed", true, Ok(_)) if !silent.is_empty() => {
            Err(format!("{story}; new tasks never answered through the gateway: {}", silent.join(", ")))
        }
        (Some(_), "completed", true, Ok(_)) => Ok(story),
        (_, _, _, Err(seen)) => Err(format!("{story}; the service did not come back whole: {seen}")),
        (_, _, false, _) => Err(format!("{story}; old tasks still run")),
        _ => Err(format!("{story}: {message}")),
    };
    let marks = vec![(at, "service update".to_owned())];
    let mut marks = marks;
    marks.extend(took.map(|t| (at + t.as_secs_f64(), format!("update {state}"))));
    let v = judged(
        Criterion::AvailabilityRollingUpdate,
        s,
        &summary,
        change,
        &format!(
            "give `{up}` `deploy.update_config: {{order: start-first, parallelism: 1}}` and a healthcheck, so a new task is healthy before an old one stops, and at least 2 replicas"
        ),
    );
    Ok((v, Some(run(Criterion::AvailabilityRollingUpdate, up, &summary, marks))))
}

async fn update_config_text(stack: &SwarmStack, service: &str) -> String {
    match stack.spec(service).await {
        Ok(spec) => spec.update_config.map_or_else(
            || "Swarm's defaults".to_owned(),
            |u| {
                format!(
                    "order {}, parallelism {}, failure action {}",
                    u.order.map_or("stop-first".to_owned(), |o| o.to_string()),
                    u.parallelism.unwrap_or(1),
                    u.failure_action.map_or("pause".to_owned(), |f| f.to_string())
                )
            },
        ),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// `availability.replica_loss`: SIGKILL of PID 1 of one task, under load. Swarm's restart
/// policy starts a new task; it must be ready within the recovery budget.
async fn replica_loss(stack: &SwarmStack, s: &Setup<'_>) -> Result<(Verdict, Option<LoadRun>)> {
    let up = &s.upstream;
    let tasks = stack.running_tasks(up).await?;
    let Some(victim) = tasks.first().cloned() else {
        return Ok((
            Verdict::not_judged(Criterion::AvailabilityReplicaLoss, up, format!("`{up}` has no running task")),
            None,
        ));
    };
    let c = stack
        .docker()
        .inspect_container(&victim.container, None)
        .await
        .map_err(|e| crate::Error::engine("inspect", up.as_str(), e))?;
    let pid = c.state.and_then(|s| s.pid).unwrap_or(0);
    let load = s.start().await?;
    let at = load.at().as_secs_f64();
    crate::judge::lifecycle::crash(up, pid, "swarm change")?;
    let started = Instant::now();
    let back = stack.wait_service(up, s.recovery + Duration::from_secs(10)).await;
    let took = started.elapsed();
    let samples = load.finish(TAIL).await?;
    let summary = Summary::of(&samples);
    let story = format!("SIGKILL to PID 1 of task {} at {at:.1}s of the load", victim.hostname);
    let change = match &back {
        Ok(now) if took <= s.recovery && !now.iter().any(|t| t.task == victim.task) => Ok(format!(
            "{story}; Swarm replaced it, whole and ready {} later (budget {})",
            secs(took),
            secs(s.recovery)
        )),
        Ok(_) => Err(format!("{story}; whole again only {} later (budget {})", secs(took), secs(s.recovery))),
        Err(seen) => Err(format!("{story}; not whole within {}: {seen}", secs(s.recovery + Duration::from_secs(10)))),
    };
    let marks = vec![(at, format!("SIGKILL {}", victim.hostname)), (at + took.as_secs_f64(), "whole again".into())];
    let v = judged(
        Criterion::AvailabilityReplicaLoss,
        s,
        &summary,
        change,
        &format!(
            "run at least 2 replicas of `{up}`, and have the gateway retry idempotent requests on another one and re-resolve the name (nginx: `resolver 127.0.0.11 valid=1s`)"
        ),
    );
    Ok((v, Some(run(Criterion::AvailabilityReplicaLoss, up, &summary, marks))))
}

/// `scale.out`: replicas to `scale_to` and back to the deployed count, under load.
async fn scale_out(stack: &SwarmStack, s: &Setup<'_>) -> Result<(Verdict, Option<LoadRun>)> {
    let up = &s.upstream;
    let n = stack.replicas.get(up).copied().unwrap_or(1);
    let to = u64::from(s.a.scale_to).max(n + 1);
    let load = s.start().await?;
    let at = load.at().as_secs_f64();
    let set = |count: u64| {
        move |spec: &mut bollard::models::ServiceSpec| {
            if let Some(r) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
                r.replicas = Some(count as i64);
            }
        }
    };
    let had: Vec<String> = stack.running_tasks(up).await?.into_iter().map(|t| t.hostname).collect();
    stack.update(up, set(to)).await?;
    let started = Instant::now();
    let mut outcome = Ok(String::new());
    let mut ready_after = None;
    let budget = stack.boot_timeout();
    let mut fresh: Vec<String> = Vec::new();
    loop {
        let tasks = stack.running_tasks(up).await?;
        if tasks.len() as u64 >= to {
            ready_after = Some(started.elapsed());
            fresh = tasks.into_iter().map(|t| t.hostname).filter(|h| !had.contains(h)).collect();
            break;
        }
        if started.elapsed() > budget {
            outcome = Err(format!("only {} of {to} task(s) ran after {}", tasks.len(), secs(budget)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_at = load.at().as_secs_f64();
    stack.update(up, set(n)).await?;
    let whole = stack.wait_service(up, budget).await;
    let samples = load.finish(TAIL).await?;
    let summary = Summary::of(&samples);
    let story = format!(
        "replicas {n} → {to} (all running {}) → {n}",
        ready_after.map_or_else(|| "never".into(), |t| format!("{} later", secs(t)))
    );
    let silent: Vec<&String> = fresh.iter().filter(|h| !summary.replicas.contains_key(*h)).collect();
    let change = match (outcome, whole) {
        (Ok(_), Ok(_)) if !silent.is_empty() => Err(format!(
            "{story}; new tasks that never answered through the gateway: {}",
            silent.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
        (Ok(_), Ok(_)) => Ok(story),
        (Err(e), _) => Err(format!("{story}; {e}")),
        (_, Err(seen)) => Err(format!("{story}; not back at {n}: {seen}")),
    };
    let marks = vec![(at, format!("scale to {to}")), (in_at, format!("scale to {n}"))];
    let v = judged(
        Criterion::ScaleOut,
        s,
        &summary,
        change,
        &format!(
            "new tasks of `{up}` must pass their healthcheck before they get traffic, and leaving ones drain: give it a healthcheck and a stop_grace_period"
        ),
    );
    Ok((v, Some(run(Criterion::ScaleOut, up, &summary, marks))))
}

/// `deploy.rollback`: a bad version of the upstream (its healthcheck never passes) rolled
/// out under load. Swarm must see the new task fail and roll the service back by itself.
async fn rollback(stack: &SwarmStack, s: &Setup<'_>) -> Result<(Verdict, Option<LoadRun>)> {
    let up = &s.upstream;
    let before = stack.spec(up).await?;
    let good_image = before
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let load = s.start().await?;
    let at = load.at().as_secs_f64();
    // The bad version: the same image with a healthcheck that can never pass (an executable
    // no image has), failing fast so the budget measures Swarm, not a long start period.
    stack
        .update(up, |spec| {
            let Some(c) = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()) else { return };
            c.health_check = Some(bollard::models::HealthConfig {
                test: Some(vec!["CMD".into(), "/harness-bad-version-never-healthy".into()]),
                interval: Some(1_000_000_000),
                timeout: Some(1_000_000_000),
                retries: Some(2),
                // 0 would mean "inherit" (the file's 60 s start period, measured: the rollback
                // then took 69 s); 1 ms is the shortest the engine takes.
                start_period: Some(1_000_000),
                start_interval: None,
            });
            let env = c.env.get_or_insert_with(Vec::new);
            env.push("HARNESS_BAD_VERSION=1".into());
        })
        .await?;
    let (took, state, message) =
        update_settles(stack, up, &["rollback_completed", "completed", "paused", "rollback_paused"], s.rollback_budget)
            .await?;
    let whole = stack.wait_service(up, stack.boot_timeout()).await;
    let samples = load.finish(TAIL).await?;
    let summary = Summary::of(&samples);
    let after = stack.spec(up).await?;
    let bad_left = after
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.env.as_ref())
        .is_some_and(|e| e.iter().any(|v| v == "HARNESS_BAD_VERSION=1"));
    let story = format!(
        "a bad version of {good_image} (healthcheck `/harness-bad-version-never-healthy`) rolled out at {at:.1}s; update `{}` after {}{}",
        if state.is_empty() { "unknown" } else { &state },
        took.map_or_else(|| format!("more than {}", secs(s.rollback_budget)), secs),
        if message.is_empty() { String::new() } else { format!(" ({message})") }
    );
    let change = match (took, state.as_str(), bad_left, &whole) {
        (Some(_), "rollback_completed", false, Ok(_)) => Ok(format!("{story}; the previous spec runs again")),
        (_, "completed", _, _) => {
            Err(format!("{story}: Swarm took the bad version as good (its tasks never had to pass a healthcheck)"))
        }
        (_, _, true, _) => Err(format!("{story}; the bad version is still the service's spec")),
        (_, _, _, Err(seen)) => Err(format!("{story}; the service did not come back whole: {seen}")),
        _ => Err(story),
    };
    if bad_left {
        // Put the good version back for whatever follows, and say so in the evidence.
        stack.update(up, |spec| *spec = before.clone()).await.ok();
        let _ = stack.wait_service(up, stack.boot_timeout()).await;
    }
    let mut marks = vec![(at, "bad version".to_owned())];
    marks.extend(took.map(|t| (at + t.as_secs_f64(), format!("update {state}"))));
    let mut v = judged(
        Criterion::DeployRollback,
        s,
        &summary,
        change,
        &format!(
            "give `{up}` `deploy.update_config: {{failure_action: rollback, order: start-first, monitor: 5s}}` and a healthcheck, so Swarm sees a bad version fail and rolls back by itself"
        ),
    );
    v.budget = format!("rolled back within {}; {}", secs(s.rollback_budget), v.budget);
    Ok((v, Some(run(Criterion::DeployRollback, up, &summary, marks))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_a_reason_that_names_the_way_to_judge_it() {
        for c in Criterion::ALL {
            let r = not_here(*c);
            assert!(r.starts_with("not judged on --engine swarm: "), "{r}");
            assert!(r.contains("without --engine"), "{r}");
        }
    }
}
