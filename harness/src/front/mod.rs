//! The front door: what a downstream test needs to boot its stack, judge it and read the
//! verdicts, in a few lines.
//!
//! [`Compose`] is a consuming builder (as testcontainers' requests are): every setting has a
//! default, so `Compose::new(dir).start().await?` is a whole boot. The [`RunningStack`] it
//! returns judges one criterion or a catalogue into a [`Judgement`], reaches services
//! (published URL, exec, logs) and removes everything on drop, or keeps it after a failed
//! test when `HARNESS_KEEP_ON_FAILURE` is set. Everything here goes through the same
//! library code as the CLI and the suites: [`Stack`] boots, [`judge::full`] judges.

mod judgement;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use judgement::Judgement;

use crate::boot::stack::{Stack, StackConfig};
use crate::errors::{Error, Result};
use crate::judge::criteria::{Criterion, Selection};
use crate::judge::{self, Context};
use crate::policy::{self, Policy};
use crate::report::{self, StackReport};

/// The environment variable that keeps a failed test's stack up for inspection: `1`,
/// `true` or `yes` (any case) turn it on.
pub const KEEP_ON_FAILURE: &str = "HARNESS_KEEP_ON_FAILURE";

/// How long [`RunningStack::exec`] lets a command run: long enough for a client call or a
/// migration check, short enough that a hung command fails the test with a message.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// How many log lines [`RunningStack::logs`] returns: enough to see why a service failed,
/// bounded so a chatty service cannot flood a panic message.
pub const LOG_TAIL: usize = 200;

/// Bounds `docker compose logs`, which only reads what the engine already has.
const LOGS_TIMEOUT: Duration = Duration::from_secs(30);

/// Numbers every [`Compose`] made in this process, so two builders never share a project
/// even when their name hints are equal.
static SEQ: AtomicU32 = AtomicU32::new(0);

/// A compose stack to boot: a directory holding `compose.yaml` (or a `stack.toml` naming
/// its files), or a compose file.
///
/// A consuming builder: each `with_*` returns the changed value, and
/// [`start`](Compose::start) boots it. Every boot gets a compose project of its own,
/// `hx<run id>-<n>-<test name>`, so tests that share an engine (in one process or many)
/// never collide, whatever names they give.
///
/// ```no_run
/// # async fn demo() -> harness::Result<()> {
/// use std::time::Duration;
///
/// let stack = harness::Compose::new("deploy/compose")
///     .with_override("deploy/compose.slow-ci.yaml")
///     .with_boot_timeout(Duration::from_secs(120))
///     .start()
///     .await?;
/// # drop(stack);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Compose does nothing until `.start().await`"]
pub struct Compose {
    config: StackConfig,
    policy: Option<PathBuf>,
    seq: u32,
    hint: String,
}

impl Compose {
    /// A stack from `dir`; a relative path is read from the current directory, which for
    /// `cargo test` is the test's package root.
    ///
    /// The policy is `acceptance.toml` in `dir` (the harness defaults when there is none),
    /// the boot deadline 180 s, and the project is named after the running test (libtest
    /// names a test's thread after the test).
    ///
    /// ```
    /// let compose = harness::Compose::new("deploy/compose");
    /// assert!(compose.project().starts_with("hx"));
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> Compose {
        let hint = match std::thread::current().name() {
            Some(name) if name != "main" => name.to_owned(),
            _ => "stack".to_owned(),
        };
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        Compose { config: StackConfig::new(dir), policy: None, seq, hint }
    }

    /// Judges the stack by `path` instead of the directory's `acceptance.toml`.
    ///
    /// ```
    /// let compose = harness::Compose::new("deploy/compose").with_policy("deploy/strict.toml");
    /// # drop(compose);
    /// ```
    pub fn with_policy(mut self, path: impl Into<PathBuf>) -> Compose {
        self.policy = Some(path.into());
        self
    }

