//! Availability under change: the stack keeps answering while the harness changes it under
//! the `[availability]` load. One replica of the upstream is SIGKILLed, the upstream is
//! rolled one replica at a time, scaled out and back in, and each of its dependencies is
//! restarted. Each check loads the gateway's published port (127.0.0.1 only) from two
//! seconds before the change until a few seconds after it, and judges what the requests
//! saw: the share answered, the longest error burst, which replica answered when.
//!
//! Compose has no rolling update, so the harness performs one the way an operator would:
//! start a new replica (`up --scale N+1 --no-recreate`), wait until it is really ready,
//! then stop and remove one old replica, and repeat. Every check leaves the upstream at the
//! replica count the compose file asks for, so the steps after it find the stack whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::query_parameters::{RemoveContainerOptionsBuilder, StopContainerOptionsBuilder};

use crate::boot::stack::Replica;
use crate::errors::{Error, Result};
use crate::judge::Context;
use crate::judge::criteria::Criterion;
use crate::judge::lifecycle::inspect;
use crate::judge::verdict::{Outcome, Verdict};
use crate::load::{LoadRun, Sample, Summary};
use crate::policy::Availability;
use crate::units::secs;

/// Load before the change starts, so the evidence shows the stack answering first.
pub(crate) const LEAD: Duration = Duration::from_secs(2);
/// Load after the change is done, so a late failure (a gateway still sending to a gone
/// replica) is seen.
pub(crate) const TAIL: Duration = Duration::from_secs(3);
/// How long a rolling update waits between a new replica being ready and an old one being
/// stopped (an orchestrator's update delay, Swarm's `update_config.delay`): a gateway that
/// re-resolves the name every second must have the new address in its list before an old
/// one disappears, or a retry has only gone replicas to try. Measured: without it, 1 run
/// in 6 lost requests under load (504s after connect timeouts to two gone replicas).
const SETTLE: Duration = Duration::from_secs(2);
/// No load runs longer than this, whatever the change does: the loop is bounded by itself.
const MAX_LOAD: Duration = Duration::from_secs(180);

/// The load running in the background while a change is made (on either engine).
pub(crate) struct Load {
    t0: Instant,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<Vec<Sample>>>,
}

impl Load {
    /// Time since the load started: the clock the samples use.
    pub(crate) fn at(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Lets the load run `tail` longer, stops it and returns every request.
    pub(crate) async fn finish(mut self, tail: Duration) -> Result<Vec<Sample>> {
        tokio::time::sleep(tail).await;
        self.stop.store(true, Ordering::Relaxed);
        match (&mut self.task).await {
            Ok(samples) => samples,
            Err(e) => Err(Error::Provision {
                detail: format!("the load generator stopped: {e}"),
                hint: "this is a harness bug: run again with RUST_BACKTRACE=1 and report it".into(),
            }),
        }
    }
}

impl Drop for Load {
    /// A check that fails half-way (an engine error) still stops its load at once.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What every check here needs: the load settings, the upstream, and where to send load.
struct Setup<'a> {
    a: &'a Availability,
    gateway: String,
    upstream: String,
    /// The gateway's published address. A restart of the gateway gives its ephemeral host
    /// port a new number, so [`Setup::serving`] updates it.
    base: std::sync::Mutex<std::net::SocketAddr>,
    /// The way in: the published port, or a forwarder when the gateway publishes none (its
    /// address does not change when the gateway restarts: it resolves the gateway's name per
    /// connection).
    way: crate::judge::way_in::WayIn,
}

/// The setup, or the reason none of these checks can be judged.
async fn setup<'a>(cx: &Context<'a>) -> std::result::Result<Option<Setup<'a>>, String> {
    let (Some(a), Some(gw)) = (&cx.policy.availability, &cx.policy.gateway) else { return Ok(None) };
    let Some(upstream) = a.upstream.clone() else {
        return Err(format!(
            "no upstream for {}: name one with [availability] upstream, or add a [[routes]] entry for the path",
            a.path
        ));
    };
    let way = crate::judge::way_in::way_in(cx, &gw.service, gw.port).await?;
    let base = way.base;
    if let Err(e) = a.target(base) {
        way.close().await;
        return Err(e.to_string());
    }
    Ok(Some(Setup { a, gateway: gw.service.clone(), upstream, base: std::sync::Mutex::new(base), way }))
}

