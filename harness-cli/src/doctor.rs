//! `harness doctor`: every prerequisite, checked, with how to fix it.
//!
//! A boot that fails deep inside a suite is a poor way to learn that the engine is down,
//! Compose v2 is missing or the disk is full. `run` probes each prerequisite once, all of
//! them concurrently and each under its own deadline, so a wedged engine or a silent network
//! never hangs the doctor. The probes only gather facts; what those facts mean (versions,
//! disk thresholds, which route to images works) is decided by pure functions that have
//! unit tests below.
//!
//! Nothing here prints a secret: addresses are reduced to host and port (or a local path)
//! before they are shown, so credentials in an apt source or a registry URL never reach
//! the output, and proxy settings are only ever reported as present.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::models::SystemInfo;
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;

use harness::engine;
use harness::engine::images;
use harness::engine::provision::{self, Need};
use harness::errors::{Error, engine_endpoint};
use harness::workspace;

/// Connect, ping, version and info together. A local engine answers in milliseconds; ten
/// seconds pass only when it is wedged, and then waiting longer tells us nothing more.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);
/// A tool's `version` is instant; ten seconds means the tool itself is stuck.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Name lookup plus TCP connect to a registry or an archive. A reachable host answers well
/// within it; a filtered one would otherwise hold us through the kernel's SYN retries (~2 min).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// `statvfs` on a hung network filesystem blocks in the kernel; never wait on it for long.
const DISK_TIMEOUT: Duration = Duration::from_secs(5);

/// Below this much free space, warn. A cold `cargo nextest run --workspace` leaves about
/// 4.4 GB under target/ and about 0.5 GB of images on the engine, plus the stacks' volumes.
pub const DISK_WARN_BELOW: u64 = 5_000_000_000;
/// Below this, fail: an image build (mmdebstrap's root filesystem tarball, then its import)
/// or linking the test binaries no longer fits, and the run dies half-way with ENOSPC.
pub const DISK_FAIL_BELOW: u64 = 1_000_000_000;

/// The oldest Engine API the harness speaks: 1.41, Docker Engine 20.10 (see README).
const MIN_API: (u32, u32) = (1, 41);

/// Where the host's apt sources are; the image builds pass the first to mmdebstrap, and
/// `fixtures/provision.sh` reads the same two files in the same order.
const DEB822_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const ONE_LINE_SOURCES: &str = "/etc/apt/sources.list";

const ENGINE: &str = "engine";
const COMPOSE: &str = "compose";
const MMDEBSTRAP: &str = "mmdebstrap";
const DISK_ENGINE: &str = "disk-engine";
const DISK_CWD: &str = "disk-cwd";
const IMAGES: &str = "images";
const CHROMIUM: &str = "chromium";

/// Widths of the status and name columns; the name column fits the longest name above.
const STATUS_WIDTH: usize = 6;
const NAME_WIDTH: usize = 14;

/// How a prerequisite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Present and sufficient.
    Ok,
    /// Works now, but something will hurt (little disk, an optional tool missing).
    Warn,
    /// The harness cannot work until this is fixed.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One prerequisite, what was seen, and how to fix it when it is not ok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Finding { name, status: Status::Ok, detail: detail.into(), fix: None }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { name, status: Status::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { name, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// `ok    engine        Docker Engine 20.10.24 (API 1.41)`, and under a finding that is not
/// ok, its fix indented to the detail column, so a column of findings scans at a glance.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<STATUS_WIDTH$}{:<NAME_WIDTH$}{}", self.status.label(), self.name, self.detail)?;
        if let (Some(fix), false) = (&self.fix, self.status == Status::Ok) {
            write!(f, "\n{:indent$}fix: {fix}", "", indent = STATUS_WIDTH + NAME_WIDTH)?;
        }
        Ok(())
    }
}

/// Whether the harness can run: no finding failed (warnings do not block).
pub fn exit_ok(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.status != Status::Fail)
}

/// Checks every prerequisite and returns one finding each, in a fixed order: engine,
/// compose, mmdebstrap, disk-engine, disk-cwd, images, chromium. Never hangs: every probe
/// has its own deadline, and the independent ones run at the same time.
pub async fn run() -> Vec<Finding> {
    // The engine's answer names its data root and its registry, so those two probes follow
    // it; everything else needs nothing from the engine and runs alongside.
    let engine_side = async {
        let (finding, facts) = probe_engine().await;
        let (disk, registry) = match &facts {
            Ok(facts) => tokio::join!(engine_disk(facts), probe_registry(facts)),
            Err(why) => (
                Finding::warn(
                    DISK_ENGINE,
                    format!("not measured: {why}"),
                    "see the engine line above; `docker info` names the data root once the engine answers",
                ),
                Registry::Unknown(why.clone()),
            ),
        };
        (finding, disk, registry)
    };
    let ((engine, disk_engine, registry), compose, mmdebstrap, disk_cwd, offline) =
        tokio::join!(engine_side, probe_compose(), probe_mmdebstrap(), cwd_disk(), probe_offline());
    let images = judge_images(&registry, &offline);
    // The same lookup the screenshot uses, so doctor never passes a browser it won't find.
    let chromium = judge_chromium(crate::screenshot::find_chromium());
    vec![engine, compose, mmdebstrap, disk_engine, disk_cwd, images, chromium]
}

