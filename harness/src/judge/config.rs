//! Configuration checks: judged from [`ServiceFacts`], so the same rules run statically
//! (lint, from the compose file) and at runtime (from `docker inspect`).
//!
//! CIS ids are from the CIS Docker Benchmark v1.6.

use crate::engine::compose;
use crate::judge::criteria::Criterion;
use crate::judge::facts::{ServiceFacts, Source};
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
    verdict_from(criterion, f, f.source.describe(), measured, budget, passed, hint)
}

/// A verdict whose evidence names `from`, the source the judged fact was read from (a
/// Dockerfile line, the image's config), when that is not the facts' own source.
fn verdict_from(
    criterion: Criterion,
    f: &ServiceFacts,
    from: &str,
    measured: String,
    budget: &str,
    passed: bool,
    hint: &str,
) -> Verdict {
    Verdict {
        criterion,
        subject: f.service.clone(),
        evidence: format!("{from} of `{}`: {measured}", f.service),
        measured,
        budget: budget.to_owned(),
        outcome: Outcome::judged(passed),
        hint: (!passed).then(|| hint.to_owned()),
    }
}

/// Whether a user string means root. A named user other than `root` cannot be resolved
/// without the image's passwd file; the runtime `user.process` check sees the real uid.
///
/// The engine reads the part before `:` as a uid when it is all digits (`00` and `0000` are
/// uid 0) and as a name otherwise; an empty user part means uid 0, whatever the group.
pub fn is_root_user(user: Option<&str>) -> bool {
    match user {
        None => true,
        Some(u) => {
            let name = u.split(':').next().unwrap_or_default().trim();
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                return name.bytes().all(|b| b == b'0');
            }
            name.is_empty() || name == "root"
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
    out.push(if let Some(from) = &f.user_from {
        verdict_from(
            Criterion::UserImage,
            f,
            from,
            format!("user {user}"),
            "non-root",
            !s.non_root || !root,
            "set a numeric non-root `user:` in compose or `USER uid:gid` in the Dockerfile",
        )
    } else {
        Verdict::not_judged(Criterion::UserImage, &f.service, unknown_image(f, "`user:`", "USER"))
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
    let mut sensitive: Vec<String> = f
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| (m.source.trim_end_matches('/'), m.via_volume.as_deref()))
        .map(|(src, via)| (if src.is_empty() { "/" } else { src }, via))
        .filter(|(src, _)| {
            SENSITIVE_HOST_DIRS.iter().any(|d| src == d || (*d != "/" && src.starts_with(&format!("{d}/"))))
        })
        .map(|(src, via)| match via {
            Some(volume) => format!("{src} (through volume `{volume}`'s driver_opts)"),
            None => src.to_owned(),
        })
        .collect();
    // The engine lists mounts in no fixed order: sort, so evidence is the same every run.
    sensitive.sort();
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
    let literal = secrets_found(f, &s.secret_env_allowlist);
    out.push(verdict(
        Criterion::SecretsEnv,
        f,
        if literal.is_empty() {
            "no secret in an env value, a URL's userinfo or a command argument".into()
        } else {
            literal.join(", ")
        },
        if s.secrets_in_env { "allowed by policy (secrets_in_env = true)" } else { "secrets as files, not env values" },
        s.secrets_in_env || literal.is_empty(),
        "pass secrets as compose `secrets:` files and point the service at them (e.g. *_PASSWORD_FILE); keep passwords out of URLs and command lines, and out of the Dockerfile's ENV and ARG",
    ));
    out.push(publish(f, s));
    out.push(bind(f, s));
    out.push(match &f.health_from {
        Some(from) => verdict_from(
            Criterion::HealthcheckDefined,
            f,
            from,
            f.healthcheck.as_ref().map_or_else(|| "no healthcheck".into(), |t| format!("test {}", t.join(" "))),
            "a healthcheck",
            f.healthcheck.is_some(),
            "add a `healthcheck:` (compose) or `HEALTHCHECK` (Dockerfile) that proves the service answers",
        ),
        None => Verdict::not_judged(
            Criterion::HealthcheckDefined,
            &f.service,
            unknown_image(f, "`healthcheck:`", "HEALTHCHECK"),
        ),
    });
    out
}

/// Literal secrets in a service's configuration, each as where it was found and its length,
/// never its value: env names that look secret (from compose, the Dockerfile's ENV/ARG or
/// the image), passwords in a URL's userinfo in any env value (`postgres://u:pw@db`), and
/// secret-looking options in the entrypoint or command (`--requirepass pw`). A value that
/// points at a secret file (`/run/secrets/...`) or names a variable (`$X`) is not a secret.
pub fn secrets_found(f: &ServiceFacts, allowlist: &[String]) -> Vec<String> {
    let is_reference = |v: &str| v.is_empty() || v.starts_with("/run/secrets/") || v.starts_with('$');
    let mut out = Vec::new();
    for (k, v) in &f.env {
        if allowlist.iter().any(|a| a.eq_ignore_ascii_case(k)) || is_reference(v) {
            continue;
        }
        let from = f.env_from.get(k).map(|at| format!(", {at}")).unwrap_or_default();
        if is_secret_name(k, allowlist) {
            out.push(format!("{k} (literal value, {} chars{from}, redacted)", v.chars().count()));
        } else if let Some(pw) = url_password(v) {
            out.push(format!("{k} (password in a URL's userinfo, {} chars{from}, redacted)", pw.chars().count()));
        }
    }
    let words: Vec<&str> = f.command.iter().flat_map(|w| w.split_whitespace()).collect();
    for (i, word) in words.iter().enumerate() {
        let word = word.trim_matches(|c| c == '"' || c == '\'');
        if let Some(pw) = url_password(word) {
            out.push(format!(
                "command argument {} (password in a URL's userinfo, {} chars, redacted)",
                i + 1,
                pw.chars().count()
            ));
            continue;
        }
        let Some(flag) = word.strip_prefix('-').map(|w| w.trim_start_matches('-')) else { continue };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        if !is_secret_flag(name) {
            continue;
        }
        let value = inline.or_else(|| words.get(i + 1).copied().filter(|w| !w.starts_with('-'))).unwrap_or_default();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        if !is_reference(value) {
            out.push(format!("command option --{name} (literal value, {} chars, redacted)", value.chars().count()));
        }
    }
    out
}

/// The password of a `scheme://user:password@host` URL, when it has a non-empty one that
/// is not a variable reference.
pub fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, pw) = userinfo.split_once(':')?;
    (!pw.is_empty() && !pw.starts_with('$')).then_some(pw)
}

