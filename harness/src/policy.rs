//! The acceptance policy: `compose/<stack>/acceptance.toml`.
//!
//! Stack-wide `[defaults]`, per-service `[services.NAME]` overrides, and expectations:
//! which networks reach which service ports, what must persist, how to back it up, which
//! routes the gateway serves, what Prometheus must scrape. Every switch defaults to the
//! strict choice; a stack that deliberately does otherwise (seed RedFire keeps secrets in
//! env on purpose) says so in its policy.
//!
//! [`load`] / [`parse`] resolve a file into a [`Policy`]. Every error names the file and
//! line; unknown keys are errors everywhere (a misspelt switch would otherwise silently
//! keep its strict default) and suggest the nearest valid key. Every service name is
//! checked against the compose file. An empty file is valid and means "all defaults".
//!
//! # Schema
//!
//! Durations are compose-style strings (`"30s"`, `"500ms"`, `"1m30s"`); sizes are strings
//! with a unit (`"500MB"` = 500,000,000 bytes as in `docker images`, `"1.5GB"`, `"100MiB"`).
//!
//! | Key | Type | Default | Meaning |
//! |-----|------|---------|---------|
//! | `schema` | integer | `1` | Policy format version; only `1` exists. |
//! | **`[defaults]`** | table | | Settings for every service; any key may be left out. |
//! | `startup` | duration | `"30s"` | Budget from `up` to healthy. |
//! | `image_size` | size | `"500MB"` | Largest allowed image. |
//! | `memory` | size | `"512MB"` | Steady-state memory budget. |
//! | `health_response` | duration | `"3s"` | One healthcheck run must answer within this. |
//! | `non_root` | bool | `true` | Processes must not run as uid 0. |
//! | `read_only` | bool | `true` | Root filesystem must be read-only. |
//! | `cap_add` | list of capabilities | `[]` | Capabilities allowed back after `cap_drop: [ALL]`; `"cap_net_raw"` is read as `NET_RAW`. |
//! | `no_new_privileges` | bool | `true` | `security_opt: [no-new-privileges:true]` is required. |
//! | `memory_limit` | bool | `true` | A memory limit must be set. |
//! | `pids_limit` | bool | `true` | A pids limit must be set. |
//! | `restart` | list of strings | `["always", "unless-stopped", "on-failure"]` | Allowed restart policies (`no`, `always`, `on-failure`, `unless-stopped`). |
//! | `log_rotation` | bool | `true` | json-file logging with `max-size` and `max-file`. |
//! | `secrets_in_env` | bool | `false` | Whether secret-looking env names may carry literal values. |
//! | `secret_env_allowlist` | list of strings | `[]` | Env names exempt from the secret-name match. |
//! | `publish` | bool | `false` | Whether the service may publish host ports. |
//! | `pinned_tags` | bool | `true` | Image references need a tag other than `latest`. |
//! | `recovery` | duration | `"30s"` | Ready again within this after SIGKILL of PID 1. |
//! | `shutdown` | duration | unset | Exit within this after SIGTERM; unset uses the service's `stop_grace_period`. |
//! | **`[services.NAME]`** | table | | Same keys as `[defaults]`, applied on top of them for service `NAME`. |
//! | **`[networks.NAME]`** | table | | From a probe on network `NAME`... |
//! | `reach` | list of `"service:port"` | required | ...exactly these targets connect (`[]`: none). |
//! | `egress` | bool | unset | `false`: nothing may leave the network (`network.egress`), even if compose forgot `internal: true`; every internal network is judged anyway. |
//! | **`[gateway]`** | table | | The stack's entry point; required when there are `[[routes]]`. |
//! | `service` | service | required | The gateway service. |
//! | `port` | integer 1-65535 | required | The container port it serves on. |
//! | **`[[routes]]`** | array of tables | | A request through the gateway reaches its upstream. |
//! | `path` | string starting with `/` | required | Request path. |
//! | `upstream` | service | required | Service that must answer. |
//! | `status` | integer 100-599 | `200` | Expected status. |
//! | **`[[persistence]]`** | array of tables | | Data must survive a restart and a down/up. |
//! | `service` | service | required | Service that owns the data. |
//! | `kind` | `postgres` \| `redis` \| `file` | required | How the data is written and read back. |
//! | `volume` | string | required | Named volume holding the data. |
//! | `path` | absolute path | required for `file`, forbidden otherwise | Mount path of the volume inside the service. |
//! | **`[[backup]]`** | array of tables | | Back up, destroy, restore, boot, compare checksums. |
//! | `service` | service | required | Service that owns the data. |
//! | `volume` | string | required | Named volume to back up. |
//! | `kind` | `postgres` \| `redis` \| `file` | required | How the data is written and compared. |
//! | `methods` | list of `tar` \| `pg_dump` | required, non-empty | `pg_dump` only with `kind = "postgres"`. |
//! | **`[observability]`** | table | | What monitoring must show. |
//! | `prometheus` | service | unset | The Prometheus service; required when `targets` is set. |
//! | `targets` | list of services | `[]` | Services Prometheus must report `up`. |
//! | `metrics` | `"service:port"` | unset | Where the metrics endpoint is; required when `families` is set. |
//! | `metrics_path` | string starting with `/` | `"/metrics"` | Path of the metrics endpoint. |
//! | `families` | list of strings | `[]` | Metric families the endpoint must expose. |
//!
//! Volume and network names are not checked here: the caller compares them with the
//! compose file, whose project prefixing this module knows nothing about.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::units::{parse_duration, parse_size};

/// Settings that apply to every service unless a `[services.NAME]` table overrides them.
/// Every field is optional in the file; `Settings::default()` holds the harness's
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

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.port)
    }
}

/// `[networks.NAME]`: from a probe on this network, exactly these targets connect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    pub reach: Vec<Target>,
    /// `Some(false)`: the network must have no egress, whatever compose says (a data
    /// network someone forgot to mark `internal: true` then fails). `None`: judged only
    /// when the network is internal.
    pub egress: Option<bool>,
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
#[derive(Debug, Clone, PartialEq)]
pub struct Observability {
    pub prometheus: Option<String>,
    pub targets: Vec<String>,
    pub metrics: Option<Target>,
    pub metrics_path: String,
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
            metrics_path: DEFAULT_METRICS_PATH.to_owned(),
            families: Vec::new(),
        }
    }
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

/// Where `/metrics` is unless `[observability] metrics_path` says otherwise.
const DEFAULT_METRICS_PATH: &str = "/metrics";

/// A policy file that cannot be read, parsed or resolved. One line, starting with
/// `FILE:LINE:` so editors and terminals can jump to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}: not valid TOML: {reason}", path.display())]
    Syntax { path: PathBuf, line: usize, reason: String },

    /// Valid TOML that breaks the schema: unknown key, wrong type, bad unit, unknown service...
    #[error("{}:{line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
}

impl PolicyError {
    /// The policy file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PolicyError::Read { path, .. } | PolicyError::Syntax { path, .. } | PolicyError::Invalid { path, .. } => {
                path
            }
        }
    }

    /// The 1-based line the error points at, when it is about the contents.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Read { .. } => None,
            PolicyError::Syntax { line, .. } | PolicyError::Invalid { line, .. } => Some(*line),
        }
    }
}

type PResult<T> = Result<T, PolicyError>;

/// Reads, parses and validates a policy. `services` are the service names of the compose
/// file the policy belongs to (for the "names a service that does not exist" error).
/// A missing file is an error; whether that means "all defaults" is the caller's call.
pub fn load(path: &Path, services: &[&str]) -> Result<Policy, PolicyError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path, services)
}

