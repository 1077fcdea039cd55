//! Checks that read the running stack through the Engine API without changing it: the
//! configuration checks on `docker inspect`, image size, the real uid of every process,
//! health status and response time, and steady-state memory.

use bollard::query_parameters::{StatsOptionsBuilder, TopOptionsBuilder};
use futures_util::StreamExt;

use crate::boot::readiness;
use crate::errors::{Error, Result};
use crate::judge::Context;
use crate::judge::config;
use crate::judge::criteria::Criterion;
use crate::judge::facts::ServiceFacts;
use crate::judge::verdict::{Outcome, Verdict};
use crate::units::{megabytes, secs};

/// Every read-only runtime check on every service, in a stable order.
pub async fn all(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let mut out = Vec::new();
    for name in cx.stack.model.services.keys() {
        out.extend(service(cx, name).await?);
    }
    Ok(out)
}

/// The service's named volumes whose options bind a host path (by engine name), from one
/// volume inspect each. A volume the engine cannot describe is left as a volume.
async fn volume_host_paths(cx: &Context<'_>, facts: &ServiceFacts) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for m in facts.mounts.iter().filter(|m| m.kind == "volume") {
        if let Ok(v) = cx.docker().inspect_volume(&m.source).await {
            let opts: std::collections::BTreeMap<String, String> = v.options.into_iter().collect();
            if let Some(path) = super::facts::volume_host_path(&v.driver, &opts) {
                out.insert(m.source.clone(), path);
            }
        }
    }
    out
}

/// Every read-only runtime check on one service.
pub async fn service(cx: &Context<'_>, service: &str) -> Result<Vec<Verdict>> {
    let id = cx.stack.container_id(service).await?;
    let inspect = cx.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
    let json = serde_json::to_value(&inspect).unwrap_or_default();
    let mut facts = ServiceFacts::from_inspect(service, &json);
    facts.bind_volumes(&volume_host_paths(cx, &facts).await);
    let raw = cx.stack.model.raw_service(service);
    let files = &cx.stack.file_facts;
    let built_user = files.dockerfiles.get(service).map(|file| match &file.user {
        Some(u) => u.at.clone(),
        None => format!("{}: no USER in the built stages", crate::workspace::display_path(&file.path)),
    });
    // What the engine reports came from somewhere a person can fix: the compose file's
    // `user:`, or for a built service the Dockerfile line that set it.
    if let Some(from) = user_origin(raw, built_user.as_deref()) {
        facts.user_from = Some(format!("docker inspect ({from})"));
    }
    let stand_in = files.stand_ins.get(service);
    if let Some(why) = &stand_in {
        facts.played_by_stand_in(why, raw);
    }
    let ports_from_file = facts.take_file_ports(raw);
    let mut out = config::judge(&facts, cx.policy.settings(service));
    if ports_from_file {
        for v in out.iter_mut().filter(|v| matches!(v.criterion, Criterion::NetworkPublish | Criterion::NetworkBind)) {
            v.evidence.push_str(crate::boot::stack::PORTS_FROM_FILE);
        }
    }
    let image_id = inspect.image.as_deref().unwrap_or_default();
    let compose_user = raw["user"].as_str().is_some_and(|u| !u.is_empty());
    let mut process = user_process(cx, service, &id).await?;
    if let Some(why) = &stand_in {
        // A stand-in's size and layers, and the uid its own image picks, say nothing of the
        // image the stack names; a `user:` in compose still decides the uid.
        let reason = |what: &str| {
            format!(
                "stand-in: `{service}` is played by a stand-in ({why}); its {what} says nothing of the image the stack names"
            )
        };
        out.push(Verdict::not_judged(Criterion::ImageSize, service, reason("image size")));
        if !compose_user {
            process = Verdict::not_judged(Criterion::UserProcess, service, reason("process uid"));
        }
    } else {
        out.push(image_size(cx, service, image_id).await?);
    }
    if let Some(from) = user_origin(raw, built_user.as_deref()).filter(|_| process.failed()) {
        process.evidence.push_str(&format!("; the configured user comes from {from}"));
    }
    out.push(process);
    out.extend(health(cx, service, &id, &json, &facts).await);
    out.push(memory(cx, service, &id).await?);
    Ok(out)
}

