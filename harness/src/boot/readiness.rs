//! Real readiness: the service's own healthcheck command, run by the harness through
//! `docker exec` at a fixed cadence from the moment its container starts.
//!
//! Docker runs the same command, but only every `interval`; running it ourselves every
//! 250 ms tells when the service really became ready, independently of that interval.

use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

/// How often the harness runs a service's healthcheck while waiting for it.
pub const DEFAULT_CADENCE: Duration = Duration::from_millis(250);
/// Output kept from one probe run, for error messages; checks print a line or two.
const OUTPUT_CAP: usize = 2048;

/// The command a healthcheck `test` runs, as `docker exec` needs it, or `None` when the
/// test disables the check.
pub fn exec_command(test: &[String]) -> Option<Vec<String>> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
        }
        // Compose passes a bare string test through as CMD-SHELL; a bare list is CMD.
        Some((first, _)) if first != "NONE" && first != "CMD" && first != "CMD-SHELL" => Some(test.to_vec()),
        _ => None,
    }
}

/// The outcome of one run of a check command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The command's exit code; `None` when it did not finish (timed out or failed to start).
    pub exit_code: Option<i64>,
    /// Its stdout and stderr, interleaved and capped; or why it did not finish.
    pub output: String,
    /// How long the run took.
    pub took: Duration,
}

impl ProbeResult {
    /// Whether the command exited 0.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// One line for error messages: exit code, time and the start of the output.
    pub fn summary(&self) -> String {
        let code = self.exit_code.map_or_else(|| "no exit code".to_owned(), |c| format!("exit {c}"));
        let out = self.output.trim().replace('\n', " | ");
        let out: String = out.chars().take(200).collect();
        format!("{code} after {}ms: {}", self.took.as_millis(), if out.is_empty() { "(no output)" } else { &out })
    }
}

/// Runs `cmd` once in `container`, bounded by `timeout`.
pub async fn run_once(docker: &Docker, container: &str, cmd: &[String], timeout: Duration) -> ProbeResult {
    let started = Instant::now();
    let fail = |output: String| ProbeResult { exit_code: None, output, took: started.elapsed() };
    let attempt = async {
        let exec = docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("exec create failed: {e}"))?;
        let mut output = String::new();
        if let StartExecResults::Attached { output: mut stream, .. } = docker
            .start_exec(&exec.id, Some(StartExecOptions { detach: false, ..Default::default() }))
            .await
            .map_err(|e| format!("exec start failed: {e}"))?
        {
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                if output.len() < OUTPUT_CAP {
                    output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
        }
        let inspect = docker.inspect_exec(&exec.id).await.map_err(|e| format!("exec inspect failed: {e}"))?;
        Ok::<_, String>((inspect.exit_code, output))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok((exit_code, output))) => ProbeResult { exit_code, output, took: started.elapsed() },
        Ok(Err(msg)) => fail(msg),
        Err(_) => fail(format!("timed out after {}ms", timeout.as_millis())),
    }
}

/// What a wait waits for. Closed on purpose: boot, restart, recreate, restore and recovery
/// all wait through [`wait`] with one of these, so every wait has a deadline and every
/// give-up names what it saw last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// The container's own effective healthcheck command (image `HEALTHCHECK` merged with
    /// compose) passes, run by the harness every cadence: as soon as the service is really
    /// ready, not when Docker's interval next comes round. A container without a
    /// healthcheck only has to be running.
    Ready,
    /// This command passes inside the container (e.g. `pg_isready` over TCP, where the
    /// healthcheck uses the socket).
    Command(Vec<String>),
}

impl WaitFor {
    fn describe(&self) -> String {
        match self {
            WaitFor::Ready => "its healthcheck command to pass".to_owned(),
            WaitFor::Command(cmd) => format!("`{}` to pass", cmd.join(" ")),
        }
    }
}

/// One wait: what, for how long at most, how often to look, and how long one probe run
/// may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// What to wait for.
    pub what: WaitFor,
    /// The most the whole wait may take.
    pub deadline: Duration,
    /// How often to run the check.
    pub cadence: Duration,
    /// How long one run of the check may take.
    pub probe_timeout: Duration,
}

impl Wait {
    /// A wait bounded by `deadline` (callers pass the stack's configured boot timeout, or
    /// what is left of a measurement window), at the default cadence.
    pub fn new(what: WaitFor, deadline: Duration) -> Wait {
        Wait { what, deadline, cadence: DEFAULT_CADENCE, probe_timeout: DEFAULT_PROBE_TIMEOUT }
    }

    /// Sets how often to run the check.
    pub fn with_cadence(mut self, cadence: Duration) -> Wait {
        self.cadence = cadence;
        self
    }

    /// Sets how long one run of the check may take.
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Wait {
        self.probe_timeout = timeout;
        self
    }
}

