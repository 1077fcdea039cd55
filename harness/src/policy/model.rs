//! The file model of `acceptance.toml`: serde types that mirror the file one to one.
//!
//! Every table denies unknown keys, and every leaf that has a grammar (durations, sizes,
//! ports, capabilities, `service:port`) is a type whose `Deserialize` checks it, so a bad
//! value fails where it is read, with its span. What needs the compose file (service
//! names) or more than one key (`path` only for `kind = "file"`) is checked in `load`.
//!
//! The doc comments here are the schema's descriptions and the reference table in
//! `docs/policy.md`: they are written for a policy author, not for this crate.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{BackupMethod, DataKind, Settings};
use crate::units::{parse_duration, parse_size};

/// What `Duration`'s errors and the docs say a duration looks like.
pub(crate) const DURATION_HINT: &str = "use units such as 30s, 500ms, 1m";
/// What `Size`'s errors and the docs say a size looks like.
pub(crate) const SIZE_HINT: &str = "use units such as 500MB, 1.5GB, 100MiB";
/// Where `/metrics` is unless `[observability] metrics_path` says otherwise.
pub(crate) const DEFAULT_METRICS_PATH: &str = "/metrics";
/// The status a route must answer with unless it says otherwise.
pub(crate) const DEFAULT_STATUS: u16 = 200;

/// The whole file. An empty file is valid and means "all defaults".
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "acceptance.toml", description = "The acceptance policy of one compose stack.")]
pub(crate) struct PolicyFile {
    /// Policy format version; only `1` exists.
    #[schemars(extend("default" = 1))]
    #[expect(dead_code, reason = "reading it is the check: `SchemaVersion` accepts only 1")]
    pub(crate) schema: Option<SchemaVersion>,
    /// Settings for every service; any key may be left out.
    pub(crate) defaults: Option<Table<SettingsFile>>,
    /// Per-service overrides, keyed by compose service name: the same keys as `[defaults]`,
    /// applied on top of them for that service only.
    #[serde(default)]
    pub(crate) services: BTreeMap<At<String>, Table<SettingsFile>>,
    /// Per-network expectations, keyed by compose network name.
    #[serde(default)]
    pub(crate) networks: BTreeMap<String, Table<NetworkFile>>,
    /// The stack's entry point; required when there are `[[routes]]`.
    pub(crate) gateway: Option<At<Table<GatewayFile>>>,
    /// A request through the gateway reaches its upstream.
    #[serde(default)]
    pub(crate) routes: Vec<At<Table<RouteFile>>>,
    /// Data must survive a restart and a down/up.
    #[serde(default)]
    pub(crate) persistence: Vec<At<Table<PersistenceFile>>>,
    /// Back up, destroy, restore, boot, compare checksums.
    #[serde(default)]
    pub(crate) backup: Vec<Table<BackupFile>>,
    /// What monitoring must show.
    pub(crate) observability: Option<Table<ObservabilityFile>>,
    /// The stack keeps answering under steady load (`availability.steady`): sent through the
    /// `[gateway]` (required) on its port published on 127.0.0.1, or, when it publishes none,
    /// through a forwarder on a network of the stack (a gateway with neither is an input
    /// error); never anywhere else, and bounded by `rate` × `duration` requests.
    pub(crate) availability: Option<At<Table<AvailabilityFile>>>,
    /// The deployment's own budget (`deploy.time`).
    pub(crate) deploy: Option<Table<DeployFile>>,
    /// Criteria deliberately not judged, each with the reason why.
    #[serde(default)]
    pub(crate) waive: Vec<Table<WaiverFile>>,
}