/// Command-line options that take a secret: `--requirepass`, `--masterauth`, `--password`,
/// `--db-password`, `--api-key`, `--token`, `--secret`; not `--password-file`.
fn is_secret_flag(name: &str) -> bool {
    let n = name.to_lowercase().replace('_', "-");
    if n.ends_with("-file") || n.ends_with("file") && n.contains("pass") {
        return false;
    }
    ["pass", "secret", "token", "masterauth", "api-key", "apikey", "credential"].iter().any(|p| n.contains(p))
        && !["passthrough", "pass-through", "bypass"].iter().any(|p| n.contains(p))
}

/// Why a fact only the image can supply was not judged: compose leaves it to the image,
/// and the image's config was not read.
fn unknown_image(f: &ServiceFacts, compose_key: &str, instruction: &str) -> String {
    if let Some(why) = &f.stand_in {
        return format!(
            "stand-in: `{}` is played by a stand-in ({why}), whose {instruction} says nothing of the image the stack names, and compose sets no {compose_key} (hint: judge the real image where it can be had)",
            f.service
        );
    }
    let image = if f.image.is_empty() { "(built, no image name)" } else { f.image.as_str() };
    format!(
        "compose sets no {compose_key} for `{}`, and image `{image}` is not on the engine, so its {instruction} is unknown (hint: build or load the image, or set {compose_key} in compose)",
        f.service
    )
}

/// The published ports as evidence: `0.0.0.0:80->80, 127.0.0.1:ephemeral->8080`.
fn port_list(f: &ServiceFacts) -> String {
    let list: Vec<String> = f
        .ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() { "0.0.0.0" } else { p.host_ip.as_str() };
            let host = if p.host_port.is_empty() { "ephemeral".to_owned() } else { p.host_port.clone() };
            format!("{ip}:{host}->{}", p.container_port)
        })
        .collect();
    if list.is_empty() { "publishes nothing".into() } else { format!("publishes {}", list.join(", ")) }
}