impl Setup<'_> {
    fn base(&self) -> std::net::SocketAddr {
        *self.base.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the stack answers through the gateway now.
    async fn answers(&self) -> Result<bool> {
        answers(self.base(), self.a).await
    }

    /// Each change starts from a stack that answers: a gateway that kept a gone replica's
    /// address after the previous change (a finding there) would otherwise fail this one
    /// too. `Ok(Some(note))` when the harness had to restart the gateway first; `Err` with
    /// the reason when the stack does not answer even then.
    async fn serving(&self, cx: &Context<'_>) -> Result<std::result::Result<Option<String>, String>> {
        if self.answers().await? {
            return Ok(Ok(None));
        }
        cx.stack.restart_service(&self.gateway).await?;
        if let Some(gw) = cx.policy.gateway.as_ref().filter(|_| self.way.via.is_none()) {
            let base = cx.stack.host_port(&gw.service, gw.port).await?;
            *self.base.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = base;
        }
        if self.answers().await? {
            return Ok(Ok(Some(format!(
                "`{}` did not answer after the previous change, so the harness restarted it before this one",
                self.gateway
            ))));
        }
        Ok(Err(format!(
            "the stack did not answer {} through `{}` before the change, even after a restart of the gateway",
            self.a.path, self.gateway
        )))
    }

    /// Starts the load and lets it run [`LEAD`] before returning.
    async fn start(&self) -> Result<Load> {
        start_load(self.base(), self.a).await
    }
}

/// The subject of a load criterion judged before anything names it: the gateway for the
/// steady load, else the upstream the checks change (the subject they have when judged),
/// the gateway when the policy names no upstream.
pub(crate) fn subject(policy: &crate::policy::Policy, c: Criterion) -> String {
    let gateway = policy.gateway.as_ref().map_or("stack", |g| g.service.as_str());
    match policy.availability.as_ref().and_then(|a| a.upstream.as_deref()) {
        Some(upstream) if c != Criterion::AvailabilitySteady => upstream.to_owned(),
        _ => gateway.to_owned(),
    }
}

/// `availability.steady` and `gateway.balance` not judged, both for `why`: neither can be
/// judged without the steady load (on either engine).
pub(crate) fn steady_unjudged(policy: &crate::policy::Policy, why: &str) -> Vec<Verdict> {
    [Criterion::AvailabilitySteady, Criterion::GatewayBalance]
        .map(|c| Verdict::not_judged(c, &subject(policy, c), why.to_owned()))
        .to_vec()
}

/// Whether the stack answers the load's path at `base` now (3 requests, one must succeed).
pub(crate) async fn answers(base: std::net::SocketAddr, a: &Availability) -> Result<bool> {
    let target = a.target(base)?;
    let plan = crate::load::Plan {
        concurrency: 1,
        rate: None,
        open: false,
        max_requests: 3,
        max_duration: Duration::from_secs(6),
        timeout: Duration::from_secs(2),
        replica_header: None,
        stop: None,
    };
    Ok(crate::load::run(&target, &plan).await?.iter().any(|x| x.ok))
}

/// Starts the policy's load on `base` in the background, bounded by [`MAX_LOAD`] and a stop
/// flag, and lets it run [`LEAD`] before returning.
pub(crate) async fn start_load(base: std::net::SocketAddr, a: &Availability) -> Result<Load> {
    let target = a.target(base)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Paced, not open: these checks judge which requests failed and when; an open load would
    // hold requests due during a stall and send them after it, moving failures out of it.
    let plan = crate::load::Plan { open: false, ..crate::load::Plan::steady(a.rate, MAX_LOAD, a.p99) }
        .stopped_by(stop.clone());
    let t0 = Instant::now();
    let task = tokio::spawn(async move { crate::load::run(&target, &plan).await });
    tokio::time::sleep(LEAD).await;
    Ok(Load { t0, stop, task })
}