/// `[defaults]` and `[services.NAME]`: every key is optional; a missing key keeps the value
/// from the level below (service over defaults over the harness's strict defaults).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = settings_defaults)]
pub(crate) struct SettingsFile {
    /// Budget from `up` to healthy.
    pub(crate) startup: Option<Duration>,
    /// Largest allowed image.
    pub(crate) image_size: Option<Size>,
    /// Steady-state memory budget.
    pub(crate) memory: Option<Size>,
    /// One healthcheck run must answer within this.
    pub(crate) health_response: Option<Duration>,
    /// Processes must not run as uid 0.
    pub(crate) non_root: Option<bool>,
    /// Root filesystem must be read-only.
    pub(crate) read_only: Option<bool>,
    /// Capabilities allowed back after `cap_drop: [ALL]`; `"cap_net_raw"` is read as `NET_RAW`.
    pub(crate) cap_add: Option<Vec<Capability>>,
    /// `security_opt: [no-new-privileges:true]` is required.
    pub(crate) no_new_privileges: Option<bool>,
    /// A memory limit must be set.
    pub(crate) memory_limit: Option<bool>,
    /// A pids limit must be set.
    pub(crate) pids_limit: Option<bool>,
    /// Allowed restart policies.
    pub(crate) restart: Option<Vec<RestartPolicy>>,
    /// json-file logging with `max-size` and `max-file`.
    pub(crate) log_rotation: Option<bool>,
    /// Whether secret-looking env names may carry literal values.
    pub(crate) secrets_in_env: Option<bool>,
    /// Env names exempt from secrets.env: neither their name nor their value (a URL's password) is judged.
    pub(crate) secret_env_allowlist: Option<Vec<Text>>,
    /// Whether the service may publish host ports.
    pub(crate) publish: Option<bool>,
    /// Which host interfaces its published ports may bind: `loopback` (a specific interface)
    /// or `any` (a public entry point).
    pub(crate) bind: Option<super::Bind>,
    /// Image references need a tag other than `latest`.
    pub(crate) pinned_tags: Option<bool>,
    /// Whether the service may publish fixed host ports (`80:80`), which a second run on one
    /// engine or a second replica collides on: for a public entry point whose well-known port
    /// is its contract. A `container_name`, network name, subnet or address still fails
    /// `lint.fixed_addresses`.
    pub(crate) fixed_ports: Option<bool>,
    /// Ready again within this after SIGKILL of PID 1.
    pub(crate) recovery: Option<Duration>,
    /// Exit within this after SIGTERM; unset uses the service's `stop_grace_period`.
    pub(crate) shutdown: Option<Duration>,
}

impl SettingsFile {
    /// `settings` with every key this table sets replaced.
    pub(crate) fn apply(&self, mut s: Settings) -> Settings {
        let set = |slot: &mut bool, value: Option<bool>| *slot = value.unwrap_or(*slot);
        s.startup = self.startup.map_or(s.startup, |d| d.0);
        s.image_size = self.image_size.map_or(s.image_size, |b| b.0);
        s.memory = self.memory.map_or(s.memory, |b| b.0);
        s.health_response = self.health_response.map_or(s.health_response, |d| d.0);
        set(&mut s.non_root, self.non_root);
        set(&mut s.read_only, self.read_only);
        set(&mut s.no_new_privileges, self.no_new_privileges);
        set(&mut s.memory_limit, self.memory_limit);
        set(&mut s.pids_limit, self.pids_limit);
        set(&mut s.log_rotation, self.log_rotation);
        set(&mut s.secrets_in_env, self.secrets_in_env);
        set(&mut s.publish, self.publish);
        s.bind = self.bind.unwrap_or(s.bind);
        set(&mut s.pinned_tags, self.pinned_tags);
        set(&mut s.fixed_ports, self.fixed_ports);
        if let Some(caps) = &self.cap_add {
            s.cap_add = caps.iter().map(|c| c.0.clone()).collect();
        }
        if let Some(policies) = &self.restart {
            s.restart = policies.iter().map(|p| p.0.clone()).collect();
        }
        if let Some(names) = &self.secret_env_allowlist {
            s.secret_env_allowlist = names.iter().map(|n| n.0.clone()).collect();
        }
        s.recovery = self.recovery.map_or(s.recovery, |d| d.0);
        s.shutdown = self.shutdown.map(|d| d.0).or(s.shutdown);
        s
    }

