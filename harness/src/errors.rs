//! Every error the library returns.
//!
//! Messages are lowercase fragments that read well after "failed to ...": they name the
//! stack, project, service or file involved, say what was seen last, and end with a
//! `(hint: ...)` where the fix is known. A cause is linked with `#[source]` and never also
//! printed into the message, so a printed chain never says the same thing twice.

use std::path::PathBuf;
use std::time::Duration;

use testcontainers::bollard;

/// The result type of every public operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "cannot reach the docker engine ({endpoint}) (hint: start the daemon, e.g. `systemctl start docker`, or point DOCKER_HOST at a running engine)"
    )]
    EngineUnreachable {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error(
        "lost the docker engine ({endpoint}) while booting {project}: {detail} (hint: check the daemon, e.g. `systemctl status docker`; what this run created is removed by the next run's reaper, or now by `harness reap`)"
    )]
    EngineLost { endpoint: String, project: String, detail: String },

    #[error("engine call `{op}` failed for {subject}")]
    Engine {
        op: &'static str,
        subject: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error(
        "no compose file in {dir} (looked for {looked_for}) (hint: pass the directory that holds compose.yaml, or the file itself)"
    )]
    ComposeFileMissing { dir: PathBuf, looked_for: String },

    #[error(
        "stack file {path} is invalid: {reason} (hint: it takes `compose = [\"../compose.yaml\", \"compose.yaml\"]` (paths relative to its directory, applied in order) and optionally `policy = \"../acceptance.toml\"`)"
    )]
    StackFileInvalid { path: PathBuf, reason: String },

    #[error("compose file {path} is not valid YAML at line {line}, column {column}: {reason}")]
    ComposeFileInvalid { path: PathBuf, line: usize, column: usize, reason: String },

    #[error("`docker compose {args}` failed for project {project} (exit {code}): {stderr_tail}")]
    ComposeCommand { project: String, args: String, code: String, stderr_tail: String },

    #[error("service `{service}` is not in stack {stack} (services there: {available})")]
    UnknownService { stack: String, service: String, available: String },

    #[error(
        "image {image} for service `{service}` is not on this engine and no recipe under {recipes} builds it (hint: no registry is reachable here; add a recipe in fixtures/images/ or build the image yourself)"
    )]
    ImageMissing { service: String, image: String, recipes: PathBuf },

    #[error("cannot read image recipe {path}: {reason}")]
    RecipeInvalid { path: PathBuf, reason: String },

    #[error("building image {image} from {recipe} failed at `{step}`: {detail}")]
    ImageBuild { image: String, recipe: PathBuf, step: String, detail: String },

    #[error("host tool setup failed: {detail} (hint: {hint})")]
    Provision { detail: String, hint: String },

    #[error(
        "service `{service}` of project {project} was not healthy within {waited:?}; last state: {state}; last health log: {health_log}; last probe: {last_probe}"
    )]
    HealthTimeout {
        project: String,
        service: String,
        waited: Duration,
        state: String,
        health_log: String,
        last_probe: String,
    },

    #[error("service `{service}` of project {project} exited during boot with code {code}; last log lines: {log_tail}")]
    ContainerExited { project: String, service: String, code: i64, log_tail: String },

    #[error("boot of project {project} was interrupted by {signal}")]
    Interrupted { project: String, signal: String },

    #[error(
        "teardown of project {project} left {left} (hint: run `harness reap`, or remove them with docker rm/network rm/volume rm)"
    )]
    TeardownIncomplete { project: String, left: String },

    #[error("{what} at {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run `{program}` (hint: {hint})")]
    Spawn {
        program: String,
        hint: String,
        #[source]
        source: std::io::Error,
    },

    #[error("single container from {image} failed to start")]
    SingleContainer {
        image: String,
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },

    #[error("data check on service `{service}` failed: {step}: {detail}")]
    Data { service: String, step: &'static str, detail: String },

    #[error(
        "the policy asks for {kind} data on service `{service}`, but it does not speak {kind}: it listens on {ports} and {kind} needs port {needs} (hint: fix `kind` or `service` for this entry in acceptance.toml)"
    )]
    WrongClient { service: String, kind: String, ports: String, needs: u16 },

    /// Policy messages already start with `FILE:LINE:`; nothing to add.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),

    #[error("invalid duration `{input}`: {reason} (hint: use compose units such as 500ms, 1s, 1m30s)")]
    InvalidDuration { input: String, reason: String },

    #[error("unknown criterion `{name}` in {flag} (hint: {}families: {families}; `harness check --help` lists every id)", nearest.as_ref().map(|n| format!("did you mean `{n}`? ")).unwrap_or_default())]
    UnknownCriterion { flag: &'static str, name: String, nearest: Option<String>, families: String },

    #[error("--only {only} with --skip {skip} leaves nothing to judge (hint: drop a --skip entry)")]
    NothingSelected { only: String, skip: String },

    #[error("cannot write the report to {path}: {reason} (hint: pass a writable directory with --report-dir)")]
    ReportDir { path: PathBuf, reason: String },

    /// The helper's message already names it, its image and its command.
    #[error(transparent)]
    Helper(#[from] crate::engine::helper::HelperError),

    #[error("cannot read evidence {path}: {reason}")]
    Evidence { path: PathBuf, reason: String },

    #[error(
        "service `{service}` of project {project} publishes no host port for container port {port} (hint: publish it on an ephemeral loopback port, `ports: [\"127.0.0.1::{port}\"]` under `services.{service}` in the compose file)"
    )]
    NotPublished { project: String, service: String, port: u16 },

    #[error("`{command}` in service `{service}` of project {project} did not run to the end: {detail}")]
    Exec { project: String, service: String, command: String, detail: String },
}

impl Error {
    /// Wraps an Engine API error, turning "the socket is not there" into a message that
    /// says how to start the engine instead of a bare connect error.
    pub fn engine(op: &'static str, subject: impl Into<String>, source: bollard::errors::Error) -> Self {
        if is_unreachable(&source) {
            return Error::EngineUnreachable { endpoint: engine_endpoint(), source };
        }
        Error::Engine { op, subject: subject.into(), source }
    }

    /// An I/O failure while doing `what` on `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { what, path: path.into(), source }
    }
}

/// Whether an Engine API error means the engine itself is not there (as opposed to a
/// refused request), judged from the connection-level variants bollard reports.
fn is_unreachable(err: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    matches!(err, B::SocketNotFoundError(_) | B::HyperResponseError { .. } | B::IOError { .. } | B::RequestTimeoutError)
}

/// The engine address as the user configured it, for error messages.
pub fn engine_endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Keeps the last `n` non-empty lines of command output: errors quote what the tool said
/// last, which is where compose and docker put the actual reason.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() { "(no output)".to_owned() } else { tail }
}

/// Every message in an error's chain, joined: verdict evidence must carry the cause, not
/// just the outermost words.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_tail(input: &str, n: usize, expected: &str) {
        assert_eq!(tail_lines(input, n), expected);
    }

    #[test]
    fn tail_keeps_last_non_empty_lines() {
        check_tail("a\nb\n\nc\n", 2, "b | c");
        check_tail("only", 5, "only");
        check_tail("", 3, "(no output)");
        check_tail("  x  \n\n", 1, "x");
    }

    #[test]
    fn messages_are_lowercase_and_name_the_subject() {
        let err = Error::UnknownService {
            stack: "compose/reference".into(),
            service: "db".into(),
            available: "api, gateway".into(),
        };
        let text = err.to_string();
        assert!(text.starts_with("service `db`"), "{text}");
        assert!(text.contains("api, gateway"), "{text}");
    }
}