/// Every check of this step, for the criteria selected; nothing when the policy has no
/// `[availability]`.
pub async fn all(cx: &Context<'_>, sel: &crate::judge::criteria::Selection) -> Result<(Vec<Verdict>, Vec<LoadRun>)> {
    const MINE: [Criterion; 4] = [
        Criterion::AvailabilityReplicaLoss,
        Criterion::AvailabilityRollingUpdate,
        Criterion::ScaleOut,
        Criterion::ResilienceDependencyRestart,
    ];
    let s = match setup(cx).await {
        Ok(Some(s)) => s,
        Ok(None) => return Ok((Vec::new(), Vec::new())),
        Err(reason) => {
            let verdicts = MINE
                .iter()
                .filter(|c| sel.includes(**c))
                .map(|c| Verdict::not_judged(*c, &subject(cx.policy, *c), reason.clone()))
                .collect();
            return Ok((verdicts, Vec::new()));
        }
    };
    let mut out = Vec::new();
    let mut loads = Vec::new();
    for c in MINE.into_iter().filter(|c| sel.includes(*c)) {
        if c == Criterion::ResilienceDependencyRestart {
            out.extend(dependency_restarts(cx, &s, &mut loads).await?);
            continue;
        }
        let note = match s.serving(cx).await? {
            Ok(note) => note,
            Err(reason) => {
                out.push(Verdict::not_judged(c, &s.upstream, reason));
                continue;
            }
        };
        let up = &s.upstream;
        let mut v = match c {
            Criterion::AvailabilityReplicaLoss => {
                crate::progress::note(format!("change: SIGKILL of one `{up}` replica under load"));
                replica_loss(cx, &s, &mut loads).await?
            }
            Criterion::AvailabilityRollingUpdate => {
                crate::progress::note(format!("change: rolling update of `{up}` under load"));
                rolling_update(cx, &s, &mut loads).await?
            }
            _ => {
                crate::progress::note(format!("change: `{up}` scaled to {} and back under load", s.a.scale_to));
                scale_out(cx, &s, &mut loads).await?
            }
        };
        if let Some(note) = note {
            v.evidence = format!("{note}; {}", v.evidence);
        }
        out.push(v);
    }
    s.way.close().await;
    Ok((out, loads))
}

/// What the load saw, judged on the share answered and the longest burst, plus the
/// change's own condition (`change`: `Err` names what went wrong with it).
pub(crate) fn judged(
    criterion: Criterion,
    subject: &str,
    a: &Availability,
    url: &str,
    s: &Summary,
    change: std::result::Result<String, String>,
    hint: &str,
) -> Verdict {
    let enough = s.requests > 0 && s.success_percent() >= a.success;
    let short = s.burst_s() <= a.burst.as_secs_f64();
    let (change_ok, story) = match &change {
        Ok(story) => (true, story.clone()),
        Err(story) => (false, story.clone()),
    };
    let passed = enough && short && change_ok;
    Verdict {
        criterion,
        subject: subject.to_owned(),
        measured: format!("{:.2}% ok, longest error burst {:.3}s", s.success_percent(), s.burst_s()),
        budget: format!(
            "at least {}% ok and no error burst over {}, at {} req/s{}",
            a.success,
            secs(a.burst),
            a.rate,
            if change_ok { "" } else { "; and the change must complete" }
        ),
        outcome: Outcome::judged(passed),
        evidence: format!("{story}; GET {url}: {}", s.describe()),
        // What went wrong with the change itself ends the story in the evidence.
        hint: (!passed).then(|| hint.to_owned()),
    }
}

