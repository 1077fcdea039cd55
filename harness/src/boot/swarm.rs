//! A stack on Docker Swarm (`harness check --engine swarm`): prepared exactly as for
//! compose (the model resolved by compose, `build:` images built first, the recipes' images
//! present), then translated ([`crate::engine::swarm::translate`], every change said) and
//! deployed with `docker stack deploy` under the run's unique name.
//!
//! Every replicated service is deployed at zero replicas and scaled to its count through
//! the Engine API, for two reasons. Swarm's tmpfs mount is root-owned with the mode of the
//! image's directory, and the stack format has no owner for it (measured: the reference's
//! redis and postgres could not write theirs, and postgres left a half-initialised volume
//! behind), so each tmpfs is replaced, before any task runs, by a per-task tmpfs volume
//! with the compose file's options. And the clock starts when tasks are asked for, as `up`
//! starts it for compose.
//!
//! The wait is per task: each running task's container gets the same readiness poller as a
//! compose container (its own healthcheck run by the harness every 250 ms), and Docker's
//! health is read beside it, so the timeline says ready and healthy per service, from its
//! last replica.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use bollard::models::{ServiceSpec, Task, TaskState};

use crate::boot::readiness::{self, Wait, WaitFor};
use crate::boot::stack::{Prepared, StackConfig};
use crate::boot::timeline::{BootTimeline, ServiceTimeline};
use crate::engine::compose::{self, ComposeModel};
use crate::engine::labels::RunIdentity;
use crate::engine::swarm;
use crate::engine::teardown::{self, Guard, Removed};
use crate::errors::{Error, Result};

/// One running task of a service: its container and the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskRef {
    /// The task id.
    pub task: String,
    /// Its container id.
    pub container: String,
    /// The node it runs on (its id): the report records it, so a multi-node swarm reads right.
    pub node: String,
    /// The container's hostname (the task's container id, short), which the app names in
    /// its replica header.
    pub hostname: String,
}

/// A stack deployed on Swarm. Dropping it removes the stack (services, task containers,
/// networks, volumes, secrets) and leaves the swarm if the harness started it.
#[derive(Debug)]
pub struct SwarmStack {
    /// The stack's name (its namespace): `hx<run id>-<name>`, like a compose project.
    pub name: String,
    /// The stack as compose resolves it (the judged model).
    pub model: ComposeModel,
    /// The stack directory; its policy is found from here.
    pub dir: PathBuf,
    /// When each service's tasks were created, started, ready and healthy.
    pub timeline: BootTimeline,
    /// Every translation from the compose file to the stack file, `service: what`.
    pub translations: Vec<String>,
    /// Whether this run started the swarm (and so leaves it at teardown).
    pub started_swarm: bool,
    /// The replica count each service was deployed with.
    pub replicas: BTreeMap<String, u64>,
    /// Where each task ran when the deploy was done, `service: task <id> on node <name>
    /// (<node id>)`: on a multi-node swarm the report says which node served what.
    pub placements: Vec<String>,
    project: compose::ComposeProject,
    images: Vec<crate::engine::images::ImageStatus>,
    warnings: Vec<String>,
    docker: Docker,
    guard: Guard,
    boot_timeout: Duration,
    _workdir: Arc<tempfile::TempDir>,
}

