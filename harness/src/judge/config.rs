//! Configuration checks: judged from [`ServiceFacts`], so the same rules run statically
//! (lint, from the compose file) and at runtime (from `docker inspect`).
//!
//! CIS ids are from the CIS Docker Benchmark v1.6.

use crate::judge::criteria::Criterion;
use crate::judge::facts::ServiceFacts;
use crate::judge::verdict::{Outcome, Verdict};
use crate::policy::Settings;

/// Host paths a container must not mount (CIS 5.6): the host's system directories.
const SENSITIVE_HOST_DIRS: [&str; 8] = ["/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"];

/// Env-name fragments that mark a secret, as dockle's CIS-DI-0010 matches them.
const SECRET_NAME_PARTS: [&str; 8] = ["PASSWD", "PASSWORD", "PASS", "SECRET", "KEY", "TOKEN", "CREDENTIAL", "PRIVATE"];
/// Names that contain a fragment above but carry no secret (keeps false positives down).
const NOT_SECRET_NAMES: [&str; 6] = ["GPG_KEY", "KEYRING", "PUBLIC_KEY", "PASS_MAX_DAYS", "PASSTHROUGH", "KEY_PATH"];

fn verdict(
    criterion: Criterion,
    f: &ServiceFacts,
    measured: String,
    budget: &str,
    passed: bool,
    hint: &str,
) -> Verdict {
    Verdict {
        criterion,
        subject: f.service.clone(),
        evidence: format!("{} of `{}`: {measured}", f.source.describe(), f.service),
        measured,
        budget: budget.to_owned(),
        outcome: Outcome::judged(passed),
        hint: (!passed).then(|| hint.to_owned()),
    }
}

/// Whether a user string means root. A named user other than `root` cannot be resolved
/// without the image's passwd file; the runtime `user.process` check sees the real uid.
pub fn is_root_user(user: Option<&str>) -> bool {
    match user {
        None => true,
        Some(u) => {
            let name = u.split(':').next().unwrap_or_default().trim();
            name.is_empty() || name == "root" || name == "0"
        }
    }
}

/// Whether an env name looks like it holds a secret (and is not a file reference).
pub fn is_secret_name(name: &str, allowlist: &[String]) -> bool {
    let upper = name.to_uppercase();
    if upper.ends_with("_FILE") || allowlist.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return false;
    }
    if NOT_SECRET_NAMES.iter().any(|n| upper.contains(n)) {
        return false;
    }
    SECRET_NAME_PARTS
        .iter()
        .any(|p| upper.split(['_', '-', '.']).any(|w| w == *p) || (upper.contains(p) && p.len() > 4))
}

