//! Leaving nothing behind: the guard, the signal handler and the reaper.
//!
//! - A [`Guard`] per booted project removes its containers, networks and volumes on drop,
//!   which also covers a panicking test (unwinding runs `Drop`).
//! - nextest ends a test that runs too long with SIGTERM, and then no destructor runs. So
//!   the first guard installs a handler for SIGTERM, SIGINT and SIGHUP that kills any
//!   compose child still creating things, removes every live project and everything else
//!   labelled with this run, then exits with 128 + the signal number.
//! - SIGKILL cannot be caught. Every resource carries its owner's pid and start time
//!   ([`crate::engine::labels`]), and each run begins by reaping what dead owners left.
//!
//! Removal goes through the Engine API by label, not `compose down`, so it needs no compose
//! files and also finds single containers started through testcontainers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, Once};

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};
use tokio::sync::OnceCell;

use crate::engine;
use crate::engine::labels::{self, RunIdentity};
use crate::engine::swarm;
use crate::errors::{Error, Result};

/// Projects this process has booted and not yet removed, with the pids of compose
/// commands still running for them.
static LIVE: Mutex<BTreeMap<String, Vec<u32>>> = Mutex::new(BTreeMap::new());

/// Removes a project when dropped, unless told to keep it.
#[derive(Debug)]
pub struct Guard {
    project: String,
    keep: bool,
}

impl Guard {
    /// Registers a project before anything of it exists, so a signal during boot finds it.
    pub fn register(project: &str) -> Guard {
        install_signal_handler();
        lock_live().insert(project.to_owned(), Vec::new());
        Guard { project: project.to_owned(), keep: false }
    }

    /// A guard for a project some other process owns (a shared stack): dropping it
    /// removes nothing.
    pub fn detached(project: &str) -> Guard {
        Guard { project: project.to_owned(), keep: true }
    }

    /// Records a compose child process whose work must be stopped before cleanup: the leader
    /// of its own process group, which is killed whole.
    pub fn track_child(&self, pid: u32) {
        if let Some(children) = lock_live().get_mut(&self.project) {
            children.push(pid);
        }
    }

    /// Forgets a compose child process that has exited.
    pub fn untrack_child(&self, pid: u32) {
        if let Some(children) = lock_live().get_mut(&self.project) {
            children.retain(|p| *p != pid);
        }
    }

    /// Leaves the project running when the guard goes (the CLI's `--keep` and `up`).
    pub fn keep(&mut self) {
        self.keep = true;
        lock_live().remove(&self.project);
    }

    /// The compose project this guard removes.
    pub fn project(&self) -> &str {
        &self.project
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let children = lock_live().remove(&self.project).unwrap_or_default();
        kill_children(&children);
        match blocking(remove_project_by_label(self.project.clone())) {
            Ok(removed) => tracing::debug!(project = %self.project, %removed, "torn down"),
            // Drop cannot return the error; say it loudly, the reaper will retry.
            Err(e) => crate::progress::note(format!("teardown of {} failed: {e}", self.project)),
        }
    }
}

fn lock_live() -> std::sync::MutexGuard<'static, BTreeMap<String, Vec<u32>>> {
    // A panic while holding the lock must not stop teardown of the other projects.
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts of what a removal took away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
    /// Swarm services removed (a Swarm run's).
    pub services: usize,
    /// Swarm secrets and configs removed.
    pub swarm_objects: usize,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} container(s), {} network(s), {} volume(s)", self.containers, self.networks, self.volumes)?;
        // Said only when there were any, so a compose run's line reads as it always did.
        if self.services + self.swarm_objects > 0 {
            write!(f, ", {} swarm service(s), {} secret(s)/config(s)", self.services, self.swarm_objects)?;
        }
        Ok(())
    }
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, o: Removed) {
        self.containers += o.containers;
        self.networks += o.networks;
        self.volumes += o.volumes;
        self.services += o.services;
        self.swarm_objects += o.swarm_objects;
    }
}

