//! The policy's behaviour through `parse`: what resolves to what, and every error's words.

use std::path::Path;
use std::time::Duration;

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
    check_settings(&format!("{d}fixed_ports = true"), "api", |s| s.fixed_ports = true);
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
    let input = "[defaults]\nstartup = \"20s\"\n[services.gateway]\npublish = true\n[services.api]\nstartup = \"5s\"\n";
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
            Persistence { service: "postgres".into(), kind: DataKind::Postgres, volume: "pgdata".into(), path: None },
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
    let routes = ok("gateway = { service = \"gateway\", port = 80 }\nroutes = [{ path = \"/\", upstream = \"api\" }]");
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
        "2: `startup = \"30 parsecs\"` in [defaults] is not a duration: unknown unit (known: ns, us, ms, s, m, h) (hint: use units such as 30s, 500ms, 1m)",
    );
    check(
        "\n\n[services.databse]\nread_only = false",
        "3: [services.databse] names a service that is not in the compose file (services there: api, gateway, postgres, prometheus, redis)",
    );
    check(
        "[[persistence]]\nservice = \"postgres\"\nkind = \"mongodb\"\nvolume = \"v\"",
        "3: `kind = \"mongodb\"` in [[persistence]] is not one the harness knows (known: postgres, redis, file)",
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
    check_err("schema = 1\nservics = 2", 2, "unknown key `servics` at the top level (hint: did you mean `services`?)");
    check_err(
        "[[backups]]\nservice = \"api\"",
        1,
        "unknown key `backups` at the top level (hint: did you mean `backup`?)",
    );
    check_err("[nonsense]", 1, "(known: schema, defaults, services, networks, gateway, routes, persistence, backup");
    check_err("[defaults]\nnon_rot = true", 2, "did you mean `non_root`?");
    check_err("[defaults]\nStartup = \"1s\"", 2, "did you mean `startup`?");
    check_err("[defaults]\nshutdwn = \"1s\"", 2, "did you mean `shutdown`?");
    check_err(
        "[services.api]\npublsh = true",
        2,
        "unknown key `publsh` in [services.api] (hint: did you mean `publish`?)",
    );
    check_err("[networks.front]\nreac = []", 2, "unknown key `reac` in [networks.front] (hint: did you mean `reach`?)");
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
    check_err(
        "[defaults]\nrecovery = \"soon\"",
        2,
        "`recovery = \"soon\"` in [defaults] is not a duration: expected a number",
    );
    check_err("[services.api]\nshutdown = \"\"", 2, "in [services.api] is not a duration: it is empty");
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
    check_err("[defaults]\nmemory = 512", 2, "must be a size string, not an integer (hint: write memory = \"512MB\"");
}

#[test]
fn wrong_types() {
    check_err(
        "[defaults]\nnon_root = \"true\"",
        2,
        "`non_root` in [defaults] must be true or false, not a string (hint: write non_root = true, without quotes)",
    );
    check_err("[defaults]\npublish = 1", 2, "`publish` in [defaults] must be true or false, not an integer");
    check_err("[defaults]\ncap_add = \"NET_RAW\"", 2, "must be a list, not a string (hint: write cap_add = [\"...\"])");
    check_err(
        "[defaults]\nrestart = [\"always\", 3]",
        2,
        "`restart` entry 2 in [defaults] must be a string, not an integer",
    );
    check_err("[defaults]\nsecret_env_allowlist = [\"\"]", 2, "`secret_env_allowlist` entry 1 in [defaults] is empty");
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
        "`routes` at the top level must be an array of tables, not a table (hint: write [[routes]], with two pairs of brackets)",
    );
    check_err("persistence = [1]", 1, "[[persistence]] must be a table, not an integer");
    check_err("schema = \"1\"", 1, "`schema` at the top level must be an integer, not a string");
    check_err("schema = 2", 1, "`schema = 2` at the top level is not a schema this harness knows (known: 1)");
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
        "`cap_add` entry `NET_BIND_SERVCE` in [defaults] is not a linux capability (hint: did you mean `NET_BIND_SERVICE`?)",
    );
    check_err("[defaults]\ncap_add = [\"WIZARDRY\"]", 2, "(hint: see capabilities(7)");
    check_err(
        "[defaults]\nrestart = [\"alwys\"]",
        2,
        "`restart` entry `alwys` in [defaults] is not a restart policy compose knows (hint: did you mean `always`?)",
    );
    check_err("[defaults]\nrestart = [\"never\"]", 2, "(known: no, always, on-failure, unless-stopped)");
}

