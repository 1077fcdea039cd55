//! What a service's container is configured with, in one shape whether it was read from
//! the resolved compose file (static lint, no boot) or from `docker inspect` of the running
//! container (runtime). The configuration checks judge these facts, so lint and runtime
//! share one judgement and cannot drift apart.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engine::dockerfile::BuildFile;

/// A mount: `volume`, `bind` or `tmpfs`, its source (volume name or host path) and target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountFact {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The volume name or host path; empty for tmpfs.
    pub source: String,
    /// The mount path inside the container.
    pub target: String,
    /// For a bind made through a named volume (see [`volume_host_path`]): that volume.
    pub via_volume: Option<String>,
}

/// The host path a local-driver volume's options bind instead of the engine's own storage:
/// `driver_opts: {type: none, o: bind, device: /etc}` is a bind mount of `/etc` by another
/// name, and is judged and guarded as one.
pub fn volume_host_path(driver: &str, opts: &BTreeMap<String, String>) -> Option<String> {
    let local = driver.is_empty() || driver == "local";
    let binds = opts.get("o").is_some_and(|o| o.split(',').any(|x| matches!(x.trim(), "bind" | "rbind")));
    let device = opts.get("device").map(|d| d.trim()).filter(|d| !d.is_empty())?;
    (local && binds).then(|| device.to_owned())
}

/// Where a volume's data lives when it is not the engine's own storage: a host path it
/// binds, a network share (`type: nfs`, `cifs`), any device a driver mounts. `None` for the
/// engine's directory and for `tmpfs`. The backup check destroys and rewrites a volume; it
/// must never do that to what lives outside the engine.
pub fn volume_outside_engine(driver: &str, opts: &BTreeMap<String, String>) -> Option<String> {
    if let Some(path) = volume_host_path(driver, opts) {
        return Some(format!("the host path {path}"));
    }
    if !(driver.is_empty() || driver == "local") {
        return Some(format!("the volume driver `{driver}`"));
    }
    let kind = opts.get("type").map(|t| t.trim()).unwrap_or_default();
    let device = opts.get("device").map(|d| d.trim()).unwrap_or_default();
    match (kind, device) {
        ("tmpfs", _) | ("", "") => None,
        (kind, device) => Some(format!("a `{kind}` mount of {device}")),
    }
}

/// A published port: host interface, host port (empty when ephemeral and not yet bound),
/// container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFact {
    /// The host interface it is published on; empty means all interfaces.
    pub host_ip: String,
    /// The host port; empty when ephemeral and not yet bound.
    pub host_port: String,
    /// The container port, without the protocol.
    pub container_port: String,
}

/// Where the facts came from, for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the resolved compose file (static lint, no boot).
    Compose,
    /// Read from `docker inspect` of the running container.
    Inspect,
}

impl Source {
    /// The source as evidence names it, e.g. `docker inspect`.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Compose => "resolved compose file",
            Source::Inspect => "docker inspect",
        }
    }
}