/// `availability.replica_loss`: SIGKILL of PID 1 of the upstream's first replica (a crash,
/// from the host, so the engine's restart policy applies), under load.
async fn replica_loss(cx: &Context<'_>, s: &Setup<'_>, loads: &mut Vec<LoadRun>) -> Result<Verdict> {
    let up = &s.upstream;
    let Some(victim) = cx.stack.running_replicas(up).await?.into_iter().next() else {
        return Ok(Verdict::not_judged(
            Criterion::AvailabilityReplicaLoss,
            up,
            format!("`{up}` has no running replica"),
        ));
    };
    let budget = cx.policy.settings(up).recovery;
    let before = inspect(cx, up, &victim.id).await?;
    let restarts_before = before["RestartCount"].as_i64().unwrap_or(0);
    let policy = before["HostConfig"]["RestartPolicy"]["Name"].as_str().filter(|p| !p.is_empty()).unwrap_or("no");
    let never_restarts = policy == "no";
    let pid = before["State"]["Pid"].as_i64().unwrap_or(0);
    let load = s.start().await?;
    let killed_at = load.at();
    if let Err(e) = crate::judge::lifecycle::crash(up, pid, "change") {
        load.finish(Duration::ZERO).await?;
        return Err(e);
    }
    // Back when the same container runs again after a restart (the engine's restart policy)
    // and passes its own healthcheck.
    let deadline = budget + Duration::from_secs(10);
    let started = Instant::now();
    let mut back = None;
    let mut state = String::new();
    while started.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let c = inspect(cx, up, &victim.id).await?;
        let running = c["State"]["Running"].as_bool().unwrap_or(false);
        let restarts = c["RestartCount"].as_i64().unwrap_or(0);
        state = format!("running {running}, restarts {restarts}");
        if running && restarts > restarts_before {
            let left = deadline.saturating_sub(started.elapsed());
            let w = crate::boot::readiness::Wait::new(crate::boot::readiness::WaitFor::Ready, left);
            if crate::boot::readiness::wait(cx.docker(), &victim.id, &w, |_| {}).await.is_ok() {
                back = Some(started.elapsed());
            }
            break;
        }
        if !running && never_restarts && started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let samples = load.finish(TAIL).await?;
    let by_harness = back.is_none();
    if by_harness {
        // Started by hand so the steps after this one find the stack whole.
        cx.docker().start_container(&victim.id, None).await.map_err(|e| Error::engine("start", up, e))?;
        cx.stack.wait_container(up, &victim.id).await?;
    }
    let story = format!(
        "SIGKILL to PID 1 of `{up}` replica {} (restart policy `{policy}`) at {:.1}s of the load; {}",
        victim.hostname,
        killed_at.as_secs_f64(),
        match back {
            Some(t) => format!("restarted and ready {} later (budget {})", secs(t), secs(budget)),
            None => format!(
                "not back within {} (last state: {state}); the harness started it again for the checks that follow",
                secs(deadline)
            ),
        }
    );
    let change = match back {
        Some(t) if t <= budget => Ok(story),
        _ => Err(story),
    };
    let summary = Summary::of(&samples);
    let mut marks = vec![(killed_at.as_secs_f64(), format!("SIGKILL {}", victim.hostname))];
    marks.extend(back.map(|t| ((killed_at + t).as_secs_f64(), format!("{} ready again", victim.hostname))));
    loads.push(run(Criterion::AvailabilityReplicaLoss, up, &summary, marks));
    Ok(judged(
        Criterion::AvailabilityReplicaLoss,
        up,
        s.a,
        &load_url(s),
        &summary,
        change,
        &format!(
            "with one replica of `{up}` gone, the rest must carry the load: run at least 2 replicas, and have the gateway retry idempotent requests on another one (nginx: `proxy_next_upstream error timeout http_502 http_503`) and re-resolve the name (`resolver 127.0.0.11 valid=1s`)"
        ),
    ))
}

/// The report's record of one load run.
pub(crate) fn run(criterion: Criterion, subject: &str, summary: &Summary, marks: Vec<(f64, String)>) -> LoadRun {
    LoadRun { criterion: criterion.id().to_owned(), subject: subject.to_owned(), summary: summary.clone(), marks }
}

fn load_url(s: &Setup<'_>) -> String {
    s.way.describe(&format!("http://{}{}", s.base(), s.a.path))
}

/// Stops a container within its grace period and removes it with its anonymous volumes.
async fn retire(cx: &Context<'_>, service: &str, id: &str) -> Result<()> {
    let c = inspect(cx, service, id).await?;
    let grace = c["Config"]["StopTimeout"].as_i64().unwrap_or(10);
    cx.docker()
        .stop_container(id, Some(StopContainerOptionsBuilder::default().t(grace.try_into().unwrap_or(10)).build()))
        .await
        .map_err(|e| Error::engine("stop", service, e))?;
    cx.docker()
        .remove_container(id, Some(RemoveContainerOptionsBuilder::default().v(true).force(true).build()))
        .await
        .map_err(|e| Error::engine("remove", service, e))
}

/// Scales `service` to `n` and waits for every replica it did not have before; returns the
/// new ones with the time each took from the scale command to ready.
async fn add_replicas(cx: &Context<'_>, service: &str, n: u32, had: &[String]) -> Result<Vec<(Replica, Duration)>> {
    let t = Instant::now();
    cx.stack.scale(service, n).await?;
    let fresh: Vec<Replica> =
        cx.stack.running_replicas(service).await?.into_iter().filter(|r| !had.contains(&r.id)).collect();
    let mut out = Vec::new();
    for r in fresh {
        cx.stack.wait_container(service, &r.id).await?;
        out.push((r, t.elapsed()));
    }
    Ok(out)
}

