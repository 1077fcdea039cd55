//! The catalogue of criteria: one typed [`Criterion`] per promise the harness judges, and
//! the one place that states each criterion's id, family, step, seed source, CIS Docker
//! Benchmark id, whether lint can judge it and whether it belongs to the read-only
//! catalogue. `--only`/`--skip` select from it, reports read seed sources and CIS ids from
//! it, checks name criteria only through it, and the docs' tables are generated from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::errors::{Error, Result};

/// The step of a `check` run that judges a criterion. A step none of whose criteria is
/// selected is not run at all (`--skip backup` saves the slowest cycle, not just its lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// From the boot's timeline.
    Startup,
    /// Inspect, `docker top`, stats and one timed healthcheck per service, plus the
    /// compose file's image references.
    Runtime,
    /// One probe container per network.
    Network,
    /// Requests through the gateway and to Prometheus.
    Http,
    /// SIGTERM and SIGKILL of each service.
    Lifecycle,
    /// Changes under load: a replica killed, a rolling update, a scale out and in, each
    /// dependency restarted, while requests go through the gateway.
    Change,
    /// Write, restart, recreate, read back.
    Persistence,
    /// Back up, destroy, restore, compare.
    Backup,
}

impl Step {
    /// The name progress lines and the report's catalogue timings use.
    pub fn name(self) -> &'static str {
        match self {
            Step::Startup => "startup",
            Step::Runtime => "runtime",
            Step::Network => "network",
            Step::Http => "http",
            Step::Lifecycle => "lifecycle",
            Step::Change => "change",
            Step::Persistence => "persistence",
            Step::Backup => "backup",
        }
    }

    /// Whether the step stops, kills, recreates or replaces anything. The read-only
    /// catalogue (for stacks shared between tests) is everything else.
    pub fn destructive(self) -> bool {
        matches!(self, Step::Lifecycle | Step::Change | Step::Persistence | Step::Backup)
    }
}

/// Declares [`Criterion`] and its facts from one table, so an id, its CIS id and its
/// lint-ability are written exactly once.
macro_rules! criteria {
    ($($variant:ident => ($id:literal, $step:ident, $seed:literal, $cis:expr, $lint:literal, $what:literal, $policy:literal),)*) => {
        /// One criterion the harness judges. Its facts are methods; its text form is its id
        /// (`startup.service`), which is also how reports, policies and `--only` name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Criterion {
            $(#[doc = concat!("`", $id, "` (", $seed, ")")] $variant,)*
        }

        impl Criterion {
            /// Every criterion, in the order reports list them.
            pub const ALL: &'static [Criterion] = &[$(Criterion::$variant,)*];

            /// Stable id, `family.name`.
            pub const fn id(self) -> &'static str {
                match self { $(Criterion::$variant => $id,)* }
            }

            /// Which step of a run judges it.
            pub const fn step(self) -> Step {
                match self { $(Criterion::$variant => Step::$step,)* }
            }

            /// Which seed documents state it, or "harness default".
            pub const fn seed(self) -> &'static str {
                match self { $(Criterion::$variant => $seed,)* }
            }

            /// CIS Docker Benchmark v1.6 recommendation(s), comma-separated.
            pub const fn cis(self) -> Option<&'static str> {
                match self { $(Criterion::$variant => $cis,)* }
            }

            /// What is judged, in one line.
            pub const fn what(self) -> &'static str {
                match self { $(Criterion::$variant => $what,)* }
            }

            /// The `acceptance.toml` keys that set its budget or switch it, if any.
            pub const fn policy_keys(self) -> &'static str {
                match self { $(Criterion::$variant => $policy,)* }
            }

            /// Also judged by `harness lint`, from the compose file, Dockerfile and image
            /// config, with no boot.
            pub const fn lint(self) -> bool {
                match self { $(Criterion::$variant => $lint,)* }
            }
        }
    };
}