    /// Bounds the whole boot (default 180 s). A boot that runs out names the service that
    /// was not ready, its container state, health log and the harness's last probe.
    ///
    /// ```
    /// let compose = harness::Compose::new("deploy/compose").with_boot_timeout(std::time::Duration::from_secs(60));
    /// # drop(compose);
    /// ```
    pub fn with_boot_timeout(mut self, timeout: Duration) -> Compose {
        self.config = self.config.with_boot_timeout(timeout);
        self
    }

    /// Layers another compose file on top, as `docker compose -f` does; may be repeated.
    ///
    /// ```
    /// let compose = harness::Compose::new("deploy/compose").with_override("deploy/compose.ci.yaml");
    /// # drop(compose);
    /// ```
    pub fn with_override(mut self, file: impl Into<PathBuf>) -> Compose {
        self.config = self.config.with_override(file);
        self
    }

    /// Names the project after `hint` instead of the test. The project stays unique: the
    /// run id and a per-process number are part of it too.
    ///
    /// ```
    /// let a = harness::Compose::new("deploy/compose").with_name("checkout");
    /// let b = harness::Compose::new("deploy/compose").with_name("checkout");
    /// assert_ne!(a.project(), b.project());
    /// assert!(a.project().ends_with("-checkout"));
    /// ```
    pub fn with_name(mut self, hint: &str) -> Compose {
        hint.clone_into(&mut self.hint);
        self
    }

    /// The compose project [`start`](Compose::start) will create (for `docker compose -p`).
    pub fn project(&self) -> String {
        crate::boot::stack::project_name(&crate::engine::labels::RunIdentity::current().run_id, &self.name())
    }

    /// The number goes first: the project name is cut at 40 characters of the hint, and a
    /// cut must never remove what keeps two projects apart.
    fn name(&self) -> String {
        format!("{}-{}", self.seq, self.hint)
    }

    /// Boots the stack and waits until every service is ready and, where it has a
    /// healthcheck, healthy.
    ///
    /// Before anything starts: the engine is reached, what dead runs left is reaped, the
    /// compose files are resolved, the policy is loaded (so a bad policy fails in a second,
    /// not after a boot), and every image is made available from the harness's recipes.
    /// Everything created carries ownership labels, and the returned stack removes it when
    /// dropped.
    ///
    /// ```no_run
    /// # async fn demo() -> harness::Result<()> {
    /// let stack = harness::Compose::new("deploy/compose").start().await?;
    /// println!("booted project {}", stack.project());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(self) -> Result<RunningStack> {
        let config = self.config.clone().with_name(&self.name());
        let prepared = Stack::prepare(&config).await?;
        let services = prepared.model.service_names();
        let policy = match &self.policy {
            Some(path) => policy::load(path, &services)?,
            None => judge::load_policy_for(&prepared.dir, &prepared.model, &prepared.project.files)?,
        };
        let stack = prepared.start(&config).await?;
        Ok(RunningStack { name: report::display_path(&config.stack), stack, policy })
    }
}

/// A booted stack with its policy. Dropping it removes every container, network and volume
/// it created, unless the test panicked and [`KEEP_ON_FAILURE`] is set: then it stays up and
/// stderr says how to reach and remove it.
///
/// ```no_run
/// # async fn demo() -> harness::Result<()> {
/// use harness::Criterion;
///
/// let stack = harness::Compose::new("deploy/compose").start().await?;
/// stack.judge(Criterion::StartupStack).await?.assert_pass();
/// let api = stack.url("api", 8080).await?;
/// let ping = stack.exec("redis", &["redis-cli", "ping"]).await?;
/// assert!(ping.success(), "{}", ping.output);
/// # let _ = api;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RunningStack {
    stack: Stack,
    policy: Policy,
    /// The stack directory as reports show it (relative to the project's root).
    name: String,
}

impl RunningStack {
    /// The compose project name, for `docker compose -p NAME ...`.
    pub fn project(&self) -> &str {
        self.stack.project_name()
    }

