//! The acceptance policy: `compose/<stack>/acceptance.toml`.
//!
//! Stack-wide `[defaults]`, per-service `[services.NAME]` overrides, and expectations:
//! which networks reach which service ports, what must persist, how to back it up, which
//! routes the gateway serves, what Prometheus must scrape, and which criteria are waived
//! on purpose. Every switch defaults to the strict choice; a stack that deliberately does
//! otherwise (seed RedFire keeps secrets in env on purpose) says so in its policy.
//!
//! - `model`: the file as serde types; their doc comments are the reference.
//! - `load`: reading, the one-line `FILE:LINE:` errors, and the checks against the
//!   compose file that serde cannot make.
//! - `reference`: `docs/acceptance.schema.json` and `docs/policy.md`, both generated from
//!   `model` and pinned by tests (`HARNESS_BLESS=1` rewrites them).
//!
//! [`load`] / [`parse`] resolve a file into a [`Policy`]. Every error names the file and
//! line; unknown keys are errors everywhere (a misspelt switch would otherwise silently
//! keep its strict default) and suggest the nearest valid key. Every service name is
//! checked against the compose file. An empty file is valid and means "all defaults".
//!
//! Volume and network names are not checked here: the caller compares them with the
//! compose file, whose project prefixing this module knows nothing about.

pub mod init;
mod load;
mod model;
mod reference;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use load::nearest;
pub use load::{PolicyError, load, parse};

/// The effective settings for one service, or the stack-wide defaults.
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
    /// hardening.pids_limit: a pids limit must be set.
    pub pids_limit: bool,
    /// hardening.restart: the allowed restart policies.
    pub restart: Vec<String>,
    /// hardening.log_rotation: json-file with max-size and max-file.
    pub log_rotation: bool,
    /// secrets.env: when false (strict), secret-looking env names must not carry literal values.
    pub secrets_in_env: bool,
    /// secrets.env: env names exempt from the name and value checks (false-positive allowlist).
    pub secret_env_allowlist: Vec<String>,
    /// network.publish: whether the service may publish host ports.
    pub publish: bool,
    /// network.bind: which host interfaces its published ports may bind.
    pub bind: Bind,
    /// lint.pinned_tags: image references must carry a tag other than `latest`.
    pub pinned_tags: bool,
    /// lint.fixed_addresses: whether the service may publish fixed host ports (a public entry
    /// point whose well-known port is its contract). Names, subnets and addresses never may.
    pub fixed_ports: bool,
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
            bind: Bind::Loopback,
            pinned_tags: true,
            fixed_ports: false,
            recovery: Duration::from_secs(30),
            shutdown: None,
        }
    }
}

/// A `service:port` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// The compose service.
    pub service: String,
    /// The container port.
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.port)
    }
}

/// `[networks.NAME]`: from a probe on this network, exactly these targets connect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    /// Exactly the targets a probe on this network may connect to; empty means none.
    pub reach: Vec<Target>,
    /// `Some(false)`: the network must have no egress, whatever compose says (a data
    /// network someone forgot to mark `internal: true` then fails). `None`: judged only
    /// when the network is internal.
    pub egress: Option<bool>,
}

/// network.bind: the host interfaces a service's published ports may bind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bind {
    /// Only a specific interface, e.g. `127.0.0.1::8080`: reachable from this host, not the
    /// network. Right for everything that is not a public entry point.
    #[default]
    Loopback,
    /// Every interface (`80:80`, `0.0.0.0:443:443`): a public entry point such as the
    /// gateway or load balancer a seed puts in front of the stack.
    Any,
}

impl Bind {
    /// The word the policy uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Bind::Loopback => "loopback",
            Bind::Any => "any",
        }
    }
}

/// What a persistence or backup spec writes and reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
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
    /// The service that owns the data.
    pub service: String,
    /// How the data is written and read back.
    pub kind: DataKind,
    /// The named volume holding the data, as keyed in the compose file.
    pub volume: String,
    /// For `kind = "file"`: the mount path of the volume inside the service.
    pub path: Option<String>,
}