/// `availability.rolling_update`: each old replica replaced by a new one, one at a time,
/// under load: a new replica started and ready before an old one is stopped.
async fn rolling_update(cx: &Context<'_>, s: &Setup<'_>, loads: &mut Vec<LoadRun>) -> Result<Verdict> {
    let up = &s.upstream;
    let old = cx.stack.running_replicas(up).await?;
    if old.is_empty() {
        return Ok(Verdict::not_judged(
            Criterion::AvailabilityRollingUpdate,
            up,
            format!("`{up}` has no running replica"),
        ));
    }
    let n = old.len() as u32;
    let load = s.start().await?;
    let mut steps = Vec::new();
    let mut known: Vec<String> = old.iter().map(|r| r.id.clone()).collect();
    let mut fresh = Vec::new();
    let mut marks = Vec::new();
    let mut failure = None;
    for o in &old {
        let at = load.at();
        let added = match add_replicas(cx, up, n + 1, &known).await {
            Ok(added) => added,
            Err(e) => {
                failure = Some(format!("starting a replica to replace {} failed: {e}", o.hostname));
                break;
            }
        };
        tokio::time::sleep(SETTLE).await;
        let stopping = load.at();
        marks.push((at.as_secs_f64(), "new replica".to_owned()));
        marks.push((stopping.as_secs_f64(), format!("stop {}", o.hostname)));
        retire(cx, up, &o.id).await?;
        for (r, took) in &added {
            known.push(r.id.clone());
            fresh.push(r.hostname.clone());
            steps.push(format!(
                "{} replaced by {} (ready {} after start, at {:.1}s; old one stopped at {:.1}s)",
                o.hostname,
                r.hostname,
                secs(*took),
                at.as_secs_f64(),
                stopping.as_secs_f64()
            ));
        }
    }
    let samples = load.finish(TAIL).await?;
    // Whatever happened, the upstream ends at the compose file's count.
    cx.stack.scale(up, n).await?;
    let now = cx.stack.running_replicas(up).await?;
    let left: Vec<&str> =
        old.iter().filter(|o| now.iter().any(|r| r.id == o.id)).map(|o| o.hostname.as_str()).collect();
    let summary = Summary::of(&samples);
    loads.push(run(Criterion::AvailabilityRollingUpdate, up, &summary, marks));
    let silent: Vec<&str> = fresh.iter().filter(|h| !summary.replicas.contains_key(*h)).map(String::as_str).collect();
    let tagged = summary.replicas.values().sum::<u64>() > 0;
    let story = format!("rolled {} replica(s) of `{up}`: {}", old.len(), steps.join("; "));
    let change = match (&failure, left.is_empty(), tagged && !silent.is_empty()) {
        (Some(f), _, _) => Err(format!("{story}; {f}")),
        (None, false, _) => Err(format!("{story}; old replicas still running: {}", left.join(", "))),
        (None, true, true) => {
            Err(format!("{story}; new replicas never answered through the gateway: {}", silent.join(", ")))
        }
        (None, true, false) => Ok(story),
    };
    Ok(judged(
        Criterion::AvailabilityRollingUpdate,
        up,
        s.a,
        &load_url(s),
        &summary,
        change,
        "a replica being stopped must finish its requests and the gateway must stop sending to it: handle SIGTERM by draining, and have the gateway re-resolve the name and retry idempotent requests on another replica",
    ))
}

