//! One booted stack shared by the read-only tests of a nextest run.
//!
//! nextest runs every test in its own process, so no in-process cache can share a stack.
//! Instead, the first test to ask starts a **holder**: a detached `harness hold` process
//! that boots the stack, owns it (its pid is the owner in the stack's labels) and writes
//! the project's description to a state file. Every test, the first included, takes a
//! lease (a file named after its pid and start time) and attaches to the running project.
//! The holder removes the stack once no lease has had a live process for [`IDLE`]. A
//! SIGTERM to the holder removes it at once; after a SIGKILL the next run's reaper does.
//!
//! All decisions (attach, start a holder, give up the stack) are taken under one file
//! lock per stack, so a test never attaches to a stack its holder is tearing down.
//! Outside nextest (no `NEXTEST_RUN_ID`) there is nothing to share with, and `acquire`
//! boots a private stack.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::boot::stack::{Stack, StackConfig, project_name};
use crate::boot::timeline::BootTimeline;
use crate::engine::compose::ComposeProject;
use crate::engine::labels::{self, RunIdentity};
use crate::errors::{Error, Result, tail_lines};
use crate::workspace;

/// How long a holder keeps a stack nobody holds a lease on: long enough to bridge the gap
/// between two tests of the same group, short enough to end soon after the run.
pub const IDLE: Duration = Duration::from_secs(20);

/// What a holder publishes about the stack it owns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The compose project, `hx<run id>-<name>`.
    pub project: String,
    /// Every file passed to compose, the harness's overrides included.
    pub files: Vec<PathBuf>,
    /// The stack directory.
    pub dir: PathBuf,
    /// The holder's boot timeline.
    pub timeline: BootTimeline,
    /// The pid of the holder process, which owns the stack.
    pub holder_pid: u32,
}

/// A stack for a read-only test: shared through a holder, or private outside nextest.
#[derive(Debug)]
pub struct SharedStack {
    /// The stack, attached from the holder or booted privately.
    pub stack: Stack,
    _lease: Option<Lease>,
}

impl std::ops::Deref for SharedStack {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

/// A lease file; removed on drop. A crashed test leaves it, but the holder ignores
/// leases whose process is gone.
#[derive(Debug)]
struct Lease(PathBuf);

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The state directory for a stack within a run, e.g. `/tmp/harness-shared/<run>/<name>`.
pub fn state_dir(run: &str, cfg: &StackConfig) -> PathBuf {
    runs_dir().join(run).join(project_name("", &cfg.name))
}

/// Where every run's state directories live: `<temp>/harness-shared`.
pub fn runs_dir() -> PathBuf {
    std::env::temp_dir().join("harness-shared")
}

/// How long a run's state must have been untouched before a later run removes it.
const FINISHED_AFTER: Duration = Duration::from_secs(600);

/// Removes the state directories of nextest runs that are over: not `current`, with no
/// live holder and no live lease in any of its stacks, and nothing written for
/// [`FINISHED_AFTER`]. Nothing else says a run is over (nextest leaves no marker), and the
/// quiet period keeps this from removing the directory of a live run between two tests that
/// share a stack. Each run left one (about 20 KB: a lock, a holder log); they piled up.
/// Returns how many run directories went. `start_of` looks up a pid's start time.
pub fn sweep_finished_runs(
    base: &Path,
    current: Option<&str>,
    now: std::time::SystemTime,
    start_of: impl Fn(u32) -> Option<u64>,
) -> usize {
    let Ok(runs) = std::fs::read_dir(base) else { return 0 };
    let mut removed = 0;
    for run in runs.flatten() {
        if current.is_some_and(|c| run.file_name().to_str() == Some(c)) || !run.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if run_is_over(&run.path(), now, &start_of) && std::fs::remove_dir_all(run.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A run directory whose stacks have no live holder or lease and whose newest entry is older
/// than [`FINISHED_AFTER`]. Anything unreadable counts as in use.
fn run_is_over(run: &Path, now: std::time::SystemTime, start_of: &impl Fn(u32) -> Option<u64>) -> bool {
    let quiet = |meta: &std::fs::Metadata| {
        meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= FINISHED_AFTER)
    };
    let Ok(stacks) = std::fs::read_dir(run) else { return false };
    for stack in stacks.flatten() {
        let Ok(meta) = stack.metadata() else { return false };
        if !quiet(&meta) {
            return false;
        }
        let Ok(entries) = std::fs::read_dir(stack.path()) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.metadata().is_ok_and(|m| quiet(&m)) {
                return false;
            }
            if let Some(rest) = name.strip_prefix("lease-")
                && lease_alive(rest, start_of)
            {
                return false;
            }
        }
        if holder_pid(&stack.path()).is_some_and(|pid| start_of(pid).is_some()) {
            return false;
        }
    }
    true
}

/// The pid the stack directory `dir` records for its holder, if any.
fn holder_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("holder.pid")).ok().and_then(|p| p.trim().parse().ok())
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> Error + 'p {
    move |e| Error::io(what, path, e)
}