/// How a backup is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupMethod {
    /// A tar archive of the named volume through a helper container (seed zigQuant).
    Tar,
    /// A logical `pg_dump` of the database.
    PgDump,
}

/// `[[backup]]`: back up, destroy, restore, boot and compare checksums.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// The service that owns the data.
    pub service: String,
    /// The named volume to back up, as keyed in the compose file.
    pub volume: String,
    /// How the data is written and read back.
    pub kind: DataKind,
    /// The ways to take the backup, each judged; never empty.
    pub methods: Vec<BackupMethod>,
}

/// `[[routes]]`: a request through the gateway reaches its upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The request path.
    pub path: String,
    /// The service that must answer it.
    pub upstream: String,
    /// The HTTP status it must answer with.
    pub status: u16,
}

/// `[deploy] time` unless set: 004 ZViewer's 部署时间 < 5分钟.
pub const DEFAULT_DEPLOY_TIME: Duration = Duration::from_secs(300);
/// `[deploy] rollback` unless set: a bad version's healthcheck fails within seconds, Swarm's
/// monitor and the old version's start-first restart add seconds more; two minutes bounds a
/// rollback that does not happen at all.
pub const DEFAULT_DEPLOY_ROLLBACK: Duration = Duration::from_secs(120);

/// `[availability]`: steady load through the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// The path requested through the gateway.
    pub path: String,
    /// The status the `[[routes]]` entry for `path` declares, the only answer that counts as
    /// success; `None` (no route for the path): any 2xx or 3xx.
    pub status: Option<u16>,
    /// Requests per second.
    pub rate: u32,
    /// How long the load runs.
    pub duration: Duration,
    /// The least share answered with a 2xx or 3xx, in percent.
    pub success: f64,
    /// The largest allowed p99 latency.
    pub p99: Duration,
    /// The service behind `path`; `None` when neither the policy nor a route names one.
    pub upstream: Option<String>,
    /// The least number of replicas that must answer.
    pub replicas: u32,
    /// How far from an even share a replica's share may be, in percent of that share.
    pub balance: f64,
    /// The longest allowed error burst while the stack changes.
    pub burst: Duration,
    /// The upstream's dependencies to restart; `None`: its `depends_on`.
    pub dependencies: Option<Vec<String>>,
    /// How soon after a dependency is back the upstream must answer again.
    pub reconnect: Duration,
    /// How many replicas `scale.out` scales to.
    pub scale_to: u32,
}

impl Availability {
    /// The load's target: `path` at `base` (which must be a loopback address), judged by the
    /// route's declared status where there is one.
    pub fn target(&self, base: std::net::SocketAddr) -> crate::errors::Result<crate::load::Target> {
        Ok(crate::load::Target::loopback(base, &self.path)?.expecting(self.status))
    }
}

/// `[observability]`: Prometheus scrapes these targets; the metrics endpoint has these families.
#[derive(Debug, Clone, PartialEq)]
pub struct Observability {
    /// The Prometheus service; `None` when no scrape targets are checked.
    pub prometheus: Option<String>,
    /// The services Prometheus must report `up`.
    pub targets: Vec<String>,
    /// Where the metrics endpoint is; `None` when no families are checked.
    pub metrics: Option<Target>,
    /// The path of the metrics endpoint, `/metrics` unless the policy says otherwise.
    pub metrics_path: String,
    /// The metric families the endpoint must expose.
    pub families: Vec<String>,
}

impl Default for Observability {
    /// Nothing to check, but the conventional metrics path, so a policy without
    /// `[observability]` and one with an empty table resolve the same.
    fn default() -> Self {
        Observability {
            prometheus: None,
            targets: Vec::new(),
            metrics: None,
            metrics_path: model::DEFAULT_METRICS_PATH.to_owned(),
            families: Vec::new(),
        }
    }
}