/// The security-relevant configuration of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    /// The compose service.
    pub service: String,
    /// Where these facts were read from.
    pub source: Source,
    /// The image reference as configured; empty when none is given.
    pub image: String,
    /// The effective user: the service's `user:`, else the image's `USER`; `None` = root.
    pub user: Option<String>,
    /// Whether the container runs privileged.
    pub privileged: bool,
    /// The capabilities added (`cap_add`), as written.
    pub cap_add: Vec<String>,
    /// The capabilities dropped (`cap_drop`), as written.
    pub cap_drop: Vec<String>,
    /// The security options, e.g. `no-new-privileges:true`.
    pub security_opt: Vec<String>,
    /// Whether the root filesystem is read-only.
    pub read_only: bool,
    /// The volumes, bind mounts and tmpfs mounts.
    pub mounts: Vec<MountFact>,
    /// The network mode when one other than the default is set (e.g. `host`, `container:...`); `None` otherwise.
    pub network_mode: Option<String>,
    /// A shared PID namespace (e.g. `host`); `None` for the container's own.
    pub pid_mode: Option<String>,
    /// A shared IPC namespace (e.g. `host`); `None` for the container's own.
    pub ipc_mode: Option<String>,
    /// A shared UTS namespace (e.g. `host`); `None` for the container's own.
    pub uts_mode: Option<String>,
    /// The memory limit, in bytes; `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// The pids limit; `None` when unlimited.
    pub pids_limit: Option<i64>,
    /// The restart policy, e.g. `unless-stopped`; `None` when unset.
    pub restart: Option<String>,
    /// The logging driver, e.g. `json-file`; `None` when the engine's default applies.
    pub log_driver: Option<String>,
    /// The logging driver's options, e.g. `max-size`.
    pub log_opts: BTreeMap<String, String>,
    /// Environment as (name, value). Values are for judging only and never printed.
    pub env: Vec<(String, String)>,
    /// The healthcheck test, `None` when there is none (or it is disabled).
    pub healthcheck: Option<Vec<String>>,
    /// The published ports.
    pub ports: Vec<PortFact>,
    /// Where the user came from, e.g. `compose \`user:\``, `Dockerfile:12 USER 10001` or
    /// `image inspect harness/redis:7.0-bookworm`; `None` when no source could tell (lint with
    /// the image neither built from a readable Dockerfile nor on the engine): then it is not
    /// judged rather than assumed.
    pub user_from: Option<String>,
    /// Where the healthcheck came from, as for the user; `None` when no source could tell.
    pub health_from: Option<String>,
    /// Where env names came from when it was not the facts' own source (a Dockerfile line
    /// or the image), by name.
    pub env_from: BTreeMap<String, String>,
    /// The argv the container starts with: entrypoint then command, as configured (shell
    /// strings as one word); judged for credentials passed as arguments.
    pub command: Vec<String>,
    /// For a service built from a Dockerfile, the images its `FROM` lines name (with ARGs
    /// expanded) and where; empty otherwise.
    pub base_images: Vec<(String, String)>,
    /// Why a stand-in plays this service (`x-harness-stand-in`), when one does.
    pub stand_in: Option<String>,
}

/// What the image side says about a service, each fact with where it came from: the
/// Dockerfile that builds it over its base image's config, or the image's config on the
/// engine. A fact no source could tell is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSide {
    /// The image's user (`None` inside: none set, so root) and where that was read.
    pub user: Option<(Option<String>, String)>,
    /// The image's healthcheck (`None` inside: none, or `NONE`) and where that was read.
    pub healthcheck: Option<(Option<Vec<String>>, String)>,
    /// The image's environment as (name, value, where).
    pub env: Vec<(String, String, String)>,
    /// The images a Dockerfile's `FROM` lines name, and where.
    pub base_images: Vec<(String, String)>,
}

impl ImageSide {
    /// From an image's `Config` (`docker image inspect`); `Null` (not on the engine, or no
    /// engine) tells nothing.
    pub fn from_config(reference: &str, config: &Value) -> ImageSide {
        if config.is_null() {
            return ImageSide::default();
        }
        let at = format!("image inspect {reference}");
        ImageSide {
            user: Some((opt_str(&config["User"]), at.clone())),
            healthcheck: Some((health_test(&config["Healthcheck"]["Test"]), at.clone())),
            env: env_pairs(&config["Env"]).into_iter().map(|(k, v)| (k, v, at.clone())).collect(),
            base_images: Vec::new(),
        }
    }

    /// A Dockerfile's facts over those of the image its chain starts from (`base`: read
    /// from the engine, or [`ImageSide::default`] when it is not there). `FROM scratch`
    /// starts from nothing: no USER (root), no HEALTHCHECK, no ENV.
    pub fn from_build(file: &BuildFile, base: ImageSide) -> ImageSide {
        let scratch = file.base.is_none();
        let from = |at: &str| match &file.base {
            Some(b) => format!("{at} (base of {})", b.at),
            None => at.to_owned(),
        };
        let user = match &file.user {
            Some(u) => Some((Some(u.value.clone()), u.at.clone())),
            None if scratch => Some((None, "Dockerfile: no USER, FROM scratch".to_owned())),
            None => base.user.map(|(u, at)| (u, from(&at))),
        };
        let healthcheck = match &file.healthcheck {
            Some(h) => Some((h.value.clone(), h.at.clone())),
            None if scratch => Some((None, "Dockerfile: no HEALTHCHECK, FROM scratch".to_owned())),
            None => base.healthcheck.map(|(h, at)| (h, from(&at))),
        };
        let mut env: Vec<(String, String, String)> = base.env.into_iter().map(|(k, v, at)| (k, v, from(&at))).collect();
        for (k, v, at) in &file.env {
            env.retain(|(name, _, _)| name != k);
            env.push((k.clone(), v.clone(), at.clone()));
        }
        ImageSide {
            user,
            healthcheck,
            env,
            base_images: file.images.iter().map(|i| (i.value.clone(), i.at.clone())).collect(),
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `["K=V", ...]` as pairs (the engine's and images' form).
fn env_pairs(v: &Value) -> Vec<(String, String)> {
    strings(v)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv, String::new()),
        })
        .collect()
}