    /// The harness's defaults written as a table, for the schema's `default`s.
    fn of(s: &Settings) -> Self {
        SettingsFile {
            startup: Some(Duration(s.startup)),
            image_size: Some(Size(s.image_size)),
            memory: Some(Size(s.memory)),
            health_response: Some(Duration(s.health_response)),
            non_root: Some(s.non_root),
            read_only: Some(s.read_only),
            cap_add: Some(s.cap_add.iter().cloned().map(Capability).collect()),
            no_new_privileges: Some(s.no_new_privileges),
            memory_limit: Some(s.memory_limit),
            pids_limit: Some(s.pids_limit),
            restart: Some(s.restart.iter().cloned().map(RestartPolicy).collect()),
            log_rotation: Some(s.log_rotation),
            secrets_in_env: Some(s.secrets_in_env),
            secret_env_allowlist: Some(s.secret_env_allowlist.iter().cloned().map(Text).collect()),
            publish: Some(s.publish),
            bind: Some(s.bind),
            pinned_tags: Some(s.pinned_tags),
            fixed_ports: Some(s.fixed_ports),
            recovery: Some(Duration(s.recovery)),
            shutdown: s.shutdown.map(Duration),
        }
    }
}

/// The schema's `default` of every settings key comes from `Settings::default()`, so the
/// schema and the docs cannot drift from what the harness applies.
fn settings_defaults(schema: &mut Schema) {
    let Ok(serde_json::Value::Object(defaults)) = serde_json::to_value(SettingsFile::of(&Settings::default())) else {
        return;
    };
    let Some(serde_json::Value::Object(properties)) = schema.get_mut("properties") else { return };
    for (key, value) in defaults {
        if let (false, Some(serde_json::Value::Object(property))) = (value.is_null(), properties.get_mut(&key)) {
            property.insert("default".to_owned(), value);
        }
    }
}

/// `[networks.NAME]`: what a probe container attached to network `NAME` may reach.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkFile {
    /// Exactly these targets connect from the network (`[]`: none).
    pub(crate) reach: Vec<At<TargetSpec>>,
    /// `false`: nothing may leave the network (`network.egress`), even if compose forgot
    /// `internal: true`; every internal network is judged anyway.
    pub(crate) egress: Option<bool>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayFile {
    /// The gateway service.
    pub(crate) service: At<Service>,
    /// The container port it serves on.
    pub(crate) port: Port,
}

/// One `[[routes]]` entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    /// Request path.
    pub(crate) path: AbsPath,
    /// Service that must answer.
    pub(crate) upstream: At<Service>,
    /// Expected status.
    #[schemars(extend("default" = DEFAULT_STATUS))]
    pub(crate) status: Option<Status>,
}

/// One `[[persistence]]` entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersistenceFile {
    /// Service that owns the data.
    pub(crate) service: At<Service>,
    /// How the data is written and read back.
    pub(crate) kind: DataKind,
    /// Named volume holding the data.
    pub(crate) volume: String,
    /// Mount path of the volume inside the service; required for `kind = "file"`, forbidden otherwise.
    pub(crate) path: Option<At<AbsPath>>,
}

/// One `[[backup]]` entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupFile {
    /// Service that owns the data.
    pub(crate) service: At<Service>,
    /// Named volume to back up.
    pub(crate) volume: String,
    /// How the data is written and compared.
    pub(crate) kind: DataKind,
    /// How to take the backup (non-empty); `pg_dump` only with `kind = "postgres"`.
    pub(crate) methods: At<Vec<At<BackupMethod>>>,
}

