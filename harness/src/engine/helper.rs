//! The one way the harness runs its own helper containers: network probes, the egress
//! sink, tar backups and restores, pg_dump and pg_restore.
//!
//! A [`HelperRun`] is built with a consuming builder and handed to [`run`] (to completion)
//! or [`start`] (a long-lived helper such as the egress sink). Either way the container:
//!
//! - is created with the run's ownership labels and the stack's project label, so the
//!   stack's teardown and the next run's reaper find it however this process ends;
//! - runs with least privilege: the user the caller names (non-root where the job allows),
//!   every capability dropped (a job that must run as root adds back exactly what it
//!   needs), `no-new-privileges`, a read-only root filesystem, small memory and pid limits,
//!   and no network unless the job names one;
//! - has its stdin fed from a file and its stdout streamed to a file or kept, through the
//!   Engine API's attach (no docker CLI);
//! - is waited for under a deadline whose error names the helper, its image, what it ran
//!   and the last thing it wrote to stderr;
//! - is removed afterwards, with its anonymous volumes, whatever happened.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountTypeEnum, PortBinding};
use bollard::query_parameters::{AttachContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::labels::{self, RunIdentity};
use crate::errors::tail_lines;
use crate::units::secs;

use crate::engine::labels::HELPER_ROLE as ROLE_LABEL;
/// Bounds a helper that names no deadline of its own: test-sized data takes seconds.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// Helpers handle test-sized data (a probe batch, a tar of a few MB, a small dump).
const MEMORY_LIMIT: i64 = 128 * 1024 * 1024;
/// The probe starts one thread per target in a batch; nothing else comes close.
const PIDS_LIMIT: i64 = 1024;
/// stderr kept for messages: the end is where tools say why they failed.
const STDERR_KEPT: usize = 16 * 1024;

/// One helper container to run: what, as whom, with which mounts and streams.
#[derive(Debug, Clone)]
#[must_use]
pub(crate) struct HelperRun {
    role: &'static str,
    subject: String,
    image: String,
    entrypoint: Option<Vec<String>>,
    cmd: Vec<String>,
    mounts: Vec<Mount>,
    network: Option<String>,
    env: Redacted,
    user: Option<String>,
    cap_add: Vec<String>,
    stdin: Option<PathBuf>,
    stdout: Option<PathBuf>,
    publish: Option<(String, Vec<IpAddr>)>,
    timeout: Duration,
    hint: Option<String>,
}

impl HelperRun {
    /// A helper in `role` (its `io.harness.role` label) working for `subject` (a service or
    /// a network, for messages), from `image`. No network, the image's user and command.
    pub(crate) fn new(role: &'static str, subject: impl Into<String>, image: impl Into<String>) -> HelperRun {
        HelperRun {
            role,
            subject: subject.into(),
            image: image.into(),
            entrypoint: None,
            cmd: Vec::new(),
            mounts: Vec::new(),
            network: None,
            env: Redacted::default(),
            user: None,
            cap_add: Vec::new(),
            stdin: None,
            stdout: None,
            publish: None,
            timeout: DEFAULT_DEADLINE,
            hint: None,
        }
    }

    pub(crate) fn entrypoint(mut self, program: &str) -> HelperRun {
        self.entrypoint = Some(vec![program.to_owned()]);
        self
    }

    pub(crate) fn command<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> HelperRun {
        self.cmd = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Mounts the named volume `name` at `target`.
    pub(crate) fn volume(self, name: &str, target: &str, read_only: bool) -> HelperRun {
        self.mount(MountTypeEnum::VOLUME, name, target, read_only)
    }

    /// Bind-mounts the host file or directory `source` at `target`.
    pub(crate) fn bind(self, source: &Path, target: &str, read_only: bool) -> HelperRun {
        self.mount(MountTypeEnum::BIND, &source.to_string_lossy(), target, read_only)
    }

    fn mount(mut self, typ: MountTypeEnum, source: &str, target: &str, read_only: bool) -> HelperRun {
        self.mounts.push(Mount {
            typ: Some(typ),
            source: Some(source.to_owned()),
            target: Some(target.to_owned()),
            read_only: Some(read_only),
            ..Default::default()
        });
        self
    }

    /// Attaches the helper to the engine network `name` (`bridge` for the default one).
    pub(crate) fn network(mut self, name: &str) -> HelperRun {
        self.network = Some(name.to_owned());
        self
    }

    /// Sets an environment variable. Values may be secrets: `Debug` shows only the names.
    pub(crate) fn env(mut self, name: &str, value: &str) -> HelperRun {
        self.env.0.push(format!("{name}={value}"));
        self
    }

    /// Runs as `user` (`UID:GID` or a name); empty means the image's default.
    pub(crate) fn user(mut self, user: &str) -> HelperRun {
        self.user = Some(user.to_owned()).filter(|u| !u.is_empty());
        self
    }

    /// Adds back capabilities a root helper needs for its job (all are dropped first).
    pub(crate) fn cap_add(mut self, caps: &[&str]) -> HelperRun {
        self.cap_add = caps.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Feeds the file at `path` to the helper's stdin, then closes it.
    pub(crate) fn stdin_file(mut self, path: &Path) -> HelperRun {
        self.stdin = Some(path.to_owned());
        self
    }

    /// Streams the helper's stdout into a new file at `path` instead of keeping it.
    pub(crate) fn stdout_file(mut self, path: &Path) -> HelperRun {
        self.stdout = Some(path.to_owned());
        self
    }

    /// Publishes container port `port` (`9/tcp`) on an ephemeral host port at each address.
    pub(crate) fn publish(mut self, port: &str, host_ips: &[IpAddr]) -> HelperRun {
        self.publish = Some((port.to_owned(), host_ips.to_vec()));
        self
    }

    pub(crate) fn timeout(mut self, deadline: Duration) -> HelperRun {
        self.timeout = deadline;
        self
    }

    /// What to tell the user when the helper fails or hangs.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> HelperRun {
        self.hint = Some(hint.into());
        self
    }

    /// The command line for messages, with long inline scripts shortened.
    fn shown(&self) -> String {
        let argv = self.entrypoint.iter().flatten().chain(&self.cmd);
        argv.map(|a| if a.len() > 60 { "'<script>'" } else { a.as_str() }).collect::<Vec<_>>().join(" ")
    }

    fn fail(&self, kind: HelperErrorKind) -> HelperError {
        HelperError {
            role: self.role,
            subject: self.subject.clone(),
            image: self.image.clone(),
            command: self.shown(),
            kind,
        }
    }

    fn engine(&self, op: &'static str) -> impl FnOnce(bollard::errors::Error) -> HelperError + '_ {
        move |source| self.fail(HelperErrorKind::Engine { op, source })
    }

    fn io<'a>(&'a self, what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HelperError + 'a {
        move |source| self.fail(HelperErrorKind::Io { what, path: path.to_owned(), source })
    }

    fn body(&self, project: &str) -> ContainerCreateBody {
        let mut labels: std::collections::HashMap<String, String> =
            RunIdentity::current().labels().into_iter().collect();
        labels.insert(labels::COMPOSE_PROJECT.to_owned(), project.to_owned());
        labels.insert(ROLE_LABEL.to_owned(), self.role.to_owned());
        let port_bindings = self.publish.as_ref().map(|(port, ips)| {
            let bindings =
                ips.iter().map(|ip| PortBinding { host_ip: Some(ip.to_string()), host_port: Some(String::new()) });
            std::collections::HashMap::from([(port.clone(), Some(bindings.collect()))])
        });
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: self.entrypoint.clone(),
            cmd: Some(self.cmd.clone()),
            user: self.user.clone(),
            env: Some(self.env.0.clone()).filter(|e| !e.is_empty()),
            labels: Some(labels),
            exposed_ports: self.publish.as_ref().map(|(port, _)| vec![port.clone()]),
            // stdin_once: the engine closes the process's stdin when ours ends, so `tar x`
            // and `pg_restore` see the end of their input.
            open_stdin: Some(self.stdin.is_some()),
            stdin_once: Some(self.stdin.is_some()),
            attach_stdin: Some(self.stdin.is_some()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone().unwrap_or_else(|| "none".to_owned())),
                mounts: Some(self.mounts.clone()),
                port_bindings,
                readonly_rootfs: Some(true),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(self.cap_add.clone()).filter(|c| !c.is_empty()),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                memory: Some(MEMORY_LIMIT),
                pids_limit: Some(PIDS_LIMIT),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `NAME=value` pairs whose `Debug` shows the names only: a value may be a password.
#[derive(Clone, Default)]
struct Redacted(Vec<String>);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|e| e.split('=').next().unwrap_or_default())).finish()
    }
}