/// How long one probe run may take when the healthcheck does not say.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A wait that succeeded: when the passing run started, and how many runs it took (0 when
/// the container has no healthcheck and running was enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited {
    /// When the passing run (or the running check) started.
    pub at: SystemTime,
    /// How many check runs it took; 0 when there is no healthcheck.
    pub runs: u32,
}

/// A wait that gave up, with what was seen last: the container's state, Docker's health
/// log and the harness's own last probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    /// How long it waited: the whole deadline.
    pub waited: Duration,
    /// What it waited for, e.g. "its healthcheck command to pass".
    pub what: String,
    /// The container's last state: status, health and exit code.
    pub state: String,
    /// The tail of Docker's health log, or `(none)`.
    pub health_log: String,
    /// A summary of the harness's last probe run, or `(not probed)`.
    pub last_probe: String,
}

/// Waits as `w` says. Each failing probe run is handed to `on_failure` (the boot keeps
/// the last one per service for its own timeout message).
pub async fn wait(
    docker: &Docker,
    container: &str,
    w: &Wait,
    mut on_failure: impl FnMut(&ProbeResult),
) -> Result<Waited, GaveUp> {
    let mut last: Option<ProbeResult> = None;
    let attempt = async {
        let cmd = match &w.what {
            WaitFor::Command(cmd) => Some(cmd.clone()),
            WaitFor::Ready => {
                let inspect = docker.inspect_container(container, None).await.ok();
                let test = inspect.and_then(|c| c.config?.healthcheck?.test).unwrap_or_default();
                exec_command(&test)
            }
        };
        let mut tick = tokio::time::interval(w.cadence);
        // A run slower than the cadence delays the next one instead of bunching them up.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut runs = 0u32;
        loop {
            tick.tick().await;
            let at = SystemTime::now();
            let Some(cmd) = &cmd else {
                // No healthcheck: running is all there is to wait for.
                if running(docker, container).await {
                    return Waited { at, runs: 0 };
                }
                continue;
            };
            runs += 1;
            let result = run_once(docker, container, cmd, w.probe_timeout).await;
            if result.passed() {
                return Waited { at, runs };
            }
            on_failure(&result);
            last = Some(result);
        }
    };
    match tokio::time::timeout(w.deadline, attempt).await {
        Ok(waited) => Ok(waited),
        Err(_) => {
            let (state, health_log) = last_seen(docker, container).await;
            Err(GaveUp {
                waited: w.deadline,
                what: w.what.describe(),
                state,
                health_log,
                last_probe: last.as_ref().map_or_else(|| "(not probed)".to_owned(), ProbeResult::summary),
            })
        }
    }
}

async fn running(docker: &Docker, container: &str) -> bool {
    docker.inspect_container(container, None).await.ok().and_then(|c| c.state?.running).unwrap_or(false)
}

/// The container's state and the tail of Docker's health log, for a timeout message.
pub async fn last_seen(docker: &Docker, container: &str) -> (String, String) {
    let Ok(c) = docker.inspect_container(container, None).await else {
        return ("not found".to_owned(), "(none)".to_owned());
    };
    let Some(st) = c.state else { return ("unknown".to_owned(), "(none)".to_owned()) };
    let status = st.status.map(|s| s.to_string()).unwrap_or_default();
    let health = st.health.as_ref().and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default();
    let state = format!("{status}, health {health}, exit code {}", st.exit_code.unwrap_or(0));
    let log: Vec<String> = st
        .health
        .and_then(|h| h.log)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .take(3)
        .map(|l| format!("exit {}: {}", l.exit_code.unwrap_or(-1), l.output.unwrap_or_default().trim()))
        .collect();
    (state, if log.is_empty() { "(none)".to_owned() } else { log.join(" | ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[track_caller]
    fn check(test: &[&str], expected: Option<&[&str]>) {
        assert_eq!(exec_command(&v(test)), expected.map(v));
    }

    #[test]
    fn turns_healthcheck_tests_into_exec_commands() {
        check(&["CMD", "/app", "healthcheck"], Some(&["/app", "healthcheck"]));
        check(&["CMD-SHELL", "pg_isready -q"], Some(&["/bin/sh", "-c", "pg_isready -q"]));
        check(&["NONE"], None);
        check(&[], None);
        check(&["CMD"], None);
        check(&["/bin/true"], Some(&["/bin/true"]));
    }

    #[test]
    fn summary_is_one_short_line() {
        let r = ProbeResult { exit_code: Some(1), output: "no\nroute\n".into(), took: Duration::from_millis(12) };
        assert_eq!(r.summary(), "exit 1 after 12ms: no | route");
        assert!(!r.passed());
        let r = ProbeResult { exit_code: None, output: String::new(), took: Duration::ZERO };
        assert_eq!(r.summary(), "no exit code after 0ms: (no output)");
    }
}