/// All configuration verdicts for one service.
pub fn judge(f: &ServiceFacts, s: &Settings) -> Vec<Verdict> {
    let mut out = Vec::new();
    let user = f.user.clone().unwrap_or_else(|| "(none: root)".into());
    let root = is_root_user(f.user.as_deref());
    out.push(if f.user.is_none() && !f.image_known {
        Verdict::not_judged(Criterion::UserImage, &f.service, unknown_image(f, "`user:`", "USER"))
    } else {
        verdict(
            Criterion::UserImage,
            f,
            format!("user {user}"),
            "non-root",
            !s.non_root || !root,
            "set a numeric non-root `user:` in compose or `USER uid:gid` in the Dockerfile",
        )
    });
    out.push(verdict(
        Criterion::HardeningPrivileged,
        f,
        format!("privileged {}", f.privileged),
        "false",
        !f.privileged,
        "remove `privileged: true`; add only the capabilities the service needs",
    ));
    let drops_all = f.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let norm = |c: &String| c.trim_start_matches("CAP_").to_uppercase();
    let extra: Vec<String> =
        f.cap_add.iter().map(norm).filter(|c| !s.cap_add.iter().map(norm).any(|a| a == *c)).collect();
    out.push(verdict(
        Criterion::HardeningCapabilities,
        f,
        format!("cap_drop [{}], cap_add [{}]", f.cap_drop.join(", "), f.cap_add.join(", ")),
        &format!("cap_drop ALL, cap_add within [{}]", s.cap_add.join(", ")),
        drops_all && extra.is_empty(),
        &if drops_all {
            format!("drop the capabilities the policy does not allow: {}", extra.join(", "))
        } else {
            "add `cap_drop: [ALL]` and add back only what the service provably needs".to_owned()
        },
    ));
    let nnp = f.security_opt.iter().any(|o| {
        let o = o.replace('=', ":");
        o == "no-new-privileges" || o == "no-new-privileges:true"
    });
    out.push(verdict(
        Criterion::HardeningNoNewPrivileges,
        f,
        format!("security_opt [{}]", f.security_opt.join(", ")),
        "no-new-privileges:true",
        !s.no_new_privileges || nnp,
        "add `security_opt: [\"no-new-privileges:true\"]`",
    ));
    out.push(verdict(
        Criterion::HardeningReadOnly,
        f,
        format!("read_only {}", f.read_only),
        if s.read_only { "true" } else { "not required by policy" },
        !s.read_only || f.read_only,
        "set `read_only: true` and mount a tmpfs where the service writes outside its volumes",
    ));
    let sock: Vec<&str> = f
        .mounts
        .iter()
        .filter(|m| m.source.contains("docker.sock") || m.target.contains("docker.sock"))
        .map(|m| m.source.as_str())
        .collect();
    out.push(verdict(
        Criterion::HardeningDockerSock,
        f,
        if sock.is_empty() { "no docker.sock mount".into() } else { format!("mounts {}", sock.join(", ")) },
        "no docker.sock mount",
        sock.is_empty(),
        "do not mount the engine socket into a service: it is root on the host",
    ));
    let sensitive: Vec<&str> = f
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| m.source.trim_end_matches('/'))
        .map(|src| if src.is_empty() { "/" } else { src })
        .filter(|src| SENSITIVE_HOST_DIRS.iter().any(|d| src == d || (*d != "/" && src.starts_with(&format!("{d}/")))))
        .collect();
    out.push(verdict(
        Criterion::HardeningHostMounts,
        f,
        if sensitive.is_empty() {
            "no sensitive host directory mounted".into()
        } else {
            format!("binds {}", sensitive.join(", "))
        },
        "none of /, /boot, /dev, /etc, /lib, /proc, /sys, /usr",
        sensitive.is_empty(),
        "mount only application data, through named volumes",
    ));
    let shared: Vec<String> =
        [("network", &f.network_mode), ("pid", &f.pid_mode), ("ipc", &f.ipc_mode), ("uts", &f.uts_mode)]
            .iter()
            .filter_map(|(ns, mode)| {
                mode.as_ref().filter(|m| *m == "host" || m.starts_with("container:")).map(|m| format!("{ns}={m}"))
            })
            .collect();
    out.push(verdict(
        Criterion::HardeningNamespaces,
        f,
        if shared.is_empty() { "no host namespace shared".into() } else { shared.join(", ") },
        "no host network, pid, ipc or uts namespace",
        shared.is_empty(),
        "remove `network_mode: host`, `pid: host`, `ipc: host` and `uts: host`",
    ));
    out.push(verdict(
        Criterion::HardeningMemoryLimit,
        f,
        f.memory_limit.map_or_else(|| "no limit".into(), |m| format!("{} bytes", m)),
        "a memory limit",
        !s.memory_limit || f.memory_limit.is_some(),
        "set `mem_limit:` (or deploy.resources.limits.memory)",
    ));
    out.push(verdict(
        Criterion::HardeningPidsLimit,
        f,
        f.pids_limit.map_or_else(|| "no limit".into(), |n| n.to_string()),
        "a pids limit",
        !s.pids_limit || f.pids_limit.is_some(),
        "set `pids_limit:` to bound fork bombs and thread leaks",
    ));
    let restart = f.restart.clone().unwrap_or_else(|| "no".into());
    out.push(verdict(
        Criterion::HardeningRestart,
        f,
        format!("restart {restart}"),
        &format!("one of {}", s.restart.join(", ")),
        s.restart.iter().any(|r| restart.split(':').next() == Some(r.as_str())),
        "set `restart: unless-stopped` (or on-failure) so the engine brings the service back",
    ));
    let driver = f.log_driver.clone().unwrap_or_else(|| "json-file (engine default)".into());
    let rotated = matches!(f.log_driver.as_deref(), None | Some("json-file") | Some("local"))
        && f.log_opts.contains_key("max-size")
        && f.log_opts.contains_key("max-file");
    let local_default = f.log_driver.as_deref() == Some("local");
    out.push(verdict(
        Criterion::HardeningLogRotation,
        f,
        format!(
            "driver {driver}, max-size {}, max-file {}",
            f.log_opts.get("max-size").map_or("unset", String::as_str),
            f.log_opts.get("max-file").map_or("unset", String::as_str)
        ),
        "json-file with max-size and max-file",
        !s.log_rotation || rotated || local_default,
        "add `logging: {driver: json-file, options: {max-size: \"10m\", max-file: \"3\"}}`",
    ));
    let literal: Vec<String> = f
        .env
        .iter()
        .filter(|(k, v)| !v.is_empty() && !v.starts_with("/run/secrets/") && is_secret_name(k, &s.secret_env_allowlist))
        .map(|(k, v)| format!("{k} (literal value, {} chars, redacted)", v.chars().count()))
        .collect();
    out.push(verdict(
        Criterion::SecretsEnv,
        f,
        if literal.is_empty() { "no secret-looking env name with a literal value".into() } else { literal.join(", ") },
        if s.secrets_in_env { "allowed by policy (secrets_in_env = true)" } else { "secrets as files, not env values" },
        s.secrets_in_env || literal.is_empty(),
        "pass secrets as compose `secrets:` files and point the service at them (e.g. *_PASSWORD_FILE)",
    ));
    out.push(publish(f, s));
    out.push(if f.healthcheck.is_none() && !f.image_known {
        Verdict::not_judged(
            Criterion::HealthcheckDefined,
            &f.service,
            unknown_image(f, "`healthcheck:`", "HEALTHCHECK"),
        )
    } else {
        verdict(
            Criterion::HealthcheckDefined,
            f,
            f.healthcheck.as_ref().map_or_else(|| "no healthcheck".into(), |t| format!("test {}", t.join(" "))),
            "a healthcheck",
            f.healthcheck.is_some(),
            "add a `healthcheck:` (compose) or `HEALTHCHECK` (Dockerfile) that proves the service answers",
        )
    });
    out
}