/// `[gateway]`: which service is the gateway and which container port it publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// The gateway service.
    pub service: String,
    /// The container port it serves on.
    pub port: u16,
}

/// A whole policy file, resolved: `settings(service)` gives the effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy file it was read from, as given to [`load`] or [`parse`].
    pub path: PathBuf,
    /// The `[defaults]` over the harness's strict defaults.
    pub defaults: Settings,
    /// Per-service effective settings (defaults with the `[services.NAME]` overrides applied).
    pub services: BTreeMap<String, Settings>,
    /// `[networks.NAME]`, keyed by the network's key in the compose file.
    pub networks: BTreeMap<String, NetworkPolicy>,
    /// `[[persistence]]`, in file order.
    pub persistence: Vec<Persistence>,
    /// `[[backup]]`, in file order.
    pub backups: Vec<Backup>,
    /// `[gateway]`; `None` when the policy has none.
    pub gateway: Option<Gateway>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<Route>,
    /// `[observability]`, or nothing to check when absent.
    pub observability: Observability,
    /// `[availability]`; `None` when the policy has none.
    pub availability: Option<Availability>,
    /// `[deploy] time`: from `up` to healthy.
    pub deploy_time: Duration,
    /// `[deploy] rollback`: on Swarm, from a bad version's rollout to its rollback done.
    pub deploy_rollback: Duration,
    /// `[[waive]]`: criteria deliberately not judged, in file order.
    pub waivers: Vec<Waiver>,
}

impl Policy {
    /// The harness's defaults and nothing else, as if `path` were an empty file: what a stack
    /// without a policy is judged by.
    pub fn harness_defaults(path: PathBuf, services: &[&str]) -> Policy {
        Policy {
            path,
            defaults: Settings::default(),
            services: services.iter().map(|s| ((*s).to_owned(), Settings::default())).collect(),
            networks: BTreeMap::new(),
            persistence: Vec::new(),
            backups: Vec::new(),
            gateway: None,
            routes: Vec::new(),
            observability: Observability::default(),
            availability: None,
            deploy_time: DEFAULT_DEPLOY_TIME,
            deploy_rollback: DEFAULT_DEPLOY_ROLLBACK,
            waivers: Vec::new(),
        }
    }

    /// The effective settings for a service (the defaults when it has no table).
    pub fn settings(&self, service: &str) -> &Settings {
        self.services.get(service).unwrap_or(&self.defaults)
    }

    /// The waiver that covers criterion `criterion_id` for `subject` (a service name, or
    /// whatever the criterion judges), if any: a waiver names the exact id or its family
    /// (the part before the dot), and one without a service covers every subject.
    pub fn waiver(&self, criterion_id: &str, subject: &str) -> Option<&Waiver> {
        let family = criterion_id.split_once('.').map_or(criterion_id, |(family, _)| family);
        self.waivers.iter().find(|w| {
            (w.criterion == criterion_id || w.criterion == family)
                && w.service.as_deref().is_none_or(|service| service == subject)
        })
    }
}

/// `[[waive]]`: a criterion the stack deliberately does not meet, and why. A waived
/// criterion is still judged; the waiver is what a report shows next to the failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiver {
    /// A criterion id (`user.process`) or family (`user`) from the catalogue.
    pub criterion: String,
    /// The one service it is waived for; `None` waives it for every subject.
    pub service: Option<String>,
    /// Why, in the author's words; never empty.
    pub reason: String,
    /// The policy file and line that say so, for the report.
    pub path: PathBuf,
    /// The 1-based line of the entry's `criterion` key.
    pub line: usize,
}

impl DataKind {
    fn name(self) -> &'static str {
        match self {
            DataKind::Postgres => "postgres",
            DataKind::Redis => "redis",
            DataKind::File => "file",
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
