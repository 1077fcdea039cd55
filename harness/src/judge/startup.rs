//! The startup criterion (seeds RedFire and ZViewer: "the stack starts in under 30 s").
//!
//! Judged on real readiness, per service and for the stack. Docker's healthy times are
//! recorded beside it, and where they differ the evidence names the cause, so a slow
//! verdict says whether the service or its healthcheck configuration is slow.

use std::time::Duration;

use std::collections::BTreeMap;

use crate::boot::timeline::BootTimeline;
use crate::judge::criteria::Criterion;
use crate::judge::verdict::{Outcome, Verdict};
use crate::policy::Policy;
use crate::units::secs;

/// The seeds' startup budget.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), secs)
}

/// The startup budgets: one for the whole stack, and one per service where the policy
/// gives a service its own (`[services.api] startup = "5s"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    /// The budget for the whole stack to be ready.
    pub stack: Duration,
    /// Per-service budgets, by service name; a service not listed has the stack's.
    pub services: BTreeMap<String, Duration>,
}

impl Budgets {
    /// The same budget for the stack and every service.
    pub fn uniform(budget: Duration) -> Budgets {
        Budgets { stack: budget, services: BTreeMap::new() }
    }

    /// The policy's: `[defaults] startup` for the stack, each service's effective setting
    /// for the service.
    pub fn from_policy(policy: &Policy) -> Budgets {
        Budgets {
            stack: policy.defaults.startup,
            services: policy.services.iter().map(|(name, s)| (name.clone(), s.startup)).collect(),
        }
    }

    /// The budget of `service`: its own, else the stack's.
    pub fn service(&self, service: &str) -> Duration {
        self.services.get(service).copied().unwrap_or(self.stack)
    }
}

/// One verdict per service, each against its own budget, and one for the stack.
pub fn judge(timeline: &BootTimeline, budgets: &Budgets) -> Vec<Verdict> {
    let mut out = Vec::new();
    for s in timeline.services.values() {
        let budget = budgets.service(&s.service);
        let causes = timeline.causes(&s.service);
        let mut evidence = format!(
            "created {}, started {}, ready {} ({} probe run(s)), healthy {}",
            opt(s.created),
            opt(s.started),
            opt(s.ready),
            s.probes,
            if s.health.is_some() { opt(s.healthy) } else { "n/a (no healthcheck)".to_owned() }
        );
        for c in &causes {
            evidence.push_str("; ");
            evidence.push_str(&c.to_string());
        }
        let passed = s.ready.is_some_and(|r| r <= budget);
        out.push(Verdict {
            criterion: Criterion::StartupService,
            subject: s.service.clone(),
            measured: opt(s.ready),
            budget: secs(budget),
            outcome: Outcome::judged(passed),
            evidence,
            hint: (!passed).then(|| {
                if causes.is_empty() {
                    "the service itself is slow to become ready: profile its startup".to_owned()
                } else {
                    "see the cause in the evidence: healthcheck timing and depends_on chains delay readiness".to_owned()
                }
            }),
        });
    }
    let ready = timeline.stack_ready();
    let slowest =
        timeline.services.values().filter(|s| s.ready.is_some()).max_by_key(|s| s.ready).map(|s| s.service.clone());
    let passed = ready.is_some_and(|r| r <= budgets.stack);
    out.push(Verdict {
        criterion: Criterion::StartupStack,
        subject: "stack".into(),
        measured: opt(ready),
        budget: secs(budgets.stack),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "all services ready at {} (last: {}), Docker reported all healthy at {}, compose up returned at {}",
            opt(ready),
            slowest.as_deref().unwrap_or("none"),
            opt(timeline.stack_healthy()),
            opt(timeline.up_returned)
        ),
        hint: (!passed)
            .then(|| "the slowest service sets the stack's time: see its startup.service evidence".to_owned()),
    });
    out
}

/// `deploy.time`: from `up` to the last service done as its orchestrator sees it (Docker's
/// healthy report, or running for a service without a healthcheck; every replica counts).
/// The harness builds and checks images before the clock starts, so an image pull or build
/// is not in it: ZViewer 004's 部署时间 is the deployment, not the CI build.
pub fn deploy_time(timeline: &BootTimeline, budget: Duration) -> Verdict {
    let done = |s: &crate::boot::timeline::ServiceTimeline| if s.health.is_some() { s.healthy } else { s.ready };
    let last = timeline.services.values().map(|s| (done(s), s.service.as_str())).max();
    let never: Vec<&str> =
        timeline.services.values().filter(|s| done(s).is_none()).map(|s| s.service.as_str()).collect();
    let at = if never.is_empty() { last.and_then(|(at, _)| at) } else { None };
    let passed = at.is_some_and(|t| t <= budget);
    let evidence = match (at, last) {
        (Some(t), Some((_, service))) => format!(
            "`up` started with every image present; the last service done was `{service}` at {} (Docker's healthy report, or running without a healthcheck); compose up returned at {}",
            secs(t),
            opt(timeline.up_returned)
        ),
        _ => format!("never done: {}", if never.is_empty() { "no service".to_owned() } else { never.join(", ") }),
    };
    Verdict {
        criterion: Criterion::DeployTime,
        subject: "stack".into(),
        measured: opt(at),
        budget: secs(budget),
        outcome: Outcome::judged(passed),
        evidence,
        hint: (!passed).then(|| {
            "the slowest service sets the deployment's time: shorten its healthcheck interval (Docker's first check runs one interval after start) and its depends_on chain; see startup.service".to_owned()
        }),
    }
}