impl ServiceFacts {
    /// Named volumes whose options bind a host path (`host_paths`: the volume as this
    /// service's mounts name it → the path, from [`volume_host_path`]) are binds of that path,
    /// so hardening.host_mounts judges them as one.
    pub fn bind_volumes(&mut self, host_paths: &BTreeMap<String, String>) {
        for m in self.mounts.iter_mut().filter(|m| m.kind == "volume") {
            if let Some(path) = host_paths.get(&m.source) {
                m.via_volume = Some(std::mem::replace(&mut m.source, path.clone()));
                m.kind = "bind".into();
            }
        }
    }

    /// A stand-in plays this service (`why`, from `x-harness-stand-in`): what only the real
    /// image could say is unknown, so the user and healthcheck the stand-in's image gave are
    /// dropped; what the compose file (`raw_service`) sets itself is kept.
    pub fn played_by_stand_in(&mut self, why: &str, raw_service: &Value) {
        self.stand_in = Some(why.to_owned());
        if opt_str(&raw_service["user"]).is_none() {
            self.user_from = None;
        }
        let compose_health = raw_service["healthcheck"]["test"].is_array()
            || raw_service["healthcheck"]["disable"].as_bool() == Some(true);
        if !compose_health {
            self.health_from = None;
        }
    }

    /// Where the boot moved the service's fixed host ports (`80:80`) to ephemeral loopback
    /// ports ([`crate::boot::stack::isolation_override`]), the container shows the harness's choice
    /// and the file the stack's: the file's ports replace the container's, since those are what
    /// is judged. Returns whether they did; the verdict then says so
    /// ([`crate::boot::stack::PORTS_FROM_FILE`]).
    pub fn take_file_ports(&mut self, raw_service: &Value) -> bool {
        if !crate::boot::stack::fixes_host_ports(raw_service) {
            return false;
        }
        self.ports = ServiceFacts::from_compose(&self.service, raw_service, &ImageSide::default()).ports;
        true
    }
}

/// An entrypoint or command: an argv list, or a shell string as one word; null is none.
fn argv(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        _ => strings(v),
    }
}

/// The restart policy the engine applies. Compose maps `deploy.restart_policy.condition`
/// onto the engine's policy and lets it win over `restart:` (`none` -> `no`, `any` or
/// unset -> `always`; `on-failure` keeps `max_attempts` as its count).
pub fn restart_policy(svc: &Value) -> Option<String> {
    let deploy = &svc["deploy"]["restart_policy"];
    if deploy.is_object() {
        let attempts = deploy["max_attempts"].as_u64().filter(|n| *n > 0);
        return Some(match deploy["condition"].as_str().unwrap_or("any") {
            "none" => "no".to_owned(),
            "on-failure" => attempts.map_or_else(|| "on-failure".to_owned(), |n| format!("on-failure:{n}")),
            "unless-stopped" => "unless-stopped".to_owned(),
            _ => "always".to_owned(),
        });
    }
    opt_str(&svc["restart"])
}

/// A healthcheck test that actually runs something.
fn health_test(v: &Value) -> Option<Vec<String>> {
    let test = strings(v);
    match test.first().map(String::as_str) {
        None | Some("NONE") => None,
        _ => Some(test),
    }
}

