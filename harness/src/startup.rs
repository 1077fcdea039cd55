//! The startup criterion (seeds RedFire and ZViewer: "the stack starts in under 30 s").
//!
//! Judged on real readiness, per service and for the stack. Docker's healthy times are
//! recorded beside it, and where they differ the evidence names the cause, so a slow
//! verdict says whether the service or its healthcheck configuration is slow.

use std::time::Duration;

use crate::timeline::BootTimeline;
use crate::units::secs;
use crate::verdict::Verdict;

/// The seeds' startup budget.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), secs)
}

/// One verdict per service and one for the stack.
pub fn judge(timeline: &BootTimeline, budget: Duration) -> Vec<Verdict> {
    let mut out = Vec::new();
    for s in timeline.services.values() {
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
            criterion: "startup.service",
            subject: s.service.clone(),
            measured: opt(s.ready),
            budget: secs(budget),
            passed,
            evidence,
            hint: (!passed).then(|| {
                if causes.is_empty() {
                    "the service itself is slow to become ready: profile its startup".to_owned()
                } else {
                    "see the cause in the evidence: healthcheck timing and depends_on chains delay readiness".to_owned()
                }
            }),
            cis: None,
        });
    }
    let ready = timeline.stack_ready();
    let slowest =
        timeline.services.values().filter(|s| s.ready.is_some()).max_by_key(|s| s.ready).map(|s| s.service.clone());
    let passed = ready.is_some_and(|r| r <= budget);
    out.push(Verdict {
        criterion: "startup.stack",
        subject: "stack".into(),
        measured: opt(ready),
        budget: secs(budget),
        passed,
        evidence: format!(
            "all services ready at {} (last: {}), Docker reported all healthy at {}, compose up returned at {}",
            opt(ready),
            slowest.as_deref().unwrap_or("none"),
            opt(timeline.stack_healthy()),
            opt(timeline.up_returned)
        ),
        hint: (!passed)
            .then(|| "the slowest service sets the stack's time: see its startup.service evidence".to_owned()),
        cis: None,
    });
    out
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
    use crate::compose::HealthTiming;
    use crate::timeline::ServiceTimeline;

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
        let got: Vec<(String, String, bool)> = judge(&boot(ready), ms(budget_ms))
            .into_iter()
            .map(|v| (v.criterion.to_owned(), v.subject, v.passed))
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
    fn a_service_never_ready_fails_service_and_stack() {
        check(&[("api", None)], 30_000, &[("startup.service", "api", false), ("startup.stack", "stack", false)]);
    }

    #[test]
    fn evidence_records_ready_and_healthy() {
        let v = judge(&boot(&[("api", Some(2_000))]), ms(30_000));
        assert_eq!(v[0].evidence, "created 0.010s, started 0.020s, ready 2.000s (0 probe run(s)), healthy 2.500s");
        assert!(v[1].evidence.contains("last: api"), "{}", v[1].evidence);
    }

    #[test]
    fn table_has_a_row_per_service() {
        let t = table(&boot(&[("api", Some(2_000)), ("db", None)]));
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().nth(2).is_some_and(|l| l.starts_with("db") && l.contains("never")), "{t}");
    }
}
