//! Destructive lifecycle checks: graceful shutdown and recovery after a crash. Each one
//! stops or kills a service, so callers run them on a stack of their own.

use std::time::{Duration, Instant};

use bollard::query_parameters::StopContainerOptionsBuilder;

use crate::errors::{Error, Result};
use crate::judge::criteria::Criterion;
use crate::judge::verdict::{Outcome, Verdict};
use crate::judge::{Context, data};
use crate::units::secs;

/// Docker's stop timeout when neither compose nor the image sets one.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Extra time Docker waits before its own SIGKILL, so a slow exit is measured, not cut off.
const KILL_MARGIN: Duration = Duration::from_secs(5);

pub(crate) async fn inspect(cx: &Context<'_>, service: &str, id: &str) -> Result<serde_json::Value> {
    let c = cx.docker().inspect_container(id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
    Ok(serde_json::to_value(&c).unwrap_or_default())
}

/// `shutdown.graceful`: the service's stop signal (SIGTERM unless the image sets another)
/// makes it exit within its `stop_grace_period`, with exit code 0. The service is started
/// again afterwards and waited for, so later checks find it serving.
pub async fn shutdown(cx: &Context<'_>, service: &str) -> Result<Verdict> {
    let id = cx.stack.container_id(service).await?;
    let before = inspect(cx, service, &id).await?;
    let grace = cx
        .policy
        .settings(service)
        .shutdown
        .or_else(|| before["Config"]["StopTimeout"].as_u64().map(Duration::from_secs))
        .unwrap_or(DEFAULT_GRACE);
    let signal = before["Config"]["StopSignal"].as_str().unwrap_or("SIGTERM").to_owned();
    let started = Instant::now();
    let t = i32::try_from((grace + KILL_MARGIN).as_secs()).unwrap_or(i32::MAX);
    cx.docker()
        .stop_container(&id, Some(StopContainerOptionsBuilder::default().t(t).build()))
        .await
        .map_err(|e| Error::engine("stop", service, e))?;
    let took = started.elapsed();
    let after = inspect(cx, service, &id).await?;
    let code = after["State"]["ExitCode"].as_i64().unwrap_or(-1);
    let passed = code == 0 && took <= grace;
    cx.docker().start_container(&id, None).await.map_err(|e| Error::engine("start", service, e))?;
    // Ready by its own check, not Docker's next interval: the next check needs the service
    // serving.
    cx.stack.wait_ready(service).await?;
    Ok(Verdict {
        criterion: Criterion::ShutdownGraceful,
        subject: service.to_owned(),
        measured: format!("exit {code} after {}", secs(took)),
        budget: format!("exit 0 within {}", secs(grace)),
        outcome: Outcome::judged(passed),
        evidence: format!("docker stop sent {signal}; the container exited with code {code} after {}", secs(took)),
        hint: (!passed).then(|| {
            if code == 137 {
                format!("the service ignored {signal} and was killed: handle the signal and exit cleanly")
            } else {
                format!("exit with code 0 on {signal} within stop_grace_period")
            }
        }),
    })
}

/// A crash, not a stop: SIGKILL to a container's PID 1 (`pid`, as the host sees it, from
/// `State.Pid`). `docker kill` marks the container as stopped on purpose and the engine then
/// skips its restart policy, so PID 1 is killed from the host instead. `what` names the
/// checks that need it, for the error.
pub(crate) fn crash(service: &str, pid: i64, what: &str) -> Result<()> {
    let killed = pid > 0
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).is_ok();
    if killed {
        return Ok(());
    }
    Err(Error::Provision {
        detail: format!("cannot SIGKILL PID 1 of `{service}` (host pid {pid})"),
        hint: format!("{what} checks must run on the engine's host, as root"),
    })
}