#[test]
fn unknown_services_everywhere() {
    let names =
        "names a service that is not in the compose file (services there: api, gateway, postgres, prometheus, redis)";
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
        "`path = \"/data\"` in [[persistence]] only applies to kind = \"file\"",
    );
    check_err(
        &format!("{p}kind = \"file\"\npath = \"data\""),
        5,
        "`path = \"data\"` in [[persistence]] must start with `/`",
    );
    check_err(
        &format!("{p}kind = \"postgre\""),
        4,
        "`kind = \"postgre\"` in [[persistence]] is not one the harness knows (hint: did you mean `postgres`?)",
    );
    check_err(p, 1, "[[persistence]] needs `kind`");
    check_err("[[persistence]]\nservice = \"api\"\nkind = \"redis\"", 1, "[[persistence]] needs `volume`");
    let b = "[[backup]]\nservice = \"redis\"\nvolume = \"v\"\n";
    check_err(
        &format!("{b}kind = \"redis\"\nmethods = [\"tar\", \"pg_dump\"]"),
        5,
        "`methods` entry `pg_dump` in [[backup]] needs kind = \"postgres\", not \"redis\" (hint: use methods = [\"tar\"] for redis volumes)",
    );
    check_err(
        &format!("{b}kind = \"redis\"\nmethods = [\"rsync\"]"),
        5,
        "`methods` entry `rsync` in [[backup]] is not one the harness knows (known: tar, pg_dump)",
    );
    check_err(&format!("{b}kind = \"postgres\"\nmethods = [\"pgdump\"]"), 5, "(hint: did you mean `pg_dump`?)");
    check_err(&format!("{b}kind = \"redis\"\nmethods = []"), 5, "`methods` in [[backup]] is empty");
    check_err(&format!("{b}kind = \"redis\""), 1, "[[backup]] needs `methods`");
    check_err(
        &format!("{b}kind = \"mongodb\"\nmethods = [\"tar\"]"),
        4,
        "`kind = \"mongodb\"` in [[backup]] is not one the harness knows (known: postgres, redis, file)",
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
    check_err("[observability]\nmetrics = \"api\"", 2, "`metrics = \"api\"` in [observability] is not `service:port`");
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
    let keys = ["startup", "image_size", "memory", "health_response", "non_root", "read_only", "publish", "restart"];
    assert_eq!(nearest(word, &keys), expected, "{word}");
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
    assert_eq!(strsim::levenshtein(a, b), expected, "{a} -> {b}");
    assert_eq!(strsim::levenshtein(b, a), expected, "{b} -> {a}");
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
    assert_eq!(load::article("integer"), "an integer");
    assert_eq!(load::article("array"), "an array");
    assert_eq!(load::article("string"), "a string");
}

#[test]
fn every_budget_is_overridable_per_service() {
    let ms = Duration::from_millis;
    check_settings("[services.api]\nstartup = \"1ms\"", "api", |s| s.startup = ms(1));
    check_settings("[defaults]\nstartup = \"1m\"\n[services.api]\nstartup = \"1ms\"", "api", |s| s.startup = ms(1));
    check_settings("[services.api]\nhealth_response = \"250ms\"", "api", |s| s.health_response = ms(250));
    check_settings("[services.api]\nrecovery = \"2s\"\nshutdown = \"3s\"", "api", |s| {
        s.recovery = secs(2);
        s.shutdown = Some(secs(3));
    });
    check_settings("[services.api]\nimage_size = \"1GB\"\nmemory = \"64MiB\"", "api", |s| {
        s.image_size = 1_000_000_000;
        s.memory = 64 * 1024 * 1024;
    });
    // The override is the service's only: the others keep the defaults.
    check_settings("[services.api]\nstartup = \"1ms\"", "redis", |_| {});
}

/// `input` resolves, and `waiver(criterion, subject)` finds the waiver with `reason`
/// (or none when `reason` is `None`).
#[track_caller]
fn check_waiver(input: &str, criterion: &str, subject: &str, reason: Option<&str>) {
    let policy = ok(input);
    let found = policy.waiver(criterion, subject).map(|w| w.reason.as_str());
    assert_eq!(found, reason, "{input}\nwaiver({criterion}, {subject})");
}

#[test]
fn waivers_match_by_id_or_family_and_by_service() {
    let legacy = "[[waive]]\ncriterion = \"user.process\"\nservice = \"api\"\nreason = \"vendor image; OPS-12\"";
    check_waiver(legacy, "user.process", "api", Some("vendor image; OPS-12"));
    check_waiver(legacy, "user.process", "redis", None);
    check_waiver(legacy, "user.image", "api", None);
    let family = "[[waive]]\ncriterion = \"hardening\"\nreason = \"lab stack\"";
    check_waiver(family, "hardening.read_only", "api", Some("lab stack"));
    check_waiver(family, "hardening.pids_limit", "anything at all", Some("lab stack"));
    check_waiver(family, "hardening", "redis", Some("lab stack"));
    check_waiver(family, "secrets.env", "api", None);
    // The first that covers it wins, in file order.
    let two = format!("{legacy}\n[[waive]]\ncriterion = \"user\"\nreason = \"second\"");
    check_waiver(&two, "user.process", "api", Some("vendor image; OPS-12"));
    check_waiver(&two, "user.process", "redis", Some("second"));
    check_waiver("", "user.process", "api", None);
}