// ---------------------------------------------------------------------------------------
// Probes: they gather facts under a deadline and leave the judging to the pure functions.
// ---------------------------------------------------------------------------------------

/// What the engine's info says that later probes need.
#[derive(Debug, Clone, Default)]
struct EngineFacts {
    root_dir: Option<String>,
    index: Option<String>,
    mirrors: Vec<String>,
    /// Whether the engine pulls through a proxy (the address itself may hold credentials,
    /// so only its presence is kept).
    proxied: bool,
}

impl EngineFacts {
    fn from_info(info: SystemInfo) -> Self {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        EngineFacts {
            proxied: set(&info.http_proxy) || set(&info.https_proxy),
            root_dir: info.docker_root_dir,
            index: info.index_server_address,
            mirrors: info.registry_config.and_then(|r| r.mirrors).unwrap_or_default(),
        }
    }
}

/// The engine finding, and the engine's facts or why there are none.
async fn probe_engine() -> (Finding, Result<EngineFacts, String>) {
    let work = async {
        let docker = engine::connect().await?;
        let (version, api) = engine::version(&docker).await?;
        // Info is only needed for the data root and the registry: if it alone fails, the
        // engine finding still stands on the version.
        let facts = docker
            .info()
            .await
            .map(EngineFacts::from_info)
            .map_err(|e| format!("the engine's info call failed: {}", chain(&e)));
        Ok::<_, Error>((version, api, facts))
    };
    match timeout(ENGINE_TIMEOUT, work).await {
        Ok(Ok((version, api, facts))) => (judge_engine(&version, &api), facts),
        Ok(Err(err)) => (engine_error(&err), Err("the engine did not answer".to_owned())),
        Err(_) => (
            Finding::fail(
                ENGINE,
                format!("no answer from {} within {}s", engine_endpoint(), ENGINE_TIMEOUT.as_secs()),
                "the daemon is wedged or starting: look at `systemctl status docker` and `journalctl -u docker`",
            ),
            Err("the engine did not answer".to_owned()),
        ),
    }
}

fn engine_error(err: &Error) -> Finding {
    match err {
        Error::EngineUnreachable { endpoint, source } => {
            // A socket this user may not open needs a different fix from a daemon that is
            // not running, and bollard buries the difference in an io::Error deep in the chain.
            let denied = io_kind_in(source) == Some(std::io::ErrorKind::PermissionDenied);
            let fix = if denied {
                "this user may not use the engine's socket: run as root, or add the user to the `docker` group \
                 (`usermod -aG docker USER`, then log in again)"
            } else {
                "start the daemon (`systemctl start docker`) or point DOCKER_HOST at a running engine"
            };
            Finding::fail(ENGINE, format!("cannot reach the engine at {endpoint}: {}", chain(source)), fix)
        }
        other => Finding::fail(ENGINE, chain(other), "look at the engine's log: `journalctl -u docker`"),
    }
}

/// The kind of the first io::Error in an error's chain.
fn io_kind_in(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    std::iter::successors(Some(err), |e| e.source()).find_map(|e| e.downcast_ref::<std::io::Error>()).map(|e| e.kind())
}

async fn probe_compose() -> Finding {
    // The harness's own rule decides whether Compose counts (provision.rs), so the doctor
    // can never pass a Compose the boot would then reject; the version is only for display.
    let accepted = async { timeout(TOOL_TIMEOUT, provision::missing(Need::Compose)).await.is_ok_and(|m| m.is_empty()) };
    let (accepted, version) = tokio::join!(accepted, tool_version("docker", &["compose", "version", "--short"]));
    judge_compose(accepted, version, &provision_fix())
}

async fn probe_mmdebstrap() -> Finding {
    // Same test as provision.rs: `mmdebstrap --version` succeeds.
    judge_mmdebstrap(tool_version("mmdebstrap", &["--version"]).await, &provision_fix())
}

fn provision_fix() -> String {
    format!(
        "the harness installs it itself before the first boot or image build; to do it now: `bash {}` (root or sudo)",
        provision::script().display()
    )
}