impl SwarmStack {
    /// Deploys a prepared stack on Swarm (starting a single-node swarm when the engine is in
    /// none) and waits until every task of every service is ready, and healthy where it has
    /// a healthcheck.
    pub async fn deploy(prepared: Prepared, cfg: &StackConfig) -> Result<SwarmStack> {
        let docker = prepared.docker.clone();
        let started_swarm = swarm::ensure_manager(&docker).await?;
        let name = prepared.project.project.clone();
        let guard = Guard::register(&name);
        let images: BTreeMap<String, String> =
            prepared.model.services.iter().filter_map(|(n, s)| Some((n.clone(), s.image.clone()?))).collect();
        let owner = RunIdentity::current().labels();
        let mut t = swarm::translate(&prepared.model.raw, &images, &owner);
        for note in &t.notes {
            crate::progress::note(format!("swarm: {note}"));
        }
        // Every replicated service starts at zero: see the module comment.
        let mut replicas = BTreeMap::new();
        for (service, svc) in t.file["services"].as_object_mut().into_iter().flatten() {
            if svc["deploy"]["mode"].as_str() == Some("global") {
                continue;
            }
            let n = svc["deploy"]["replicas"].as_u64().unwrap_or(1);
            replicas.insert(service.clone(), n);
            svc["deploy"]["replicas"] = 0.into();
        }
        let file = prepared.workdir.path().join("harness.swarm.json");
        let text = serde_json::to_string_pretty(&t.file).unwrap_or_default();
        std::fs::write(&file, text).map_err(|e| Error::io("cannot write the stack file", &file, e))?;
        crate::progress::note(format!("docker stack deploy {name} ({} service(s))", replicas.len()));
        stack_deploy(&name, &file).await?;

        let mut timeline = BootTimeline::default();
        for (service, svc) in &prepared.model.services {
            let image_check = match images.get(service) {
                Some(image) => match docker.inspect_image(image).await {
                    Ok(img) => serde_json::to_value(&img).unwrap_or_default()["Config"]["Healthcheck"].clone(),
                    Err(_) => serde_json::Value::Null,
                },
                None => serde_json::Value::Null,
            };
            let health = compose::effective_timing(svc.healthcheck.as_ref(), &image_check)?;
            // Swarm has no depends_on (it was dropped): nothing is explained by one.
            timeline
                .services
                .insert(service.clone(), ServiceTimeline { service: service.clone(), health, ..Default::default() });
        }
        // The per-task tmpfs volumes carry the stack's namespace too, so removing the
        // project finds them (a first run left four behind without it).
        let mut volume_labels = owner.clone();
        volume_labels.insert(swarm::STACK_NAMESPACE.to_owned(), name.clone());
        let t0 = SystemTime::now();
        timeline.t0 = Some(t0);
        for (service, n) in &replicas {
            let full = format!("{name}_{service}");
            let tmpfs = t.tmpfs.get(service).cloned().unwrap_or_default();
            update_spec(&docker, &full, |spec| {
                tmpfs_as_volumes(spec, &tmpfs, &volume_labels);
                if let Some(r) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
                    r.replicas = Some(*n as i64);
                }
            })
            .await?;
        }
        timeline.up_returned = Some(t0.elapsed().unwrap_or_default());
        let mut stack = SwarmStack {
            name,
            model: prepared.model,
            dir: prepared.dir,
            timeline,
            translations: std::mem::take(&mut t.notes),
            started_swarm,
            replicas,
            placements: Vec::new(),
            project: prepared.project,
            images: prepared.images,
            warnings: prepared.warnings,
            docker,
            guard,
            boot_timeout: cfg.boot_timeout,
            _workdir: prepared.workdir,
        };
        stack.wait_all(t0, cfg.cadence).await?;
        stack.placements = stack.placements().await?;
        for p in &stack.placements {
            crate::progress::note(format!("swarm: {p}"));
        }
        Ok(stack)
    }

    /// What the deployment leaves for the report; the translations are among its warnings,
    /// so the report says what Swarm ran differently from the compose file.
    pub fn record(&self) -> crate::boot::stack::RunRecord {
        let mut warnings = self.warnings.clone();
        warnings.extend(self.translations.iter().map(|t| format!("swarm translation: {t}")));
        warnings.extend(self.placements.iter().map(|p| format!("swarm placement: {p}")));
        crate::boot::stack::record_of(&self.project, &self.dir, &self.model, &self.timeline, &self.images, &warnings)
    }

    /// Every running task's node, by name where the node can be read.
    async fn placements(&self) -> Result<Vec<String>> {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for service in self.model.services.keys() {
            for t in self.running_tasks(service).await? {
                if !names.contains_key(&t.node) {
                    let name = self.docker.inspect_node(&t.node).await.ok().and_then(|n| n.description?.hostname);
                    names.insert(t.node.clone(), name.unwrap_or_else(|| "(unknown)".into()));
                }
                let short: String = t.node.chars().take(12).collect();
                out.push(format!("{service}: task {} on node {} ({short})", t.hostname, names[&t.node]));
            }
        }
        Ok(out)
    }

    /// The engine connection.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Bounds every wait after the deploy too.
    pub fn boot_timeout(&self) -> Duration {
        self.boot_timeout
    }

    /// The Swarm service name of a compose service: `<stack>_<service>`.
    pub fn service_name(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }

    /// Leaves the stack running after this value is dropped (`--keep`).
    pub fn keep(&mut self) {
        self.guard.keep();
    }

    /// Removes the stack now, and the swarm when this run started it.
    pub async fn down(mut self) -> Result<Removed> {
        self.guard.keep();
        let removed = teardown::remove_project(&self.docker, &self.name).await?;
        swarm::leave_if_ours(&self.docker).await?;
        Ok(removed)
    }

    /// The service's tasks that run now, with their containers, oldest first.
    pub async fn running_tasks(&self, service: &str) -> Result<Vec<TaskRef>> {
        let tasks = tasks_of(&self.docker, &self.service_name(service)).await?;
        let mut out: Vec<(SystemTime, TaskRef)> = tasks
            .into_iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
            .filter(|t| t.desired_state == Some(TaskState::RUNNING))
            .filter_map(|t| {
                let container = t.status.as_ref()?.container_status.as_ref()?.container_id.clone()?;
                Some((
                    task_created(&t).unwrap_or(SystemTime::UNIX_EPOCH),
                    TaskRef {
                        task: t.id.clone()?,
                        hostname: container.chars().take(12).collect(),
                        container,
                        node: t.node_id.clone().unwrap_or_default(),
                    },
                ))
            })
            .collect();
        out.sort();
        Ok(out.into_iter().map(|(_, t)| t).collect())
    }

    /// Where a published port of a service answers on this host: 127.0.0.1 and the host
    /// port Swarm gave the (first running) task in host mode.
    pub async fn host_port(&self, service: &str, port: u16) -> Result<SocketAddr> {
        let tasks = self.running_tasks(service).await?;
        for t in &tasks {
            let c = self
                .docker
                .inspect_container(&t.container, None)
                .await
                .map_err(|e| Error::engine("inspect", service, e))?;
            let ports = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
            let host = ports
                .get(&format!("{port}/tcp"))
                .cloned()
                .flatten()
                .unwrap_or_default()
                .into_iter()
                .find_map(|b| b.host_port?.parse::<u16>().ok());
            if let Some(host) = host {
                return Ok(SocketAddr::from(([127, 0, 0, 1], host)));
            }
        }
        Err(Error::NotPublished { project: self.name.clone(), service: service.to_owned(), port })
    }

    /// Changes a service's spec through the Engine API (a Swarm update: its update_config
    /// applies). `rollback` asks Swarm to roll back to the previous spec instead.
    pub async fn update(&self, service: &str, change: impl FnOnce(&mut ServiceSpec)) -> Result<()> {
        update_spec(&self.docker, &self.service_name(service), change).await
    }

    /// The service's update status: `(state, message)`, e.g. `("completed", ...)` or
    /// `("rollback_completed", ...)`; `None` before its first update.
    pub async fn update_status(&self, service: &str) -> Result<Option<(String, String)>> {
        let full = self.service_name(service);
        let s =
            self.docker.inspect_service(&full, None).await.map_err(|e| Error::engine("inspect service", &full, e))?;
        Ok(s.update_status.map(|u| (u.state.map(|s| s.to_string()).unwrap_or_default(), u.message.unwrap_or_default())))
    }

    /// The service's current spec.
    pub async fn spec(&self, service: &str) -> Result<ServiceSpec> {
        Ok(inspect_spec(&self.docker, &self.service_name(service)).await?.1)
    }

    /// Waits until `service` runs its full replica count, every task ready (and healthy where
    /// it has a healthcheck), within `deadline`. Returns the tasks, or the last state seen.
    pub async fn wait_service(&self, service: &str, deadline: Duration) -> std::result::Result<Vec<TaskRef>, String> {
        let want = self.replicas.get(service).copied().unwrap_or(1) as usize;
        let started = Instant::now();
        let mut seen = String::from("no task yet");
        while started.elapsed() < deadline {
            match self.running_tasks(service).await {
                Ok(tasks) if tasks.len() >= want => {
                    let mut all = true;
                    for t in &tasks {
                        let (ok, state) = task_done(&self.docker, &t.container).await;
                        if !ok {
                            all = false;
                            seen = format!("task {}: {state}", t.hostname);
                        }
                    }
                    if all {
                        return Ok(tasks);
                    }
                }
                Ok(tasks) => seen = format!("{} of {want} task(s) running", tasks.len()),
                Err(e) => seen = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(seen)
    }

    /// The boot's wait: every service's tasks, each container probed as it appears.
    async fn wait_all(&mut self, t0: SystemTime, cadence: Duration) -> Result<()> {
        let names: Vec<&str> = self.model.services.keys().map(String::as_str).collect();
        crate::progress::board(&self.name, &names);
        let started = Instant::now();
        // Per container: the readiness poller's result (when it passed, how many runs).
        let ready: Arc<std::sync::Mutex<HashMap<String, readiness::Waited>>> = Arc::default();
        let mut probing: BTreeSet<String> = BTreeSet::new();
        let mut healthy_at: HashMap<String, SystemTime> = HashMap::new();
        let mut pollers = Vec::new();
        let offset = |at: SystemTime| at.duration_since(t0).unwrap_or_default();
        let result = loop {
            let mut done = true;
            let mut first_pending = None;
            for (service, want) in self.replicas.clone() {
                let all = tasks_of(&self.docker, &self.service_name(&service)).await?;
                let running: Vec<&Task> = all
                    .iter()
                    .filter(|t| t.desired_state == Some(TaskState::RUNNING))
                    .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
                    .collect();
                let entry = self.timeline.services.get_mut(&service).expect("every service has a timeline entry");
                let mut containers = Vec::new();
                for t in &running {
                    let Some(id) = t
                        .status
                        .as_ref()
                        .and_then(|s| s.container_status.as_ref())
                        .and_then(|c| c.container_id.clone())
                    else {
                        continue;
                    };
                    containers.push(id.clone());
                    if probing.insert(id.clone()) {
                        let docker = self.docker.clone();
                        let ready = ready.clone();
                        let w = Wait::new(WaitFor::Ready, self.boot_timeout).with_cadence(cadence);
                        pollers.push(tokio::spawn(async move {
                            if let Ok(waited) = readiness::wait(&docker, &id, &w, |_| {}).await {
                                ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, waited);
                            }
                        }));
                    }
                }
                // Created and started: the last replica's, as a service is as late as its last.
                let created: Vec<SystemTime> = running.iter().filter_map(|t| task_created(t)).collect();
                if created.len() as u64 >= want {
                    entry.created = created.iter().max().map(|c| offset(*c));
                }
                let mut started_at = Vec::new();
                let mut ready_at = Vec::new();
                let mut runs = 0;
                for id in &containers {
                    let c = self.docker.inspect_container(id, None).await.ok();
                    let state = c.and_then(|c| c.state);
                    if let Some(s) = state.as_ref().and_then(|s| s.started_at.as_deref()).and_then(parse_time) {
                        started_at.push(s);
                    }
                    let health = state.as_ref().and_then(|s| s.health.as_ref()).and_then(|h| h.status);
                    if health == Some(bollard::models::HealthStatusEnum::HEALTHY) {
                        healthy_at.entry(id.clone()).or_insert_with(SystemTime::now);
                    }
                    if let Some(w) = ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id) {
                        ready_at.push(w.at);
                        runs = runs.max(w.runs);
                    }
                }
                let enough = containers.len() as u64 >= want;
                if enough && started_at.len() == containers.len() {
                    entry.started = started_at.iter().max().map(|s| offset(*s));
                }
                if enough && ready_at.len() == containers.len() {
                    if entry.ready.is_none() {
                        crate::progress::service(&service, "ready", started.elapsed());
                    }
                    entry.ready = ready_at.iter().max().map(|s| offset(*s));
                    entry.probes = runs;
                }
                let healthy: Vec<SystemTime> = containers.iter().filter_map(|c| healthy_at.get(c).copied()).collect();
                if enough && entry.health.is_some() && healthy.len() == containers.len() {
                    entry.healthy = healthy.iter().max().map(|s| offset(*s));
                }
                if !(enough && entry.is_done()) {
                    done = false;
                    if first_pending.is_none() {
                        let failed = all
                            .iter()
                            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::FAILED))
                            .count();
                        let err =
                            all.iter().filter_map(|t| t.status.as_ref()?.err.clone()).next_back().unwrap_or_default();
                        first_pending = Some((
                            service.clone(),
                            containers.first().cloned(),
                            format!(
                                "{} of {want} task(s) running, {failed} failed{}",
                                containers.len(),
                                if err.is_empty() { String::new() } else { format!(" (last: {err})") }
                            ),
                        ));
                    }
                }
            }
            if done {
                break Ok(());
            }
            if started.elapsed() > self.boot_timeout {
                let (service, container, state) = first_pending.unwrap_or_default();
                let (status, health_log) = match &container {
                    Some(c) => readiness::last_seen(&self.docker, c).await,
                    None => ("not created".to_owned(), "(none)".to_owned()),
                };
                break Err(Error::HealthTimeout {
                    project: self.name.clone(),
                    service,
                    waited: self.boot_timeout,
                    state: format!("{state}; {status}"),
                    health_log,
                    last_probe: "(see `docker service ps --no-trunc`)".into(),
                });
            }
            tokio::time::sleep(cadence.min(Duration::from_millis(250))).await;
        };
        for p in pollers {
            p.abort();
        }
        crate::progress::board_done();
        result
    }
}