criteria! {
    StartupService => ("startup.service", Startup, "RedFire 001, ZViewer 004", None, false, "each service's real readiness (its own healthcheck passing) against its budget; Docker's healthy time and the cause of any gap in the evidence", "`startup`"),
    StartupStack => ("startup.stack", Startup, "RedFire 001, ZViewer 004", None, false, "the stack's real readiness (its slowest service) against the budget", "`startup`"),
    DeployTime => ("deploy.time", Startup, "ZViewer 004", None, false, "from `up` to the last replica Docker reports healthy (running, for a service without a healthcheck), images already present: the deployment as its orchestrator sees it", "`[deploy] time`"),
    ImageSize => ("image.size", Runtime, "RedFire 001, ZViewer 004", None, false, "image size against budget, with the largest layers", "`image_size`"),
    UserImage => ("user.image", Runtime, "all seeds", Some("4.1"), true, "the effective configured user is not root", "`non_root`"),
    UserProcess => ("user.process", Runtime, "all seeds", Some("5.24"), false, "no process in the container runs as uid 0 (real uids from `docker top`)", "`non_root`"),
    HealthcheckDefined => ("healthcheck.defined", Runtime, "all seeds", Some("4.6"), true, "a healthcheck exists (compose or image)", ""),
    HealthcheckPasses => ("healthcheck.passes", Runtime, "all seeds", Some("5.27"), false, "Docker reports the service healthy", ""),
    HealthcheckResponse => ("healthcheck.response", Runtime, "ZViewer 004", None, false, "one run of the check answers within budget", "`health_response`"),
    HardeningPrivileged => ("hardening.privileged", Runtime, "zigQuant 000", Some("5.5"), true, "not privileged", ""),
    HardeningCapabilities => ("hardening.capabilities", Runtime, "zigQuant 000", Some("5.4"), true, "`cap_drop: [ALL]`, additions within the allowlist", "`cap_add`"),
    HardeningNoNewPrivileges => ("hardening.no_new_privileges", Runtime, "zigQuant 000", Some("5.26"), true, "`no-new-privileges:true`", "`no_new_privileges`"),
    HardeningReadOnly => ("hardening.read_only", Runtime, "zigQuant 000", Some("5.13"), true, "read-only root filesystem", "`read_only`"),
    HardeningDockerSock => ("hardening.docker_sock", Runtime, "harness default", Some("5.32"), true, "no docker.sock mount", ""),
    HardeningHostMounts => ("hardening.host_mounts", Runtime, "harness default", Some("5.6"), true, "no sensitive host directory mounted", ""),
    HardeningNamespaces => ("hardening.namespaces", Runtime, "harness default", Some("5.10, 5.16, 5.17, 5.21"), true, "no host network, PID, IPC or UTS namespace", ""),
    HardeningMemoryLimit => ("hardening.memory_limit", Runtime, "ZViewer 004, zigQuant 000", Some("5.11"), true, "a memory limit", "`memory_limit`"),
    HardeningPidsLimit => ("hardening.pids_limit", Runtime, "harness default", Some("5.29"), true, "a pids limit", "`pids_limit`"),
    HardeningRestart => ("hardening.restart", Runtime, "RedFire 001, ZViewer 004", Some("5.15"), true, "an allowed restart policy", "`restart`"),
    HardeningLogRotation => ("hardening.log_rotation", Runtime, "zigQuant 000", None, true, "json-file with max-size and max-file", "`log_rotation`"),
    SecretsEnv => ("secrets.env", Runtime, "zigQuant 000", Some("4.10"), true, "no secret-looking env name with a literal value (dockle CIS-DI-0010 names)", "`secrets_in_env`, `secret_env_allowlist`"),
    NetworkPublish => ("network.publish", Runtime, "RedFire 001", Some("5.8"), true, "only services the policy allows publish host ports (host networking publishes every port)", "`publish`"),
    NetworkBind => ("network.bind", Runtime, "RedFire 001, ZViewer 004", Some("5.14"), true, "published ports bind only the interfaces the policy allows: one specific interface, or every one for a public entry point", "`bind`"),
    LintPinnedTags => ("lint.pinned_tags", Runtime, "harness default", None, true, "no `latest` or untagged images", "`pinned_tags`"),
    LintFixedAddresses => ("lint.fixed_addresses", Runtime, "harness default", None, true, "no `container_name`, fixed host port, or fixed network name, subnet or address: what a second run on one engine, or `--scale`, collides on (judged from the file; the boot moves them aside)", "`fixed_ports`"),
    NetworkReach => ("network.reach", Network, "RedFire 001", None, false, "from a probe on each network, exactly the allowed service:port pairs connect (the matrix is the evidence)", "`[networks.*] reach`"),
    NetworkEgress => ("network.egress", Network, "RedFire 001", None, false, "an `internal: true` network has no way out (real traffic to a sentinel on this machine, with a non-internal control)", ""),
    DiscoveryName => ("discovery.name", Network, "RedFire 001, ZViewer 004", None, false, "services reach each other by service name", "`[networks.*] reach`"),
    GatewayRoute => ("gateway.route", Http, "RedFire 001, ZViewer 004", None, false, "each route reaches its upstream through the gateway's published port", "`[gateway]`, `[[routes]]`"),
    AvailabilitySteady => ("availability.steady", Http, "ZViewer 004", None, false, "under the policy's steady load through the gateway's published port, or a forwarder inside the stack when it publishes none (127.0.0.1 only; bounded in requests and time): the share answered 2xx/3xx and the p99 latency against budget; failures by kind and the longest error burst in the evidence", "`[availability]`"),
    GatewayBalance => ("gateway.balance", Http, "ZViewer 004", None, false, "under the steady load, every running replica of the route's upstream answers (the `x-replica` header), each within the tolerance of an even share, and at least the policy's replica count", "`[availability] upstream`, `replicas`, `balance`"),
    ObservabilityTargets => ("observability.targets", Http, "ZViewer 004, zigQuant 000", None, false, "Prometheus reports each listed target up", "`[observability]`"),
    ObservabilityFamilies => ("observability.families", Http, "ZViewer 004, zigQuant 000", None, false, "the metrics endpoint exposes each listed family", "`[observability]`"),
    PersistenceVolume => ("persistence.volume", Persistence, "ZViewer 004", None, false, "the data lives in a named volume, not the container layer", "`[[persistence]]`"),
    PersistenceRestart => ("persistence.restart", Persistence, "ZViewer 004", None, false, "rows (sqlx), keys (redis) and files read back byte-identical after a restart", "`[[persistence]]`"),
    PersistenceRecreate => ("persistence.recreate", Persistence, "ZViewer 004", None, false, "rows, keys and files read back byte-identical after down/up keeping volumes", "`[[persistence]]`"),
    BackupTar => ("backup.tar", Backup, "zigQuant 000, ZViewer 004", None, false, "tar of the volume, destroy, restore into a fresh volume, boot, compare checksums", "`[[backup]]`"),
    BackupPgDump => ("backup.pg_dump", Backup, "ZViewer 004", None, false, "pg_dump, destroy, pg_restore into a fresh volume, boot, compare rows", "`[[backup]]`"),
    ResourcesMemory => ("resources.memory", Runtime, "ZViewer 004", None, false, "steady-state memory from engine stats, page cache excluded", "`memory`"),
    ShutdownGraceful => ("shutdown.graceful", Lifecycle, "harness default", None, false, "exit 0 within `stop_grace_period` on the stop signal", "`shutdown`"),
    RecoveryRestart => ("recovery.restart", Lifecycle, "ZViewer 004", Some("5.15"), false, "after SIGKILL of PID 1, healthy again within budget", "`recovery`"),
    AvailabilityReplicaLoss => ("availability.replica_loss", Change, "ZViewer 004", None, false, "one replica of the upstream SIGKILLed under load: the share answered and the longest error burst against budget, and the replica restarted and ready within the recovery budget", "`[availability]`, `burst`, `recovery`"),
    AvailabilityRollingUpdate => ("availability.rolling_update", Change, "ZViewer 004", None, false, "the upstream rolled one replica at a time under load (start a new one, wait until ready, stop an old one): the share answered and the longest error burst against budget, and every old replica replaced", "`[availability]`, `burst`"),
    ScaleOut => ("scale.out", Change, "ZViewer 004", None, false, "the upstream scaled out and back in under load: the new replicas ready within the startup budget and answering through the gateway, and no error while they leave", "`[availability]`, `scale_to`, `startup`"),
    DeployRollback => ("deploy.rollback", Change, "RedFire 001 (回滚方案), ZViewer 004", None, false, "Swarm only: a deliberately bad version of the upstream (its healthcheck never passes) is rolled out under load, and Swarm rolls it back by itself (`update_config.failure_action: rollback`) within budget while the share answered holds; compose has no rollback, so a compose run judges it only when named with --only", "`[deploy] rollback`, `[availability]`"),
    ResilienceDependencyRestart => ("resilience.dependency_restart", Change, "RedFire 001", None, false, "each dependency of the upstream restarted under load: the upstream answers again within the budget of the dependency being back, with no restart of its own (its pool reconnects)", "`[availability] dependencies`, `reconnect`"),
}