/// `[observability]`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObservabilityFile {
    /// The Prometheus service; required when `targets` is set.
    pub(crate) prometheus: Option<At<Service>>,
    /// Services Prometheus must report `up`.
    pub(crate) targets: Option<At<Vec<At<Service>>>>,
    /// Where the metrics endpoint is; required when `families` is set.
    pub(crate) metrics: Option<At<TargetSpec>>,
    /// Path of the metrics endpoint.
    #[schemars(extend("default" = DEFAULT_METRICS_PATH))]
    pub(crate) metrics_path: Option<AbsPath>,
    /// Metric families the endpoint must expose.
    pub(crate) families: Option<At<Vec<Text>>>,
}

/// `[availability]`: steady load through the gateway's published port (on 127.0.0.1 only),
/// bounded by `rate` × `duration` requests, judged on the share answered and the p99 latency.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AvailabilityFile {
    /// The path requested through the gateway; unset: the first `[[routes]]` path.
    pub(crate) path: Option<AbsPath>,
    /// Requests per second, 1 to 2000.
    #[schemars(extend("default" = DEFAULT_RATE))]
    pub(crate) rate: Option<u32>,
    /// How long the load runs, at most 10m.
    #[schemars(extend("default" = "10s"))]
    pub(crate) duration: Option<Duration>,
    /// The least share of requests answered with success, in percent: the status the
    /// `[[routes]]` entry for `path` declares, else any 2xx or 3xx.
    #[schemars(extend("default" = DEFAULT_SUCCESS))]
    pub(crate) success: Option<f64>,
    /// The largest allowed 99th-percentile latency.
    #[schemars(extend("default" = "500ms"))]
    pub(crate) p99: Option<Duration>,
    /// The service behind `path` whose replicas are balanced, killed, rolled and scaled;
    /// unset: the upstream of the `[[routes]]` entry with this path, else of the first route.
    pub(crate) upstream: Option<At<Service>>,
    /// The least number of replicas of the upstream that must answer (`gateway.balance`).
    #[schemars(extend("default" = DEFAULT_REPLICAS))]
    pub(crate) replicas: Option<u32>,
    /// How far, in percent of an even share, any replica's share of the requests may be from
    /// it (`gateway.balance`): 25 lets 2 replicas take 37.5% to 62.5% each.
    #[schemars(extend("default" = DEFAULT_BALANCE))]
    pub(crate) balance: Option<f64>,
    /// The longest allowed error burst while the stack changes under load (a replica killed,
    /// a rolling update, a scale in), from the first failed request to the last.
    #[schemars(extend("default" = "1s"))]
    pub(crate) burst: Option<Duration>,
    /// The services the upstream depends on, restarted one at a time under load
    /// (`resilience.dependency_restart`); unset: the upstream's `depends_on`.
    pub(crate) dependencies: Option<Vec<At<Service>>>,
    /// How soon after a restarted dependency is ready again the upstream must answer again.
    #[schemars(extend("default" = "5s"))]
    pub(crate) reconnect: Option<Duration>,
    /// How many replicas `scale.out` scales the upstream to, 2 to 10; it must be more than
    /// the compose file starts.
    #[schemars(extend("default" = DEFAULT_SCALE_TO))]
    pub(crate) scale_to: Option<u32>,
}

/// `[availability] replicas` unless set.
pub(crate) const DEFAULT_REPLICAS: u32 = 2;
/// `[availability] balance` unless set.
pub(crate) const DEFAULT_BALANCE: f64 = 25.0;
/// `[availability] scale_to` unless set: 004 ZViewer's "scale from 1 to 3".
pub(crate) const DEFAULT_SCALE_TO: u32 = 3;

/// `[deploy]`: the whole deployment's budget.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployFile {
    /// From `up` to the last replica reported healthy, images already present (`deploy.time`).
    #[schemars(extend("default" = "5m"))]
    pub(crate) time: Option<Duration>,
    /// On Swarm, from a bad version's rollout to Swarm having rolled it back by itself
    /// (`deploy.rollback`).
    #[schemars(extend("default" = "2m"))]
    pub(crate) rollback: Option<Duration>,
}