/// An exclusive lock on a stack's state directory, held until dropped.
#[derive(Debug)]
struct DirLock {
    _file: std::fs::File,
}

async fn lock(dir: &Path) -> Result<DirLock> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("cannot open the shared-stack lock", &path))?;
    let locked = tokio::task::spawn_blocking(move || fs4::fs_std::FileExt::lock_exclusive(&file).map(|()| file))
        .await
        .map_err(|e| Error::io("shared-stack lock task failed", dir, std::io::Error::other(e)))?;
    Ok(DirLock { _file: locked.map_err(io("cannot take the shared-stack lock", &path))? })
}

fn alive(pid: u32) -> bool {
    labels::process_start_ticks(pid).is_some()
}

fn read_state(dir: &Path) -> Option<State> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    serde_json::from_str::<State>(&text).ok().filter(|s| alive(s.holder_pid))
}

/// The `harness` binary (package harness-cli) that runs holders: `HARNESS_BIN`; else the
/// one beside the running test binary (`target/<profile>/deps/..` holds `harness`, so any
/// target dir and profile work); else the workspace's debug build. The nextest setup
/// script builds it before any test runs; a library cannot ask cargo to build another
/// package's binary for it.
fn harness_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HARNESS_BIN") {
        return PathBuf::from(bin);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|profile| profile.join("harness")))
        .filter(|bin| bin.is_file());
    if let Some(bin) = beside {
        return bin;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace::root().join("target"), PathBuf::from);
    target.join("debug").join("harness")
}