/// The labels that find everything of a project: compose's project label, and the stack
/// namespace `docker stack deploy` puts on a Swarm run's services, containers and networks.
pub fn project_labels(project: &str) -> [String; 2] {
    [format!("{}={project}", labels::COMPOSE_PROJECT), format!("{}={project}", swarm::STACK_NAMESPACE)]
}

/// Removes everything compose (or `docker stack deploy`) made for `project`.
pub async fn remove_project(docker: &Docker, project: &str) -> Result<Removed> {
    let mut removed = Removed::default();
    for filter in project_labels(project) {
        removed += remove_labelled(docker, &filter).await?;
        let mut left = count_labelled(docker, &filter).await?;
        // A Swarm network keeps its last task's endpoint for a moment after the container
        // has gone (seen: about a second on this engine): try again before calling it left.
        for _ in 0..20 {
            if left == Removed::default() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            removed += remove_labelled(docker, &filter).await.unwrap_or_default();
            left = count_labelled(docker, &filter).await?;
        }
        if left != Removed::default() {
            return Err(Error::TeardownIncomplete { project: project.to_owned(), left: left.to_string() });
        }
    }
    Ok(removed)
}

async fn remove_project_by_label(project: String) -> Result<Removed> {
    let docker = engine::connect().await?;
    let removed = remove_project(&docker, &project).await?;
    // A swarm this run started goes with its last service.
    swarm::leave_if_ours(&docker).await?;
    Ok(removed)
}

fn filters(label: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![label.to_owned()])])
}

/// Everything on the engine that carries one label.
struct Labelled {
    containers: Vec<bollard::models::ContainerSummary>,
    networks: Vec<bollard::models::Network>,
    volumes: Vec<bollard::models::Volume>,
}

/// Lists containers (stopped ones too), networks and volumes carrying `label`
/// (`key=value` or `key`): the one listing removal, counting and reaping all share.
async fn list_labelled(docker: &Docker, label: &str) -> Result<Labelled> {
    let f = filters(label);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&f).build()))
        .await
        .map_err(|e| Error::engine("list containers", label, e))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&f).build()))
        .await
        .map_err(|e| Error::engine("list networks", label, e))?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&f).build()))
        .await
        .map_err(|e| Error::engine("list volumes", label, e))?
        .volumes
        .unwrap_or_default();
    Ok(Labelled { containers, networks, volumes })
}