/// `[availability] rate` unless set.
pub(crate) const DEFAULT_RATE: u32 = 50;
/// `[availability] success` unless set: 004 ZViewer's 服务可用性 > 99.9%.
pub(crate) const DEFAULT_SUCCESS: f64 = 99.9;

/// One `[[waive]]` entry: a criterion deliberately not judged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaiverFile {
    /// A criterion id (`user.process`) or a whole family (`user`) from the catalogue.
    pub(crate) criterion: At<String>,
    /// The one service it is waived for; unset waives it for every subject.
    pub(crate) service: Option<At<Service>>,
    /// Why, for the report: a ticket, a vendor constraint (required, non-empty).
    pub(crate) reason: At<Text>,
}

/// A wrapper's schema is its content's: the wrapper only changes how it is read.
macro_rules! forward_schema {
    ($wrapper:ident) => {
        impl<T: JsonSchema> JsonSchema for $wrapper<T> {
            fn inline_schema() -> bool {
                T::inline_schema()
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                T::schema_name()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                T::schema_id()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                T::json_schema(generator)
            }
        }
    };
}

/// A value with the byte range it was read from, so checks made after parsing can still
/// name its line. A wrapper (not `toml::Spanned` itself) so the schema sees only `T`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct At<T>(toml::Spanned<T>);

impl<T> At<T> {
    pub(crate) fn span(&self) -> Range<usize> {
        self.0.span()
    }

    pub(crate) fn get(&self) -> &T {
        self.0.get_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Spanned::deserialize(d).map(At)
    }
}

forward_schema!(At);

/// A table of the file. serde's derived structs also accept a sequence of their fields in
/// order, so without this `[[defaults]]` would be read as `defaults = [{...}]` and fail on
/// its first field; a table that must be a table says so instead.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TableVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<T, M::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(TableVisitor(std::marker::PhantomData)).map(Table)
    }
}

forward_schema!(Table);

/// A leaf read from one TOML string: `parse` says what is wrong as a predicate ("is not
/// a duration: ..."), which `load` puts after the key and table it was found in.
trait FromText: Sized {
    /// How a type error names what was expected: "a duration string".
    const EXPECTING: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
}

/// Deserializes a [`FromText`] leaf from a TOML string.
fn from_text<'de, T: FromText, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    struct TextVisitor<T>(std::marker::PhantomData<T>);
    impl<T: FromText> Visitor<'_> for TextVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            T::parse(text).map_err(E::custom)
        }
    }
    d.deserialize_str(TextVisitor(std::marker::PhantomData))
}

/// A leaf's schema: a named definition the docs can title.
macro_rules! leaf_schema {
    ($ty:ident, $schema:expr) => {
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

/// Implements `Deserialize` through [`FromText`] and `JsonSchema` as a string schema.
macro_rules! text_leaf {
    ($ty:ident, $schema:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                from_text(d)
            }
        }

        leaf_schema!($ty, $schema);
    };
}

/// A compose-style duration: `"30s"`, `"500ms"`, `"1m30s"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Duration(pub(crate) std::time::Duration);

impl FromText for Duration {
    const EXPECTING: &'static str = "a duration string";
    fn parse(text: &str) -> Result<Self, String> {
        parse_duration(text).map(Duration).map_err(|err| {
            // Our own hint: the crate error's speaks of compose files.
            let reason = match err {
                crate::errors::Error::InvalidDuration { reason, .. } => reason,
                other => other.to_string(),
            };
            format!("is not a duration: {reason} (hint: {DURATION_HINT})")
        })
    }
}

text_leaf!(
    Duration,
    json_schema!({
        "title": "duration",
        "description": "A compose-style duration: a chain of numbers with units ns, us, ms, s, m, h, such as \"30s\", \"500ms\", \"1m30s\".",
        "type": "string",
        "pattern": r"^\s*(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)\s*$",
        "examples": ["30s", "500ms", "1m30s"],
    })
);