/// A stack for read-only checks: the run's shared one, or a private one outside nextest.
pub async fn acquire(cfg: StackConfig) -> Result<SharedStack> {
    let Some(run) = std::env::var("NEXTEST_RUN_ID").ok().filter(|r| !r.is_empty()) else {
        return Ok(SharedStack { stack: Stack::boot(cfg).await?, _lease: None });
    };
    let bin = harness_bin();
    if !bin.is_file() {
        tracing::warn!(bin = %bin.display(), "no harness binary to run a shared holder; booting a private stack");
        return Ok(SharedStack { stack: Stack::boot(cfg).await?, _lease: None });
    }
    let dir = state_dir(&run, &cfg);
    std::fs::create_dir_all(&dir).map_err(io("cannot create the shared-stack directory", &dir))?;
    let me = RunIdentity::current();
    // A counter keeps two acquisitions in one process from sharing (and dropping) one file.
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let lease = Lease(dir.join(format!("lease-{}-{}-{n}", me.pid, me.start_ticks)));
    std::fs::write(&lease.0, b"").map_err(io("cannot write a lease", &lease.0))?;

    {
        let _lock = lock(&dir).await?;
        let holder_running = holder_pid(&dir).is_some_and(alive);
        if read_state(&dir).is_none() && !holder_running {
            spawn_holder(&bin, &dir, &cfg)?;
        }
    }

    // The holder boots outside the lock; wait for its state (or its death).
    let deadline = Instant::now() + cfg.boot_timeout + Duration::from_secs(120);
    loop {
        if let Some(state) = {
            let _lock = lock(&dir).await?;
            read_state(&dir)
        } {
            let project = ComposeProject::new(state.project, state.files);
            let stack = Stack::attach(project, state.dir, state.timeline).await?;
            return Ok(SharedStack { stack, _lease: Some(lease) });
        }
        let holder = holder_pid(&dir);
        if holder.is_none_or(|p| !alive(p)) || Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("holder.log")).unwrap_or_default();
            return Err(Error::Provision {
                detail: format!("the shared-stack holder for {} gave up: {}", cfg.stack.display(), tail_lines(&log, 3)),
                hint: format!("see {}", dir.join("holder.log").display()),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn spawn_holder(bin: &Path, dir: &Path, cfg: &StackConfig) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let log_path = dir.join("holder.log");
    let log = std::fs::File::create(&log_path).map_err(io("cannot create the holder log", &log_path))?;
    let log2 = log.try_clone().map_err(io("cannot share the holder log", &log_path))?;
    let _ = std::fs::remove_file(dir.join("state.json"));
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("hold").arg("--state-dir").arg(dir).arg("--name").arg(&cfg.name);
    // The test's own deadline, not the CLI's default: the wait below is measured from it.
    cmd.arg("--boot-timeout").arg(format!("{}ms", cfg.boot_timeout.as_millis()));
    for o in &cfg.overrides {
        cmd.arg("--override").arg(o);
    }
    cmd.arg(&cfg.stack)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: nextest's signals to a test's group must not reach the
        // holder, which outlives the test that started it.
        .process_group(0);
    let child = cmd.spawn().map_err(|e| Error::Spawn {
        program: bin.display().to_string(),
        hint: "build it with `cargo build -p harness-cli`".into(),
        source: e,
    })?;
    std::fs::write(dir.join("holder.pid"), child.id().to_string()).map_err(io("cannot record the holder", dir))?;
    Ok(())
}

/// The holder's side (`harness hold`): boot, publish, wait until no live lease remains for
/// [`IDLE`], then give the stack up under the lock and remove it.
pub async fn hold(cfg: StackConfig, dir: &Path) -> Result<()> {
    let stack = Stack::boot(cfg).await?;
    let state = State {
        project: stack.project.project.clone(),
        files: stack.project.files.clone(),
        dir: stack.dir.clone(),
        timeline: stack.timeline.clone(),
        holder_pid: std::process::id(),
    };
    let tmp = dir.join("state.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&state).unwrap_or_default()).map_err(io("cannot write state", &tmp))?;
    std::fs::rename(&tmp, dir.join("state.json")).map_err(io("cannot publish state", dir))?;
    eprintln!("harness hold: {} ready, waiting for leases", state.project);
    let mut idle_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let live = live_leases(dir);
        if live > 0 {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() < IDLE {
            continue;
        }
        // Give up under the lock, so no test attaches to a stack being removed.
        let _lock = lock(dir).await?;
        if live_leases(dir) > 0 {
            idle_since = None;
            continue;
        }
        let _ = std::fs::remove_file(dir.join("state.json"));
        let _ = std::fs::remove_file(dir.join("holder.pid"));
        let removed = stack.down().await?;
        eprintln!("harness hold: idle for {}s, removed {removed}", IDLE.as_secs());
        return Ok(());
    }
}

/// Counts leases whose process is alive, deleting the others.
fn live_leases(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut live = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("lease-") else { continue };
        if lease_alive(rest, labels::process_start_ticks) {
            live += 1;
        } else {
            let _ = std::fs::remove_file(e.path());
        }
    }
    live
}

/// Whether a lease named `PID-START-N` belongs to a live process (pure; start lookup injected).
fn lease_alive(rest: &str, start_of: impl Fn(u32) -> Option<u64>) -> bool {
    let mut parts = rest.splitn(3, '-');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else { return false };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    start_of(pid).is_some_and(|actual| start == 0 || actual == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, alive: &[(u32, u64)], expected: bool) {
        let table: std::collections::HashMap<u32, u64> = alive.iter().copied().collect();
        assert_eq!(lease_alive(name, |p| table.get(&p).copied()), expected, "{name}");
    }

    /// A run directory `base/<run>/<stack>` holding `files`, all last written `age` ago.
    fn run_dir(base: &Path, run: &str, files: &[(&str, &str)], age: Duration) {
        let stack = base.join(run).join("hxref");
        std::fs::create_dir_all(&stack).expect("mkdir");
        let when = std::time::SystemTime::now() - age;
        for (name, text) in files {
            let f = std::fs::File::create(stack.join(name)).expect("create");
            std::io::Write::write_all(&mut &f, text.as_bytes()).expect("write");
            f.set_modified(when).expect("mtime");
        }
        std::fs::File::open(&stack).and_then(|d| d.set_modified(when)).expect("dir mtime");
    }

    #[test]
    fn only_runs_that_are_over_are_swept() {
        let base = tempfile::tempdir().expect("tempdir");
        let old = Duration::from_secs(3600);
        let fresh = Duration::from_secs(5);
        run_dir(base.path(), "over", &[("lock", ""), ("holder.log", "idle")], old);
        run_dir(base.path(), "dead-holder", &[("lock", ""), ("holder.pid", "10")], old);
        run_dir(base.path(), "live-holder", &[("lock", ""), ("holder.pid", "11")], old);
        run_dir(base.path(), "live-lease", &[("lock", ""), ("lease-11-500-0", "")], old);
        run_dir(base.path(), "recent", &[("lock", "")], fresh);
        run_dir(base.path(), "current", &[("lock", "")], old);
        let start_of = |pid: u32| (pid == 11).then_some(500);
        let swept = sweep_finished_runs(base.path(), Some("current"), std::time::SystemTime::now(), start_of);
        assert_eq!(swept, 2);
        let mut left: Vec<String> = std::fs::read_dir(base.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["current", "live-holder", "live-lease", "recent"]);
    }

    #[test]
    fn leases_belong_to_live_processes_only() {
        check("10-500", &[(10, 500)], true);
        check("10-500-3", &[(10, 500)], true);
        check("10-500", &[], false);
        check("10-500", &[(10, 999)], false);
        check("10-0", &[(10, 999)], true);
        check("garbage", &[(10, 500)], false);
        check("x-1", &[], false);
    }

    #[test]
    fn state_dirs_are_per_run_and_per_name() {
        let a = state_dir("run1", &StackConfig::new("compose/reference").with_name("criteria"));
        let b = state_dir("run2", &StackConfig::new("compose/reference").with_name("criteria"));
        let c = state_dir("run1", &StackConfig::new("compose/reference").with_name("other"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.ends_with("run1/hx-criteria"), "{}", a.display());
    }
}