/// Where a running service's user was configured: compose's `user:` wins over the image.
fn user_origin(raw: &serde_json::Value, built_user: Option<&str>) -> Option<String> {
    if raw["user"].as_str().is_some_and(|u| !u.is_empty()) {
        return Some("compose `user:`".to_owned());
    }
    built_user.map(str::to_owned)
}

/// `image.size`: the service's image against its budget, with the largest layers.
pub async fn image_size(cx: &Context<'_>, service: &str, image_id: &str) -> Result<Verdict> {
    let budget = cx.policy.settings(service).image_size;
    let img = cx.docker().inspect_image(image_id).await.map_err(|e| Error::engine("inspect image", service, e))?;
    let size = img.size.unwrap_or(0).max(0) as u64;
    let reference = img.repo_tags.as_ref().and_then(|t| t.first().cloned()).unwrap_or_else(|| image_id.to_owned());
    let mut layers =
        cx.docker().image_history(image_id).await.map_err(|e| Error::engine("image history", service, e))?;
    layers.sort_by_key(|l| std::cmp::Reverse(l.size));
    let largest: Vec<String> = layers
        .iter()
        .take(3)
        .map(|l| {
            format!("{} {}", megabytes(l.size.max(0) as u64), l.created_by.chars().take(80).collect::<String>().trim())
        })
        .collect();
    let passed = size <= budget;
    Ok(Verdict {
        criterion: Criterion::ImageSize,
        subject: service.to_owned(),
        measured: megabytes(size),
        budget: megabytes(budget),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "image {reference}: {} against a budget of {}; largest layers: {}",
            megabytes(size),
            megabytes(budget),
            largest.join("; ")
        ),
        hint: (!passed).then(|| "remove build tools, docs and caches from the image, or use a smaller base".to_owned()),
    })
}

/// Rows of `ps` output with the uid column equal to 0, as `pid uid user args` lines.
pub fn root_processes(titles: &[String], processes: &[Vec<String>]) -> Vec<String> {
    let Some(uid_col) = titles.iter().position(|t| t == "UID") else { return Vec::new() };
    processes.iter().filter(|p| p.get(uid_col).is_some_and(|u| u.trim() == "0")).map(|p| p.join(" ")).collect()
}

/// The `ps` arguments of every `docker top` the harness asks for.
///
/// `-e` is needed, not decoration. The engine runs the host's `ps` with these arguments and
/// `-q` followed by the container's pids; procps refuses a `-q` list of about 256 pids or
/// more ("fatal library error, reap"), and the engine then runs `ps` again without `-q`. With
/// no selection of its own, that `ps` lists only processes on the engine's own terminal, so
/// a container with that many processes (a forking server, a busy database) came back with
/// none at all. With `-e` the second `ps` lists every process, and the engine keeps the
/// container's.
pub const PS_ARGS: &str = "-e -o pid,uid,user,args";

/// `docker top` options with [`PS_ARGS`].
pub fn top_options() -> bollard::query_parameters::TopOptions {
    TopOptionsBuilder::default().ps_args(PS_ARGS).build()
}

/// `user.process`: the real uid of every process in the container, from `docker top`
/// (works for images with no shell or ps of their own).
pub async fn user_process(cx: &Context<'_>, service: &str, id: &str) -> Result<Verdict> {
    let top = cx.docker().top_processes(id, Some(top_options())).await.map_err(|e| Error::engine("top", service, e))?;
    let titles = top.titles.unwrap_or_default();
    let procs = top.processes.unwrap_or_default();
    Ok(judge_user_process(service, &titles, &procs, cx.policy.settings(service).non_root))
}