/// Compose's memory values are bytes as a number or a string, or unit strings like `64m`.
fn bytes(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return (n > 0).then_some(n);
    }
    let s = v.as_str()?.trim().to_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let b = (n * factor) as u64;
    (b > 0).then_some(b)
}

impl ServiceFacts {
    /// Facts from the resolved compose document (`docker compose config --format json`)
    /// over what the image side says ([`ImageSide`]: the Dockerfile, the image's config),
    /// for settings the image supplies when compose does not (user, env, healthcheck).
    pub fn from_compose(service: &str, svc: &Value, image: &ImageSide) -> ServiceFacts {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut env_from = BTreeMap::new();
        for (k, v, at) in &image.env {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
            env_from.insert(k.clone(), at.clone());
        }
        if let Some(map) = svc["environment"].as_object() {
            for (k, v) in map {
                let value = v.as_str().map(str::to_owned).unwrap_or_default();
                env.retain(|(name, _)| name != k);
                env.push((k.clone(), value));
                env_from.remove(k);
            }
        }
        let (healthcheck, health_from) = if svc["healthcheck"]["disable"].as_bool() == Some(true) {
            (None, Some("compose `healthcheck: {disable: true}`".to_owned()))
        } else if svc["healthcheck"]["test"].is_array() {
            (health_test(&svc["healthcheck"]["test"]), Some("compose `healthcheck:`".to_owned()))
        } else {
            match &image.healthcheck {
                Some((h, at)) => (h.clone(), Some(at.clone())),
                None => (None, None),
            }
        };
        let (user, user_from) = match opt_str(&svc["user"]) {
            Some(u) => (Some(u), Some("compose `user:`".to_owned())),
            None => match &image.user {
                Some((u, at)) => (u.clone(), Some(at.clone())),
                None => (None, None),
            },
        };
        let mounts = svc["volumes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| MountFact {
                        kind: m["type"].as_str().unwrap_or("volume").to_owned(),
                        source: m["source"].as_str().unwrap_or_default().to_owned(),
                        target: m["target"].as_str().unwrap_or_default().to_owned(),
                        via_volume: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ports = svc["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| PortFact {
                        host_ip: p["host_ip"].as_str().unwrap_or_default().to_owned(),
                        host_port: match &p["published"] {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => String::new(),
                        },
                        container_port: p["target"].to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let logging = &svc["logging"];
        ServiceFacts {
            service: service.to_owned(),
            source: Source::Compose,
            image: svc["image"].as_str().unwrap_or_default().to_owned(),
            user,
            privileged: svc["privileged"].as_bool().unwrap_or(false),
            cap_add: strings(&svc["cap_add"]),
            cap_drop: strings(&svc["cap_drop"]),
            security_opt: strings(&svc["security_opt"]),
            read_only: svc["read_only"].as_bool().unwrap_or(false),
            mounts,
            network_mode: opt_str(&svc["network_mode"]),
            pid_mode: opt_str(&svc["pid"]),
            ipc_mode: opt_str(&svc["ipc"]),
            uts_mode: opt_str(&svc["uts"]),
            memory_limit: bytes(&svc["mem_limit"]).or_else(|| bytes(&svc["deploy"]["resources"]["limits"]["memory"])),
            pids_limit: svc["pids_limit"]
                .as_i64()
                .or_else(|| svc["deploy"]["resources"]["limits"]["pids"].as_i64())
                .filter(|n| *n > 0),
            restart: restart_policy(svc),
            log_driver: opt_str(&logging["driver"]),
            log_opts: logging["options"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default(),
            env,
            healthcheck,
            ports,
            user_from,
            health_from,
            env_from,
            command: argv(&svc["entrypoint"]).into_iter().chain(argv(&svc["command"])).collect(),
            base_images: image.base_images.clone(),
            stand_in: None,
        }
    }

    /// Facts from `docker inspect` of a running container (serialised to JSON, Docker's
    /// own field names).
    pub fn from_inspect(service: &str, c: &Value) -> ServiceFacts {
        let hc = &c["HostConfig"];
        let cfg = &c["Config"];
        let mounts = c["Mounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| MountFact {
                        kind: m["Type"].as_str().unwrap_or_default().to_owned(),
                        source: m["Name"].as_str().or(m["Source"].as_str()).unwrap_or_default().to_owned(),
                        target: m["Destination"].as_str().unwrap_or_default().to_owned(),
                        via_volume: None,
                    })
                    .chain(hc["Tmpfs"].as_object().into_iter().flat_map(|o| {
                        o.keys().map(|t| MountFact { kind: "tmpfs".into(), target: t.clone(), ..MountFact::default() })
                    }))
                    .collect()
            })
            .unwrap_or_default();
        let mut ports = Vec::new();
        if let Some(map) = c["NetworkSettings"]["Ports"].as_object() {
            for (container_port, bindings) in map {
                for b in bindings.as_array().into_iter().flatten() {
                    ports.push(PortFact {
                        host_ip: b["HostIp"].as_str().unwrap_or_default().to_owned(),
                        host_port: b["HostPort"].as_str().unwrap_or_default().to_owned(),
                        container_port: container_port.split('/').next().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        let mode = |key: &str| opt_str(&hc[key]).filter(|m| m != "private" && m != "default" && m != "shareable");
        ServiceFacts {
            service: service.to_owned(),
            source: Source::Inspect,
            image: cfg["Image"].as_str().unwrap_or_default().to_owned(),
            user: opt_str(&cfg["User"]),
            privileged: hc["Privileged"].as_bool().unwrap_or(false),
            cap_add: strings(&hc["CapAdd"]),
            cap_drop: strings(&hc["CapDrop"]),
            security_opt: strings(&hc["SecurityOpt"]),
            read_only: hc["ReadonlyRootfs"].as_bool().unwrap_or(false),
            mounts,
            network_mode: mode("NetworkMode").filter(|m| m == "host" || m.starts_with("container:")),
            pid_mode: mode("PidMode"),
            ipc_mode: mode("IpcMode"),
            uts_mode: mode("UTSMode"),
            memory_limit: hc["Memory"].as_u64().filter(|m| *m > 0),
            pids_limit: hc["PidsLimit"].as_i64().filter(|n| *n > 0),
            restart: opt_str(&hc["RestartPolicy"]["Name"]),
            log_driver: opt_str(&hc["LogConfig"]["Type"]),
            log_opts: hc["LogConfig"]["Config"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default(),
            env: env_pairs(&cfg["Env"]),
            healthcheck: health_test(&cfg["Healthcheck"]["Test"]),
            ports,
            user_from: Some(Source::Inspect.describe().to_owned()),
            health_from: Some(Source::Inspect.describe().to_owned()),
            env_from: BTreeMap::new(),
            command: argv(&cfg["Entrypoint"]).into_iter().chain(argv(&cfg["Cmd"])).collect(),
            base_images: Vec::new(),
            stand_in: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_volume_that_binds_a_host_path_is_told_from_the_engines_own() {
        let bind = opts(&[("type", "none"), ("o", "bind"), ("device", "/etc")]);
        assert_eq!(volume_host_path("local", &bind).as_deref(), Some("/etc"));
        assert_eq!(volume_host_path("", &opts(&[("o", "ro,rbind"), ("device", "/srv")])).as_deref(), Some("/srv"));
        assert_eq!(volume_outside_engine("local", &bind).as_deref(), Some("the host path /etc"));
        let nfs = opts(&[("type", "nfs"), ("o", "addr=10.0.0.1,rw"), ("device", ":/exports/data")]);
        assert_eq!(volume_host_path("local", &nfs), None, "a share is not a host path");
        assert_eq!(volume_outside_engine("local", &nfs).as_deref(), Some("a `nfs` mount of :/exports/data"));
        assert_eq!(volume_outside_engine("rexray", &BTreeMap::new()).as_deref(), Some("the volume driver `rexray`"));
        for inside in [opts(&[]), opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=10m")])] {
            assert_eq!(volume_outside_engine("local", &inside), None, "{inside:?}");
            assert_eq!(volume_host_path("local", &inside), None, "{inside:?}");
        }
    }

    #[test]
    fn a_bind_through_a_volume_becomes_a_bind_of_its_path() {
        let mut f = ServiceFacts::from_compose(
            "hidden",
            &json!({"volumes": [
                {"type": "volume", "source": "hostetc", "target": "/data"},
                {"type": "volume", "source": "plain", "target": "/plain"}
            ]}),
            &ImageSide::default(),
        );
        f.bind_volumes(&[("hostetc".to_owned(), "/etc".to_owned())].into());
        assert_eq!(
            f.mounts,
            [
                MountFact {
                    kind: "bind".into(),
                    source: "/etc".into(),
                    target: "/data".into(),
                    via_volume: Some("hostetc".into())
                },
                MountFact { kind: "volume".into(), source: "plain".into(), target: "/plain".into(), via_volume: None },
            ]
        );
    }

    #[test]
    fn compose_facts_merge_image_defaults() {
        let svc = json!({
            "image": "harness/app:0.1.0",
            "environment": {"DATABASE_PASSWORD": "hunter2", "APP_PORT": "8080"},
            "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"], "read_only": true,
            "mem_limit": "67108864", "pids_limit": 32, "restart": "unless-stopped",
            "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
            "volumes": [{"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"}],
            "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 8080, "published": "", "protocol": "tcp"}]
        });
        let image = json!({"User": "65534:65534", "Env": ["PATH=/bin", "APP_PORT=80"], "Healthcheck": {"Test": ["CMD", "/app", "healthcheck"]}});
        let f = ServiceFacts::from_compose("api", &svc, &ImageSide::from_config("harness/app:0.1.0", &image));
        assert_eq!(f.user.as_deref(), Some("65534:65534"), "image USER applies when compose has none");
        assert_eq!(f.memory_limit, Some(67_108_864));
        assert_eq!(f.pids_limit, Some(32));
        assert!(f.env.contains(&("APP_PORT".into(), "8080".into())), "compose env overrides the image's");
        assert!(f.env.contains(&("PATH".into(), "/bin".into())));
        assert_eq!(f.healthcheck, Some(vec!["CMD".into(), "/app".into(), "healthcheck".into()]));
        assert_eq!(f.ports[0].host_ip, "127.0.0.1");
        assert_eq!(f.mounts[0].source, "pgdata");
    }

    #[test]
    fn compose_disable_beats_image_healthcheck() {
        let f = ServiceFacts::from_compose(
            "x",
            &json!({"healthcheck": {"disable": true}}),
            &ImageSide::from_config("x:1", &json!({"Healthcheck": {"Test": ["CMD", "true"]}})),
        );
        assert_eq!(f.healthcheck, None);
        assert_eq!(f.user, None, "no user anywhere means root");
        assert_eq!(f.user_from.as_deref(), Some("image inspect x:1"), "and the image said so");
    }

    #[track_caller]
    fn check_restart(svc: Value, expected: Option<&str>) {
        assert_eq!(restart_policy(&svc).as_deref(), expected, "{svc}");
    }

    #[test]
    fn deploy_restart_policy_wins_over_restart_as_compose_maps_it() {
        check_restart(json!({"restart": "unless-stopped"}), Some("unless-stopped"));
        check_restart(json!({"restart": "always", "deploy": {"restart_policy": {"condition": "none"}}}), Some("no"));
        check_restart(
            json!({"deploy": {"restart_policy": {"condition": "on-failure", "max_attempts": 3}}}),
            Some("on-failure:3"),
        );
        check_restart(json!({"deploy": {"restart_policy": {"condition": "any"}}}), Some("always"));
        check_restart(json!({"restart": "no", "deploy": {"restart_policy": {}}}), Some("always"));
        check_restart(json!({"deploy": {"resources": {}}}), None);
    }

    fn build_file(text: &str, target: Option<&str>) -> BuildFile {
        crate::engine::dockerfile::parse("web", std::path::Path::new("Dockerfile"), text, target, &BTreeMap::new())
            .expect("parses")
    }

    #[test]
    fn the_dockerfile_speaks_before_its_base_image_and_compose_before_both() {
        let base = ImageSide::from_config(
            "harness/redis:7.0-bookworm",
            &json!({"User": "998", "Env": ["A=base"], "Healthcheck": {"Test": ["CMD", "redis-cli", "ping"]}}),
        );
        let file = build_file("FROM harness/redis:7.0-bookworm\nENV A=mine\nUSER root\n", None);
        let side = ImageSide::from_build(&file, base.clone());
        let f = ServiceFacts::from_compose("web", &json!({"build": {}}), &side);
        assert_eq!((f.user.as_deref(), f.user_from.as_deref()), (Some("root"), Some("Dockerfile:3 USER root")));
        assert_eq!(
            f.health_from.as_deref(),
            Some("image inspect harness/redis:7.0-bookworm (base of Dockerfile:1 FROM harness/redis:7.0-bookworm)")
        );
        assert!(f.env.contains(&("A".into(), "mine".into())));
        assert_eq!(f.env_from.get("A").map(String::as_str), Some("Dockerfile:2 ENV A"));
        assert_eq!(
            f.base_images,
            vec![("harness/redis:7.0-bookworm".to_owned(), "Dockerfile:1 FROM harness/redis:7.0-bookworm".to_owned())]
        );
        let f = ServiceFacts::from_compose("web", &json!({"user": "10001", "environment": {"A": "compose"}}), &side);
        assert_eq!(f.user_from.as_deref(), Some("compose `user:`"));
        assert_eq!(f.env_from.get("A"), None, "compose's environment is the facts' own source");
        // The base image not on the engine: what the Dockerfile leaves to it is unknown.
        let f = ServiceFacts::from_compose("web", &json!({}), &ImageSide::from_build(&file, ImageSide::default()));
        assert_eq!(f.health_from, None);
        assert!(f.user_from.is_some());
        // FROM scratch leaves nothing to a base.
        let f = ServiceFacts::from_compose(
            "web",
            &json!({}),
            &ImageSide::from_build(&build_file("FROM scratch\n", None), ImageSide::default()),
        );
        assert_eq!((f.user.as_deref(), f.health_from.is_some()), (None, true));
    }

    #[track_caller]
    fn check_bytes(v: Value, expected: Option<u64>) {
        assert_eq!(bytes(&v), expected, "{v}");
    }

    #[test]
    fn reads_compose_memory_forms() {
        check_bytes(json!(1024), Some(1024));
        check_bytes(json!("64m"), Some(64 * 1024 * 1024));
        check_bytes(json!("1g"), Some(1024 * 1024 * 1024));
        check_bytes(json!("512mb"), Some(512 * 1024 * 1024));
        check_bytes(json!("0"), None);
        check_bytes(json!(null), None);
    }

    #[test]
    fn inspect_facts_read_engine_field_names() {
        let c = json!({
            "Config": {"Image": "harness/redis:7.0-bookworm", "User": "998:998", "Env": ["REDIS_PASSWORD_FILE=/run/secrets/redis_password"],
                       "Healthcheck": {"Test": ["CMD-SHELL", "redis-cli ping"]}},
            "HostConfig": {"Privileged": false, "CapDrop": ["ALL"], "ReadonlyRootfs": true, "Memory": 134217728, "PidsLimit": 32,
                           "RestartPolicy": {"Name": "unless-stopped"}, "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
                           "NetworkMode": "hx1_data", "PidMode": "", "IpcMode": "private", "UTSMode": "",
                           "Tmpfs": {"/run/redis": "uid=998"}},
            "Mounts": [{"Type": "volume", "Name": "hx1_redisdata", "Source": "/var/lib/docker/volumes/hx1_redisdata/_data", "Destination": "/data"}],
            "NetworkSettings": {"Ports": {"6379/tcp": null, "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}]}}
        });
        let f = ServiceFacts::from_inspect("redis", &c);
        assert_eq!(f.network_mode, None, "a user network is not a shared namespace");
        assert_eq!(f.ipc_mode, None);
        assert_eq!(f.mounts.len(), 2);
        assert_eq!(f.mounts[0].source, "hx1_redisdata");
        assert_eq!(f.mounts[1].kind, "tmpfs");
        assert_eq!(
            f.ports,
            vec![PortFact { host_ip: "0.0.0.0".into(), host_port: "49153".into(), container_port: "8080".into() }]
        );
        assert_eq!(f.restart.as_deref(), Some("unless-stopped"));
    }
}
