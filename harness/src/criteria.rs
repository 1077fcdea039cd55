//! The catalogue of criteria: every id a check can emit, where the promise comes from, its
//! CIS Docker Benchmark id and its policy key. `--only`/`--skip` select from it, reports
//! read seed sources and CIS ids from it, and a test keeps the README's table in step.

use crate::errors::{Error, Result};

/// The step of a `check` run that judges a criterion. A step none of whose criteria is
/// selected is not run at all (`--skip backup` saves the slowest cycle, not just its lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Write, restart, recreate, read back.
    Persistence,
    /// Back up, destroy, restore, compare.
    Backup,
}

/// One criterion the harness judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    /// Which step of a run judges it.
    pub step: Step,
    /// Stable id, `family.name`.
    pub id: &'static str,
    /// Which seed documents state it, or "harness default".
    pub seed: &'static str,
    /// CIS Docker Benchmark v1.6 recommendation(s).
    pub cis: Option<&'static str>,
    /// Also judged by `harness lint`, with no boot.
    pub lint: bool,
}

impl Criterion {
    /// `hardening` of `hardening.read_only`.
    pub fn family(&self) -> &'static str {
        family_of(self.id)
    }
}

const fn c(step: Step, id: &'static str, seed: &'static str, cis: Option<&'static str>, lint: bool) -> Criterion {
    Criterion { step, id, seed, cis, lint }
}

/// Every criterion, in the order reports list them.
pub const ALL: &[Criterion] = &[
    c(Step::Startup, "startup.service", "RedFire 001, ZViewer 004", None, false),
    c(Step::Startup, "startup.stack", "RedFire 001, ZViewer 004", None, false),
    c(Step::Runtime, "image.size", "RedFire 001, ZViewer 004", None, false),
    c(Step::Runtime, "user.image", "all seeds", Some("4.1"), true),
    c(Step::Runtime, "user.process", "all seeds", Some("5.24"), false),
    c(Step::Runtime, "healthcheck.defined", "all seeds", Some("4.6"), true),
    c(Step::Runtime, "healthcheck.passes", "all seeds", Some("5.27"), false),
    c(Step::Runtime, "healthcheck.response", "ZViewer 004", None, false),
    c(Step::Runtime, "hardening.privileged", "zigQuant 000", Some("5.5"), true),
    c(Step::Runtime, "hardening.capabilities", "zigQuant 000", Some("5.4"), true),
    c(Step::Runtime, "hardening.no_new_privileges", "zigQuant 000", Some("5.26"), true),
    c(Step::Runtime, "hardening.read_only", "zigQuant 000", Some("5.13"), true),
    c(Step::Runtime, "hardening.docker_sock", "harness default", Some("5.32"), true),
    c(Step::Runtime, "hardening.host_mounts", "harness default", Some("5.6"), true),
    c(Step::Runtime, "hardening.namespaces", "harness default", Some("5.10, 5.16, 5.17, 5.21"), true),
    c(Step::Runtime, "hardening.memory_limit", "ZViewer 004, zigQuant 000", Some("5.11"), true),
    c(Step::Runtime, "hardening.pids_limit", "harness default", Some("5.29"), true),
    c(Step::Runtime, "hardening.restart", "RedFire 001, ZViewer 004", Some("5.15"), true),
    c(Step::Runtime, "hardening.log_rotation", "zigQuant 000", None, true),
    c(Step::Runtime, "secrets.env", "zigQuant 000", Some("4.10"), true),
    c(Step::Runtime, "network.publish", "RedFire 001", Some("5.14"), true),
    c(Step::Runtime, "lint.pinned_tags", "harness default", None, true),
    c(Step::Network, "network.reach", "RedFire 001", None, false),
    c(Step::Network, "network.egress", "RedFire 001", None, false),
    c(Step::Network, "discovery.name", "RedFire 001, ZViewer 004", None, false),
    c(Step::Http, "gateway.route", "RedFire 001, ZViewer 004", None, false),
    c(Step::Http, "observability.targets", "ZViewer 004, zigQuant 000", None, false),
    c(Step::Http, "observability.families", "ZViewer 004, zigQuant 000", None, false),
    c(Step::Persistence, "persistence.volume", "ZViewer 004", None, false),
    c(Step::Persistence, "persistence.restart", "ZViewer 004", None, false),
    c(Step::Persistence, "persistence.recreate", "ZViewer 004", None, false),
    c(Step::Backup, "backup.tar", "zigQuant 000, ZViewer 004", None, false),
    c(Step::Backup, "backup.pg_dump", "ZViewer 004", None, false),
    c(Step::Runtime, "resources.memory", "ZViewer 004", None, false),
    c(Step::Lifecycle, "shutdown.graceful", "harness default", None, false),
    c(Step::Lifecycle, "recovery.restart", "ZViewer 004", Some("5.15"), false),
];

/// The family part of an id (`network` of `network.reach`).
pub fn family_of(id: &str) -> &str {
    id.split_once('.').map_or(id, |(f, _)| f)
}

/// The registry entry for `id`.
pub fn find(id: &str) -> Option<&'static Criterion> {
    ALL.iter().find(|c| c.id == id)
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

/// Which criteria a run judges: `--only` and `--skip`, each a criterion id or a family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub only: Vec<String>,
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
        if !sel.only.is_empty() && ALL.iter().all(|c| !sel.includes(c.id)) {
            return Err(Error::NothingSelected { only: sel.only.join(","), skip: sel.skip.join(",") });
        }
        Ok(sel)
    }

    /// Whether criterion `id` is judged.
    pub fn includes(&self, id: &str) -> bool {
        let hit = |list: &[String]| list.iter().any(|e| e == id || e == family_of(id));
        (self.only.is_empty() || hit(&self.only)) && !hit(&self.skip)
    }

    /// Whether any criterion `step` judges is selected, i.e. whether the step runs.
    pub fn runs(&self, step: Step) -> bool {
        ALL.iter().any(|c| c.step == step && self.includes(c.id))
    }

    /// Everything is judged.
    pub fn is_all(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty()
    }
}

/// The catalogue id or family closest to `name`, if it is close enough to be a typo.
fn nearest(name: &str) -> Option<String> {
    let candidates: Vec<&str> = ALL.iter().map(|c| c.id).chain(families()).collect();
    crate::policy::nearest(name, &candidates).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ALL {
            assert!(seen.insert(c.id), "duplicate {}", c.id);
            assert!(c.id.contains('.'), "{} has a family", c.id);
        }
    }

    #[track_caller]
    fn check_sel(only: &[&str], skip: &[&str], included: &[&str], excluded: &[&str]) {
        let s = Selection::new(only.iter().map(|s| (*s).into()).collect(), skip.iter().map(|s| (*s).into()).collect())
            .expect("valid selection");
        for id in included {
            assert!(s.includes(id), "{id} included by {s:?}");
        }
        for id in excluded {
            assert!(!s.includes(id), "{id} excluded by {s:?}");
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
        let running: Vec<Step> =
            [Step::Startup, Step::Runtime, Step::Network, Step::Http, Step::Lifecycle, Step::Persistence, Step::Backup]
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
        check_unknown(&["zzzzzzzz"], &[], "families: startup, image, user");
        check_unknown(&["backup"], &["backup"], "leaves nothing to judge");
    }
}