impl Serialize for Duration {
    /// The shortest exact compose form: `1m30s`, `500ms`, `0`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let millis = self.0.as_millis();
        if millis == 0 || !millis.is_multiple_of(1000) {
            return s.serialize_str(&if millis == 0 { "0".to_owned() } else { format!("{millis}ms") });
        }
        let secs = millis / 1000;
        let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
        s.serialize_str(&parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect::<String>())
    }
}

/// A size with a unit: `"500MB"` (500,000,000 bytes, as `docker images` counts), `"1.5GB"`, `"100MiB"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Size(pub(crate) u64);

impl FromText for Size {
    const EXPECTING: &'static str = "a size string";
    fn parse(text: &str) -> Result<Self, String> {
        parse_size(text).map(Size).map_err(|reason| format!("is not a size: {reason} (hint: {SIZE_HINT})"))
    }
}

text_leaf!(
    Size,
    json_schema!({
        "title": "size",
        "description": "A number with a unit: B, kB, MB, GB (powers of 1000, as `docker images` counts) or KiB, MiB, GiB, such as \"500MB\", \"1.5GB\", \"100MiB\".",
        "type": "string",
        "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)?\s*$",
        "examples": ["500MB", "1.5GB", "100MiB"],
    })
);

impl Serialize for Size {
    /// The largest SI unit that divides the bytes exactly.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (value, unit) = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")]
            .into_iter()
            .find(|(factor, _)| self.0 != 0 && self.0.is_multiple_of(*factor))
            .map_or((self.0, "B"), |(factor, unit)| (self.0 / factor, unit));
        s.serialize_str(&format!("{value}{unit}"))
    }
}

/// A linux capability, stored as compose and `docker inspect` write it (`NET_BIND_SERVICE`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct Capability(pub(crate) String);

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

impl FromText for Capability {
    const EXPECTING: &'static str = "a string";
    /// `cap_net_bind_service`, `CAP_NET_BIND_SERVICE` and `NET_BIND_SERVICE` all mean the
    /// same capability.
    fn parse(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        let cap = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if CAPABILITIES.contains(&cap) {
            return Ok(Capability(cap.to_owned()));
        }
        let hint = match super::nearest(cap, CAPABILITIES) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "see capabilities(7), e.g. NET_BIND_SERVICE, CHOWN, SETUID".to_owned(),
        };
        Err(format!("is not a linux capability (hint: {hint})"))
    }
}

text_leaf!(
    Capability,
    json_schema!({
        "title": "capability",
        "description": "A linux capability as in capabilities(7), with or without `CAP_`, in any case.",
        "type": "string",
        "examples": ["NET_BIND_SERVICE", "cap_chown"],
    })
);

/// A restart policy name (`on-failure` may carry `:N` in compose; the policy lists names only).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct RestartPolicy(pub(crate) String);

const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "unless-stopped"];

impl FromText for RestartPolicy {
    const EXPECTING: &'static str = "a string";
    fn parse(text: &str) -> Result<Self, String> {
        if RESTART_POLICIES.contains(&text) {
            return Ok(RestartPolicy(text.to_owned()));
        }
        Err(format!("is not a restart policy compose knows{}", super::load::known(text, RESTART_POLICIES)))
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

leaf_schema!(RestartPolicy, json_schema!({ "title": "restart policy", "type": "string", "enum": RESTART_POLICIES }));

/// A non-empty string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct Text(pub(crate) String);

impl FromText for Text {
    const EXPECTING: &'static str = "a string";
    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() { Err("is empty".to_owned()) } else { Ok(Text(text.to_owned())) }
    }
}

text_leaf!(Text, json_schema!({ "type": "string", "minLength": 1, "pattern": r"\S" }));

/// A compose service name; `load` checks that the compose file has it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Service(pub(crate) String);

leaf_schema!(
    Service,
    json_schema!({ "title": "service", "description": "A service of the compose file.", "type": "string" })
);

/// `"service:port"`; `load` checks the service.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetSpec {
    pub(crate) service: String,
    pub(crate) port: u16,
}