/// Why a fact only the image can supply was not judged: compose leaves it to the image,
/// and the image's config was not read.
fn unknown_image(f: &ServiceFacts, compose_key: &str, instruction: &str) -> String {
    let image = if f.image.is_empty() { "(built, no image name)" } else { f.image.as_str() };
    format!(
        "compose sets no {compose_key} for `{}`, and image `{image}` is not on the engine, so its {instruction} is unknown (hint: build or load the image, or set {compose_key} in compose)",
        f.service
    )
}

/// `network.publish`: only services the policy names may publish host ports, and each
/// published port must bind a specific interface, not all of them (CIS 5.14).
pub fn publish(f: &ServiceFacts, s: &Settings) -> Verdict {
    let list: Vec<String> = f
        .ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() { "0.0.0.0" } else { p.host_ip.as_str() };
            let host = if p.host_port.is_empty() { "ephemeral".to_owned() } else { p.host_port.clone() };
            format!("{ip}:{host}->{}", p.container_port)
        })
        .collect();
    let wildcard = f.ports.iter().any(|p| matches!(p.host_ip.as_str(), "" | "0.0.0.0" | "::" | "[::]"));
    let (passed, hint) = if !f.ports.is_empty() && !s.publish {
        (
            false,
            "this service must not publish host ports: remove `ports:` (or set publish = true for it in acceptance.toml)",
        )
    } else if wildcard {
        (false, "bind published ports to one interface: ports: [\"127.0.0.1::PORT\"]")
    } else {
        (true, "")
    };
    verdict(
        Criterion::NetworkPublish,
        f,
        if list.is_empty() { "publishes nothing".into() } else { format!("publishes {}", list.join(", ")) },
        if s.publish { "ports bound to a specific interface" } else { "no published ports" },
        passed,
        hint,
    )
}

