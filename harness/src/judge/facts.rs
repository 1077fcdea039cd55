//! What a service's container is configured with, in one shape whether it was read from
//! the resolved compose file (static lint, no boot) or from `docker inspect` of the running
//! container (runtime). The configuration checks judge these facts, so lint and runtime
//! share one judgement and cannot drift apart.

use std::collections::BTreeMap;

use serde_json::Value;

/// A mount: `volume`, `bind` or `tmpfs`, its source (volume name or host path) and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFact {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The volume name or host path; empty for tmpfs.
    pub source: String,
    /// The mount path inside the container.
    pub target: String,
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
    /// Whether the image's own config (USER, HEALTHCHECK, ENV) was read. When it was not
    /// (lint with the image absent from the engine), what only the image could say is not
    /// judged rather than assumed.
    pub image_known: bool,
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
    /// Where the boot moved the service's fixed host ports (`80:80`) to ephemeral loopback
    /// ports ([`crate::boot::stack::isolation_override`]), the container shows the harness's choice
    /// and the file the stack's: the file's ports replace the container's, since those are what
    /// is judged. Returns whether they did; the verdict then says so
    /// ([`crate::boot::stack::PORTS_FROM_FILE`]).
    pub fn take_file_ports(&mut self, raw_service: &Value) -> bool {
        if !crate::boot::stack::fixes_host_ports(raw_service) {
            return false;
        }
        self.ports = ServiceFacts::from_compose(&self.service, raw_service, &Value::Null).ports;
        true
    }
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
    /// plus the image's config (`docker image inspect`, `Config`), for settings the image
    /// supplies when compose does not (user, env, healthcheck).
    pub fn from_compose(service: &str, svc: &Value, image_config: &Value) -> ServiceFacts {
        let mut env = env_pairs(&image_config["Env"]);
        if let Some(map) = svc["environment"].as_object() {
            for (k, v) in map {
                let value = v.as_str().map(str::to_owned).unwrap_or_default();
                env.retain(|(name, _)| name != k);
                env.push((k.clone(), value));
            }
        }
        let healthcheck = if svc["healthcheck"]["disable"].as_bool() == Some(true) {
            None
        } else if svc["healthcheck"]["test"].is_array() {
            health_test(&svc["healthcheck"]["test"])
        } else {
            health_test(&image_config["Healthcheck"]["Test"])
        };
        let mounts = svc["volumes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| MountFact {
                        kind: m["type"].as_str().unwrap_or("volume").to_owned(),
                        source: m["source"].as_str().unwrap_or_default().to_owned(),
                        target: m["target"].as_str().unwrap_or_default().to_owned(),
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
            user: opt_str(&svc["user"]).or_else(|| opt_str(&image_config["User"])),
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
            restart: opt_str(&svc["restart"]),
            log_driver: opt_str(&logging["driver"]),
            log_opts: logging["options"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default(),
            env,
            healthcheck,
            ports,
            image_known: !image_config.is_null(),
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
                    })
                    .chain(hc["Tmpfs"].as_object().into_iter().flat_map(|o| {
                        o.keys().map(|t| MountFact { kind: "tmpfs".into(), source: String::new(), target: t.clone() })
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
            image_known: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
        let f = ServiceFacts::from_compose("api", &svc, &image);
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
            &json!({"Healthcheck": {"Test": ["CMD", "true"]}}),
        );
        assert_eq!(f.healthcheck, None);
        assert_eq!(f.user, None, "no user anywhere means root");
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