/// A fixed-width table of the timeline, for terminals and logs.
pub fn table(timeline: &BootTimeline) -> String {
    let mut out = format!(
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>12}\n",
        "service", "created", "started", "ready", "healthy", "ready-start"
    );
    for s in timeline.services.values() {
        out.push_str(&format!(
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>12}\n",
            s.service,
            opt(s.created),
            opt(s.started),
            opt(s.ready),
            if s.health.is_some() { opt(s.healthy) } else { "-".into() },
            opt(s.ready_after_start())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::timeline::ServiceTimeline;
    use crate::engine::compose::HealthTiming;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn boot(ready: &[(&str, Option<u64>)]) -> BootTimeline {
        let mut b = BootTimeline::default();
        for (name, r) in ready {
            b.services.insert(
                (*name).to_owned(),
                ServiceTimeline {
                    service: (*name).to_owned(),
                    created: Some(ms(10)),
                    started: Some(ms(20)),
                    ready: r.map(ms),
                    healthy: r.map(|r| ms(r + 500)),
                    health: Some(HealthTiming {
                        interval: ms(1000),
                        timeout: ms(3000),
                        start_period: ms(0),
                        retries: 3,
                    }),
                    ..Default::default()
                },
            );
        }
        b
    }

    #[track_caller]
    fn check(ready: &[(&str, Option<u64>)], budget_ms: u64, expected: &[(&str, &str, bool)]) {
        let got: Vec<(String, String, bool)> = judge(&boot(ready), &Budgets::uniform(ms(budget_ms)))
            .into_iter()
            .map(|v| (v.criterion.id().to_owned(), v.subject.clone(), v.passed()))
            .collect();
        let expected: Vec<(String, String, bool)> =
            expected.iter().map(|(c, s, p)| ((*c).to_owned(), (*s).to_owned(), *p)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn passes_within_budget_and_fails_beyond_it() {
        check(
            &[("api", Some(2_000)), ("db", Some(1_000))],
            30_000,
            &[("startup.service", "api", true), ("startup.service", "db", true), ("startup.stack", "stack", true)],
        );
        check(
            &[("api", Some(31_000)), ("db", Some(1_000))],
            30_000,
            &[("startup.service", "api", false), ("startup.service", "db", true), ("startup.stack", "stack", false)],
        );
    }

    #[test]
    fn a_service_budget_from_the_policy_wins_over_the_stack_budget() {
        let dir = std::env::temp_dir();
        let policy =
            crate::policy::parse("[services.api]\nstartup = \"1ms\"\n", &dir.join("acceptance.toml"), &["api", "db"])
                .expect("valid policy");
        let budgets = Budgets::from_policy(&policy);
        let got = judge(&boot(&[("api", Some(2_000)), ("db", Some(1_000))]), &budgets);
        let line = |i: usize| got[i].line();
        assert_eq!(line(0), "FAIL startup.service api: 2.000s (budget 0.001s)");
        assert_eq!(line(1), "PASS startup.service db: 1.000s (budget 30.000s)");
        assert_eq!(line(2), "PASS startup.stack stack: 2.000s (budget 30.000s)");
    }

    #[test]
    fn a_service_never_ready_fails_service_and_stack() {
        check(&[("api", None)], 30_000, &[("startup.service", "api", false), ("startup.stack", "stack", false)]);
    }

    #[test]
    fn evidence_records_ready_and_healthy() {
        let v = judge(&boot(&[("api", Some(2_000))]), &Budgets::uniform(ms(30_000)));
        assert_eq!(v[0].evidence, "created 0.010s, started 0.020s, ready 2.000s (0 probe run(s)), healthy 2.500s");
        assert!(v[1].evidence.contains("last: api"), "{}", v[1].evidence);
    }

    #[track_caller]
    fn check_deploy(t: &BootTimeline, budget_ms: u64, measured: &str, passed: bool) {
        let v = deploy_time(t, ms(budget_ms));
        assert_eq!((v.measured.as_str(), v.passed()), (measured, passed), "{}", v.evidence);
    }

    #[test]
    fn deploy_time_waits_for_the_last_healthy_report() {
        // boot(): healthy half a second after ready.
        let mut t = boot(&[("api", Some(2000)), ("db", Some(1000))]);
        check_deploy(&t, 3000, "2.500s", true);
        check_deploy(&t, 2000, "2.500s", false);
        // Without a healthcheck, running (ready here) is done.
        t.services.get_mut("api").expect("api").health = None;
        check_deploy(&t, 3000, "2.000s", true);
        t.services.get_mut("db").expect("db").healthy = Some(ms(31_000));
        check_deploy(&t, 300_000, "31.000s", true);
        check_deploy(&t, 30_000, "31.000s", false);
        t.services.get_mut("db").expect("db").healthy = None;
        check_deploy(&t, 300_000, "never", false);
        assert!(deploy_time(&t, ms(1)).evidence.contains("db"), "names what never finished");
    }

    #[test]
    fn table_has_a_row_per_service() {
        let t = table(&boot(&[("api", Some(2_000)), ("db", None)]));
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().nth(2).is_some_and(|l| l.starts_with("db") && l.contains("never")), "{t}");
    }
}