    /// The booted stack itself, for what the front door does not cover (its boot timeline,
    /// its resolved compose model, the Engine API client).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Judges one criterion, running only the step that judges it (the startup criteria
    /// read the boot's timeline; `user.process` runs the runtime step; a network criterion
    /// runs the network probes), and returns its verdicts, one per subject.
    ///
    /// A destructive criterion (shutdown, recovery, persistence, backup) stops, kills or
    /// recreates services, as [`judge_all`](RunningStack::judge_all) does.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// stack.judge(harness::Criterion::UserProcess).await?.assert_pass();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn judge(&self, criterion: Criterion) -> Result<Judgement> {
        let selection = Selection::new(vec![criterion.id().to_owned()], Vec::new())?;
        self.run(&selection, criterion.id()).await
    }

    /// Judges the whole catalogue.
    ///
    /// **Destructive:** after the read-only checks, the lifecycle step stops and kills
    /// every service (and waits for it to come back), the persistence step restarts
    /// services and recreates the whole stack keeping its volumes, and the backup step
    /// destroys and restores volumes. The stack is usable afterwards, but containers are
    /// new and anything not in a volume is gone. Judge a stack no other test shares.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// stack.judge_all().await?.assert_pass();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn judge_all(&self) -> Result<Judgement> {
        self.run(&Selection::default(), "the whole catalogue").await
    }

    /// Judges every criterion that stops, kills, recreates and replaces nothing
    /// ([`Criterion::read_only`]): startup, configuration, users, healthchecks, secrets,
    /// images, memory, network isolation, routes and observability.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// stack.judge_read_only().await?.assert_pass();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn judge_read_only(&self) -> Result<Judgement> {
        let destructive = Criterion::ALL.iter().filter(|c| !c.read_only()).map(|c| c.id().to_owned()).collect();
        self.run(&Selection::new(Vec::new(), destructive)?, "the read-only catalogue").await
    }

    /// Runs a selection and, under nextest, records the verdicts as evidence for
    /// `harness report` (in the running project's `target/acceptance/evidence/`).
    async fn run(&self, selection: &Selection, what: &str) -> Result<Judgement> {
        let cx = Context { stack: &self.stack, policy: &self.policy };
        let catalogue = judge::full(&cx, selection).await?;
        let test = report::current_test();
        let mut section = StackReport::new(&self.name, catalogue.verdicts.clone(), Some(&test))
            .with_run(&self.stack.record(), &self.policy);
        section.only = selection.only.clone();
        section.skip = selection.skip.clone();
        if let Some(matrix) = &catalogue.matrix {
            section.isolation = report::grid(matrix, &self.policy);
        }
        section.loads = catalogue.loads.clone();
        report::record(section)?;
        Ok(Judgement::new(&self.name, self.project(), what, catalogue.verdicts))
    }

    /// The URL a published container port is reached at from the host,
    /// `http://127.0.0.1:PORT`.
    ///
    /// Fails naming the service and the port, with how to publish it, when the compose file
    /// does not publish that port.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// let base = stack.url("api", 8080).await?;
    /// assert!(base.starts_with("http://127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn url(&self, service: &str, port: u16) -> Result<String> {
        self.stack.require_service(service)?;
        let ports = self.stack.model.raw_service(service)["ports"].as_array().cloned().unwrap_or_default();
        let published = ports.iter().any(|p| p["target"].as_u64() == Some(u64::from(port)));
        let not_published =
            || Error::NotPublished { project: self.project().to_owned(), service: service.to_owned(), port };
        if !published {
            return Err(not_published());
        }
        let addr = self.stack.host_port(service, port).await.map_err(|_| not_published())?;
        Ok(format!("http://{addr}"))
    }

    /// Runs `cmd` in the (first) container of `service`, as `docker exec` does, bounded by
    /// [`EXEC_TIMEOUT`]. A command that ran returns its exit code, whatever it is; one that
    /// could not be started or did not finish in time is an error.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// let out = stack.exec("api", &["/app", "healthcheck"]).await?;
    /// assert!(out.success(), "exit {}: {}", out.exit_code, out.output);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exec(&self, service: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let id = self.stack.container_id(service).await?;
        let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        let result = crate::boot::readiness::run_once(self.stack.docker(), &id, &cmd, EXEC_TIMEOUT).await;
        match result.exit_code {
            Some(exit_code) => Ok(ExecOutput { exit_code, output: result.output }),
            None => Err(Error::Exec {
                project: self.project().to_owned(),
                service: service.to_owned(),
                command: cmd.join(" "),
                detail: result.output,
            }),
        }
    }

    /// The last [`LOG_TAIL`] lines `service` wrote (stdout and stderr, as
    /// `docker compose logs` shows them), without the service prefix.
    ///
    /// ```no_run
    /// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
    /// let logs = stack.logs("api").await?;
    /// assert!(!logs.contains("panicked"), "{logs}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn logs(&self, service: &str) -> Result<String> {
        self.stack.require_service(service)?;
        let tail = LOG_TAIL.to_string();
        let args = ["logs", "--no-color", "--no-log-prefix", "--tail", tail.as_str(), service];
        match tokio::time::timeout(LOGS_TIMEOUT, self.stack.project.run(&args)).await {
            Ok(logs) => logs,
            Err(_) => Err(Error::ComposeCommand {
                project: self.project().to_owned(),
                args: args.join(" "),
                code: "none".into(),
                stderr_tail: format!("no answer within {}s", LOGS_TIMEOUT.as_secs()),
            }),
        }
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        // Only a failed test keeps its stack: a passing one has nothing to look at, and a
        // kept stack costs memory until someone removes it.
        if !std::thread::panicking() || !keep_requested(std::env::var(KEEP_ON_FAILURE).ok().as_deref()) {
            return;
        }
        self.stack.keep();
        if let Err(e) = crate::engine::teardown::mark_kept() {
            eprintln!("harness: {e}; the next run's reaper may remove the kept stack");
        }
        eprintln!("{}", kept_message(self.project()));
    }
}