/// Parses and validates policy text; `path` is only used in errors and [`Policy::path`].
pub fn parse(text: &str, path: &Path, services: &[&str]) -> Result<Policy, PolicyError> {
    let doc = Doc { text, path, services };
    let root = DeTable::parse(text).map_err(|err| PolicyError::Syntax {
        path: path.to_path_buf(),
        line: doc.line(err.span().map_or(0, |span| span.start)),
        // The parser's reasons are one line today; keep ours one line even if that changes.
        reason: err.message().lines().map(str::trim).collect::<Vec<_>>().join("; "),
    })?;
    let root = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
    doc.policy(&root)
}

const TOP_KEYS: &[&str] =
    &["schema", "defaults", "services", "networks", "gateway", "routes", "persistence", "backup", "observability"];
const SETTINGS_KEYS: &[&str] = &[
    "startup",
    "image_size",
    "memory",
    "health_response",
    "non_root",
    "read_only",
    "cap_add",
    "no_new_privileges",
    "memory_limit",
    "pids_limit",
    "restart",
    "log_rotation",
    "secrets_in_env",
    "secret_env_allowlist",
    "publish",
    "pinned_tags",
    "recovery",
    "shutdown",
];
const NETWORK_KEYS: &[&str] = &["reach", "egress"];
const GATEWAY_KEYS: &[&str] = &["service", "port"];
const ROUTE_KEYS: &[&str] = &["path", "upstream", "status"];
const PERSISTENCE_KEYS: &[&str] = &["service", "kind", "volume", "path"];
const BACKUP_KEYS: &[&str] = &["service", "volume", "kind", "methods"];
const OBSERVABILITY_KEYS: &[&str] = &["prometheus", "targets", "metrics", "metrics_path", "families"];

const KINDS: &[&str] = &["postgres", "redis", "file"];
const METHODS: &[&str] = &["tar", "pg_dump"];
/// The restart policies compose accepts (`on-failure` may carry `:N` in compose; the
/// policy lists names only).
const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "unless-stopped"];
/// capabilities(7) without the `CAP_` prefix, plus compose's `ALL`. Checked so that a
/// misspelt capability is an error instead of an allowance that never matches.
const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

type Value<'i> = Spanned<DeValue<'i>>;

/// The text being parsed and what its errors need to say.
struct Doc<'a> {
    text: &'a str,
    path: &'a Path,
    services: &'a [&'a str],
}

/// A table whose keys have been checked against its schema.
struct Table<'t, 'i> {
    /// How messages name it: `[defaults]`, `[[routes]]`, or empty for the top level.
    name: String,
    span: Range<usize>,
    map: &'t DeTable<'i>,
}

impl<'t, 'i> Table<'t, 'i> {
    fn get(&self, key: &str) -> Option<&'t Value<'i>> {
        self.map.get(key)
    }

    /// "in [defaults]" / "at the top level", for the end of a message.
    fn place(&self) -> String {
        if self.name.is_empty() { "at the top level".to_owned() } else { format!("in {}", self.name) }
    }
}

/// The entries of a table in file order, so the first error reported is the first in the file.
fn entries<'t, 'i>(map: &'t DeTable<'i>) -> Vec<(&'t Spanned<std::borrow::Cow<'i, str>>, &'t Value<'i>)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