/// Why a tool printed no version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ToolError {
    /// The program itself is not installed (for `docker compose`, the Docker CLI is missing,
    /// which the provisioning script does not install).
    NotOnPath(String),
    /// It ran and failed, or hung; the text says how.
    Failed(String),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::NotOnPath(program) => write!(f, "`{program}` is not on PATH"),
            ToolError::Failed(why) => f.write_str(why),
        }
    }
}

/// The first line a tool prints for its version, or why there is none.
async fn tool_version(program: &str, args: &[&str]) -> Result<String, ToolError> {
    let shown = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let out = match timeout(TOOL_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Err(ToolError::Failed(format!("`{shown}` gave no answer within {}s", TOOL_TIMEOUT.as_secs())));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Err(ToolError::NotOnPath(program.to_owned())),
        Ok(Err(e)) => return Err(ToolError::Failed(format!("cannot run `{shown}`: {e}"))),
        Ok(Ok(out)) => out,
    };
    let first_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes).lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_owned()
    };
    if out.status.success() {
        Ok(first_line(&out.stdout))
    } else {
        // The first stderr line says what is wrong ("'compose' is not a docker command");
        // the last is usually only "See 'docker --help'".
        Err(ToolError::Failed(format!("`{shown}` failed ({}): {}", out.status, first_line(&out.stderr))))
    }
}

/// Free bytes for an unprivileged writer on the filesystem holding `path`. fs4 (already a
/// dependency, for file locks) wraps `statvfs`, so there is no `df` output to parse.
async fn free_bytes(path: PathBuf) -> Result<u64, String> {
    let measure = tokio::task::spawn_blocking(move || fs4::available_space(&path));
    match timeout(DISK_TIMEOUT, measure).await {
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the measurement failed: {e}")),
        Err(_) => Err(format!("statvfs gave no answer within {}s", DISK_TIMEOUT.as_secs())),
    }
}

async fn engine_disk(facts: &EngineFacts) -> Finding {
    let Some(root) = facts.root_dir.clone().filter(|r| !r.is_empty()) else {
        return Finding::warn(
            DISK_ENGINE,
            "not measured: the engine did not name its data root",
            "check by hand: `docker info`",
        );
    };
    // A remote engine's data root is a path on another machine; measuring the same path
    // here would report the wrong disk with full confidence.
    if !engine_endpoint().starts_with("unix://") {
        return Finding::warn(
            DISK_ENGINE,
            format!("not measured: the engine is remote (DOCKER_HOST), its data root {root} is on that machine"),
            format!("check free space there: `df -h {root}`"),
        );
    }
    let free = free_bytes(PathBuf::from(&root)).await;
    judge_disk(
        DISK_ENGINE,
        Path::new(&root),
        free,
        "free space there: `harness reap` removes what dead runs left, `docker image prune` removes dangling images",
    )
}

async fn cwd_disk() -> Finding {
    let fix = "free space there, e.g. `cargo clean` (target/ is the biggest writer), or run from a bigger filesystem";
    match std::env::current_dir() {
        Ok(dir) => {
            let free = free_bytes(dir.clone()).await;
            judge_disk(DISK_CWD, &dir, free, fix)
        }
        Err(e) => Finding::warn(
            DISK_CWD,
            format!("not measured: the current directory is unusable: {e}"),
            "run from an existing directory, normally the workspace root",
        ),
    }
}

/// A network or local place the images could come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Tcp { host: String, port: u16 },
    Local(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One target and whether it answered (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probed {
    target: Target,
    outcome: Result<(), String>,
}

async fn probe(target: Target) -> Probed {
    let outcome = match &target {
        Target::Tcp { host, port } => probe_tcp(host, *port).await,
        Target::Local(path) if path.is_dir() => Ok(()),
        Target::Local(_) => Err("no such directory".to_owned()),
    };
    Probed { target, outcome }
}

/// Whether `host:port` accepts a TCP connection within [`CONNECT_TIMEOUT`], lookup included.
async fn probe_tcp(host: &str, port: u16) -> Result<(), String> {
    let attempt = async {
        let addrs: Vec<_> = tokio::net::lookup_host((host, port)).await.map_err(|e| e.to_string())?.collect();
        let mut last = "the name resolves to no address".to_owned();
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    };
    timeout(CONNECT_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))
}

/// What is known about the engine's registries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Registry {
    /// No engine facts, with the reason.
    Unknown(String),
    /// Every mirror and the index the engine names, probed directly.
    Probed { probes: Vec<Probed>, proxied: bool },
}