/// Removes containers, then networks, then volumes carrying `label` (`key=value` or `key`).
pub async fn remove_labelled(docker: &Docker, label: &str) -> Result<Removed> {
    let mut removed = Removed::default();
    // One resource the engine refuses does not keep the rest: everything removable goes,
    // then the first refusal is the error.
    let mut failed: Option<Error> = None;
    // Swarm services first: while one exists, Swarm replaces any task container removed.
    let objects = swarm::list_labelled(docker, label).await?;
    for (id, _) in &objects.services {
        match docker.delete_service(id).await {
            Ok(()) => removed.services += 1,
            Err(e) if is_gone(&e) => {}
            Err(e) => failed = failed.or(Some(Error::engine("remove service", id.clone(), e))),
        }
    }
    let found = list_labelled(docker, label).await?;
    for c in found.containers {
        let Some(id) = c.id else { continue };
        // Force-kill: teardown is not where graceful shutdown is judged, and it must be fast.
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match docker.remove_container(&id, Some(opts)).await {
            Ok(()) => removed.containers += 1,
            Err(e) if is_gone(&e) => {}
            Err(e) => failed = failed.or(Some(Error::engine("remove container", id, e))),
        }
    }
    for n in found.networks {
        let Some(id) = n.id else { continue };
        match docker.remove_network(&id).await {
            Ok(()) => removed.networks += 1,
            Err(e) if is_gone(&e) => {}
            Err(e) => failed = failed.or(Some(Error::engine("remove network", n.name.unwrap_or(id), e))),
        }
    }
    for v in found.volumes {
        match docker.remove_volume(&v.name, Some(RemoveVolumeOptionsBuilder::default().force(true).build())).await {
            Ok(()) => removed.volumes += 1,
            Err(e) if is_gone(&e) => {}
            Err(e) => failed = failed.or(Some(Error::engine("remove volume", v.name, e))),
        }
    }
    // Secrets and configs last: Swarm refuses to remove one a service still uses.
    for (kind, ids) in [("secret", &objects.secrets), ("config", &objects.configs)] {
        for id in ids {
            let result = if kind == "secret" { docker.delete_secret(id).await } else { docker.delete_config(id).await };
            match result {
                Ok(()) => removed.swarm_objects += 1,
                Err(e) if is_gone(&e) => {}
                Err(e) => failed = failed.or(Some(Error::engine("remove swarm object", format!("{kind} {id}"), e))),
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Counts what still carries `label`.
pub async fn count_labelled(docker: &Docker, label: &str) -> Result<Removed> {
    let found = list_labelled(docker, label).await?;
    let objects = swarm::list_labelled(docker, label).await?;
    Ok(Removed {
        containers: found.containers.len(),
        networks: found.networks.len(),
        volumes: found.volumes.len(),
        services: objects.services.len(),
        swarm_objects: objects.secrets.len() + objects.configs.len(),
    })
}

/// A resource removed between listing and removing is not an error, and neither is one
/// another process is removing right now (two runs' reapers may find the same leftovers).
fn is_gone(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { status_code: 404, .. } => true,
        B::DockerResponseServerError { status_code: 409, message } => message.contains("already in progress"),
        _ => false,
    }
}

/// What the reaper removed, per dead owner pid.
#[derive(Debug, Clone, Default)]
pub struct ReapReport {
    /// Everything removed, over every dead owner.
    pub removed: Removed,
    /// The pids of the dead owners whose resources were removed.
    pub owners: Vec<u32>,
    /// Work directories (override files) of dead runs, and the shared-stack state of nextest
    /// runs that are over, removed from the temp directory.
    pub workdirs: usize,
    /// Whether it left a swarm that a dead harness run had started.
    pub left_swarm: bool,
}

/// The name prefix of a run's work directory under the temp directory:
/// `harness-<pid>.<start ticks>-`. The owner in the name is what lets a later reap tell a
/// dead run's directory (removed) from a live one's (kept): a SIGKILLed run never drops its
/// `TempDir`.
pub fn workdir_prefix(me: &RunIdentity) -> String {
    format!("harness-{}.{}-", me.pid, me.start_ticks)
}

/// The owner (pid, start ticks) a work directory's name records, if it is one.
fn workdir_owner(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("harness-")?;
    let (owner, random) = rest.split_once('-')?;
    let (pid, ticks) = owner.split_once('.')?;
    (!random.is_empty()).then_some(())?;
    Some((pid.parse().ok()?, ticks.parse().ok()?))
}

/// The work directories process `pid` has under the temp directory, by name: what a test or
/// `bench soak` counts after a run to prove it left none.
pub fn workdirs_of(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| workdir_owner(n).is_some_and(|(p, _)| p == pid))
        .collect()
}

/// Removes the work directories under `base` whose owner is gone (no such pid, or a pid
/// that started at another time), given a way to look up a pid's start time. Directories
/// of live runs, of this process, and anything not named like a work directory stay.
pub fn sweep_workdirs(base: &std::path::Path, start_of: impl Fn(u32) -> Option<u64>) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, ticks)) = name.to_str().and_then(workdir_owner) else { continue };
        if start_of(pid) == Some(ticks) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes every resource whose owning harness process is gone, kept runs included (the
/// explicit `harness reap`).
pub async fn reap(docker: &Docker) -> Result<ReapReport> {
    let report = reap_runs(docker, &[]).await?;
    // Every kept run's owner is gone by now, so what the markers protected went too.
    let _ = std::fs::remove_dir_all(kept_dir());
    Ok(report)
}

/// Where [`mark_kept`] records runs a user asked to keep.
fn kept_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("harness-kept")
}

