//! The acceptance policy: `compose/<stack>/acceptance.toml`.
//!
//! Stack-wide `[defaults]`, per-service `[services.NAME]` overrides, and expectations:
//! which networks reach which service ports, what must persist, how to back it up, which
//! routes the gateway serves, what Prometheus must scrape. Every switch defaults to the
//! strict choice; a stack that deliberately does otherwise (seed RedFire keeps secrets in
//! env on purpose) says so in its policy.
//!
//! STATUS: types only; the parser with file/line/key errors is being written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Settings that apply to every service unless a `[services.NAME]` table overrides them.
/// Every field is optional in the file; `Defaults::default()` holds the harness's
/// (strict) defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// startup.* budget (seeds RedFire, ZViewer: 30 s).
    pub startup: Duration,
    /// image.size budget in bytes (seed RedFire: 500 MB; ZViewer app services: 100 MB).
    pub image_size: u64,
    /// resources.memory: steady-state memory budget in bytes (seed ZViewer: 512 MB).
    pub memory: u64,
    /// healthcheck.response: one run of the check command must answer within this (ZViewer: 3 s).
    pub health_response: Duration,
    /// user.*: processes must not run as uid 0.
    pub non_root: bool,
    /// hardening.read_only: the root filesystem must be read-only.
    pub read_only: bool,
    /// hardening.capabilities: capabilities a service may add back after `cap_drop: [ALL]`.
    pub cap_add: Vec<String>,
    /// hardening.no_new_privileges.
    pub no_new_privileges: bool,
    /// hardening.memory_limit / hardening.pids_limit: a limit must be set.
    pub memory_limit: bool,
    pub pids_limit: bool,
    /// hardening.restart: the allowed restart policies.
    pub restart: Vec<String>,
    /// hardening.log_rotation: json-file with max-size and max-file.
    pub log_rotation: bool,
    /// secrets.env: when false (strict), secret-looking env names must not carry literal values.
    pub secrets_in_env: bool,
    /// secrets.env: env names exempt from the secret-name match (false-positive allowlist).
    pub secret_env_allowlist: Vec<String>,
    /// network.publish: whether the service may publish host ports.
    pub publish: bool,
    /// lint.pinned_tags: image references must carry a tag other than `latest`.
    pub pinned_tags: bool,
    /// recovery.restart: after SIGKILL of PID 1, ready again within this.
    pub recovery: Duration,
    /// shutdown.graceful: exit within this after SIGTERM; `None` uses the service's own
    /// `stop_grace_period` (compose default 10 s).
    pub shutdown: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            startup: Duration::from_secs(30),
            image_size: 500_000_000,
            memory: 512_000_000,
            health_response: Duration::from_secs(3),
            non_root: true,
            read_only: true,
            cap_add: Vec::new(),
            no_new_privileges: true,
            memory_limit: true,
            pids_limit: true,
            restart: vec!["always".into(), "unless-stopped".into(), "on-failure".into()],
            log_rotation: true,
            secrets_in_env: false,
            secret_env_allowlist: Vec::new(),
            publish: false,
            pinned_tags: true,
            recovery: Duration::from_secs(30),
            shutdown: None,
        }
    }
}

/// A `service:port` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub service: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.port)
    }
}

/// `[networks.NAME]`: from a probe on this network, exactly these targets connect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    pub reach: Vec<Target>,
}

/// What a persistence or backup spec writes and reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Rows through sqlx.
    Postgres,
    /// Keys through the redis crate.
    Redis,
    /// A file in the volume, through the probe container.
    File,
}

/// `[[persistence]]`: data written to `service` must survive a restart and a down/up.
#[derive(Debug, Clone, PartialEq)]
pub struct Persistence {
    pub service: String,
    pub kind: DataKind,
    pub volume: String,
    /// For `kind = "file"`: the mount path of the volume inside the service.
    pub path: Option<String>,
}

/// How a backup is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMethod {
    /// A tar archive of the named volume through a helper container (seed zigQuant).
    Tar,
    /// A logical `pg_dump` of the database.
    PgDump,
}

/// `[[backup]]`: back up, destroy, restore, boot and compare checksums.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub service: String,
    pub volume: String,
    pub kind: DataKind,
    pub methods: Vec<BackupMethod>,
}

/// `[[routes]]`: a request through the gateway reaches its upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub path: String,
    pub upstream: String,
    pub status: u16,
}

/// `[observability]`: Prometheus scrapes these targets; the metrics endpoint has these families.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observability {
    pub prometheus: Option<String>,
    pub targets: Vec<String>,
    pub metrics: Option<Target>,
    pub metrics_path: String,
    pub families: Vec<String>,
}

/// `[gateway]`: which service is the gateway and which container port it publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub service: String,
    pub port: u16,
}

/// A whole policy file, resolved: `settings(service)` gives the effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub path: PathBuf,
    pub defaults: Settings,
    /// Per-service effective settings (defaults with the `[services.NAME]` overrides applied).
    pub services: BTreeMap<String, Settings>,
    pub networks: BTreeMap<String, NetworkPolicy>,
    pub persistence: Vec<Persistence>,
    pub backups: Vec<Backup>,
    pub gateway: Option<Gateway>,
    pub routes: Vec<Route>,
    pub observability: Observability,
}

impl Policy {
    /// The effective settings for a service (the defaults when it has no table).
    pub fn settings(&self, service: &str) -> &Settings {
        self.services.get(service).unwrap_or(&self.defaults)
    }
}