/// A helper that ran to its end (exit code 0).
#[derive(Debug)]
pub(crate) struct Finished {
    /// stdout, unless it went to a file.
    pub(crate) stdout: Vec<u8>,
}

/// A long-lived helper ([`start`]); [`Running::remove`] ends it. Should this process die
/// first, the stack's teardown or the reaper removes it by its labels.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) id: String,
    docker: Docker,
}

impl Running {
    pub(crate) async fn remove(self) {
        remove(&self.docker, &self.id).await;
    }

    /// The host address and port each binding of its container port `port` (`"9/tcp"`)
    /// got; an error when the engine says none.
    pub(crate) async fn published_ports(&self, port: &str) -> Result<std::collections::BTreeMap<IpAddr, u16>, String> {
        let inspect = self
            .docker
            .inspect_container(&self.id, None)
            .await
            .map_err(|e| format!("cannot inspect helper {}: {e}", self.id))?;
        let json = serde_json::to_value(&inspect).unwrap_or_default();
        let ports: std::collections::BTreeMap<IpAddr, u16> = json["NetworkSettings"]["Ports"][port]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b["HostIp"].as_str()?.parse().ok()?, b["HostPort"].as_str()?.parse().ok()?)))
            .collect();
        if ports.is_empty() {
            return Err(format!("helper {} published no port for {port}", self.id));
        }
        Ok(ports)
    }
}