impl Doc<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid { path: self.path.to_path_buf(), line: self.line(span.start), message: message.into() }
    }

    fn policy(&self, root: &Value<'_>) -> PResult<Policy> {
        let top = self.table(root, String::new(), TOP_KEYS)?;

        if let Some(value) = top.get("schema") {
            let schema = self.integer_value(value, "schema", &top)?;
            if schema != 1 {
                return Err(self
                    .err(&value.span(), format!("`schema = {schema}` is not a schema this harness knows (known: 1)")));
            }
        }

        let mut defaults = Settings::default();
        if let Some(value) = top.get("defaults") {
            let table = self.table(value, "[defaults]".to_owned(), SETTINGS_KEYS)?;
            self.apply_settings(&table, &mut defaults)?;
        }

        let mut overrides = BTreeMap::new();
        if let Some(value) = top.get("services") {
            let services = self.table(value, "[services]".to_owned(), &[])?;
            for (name, value) in entries(services.map) {
                let label = format!("[services.{}]", name.get_ref());
                self.check_service(name.get_ref(), &name.span(), &label)?;
                let table = self.table(value, label, SETTINGS_KEYS)?;
                let mut settings = defaults.clone();
                self.apply_settings(&table, &mut settings)?;
                overrides.insert(name.get_ref().to_string(), settings);
            }
        }
        // Every compose service gets its effective settings, so callers never have to know
        // which ones happened to have a table.
        let services = self
            .services
            .iter()
            .map(|name| {
                let settings = overrides.get(*name).cloned().unwrap_or_else(|| defaults.clone());
                ((*name).to_owned(), settings)
            })
            .collect();

        let mut networks = BTreeMap::new();
        if let Some(value) = top.get("networks") {
            let table = self.table(value, "[networks]".to_owned(), &[])?;
            for (name, value) in entries(table.map) {
                let network = self.table(value, format!("[networks.{}]", name.get_ref()), NETWORK_KEYS)?;
                let reach = self
                    .required_strings(&network, "reach")?
                    .iter()
                    .map(|entry| {
                        self.target(entry, &format!("`reach` entry `{}` {}", entry.get_ref(), network.place()))
                    })
                    .collect::<PResult<_>>()?;
                let egress = self.boolean(&network, "egress")?;
                networks.insert(name.get_ref().to_string(), NetworkPolicy { reach, egress });
            }
        }

        let gateway = match top.get("gateway") {
            Some(value) => {
                let table = self.table(value, "[gateway]".to_owned(), GATEWAY_KEYS)?;
                let service = self.required_service(&table, "service")?;
                let port = self.required(&table, "port", "the container port, e.g. port = 8080")?;
                Some(Gateway { service, port: self.port_value(port, "port", &table)? })
            }
            None => None,
        };

        let mut routes = Vec::new();
        for value in self.table_array(&top, "routes")? {
            let table = self.table(value, "[[routes]]".to_owned(), ROUTE_KEYS)?;
            if gateway.is_none() {
                return Err(self.err(
                    &table.span,
                    "[[routes]] needs a [gateway] to send requests through (hint: add [gateway] with `service` and `port`)",
                ));
            }
            let path = self.required_string(&table, "path")?;
            self.check_absolute(&path, "path", &table)?;
            let upstream = self.required_service(&table, "upstream")?;
            let status = match table.get("status") {
                Some(value) => {
                    let status = self.integer_value(value, "status", &table)?;
                    u16::try_from(status).ok().filter(|s| (100..=599).contains(s)).ok_or_else(|| {
                        self.err(
                            &value.span(),
                            format!("`status = {status}` {} is not an HTTP status (expected 100-599)", table.place()),
                        )
                    })?
                }
                None => 200,
            };
            routes.push(Route { path: path.into_inner(), upstream, status });
        }

        let mut persistence = Vec::new();
        for value in self.table_array(&top, "persistence")? {
            let table = self.table(value, "[[persistence]]".to_owned(), PERSISTENCE_KEYS)?;
            let service = self.required_service(&table, "service")?;
            let kind = self.kind(&table, "persistence")?;
            let volume = self.required_string(&table, "volume")?.into_inner();
            let path = match (kind, self.string(&table, "path")?) {
                (DataKind::File, Some(path)) => {
                    self.check_absolute(&path, "path", &table)?;
                    Some(path.into_inner())
                }
                (DataKind::File, None) => {
                    return Err(self.err(
                        &table.span,
                        format!(
                            "[[persistence]] for `{service}` has kind = \"file\" but no `path` (hint: add path = the volume's mount path inside the service, e.g. \"/data\")"
                        ),
                    ));
                }
                (_, Some(path)) => {
                    return Err(self.err(
                        &path.span(),
                        format!(
                            "`path` {} only applies to kind = \"file\" (hint: remove it; {} data is read back through the service itself)",
                            table.place(),
                            kind_name(kind)
                        ),
                    ));
                }
                (_, None) => None,
            };
            persistence.push(Persistence { service, kind, volume, path });
        }

        let mut backups = Vec::new();
        for value in self.table_array(&top, "backup")? {
            let table = self.table(value, "[[backup]]".to_owned(), BACKUP_KEYS)?;
            let service = self.required_service(&table, "service")?;
            let volume = self.required_string(&table, "volume")?.into_inner();
            let kind = self.kind(&table, "backup")?;
            let names = self.required_strings(&table, "methods")?;
            if names.is_empty() {
                let span = table.get("methods").map_or(table.span.clone(), Spanned::span);
                return Err(self.err(
                    &span,
                    format!("`methods` {} is empty (hint: use [\"tar\"], which works for every kind)", table.place()),
                ));
            }
            let mut methods = Vec::new();
            for name in &names {
                let method = match name.get_ref().as_str() {
                    "tar" => BackupMethod::Tar,
                    "pg_dump" => BackupMethod::PgDump,
                    other => {
                        return Err(self.err(
                            &name.span(),
                            format!("backup method `{other}` is not one the harness knows{}", known(other, METHODS)),
                        ));
                    }
                };
                if method == BackupMethod::PgDump && kind != DataKind::Postgres {
                    return Err(self.err(
                        &name.span(),
                        format!(
                            "backup method `pg_dump` needs kind = \"postgres\", not \"{}\" (hint: use methods = [\"tar\"] for {} volumes)",
                            kind_name(kind),
                            kind_name(kind)
                        ),
                    ));
                }
                methods.push(method);
            }
            backups.push(Backup { service, volume, kind, methods });
        }

        let observability = match top.get("observability") {
            Some(value) => {
                self.observability(&self.table(value, "[observability]".to_owned(), OBSERVABILITY_KEYS)?)?
            }
            None => Observability::default(),
        };

        Ok(Policy {
            path: self.path.to_path_buf(),
            defaults,
            services,
            networks,
            persistence,
            backups,
            gateway,
            routes,
            observability,
        })
    }

    fn apply_settings(&self, t: &Table<'_, '_>, s: &mut Settings) -> PResult<()> {
        if let Some(v) = self.duration(t, "startup")? {
            s.startup = v;
        }
        if let Some(v) = self.size(t, "image_size")? {
            s.image_size = v;
        }
        if let Some(v) = self.size(t, "memory")? {
            s.memory = v;
        }
        if let Some(v) = self.duration(t, "health_response")? {
            s.health_response = v;
        }
        let switches = [
            ("non_root", &mut s.non_root),
            ("read_only", &mut s.read_only),
            ("no_new_privileges", &mut s.no_new_privileges),
            ("memory_limit", &mut s.memory_limit),
            ("pids_limit", &mut s.pids_limit),
            ("log_rotation", &mut s.log_rotation),
            ("secrets_in_env", &mut s.secrets_in_env),
            ("publish", &mut s.publish),
            ("pinned_tags", &mut s.pinned_tags),
        ];
        for (key, slot) in switches {
            if let Some(v) = self.boolean(t, key)? {
                *slot = v;
            }
        }
        if let Some(names) = self.strings(t, "cap_add")? {
            s.cap_add = names.iter().map(|name| self.capability(name, t)).collect::<PResult<_>>()?;
        }
        if let Some(names) = self.strings(t, "restart")? {
            s.restart = names
                .iter()
                .map(|name| {
                    let text = name.get_ref();
                    if RESTART_POLICIES.contains(&text.as_str()) {
                        Ok(text.clone())
                    } else {
                        Err(self.err(
                            &name.span(),
                            format!(
                                "restart policy `{text}` {} is not one compose knows{}",
                                t.place(),
                                known(text, RESTART_POLICIES)
                            ),
                        ))
                    }
                })
                .collect::<PResult<_>>()?;
        }
        if let Some(names) = self.strings(t, "secret_env_allowlist")? {
            s.secret_env_allowlist = names.into_iter().map(Spanned::into_inner).collect();
        }
        if let Some(v) = self.duration(t, "recovery")? {
            s.recovery = v;
        }
        if let Some(v) = self.duration(t, "shutdown")? {
            s.shutdown = Some(v);
        }
        Ok(())
    }

    /// `cap_net_bind_service`, `CAP_NET_BIND_SERVICE` and `NET_BIND_SERVICE` all mean the
    /// same capability; compose and `docker inspect` use the last form, so store that.
    fn capability(&self, name: &Spanned<String>, t: &Table<'_, '_>) -> PResult<String> {
        let upper = name.get_ref().trim().to_ascii_uppercase();
        let cap = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if CAPABILITIES.contains(&cap) {
            return Ok(cap.to_owned());
        }
        let hint = match nearest(cap, CAPABILITIES) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "see capabilities(7), e.g. NET_BIND_SERVICE, CHOWN, SETUID".to_owned(),
        };
        Err(self.err(
            &name.span(),
            format!(
                "capability `{}` in `cap_add` {} is not a linux capability (hint: {hint})",
                name.get_ref(),
                t.place()
            ),
        ))
    }

    fn observability(&self, t: &Table<'_, '_>) -> PResult<Observability> {
        let prometheus = match t.get("prometheus") {
            Some(_) => Some(self.required_service(t, "prometheus")?),
            None => None,
        };
        let targets: Vec<String> = match self.strings(t, "targets")? {
            Some(names) => names
                .iter()
                .map(|name| {
                    self.check_service(
                        name.get_ref(),
                        &name.span(),
                        &format!("`targets` entry `{}` {}", name.get_ref(), t.place()),
                    )?;
                    Ok(name.get_ref().clone())
                })
                .collect::<PResult<_>>()?,
            None => Vec::new(),
        };
        if prometheus.is_none()
            && let Some(value) = t.get("targets")
            && !targets.is_empty()
        {
            return Err(self.err(
                &value.span(),
                format!(
                    "`targets` {} needs `prometheus`, the service to ask (hint: add prometheus = \"<service>\")",
                    t.place()
                ),
            ));
        }
        let metrics = match self.string(t, "metrics")? {
            Some(entry) => Some(self.target(&entry, &format!("`metrics = \"{}\"` {}", entry.get_ref(), t.place()))?),
            None => None,
        };
        let metrics_path = match self.string(t, "metrics_path")? {
            Some(path) => {
                self.check_absolute(&path, "metrics_path", t)?;
                path.into_inner()
            }
            None => DEFAULT_METRICS_PATH.to_owned(),
        };
        let families: Vec<String> =
            self.strings(t, "families")?.unwrap_or_default().into_iter().map(Spanned::into_inner).collect();
        if metrics.is_none()
            && let Some(value) = t.get("families")
            && !families.is_empty()
        {
            return Err(self.err(
                &value.span(),
                format!(
                    "`families` {} needs `metrics`, the endpoint to read them from (hint: add metrics = \"<service>:<port>\")",
                    t.place()
                ),
            ));
        }
        Ok(Observability { prometheus, targets, metrics, metrics_path, families })
    }

    /// A value that must be a table with only `known` keys (`known` empty: any key, for
    /// tables keyed by service or network name).
    fn table<'t, 'i>(&self, value: &'t Value<'i>, name: String, known_keys: &[&str]) -> PResult<Table<'t, 'i>> {
        let DeValue::Table(map) = value.get_ref() else {
            let hint = if value.get_ref().is_array() && !name.starts_with("[[") {
                format!(" (hint: write {name}, with one pair of brackets)")
            } else {
                String::new()
            };
            return Err(self.err(
                &value.span(),
                format!("{name} must be a table, not {}{hint}", article(value.get_ref().type_str())),
            ));
        };
        let table = Table { name, span: value.span(), map };
        if !known_keys.is_empty() {
            for (key, _) in entries(map) {
                if !known_keys.contains(&key.get_ref().as_ref()) {
                    return Err(self.err(
                        &key.span(),
                        format!(
                            "unknown key `{}` {}{}",
                            key.get_ref(),
                            table.place(),
                            known(key.get_ref(), known_keys)
                        ),
                    ));
                }
            }
        }
        Ok(table)
    }

    /// `[[key]]` entries of the top level (none when the key is absent).
    fn table_array<'t, 'i>(&self, top: &Table<'t, 'i>, key: &str) -> PResult<Vec<&'t Value<'i>>> {
        match top.get(key).map(|value| (value, value.get_ref())) {
            None => Ok(Vec::new()),
            Some((_, DeValue::Array(items))) => Ok(items.iter().collect()),
            Some((value, other)) => Err(self.err(
                &value.span(),
                format!(
                    "`{key}` must be an array of tables, not {} (hint: write [[{key}]], with two pairs of brackets)",
                    article(other.type_str())
                ),
            )),
        }
    }

    fn required<'t, 'i>(&self, t: &Table<'t, 'i>, key: &str, example: &str) -> PResult<&'t Value<'i>> {
        t.get(key).ok_or_else(|| self.err(&t.span, format!("{} needs `{key}` (hint: add {example})", t.name)))
    }

    fn type_err(&self, value: &Value<'_>, key: &str, t: &Table<'_, '_>, expected: &str, hint: &str) -> PolicyError {
        self.err(
            &value.span(),
            format!("`{key}` {} must be {expected}, not {}{hint}", t.place(), article(value.get_ref().type_str())),
        )
    }

    fn string(&self, t: &Table<'_, '_>, key: &str) -> PResult<Option<Spanned<String>>> {
        match t.get(key) {
            None => Ok(None),
            Some(value) => match value.get_ref() {
                DeValue::String(text) => Ok(Some(Spanned::new(value.span(), text.to_string()))),
                _ => Err(self.type_err(value, key, t, "a string", "")),
            },
        }
    }

    fn required_string(&self, t: &Table<'_, '_>, key: &str) -> PResult<Spanned<String>> {
        self.required(t, key, &format!("{key} = \"...\""))?;
        self.string(t, key)?.ok_or_else(|| self.err(&t.span, format!("{} needs `{key}`", t.name)))
    }

    fn required_service(&self, t: &Table<'_, '_>, key: &str) -> PResult<String> {
        self.required(t, key, &format!("{key} = \"<service>\""))?;
        let name = self.required_string(t, key)?;
        self.check_service(name.get_ref(), &name.span(), &format!("`{key} = \"{}\"` {}", name.get_ref(), t.place()))?;
        Ok(name.into_inner())
    }

    fn boolean(&self, t: &Table<'_, '_>, key: &str) -> PResult<Option<bool>> {
        match t.get(key) {
            None => Ok(None),
            Some(value) => match value.get_ref() {
                DeValue::Boolean(b) => Ok(Some(*b)),
                // `"true"` is the common slip; say how to write it.
                DeValue::String(text) if matches!(text.as_ref(), "true" | "false") => Err(self.type_err(
                    value,
                    key,
                    t,
                    "true or false",
                    &format!(" (hint: write {key} = {text}, without quotes)"),
                )),
                _ => Err(self.type_err(value, key, t, "true or false", "")),
            },
        }
    }

    fn integer_value(&self, value: &Value<'_>, key: &str, t: &Table<'_, '_>) -> PResult<i64> {
        match value.get_ref() {
            DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix())
                .map_err(|_| self.err(&value.span(), format!("`{key} = {int}` {} is too large", t.place()))),
            _ => Err(self.type_err(value, key, t, "an integer", "")),
        }
    }

    fn port_value(&self, value: &Value<'_>, key: &str, t: &Table<'_, '_>) -> PResult<u16> {
        let port = self.integer_value(value, key, t)?;
        u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| {
            self.err(&value.span(), format!("`{key} = {port}` {} is not a port (expected 1-65535)", t.place()))
        })
    }

    fn strings(&self, t: &Table<'_, '_>, key: &str) -> PResult<Option<Vec<Spanned<String>>>> {
        let Some(value) = t.get(key) else { return Ok(None) };
        let DeValue::Array(items) = value.get_ref() else {
            let hint =
                if value.get_ref().is_str() { format!(" (hint: write {key} = [\"...\"])") } else { String::new() };
            return Err(self.type_err(value, key, t, "a list of strings", &hint));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get_ref() {
                DeValue::String(text) if !text.trim().is_empty() => Ok(Spanned::new(item.span(), text.to_string())),
                DeValue::String(_) => {
                    Err(self.err(&item.span(), format!("`{key}` {} has an empty entry (item {})", t.place(), i + 1)))
                }
                other => Err(self.err(
                    &item.span(),
                    format!(
                        "`{key}` {} must be a list of strings, but item {} is {}",
                        t.place(),
                        i + 1,
                        article(other.type_str())
                    ),
                )),
            })
            .collect::<PResult<_>>()
            .map(Some)
    }

    fn required_strings(&self, t: &Table<'_, '_>, key: &str) -> PResult<Vec<Spanned<String>>> {
        self.required(t, key, &format!("{key} = [\"...\"]"))?;
        Ok(self.strings(t, key)?.unwrap_or_default())
    }

    fn duration(&self, t: &Table<'_, '_>, key: &str) -> PResult<Option<Duration>> {
        const HINT: &str = "use units such as 30s, 500ms, 1m";
        let Some(value) = t.get(key) else { return Ok(None) };
        match value.get_ref() {
            DeValue::String(text) => parse_duration(text).map(Some).map_err(|err| {
                // Our own wording of the hint; the crate error's hint speaks of compose files.
                let reason = match err {
                    crate::errors::Error::InvalidDuration { reason, .. } => reason,
                    other => other.to_string(),
                };
                self.err(&value.span(), format!("`{key} = \"{text}\"` {}: {reason} (hint: {HINT})", t.place()))
            }),
            DeValue::Integer(int) => Err(self.type_err(
                value,
                key,
                t,
                "a duration string",
                &format!(" (hint: write {key} = \"{int}s\"; {HINT})"),
            )),
            _ => Err(self.type_err(value, key, t, "a duration string", &format!(" (hint: {HINT})"))),
        }
    }

    fn size(&self, t: &Table<'_, '_>, key: &str) -> PResult<Option<u64>> {
        const HINT: &str = "use units such as 500MB, 1.5GB, 100MiB";
        let Some(value) = t.get(key) else { return Ok(None) };
        match value.get_ref() {
            DeValue::String(text) => parse_size(text).map(Some).map_err(|reason| {
                self.err(&value.span(), format!("`{key} = \"{text}\"` {}: {reason} (hint: {HINT})", t.place()))
            }),
            // A bare number is ambiguous (bytes? megabytes?): make the unit explicit.
            DeValue::Integer(int) => Err(self.type_err(
                value,
                key,
                t,
                "a size string",
                &format!(" (hint: write {key} = \"{int}MB\" or whatever unit you meant; {HINT})"),
            )),
            _ => Err(self.type_err(value, key, t, "a size string", &format!(" (hint: {HINT})"))),
        }
    }

    fn kind(&self, t: &Table<'_, '_>, what: &str) -> PResult<DataKind> {
        let name = self.required_string(t, "kind")?;
        match name.get_ref().as_str() {
            "postgres" => Ok(DataKind::Postgres),
            "redis" => Ok(DataKind::Redis),
            "file" => Ok(DataKind::File),
            other => Err(self.err(
                &name.span(),
                format!("{what} kind `{other}` is not one the harness knows{}", known(other, KINDS)),
            )),
        }
    }

    fn check_absolute(&self, path: &Spanned<String>, key: &str, t: &Table<'_, '_>) -> PResult<()> {
        if path.get_ref().starts_with('/') {
            return Ok(());
        }
        Err(self.err(&path.span(), format!("`{key} = \"{}\"` {} must start with `/`", path.get_ref(), t.place())))
    }

    /// A `service:port` string whose service exists and whose port is 1-65535.
    fn target(&self, entry: &Spanned<String>, subject: &str) -> PResult<Target> {
        let text = entry.get_ref();
        let Some((service, port)) = text.rsplit_once(':') else {
            return Err(
                self.err(&entry.span(), format!("{subject} is not `service:port` (hint: e.g. \"gateway:8080\")"))
            );
        };
        self.check_service(service, &entry.span(), subject)?;
        let port = port.trim().parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            self.err(&entry.span(), format!("{subject} has port `{port}`, which is not a port (expected 1-65535)"))
        })?;
        Ok(Target { service: service.to_owned(), port })
    }

    fn check_service(&self, name: &str, span: &Range<usize>, subject: &str) -> PResult<()> {
        if self.services.contains(&name) {
            return Ok(());
        }
        let mut names = self.services.to_vec();
        names.sort_unstable();
        let listed = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        let hint = nearest(name, &names).map(|near| format!(" (hint: did you mean `{near}`?)")).unwrap_or_default();
        Err(self.err(
            span,
            format!("{subject} names a service that is not in the compose file (services there: {listed}){hint}"),
        ))
    }
}