/// Whether the variable's value asks to keep failed stacks.
fn keep_requested(value: Option<&str>) -> bool {
    value.is_some_and(|v| ["1", "true", "yes"].iter().any(|on| v.trim().eq_ignore_ascii_case(on)))
}

/// What a kept stack's test prints: which project, how to reach it, how to remove it.
fn kept_message(project: &str) -> String {
    format!(
        "harness: the test failed and {KEEP_ON_FAILURE} is set: project {project} is still running\n  \
         see it:    docker compose -p {project} ps\n  \
         logs:      docker compose -p {project} logs SERVICE\n  \
         remove it: harness down {project}   (or `harness reap`, which removes every stack whose test has ended)"
    )
}

/// What a command run by [`RunningStack::exec`] left.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// The command's exit code.
    pub exit_code: i64,
    /// Its stdout and stderr, interleaved as written, cut at 2 kB: enough for an assertion
    /// message, not a way to copy files out.
    pub output: String,
}

impl ExecOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_with_defaults_on_two_threads_get_different_projects() {
        let spawn = |name: &str| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(|| Compose::new("deploy/compose").project())
                .expect("thread")
        };
        // Same test name on both threads: the worst case, as with two processes' tests.
        let a = spawn("tests::boots").join().expect("a");
        let b = spawn("tests::boots").join().expect("b");
        assert_ne!(a, b);
        let run = &crate::engine::labels::RunIdentity::current().run_id;
        for p in [&a, &b] {
            assert!(p.starts_with(&format!("hx{run}-")), "{p}");
            assert!(p.ends_with("-tests-boots"), "{p}");
        }
        // A long test name is cut, but never the number that keeps projects apart.
        let long = "x".repeat(100);
        let (c, d) = (Compose::new("d").with_name(&long).project(), Compose::new("d").with_name(&long).project());
        assert_ne!(c, d);
    }

    #[test]
    fn keep_on_failure_takes_the_usual_yes_values() {
        for (value, expected) in
            [(None, false), (Some(""), false), (Some("0"), false), (Some("1"), true), (Some("TRUE"), true)]
        {
            assert_eq!(keep_requested(value), expected, "{value:?}");
        }
        let msg = kept_message("hxab-1-t");
        assert!(msg.contains("docker compose -p hxab-1-t ps") && msg.contains("harness down hxab-1-t"), "{msg}");
    }
}