/// `scale.out`: the upstream scaled to `scale_to` and back under load. The new replicas must
/// be ready within the service's startup budget and answer through the gateway before the
/// scale-in; while they leave, no request may fail.
async fn scale_out(cx: &Context<'_>, s: &Setup<'_>, loads: &mut Vec<LoadRun>) -> Result<Verdict> {
    let up = &s.upstream;
    let old = cx.stack.running_replicas(up).await?;
    let n = old.len() as u32;
    if s.a.scale_to <= n {
        return Ok(Verdict::not_judged(
            Criterion::ScaleOut,
            up,
            format!("[availability] scale_to = {} is not more than the {n} replica(s) running", s.a.scale_to),
        ));
    }
    let budget = cx.policy.settings(up).startup;
    let had: Vec<String> = old.iter().map(|r| r.id.clone()).collect();
    let load = s.start().await?;
    let out_at = load.at();
    let added = add_replicas(cx, up, s.a.scale_to, &had).await;
    // Traffic for the new replicas before they leave again.
    tokio::time::sleep(TAIL).await;
    let in_at = load.at();
    let scaled_in = cx.stack.scale(up, n).await;
    let in_done = load.at();
    let samples = load.finish(TAIL).await?;
    let summary = Summary::of(&samples);
    let marks = vec![
        (out_at.as_secs_f64(), format!("scale to {}", s.a.scale_to)),
        (in_at.as_secs_f64(), format!("scale to {n}")),
    ];
    loads.push(run(Criterion::ScaleOut, up, &summary, marks));
    let added = match added {
        Ok(added) => added,
        Err(e) => {
            cx.stack.scale(up, n).await?;
            return Ok(judged(
                Criterion::ScaleOut,
                up,
                s.a,
                &load_url(s),
                &summary,
                Err(format!("scaling `{up}` to {} failed: {e}", s.a.scale_to)),
                "read the new replicas' logs (docker compose logs)",
            ));
        }
    };
    scaled_in?;
    let slowest = added.iter().map(|(_, t)| *t).max().unwrap_or_default();
    // Joined: answered between its being ready and the scale-in.
    let joined =
        |h: &str| samples.iter().any(|x| x.at >= out_at && x.at < in_at && x.replica.as_deref() == Some(h) && x.ok);
    let silent: Vec<&str> = added.iter().map(|(r, _)| r.hostname.as_str()).filter(|h| !joined(h)).collect();
    let tagged = summary.replicas.values().sum::<u64>() > 0;
    let leaving: Vec<&Sample> = samples.iter().filter(|x| x.at >= in_at && !x.ok).collect();
    let story = format!(
        "scaled `{up}` from {n} to {} at {:.1}s: {} new replica(s) ready after at most {} (budget {}); back to {n} at {:.1}s-{:.1}s, {} failed request(s) from then on",
        s.a.scale_to,
        out_at.as_secs_f64(),
        added.len(),
        secs(slowest),
        secs(budget),
        in_at.as_secs_f64(),
        in_done.as_secs_f64(),
        leaving.len()
    );
    let change = if added.len() as u32 != s.a.scale_to - n {
        Err(format!("{story}; expected {} new replica(s)", s.a.scale_to - n))
    } else if slowest > budget {
        Err(format!("{story}; the new replicas were ready too late"))
    } else if !tagged {
        Err(format!(
            "{story}; no answer carried an `{}` header, so whether the new replicas joined cannot be told",
            crate::load::REPLICA_HEADER
        ))
    } else if !silent.is_empty() {
        Err(format!("{story}; new replicas that never answered through the gateway: {}", silent.join(", ")))
    } else if !leaving.is_empty() {
        Err(format!("{story}; requests failed while the extra replicas left"))
    } else {
        Ok(story)
    };
    if !tagged {
        return Ok(Verdict::not_judged(Criterion::ScaleOut, up, change.err().unwrap_or_default()));
    }
    Ok(judged(
        Criterion::ScaleOut,
        up,
        s.a,
        &load_url(s),
        &summary,
        change,
        "new replicas must get traffic and leaving ones must not: the gateway has to re-resolve the upstream's name (nginx: `resolver 127.0.0.11 valid=1s` and a variable in `proxy_pass`) and retry idempotent requests on another replica",
    ))
}