/// Records that this process's run is to be kept after it exits (a test that failed with
/// `HARNESS_KEEP_ON_FAILURE` set): the automatic reap at the start of every later run
/// spares it, or the next test of the same nextest run would remove it within seconds.
/// `harness down PROJECT` and `harness reap` still remove it.
pub fn mark_kept() -> Result<()> {
    let dir = kept_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot record a kept run", &dir, e))?;
    let path = dir.join(&RunIdentity::current().run_id);
    std::fs::write(&path, b"").map_err(|e| Error::io("cannot record a kept run", &path, e))
}

/// Removes the resources of dead owners, except runs named in `spare`.
async fn reap_runs(docker: &Docker, spare: &[String]) -> Result<ReapReport> {
    let me = RunIdentity::current();
    let mut dead: Vec<(u32, String)> = Vec::new();
    let mut consider = |labels: Option<HashMap<String, String>>| {
        let labels = labels.unwrap_or_default();
        if let labels::Ownership::Orphaned { pid } = labels::ownership(&labels, me, labels::process_start_ticks)
            && let Some(run) = labels.get(labels::RUN_ID)
            && !dead.iter().any(|(_, r)| r == run)
            && !spare.contains(run)
        {
            dead.push((pid, run.clone()));
        }
    };
    let found = list_labelled(docker, labels::OWNER_PID).await?;
    found.containers.into_iter().for_each(|c| consider(c.labels));
    found.networks.into_iter().for_each(|n| consider(n.labels));
    found.volumes.into_iter().for_each(|v| consider(Some(v.labels)));
    swarm::list_labelled(docker, labels::OWNER_PID).await?.services.into_iter().for_each(|(_, l)| consider(Some(l)));

    let current = std::env::var("NEXTEST_RUN_ID").ok();
    let finished = crate::boot::shared::sweep_finished_runs(
        &crate::boot::shared::runs_dir(),
        current.as_deref(),
        std::time::SystemTime::now(),
        labels::process_start_ticks,
    );
    let mut report = ReapReport {
        workdirs: sweep_workdirs(&std::env::temp_dir(), labels::process_start_ticks) + finished,
        ..Default::default()
    };
    for (pid, run) in dead {
        report.removed += remove_labelled(docker, &format!("{}={run}", labels::RUN_ID)).await?;
        report.owners.push(pid);
    }
    // A swarm a dead run started, with nothing left on it, is left again.
    report.left_swarm = swarm::leave_if_ours(docker).await?;
    Ok(report)
}

/// Reaps once per process, before the first boot: every run starts from a clean engine.
pub async fn reap_once(docker: &Docker) -> Result<()> {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_try_init(|| async {
        let kept: Vec<String> = std::fs::read_dir(kept_dir())
            .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        // The reaper is a courtesy to later runs: what it cannot remove (Engine 20.10 can
        // keep a stale endpoint on a network whose container is gone, and then refuses to
        // remove the network) is said, and this run goes on; it never blocks a boot.
        match reap_runs(docker, &kept).await {
            Ok(report) if report.removed != Removed::default() || report.workdirs > 0 || report.left_swarm => {
                crate::progress::note(format!(
                    "reaped {} and {} work directory(ies) left by dead run(s) (pids {:?})",
                    report.removed, report.workdirs, report.owners
                ));
            }
            Ok(_) => {}
            Err(e) => crate::progress::note(format!(
                "warning: the reaper could not remove what a dead run left: {} (hint: `harness reap` tries again; a network with a stale endpoint goes after the engine restarts, e.g. `systemctl restart docker`)",
                crate::errors::chain(&e)
            )),
        }
        Ok::<(), Error>(())
    })
    .await
    .map(|_| ())
}

/// Runs a future to completion on a fresh thread with its own runtime. Teardown happens
/// in `Drop` and in the signal thread, where the caller's runtime (if any) may be busy or
/// single-threaded, so it must not borrow it.
fn blocking<T: Send + 'static>(fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::Io {
            what: "cannot start a runtime for teardown",
            path: "(teardown)".into(),
            source: e,
        })?;
        rt.block_on(fut)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::Io {
            what: "teardown thread panicked",
            path: "(teardown)".into(),
            source: std::io::Error::other("panic"),
        })
    })
}

