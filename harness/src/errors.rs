//! Every error the library returns.
//!
//! Messages are lowercase fragments that read well after "failed to ...": they name the
//! stack, project, service or file involved, say what was seen last, and end with a
//! `(hint: ...)` where the fix is known. A cause is linked with `#[source]` and never also
//! printed into the message, so a printed chain never says the same thing twice.

use std::path::PathBuf;
use std::time::Duration;

/// The result type of every public operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a public operation of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Docker engine does not answer at all: its socket is missing, refuses
    /// connections or times out.
    #[error(
        "cannot reach the docker engine ({endpoint}) (hint: start the daemon, e.g. `systemctl start docker`, or point DOCKER_HOST at a running engine)"
    )]
    EngineUnreachable {
        /// The engine address tried, from `DOCKER_HOST` or the default unix socket.
        endpoint: String,
        /// The connection-level error the Engine API client reported.
        #[source]
        source: bollard::errors::Error,
    },

    /// The engine's event stream ended while a stack was booting.
    #[error(
        "lost the docker engine ({endpoint}) while booting {project}: {detail} (hint: check the daemon, e.g. `systemctl status docker`; what this run created is removed by the next run's reaper, or now by `harness reap`)"
    )]
    EngineLost {
        /// The engine address in use, from `DOCKER_HOST` or the default unix socket.
        endpoint: String,
        /// The compose project that was booting, `hx<run id>-<name>`.
        project: String,
        /// Why the event stream ended, or that it simply closed.
        detail: String,
    },

    /// The engine answered an Engine API call with an error.
    #[error("engine call `{op}` failed for {subject}")]
    Engine {
        /// The call that failed, e.g. `inspect` or `list containers`.
        op: &'static str,
        /// What the call was about: a service, container, image or project.
        subject: String,
        /// The error the Engine API client returned.
        #[source]
        source: bollard::errors::Error,
    },

    /// A stack directory holds none of the compose file names compose looks for.
    #[error(
        "no compose file in {dir} (looked for {looked_for}) (hint: pass the directory that holds compose.yaml, or the file itself)"
    )]
    ComposeFileMissing {
        /// The stack directory searched.
        dir: PathBuf,
        /// The file names looked for, comma-separated.
        looked_for: String,
    },

    /// A stack file (the TOML that lists compose files and a policy) cannot be read or
    /// does not have the expected shape.
    #[error(
        "stack file {path} is invalid: {reason} (hint: it takes `compose = [\"../compose.yaml\", \"compose.yaml\"]` (paths relative to its directory, applied in order) and optionally `policy = \"../acceptance.toml\"`)"
    )]
    StackFileInvalid {
        /// The stack file.
        path: PathBuf,
        /// What is wrong with it, as the reader or TOML parser said.
        reason: String,
    },

    /// A compose file does not parse as YAML.
    #[error("compose file {path} is not valid YAML at line {line}, column {column}: {reason}")]
    ComposeFileInvalid {
        /// The compose file.
        path: PathBuf,
        /// The 1-based line of the syntax error, or 0 when the parser gave none.
        line: usize,
        /// The 1-based column of the syntax error, or 0 when the parser gave none.
        column: usize,
        /// The YAML parser's message.
        reason: String,
    },

    /// A `docker compose` command exited unsuccessfully, did not answer in time, or
    /// printed something the harness cannot use.
    #[error("`docker compose {args}` failed for project {project} (exit {code}): {stderr_tail}")]
    ComposeCommand {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The arguments after `docker compose`, space-separated.
        args: String,
        /// The exit code, `signal` when it was killed, `0` when its output was unusable, or
        /// `none` when it did not answer.
        code: String,
        /// The last lines of its stderr, or what was wrong with its output.
        stderr_tail: String,
    },

    /// A service name is not declared in the stack, or is declared but has no container.
    #[error("service `{service}` is not in stack {stack} (services there: {available})")]
    UnknownService {
        /// The stack directory.
        stack: String,
        /// The service asked for, with a note when it is declared but has no container.
        service: String,
        /// The services the stack declares, comma-separated.
        available: String,
    },

    /// A service's image is neither on the engine nor buildable from a recipe.
    #[error(
        "image {image} for service `{service}` is not on this engine and no recipe under {recipes} builds it (hint: no registry is reachable here; add a recipe in fixtures/images/ or build the image yourself)"
    )]
    ImageMissing {
        /// The service that uses the image.
        service: String,
        /// The image reference, `name:tag`.
        image: String,
        /// The directory searched for image recipes.
        recipes: PathBuf,
    },

    /// An image recipe cannot be read or does not have the expected shape.
    #[error("cannot read image recipe {path}: {reason}")]
    RecipeInvalid {
        /// The recipe file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Building an image from its recipe failed.
    #[error("building image {image} from {recipe} failed at `{step}`: {detail}")]
    ImageBuild {
        /// The image reference being built, `name:tag`.
        image: String,
        /// The recipe directory.
        recipe: PathBuf,
        /// The build step that failed, e.g. `inspect`.
        step: String,
        /// What that step reported.
        detail: String,
    },

    /// A host tool or host-side precondition the harness needs is missing or failed.
    #[error("host tool setup failed: {detail} (hint: {hint})")]
    Provision {
        /// What is missing or what failed.
        detail: String,
        /// How to fix it by hand.
        hint: String,
    },

    /// The engine could not be made a swarm manager, or a stack could not be deployed on
    /// it (`check --engine swarm`).
    #[error("swarm setup failed: {detail} (hint: {hint})")]
    Swarm {
        /// What failed, with the engine's or `docker stack`'s own words.
        detail: String,
        /// How to fix it by hand.
        hint: String,
    },

    /// A service did not become healthy (or ready) before the boot deadline.
    #[error(
        "service `{service}` of project {project} was not healthy within {waited:?}; last state: {state}; last health log: {health_log}; last probe: {last_probe}"
    )]
    HealthTimeout {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The first service that was not done, or `(compose up)` when none had started.
        service: String,
        /// How long the harness waited.
        waited: Duration,
        /// The container's last observed status, or `not created`.
        state: String,
        /// The tail of the container's health log, or `(none)`.
        health_log: String,
        /// A summary of the last readiness probe, or `(none yet)`.
        last_probe: String,
    },

    /// A wait for a service gave up early: a service it depends on has no running container
    /// and nothing will start one again, so it could only have waited out its deadline.
    #[error(
        "service `{service}` of project {project} cannot become ready: `{dependency}`, which it depends on, has had no running container for {:.1}s, exit code {code}{}, and its restart policy will not start it again (hint: something outside the harness stopped or killed it, or it crashed; `docker compose -p {project} logs {dependency}` and `docker events` say which)",
        .down.as_secs_f64(),
        exit_meaning(*.code)
    )]
    DependencyDown {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The service being waited for.
        service: String,
        /// The dependency that is down.
        dependency: String,
        /// The dependency's last exit code.
        code: i64,
        /// How long it had been down when the wait gave up.
        down: Duration,
    },

    /// A container died during boot before it was ready or healthy.
    #[error("service `{service}` of project {project} exited during boot with code {code}{}{}; last log lines: {log_tail}", exit_meaning(*.code), crash_loop(*.deaths))]
    ContainerExited {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The service whose container exited.
        service: String,
        /// The container's exit code.
        code: i64,
        /// How many times the service's containers died during the boot (more than one: its
        /// restart policy started them again, and they died again).
        deaths: u32,
        /// The last lines of the container's log.
        log_tail: String,
    },

    /// A signal interrupted a boot.
    #[error("boot of project {project} was interrupted by {signal}")]
    Interrupted {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The signal's name, e.g. `SIGINT`.
        signal: String,
    },

    /// Containers, networks or volumes of a project were still there after teardown.
    #[error(
        "teardown of project {project} left {left} (hint: run `harness reap`, or remove them with docker rm/network rm/volume rm)"
    )]
    TeardownIncomplete {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// What is left, counted as containers, networks and volumes.
        left: String,
    },

    /// A file-system operation failed.
    #[error("{what} at {path}")]
    Io {
        /// What the harness was doing, as a lowercase fragment.
        what: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A host program could not be started.
    #[error("cannot run `{program}` (hint: {hint})")]
    Spawn {
        /// The program, e.g. `docker compose` or `bash`.
        program: String,
        /// How to make it available.
        hint: String,
        /// The error from starting the process.
        #[source]
        source: std::io::Error,
    },

    /// A single container (booted without compose) failed to start.
    #[cfg(feature = "single")]
    #[error("single container from {image} failed to start")]
    SingleContainer {
        /// The image reference, `name:tag`.
        image: String,
        /// The error testcontainers reported.
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },

    /// The compose files declare no service (with the profiles asked for active).
    #[error(
        "stack {} has no services{} (hint: a compose file needs a `services:` section with at least one service)",
        stack.display(),
        if profiles.is_empty() { String::new() } else { format!(" with profiles {profiles} active") }
    )]
    NoServices {
        /// The stack directory.
        stack: PathBuf,
        /// The profiles that were active, comma-separated; empty for all.
        profiles: String,
    },

    /// Building a `build:` service's image from its Dockerfile failed.
    #[error("building service `{service}` from {} failed at `{step}`: {detail}", dockerfile.display())]
    ServiceBuild {
        /// The service.
        service: String,
        /// Its Dockerfile.
        dockerfile: PathBuf,
        /// The step the build was at (`Step 3/7 : RUN make`), or `docker build` when none ran.
        step: String,
        /// The builder's last lines.
        detail: String,
    },

    /// A load generator was aimed at an address that is not on this machine.
    #[error(
        "load target {target} refused: {why} (hint: aim the load at the gateway's published port, which the harness publishes on 127.0.0.1)"
    )]
    LoadTargetRefused {
        /// The address (and path) asked for.
        target: String,
        /// Why it is refused.
        why: String,
    },

    /// A registry image is not on the engine and could not be pulled, or pulling is off.
    #[error(
        "image {image} for service `{service}` is not on this engine and {why} (hint: `docker pull {image}` where a registry is reachable, or `docker load -i image.tar`, or add a recipe under fixtures/images/ that builds it)"
    )]
    PullFailed {
        /// The service that uses the image.
        service: String,
        /// The image reference.
        image: String,
        /// Why: `--pull never` was given, or what the pull said.
        why: String,
    },

    /// A `build:` service names a build context that is not there.
    #[error(
        "build context {context} of service `{service}` does not exist (hint: fix `build.context` in the compose file; it is relative to the compose file's directory)"
    )]
    BuildContextMissing {
        /// The service that builds from it.
        service: String,
        /// The context directory, as compose resolved it.
        context: PathBuf,
    },

    /// A `build:` service's Dockerfile does not parse, or has no stage its `target` names.
    #[error("Dockerfile {path} of service `{service}` is invalid at line {line}: {reason}")]
    DockerfileInvalid {
        /// The service that builds from it.
        service: String,
        /// The Dockerfile.
        path: PathBuf,
        /// The 1-based line, or 0 when the problem is not on one line.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// A data check could not write, read or compare its data on a service.
    #[error("data check on service `{service}` failed: {step}: {detail}")]
    Data {
        /// The service holding the data.
        service: String,
        /// The step of the check that failed.
        step: &'static str,
        /// What went wrong at that step.
        detail: String,
    },

    /// The policy points a data client at a service that does not expose the client's port.
    #[error(
        "the policy asks for {kind} data on service `{service}`, but it does not speak {kind}: it listens on {ports} and {kind} needs port {needs} (hint: fix `kind` or `service` for this entry in acceptance.toml)"
    )]
    WrongClient {
        /// The service named in the policy.
        service: String,
        /// The data kind the policy asks for, e.g. `postgres`.
        kind: String,
        /// The ports the container exposes, comma-separated, or `no declared port`.
        ports: String,
        /// The container port a client of `kind` talks to.
        needs: u16,
    },

    /// The acceptance policy is invalid.
    ///
    /// Policy messages already start with `FILE:LINE:`; nothing to add.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),

    /// A duration string is not in compose units.
    #[error("invalid duration `{input}`: {reason} (hint: use compose units such as 500ms, 1s, 1m30s)")]
    InvalidDuration {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A criterion id or family given on the command line or in code is not known.
    #[error("unknown criterion `{name}` in {flag} (hint: {}families: {families}; `harness check --help` lists every id)", nearest.as_ref().map(|n| format!("did you mean `{n}`? ")).unwrap_or_default())]
    UnknownCriterion {
        /// Where the name came from: `--only`, `--skip` or `criterion`.
        flag: &'static str,
        /// The name given.
        name: String,
        /// The closest known id, or `None` when nothing is close.
        nearest: Option<String>,
        /// The known criterion families, comma-separated.
        families: String,
    },

    /// `--only` and `--skip` together select no criterion.
    #[error("--only {only} with --skip {skip} leaves nothing to judge (hint: drop a --skip entry)")]
    NothingSelected {
        /// The `--only` entries, comma-separated.
        only: String,
        /// The `--skip` entries, comma-separated.
        skip: String,
    },

    /// The report directory or a file in it cannot be created or written.
    #[error("cannot write the report to {path}: {reason} (hint: pass a writable directory with --report-dir)")]
    ReportDir {
        /// The directory or file that failed.
        path: PathBuf,
        /// The underlying error's message.
        reason: String,
    },

    /// A helper container failed.
    ///
    /// The helper's message already names it, its image and its command.
    #[error(transparent)]
    Helper(#[from] crate::engine::helper::HelperError),

    /// A recorded evidence file cannot be read or parsed.
    #[error("cannot read evidence {path}: {reason}")]
    Evidence {
        /// The evidence file or directory.
        path: PathBuf,
        /// The underlying error's message.
        reason: String,
    },

    /// A container port has no published host port.
    #[error(
        "service `{service}` of project {project} publishes no host port for container port {port} (hint: publish it on an ephemeral loopback port, `ports: [\"127.0.0.1::{port}\"]` under `services.{service}` in the compose file)"
    )]
    NotPublished {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The service asked about.
        service: String,
        /// The container port asked about.
        port: u16,
    },

    /// A command run in a service's container did not finish (it timed out or could not
    /// be started), so it has no exit code.
    #[error("`{command}` in service `{service}` of project {project} did not run to the end: {detail}")]
    Exec {
        /// The compose project, `hx<run id>-<name>`.
        project: String,
        /// The service the command ran in.
        service: String,
        /// The command line, space-separated.
        command: String,
        /// What was seen instead of an exit code.
        detail: String,
    },
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

/// A service that died more than once during the boot: a crash loop its restart policy kept going.
fn crash_loop(deaths: u32) -> String {
    if deaths > 1 {
        format!(", having died {deaths} times in this boot (its restart policy kept starting it: a crash loop)")
    } else {
        String::new()
    }
}

/// What an exit code above 128 says: the signal that ended the process.
fn exit_meaning(code: i64) -> &'static str {
    match code {
        137 => " (SIGKILL: killed from outside, or by the kernel's OOM killer; `docker inspect` shows OOMKilled)",
        143 => " (SIGTERM: stopped from outside)",
        139 => " (SIGSEGV: the process crashed)",
        134 => " (SIGABRT: the process aborted)",
        _ => "",
    }
}
