//! Real readiness: the service's own healthcheck command, run by the harness through
//! `docker exec` at a fixed cadence from the moment its container starts.
//!
//! Docker runs the same command, but only every `interval`; running it ourselves every
//! 250 ms tells when the service really became ready, independently of that interval.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use testcontainers::bollard::Docker;
use testcontainers::bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};

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
    pub exit_code: Option<i64>,
    pub output: String,
    pub took: Duration,
}

impl ProbeResult {
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

/// Runs the container's effective healthcheck (image `HEALTHCHECK` merged with compose)
/// every `cadence` until it passes; returns when the passing run started and how many
/// runs it took. `None` when the container has no healthcheck or cannot be inspected.
/// Each failing run is handed to `on_failure`, so callers can keep the last one.
pub async fn poll_until_ready(
    docker: &Docker,
    container: &str,
    cadence: Duration,
    timeout: Duration,
    on_failure: impl FnMut(ProbeResult),
) -> Option<(std::time::SystemTime, u32)> {
    let inspect = docker.inspect_container(container, None).await.ok()?;
    let test = inspect.config.and_then(|c| c.healthcheck).and_then(|h| h.test).unwrap_or_default();
    let cmd = exec_command(&test)?;
    Some(poll_until_passes(docker, container, &cmd, cadence, timeout, on_failure).await)
}

/// Runs `cmd` in `container` every `cadence` until it passes; returns when the passing run
/// started and how many runs it took. Unbounded: callers bound it with a timeout.
pub async fn poll_until_passes(
    docker: &Docker,
    container: &str,
    cmd: &[String],
    cadence: Duration,
    timeout: Duration,
    mut on_failure: impl FnMut(ProbeResult),
) -> (std::time::SystemTime, u32) {
    let mut tick = tokio::time::interval(cadence);
    // A run slower than the cadence delays the next one instead of bunching them up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut runs = 0u32;
    loop {
        tick.tick().await;
        let at = std::time::SystemTime::now();
        runs += 1;
        let result = run_once(docker, container, cmd, timeout).await;
        if result.passed() {
            return (at, runs);
        }
        on_failure(result);
    }
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