fn kill_children(pids: &[u32]) {
    for pid in pids {
        // A compose `up` still running would go on creating containers after cleanup. It is
        // started as the leader of its own process group: `docker` runs the compose plugin
        // as a child process, which a SIGKILL of `docker` alone would leave creating
        // containers after the sweep (seen under load: one container, three volumes).
        if let Ok(pid) = i32::try_from(*pid) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).is_err() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// The exit code after a signal's cleanup; 0 means the shell convention, 128 + signal.
static SIGNAL_EXIT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Makes the process exit with `code` after a signal's cleanup instead of 128 + signal, and
/// installs the handler now rather than at the first stack. The CLI uses 2: an interrupted
/// run judged nothing, and its exit codes promise that 2 means "could not judge" (so a gate
/// does not page anyone about the stack). Installing it at once closes a window: a run's
/// work directory exists before its first stack, and a SIGINT there (0.76 s into a soak
/// run) killed the process by default and left the directory behind.
pub fn exit_code_on_signal(code: i32) {
    SIGNAL_EXIT.store(code, std::sync::atomic::Ordering::SeqCst);
    install_signal_handler();
}

pub(crate) fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                crate::progress::note(format!(
                    "cannot install signal handlers, a SIGTERM will leave stacks for the reaper: {e}"
                ));
                return;
            }
        };
        std::thread::Builder::new()
            .name("harness-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    on_signal(sig);
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| crate::progress::note(format!("cannot start the signal thread: {e}")));
    });
}

/// Set once a signal's cleanup has begun; that thread ends the process.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by a front-end before it exits: if a signal's cleanup is running, waits for it
/// (it exits the process) instead of exiting first and cutting the cleanup short. The
/// interrupted work usually fails on its own at the same moment, which is no reason to
/// leave its containers behind.
pub fn wait_for_signal_cleanup() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        // Bounded: a cleanup stuck on a dead engine must not hang the process forever.
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}