/// `recovery.restart`: SIGKILL of PID 1 (a crash); the restart policy must bring the
/// service back, serving again (its own healthcheck command passes, run by the harness)
/// within the policy's recovery budget, and with its data intact: for each `[[persistence]]`
/// entry of the service, data written through the real client before the crash is read back
/// after it.
pub async fn recovery(cx: &Context<'_>, service: &str) -> Result<Verdict> {
    let budget = cx.policy.settings(service).recovery;
    let mut written = Vec::new();
    for p in cx.policy.persistence.iter().filter(|p| p.service == service) {
        written.push(data::write_sample(cx.stack, p, "crash").await?);
    }
    let id = cx.stack.container_id(service).await?;
    let before = inspect(cx, service, &id).await?;
    let restarts_before = before["RestartCount"].as_i64().unwrap_or(0);
    // The engine reports no policy as "" as well as "no".
    let policy =
        before["HostConfig"]["RestartPolicy"]["Name"].as_str().filter(|p| !p.is_empty()).unwrap_or("no").to_owned();
    let never_restarts = policy == "no";
    let pid = before["State"]["Pid"].as_i64().unwrap_or(0);
    let started = Instant::now();
    crash(service, pid, "recovery")?;
    // Poll until restarted and serving again, or the budget (plus a margin, so a late
    // recovery is measured rather than cut off) runs out. Serving is the service's own
    // healthcheck command passing, run by the harness every 250 ms: Docker would only say
    // healthy at its next interval (30 s and more on the seeds), which measures the interval,
    // not the recovery. Docker's status is kept in the evidence.
    let deadline = budget + Duration::from_secs(10);
    let mut state = String::new();
    let mut recovered = None;
    let mut restarted = None;
    while started.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let c = inspect(cx, service, &id).await?;
        let running = c["State"]["Running"].as_bool().unwrap_or(false);
        let health = c["State"]["Health"]["Status"].as_str().unwrap_or("none").to_owned();
        let restarts = c["RestartCount"].as_i64().unwrap_or(0);
        state = format!("running {running}, Docker health {health}, restarts {restarts}");
        if running && restarts > restarts_before {
            restarted = Some(started.elapsed());
            break;
        }
        // Without a restart policy the engine never starts it again: waiting out the budget
        // would only cost time (8 services x 40 s on a seed).
        if !running && never_restarts {
            break;
        }
    }
    if let Some(at) = restarted {
        let left = deadline.saturating_sub(started.elapsed());
        // What is left of the measurement window bounds this wait, not the boot timeout: a
        // late recovery is a finding, measured up to the margin.
        let w = crate::boot::readiness::Wait::new(crate::boot::readiness::WaitFor::Ready, left);
        match crate::boot::readiness::wait(cx.docker(), &id, &w, |_| {}).await {
            // Passed, or no healthcheck: running again is all there is to wait for.
            Ok(_) => recovered = Some(started.elapsed()),
            Err(g) => state.push_str(&format!(
                "; restarted after {}, its healthcheck not passing since (last probe: {}; Docker's health log: {})",
                secs(at),
                g.last_probe,
                g.health_log
            )),
        }
    }
    // Not back (no restart policy, or a crash loop): started by hand, so the steps after this
    // one find the stack whole; the verdict below still fails.
    let mut restarted_by_harness = false;
    if recovered.is_none() && !state.starts_with("running true") {
        cx.docker().start_container(&id, None).await.map_err(|e| Error::engine("start", service, e))?;
        cx.stack.wait_ready(service).await?;
        restarted_by_harness = true;
    }
    let mut data_ok = true;
    let mut data_evidence = Vec::new();
    if recovered.is_some() {
        for w in &written {
            let (what, ok) = data::read_back(cx.stack, w).await;
            data_ok &= ok;
            data_evidence.push(what);
        }
    }
    let passed = recovered.is_some_and(|t| t <= budget) && data_ok;
    let data_line = if written.is_empty() {
        String::new()
    } else if data_evidence.is_empty() {
        "; data not readable: the service did not come back".to_owned()
    } else {
        format!("; data written before the crash: {}", data_evidence.join(", "))
    };
    Ok(Verdict {
        criterion: Criterion::RecoveryRestart,
        subject: service.to_owned(),
        measured: recovered.map_or_else(
            || if restarted.is_none() && never_restarts {
                "not restarted (no restart policy)".to_owned()
            } else {
                format!("not recovered after {}", secs(deadline))
            },
            secs,
        ),
        budget: secs(budget),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "SIGKILL to PID 1 (host pid {pid}) with restart policy `{policy}`; last state: {state}{data_line}{}",
            if restarted_by_harness { "; the harness started it again for the checks that follow" } else { "" }
        ),
        hint: (!passed).then(|| {
            if !data_ok {
                "the service came back without the data it had acknowledged: flush writes (fsync, AOF) before acknowledging".to_owned()
            } else if never_restarts {
                "set `restart: unless-stopped` so the engine restarts a crashed service".to_owned()
            } else {
                "the service restarted but was not healthy in time: see its logs and healthcheck".to_owned()
            }
        }),
    })
}