/// Whether a task's container is done booting (ready by its own healthcheck, healthy where
/// Docker judges health), with its state in words.
async fn task_done(docker: &Docker, container: &str) -> (bool, String) {
    let w = Wait::new(WaitFor::Ready, Duration::from_secs(5));
    let ready = readiness::wait(docker, container, &w, |_| {}).await.is_ok();
    let (state, _) = readiness::last_seen(docker, container).await;
    let has_health = state.contains("health ") && !state.contains("health ,");
    let healthy = !has_health || state.contains("health healthy");
    (ready && healthy, state)
}

/// Every task of a Swarm service.
pub async fn tasks_of(docker: &Docker, service: &str) -> Result<Vec<Task>> {
    let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
    docker
        .list_tasks(Some(bollard::query_parameters::ListTasksOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| Error::engine("list tasks", service, e))
}

/// Reads a service's spec, changes it and sends it back at the version read.
async fn update_spec(docker: &Docker, service: &str, change: impl FnOnce(&mut ServiceSpec)) -> Result<()> {
    let (version, mut spec) = inspect_spec(docker, service).await?;
    change(&mut spec);
    let opts = bollard::query_parameters::UpdateServiceOptionsBuilder::default().version(version).build();
    docker.update_service(service, spec, opts, None).await.map_err(|e| Error::engine("update service", service, e))?;
    Ok(())
}

/// A service's spec version and spec, whole. The engine names the healthcheck `Healthcheck`
/// and bollard reads `HealthCheck` (the API document's spelling; Go's JSON is
/// case-insensitive, serde is not), so a typed read drops it, and an update sent back
/// from that read removed every service's healthcheck (found on the ZViewer seed: its tasks
/// were never reported healthy). It is read apart, through the CLI's raw JSON, and put back.
async fn inspect_spec(docker: &Docker, service: &str) -> Result<(i32, ServiceSpec)> {
    let current =
        docker.inspect_service(service, None).await.map_err(|e| Error::engine("inspect service", service, e))?;
    let version = current.version.and_then(|v| v.index).unwrap_or(0) as i32;
    let mut spec = current.spec.unwrap_or_default();
    let out = tokio::process::Command::new("docker")
        .args(["service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Healthcheck}}", service])
        .output()
        .await
        .map_err(|e| Error::Spawn {
            program: "docker service inspect".into(),
            hint: "install the docker CLI".into(),
            source: e,
        })?;
    let raw = String::from_utf8_lossy(&out.stdout);
    if let Ok(health) = serde_json::from_str::<Option<bollard::models::HealthConfig>>(raw.trim())
        && let Some(c) = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut())
        && c.health_check.is_none()
    {
        c.health_check = health;
    }
    Ok((version, spec))
}