impl Criterion {
    /// `hardening` of `hardening.read_only`.
    pub fn family(self) -> &'static str {
        family_of(self.id())
    }

    /// Part of the read-only catalogue: judged without stopping, killing, recreating or
    /// replacing anything, so a stack shared between tests can be judged.
    pub fn read_only(self) -> bool {
        !self.step().destructive()
    }

    /// The criterion whose id is `id`.
    pub fn from_id(id: &str) -> Option<Criterion> {
        Criterion::ALL.iter().copied().find(|c| c.id() == id)
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Criterion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Criterion> {
        Criterion::from_id(s).ok_or_else(|| Error::UnknownCriterion {
            flag: "criterion",
            name: s.to_owned(),
            nearest: nearest(s),
            families: families().join(", "),
        })
    }
}

impl Serialize for Criterion {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

// Verdicts read back from evidence files (`harness report`): an id the catalogue does not
// know means the file was written by another harness version and is rejected.
impl<'de> Deserialize<'de> for Criterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Criterion, D::Error> {
        let id = String::deserialize(d)?;
        Criterion::from_id(&id).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown criterion `{id}` (written by another harness version?)"))
        })
    }
}

/// Every criterion, in the order reports list them.
pub const ALL: &[Criterion] = Criterion::ALL;

/// The family part of an id (`network` of `network.reach`).
pub fn family_of(id: &str) -> &str {
    id.split_once('.').map_or(id, |(f, _)| f)
}