/// `resilience.dependency_restart`, one verdict per dependency of the upstream.
async fn dependency_restarts(cx: &Context<'_>, s: &Setup<'_>, loads: &mut Vec<LoadRun>) -> Result<Vec<Verdict>> {
    let up = &s.upstream;
    let deps: Vec<String> = match &s.a.dependencies {
        Some(d) => d.clone(),
        None => cx.stack.model.services.get(up).map(|svc| svc.depends_on.keys().cloned().collect()).unwrap_or_default(),
    };
    if deps.is_empty() {
        return Ok(vec![Verdict::not_judged(
            Criterion::ResilienceDependencyRestart,
            up,
            format!("`{up}` has no depends_on and the policy names no [availability] dependencies"),
        )]);
    }
    let mut out = Vec::new();
    for dep in deps {
        crate::progress::note(format!("change: `{dep}` restarted under load; `{up}` must reconnect"));
        let subject = format!("{up} after {dep}");
        match s.serving(cx).await? {
            Err(reason) => out.push(Verdict::not_judged(Criterion::ResilienceDependencyRestart, &subject, reason)),
            Ok(note) => {
                let mut v = dependency_restart(cx, s, &dep, loads).await?;
                if let Some(note) = note {
                    v.evidence = format!("{note}; {}", v.evidence);
                }
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Each replica's identity across a restart: id, start time and restart count.
async fn lives(cx: &Context<'_>, service: &str) -> Result<Vec<(String, String, i64)>> {
    let mut out = Vec::new();
    for r in cx.stack.replicas(service).await? {
        let c = inspect(cx, service, &r.id).await?;
        out.push((
            r.hostname,
            c["State"]["StartedAt"].as_str().unwrap_or_default().to_owned(),
            c["RestartCount"].as_i64().unwrap_or(0),
        ));
    }
    Ok(out)
}

async fn dependency_restart(cx: &Context<'_>, s: &Setup<'_>, dep: &str, loads: &mut Vec<LoadRun>) -> Result<Verdict> {
    let up = &s.upstream;
    let subject = format!("{up} after {dep}");
    let before = lives(cx, up).await?;
    let load = s.start().await?;
    let restart_at = load.at();
    let restarted = cx.stack.restart_service(dep).await;
    let back_at = load.at();
    let samples = load.finish(s.a.reconnect + TAIL).await?;
    restarted?;
    let after = lives(cx, up).await?;
    let summary = Summary::of(&samples);
    let marks =
        vec![(restart_at.as_secs_f64(), format!("restart {dep}")), (back_at.as_secs_f64(), format!("{dep} ready"))];
    loads.push(run(Criterion::ResilienceDependencyRestart, &subject, &summary, marks));
    let grace = back_at + s.a.reconnect;
    let late: Vec<&Sample> = samples.iter().filter(|x| x.at > grace && !x.ok).collect();
    let last_error = samples.iter().filter(|x| !x.ok).map(|x| x.at + x.latency).max();
    let changed: Vec<String> = before
        .iter()
        .filter(|b| !after.contains(b))
        .map(|(h, _, n)| match after.iter().find(|a| a.0 == *h) {
            Some((_, _, m)) if m > n => format!("{h} restarted {} time(s)", m - n),
            Some(_) => format!("{h} was started again"),
            None => format!("{h} is gone"),
        })
        .collect();
    let passed = late.is_empty() && changed.is_empty() && !samples.is_empty();
    let again = match last_error {
        Some(t) if t > back_at => format!("answering again {} after `{dep}` was back", secs(t - back_at)),
        Some(_) => format!("no error after `{dep}` was back"),
        None => "no error at all".to_owned(),
    };
    Ok(Verdict {
        criterion: Criterion::ResilienceDependencyRestart,
        subject,
        measured: format!(
            "{again}; {} restart(s) of `{up}`",
            if changed.is_empty() { "no".to_owned() } else { changed.len().to_string() }
        ),
        budget: format!("answering within {} of `{dep}` being back, with no restart of `{up}`", secs(s.a.reconnect)),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "`{dep}` restarted at {:.1}s, ready again at {:.1}s ({} down); {} request(s) failed more than {} after that{}; GET {}: {}",
            restart_at.as_secs_f64(),
            back_at.as_secs_f64(),
            secs(back_at.saturating_sub(restart_at)),
            late.len(),
            secs(s.a.reconnect),
            if changed.is_empty() { String::new() } else { format!("; `{up}`: {}", changed.join(", ")) },
            load_url(s),
            summary.describe()
        ),
        hint: (!passed).then(|| {
            if changed.is_empty() {
                format!("`{up}` kept failing after `{dep}` was back: its connection pool must drop broken connections and reconnect (sqlx: test_before_acquire; redis: a reconnecting connection manager)")
            } else {
                format!("`{up}` restarted when `{dep}` did: it must survive a lost connection and reconnect instead of exiting")
            }
        }),
    })
}