impl FromText for TargetSpec {
    const EXPECTING: &'static str = "a string";
    fn parse(text: &str) -> Result<Self, String> {
        let Some((service, port)) = text.rsplit_once(':') else {
            return Err("is not `service:port` (hint: e.g. \"gateway:8080\")".to_owned());
        };
        let number = port.trim().parse::<u16>().ok().filter(|p| *p != 0);
        let port = number.ok_or_else(|| format!("has port `{port}`, which is not a port (expected 1-65535)"))?;
        Ok(TargetSpec { service: service.to_owned(), port })
    }
}

text_leaf!(
    TargetSpec,
    json_schema!({
        "title": "`service:port`",
        "description": "A compose service and one of its container ports, such as \"gateway:8080\".",
        "type": "string",
        "pattern": r"^.+:[0-9]{1,5}$",
    })
);

/// A path that starts with `/`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AbsPath(pub(crate) String);

impl FromText for AbsPath {
    const EXPECTING: &'static str = "a string";
    fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('/') { Ok(AbsPath(text.to_owned())) } else { Err("must start with `/`".to_owned()) }
    }
}

text_leaf!(AbsPath, json_schema!({ "title": "string starting with `/`", "type": "string", "pattern": "^/" }));

/// An integer in `low..=high`, read from a TOML integer; `complaint` is the predicate
/// for any other integer.
fn bounded<'de, D: Deserializer<'de>>(d: D, low: i64, high: i64, complaint: &'static str) -> Result<u16, D::Error> {
    struct Bounded(i64, i64, &'static str);
    impl Visitor<'_> for Bounded {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u16, E> {
            let Bounded(low, high, complaint) = self;
            u16::try_from(n).ok().filter(|_| (low..=high).contains(&n)).ok_or_else(|| E::custom(complaint))
        }
    }
    d.deserialize_i64(Bounded(low, high, complaint))
}

/// Implements `Deserialize` through [`bounded`] and `JsonSchema` as an integer schema.
macro_rules! integer_leaf {
    ($ty:ident, $low:literal ..= $high:literal, $complaint:literal, $schema:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                bounded(d, $low, $high, $complaint).map($ty)
            }
        }

        leaf_schema!($ty, $schema);
    };
}

/// A TCP port, 1-65535.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Port(pub(crate) u16);

integer_leaf!(
    Port,
    1..=65535,
    "is not a port (expected 1-65535)",
    json_schema!({ "title": "integer 1-65535", "type": "integer", "minimum": 1, "maximum": 65535 })
);

/// An HTTP status, 100-599.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Status(pub(crate) u16);

integer_leaf!(
    Status,
    100..=599,
    "is not an HTTP status (expected 100-599)",
    json_schema!({ "title": "integer 100-599", "type": "integer", "minimum": 100, "maximum": 599 })
);

/// `schema = 1`, the only format version there is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SchemaVersion(u16);

integer_leaf!(
    SchemaVersion,
    1..=1,
    "is not a schema this harness knows (known: 1)",
    json_schema!({ "type": "integer", "const": 1 })
);

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_text<T: Serialize>(value: T, expected: &str) {
        assert_eq!(serde_json::to_value(value).expect("serialize"), serde_json::json!(expected));
    }

    #[test]
    fn durations_and_sizes_write_back_in_the_file_format() {
        let ms = std::time::Duration::from_millis;
        check_text(Duration(ms(30_000)), "30s");
        check_text(Duration(ms(90_000)), "1m30s");
        check_text(Duration(ms(7_200_000)), "2h");
        check_text(Duration(ms(500)), "500ms");
        check_text(Duration(ms(0)), "0");
        check_text(Size(500_000_000), "500MB");
        check_text(Size(1_500_000_000), "1500MB");
        check_text(Size(2_000), "2kB");
        check_text(Size(104_857_600), "104857600B");
        check_text(Size(0), "0B");
    }
}