const HOST_NETWORK: &str = "network_mode host: every listening port, on every host interface";

/// `network.publish`: only services the policy allows may publish host ports at all (CIS
/// 5.8). Host networking publishes every port the service listens on, with no `ports:`.
pub fn publish(f: &ServiceFacts, s: &Settings) -> Verdict {
    let host = f.network_mode.as_deref() == Some("host");
    let publishes = host || !f.ports.is_empty();
    verdict(
        Criterion::NetworkPublish,
        f,
        if host { HOST_NETWORK.to_owned() } else { port_list(f) },
        if s.publish { "may publish" } else { "no published ports" },
        s.publish || !publishes,
        if host {
            "drop `network_mode: host`; join a compose network and publish only the ports that must be reached (or set publish = true for it in acceptance.toml)"
        } else {
            "this service must not publish host ports: remove `ports:` (or set publish = true for it in acceptance.toml)"
        },
    )
}

/// `network.bind`: published ports bind only the interfaces the policy allows (CIS 5.14):
/// one specific interface unless the service is a public entry point (`bind = "any"`).
/// Host networking cannot be held to one interface.
pub fn bind(f: &ServiceFacts, s: &Settings) -> Verdict {
    let host = f.network_mode.as_deref() == Some("host");
    let wildcard = f.ports.iter().any(|p| matches!(p.host_ip.as_str(), "" | "0.0.0.0" | "::" | "[::]"));
    let loopback = s.bind == crate::policy::Bind::Loopback;
    verdict(
        Criterion::NetworkBind,
        f,
        if host { HOST_NETWORK.to_owned() } else { port_list(f) },
        if loopback { "ports bound to a specific interface" } else { "any interface (bind = \"any\")" },
        !loopback || !(host || wildcard),
        if host {
            "drop `network_mode: host` and publish with an interface, e.g. ports: [\"127.0.0.1::PORT\"]"
        } else {
            "bind published ports to one interface: ports: [\"127.0.0.1::PORT\"]; if this service is the public entry point, say so with bind = \"any\" for it in acceptance.toml"
        },
    )
}

/// Static-only: the image reference names a pinned tag (CIS 5.27 asks for known, current
/// images). A service built from a Dockerfile runs what it builds, so its `FROM` lines are
/// what must be pinned; with neither an image nor a readable Dockerfile there is nothing to
/// judge.
pub fn pinned_tag(f: &ServiceFacts, s: &Settings) -> Verdict {
    let pinned = |image: &str| {
        let last = image.rsplit('/').next().unwrap_or(image);
        image.contains('@') || last.split_once(':').is_some_and(|(_, tag)| tag != "latest" && !tag.is_empty())
    };
    if !f.base_images.is_empty() {
        let loose: Vec<&str> = f.base_images.iter().filter(|(i, _)| !pinned(i)).map(|(_, at)| at.as_str()).collect();
        let all: Vec<&str> = f.base_images.iter().map(|(i, _)| i.as_str()).collect();
        return verdict_from(
            Criterion::LintPinnedTags,
            f,
            "Dockerfile",
            if loose.is_empty() {
                format!("FROM {}", all.join(", "))
            } else {
                format!("unpinned {}", loose.join(", "))
            },
            "every FROM with a tag other than latest, or a digest",
            !s.pinned_tags || loose.is_empty(),
            "pin every FROM image of the Dockerfile to a version tag or digest",
        );
    }
    if f.image.is_empty() {
        return Verdict::not_judged(
            Criterion::LintPinnedTags,
            &f.service,
            format!(
                "`{}` names no image and its Dockerfile names no base image to pin (FROM scratch, or not read)",
                f.service
            ),
        );
    }
    verdict(
        Criterion::LintPinnedTags,
        f,
        format!("image {}", f.image),
        "a tag other than latest, or a digest",
        !s.pinned_tags || pinned(&f.image),
        "pin the image to a version tag or digest",
    )
}