/// The criterion whose id is `id`.
pub fn find(id: &str) -> Option<Criterion> {
    Criterion::from_id(id)
}

/// Every family, in catalogue order.
pub fn families() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in ALL {
        if !out.contains(&c.family()) {
            out.push(c.family());
        }
    }
    out
}

/// The criteria reference (`docs/criteria.md`), generated from the enum so the docs can
/// never disagree with the code; a test fails when the committed file is stale.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Criteria\n\n<!-- generated from harness/src/judge/criteria.rs by its tests; HARNESS_BLESS=1 rewrites it -->\n\n\
         Every criterion the harness judges. *Lint* criteria are also judged by `harness lint` from the\n\
         compose file and image config, with no boot. *Read-only* criteria are judged without stopping,\n\
         killing, recreating or replacing anything, so a stack shared between tests can be judged.\n\
         Each verdict is `pass`, `fail`, `not judged` (with the reason the harness could not measure it)\n\
         or `waived` (by a `[[waive]]` entry in the policy, with its file and line).\n\n\
         | criterion | what is judged | step | seed | CIS | policy keys | lint | read-only |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in Criterion::ALL {
        let yes = |b: bool| if b { "yes" } else { "" };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            c.id(),
            c.what(),
            c.step().name(),
            c.seed(),
            c.cis().unwrap_or(""),
            c.policy_keys(),
            yes(c.lint()),
            yes(c.read_only())
        ));
    }
    out
}

/// Which criteria a run judges: `--only` and `--skip`, each a criterion id or a family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--only` entries, split at commas; empty means the whole catalogue.
    pub only: Vec<String>,
    /// `--skip` entries, split at commas; empty means nothing is skipped.
    pub skip: Vec<String>,
}

impl Selection {
    /// Validates every entry against the catalogue; an unknown one is an error that names
    /// it, suggests the nearest id and lists the families.
    pub fn new(only: Vec<String>, skip: Vec<String>) -> Result<Selection> {
        // `--only a,b` and `--only a --only b` mean the same.
        let split = |v: Vec<String>| -> Vec<String> {
            v.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        };
        let sel = Selection { only: split(only), skip: split(skip) };
        for (flag, entry) in sel.only.iter().map(|e| ("--only", e)).chain(sel.skip.iter().map(|e| ("--skip", e))) {
            if find(entry).is_none() && !families().contains(&entry.as_str()) {
                return Err(Error::UnknownCriterion {
                    flag,
                    name: entry.clone(),
                    nearest: nearest(entry),
                    families: families().join(", "),
                });
            }
        }
        if !sel.only.is_empty() && ALL.iter().all(|c| !sel.includes(*c)) {
            return Err(Error::NothingSelected { only: sel.only.join(","), skip: sel.skip.join(",") });
        }
        Ok(sel)
    }

    /// Whether criterion `c` is judged.
    pub fn includes(&self, c: Criterion) -> bool {
        let hit = |list: &[String]| list.iter().any(|e| e == c.id() || e == c.family());
        (self.only.is_empty() || hit(&self.only)) && !hit(&self.skip)
    }