fn on_signal(sig: i32) -> ! {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let name = match sig {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGINT => "SIGINT",
        _ => "SIGHUP",
    };
    let live: BTreeMap<String, Vec<u32>> = std::mem::take(&mut *lock_live());
    crate::progress::note(format!("caught {name}; removing {} stack(s) and this run's containers", live.len()));
    for children in live.values() {
        kill_children(children);
    }
    let run_label = format!("{}={}", labels::RUN_ID, RunIdentity::current().run_id);
    let projects: Vec<String> = live.into_keys().collect();
    let result = blocking(async move {
        let docker = engine::connect().await?;
        let mut removed = Removed::default();
        // A create the killed `compose up` had already sent still completes in the daemon,
        // after the first listing, and on a loaded host that took longer than one 500 ms
        // pause (a CI run left a container and a volume): sweep until the engine has shown
        // nothing new for QUIET_PASSES passes in a row (3 s), at most MAX_PASSES (12 s).
        const QUIET_PASSES: usize = 6;
        const MAX_PASSES: usize = 24;
        // A refusal is no reason to stop: a volume the in-flight create is attaching is "in
        // use" for a moment (a CI run bailed out on it and left a container and a volume),
        // so the pass counts as not quiet and the next one tries again.
        let labels: Vec<String> =
            projects.iter().flat_map(|p| project_labels(p)).chain(std::iter::once(run_label)).collect();
        let (mut quiet, mut refused) = (0, None);
        for _ in 0..MAX_PASSES {
            let mut found = Removed::default();
            let mut failed = false;
            for label in &labels {
                match remove_labelled(&docker, label).await {
                    Ok(r) => found += r,
                    Err(e) => {
                        failed = true;
                        refused = Some(e);
                    }
                }
            }
            removed += found;
            quiet = if found == Removed::default() && !failed { quiet + 1 } else { 0 };
            if quiet >= QUIET_PASSES {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        // A swarm this run started goes with its last service.
        if let Err(e) = swarm::leave_if_ours(&docker).await {
            crate::progress::note(format!("could not leave the swarm this run started: {e}"));
        }
        if quiet >= QUIET_PASSES {
            return Ok(removed);
        }
        refused.map_or(Ok(removed), Err)
    });
    match result {
        Ok(removed) => crate::progress::note(format!("removed {removed}")),
        Err(e) => {
            crate::progress::note(format!("cleanup after {name} failed, the next run's reaper will finish it: {e}"))
        }
    }
    // `exit` below runs no destructor, so this run's work directories (its `TempDir`s) go
    // here: `bench soak` found one left by 3 of 5 interrupted runs.
    // The reaper's own sweep, with this process counted as gone.
    let me = RunIdentity::current().pid;
    sweep_workdirs(&std::env::temp_dir(), |pid| (pid != me).then(|| labels::process_start_ticks(pid)).flatten());
    let code = SIGNAL_EXIT.load(std::sync::atomic::Ordering::SeqCst);
    if code != 0 {
        crate::progress::note(format!("interrupted by {name}: nothing was judged (exit {code})"));
        std::process::exit(code)
    }
    std::process::exit(128 + sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_adds_up_and_prints() {
        let mut r = Removed { containers: 1, networks: 2, ..Removed::default() };
        r += Removed { containers: 4, volumes: 3, ..Removed::default() };
        assert_eq!(r.to_string(), "5 container(s), 2 network(s), 3 volume(s)");
        r += Removed { services: 2, swarm_objects: 1, ..Removed::default() };
        assert_eq!(
            r.to_string(),
            "5 container(s), 2 network(s), 3 volume(s), 2 swarm service(s), 1 secret(s)/config(s)"
        );
    }

    #[test]
    fn work_directory_names_carry_their_owner() {
        let me = RunIdentity { run_id: "r".into(), pid: 41, start_ticks: 7, host: "h".into() };
        let name = format!("{}AbC123", workdir_prefix(&me));
        assert_eq!(workdir_owner(&name), Some((41, 7)));
        for other in [
            "harness-AbC123",
            "harness-41.7-",
            "harness-x.7-a",
            "harness-kept",
            "harness-provision.lock",
            "other-41.7-a",
        ] {
            assert_eq!(workdir_owner(other), None, "{other}");
        }
    }

    #[test]
    fn sweep_removes_only_dead_owners_work_directories() {
        let base = tempfile::tempdir().expect("tempdir");
        let make = |name: &str| {
            std::fs::create_dir(base.path().join(name)).expect("mkdir");
            std::fs::write(base.path().join(name).join("harness.labels.json"), "{}").expect("write");
        };
        make("harness-100.5-dead01"); // pid 100 is gone
        make("harness-200.9-reused"); // pid 200 is alive but started at another time: reused
        make("harness-300.3-alive1"); // pid 300 alive, same start: a live run
        make("harness-AbC123"); // an old unowned name: not judged, kept
        make("unrelated");
        let start_of = |pid: u32| match pid {
            200 => Some(10),
            300 => Some(3),
            _ => None,
        };
        assert_eq!(sweep_workdirs(base.path(), start_of), 2);
        let mut left: Vec<String> = std::fs::read_dir(base.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["harness-300.3-alive1", "harness-AbC123", "unrelated"]);
    }

    #[test]
    fn workdirs_of_finds_one_pid_s_directories_by_name() {
        // A pid above the kernel's maximum: no real run can own these.
        let name = "harness-4000000001.7-wdtest";
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        let found = workdirs_of(4_000_000_001);
        let none = workdirs_of(400_000_000);
        std::fs::remove_dir_all(&path).expect("cleanup");
        assert_eq!(found, [name]);
        assert!(none.is_empty(), "a pid prefix is not the pid: {none:?}");
    }

    #[test]
    fn kept_guard_is_not_live() {
        let mut g = Guard::register("hx-test-keep");
        assert!(lock_live().contains_key("hx-test-keep"));
        g.track_child(1);
        g.keep();
        assert!(!lock_live().contains_key("hx-test-keep"));
        drop(g);
    }
}