#[test]
fn waivers_keep_where_they_were_written() {
    let policy = ok("schema = 1\n\n[[waive]]\ncriterion = \"secrets.env\"\nreason = \"seed RedFire\"");
    assert_eq!(
        policy.waivers,
        [Waiver {
            criterion: "secrets.env".into(),
            service: None,
            reason: "seed RedFire".into(),
            path: PATH.into(),
            line: 4,
        }]
    );
}

#[test]
fn bad_waivers() {
    let w = "[[waive]]\n";
    check_err(
        &format!("{w}criterion = \"user.proces\"\nreason = \"r\""),
        2,
        "`criterion = \"user.proces\"` in [[waive]] is not a criterion id or family",
    );
    check_err(&format!("{w}criterion = \"hardenin\"\nreason = \"r\""), 2, "(hint: did you mean `hardening`?)");
    check_err(
        &format!("{w}criterion = \"user\"\nservice = \"legacy\"\nreason = \"r\""),
        3,
        "`service = \"legacy\"` in [[waive]] names a service that is not in the compose file",
    );
    check_err(&format!("{w}criterion = \"user\""), 1, "[[waive]] needs `reason` (hint: add reason = \"...\")");
    check_err(&format!("{w}criterion = \"user\"\nreason = \" \""), 3, "`reason = \" \"` in [[waive]] is empty");
    check_err(&format!("{w}reason = \"r\""), 1, "[[waive]] needs `criterion`");
    check_err(
        &format!("{w}criterion = \"user\"\nreason = \"r\"\nservices = [\"api\"]"),
        4,
        "unknown key `services` in [[waive]] (hint: did you mean `service`?)",
    );
    check_err("[waive]\ncriterion = \"user\"", 1, "`waive` at the top level must be an array of tables");
}

/// The suites' bad-policy stacks (run through the CLI in harness/tests/cli.rs, which needs
/// the engine) fail here already, with the file, the line and the key.
#[track_caller]
fn check_stack(stack: &str, line: usize, fragments: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/stacks").join(stack).join("acceptance.toml");
    let err = load(&path, &["idle"]).expect_err(stack);
    assert_eq!((err.path(), err.line()), (path.as_path(), Some(line)), "{err}");
    for fragment in fragments {
        assert!(err.to_string().contains(fragment), "{err}\nmissing: {fragment}");
    }
}

#[test]
fn bad_policy_stacks_name_file_line_and_key() {
    check_stack("bad-policy-key", 3, &["imge_size", "did you mean `image_size`"]);
    check_stack("bad-policy-unit", 3, &["`startup = \"30 parsecs\"` in [defaults] is not a duration"]);
    check_stack("bad-policy-kind", 4, &["`kind = \"mongodb\"` in [[persistence]]", "postgres, redis, file"]);
    check_stack("bad-policy-service", 2, &["[services.database] names a service", "idle"]);
}

#[test]
fn availability_takes_the_first_route_and_bounds_its_load() {
    let gw = "[gateway]\nservice = \"gateway\"\nport = 8080\n";
    let route = "[[routes]]\npath = \"/api/v1/notes\"\nupstream = \"api\"\n";
    let a = ok(&format!("{gw}{route}[availability]\n")).availability.expect("availability");
    assert_eq!(
        (a.path.as_str(), a.rate, a.duration, a.success, a.p99),
        ("/api/v1/notes", 50, secs(10), 99.9, Duration::from_millis(500))
    );
    let a = ok(&format!(
        "{gw}[availability]\npath = \"/healthz\"\nrate = 200\nduration = \"3s\"\nsuccess = 99.0\np99 = \"50ms\"\n"
    ))
    .availability
    .expect("availability");
    assert_eq!((a.path.as_str(), a.rate, a.duration, a.success), ("/healthz", 200, secs(3), 99.0));
    assert!(ok("").availability.is_none());
    check_err("[availability]\npath = \"/\"\n", 1, "needs a [gateway]");
    check_err(&format!("{gw}[availability]\n"), 4, "no `path`");
    check_err(&format!("{gw}[availability]\npath = \"/\"\nrate = 0\n"), 4, "1 to 2000");
    check_err(&format!("{gw}[availability]\npath = \"/\"\nduration = \"1h\"\n"), 4, "at most 10m");
    check_err(&format!("{gw}[availability]\npath = \"/\"\nsuccess = 120.0\n"), 4, "a percentage");
    check_err(&format!("{gw}[availability]\nhost = \"10.0.0.1\"\n"), 5, "host");
}