    /// Whether `--only` names criterion `c` by its id (not only its family): what a criterion
    /// one engine cannot judge needs before that engine reports it as not judged.
    pub fn names(&self, c: Criterion) -> bool {
        self.only.iter().any(|e| e == c.id()) && self.includes(c)
    }

    /// Whether any criterion `step` judges is selected, i.e. whether the step runs.
    pub fn runs(&self, step: Step) -> bool {
        ALL.iter().any(|c| c.step() == step && self.includes(*c))
    }

    /// Everything is judged.
    pub fn is_all(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty()
    }
}

/// The catalogue id or family closest to `name`, if it is close enough to be a typo.
fn nearest(name: &str) -> Option<String> {
    let candidates: Vec<&str> = ALL.iter().map(|c| c.id()).chain(families()).collect();
    crate::policy::nearest(name, &candidates).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ALL {
            assert!(seen.insert(c.id()), "duplicate {c}");
            assert!(c.id().contains('.'), "{c} has a family");
            assert_eq!(Criterion::from_id(c.id()), Some(*c));
        }
    }

    #[test]
    fn the_criteria_reference_is_generated_from_the_enum() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/criteria.md");
        let fresh = reference_markdown();
        if std::env::var_os("HARNESS_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs/");
            std::fs::write(&path, &fresh).expect("write docs/criteria.md");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/criteria.md is stale: run `HARNESS_BLESS=1 cargo nextest run -p harness --lib criteria`"
        );
    }

    #[track_caller]
    fn check_sel(only: &[&str], skip: &[&str], included: &[&str], excluded: &[&str]) {
        let s = Selection::new(only.iter().map(|s| (*s).into()).collect(), skip.iter().map(|s| (*s).into()).collect())
            .expect("valid selection");
        for id in included {
            assert!(s.includes(id.parse().expect("known id")), "{id} included by {s:?}");
        }
        for id in excluded {
            assert!(!s.includes(id.parse().expect("known id")), "{id} excluded by {s:?}");
        }
    }

    #[test]
    fn selects_by_id_and_family() {
        check_sel(&[], &[], &["backup.tar", "startup.stack"], &[]);
        check_sel(&["network"], &[], &["network.reach", "network.egress"], &["backup.tar", "discovery.name"]);
        check_sel(&["network,backup.tar"], &[], &["network.publish", "backup.tar"], &["backup.pg_dump"]);
        check_sel(
            &[],
            &["backup", "persistence.recreate"],
            &["persistence.restart"],
            &["backup.tar", "persistence.recreate"],
        );
        check_sel(&["hardening"], &["hardening.read_only"], &["hardening.privileged"], &["hardening.read_only"]);
    }

    #[test]
    fn a_step_runs_only_when_one_of_its_criteria_is_selected() {
        let sel = Selection::new(vec!["backup.tar".into(), "startup".into()], vec![]).expect("valid");
        let running: Vec<Step> = [
            Step::Startup,
            Step::Runtime,
            Step::Network,
            Step::Http,
            Step::Lifecycle,
            Step::Change,
            Step::Persistence,
            Step::Backup,
        ]
        .into_iter()
        .filter(|s| sel.runs(*s))
        .collect();
        assert_eq!(running, [Step::Startup, Step::Backup]);
        let skip = Selection::new(vec![], vec!["network.reach".into(), "network.egress".into()]).expect("valid");
        assert!(skip.runs(Step::Network), "discovery.name still needs the probes");
    }

    #[track_caller]
    fn check_unknown(only: &[&str], skip: &[&str], fragment: &str) {
        let err =
            Selection::new(only.iter().map(|s| (*s).into()).collect(), skip.iter().map(|s| (*s).into()).collect())
                .expect_err("unknown entry rejected");
        assert!(err.to_string().contains(fragment), "`{err}` should contain `{fragment}`");
    }

    #[test]
    fn unknown_entries_name_themselves_and_the_nearest_id() {
        check_unknown(
            &["netwrok.reach"],
            &[],
            "unknown criterion `netwrok.reach` in --only (hint: did you mean `network.reach`?",
        );
        check_unknown(&[], &["bakup"], "in --skip (hint: did you mean `backup`?");
        check_unknown(&["zzzzzzzz"], &[], "families: startup, deploy, image, user");
        check_unknown(&["backup"], &["backup"], "leaves nothing to judge");
    }
}