/// Every tmpfs mount of the spec replaced by a per-task tmpfs volume with the compose
/// file's options (see the module comment and [`swarm::tmpfs_volume`]).
fn tmpfs_as_volumes(spec: &mut ServiceSpec, tmpfs: &[(String, String)], owner: &BTreeMap<String, String>) {
    let mounts = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()).and_then(|c| c.mounts.as_mut());
    for m in mounts.into_iter().flatten() {
        if m.typ != Some(bollard::models::MountTypeEnum::TMPFS) {
            continue;
        }
        let target = m.target.clone().unwrap_or_default();
        let opts = tmpfs.iter().find(|(t, _)| *t == target).map_or("", |(_, o)| o.as_str());
        *m = swarm::tmpfs_volume(&target, opts, owner);
    }
}

/// `docker stack deploy` of the translated file. `--resolve-image never`: the images are
/// local (built or pulled by the preparation), and no registry is asked for digests.
async fn stack_deploy(name: &str, file: &std::path::Path) -> Result<()> {
    let out = tokio::process::Command::new("docker")
        .args(["stack", "deploy", "--resolve-image", "never", "-c"])
        .arg(file)
        .arg(name)
        .output()
        .await
        .map_err(|e| Error::Spawn {
            program: "docker stack deploy".into(),
            hint: "install the docker CLI".into(),
            source: e,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(Error::Swarm {
        detail: format!(
            "`docker stack deploy` of {name} failed (exit {}): {}",
            out.status.code().map_or("signal".into(), |c| c.to_string()),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ),
        hint: format!(
            "the stack file the harness wrote is {}; `docker stack config -c` on it shows what Swarm reads",
            file.display()
        ),
    })
}

/// When a task was created. Read through its JSON form: with bollard's `time` feature (which
/// testcontainers turns on in the suites' build) the field is a typed date, without it a
/// string, and this reads both.
fn task_created(t: &Task) -> Option<SystemTime> {
    let v = serde_json::to_value(t).ok()?;
    parse_time(v["CreatedAt"].as_str()?)
}

/// An RFC 3339 time from the Engine API (nanoseconds, `Z`).
fn parse_time(text: &str) -> Option<SystemTime> {
    // Times before the epoch (the API's zero, year 1) do not parse: not set.
    humantime::parse_rfc3339_weak(text).ok().filter(|t| *t > SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_parse_and_zero_times_do_not() {
        let t = parse_time("2026-12-02T21:07:42.339223963Z").expect("parses");
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos(), 339_223_963);
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn tmpfs_mounts_become_owned_tmpfs_volumes_and_others_are_left_alone() {
        use bollard::models::{Mount, MountTypeEnum, TaskSpec, TaskSpecContainerSpec};
        let mut spec = ServiceSpec {
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    mounts: Some(vec![
                        Mount { typ: Some(MountTypeEnum::TMPFS), target: Some("/tmp".into()), ..Default::default() },
                        Mount { typ: Some(MountTypeEnum::VOLUME), target: Some("/data".into()), ..Default::default() },
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let tmpfs = vec![("/tmp".to_owned(), "uid=7,mode=0700".to_owned())];
        tmpfs_as_volumes(&mut spec, &tmpfs, &BTreeMap::new());
        let mounts = spec.task_template.unwrap().container_spec.unwrap().mounts.unwrap();
        assert_eq!(mounts[0].typ, Some(MountTypeEnum::VOLUME));
        let driver = mounts[0].volume_options.as_ref().and_then(|o| o.driver_config.as_ref()).expect("a driver config");
        assert_eq!(driver.options.as_ref().map(|o| o["o"].as_str()), Some("uid=7,mode=0700"));
        assert_eq!(mounts[1].target.as_deref(), Some("/data"));
        assert!(mounts[1].volume_options.is_none(), "other mounts are left alone");
    }
}