/// Static-only: the image reference names a pinned tag (CIS 5.27 asks for known, current images).
pub fn pinned_tag(f: &ServiceFacts, s: &Settings) -> Verdict {
    let image = f.image.as_str();
    let last = image.rsplit('/').next().unwrap_or(image);
    let pinned = image.contains('@') || last.split_once(':').is_some_and(|(_, tag)| tag != "latest" && !tag.is_empty());
    verdict(
        Criterion::LintPinnedTags,
        f,
        format!("image {image}"),
        "a tag other than latest, or a digest",
        !s.pinned_tags || pinned,
        "pin the image to a version tag or digest",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::facts::{MountFact, Source};

    fn compliant() -> ServiceFacts {
        ServiceFacts {
            service: "api".into(),
            source: Source::Compose,
            image: "harness/app:0.1.0".into(),
            user: Some("65534:65534".into()),
            privileged: false,
            cap_add: vec![],
            cap_drop: vec!["ALL".into()],
            security_opt: vec!["no-new-privileges:true".into()],
            read_only: true,
            mounts: vec![],
            network_mode: None,
            pid_mode: None,
            ipc_mode: None,
            uts_mode: None,
            memory_limit: Some(128 << 20),
            pids_limit: Some(64),
            restart: Some("unless-stopped".into()),
            log_driver: Some("json-file".into()),
            log_opts: [("max-size".to_owned(), "10m".to_owned()), ("max-file".to_owned(), "3".to_owned())].into(),
            env: vec![("DATABASE_PASSWORD_FILE".into(), "/run/secrets/pg".into())],
            healthcheck: Some(vec!["CMD".into(), "/app".into(), "healthcheck".into()]),
            ports: vec![],
            image_known: true,
        }
    }

    #[test]
    fn an_absent_image_leaves_its_user_and_healthcheck_not_judged() {
        let mut f = compliant();
        f.image_known = false;
        f.user = None;
        f.healthcheck = None;
        let v = judge(&f, &Settings::default());
        let state = |c: Criterion| v.iter().find(|v| v.criterion == c).map(|v| v.outcome.word());
        assert_eq!(state(Criterion::UserImage), Some("SKIP"));
        assert_eq!(state(Criterion::HealthcheckDefined), Some("SKIP"));
        assert!(v.iter().all(|v| !v.failed()), "nothing invented: {v:#?}");
        // What compose itself says is still judged with the image absent.
        f.user = Some("0".into());
        let v = judge(&f, &Settings::default());
        assert_eq!(v.iter().find(|v| v.criterion == Criterion::UserImage).map(|v| v.outcome.word()), Some("FAIL"));
    }

    /// Applies `change` to a compliant service and checks that exactly `failing` fail.
    #[track_caller]
    fn check(change: impl FnOnce(&mut ServiceFacts, &mut Settings), failing: &[&str]) {
        let mut f = compliant();
        let mut s = Settings::default();
        change(&mut f, &mut s);
        let got: Vec<&str> = judge(&f, &s).iter().filter(|v| !v.passed()).map(|v| v.criterion.id()).collect();
        assert_eq!(got, failing);
    }

    #[test]
    fn a_compliant_service_passes_everything() {
        check(|_, _| {}, &[]);
    }

    #[test]
    fn each_violation_fails_its_own_check() {
        check(|f, _| f.user = None, &["user.image"]);
        check(|f, _| f.user = Some("0:0".into()), &["user.image"]);
        check(|f, _| f.user = Some("root".into()), &["user.image"]);
        check(|f, _| f.privileged = true, &["hardening.privileged"]);
        check(|f, _| f.cap_drop.clear(), &["hardening.capabilities"]);
        check(|f, _| f.cap_add = vec!["NET_ADMIN".into()], &["hardening.capabilities"]);
        check(|f, _| f.security_opt.clear(), &["hardening.no_new_privileges"]);
        check(|f, _| f.read_only = false, &["hardening.read_only"]);
        check(
            |f, _| {
                f.mounts.push(MountFact {
                    kind: "bind".into(),
                    source: "/var/run/docker.sock".into(),
                    target: "/var/run/docker.sock".into(),
                })
            },
            &["hardening.docker_sock"],
        );
        check(
            |f, _| f.mounts.push(MountFact { kind: "bind".into(), source: "/etc".into(), target: "/host-etc".into() }),
            &["hardening.host_mounts"],
        );
        check(|f, _| f.network_mode = Some("host".into()), &["hardening.namespaces"]);
        check(|f, _| f.pid_mode = Some("host".into()), &["hardening.namespaces"]);
        check(|f, _| f.memory_limit = None, &["hardening.memory_limit"]);
        check(|f, _| f.pids_limit = None, &["hardening.pids_limit"]);
        check(|f, _| f.restart = Some("no".into()), &["hardening.restart"]);
        check(|f, _| f.restart = None, &["hardening.restart"]);
        check(|f, _| f.log_opts.clear(), &["hardening.log_rotation"]);
        check(|f, _| f.env.push(("DATABASE_PASSWORD".into(), "hunter2".into())), &["secrets.env"]);
        check(|f, _| f.env.push(("API_TOKEN".into(), "abc".into())), &["secrets.env"]);
        check(|f, _| f.healthcheck = None, &["healthcheck.defined"]);
        check(|f, _| f.ports.push(port("127.0.0.1")), &["network.publish"]);
        check(
            |f, s| {
                f.ports.push(port("0.0.0.0"));
                s.publish = true;
            },
            &["network.publish"],
        );
        check(
            |f, s| {
                f.ports.push(port(""));
                s.publish = true;
            },
            &["network.publish"],
        );
        check(
            |f, s| {
                f.ports.push(port("127.0.0.1"));
                s.publish = true;
            },
            &[],
        );
    }

    fn port(ip: &str) -> crate::judge::facts::PortFact {
        crate::judge::facts::PortFact { host_ip: ip.into(), host_port: String::new(), container_port: "5432".into() }
    }

    #[test]
    fn policy_switches_turn_checks_off() {
        check(
            |f, s| {
                f.env.push(("POSTGRES_PASSWORD".into(), "x".into()));
                s.secrets_in_env = true;
            },
            &[],
        );
        check(
            |f, s| {
                f.read_only = false;
                s.read_only = false;
            },
            &[],
        );
        check(
            |f, s| {
                f.cap_add = vec!["CAP_NET_BIND_SERVICE".into()];
                s.cap_add = vec!["NET_BIND_SERVICE".into()];
            },
            &[],
        );
        check(
            |f, s| {
                f.env.push(("SESSION_KEY".into(), "x".into()));
                s.secret_env_allowlist = vec!["session_key".into()];
            },
            &[],
        );
    }

    #[test]
    fn secret_values_never_appear_in_verdicts() {
        let mut f = compliant();
        f.env.push(("DB_PASSWORD".into(), "s3cr3t-value".into()));
        for v in judge(&f, &Settings::default()) {
            let text = format!("{} {} {} {:?}", v.measured, v.evidence, v.budget, v.hint);
            assert!(!text.contains("s3cr3t-value"), "{text}");
        }
    }

    #[track_caller]
    fn check_secret(name: &str, expected: bool) {
        assert_eq!(is_secret_name(name, &[]), expected, "{name}");
    }

    #[test]
    fn secret_names_follow_dockle() {
        check_secret("POSTGRES_PASSWORD", true);
        check_secret("REDIS_PASS", true);
        check_secret("AWS_SECRET_ACCESS_KEY", true);
        check_secret("GITHUB_TOKEN", true);
        check_secret("api-key", true);
        check_secret("POSTGRES_PASSWORD_FILE", false);
        check_secret("GPG_KEY", false);
        check_secret("PATH", false);
        check_secret("KEYBOARD_LAYOUT", false);
        check_secret("APP_PORT", false);
    }

    #[track_caller]
    fn check_tag(image: &str, pinned: bool) {
        let mut f = compliant();
        f.image = image.into();
        assert_eq!(pinned_tag(&f, &Settings::default()).passed(), pinned, "{image}");
    }

    #[test]
    fn tags_must_be_pinned() {
        check_tag("harness/app:0.1.0", true);
        check_tag("postgres@sha256:abc", true);
        check_tag("registry:5000/app:1.2", true);
        check_tag("nginx", false);
        check_tag("nginx:latest", false);
        check_tag("registry:5000/app", false);
    }
}