async fn probe_registry(facts: &EngineFacts) -> Registry {
    // The engine tries its mirrors before the index, so any of them answering is enough.
    let mut targets: Vec<Target> =
        facts.mirrors.iter().chain(facts.index.iter()).filter_map(|address| registry_target(address)).collect();
    targets.dedup();
    let probes = futures_util::future::join_all(targets.into_iter().map(probe)).await;
    Registry::Probed { probes, proxied: facts.proxied }
}

/// What the offline route has to work with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offline {
    /// The number of recipes under fixtures/images/, or why they cannot be read.
    recipes: Result<usize, String>,
    /// The apt sources file read, and each archive it names, probed; or why there are none.
    archives: Result<(PathBuf, Vec<Probed>), String>,
}

async fn probe_offline() -> Offline {
    let dir = workspace::recipes_dir();
    let recipes = images::recipes(&dir).map(|r| r.len()).map_err(|e| chain(&e));
    let archives = match read_apt_archives() {
        Ok((file, targets)) => Ok((file, futures_util::future::join_all(targets.into_iter().map(probe)).await)),
        Err(why) => Err(why),
    };
    Offline { recipes, archives }
}

/// The archives the host's apt sources name, from the file the image builds use.
fn read_apt_archives() -> Result<(PathBuf, Vec<Target>), String> {
    let (file, uris) = if let Ok(text) = std::fs::read_to_string(DEB822_SOURCES) {
        (DEB822_SOURCES, deb822_uris(&text))
    } else if let Ok(text) = std::fs::read_to_string(ONE_LINE_SOURCES) {
        (ONE_LINE_SOURCES, one_line_uris(&text))
    } else {
        return Err(format!("neither {DEB822_SOURCES} nor {ONE_LINE_SOURCES} is readable"));
    };
    let mut targets: Vec<Target> = uris.iter().filter_map(|uri| archive_target(uri)).collect();
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        return Err(format!("{file} names no http, https or file archive"));
    }
    Ok((PathBuf::from(file), targets))
}

// ---------------------------------------------------------------------------------------
// Pure parts: parsing and judging, each with unit tests.
// ---------------------------------------------------------------------------------------

/// A `MAJOR.MINOR` API version.
fn parse_api(api: &str) -> Option<(u32, u32)> {
    let (major, minor) = api.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn judge_engine(version: &str, api: &str) -> Finding {
    let detail = format!("Docker Engine {version} (API {api})");
    match parse_api(api) {
        Some(found) if found >= MIN_API => Finding::ok(ENGINE, detail),
        Some(_) => Finding::fail(
            ENGINE,
            format!("{detail} is older than API {}.{}", MIN_API.0, MIN_API.1),
            "upgrade the Docker Engine to 20.10 or newer",
        ),
        None => Finding::warn(
            ENGINE,
            format!("{detail}: the API version does not parse"),
            format!("make sure the engine speaks API {}.{} or newer (`docker version`)", MIN_API.0, MIN_API.1),
        ),
    }
}

fn judge_compose(accepted: bool, version: Result<String, ToolError>, provision_fix: &str) -> Finding {
    match (accepted, version) {
        (true, Ok(v)) => Finding::ok(COMPOSE, format!("Docker Compose {v}")),
        (true, Err(why)) => Finding::ok(COMPOSE, format!("Docker Compose v2 (version not shown: {why})")),
        // Present but not what provision.rs accepts: the provisioning script sees a working
        // `docker compose` and installs nothing, so every boot would stop with an error.
        (false, Ok(v)) => Finding::fail(
            COMPOSE,
            format!("Docker Compose {v} found, but the harness accepts only 2.x"),
            "install the Compose 2.x plugin into /usr/local/lib/docker/cli-plugins (the harness's check is in harness/src/provision.rs)",
        ),
        // The script installs the Compose plugin, not the CLI it plugs into.
        (false, Err(why @ ToolError::NotOnPath(_))) => Finding::fail(
            COMPOSE,
            format!("Docker Compose v2 is missing: {why}"),
            "install the Docker CLI (Debian ships it in its Docker Engine package); the harness then adds the Compose plugin itself",
        ),
        (false, Err(why)) => Finding::fail(COMPOSE, format!("Docker Compose v2 is missing: {why}"), provision_fix),
    }
}

fn judge_mmdebstrap(version: Result<String, ToolError>, provision_fix: &str) -> Finding {
    match version {
        Ok(v) => Finding::ok(MMDEBSTRAP, v),
        Err(why) => Finding::fail(
            MMDEBSTRAP,
            format!("mmdebstrap is missing (the harness builds its images with it instead of pulling): {why}"),
            provision_fix,
        ),
    }
}

/// Status for `free` bytes against [`DISK_WARN_BELOW`] and [`DISK_FAIL_BELOW`].
fn disk_status(free: u64) -> Status {
    if free < DISK_FAIL_BELOW {
        Status::Fail
    } else if free < DISK_WARN_BELOW {
        Status::Warn
    } else {
        Status::Ok
    }
}

/// Bytes as `12.3 GB` (SI, like `df -H` and `docker system df`).
fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn judge_disk(name: &'static str, path: &Path, free: Result<u64, String>, fix: &str) -> Finding {
    let path = path.display();
    let free = match free {
        Ok(free) => free,
        Err(why) => {
            return Finding::warn(
                name,
                format!("not measured at {path}: {why}"),
                format!("check by hand: `df -h {path}`"),
            );
        }
    };
    let seen = format!("{} free at {path}", gigabytes(free));
    match disk_status(free) {
        Status::Ok => Finding::ok(name, seen),
        Status::Warn => Finding::warn(
            name,
            format!("{seen}, under {} (a cold run needs about that)", gigabytes(DISK_WARN_BELOW)),
            fix,
        ),
        Status::Fail => Finding::fail(
            name,
            format!("{seen}, under {} (image builds and links will run out of space)", gigabytes(DISK_FAIL_BELOW)),
            fix,
        ),
    }
}

/// The `URIs:` of every enabled `deb` stanza of a deb822 `.sources` file.
fn deb822_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Stanzas are separated by blank lines; comments may sit anywhere and are not fields.
    for stanza in text.split("\n\n").flat_map(|s| s.split("\n\r\n")) {
        let field = |name: &str| {
            stanza.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
            })
        };
        let debs = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        if debs
            && enabled
            && let Some(uris) = field("URIs")
        {
            out.extend(uris.split_whitespace().map(str::to_owned));
        }
    }
    out
}