/// `lint.fixed_addresses`: what a second run of the stack on one engine, or a second
/// replica, would collide on. Judged from the resolved file at lint and at check alike: the
/// boot moves every one of them aside so runs can share the engine, so the containers never
/// show them. A fixed host port may be a public entry point's contract (`fixed_ports`); a
/// container name, network name, subnet or address never is (a waiver says why if it must).
/// `fixed` is [`compose::ComposeModel::fixed_addresses`] of the service, as written.
pub fn fixed_addresses(service: &str, fixed: &[String], s: &Settings) -> Verdict {
    let (allowed, fixed): (Vec<String>, Vec<String>) =
        fixed.iter().cloned().partition(|f| s.fixed_ports && f.starts_with(compose::HOST_PORT));
    let measured = if fixed.is_empty() { "nothing fixed".to_owned() } else { fixed.join(", ") };
    let mut evidence = format!("{} of `{service}`: {measured}", Source::Compose.describe());
    if !fixed.is_empty() {
        evidence.push_str(&format!(
            "; a second run of the stack on this engine, or `docker compose up --scale {service}=2`, collides on them"
        ));
    }
    if !allowed.is_empty() {
        evidence.push_str(&format!("; allowed by fixed_ports = true: {}", allowed.join(", ")));
    }
    Verdict {
        criterion: Criterion::LintFixedAddresses,
        subject: service.to_owned(),
        evidence,
        measured,
        budget: if s.fixed_ports {
            "no container_name, fixed network name, subnet or address (fixed host ports allowed)".to_owned()
        } else {
            "no container_name, fixed host port, or fixed network name, subnet or address".to_owned()
        },
        outcome: Outcome::judged(fixed.is_empty()),
        hint: (!fixed.is_empty()).then(|| {
            "drop `container_name`, publish on a port the host picks (\"127.0.0.1::PORT\"), leave network names, subnets and addresses to compose; if a well-known port is this service's contract (a public entry point), say so with fixed_ports = true for it in acceptance.toml".to_owned()
        }),
    }
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
            user_from: Some("compose `user:`".into()),
            health_from: Some("compose `healthcheck:`".into()),
            env_from: Default::default(),
            command: vec![],
            base_images: vec![],
            stand_in: None,
        }
    }

    #[test]
    fn an_absent_image_leaves_its_user_and_healthcheck_not_judged() {
        let mut f = compliant();
        f.user_from = None;
        f.health_from = None;
        f.user = None;
        f.healthcheck = None;
        let v = judge(&f, &Settings::default());
        let state = |c: Criterion| v.iter().find(|v| v.criterion == c).map(|v| v.outcome.word());
        assert_eq!(state(Criterion::UserImage), Some("SKIP"));
        assert_eq!(state(Criterion::HealthcheckDefined), Some("SKIP"));
        assert!(v.iter().all(|v| !v.failed()), "nothing invented: {v:#?}");
        // What compose itself says is still judged with the image absent.
        f.user = Some("0".into());
        f.user_from = Some("compose `user:`".into());
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
                    via_volume: None,
                })
            },
            &["hardening.docker_sock"],
        );
        check(
            |f, _| {
                f.mounts.push(MountFact {
                    kind: "bind".into(),
                    source: "/etc".into(),
                    target: "/host-etc".into(),
                    via_volume: None,
                })
            },
            &["hardening.host_mounts"],
        );
        check(
            |f, _| {
                f.mounts.push(MountFact {
                    kind: "bind".into(),
                    source: "/usr/lib".into(),
                    target: "/data".into(),
                    via_volume: Some("libs".into()),
                })
            },
            &["hardening.host_mounts"],
        );
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
        check(|f, _| f.ports.push(port("0.0.0.0")), &["network.publish", "network.bind"]);
        check(
            |f, s| {
                f.ports.push(port("0.0.0.0"));
                s.publish = true;
            },
            &["network.bind"],
        );
        check(
            |f, s| {
                f.ports.push(port(""));
                s.publish = true;
            },
            &["network.bind"],
        );
        // A public entry point: may publish, on every interface.
        check(
            |f, s| {
                f.ports.push(port("0.0.0.0"));
                s.publish = true;
                s.bind = crate::policy::Bind::Any;
            },
            &[],
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

    /// Applies `change` and returns what `secrets.env` measured (names and lengths only).
    #[track_caller]
    fn secrets(change: impl FnOnce(&mut ServiceFacts)) -> String {
        let mut f = compliant();
        change(&mut f);
        let v = judge(&f, &Settings::default());
        let v = v.iter().find(|v| v.criterion == Criterion::SecretsEnv).expect("judged");
        format!("{} {}", v.outcome.word(), v.measured)
    }

    #[test]
    fn secrets_are_found_by_value_too() {
        let url = secrets(|f| f.env.push(("DATABASE_URL".into(), "postgres://app:pa55word@db:5432/app".into())));
        assert_eq!(url, "FAIL DATABASE_URL (password in a URL's userinfo, 8 chars, redacted)");
        let redis = secrets(|f| f.env.push(("REDIS_URL".into(), "redis://:pw@cache:6379/0".into())));
        assert_eq!(redis, "FAIL REDIS_URL (password in a URL's userinfo, 2 chars, redacted)");
        let no_pw = secrets(|f| f.env.push(("DATABASE_URL".into(), "postgres://app@db:5432/app".into())));
        assert!(no_pw.starts_with("PASS"), "{no_pw}");
        let cmd = secrets(|f| f.command = vec!["redis-server".into(), "--requirepass".into(), "hunter22".into()]);
        assert_eq!(cmd, "FAIL command option --requirepass (literal value, 8 chars, redacted)");
        let shell = secrets(|f| {
            f.command = vec!["sh".into(), "-c".into(), "redis-server --requirepass=s3cret --port 6379".into()]
        });
        assert_eq!(shell, "FAIL command option --requirepass (literal value, 6 chars, redacted)");
        let var = secrets(|f| {
            f.command = vec!["sh".into(), "-c".into(), "redis-server --requirepass \"$REDIS_PASSWORD\"".into()]
        });
        assert!(var.starts_with("PASS"), "a variable reference is not a literal: {var}");
        let file = secrets(|f| f.command = vec!["app".into(), "--password-file".into(), "/run/secrets/pw".into()]);
        assert!(file.starts_with("PASS"), "{file}");
        let from_dockerfile = secrets(|f| {
            f.env.push(("API_TOKEN".into(), "abc123".into()));
            f.env_from.insert("API_TOKEN".into(), "Dockerfile:4 ENV API_TOKEN".into());
        });
        assert_eq!(from_dockerfile, "FAIL API_TOKEN (literal value, 6 chars, Dockerfile:4 ENV API_TOKEN, redacted)");
        for text in [url, redis, cmd, shell, from_dockerfile] {
            for secret in ["pa55word", ":pw@", "hunter22", "s3cret", "abc123"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }

    #[test]
    fn the_allowlist_exempts_a_name_from_value_checks_too() {
        let mut f = compliant();
        f.env.push(("DATABASE_URL".into(), "postgres://app:pw@db/app".into()));
        let s = Settings { secret_env_allowlist: vec!["DATABASE_URL".into()], ..Settings::default() };
        assert!(judge(&f, &s).iter().all(|v| v.passed()));
    }

    #[track_caller]
    fn check_root(user: &str, root: bool) {
        assert_eq!(is_root_user(Some(user)), root, "{user}");
    }

    #[test]
    fn users_resolve_as_the_engine_resolves_them() {
        check_root("0", true);
        check_root("00", true);
        check_root("0000:1000", true);
        check_root("0:1000", true);
        check_root(":1000", true);
        check_root("root", true);
        check_root("root:app", true);
        check_root("1000", false);
        check_root("10", false);
        check_root("1000:0", false);
        check_root("app", false);
        check_root("nobody:nogroup", false);
    }

    #[test]
    fn host_networking_is_judged_as_publishing_everything() {
        check(
            |f, _| f.network_mode = Some("host".into()),
            &["hardening.namespaces", "network.publish", "network.bind"],
        );
        check(
            |f, s| {
                f.network_mode = Some("host".into());
                s.publish = true;
            },
            &["hardening.namespaces", "network.bind"],
        );
    }

    #[test]
    fn a_built_service_pins_its_from_lines() {
        let mut f = compliant();
        f.image = String::new();
        f.base_images = vec![
            ("rust:1.80".into(), "Dockerfile:2 FROM rust:1.80".into()),
            ("debian".into(), "Dockerfile:9 FROM debian".into()),
        ];
        let v = pinned_tag(&f, &Settings::default());
        assert!(v.failed(), "{v:?}");
        assert_eq!(v.measured, "unpinned Dockerfile:9 FROM debian");
        assert!(v.evidence.starts_with("Dockerfile of `api`"), "{}", v.evidence);
        f.base_images.pop();
        assert!(pinned_tag(&f, &Settings::default()).passed());
        f.base_images.clear();
        let v = pinned_tag(&f, &Settings::default());
        assert_eq!(v.outcome.word(), "SKIP", "no image and no FROM to pin: {v:?}");
    }

    #[test]
    fn a_stand_in_decides_nothing_only_its_image_could_tell() {
        let mut f = compliant();
        f.user_from = Some("image inspect harness/app:0.1.0".into());
        f.health_from = Some("image inspect harness/app:0.1.0".into());
        f.played_by_stand_in("no Debian package", &serde_json::json!({"image": "harness/app:0.1.0"}));
        let v = judge(&f, &Settings::default());
        for c in [Criterion::UserImage, Criterion::HealthcheckDefined] {
            let v = v.iter().find(|v| v.criterion == c).expect("judged");
            assert_eq!(v.outcome.word(), "SKIP", "{v:?}");
            assert!(
                v.evidence.starts_with("stand-in: `api` is played by a stand-in (no Debian package)"),
                "{}",
                v.evidence
            );
        }
        // What compose says itself is still judged.
        let mut f = compliant();
        f.played_by_stand_in("x", &serde_json::json!({"user": "0", "healthcheck": {"test": ["CMD", "true"]}}));
        f.user = Some("0".into());
        let v = judge(&f, &Settings::default());
        assert!(v.iter().any(|v| v.criterion == Criterion::UserImage && v.failed()));
    }

    #[test]
    fn evidence_names_where_the_user_came_from() {
        let mut f = compliant();
        f.user = Some("root".into());
        f.user_from = Some("Dockerfile:3 USER root".into());
        let v = judge(&f, &Settings::default());
        let user = v.iter().find(|v| v.criterion == Criterion::UserImage).expect("judged");
        assert!(user.failed());
        assert_eq!(user.evidence, "Dockerfile:3 USER root of `api`: user root");
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

    #[track_caller]
    fn check_fixed(model: &compose::ComposeModel, service: &str, allowed: bool, measured: &str, passed: bool) {
        let s = Settings { fixed_ports: allowed, ..Settings::default() };
        let v = fixed_addresses(service, &model.fixed_addresses(service), &s);
        assert_eq!((v.measured.as_str(), v.passed()), (measured, passed), "{v:?}");
        if !v.measured.starts_with("nothing") {
            assert!(v.evidence.contains(&format!("--scale {service}=2")), "says what it prevents: {}", v.evidence);
        }
    }

    #[test]
    fn fixed_addresses_name_everything_a_second_run_collides_on() {
        let model = compose::ComposeModel::from_json(
            &serde_json::json!({
                "name": "p",
                "services": {
                    "db": {"image": "x", "container_name": "seed-db",
                           "ports": [{"target": 5432, "published": "5432", "protocol": "tcp"}],
                           "networks": {"back": null}},
                    "api": {"image": "x", "ports": [{"target": 8080, "host_ip": "127.0.0.1", "protocol": "tcp"}],
                            "networks": {"front": {"ipv4_address": "10.9.0.5"}}},
                    "web": {"image": "x", "networks": {"default": null, "ext": null}},
                    "gate": {"image": "x", "ports": [{"target": 80, "published": "80", "protocol": "tcp"}]}
                },
                "networks": {
                    "back": {"name": "seed-back", "ipam": {"config": [{"subnet": "172.20.0.0/24"}]}},
                    "front": {"name": "p_front"},
                    "default": {"name": "p_default"},
                    "ext": {"name": "shared", "external": true}
                }
            })
            .to_string(),
        )
        .expect("model");
        let db = "container_name seed-db, host port 5432:5432, network back: name seed-back, network back: subnet 172.20.0.0/24";
        check_fixed(&model, "db", false, db, false);
        // A well-known port may be the contract; the name and the subnet still collide.
        let rest = "container_name seed-db, network back: name seed-back, network back: subnet 172.20.0.0/24";
        check_fixed(&model, "db", true, rest, false);
        check_fixed(&model, "gate", false, "host port 80:80", false);
        check_fixed(&model, "gate", true, "nothing fixed", true);
        check_fixed(&model, "api", false, "network front: ipv4_address 10.9.0.5", false);
        // An ephemeral port, compose's own names and someone else's network fix nothing.
        check_fixed(&model, "web", false, "nothing fixed", true);
    }
}