fn kind_name(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Postgres => "postgres",
        DataKind::Redis => "redis",
        DataKind::File => "file",
    }
}

/// "an integer", "a string": how messages name a TOML value's type.
fn article(type_name: &str) -> String {
    let an = type_name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {type_name}", if an { "an" } else { "a" })
}

/// The end of an "unknown X" message: the nearest valid word when there is a plausible
/// one, else the whole list, so the reader never has to open the docs to fix a typo.
fn known(word: &str, valid: &[&str]) -> String {
    match nearest(word, valid) {
        Some(near) => format!(" (hint: did you mean `{near}`?)"),
        None => format!(" (known: {})", valid.join(", ")),
    }
}

/// The valid word closest to `word`, if it is close enough to be a typo of it: at most a
/// third of the word's length in edits (at least 1, at most 3), so `prt` suggests `port`
/// but `x` suggests nothing.
pub(crate) fn nearest<'v>(word: &str, valid: &[&'v str]) -> Option<&'v str> {
    let word = word.to_ascii_lowercase();
    let budget = (word.chars().count() / 3).clamp(1, 3);
    valid
        .iter()
        .map(|candidate| (levenshtein(&word, &candidate.to_ascii_lowercase()), *candidate))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance (insertions, deletions, substitutions), one row at a time.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(kind_name(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &[&str] = &["api", "gateway", "postgres", "prometheus", "redis"];
    const PATH: &str = "compose/reference/acceptance.toml";

    fn parsed(input: &str) -> Result<Policy, PolicyError> {
        parse(input, Path::new(PATH), SERVICES)
    }

    fn ok(input: &str) -> Policy {
        parsed(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    /// `expected` is the whole message; the common file prefix is added here.
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let err = parsed(input).expect_err(input);
        assert_eq!(err.to_string(), format!("{PATH}:{expected}"), "{input}");
    }

    /// The error is on `line` and its message contains `fragment`.
    #[track_caller]
    fn check_err(input: &str, line: usize, fragment: &str) {
        let err = parsed(input).expect_err(input);
        let text = err.to_string();
        assert_eq!(err.line(), Some(line), "{input}\n=> {text}");
        assert!(text.contains(fragment), "{input}\n=> {text}\nmissing: {fragment}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    /// `input` resolves, and `service`'s effective settings are the defaults changed by `edit`.
    #[track_caller]
    fn check_settings(input: &str, service: &str, edit: impl FnOnce(&mut Settings)) {
        let mut expected = Settings::default();
        edit(&mut expected);
        assert_eq!(ok(input).settings(service), &expected, "{input}");
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn empty_file_is_all_defaults() {
        for input in ["", "\n# nothing\n", "schema = 1", "[defaults]", "[observability]"] {
            let policy = ok(input);
            assert_eq!(policy.defaults, Settings::default(), "{input:?}");
            assert_eq!(policy.services.len(), SERVICES.len(), "{input:?}");
            assert!(policy.services.values().all(|s| *s == Settings::default()), "{input:?}");
            assert!(policy.networks.is_empty() && policy.routes.is_empty() && policy.gateway.is_none());
            assert!(policy.persistence.is_empty() && policy.backups.is_empty());
            assert_eq!(policy.observability, Observability::default());
            assert_eq!(policy.observability.metrics_path, "/metrics");
            assert_eq!(policy.path, Path::new(PATH));
        }
    }

    #[test]
    fn defaults_apply_to_every_service() {
        let d = "[defaults]\n";
        check_settings(&format!("{d}startup = \"10s\""), "api", |s| s.startup = secs(10));
        check_settings(&format!("{d}startup = \"1m30s\""), "redis", |s| s.startup = secs(90));
        check_settings(&format!("{d}image_size = \"100MB\""), "api", |s| s.image_size = 100_000_000);
        check_settings(&format!("{d}image_size = \"1.5GB\""), "api", |s| s.image_size = 1_500_000_000);
        check_settings(&format!("{d}memory = \"100MiB\""), "api", |s| s.memory = 104_857_600);
        check_settings(&format!("{d}health_response = \"500ms\""), "api", |s| {
            s.health_response = Duration::from_millis(500)
        });
        check_settings(&format!("{d}non_root = false"), "api", |s| s.non_root = false);
        check_settings(&format!("{d}read_only = false"), "api", |s| s.read_only = false);
        check_settings(&format!("{d}no_new_privileges = false"), "api", |s| s.no_new_privileges = false);
        check_settings(&format!("{d}memory_limit = false"), "api", |s| s.memory_limit = false);
        check_settings(&format!("{d}pids_limit = false"), "api", |s| s.pids_limit = false);
        check_settings(&format!("{d}log_rotation = false"), "api", |s| s.log_rotation = false);
        check_settings(&format!("{d}secrets_in_env = true"), "api", |s| s.secrets_in_env = true);
        check_settings(&format!("{d}publish = true"), "api", |s| s.publish = true);
        check_settings(&format!("{d}pinned_tags = false"), "api", |s| s.pinned_tags = false);
        check_settings(&format!("{d}recovery = \"1m\""), "api", |s| s.recovery = secs(60));
        check_settings(&format!("{d}shutdown = \"10s\""), "api", |s| s.shutdown = Some(secs(10)));
        check_settings(&format!("{d}restart = [\"always\"]"), "api", |s| s.restart = vec!["always".into()]);
        check_settings(&format!("{d}restart = []"), "api", |s| s.restart = Vec::new());
        check_settings(&format!("{d}secret_env_allowlist = [\"TOKEN_URL\"]"), "api", |s| {
            s.secret_env_allowlist = vec!["TOKEN_URL".into()]
        });
    }

    #[test]
    fn capabilities_are_normalised() {
        let d = "[defaults]\n";
        check_settings(&format!("{d}cap_add = [\"NET_BIND_SERVICE\"]"), "api", |s| {
            s.cap_add = vec!["NET_BIND_SERVICE".into()]
        });
        check_settings(&format!("{d}cap_add = [\"cap_net_bind_service\"]"), "api", |s| {
            s.cap_add = vec!["NET_BIND_SERVICE".into()]
        });
        check_settings(&format!("{d}cap_add = [\"CAP_CHOWN\", \"setuid\"]"), "api", |s| {
            s.cap_add = vec!["CHOWN".into(), "SETUID".into()]
        });
    }

    #[test]
    fn overrides_apply_per_service_on_top_of_defaults() {
        let input =
            "[defaults]\nstartup = \"20s\"\n[services.gateway]\npublish = true\n[services.api]\nstartup = \"5s\"\n";
        check_settings(input, "gateway", |s| {
            s.startup = secs(20);
            s.publish = true;
        });
        check_settings(input, "api", |s| s.startup = secs(5));
        check_settings(input, "redis", |s| s.startup = secs(20));
        // Not in the compose file: the defaults, through `settings()`.
        check_settings(input, "elsewhere", |s| s.startup = secs(20));
        let policy = ok(input);
        assert_eq!(policy.services.keys().collect::<Vec<_>>(), SERVICES.iter().collect::<Vec<_>>());
        assert_eq!(policy.defaults.startup, secs(20));
    }

    #[test]
    fn override_order_in_file_does_not_matter() {
        let input = "[services.api]\nread_only = false\n[defaults]\nread_only = true\nmemory = \"1GB\"\n";
        check_settings(input, "api", |s| {
            s.read_only = false;
            s.memory = 1_000_000_000;
        });
    }

    #[test]
    fn resolves_a_whole_policy() {
        let input = r#"
schema = 1
[networks.frontend]
reach = ["gateway:8080"]
[networks.backend]
reach = ["postgres:5432", "redis:6379"]
[networks.isolated]
reach = []
[gateway]
service = "gateway"
port = 8080
[[routes]]
path = "/api/v1/notes"
upstream = "api"
[[routes]]
path = "/missing"
upstream = "api"
status = 404
[[persistence]]
service = "postgres"
kind = "postgres"
volume = "pgdata"
[[persistence]]
service = "api"
kind = "file"
volume = "uploads"
path = "/data"
[[backup]]
service = "postgres"
volume = "pgdata"
kind = "postgres"
methods = ["tar", "pg_dump"]
[observability]
prometheus = "prometheus"
targets = ["api"]
metrics = "api:8080"
families = ["http_requests_total"]
"#;
        let policy = ok(input);
        let target = |service: &str, port| Target { service: service.into(), port };
        assert_eq!(policy.networks["frontend"].reach, [target("gateway", 8080)]);
        assert_eq!(policy.networks["backend"].reach, [target("postgres", 5432), target("redis", 6379)]);
        assert_eq!(policy.networks["isolated"].reach, []);
        assert_eq!(policy.gateway, Some(Gateway { service: "gateway".into(), port: 8080 }));
        assert_eq!(
            policy.routes,
            [
                Route { path: "/api/v1/notes".into(), upstream: "api".into(), status: 200 },
                Route { path: "/missing".into(), upstream: "api".into(), status: 404 },
            ]
        );
        assert_eq!(
            policy.persistence,
            [
                Persistence {
                    service: "postgres".into(),
                    kind: DataKind::Postgres,
                    volume: "pgdata".into(),
                    path: None
                },
                Persistence {
                    service: "api".into(),
                    kind: DataKind::File,
                    volume: "uploads".into(),
                    path: Some("/data".into())
                },
            ]
        );
        assert_eq!(
            policy.backups,
            [Backup {
                service: "postgres".into(),
                volume: "pgdata".into(),
                kind: DataKind::Postgres,
                methods: vec![BackupMethod::Tar, BackupMethod::PgDump],
            }]
        );
        assert_eq!(
            policy.observability,
            Observability {
                prometheus: Some("prometheus".into()),
                targets: vec!["api".into()],
                metrics: Some(target("api", 8080)),
                metrics_path: "/metrics".into(),
                families: vec!["http_requests_total".into()],
            }
        );
    }

    #[test]
    fn small_resolutions() {
        let obs = ok("[observability]\nmetrics = \"api:9090\"\nmetrics_path = \"/prom\"").observability;
        assert_eq!((obs.metrics_path.as_str(), obs.metrics.map(|t| t.port)), ("/prom", Some(9090)));
        let backup = ok("[[backup]]\nservice = \"redis\"\nvolume = \"r\"\nkind = \"redis\"\nmethods = [\"tar\"]");
        assert_eq!(backup.backups[0].kind, DataKind::Redis);
        // Inline arrays of tables are the same thing as [[...]].
        let routes =
            ok("gateway = { service = \"gateway\", port = 80 }\nroutes = [{ path = \"/\", upstream = \"api\" }]");
        assert_eq!(routes.routes.len(), 1);
    }

    #[test]
    fn exact_messages() {
        check(
            "[defaults]\nstartup = \"30s\"\nimge_size = \"500MB\"",
            "3: unknown key `imge_size` in [defaults] (hint: did you mean `image_size`?)",
        );
        check(
            "[defaults]\nstartup = \"30 parsecs\"",
            "2: `startup = \"30 parsecs\"` in [defaults]: unknown unit (known: ns, us, ms, s, m, h) (hint: use units such as 30s, 500ms, 1m)",
        );
        check(
            "\n\n[services.databse]\nread_only = false",
            "3: [services.databse] names a service that is not in the compose file (services there: api, gateway, postgres, prometheus, redis)",
        );
        check(
            "[[persistence]]\nservice = \"postgres\"\nkind = \"mongodb\"\nvolume = \"v\"",
            "3: persistence kind `mongodb` is not one the harness knows (known: postgres, redis, file)",
        );
        check("[defaults]\nstartup = ", "2: not valid TOML: string values must be quoted, expected literal string");
        check(
            "[gateway]\nservice = \"gateway\"\nprt = 1",
            "3: unknown key `prt` in [gateway] (hint: did you mean `port`?)",
        );
        check("[gateway]\nxyz = 1", "2: unknown key `xyz` in [gateway] (known: service, port)");
    }

    #[test]
    fn unknown_keys_in_every_table() {
        check_err(
            "schema = 1\nservics = 2",
            2,
            "unknown key `servics` at the top level (hint: did you mean `services`?)",
        );
        check_err(
            "[[backups]]\nservice = \"api\"",
            1,
            "unknown key `backups` at the top level (hint: did you mean `backup`?)",
        );
        check_err(
            "[nonsense]",
            1,
            "(known: schema, defaults, services, networks, gateway, routes, persistence, backup",
        );
        check_err("[defaults]\nnon_rot = true", 2, "did you mean `non_root`?");
        check_err("[defaults]\nStartup = \"1s\"", 2, "did you mean `startup`?");
        check_err("[defaults]\nshutdwn = \"1s\"", 2, "did you mean `shutdown`?");
        check_err(
            "[services.api]\npublsh = true",
            2,
            "unknown key `publsh` in [services.api] (hint: did you mean `publish`?)",
        );
        check_err(
            "[networks.front]\nreac = []",
            2,
            "unknown key `reac` in [networks.front] (hint: did you mean `reach`?)",
        );
        check_err(
            "[[routes]]\npath = \"/\"\nupstrem = \"api\"",
            3,
            "unknown key `upstrem` in [[routes]] (hint: did you mean `upstream`?)",
        );
        check_err(
            "[[persistence]]\nvolumes = \"v\"",
            2,
            "unknown key `volumes` in [[persistence]] (hint: did you mean `volume`?)",
        );
        check_err(
            "[[backup]]\nmethod = [\"tar\"]",
            2,
            "unknown key `method` in [[backup]] (hint: did you mean `methods`?)",
        );
        check_err(
            "[observability]\nfamilies = []\ntarget = []",
            3,
            "unknown key `target` in [observability] (hint: did you mean `targets`?)",
        );
        check_err(
            "[observability]\nscrape_interval = \"5s\"",
            2,
            "(known: prometheus, targets, metrics, metrics_path, families)",
        );
    }

    #[test]
    fn bad_durations_and_sizes() {
        check_err("[defaults]\nstartup = \"30\"", 2, "a unit is missing (hint: use units such as 30s, 500ms, 1m)");
        check_err("[defaults]\nrecovery = \"soon\"", 2, "`recovery = \"soon\"` in [defaults]: expected a number");
        check_err("[services.api]\nshutdown = \"\"", 2, "in [services.api]: it is empty");
        check_err(
            "[defaults]\nstartup = 30",
            2,
            "must be a duration string, not an integer (hint: write startup = \"30s\"",
        );
        check_err("[defaults]\nhealth_response = true", 2, "must be a duration string, not a boolean");
        check_err(
            "[defaults]\nimage_size = \"500 parsecs\"",
            2,
            "unknown size unit `parsecs` in `500 parsecs` (known: B, kB, MB, GB, KiB, MiB, GiB) (hint: use units such as 500MB, 1.5GB, 100MiB)",
        );
        check_err("[defaults]\nmemory = \"512m\"", 2, "unknown size unit `m`");
        check_err("[defaults]\nmemory = \"lots\"", 2, "`lots` does not start with a number");
        check_err(
            "[defaults]\nmemory = 512",
            2,
            "must be a size string, not an integer (hint: write memory = \"512MB\"",
        );
    }

    #[test]
    fn wrong_types() {
        check_err(
            "[defaults]\nnon_root = \"true\"",
            2,
            "`non_root` in [defaults] must be true or false, not a string (hint: write non_root = true, without quotes)",
        );
        check_err("[defaults]\npublish = 1", 2, "`publish` in [defaults] must be true or false, not an integer");
        check_err(
            "[defaults]\ncap_add = \"NET_RAW\"",
            2,
            "must be a list of strings, not a string (hint: write cap_add = [\"...\"])",
        );
        check_err(
            "[defaults]\nrestart = [\"always\", 3]",
            2,
            "`restart` in [defaults] must be a list of strings, but item 2 is an integer",
        );
        check_err("[defaults]\nsecret_env_allowlist = [\"\"]", 2, "has an empty entry (item 1)");
        check_err("defaults = 3", 1, "[defaults] must be a table, not an integer");
        check_err(
            "[[defaults]]",
            1,
            "[defaults] must be a table, not an array (hint: write [defaults], with one pair of brackets)",
        );
        check_err("services = [1]", 1, "[services] must be a table, not an array");
        check_err("[services]\napi = 1", 2, "[services.api] must be a table, not an integer");
        check_err(
            "[routes]\npath = \"/\"",
            1,
            "`routes` must be an array of tables, not a table (hint: write [[routes]], with two pairs of brackets)",
        );
        check_err("persistence = [1]", 1, "[[persistence]] must be a table, not an integer");
        check_err("schema = \"1\"", 1, "`schema` at the top level must be an integer, not a string");
        check_err("schema = 2", 1, "`schema = 2` is not a schema this harness knows (known: 1)");
        check_err(
            "[gateway]\nservice = \"gateway\"\nport = \"80\"",
            3,
            "`port` in [gateway] must be an integer, not a string",
        );
    }

    #[test]
    fn bad_capabilities_and_restart_policies() {
        check_err(
            "[defaults]\ncap_add = [\"NET_BIND_SERVCE\"]",
            2,
            "capability `NET_BIND_SERVCE` in `cap_add` in [defaults] is not a linux capability (hint: did you mean `NET_BIND_SERVICE`?)",
        );
        check_err("[defaults]\ncap_add = [\"WIZARDRY\"]", 2, "(hint: see capabilities(7)");
        check_err(
            "[defaults]\nrestart = [\"alwys\"]",
            2,
            "restart policy `alwys` in [defaults] is not one compose knows (hint: did you mean `always`?)",
        );
        check_err("[defaults]\nrestart = [\"never\"]", 2, "(known: no, always, on-failure, unless-stopped)");
    }

    #[test]
    fn unknown_services_everywhere() {
        let names = "names a service that is not in the compose file (services there: api, gateway, postgres, prometheus, redis)";
        check_err("[services.db]", 1, &format!("[services.db] {names}"));
        check_err("[services.apii]\npublish = true", 1, "(hint: did you mean `api`?)");
        check_err(
            "[networks.n]\nreach = [\n\"api:80\",\n\"db:5432\"]",
            4,
            &format!("`reach` entry `db:5432` in [networks.n] {names}"),
        );
        check_err("[gateway]\nservice = \"gw\"\nport = 80", 2, &format!("`service = \"gw\"` in [gateway] {names}"));
        check_err(
            "[gateway]\nservice = \"gateway\"\nport = 80\n[[routes]]\npath = \"/\"\nupstream = \"web\"",
            6,
            &format!("`upstream = \"web\"` in [[routes]] {names}"),
        );
        check_err(
            "[[persistence]]\nservice = \"pg\"\nkind = \"postgres\"\nvolume = \"v\"",
            2,
            &format!("`service = \"pg\"` in [[persistence]] {names}"),
        );
        check_err(
            "[[backup]]\nservice = \"pg\"\nkind = \"postgres\"\nvolume = \"v\"\nmethods = [\"tar\"]",
            2,
            "`service = \"pg\"` in [[backup]]",
        );
        check_err("[observability]\nprometheus = \"prom\"", 2, "`prometheus = \"prom\"` in [observability]");
        check_err(
            "[observability]\nprometheus = \"prometheus\"\ntargets = [\"api\", \"worker\"]",
            3,
            "`targets` entry `worker` in [observability]",
        );
        check_err(
            "[observability]\nmetrics = \"app:8080\"",
            2,
            "`metrics = \"app:8080\"` in [observability] names a service",
        );
    }

    #[test]
    fn no_compose_services_lists_none() {
        let err = parse("[services.api]", Path::new(PATH), &[]).expect_err("no services");
        assert!(err.to_string().ends_with("(services there: none)"), "{err}");
    }

    #[test]
    fn bad_targets_and_ports() {
        check_err(
            "[networks.n]\nreach = [\"api\"]",
            2,
            "`reach` entry `api` in [networks.n] is not `service:port` (hint: e.g. \"gateway:8080\")",
        );
        check_err("[networks.n]\nreach = [\"api:0\"]", 2, "has port `0`, which is not a port (expected 1-65535)");
        check_err("[networks.n]\nreach = [\"api:65536\"]", 2, "has port `65536`");
        check_err("[networks.n]\nreach = [\"api:http\"]", 2, "has port `http`");
        check_err("[networks.n]", 1, "[networks.n] needs `reach` (hint: add reach = [\"...\"])");
        check_err(
            "[gateway]\nservice = \"gateway\"\nport = 0",
            3,
            "`port = 0` in [gateway] is not a port (expected 1-65535)",
        );
        check_err("[gateway]\nservice = \"gateway\"\nport = 70000", 3, "`port = 70000`");
        check_err("[gateway]\nservice = \"gateway\"\nport = -1", 3, "`port = -1`");
        check_err(
            "[gateway]\nservice = \"gateway\"",
            1,
            "[gateway] needs `port` (hint: add the container port, e.g. port = 8080)",
        );
        check_err("[gateway]\nport = 80", 1, "[gateway] needs `service`");
    }

    #[test]
    fn bad_routes() {
        let gw = "[gateway]\nservice = \"gateway\"\nport = 80\n";
        check_err(
            "[[routes]]\npath = \"/\"\nupstream = \"api\"",
            1,
            "[[routes]] needs a [gateway] to send requests through",
        );
        check_err(
            &format!("{gw}[[routes]]\npath = \"api\"\nupstream = \"api\""),
            5,
            "`path = \"api\"` in [[routes]] must start with `/`",
        );
        check_err(
            &format!("{gw}[[routes]]\npath = \"/\"\nupstream = \"api\"\nstatus = 99"),
            7,
            "`status = 99` in [[routes]] is not an HTTP status",
        );
        check_err(&format!("{gw}[[routes]]\nupstream = \"api\""), 4, "[[routes]] needs `path`");
        check_err(
            &format!("{gw}[[routes]]\npath = \"/\"\nupstream = \"api\"\n\n[[routes]]\npath = \"/\""),
            8,
            "[[routes]] needs `upstream`",
        );
    }

    #[test]
    fn bad_persistence_and_backup() {
        let p = "[[persistence]]\nservice = \"api\"\nvolume = \"v\"\n";
        check_err(&format!("{p}kind = \"file\""), 1, "[[persistence]] for `api` has kind = \"file\" but no `path`");
        check_err(
            &format!("{p}kind = \"postgres\"\npath = \"/data\""),
            5,
            "`path` in [[persistence]] only applies to kind = \"file\"",
        );
        check_err(
            &format!("{p}kind = \"file\"\npath = \"data\""),
            5,
            "`path = \"data\"` in [[persistence]] must start with `/`",
        );
        check_err(
            &format!("{p}kind = \"postgre\""),
            4,
            "persistence kind `postgre` is not one the harness knows (hint: did you mean `postgres`?)",
        );
        check_err(p, 1, "[[persistence]] needs `kind`");
        check_err("[[persistence]]\nservice = \"api\"\nkind = \"redis\"", 1, "[[persistence]] needs `volume`");
        let b = "[[backup]]\nservice = \"redis\"\nvolume = \"v\"\n";
        check_err(
            &format!("{b}kind = \"redis\"\nmethods = [\"tar\", \"pg_dump\"]"),
            5,
            "backup method `pg_dump` needs kind = \"postgres\", not \"redis\" (hint: use methods = [\"tar\"] for redis volumes)",
        );
        check_err(
            &format!("{b}kind = \"redis\"\nmethods = [\"rsync\"]"),
            5,
            "backup method `rsync` is not one the harness knows (known: tar, pg_dump)",
        );
        check_err(&format!("{b}kind = \"postgres\"\nmethods = [\"pgdump\"]"), 5, "(hint: did you mean `pg_dump`?)");
        check_err(&format!("{b}kind = \"redis\"\nmethods = []"), 5, "`methods` in [[backup]] is empty");
        check_err(&format!("{b}kind = \"redis\""), 1, "[[backup]] needs `methods`");
        check_err(
            &format!("{b}kind = \"mongodb\"\nmethods = [\"tar\"]"),
            4,
            "backup kind `mongodb` is not one the harness knows (known: postgres, redis, file)",
        );
    }

    #[test]
    fn bad_observability() {
        check_err(
            "[observability]\ntargets = [\"api\"]",
            2,
            "`targets` in [observability] needs `prometheus`, the service to ask",
        );
        check_err(
            "[observability]\nfamilies = [\"up\"]",
            2,
            "`families` in [observability] needs `metrics`, the endpoint to read them from",
        );
        check_err(
            "[observability]\nmetrics = \"api\"",
            2,
            "`metrics = \"api\"` in [observability] is not `service:port`",
        );
        check_err(
            "[observability]\nmetrics = \"api:8080\"\nmetrics_path = \"metrics\"",
            3,
            "`metrics_path = \"metrics\"` in [observability] must start with `/`",
        );
    }

    #[test]
    fn malformed_toml_names_the_line() {
        check_err("[defaults]\nstartup = \"30s\n", 2, "not valid TOML: invalid basic string");
        check_err("[defaults]\npublish = true\npublish = false", 3, "not valid TOML: duplicate key");
        check_err("[defaults\n", 1, "not valid TOML");
        check_err("\n\n[services.api]\n[services.api]", 4, "not valid TOML");
        let err = parsed("x = ").expect_err("syntax");
        assert!(matches!(err, PolicyError::Syntax { line: 1, .. }), "{err:?}");
    }

    #[test]
    fn load_reads_the_file_and_names_it_when_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acceptance.toml");
        std::fs::write(&path, "[services.api]\npublish = true\n").expect("write");
        assert!(load(&path, SERVICES).expect("load").settings("api").publish);
        let missing = dir.path().join("nope.toml");
        let err = load(&missing, SERVICES).expect_err("missing");
        assert_eq!(err.to_string(), format!("cannot read {}", missing.display()));
        assert_eq!((err.path(), err.line()), (missing.as_path(), None));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[track_caller]
    fn check_nearest(word: &str, expected: Option<&str>) {
        assert_eq!(nearest(word, SETTINGS_KEYS), expected, "{word}");
    }

    #[test]
    fn suggests_only_plausible_typos() {
        check_nearest("imge_size", Some("image_size"));
        check_nearest("memroy", Some("memory"));
        check_nearest("PUBLISH", Some("publish"));
        check_nearest("readonly", Some("read_only"));
        check_nearest("x", None);
        check_nearest("colour", None);
        check_nearest("timeout", None);
    }

    #[track_caller]
    fn check_distance(a: &str, b: &str, expected: usize) {
        assert_eq!(levenshtein(a, b), expected, "{a} -> {b}");
        assert_eq!(levenshtein(b, a), expected, "{b} -> {a}");
    }

    #[test]
    fn edit_distance() {
        check_distance("", "", 0);
        check_distance("", "abc", 3);
        check_distance("kitten", "sitting", 3);
        check_distance("port", "prt", 1);
        check_distance("same", "same", 0);
        check_distance("µs", "us", 1);
    }

    #[test]
    fn articles() {
        assert_eq!(article("integer"), "an integer");
        assert_eq!(article("array"), "an array");
        assert_eq!(article("string"), "a string");
    }
}