/// The URIs of the `deb` lines of a one-line-style `sources.list`.
fn one_line_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut word = words.next();
        // `deb [arch=amd64 signed-by=...] URI suite components`: skip the options, which
        // may contain spaces, up to the closing bracket.
        if word.is_some_and(|w| w.starts_with('[')) {
            while let Some(w) = word {
                word = words.next();
                if w.ends_with(']') {
                    break;
                }
            }
        }
        out.extend(word.map(str::to_owned));
    }
    out
}

/// Where an apt URI points: host and port for http(s), a directory for `file:`. Other
/// methods (`mirror+`, `cdrom:`) are not probed. Credentials in the URI are dropped here,
/// so nothing shown later can contain them.
fn archive_target(uri: &str) -> Option<Target> {
    let url = Url::parse(uri).ok()?;
    match url.scheme() {
        "file" => url.to_file_path().ok().map(Target::Local),
        "http" | "https" => tcp_target(&url, None),
        _ => None,
    }
}

/// Where the engine's registry address points. The engine speaks HTTPS to registries, so
/// a bare host name means port 443.
fn registry_target(address: &str) -> Option<Target> {
    let url =
        Url::parse(address).ok().filter(|u| u.has_host()).or_else(|| Url::parse(&format!("https://{address}")).ok())?;
    tcp_target(&url, Some(443))
}

fn tcp_target(url: &Url, default_port: Option<u16>) -> Option<Target> {
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().or(default_port)?;
    Some(Target::Tcp { host, port })
}