/// A helper container that could not do its job, naming which one and what it ran.
#[derive(Debug, thiserror::Error)]
#[error("helper `{role}` for {subject} ({image}: `{command}`) failed")]
pub struct HelperError {
    role: &'static str,
    subject: String,
    image: String,
    command: String,
    #[source]
    kind: HelperErrorKind,
}

impl HelperError {
    /// The helper ran and its job did not get done: its command failed or hung, or what it
    /// wrote could not be kept (a full disk). The engine doing its part is not in doubt, so
    /// a caller may judge this; an engine error never is.
    pub(crate) fn job_failed(&self) -> bool {
        matches!(
            self.kind,
            HelperErrorKind::Io { .. } | HelperErrorKind::Exited { .. } | HelperErrorKind::Timeout { .. }
        )
    }

    /// The file the helper's output went to could not take it: the disk is full.
    pub(crate) fn disk_full(&self) -> bool {
        matches!(&self.kind, HelperErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }

    /// The helper was never created (image missing, engine refused): nothing ran.
    pub(crate) fn never_created(&self) -> bool {
        matches!(self.kind, HelperErrorKind::Create { .. })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelperErrorKind {
    #[error("cannot create the container")]
    Create {
        #[source]
        source: bollard::errors::Error,
    },
    #[error("engine call `{op}` failed")]
    Engine {
        op: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("did not exit within {waited}; last stderr: {stderr_tail}{}", hint_suffix(hint))]
    Timeout { waited: String, stderr_tail: String, hint: Option<String> },
    #[error("exited with {code}: {stderr_tail}{}", hint_suffix(hint))]
    Exited { code: i64, stderr_tail: String, hint: Option<String> },
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default()
}

/// What a helper wrote while it ran; kept outside the deadline so a timeout can quote it.
#[derive(Debug, Default)]
struct Streamed {
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `req` to its end: create, attach, start, feed stdin and drain stdout under the
/// deadline, wait for the exit code, and always remove the container. A non-zero exit is an
/// error quoting the end of stderr.
pub(crate) async fn run(docker: &Docker, project: &str, req: HelperRun) -> Result<Finished, HelperError> {
    let id = create(docker, project, &req).await?;
    let mut seen = Streamed::default();
    let outcome = tokio::time::timeout(req.timeout, drive(docker, &id, &req, &mut seen)).await;
    remove(docker, &id).await;
    let stderr_tail = tail_lines(&seen.stderr, 4);
    match outcome {
        Err(_) => {
            Err(req.fail(HelperErrorKind::Timeout { waited: secs(req.timeout), stderr_tail, hint: req.hint.clone() }))
        }
        Ok(Err(e)) => Err(e),
        Ok(Ok(0)) => Ok(Finished { stdout: seen.stdout }),
        Ok(Ok(code)) => Err(req.fail(HelperErrorKind::Exited { code, stderr_tail, hint: req.hint.clone() })),
    }
}

/// Creates and starts `req` and returns at once; the caller removes it.
pub(crate) async fn start(docker: &Docker, project: &str, req: HelperRun) -> Result<Running, HelperError> {
    let id = create(docker, project, &req).await?;
    if let Err(e) = docker.start_container(&id, None).await {
        remove(docker, &id).await;
        return Err(req.engine("start")(e));
    }
    Ok(Running { id, docker: docker.clone() })
}

async fn create(docker: &Docker, project: &str, req: &HelperRun) -> Result<String, HelperError> {
    docker
        .create_container(None, req.body(project))
        .await
        .map(|r| r.id)
        .map_err(|source| req.fail(HelperErrorKind::Create { source }))
}

/// Attach before start, so no output is lost; then feed, drain and wait. Returns the exit
/// code. When the helper exits early its stdin may break: the exit code and stderr say why,
/// so a failed feed only counts when the helper claims success.
async fn drive(docker: &Docker, id: &str, req: &HelperRun, seen: &mut Streamed) -> Result<i64, HelperError> {
    let opts = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(req.stdin.is_some())
        .stdout(true)
        .stderr(true)
        .build();
    let AttachContainerResults { mut output, mut input } =
        docker.attach_container(id, Some(opts)).await.map_err(req.engine("attach"))?;
    docker.start_container(id, None).await.map_err(req.engine("start"))?;
    // Fault injection (`bench soak`): a panic while a helper container runs. See `crate::faults`.
    fail::fail_point!(crate::faults::HELPER);
    let feed = async {
        if let Some(path) = &req.stdin {
            let mut file = tokio::fs::File::open(path).await.map_err(req.io("cannot open the helper's input", path))?;
            tokio::io::copy(&mut file, &mut input).await.map_err(req.io("cannot stream into the helper", path))?;
        }
        // Ends the helper's stdin (a half-close of the attach connection).
        let _ = input.shutdown().await;
        Ok::<_, HelperError>(())
    };
    let drain = async {
        let mut sink = match &req.stdout {
            Some(path) => Some((
                path,
                tokio::fs::File::create(path).await.map_err(req.io("cannot create the helper's output", path))?,
            )),
            None => None,
        };
        // A write that fails (a full disk) ends the file, not the stream: the helper is
        // drained to its end so it exits by itself rather than block on a pipe nobody reads
        // until the deadline, and the write's own error is what the caller sees.
        let mut unwritten = None;
        while let Some(frame) = output.next().await {
            match frame.map_err(req.engine("attach"))? {
                LogOutput::StdOut { message } => match &mut sink {
                    Some(_) if unwritten.is_some() => {}
                    Some((path, file)) => {
                        if let Err(e) = file.write_all(&message).await {
                            unwritten = Some(req.io("cannot write the helper's output", path)(e));
                        }
                    }
                    None => seen.stdout.extend_from_slice(&message),
                },
                LogOutput::StdErr { message } => {
                    seen.stderr.push_str(&String::from_utf8_lossy(&message));
                    if seen.stderr.len() > 2 * STDERR_KEPT {
                        let mut cut = seen.stderr.len() - STDERR_KEPT;
                        while !seen.stderr.is_char_boundary(cut) {
                            cut += 1;
                        }
                        seen.stderr.drain(..cut);
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = unwritten {
            return Err(e);
        }
        if let Some((path, mut file)) = sink {
            file.flush().await.map_err(req.io("cannot write the helper's output", path))?;
        }
        Ok::<_, HelperError>(())
    };
    let (fed, drained) = tokio::join!(feed, drain);
    let code = wait(docker, id, req).await?;
    if code == 0 {
        fed?;
        drained?;
    }
    Ok(code)
}

async fn wait(docker: &Docker, id: &str, req: &HelperRun) -> Result<i64, HelperError> {
    match docker.wait_container(id, None).next().await {
        Some(Ok(r)) => Ok(r.status_code),
        // bollard reports a non-zero exit as this error; it is an exit code all the same.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(req.engine("wait")(e)),
        None => Err(req.fail(HelperErrorKind::Exited {
            code: -1,
            stderr_tail: "the engine ended the wait without an exit code".into(),
            hint: None,
        })),
    }
}

/// Removes a helper and its anonymous volumes. A failure is only logged: the stack's
/// teardown removes it by label anyway.
async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    if let Err(e) = docker.remove_container(id, Some(opts)).await {
        tracing::warn!(container = %id, "cannot remove helper container: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_get_least_privilege_and_our_labels() {
        let req = HelperRun::new("tar-backup", "postgres", "harness/postgres:15-bookworm")
            .entrypoint("tar")
            .command(["czf", "-", "-C", "/data", "."])
            .volume("hx1_pgdata", "/data", true)
            .user("999:999");
        let body = req.body("hx1-backup");
        let host = body.host_config.clone().unwrap_or_default();
        assert_eq!(host.network_mode.as_deref(), Some("none"), "no network unless the job names one");
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.security_opt, Some(vec!["no-new-privileges:true".to_owned()]));
        assert_eq!(body.user.as_deref(), Some("999:999"));
        let labels = body.labels.unwrap_or_default();
        assert_eq!(labels.get(labels::COMPOSE_PROJECT).map(String::as_str), Some("hx1-backup"));
        assert_eq!(labels.get(ROLE_LABEL).map(String::as_str), Some("tar-backup"));
        assert!(labels.contains_key(labels::RUN_ID) && labels.contains_key(labels::OWNER_PID));
        assert_eq!(body.open_stdin, Some(false), "stdin stays closed unless fed");
        let mount = &host.mounts.unwrap_or_default()[0];
        let shown = format!("{:?}", req.env("PGPASSWORD", "hunter2"));
        assert!(shown.contains("PGPASSWORD") && !shown.contains("hunter2"), "{shown}");
        assert_eq!((mount.source.as_deref(), mount.read_only), (Some("hx1_pgdata"), Some(true)));
    }

    #[test]
    fn errors_name_the_helper_its_command_and_the_hint() {
        let script = "x".repeat(80);
        let req = HelperRun::new("pg-dump", "postgres", "harness/postgres:15-bookworm")
            .command(["sh", "-c", script.as_str(), "pg_dump"])
            .hint("the image needs pg_dump");
        let e = req.fail(HelperErrorKind::Timeout {
            waited: "120 s".into(),
            stderr_tail: "(no output)".into(),
            hint: req.hint.clone(),
        });
        let chain = format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default());
        assert_eq!(
            chain,
            "helper `pg-dump` for postgres (harness/postgres:15-bookworm: `sh -c '<script>' pg_dump`) failed: did not exit within 120 s; last stderr: (no output) (hint: the image needs pg_dump)"
        );
    }
}