/// The pure part of `user.process`. No uid column, or no process at all, is no reading:
/// not judged, never a pass.
pub fn judge_user_process(service: &str, titles: &[String], procs: &[Vec<String>], required: bool) -> Verdict {
    let Some(col) = titles.iter().position(|t| t == "UID") else {
        return Verdict::not_judged(
            Criterion::UserProcess,
            service,
            format!("docker top gave no UID column (columns: {}), so no process's uid was read", titles.join(", ")),
        );
    };
    if procs.is_empty() {
        return Verdict::not_judged(Criterion::UserProcess, service, "docker top listed no process in the container");
    }
    let root = root_processes(titles, procs);
    let passed = !required || root.is_empty();
    let mut uids: Vec<String> = procs.iter().filter_map(|p| p.get(col).cloned()).collect();
    uids.sort();
    uids.dedup();
    Verdict {
        criterion: Criterion::UserProcess,
        subject: service.to_owned(),
        measured: if root.is_empty() {
            format!("{} process(es), uids {}", procs.len(), uids.join(","))
        } else {
            format!("{} root process(es)", root.len())
        },
        budget: "no process with uid 0".into(),
        outcome: Outcome::judged(passed),
        evidence: if root.is_empty() {
            format!("docker top {PS_ARGS}: {} process(es), none with uid 0", procs.len())
        } else {
            format!("docker top {PS_ARGS}: uid 0: {}", root.join(" | "))
        },
        hint: (!passed).then(|| "run the service as a non-root uid (compose `user:` or the image's USER)".to_owned()),
    }
}

/// `healthcheck.passes` and `healthcheck.response`: Docker's verdict, and one timed run of
/// the check command against the policy's response budget (seed ZViewer: 3 s).
pub async fn health(
    cx: &Context<'_>,
    service: &str,
    id: &str,
    inspect: &serde_json::Value,
    facts: &ServiceFacts,
) -> Vec<Verdict> {
    let Some(test) = &facts.healthcheck else { return Vec::new() };
    let status = inspect["State"]["Health"]["Status"].as_str().unwrap_or("none").to_owned();
    let last_log = inspect["State"]["Health"]["Log"]
        .as_array()
        .and_then(|l| l.last())
        .map(|l| match l["Output"].as_str().unwrap_or_default().trim() {
            "" => format!("exit {}, no output", l["ExitCode"]),
            out => format!("exit {}: {out}", l["ExitCode"]),
        })
        // `starting` with no log: Docker has not run the check yet (its first interval).
        .unwrap_or_else(|| "not run by Docker yet".to_owned());
    let mut out = vec![Verdict {
        criterion: Criterion::HealthcheckPasses,
        subject: service.to_owned(),
        measured: status.clone(),
        budget: "healthy".into(),
        outcome: Outcome::judged(status == "healthy"),
        evidence: format!("docker inspect State.Health.Status {status}; last check {last_log}"),
        hint: (status != "healthy").then(|| "make the healthcheck pass: see the health log in the evidence".to_owned()),
    }];
    let budget = cx.policy.settings(service).health_response;
    if let Some(cmd) = readiness::exec_command(test) {
        // Twice the budget bounds the run, so a hung check still yields a measurement.
        let result = readiness::run_once(cx.docker(), id, &cmd, budget * 2).await;
        let passed = result.passed() && result.took <= budget;
        out.push(Verdict {
            criterion: Criterion::HealthcheckResponse,
            subject: service.to_owned(),
            measured: secs(result.took),
            budget: secs(budget),
            outcome: Outcome::judged(passed),
            evidence: format!("ran `{}` once: {}", cmd.join(" "), result.summary()),
            hint: (!passed).then(|| {
                "the check command must answer within the budget: make it cheaper, or fix what it waits for".to_owned()
            }),
        });
    }
    out
}

/// Memory in use excluding the page cache the cgroup also counts (as `docker stats` shows).
pub fn working_set(usage: u64, stats: &std::collections::HashMap<String, u64>) -> u64 {
    let cache = stats.get("total_inactive_file").or_else(|| stats.get("inactive_file")).copied().unwrap_or(0);
    usage.saturating_sub(cache)
}