fn describe(probes: &[Probed]) -> String {
    probes
        .iter()
        .map(|p| match &p.outcome {
            Ok(()) => format!("{} answers", p.target),
            Err(why) => format!("{} unreachable ({why})", p.target),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether images can be had: from a registry, or (the harness's own route, which needs no
/// registry) built from the recipes with packages from the host's Debian archive.
fn judge_images(registry: &Registry, offline: &Offline) -> Finding {
    let recipes_ok = matches!(offline.recipes, Ok(n) if n > 0);
    // mmdebstrap gets the whole sources file and apt fails on any unreachable archive, so
    // every archive named there must answer, not just one.
    let archives_ok =
        offline.archives.as_ref().is_ok_and(|(_, p)| !p.is_empty() && p.iter().all(|p| p.outcome.is_ok()));
    let offline_ok = recipes_ok && archives_ok;
    let recipes_text = match &offline.recipes {
        Ok(0) => "no recipes in fixtures/images/".to_owned(),
        Ok(n) => format!("{n} recipes"),
        Err(why) => format!("recipes unreadable ({why})"),
    };
    let archives_text = match &offline.archives {
        Ok((file, probes)) => format!("archive {} (from {})", describe(probes), file.display()),
        Err(why) => format!("no archive ({why})"),
    };
    let offline_text = format!("{recipes_text}, {archives_text}");

    let (registry_ok, registry_text) = match registry {
        Registry::Unknown(why) => (false, format!("not known ({why})")),
        Registry::Probed { probes, .. } if probes.is_empty() => (false, "the engine names none".to_owned()),
        Registry::Probed { probes, proxied } => {
            let ok = probes.iter().any(|p| p.outcome.is_ok());
            // A direct connect says nothing about a proxied engine's pulls; say so rather
            // than call its registry unreachable without qualification.
            let note = if *proxied && !ok { " (the engine pulls through a proxy this probe does not use)" } else { "" };
            (ok, format!("{}{note}", describe(probes)))
        }
    };

    let mut offline_fixes = Vec::new();
    if !recipes_ok {
        offline_fixes.push("restore the recipes in fixtures/images/ (`git checkout fixtures/images`)".to_owned());
    }
    if !archives_ok {
        let file = offline.archives.as_ref().map_or(DEB822_SOURCES.to_owned(), |(f, _)| f.display().to_string());
        offline_fixes.push(format!("make every archive in {file} reachable, or point it at a mirror that is"));
    }
    let offline_fix = offline_fixes.join("; ");

    match (registry_ok, offline_ok) {
        (_, true) if !registry_ok => {
            Finding::ok(IMAGES, format!("offline route usable: {offline_text}; no registry: {registry_text}"))
        }
        (_, true) => Finding::ok(IMAGES, format!("registry {registry_text}; offline route usable: {offline_text}")),
        // The harness never pulls (see ARCHITECTURE.md, "No registry"): a reachable registry
        // does not save a cold image build whose archive is gone.
        (true, false) => Finding::warn(
            IMAGES,
            format!(
                "registry {registry_text}, but the harness builds its images offline and that route is broken: {offline_text}"
            ),
            offline_fix,
        ),
        (false, false) => Finding::fail(
            IMAGES,
            format!("no registry: {registry_text}; offline route broken: {offline_text}"),
            format!("{offline_fix} (or make the engine's registry reachable)"),
        ),
    }
}

fn judge_chromium(found: Option<PathBuf>) -> Finding {
    match found {
        Some(path) => Finding::ok(CHROMIUM, format!("{} (screenshots of the HTML report)", path.display())),
        None => Finding::warn(
            CHROMIUM,
            "not on PATH; only the PNG screenshot of the HTML report needs it",
            format!(
                "`apt-get install chromium`, or `bash {} chromium` (the harness also installs it when it first takes a screenshot)",
                provision::script().display()
            ),
        ),
    }
}

/// An error and its causes on one line, for a finding's detail.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their cause's message; print each message once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(target: &str, outcome: Result<(), &str>) -> Probed {
        let (host, port) = target.rsplit_once(':').expect("host:port");
        Probed {
            target: Target::Tcp { host: host.to_owned(), port: port.parse().expect("port") },
            outcome: outcome.map_err(str::to_owned),
        }
    }

    #[track_caller]
    fn check_api(api: &str, expected: Status) {
        assert_eq!(judge_engine("20.10.24", api).status, expected, "API {api}");
    }

    #[test]
    fn engine_api_must_be_1_41_or_newer() {
        check_api("1.41", Status::Ok);
        check_api("1.52", Status::Ok);
        // Numeric, not textual: 1.100 is newer than 1.41.
        check_api("1.100", Status::Ok);
        check_api("2.0", Status::Ok);
        check_api("1.40", Status::Fail);
        check_api("1.9", Status::Fail);
        check_api("", Status::Warn);
        check_api("one.four", Status::Warn);
        assert_eq!(judge_engine("20.10.24+dfsg1", "1.41").detail, "Docker Engine 20.10.24+dfsg1 (API 1.41)");
    }

    #[test]
    fn compose_follows_the_harnesses_own_rule() {
        let fix = "run provision";
        let ok = judge_compose(true, Ok("2.26.1-4".into()), fix);
        assert_eq!((ok.status, ok.detail.as_str()), (Status::Ok, "Docker Compose 2.26.1-4"));
        let failed = ToolError::Failed("`docker compose version --short` failed".into());
        let missing = judge_compose(false, Err(failed), fix);
        assert_eq!((missing.status, missing.fix.as_deref()), (Status::Fail, Some(fix)));
        // Without the Docker CLI there is nothing for the script's plugin to plug into.
        let no_cli = judge_compose(false, Err(ToolError::NotOnPath("docker".into())), fix);
        assert_eq!(no_cli.status, Status::Fail);
        assert!(no_cli.fix.as_deref().is_some_and(|f| f.contains("Docker CLI")), "{no_cli}");
        // A Compose the harness does not accept is a failure even though it runs.
        let newer = judge_compose(false, Ok("5.0.0".into()), fix);
        assert_eq!(newer.status, Status::Fail);
        assert!(newer.detail.contains("5.0.0"), "{}", newer.detail);
        assert_eq!(judge_mmdebstrap(Err(ToolError::NotOnPath("mmdebstrap".into())), fix).fix.as_deref(), Some(fix));
    }

    #[track_caller]
    fn check_disk(free: u64, expected: Status) {
        assert_eq!(disk_status(free), expected, "{free} bytes");
        let finding = judge_disk(DISK_CWD, Path::new("/work"), Ok(free), "clean up");
        assert_eq!(finding.status, expected);
        assert!(finding.detail.contains(&gigabytes(free)), "detail must give the number: {}", finding.detail);
    }

    #[test]
    fn disk_thresholds() {
        check_disk(0, Status::Fail);
        check_disk(999_999_999, Status::Fail);
        check_disk(1_000_000_000, Status::Warn);
        check_disk(4_999_999_999, Status::Warn);
        check_disk(5_000_000_000, Status::Ok);
        check_disk(120_000_000_000, Status::Ok);
        let unmeasured = judge_disk(DISK_ENGINE, Path::new("/var/lib/docker"), Err("EACCES".into()), "clean up");
        assert_eq!(unmeasured.status, Status::Warn);
        assert_eq!(gigabytes(12_345_000_000), "12.3 GB");
    }

    #[track_caller]
    fn check_deb822(text: &str, expected: &[&str]) {
        assert_eq!(deb822_uris(text), expected);
    }

    #[test]
    fn reads_uris_of_deb822_sources() {
        let two_stanzas = "Types: deb\n\
             # http://old.example.org/debian (a comment, not a source)\n\
             URIs: http://mirror.example.org/debian\n\
             Suites: bookworm bookworm-updates\n\
             \n\
             Types: deb\n\
             URIs: http://mirror.example.org/debian-security\n\
             Suites: bookworm-security\n";
        check_deb822(two_stanzas, &["http://mirror.example.org/debian", "http://mirror.example.org/debian-security"]);
        check_deb822(
            "Types: deb deb-src\nURIs: http://a.example/debian https://b.example/debian\n",
            &["http://a.example/debian", "https://b.example/debian"],
        );
        // Source-only and disabled stanzas are not used to build root filesystems.
        check_deb822("Types: deb-src\nURIs: http://a.example/debian\n", &[]);
        check_deb822("Types: deb\nEnabled: no\nURIs: http://a.example/debian\n", &[]);
        check_deb822("types: deb\nuris: http://a.example/debian\n", &["http://a.example/debian"]);
        check_deb822("", &[]);
    }

    #[track_caller]
    fn check_one_line(text: &str, expected: &[&str]) {
        assert_eq!(one_line_uris(text), expected);
    }

    #[test]
    fn reads_uris_of_one_line_sources() {
        check_one_line("deb http://mirror.example.org/debian bookworm main\n", &["http://mirror.example.org/debian"]);
        check_one_line(
            "deb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main\n",
            &["http://a.example/debian"],
        );
        check_one_line("deb [ arch=amd64 ] http://a.example/debian bookworm main\n", &["http://a.example/debian"]);
        check_one_line(
            "# deb http://commented.example/debian bookworm main\n\
             deb-src http://src.example/debian bookworm main\n\
             \n\
             deb file:/srv/mirror bookworm main # local\n",
            &["file:/srv/mirror"],
        );
    }

    #[track_caller]
    fn check_target(parse: fn(&str) -> Option<Target>, input: &str, expected: Option<&str>) {
        assert_eq!(parse(input).map(|t| t.to_string()).as_deref(), expected, "{input}");
    }

    #[test]
    fn addresses_become_host_and_port() {
        check_target(registry_target, "https://registry.example.test/v1/", Some("registry.example.test:443"));
        check_target(registry_target, "registry.example.test", Some("registry.example.test:443"));
        check_target(registry_target, "https://registry.example.test:5000", Some("registry.example.test:5000"));
        check_target(registry_target, "http://mirror.example.test", Some("mirror.example.test:80"));
        check_target(registry_target, "", None);
        check_target(archive_target, "http://mirror.example.org/debian", Some("mirror.example.org:80"));
        check_target(archive_target, "https://mirror.example.org/debian", Some("mirror.example.org:443"));
        check_target(archive_target, "http://[2001:db8::1]:8080/debian", Some("[2001:db8::1]:8080"));
        check_target(archive_target, "file:/srv/mirror", Some("/srv/mirror"));
        check_target(archive_target, "mirror+file:/etc/apt/mirrors.txt", None);
        check_target(archive_target, "not a uri", None);
    }

    #[test]
    fn credentials_in_addresses_are_never_shown() {
        let archive = archive_target("https://user:s3cret-token@mirror.example.org/debian").expect("parses");
        let registry = registry_target("https://robot:s3cret-token@registry.example.test/v1/").expect("parses");
        let offline = Offline {
            recipes: Ok(6),
            archives: Ok((PathBuf::from(DEB822_SOURCES), vec![Probed { target: archive, outcome: Ok(()) }])),
        };
        let registry = Registry::Probed {
            probes: vec![Probed { target: registry, outcome: Err("refused".into()) }],
            proxied: true,
        };
        let shown = judge_images(&registry, &offline).to_string();
        assert!(!shown.contains("s3cret") && !shown.contains("user") && !shown.contains("robot"), "{shown}");
        assert!(shown.contains("mirror.example.org:443") && shown.contains("proxy"), "{shown}");
    }

    #[track_caller]
    fn check_images(registry: Result<(), &str>, recipes: usize, archive: Result<(), &str>, expected: Status) {
        let registry = Registry::Probed { probes: vec![probed("registry.example.test:443", registry)], proxied: false };
        let offline = Offline {
            recipes: Ok(recipes),
            archives: Ok((PathBuf::from(DEB822_SOURCES), vec![probed("mirror.example.org:80", archive)])),
        };
        let finding = judge_images(&registry, &offline);
        assert_eq!(finding.status, expected, "{finding}");
        assert_eq!(finding.fix.is_some(), expected != Status::Ok, "{finding}");
    }

    #[test]
    fn images_need_a_registry_or_the_offline_route() {
        check_images(Ok(()), 6, Ok(()), Status::Ok);
        // The harness's normal case: no registry, images built from recipes.
        check_images(Err("no answer within 3s"), 6, Ok(()), Status::Ok);
        check_images(Err("no answer within 3s"), 6, Err("connection refused"), Status::Fail);
        check_images(Err("no answer within 3s"), 0, Ok(()), Status::Fail);
        // Pulls would work, but the harness never pulls: cold builds would still fail.
        check_images(Ok(()), 6, Err("connection refused"), Status::Warn);
    }

    #[test]
    fn images_without_engine_or_sources_say_why() {
        let offline = Offline { recipes: Ok(6), archives: Err(format!("neither {DEB822_SOURCES} nor x is readable")) };
        let finding = judge_images(&Registry::Unknown("the engine did not answer".into()), &offline);
        assert_eq!(finding.status, Status::Fail);
        assert!(
            finding.detail.contains("the engine did not answer") && finding.detail.contains("neither"),
            "{finding}"
        );
        // Every archive must answer: apt fails on any one it cannot fetch.
        let offline = Offline {
            recipes: Ok(6),
            archives: Ok((
                PathBuf::from(DEB822_SOURCES),
                vec![probed("a.example:80", Ok(())), probed("b.example:80", Err("refused"))],
            )),
        };
        let no_registry = Registry::Probed { probes: vec![], proxied: false };
        assert_eq!(judge_images(&no_registry, &offline).status, Status::Fail);
    }

    #[test]
    fn a_missing_chromium_is_a_warning_with_the_fix() {
        let f = judge_chromium(None);
        assert_eq!(f.status, Status::Warn);
        assert!(f.fix.as_deref().is_some_and(|x| x.contains("chromium")), "{f}");
    }

    #[test]
    fn display_aligns_columns_and_shows_fixes_only_when_not_ok() {
        let ok = Finding::ok(ENGINE, "Docker Engine 20.10.24 (API 1.41)");
        assert_eq!(ok.to_string(), "ok    engine        Docker Engine 20.10.24 (API 1.41)");
        let fail = Finding::fail(COMPOSE, "missing", "run it");
        assert_eq!(fail.to_string(), "fail  compose       missing\n                    fix: run it");
        assert!(exit_ok(&[ok.clone(), Finding::warn(CHROMIUM, "absent", "install")]));
        assert!(!exit_ok(&[ok, fail]));
        assert!(exit_ok(&[]));
    }

    #[test]
    fn a_denied_socket_gets_its_own_fix() {
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let err = Error::io("cannot open", "/var/run/docker.sock", denied);
        assert_eq!(io_kind_in(&err), Some(std::io::ErrorKind::PermissionDenied));
    }

    #[test]
    fn errors_print_each_cause_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let outer = Error::io("cannot list image recipes", "/x", inner);
        assert_eq!(chain(&outer), "cannot list image recipes at /x: permission denied");
    }
}