/// `resources.memory`: steady-state memory from the engine's stats (seed ZViewer: 512 MB).
pub async fn memory(cx: &Context<'_>, service: &str, id: &str) -> Result<Verdict> {
    let budget = cx.policy.settings(service).memory;
    let mut stream = cx.docker().stats(id, Some(StatsOptionsBuilder::default().stream(false).one_shot(true).build()));
    let stats = match stream.next().await {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(Error::engine("stats", service, e)),
        None => {
            return Err(Error::engine("stats", service, bollard::errors::Error::RequestTimeoutError));
        }
    };
    let mem = stats.memory_stats.unwrap_or_default();
    Ok(judge_memory(service, mem.usage, &mem.stats.unwrap_or_default(), mem.limit, budget))
}

/// The pure part of `resources.memory`. The engine gives no usage for a stopped container
/// or where the cgroup is not readable: that is no reading, not 0 MB.
pub fn judge_memory(
    service: &str,
    usage: Option<u64>,
    stats: &std::collections::HashMap<String, u64>,
    limit: Option<u64>,
    budget: u64,
) -> Verdict {
    let Some(usage) = usage.filter(|u| *u > 0) else {
        return Verdict::not_judged(
            Criterion::ResourcesMemory,
            service,
            "the engine's stats gave no memory usage reading (container not running, or its cgroup not readable)",
        );
    };
    let used = working_set(usage, stats);
    let passed = used <= budget;
    Verdict {
        criterion: Criterion::ResourcesMemory,
        subject: service.to_owned(),
        measured: megabytes(used),
        budget: megabytes(budget),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "engine stats: usage {} less inactive page cache; limit {}",
            megabytes(usage),
            limit.map_or_else(|| "none reported".to_owned(), megabytes)
        ),
        hint: (!passed)
            .then(|| "find what holds the memory (caches, pools) or raise the budget with evidence".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn row(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn finds_root_processes_by_uid_column() {
        let titles = row(&["PID", "UID", "USER", "COMMAND"]);
        let procs = vec![row(&["10", "999", "999", "postgres"]), row(&["11", "0", "root", "sh -c sleep 1"])];
        assert_eq!(root_processes(&titles, &procs), vec!["11 0 root sh -c sleep 1".to_owned()]);
        assert!(root_processes(&titles, &procs[..1]).is_empty());
        assert!(root_processes(&row(&["PID"]), &procs).is_empty(), "no uid column, nothing to judge");
    }

    #[test]
    fn working_set_leaves_out_inactive_cache() {
        let stats = HashMap::from([("total_inactive_file".to_owned(), 300)]);
        assert_eq!(working_set(1000, &stats), 700);
        assert_eq!(working_set(1000, &HashMap::new()), 1000);
        assert_eq!(working_set(100, &stats), 0);
    }

    #[track_caller]
    fn check_state(v: Verdict, word: &str, fragment: &str) {
        assert_eq!(v.outcome.word(), word, "{}", v.line());
        assert!(v.line().contains(fragment), "`{}` should contain `{fragment}`", v.line());
    }

    #[test]
    fn user_process_without_a_reading_is_not_judged() {
        let titles = row(&["PID", "UID", "USER", "COMMAND"]);
        let procs = vec![row(&["10", "999", "999", "postgres"])];
        check_state(judge_user_process("db", &titles, &procs, true), "PASS", "1 process(es), uids 999");
        let root = vec![row(&["1", "0", "root", "sh"])];
        check_state(judge_user_process("db", &titles, &root, true), "FAIL", "1 root process(es)");
        check_state(judge_user_process("db", &row(&["PID", "COMMAND"]), &procs, true), "SKIP", "no UID column");
        check_state(judge_user_process("db", &titles, &[], true), "SKIP", "no process");
    }

    #[test]
    fn memory_without_a_reading_is_not_judged() {
        let none = HashMap::new();
        check_state(judge_memory("api", Some(10_000_000), &none, None, 20_000_000), "PASS", "10.0MB");
        check_state(judge_memory("api", Some(30_000_000), &none, None, 20_000_000), "FAIL", "30.0MB");
        check_state(judge_memory("api", None, &none, None, 20_000_000), "SKIP", "no memory usage reading");
        check_state(judge_memory("api", Some(0), &none, None, 20_000_000), "SKIP", "no memory usage reading");
    }
}
