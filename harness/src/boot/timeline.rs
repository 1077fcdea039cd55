//! What happened during a boot, per service, and why "ready" and "healthy" differ.
//!
//! Times are offsets from the moment `compose up` was started. `ready` is the first success
//! of the service's own healthcheck command run by the harness (every 250 ms); `healthy` is
//! when Docker reported it. On engine 20.10 Docker's first check runs one full `interval`
//! after start, and a `depends_on: service_healthy` chain waits for that report before it
//! even starts the dependent. With the seeds' 30 s intervals that turns 5 s of real
//! readiness into a minute (environment.md). This module names those causes from the
//! recorded times alone, so it is pure and tested without Docker.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::compose::HealthTiming;
use crate::units::secs;

/// The gap between ready and healthy, or a late start, that deserves an explanation.
pub const EXPLAIN_THRESHOLD: Duration = Duration::from_secs(1);

/// One service's boot, as offsets from `up`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceTimeline {
    /// The compose service.
    pub service: String,
    /// When its container was created; `None` when it never was.
    pub created: Option<Duration>,
    /// When its container was started; `None` when it never was.
    pub started: Option<Duration>,
    /// When the harness's first run of its healthcheck command passed; `None` when none did.
    pub ready: Option<Duration>,
    /// When Docker reported it healthy; `None` when it never did (or has no healthcheck).
    pub healthy: Option<Duration>,
    /// The effective healthcheck timing, `None` when the service has no healthcheck.
    pub health: Option<HealthTiming>,
    /// `depends_on` entries: dependency name and condition.
    pub depends_on: Vec<(String, String)>,
    /// How many probe runs the harness made before the first success.
    pub probes: u32,
}

impl ServiceTimeline {
    /// Time from the container's start to real readiness: what the service itself costs.
    pub fn ready_after_start(&self) -> Option<Duration> {
        Some(self.ready?.saturating_sub(self.started?))
    }

    /// Whether the boot is complete for this service: ready, and healthy where Docker judges health.
    pub fn is_done(&self) -> bool {
        self.ready.is_some() && (self.health.is_none() || self.healthy.is_some())
    }
}

/// Why a service's times differ by more than [`EXPLAIN_THRESHOLD`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// Docker only checks every `interval`, the first time one interval after start
    /// (engine 20.10 has no `start_interval`), so health was reported after readiness.
    Interval {
        /// The healthcheck interval.
        interval: Duration,
        /// When the service was ready.
        ready: Duration,
        /// When Docker reported it healthy.
        healthy: Duration,
    },
    /// The container was started late because compose waited for a dependency to be
    /// reported healthy (`depends_on: condition: service_healthy`).
    DependsOn {
        /// The dependency compose waited for.
        dependency: String,
        /// When the dependency was ready; `None` when it never was.
        dependency_ready: Option<Duration>,
        /// When Docker reported the dependency healthy.
        dependency_healthy: Duration,
        /// When this service's container was started.
        started: Duration,
    },
    /// The gap is larger than the healthcheck timing explains: the check failed or hung
    /// for a while under Docker (e.g. retries, timeouts) while it passed for the harness.
    Unexplained {
        /// When the service was ready.
        ready: Duration,
        /// When Docker reported it healthy.
        healthy: Duration,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Interval { interval, ready, healthy } => write!(
                f,
                "healthcheck interval {}: ready at {} but Docker's next check only ran at {} (engine 20.10 first checks one interval after start; hint: shorten `interval`)",
                secs(*interval),
                secs(*ready),
                secs(*healthy)
            ),
            Cause::DependsOn { dependency, dependency_ready, dependency_healthy, started } => write!(
                f,
                "depends_on chain: started at {} only after `{dependency}` was reported healthy at {}{} (hint: shorten `{dependency}`'s healthcheck interval, or depend on service_started)",
                secs(*started),
                secs(*dependency_healthy),
                dependency_ready.map(|r| format!(", though it was ready at {}", secs(r))).unwrap_or_default()
            ),
            Cause::Unexplained { ready, healthy } => write!(
                f,
                "ready at {} but healthy only at {}, more than the healthcheck interval explains (hint: read the container's health log for failing or slow checks)",
                secs(*ready),
                secs(*healthy)
            ),
        }
    }
}

/// The whole boot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BootTimeline {
    /// Each service's boot, by name.
    pub services: BTreeMap<String, ServiceTimeline>,
    /// When `compose up -d` returned.
    pub up_returned: Option<Duration>,
    /// The wall-clock moment all offsets are measured from.
    pub t0: Option<std::time::SystemTime>,
}

impl BootTimeline {
    /// The stack is ready when its last service is.
    pub fn stack_ready(&self) -> Option<Duration> {
        self.services.values().map(|s| s.ready).collect::<Option<Vec<_>>>()?.into_iter().max()
    }

    /// The stack is healthy when the last service with a healthcheck is reported healthy.
    pub fn stack_healthy(&self) -> Option<Duration> {
        let checked: Vec<_> = self.services.values().filter(|s| s.health.is_some()).collect();
        checked.iter().map(|s| s.healthy).collect::<Option<Vec<_>>>()?.into_iter().max()
    }

    /// The causes that explain why this service's times are later than its readiness.
    pub fn causes(&self, service: &str) -> Vec<Cause> {
        let Some(s) = self.services.get(service) else { return Vec::new() };
        let mut out = Vec::new();
        if let (Some(started), Some(created)) = (s.started, s.created)
            && started.saturating_sub(created) > EXPLAIN_THRESHOLD
        {
            out.extend(self.blocking_dependency(s, started));
        }
        if let (Some(ready), Some(healthy), Some(health)) = (s.ready, s.healthy, s.health)
            && healthy.saturating_sub(ready) > EXPLAIN_THRESHOLD
        {
            // Docker's checks land at start + k*interval; the first after readiness
            // is at most one interval (plus the check's own run time) after it.
            let slack = EXPLAIN_THRESHOLD;
            if healthy.saturating_sub(ready) <= health.interval + slack {
                out.push(Cause::Interval { interval: health.interval, ready, healthy });
            } else {
                out.push(Cause::Unexplained { ready, healthy });
            }
        }
        out
    }

    /// The `service_healthy` dependency whose health report released this service's start.
    fn blocking_dependency(&self, s: &ServiceTimeline, started: Duration) -> Option<Cause> {
        s.depends_on
            .iter()
            .filter(|(_, cond)| cond == "service_healthy")
            .filter_map(|(dep, _)| {
                let d = self.services.get(dep)?;
                let healthy = d.healthy?;
                // Compose starts the dependent right after the report, so the two are close.
                (healthy <= started + EXPLAIN_THRESHOLD).then(|| Cause::DependsOn {
                    dependency: dep.clone(),
                    dependency_ready: d.ready,
                    dependency_healthy: healthy,
                    started,
                })
            })
            .max_by_key(|c| match c {
                Cause::DependsOn { dependency_healthy, .. } => *dependency_healthy,
                _ => Duration::ZERO,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn timing(interval_ms: u64) -> Option<HealthTiming> {
        Some(HealthTiming { interval: ms(interval_ms), timeout: ms(3000), start_period: Duration::ZERO, retries: 3 })
    }

    fn svc(name: &str, times: [u64; 4], interval_ms: Option<u64>, deps: &[&str]) -> ServiceTimeline {
        let [c, s, r, h] = times;
        ServiceTimeline {
            service: name.into(),
            created: Some(ms(c)),
            started: Some(ms(s)),
            ready: Some(ms(r)),
            healthy: interval_ms.map(|_| ms(h)),
            health: interval_ms.and_then(timing),
            depends_on: deps.iter().map(|d| ((*d).to_owned(), "service_healthy".to_owned())).collect(),
            probes: 1,
        }
    }

    fn boot(services: Vec<ServiceTimeline>) -> BootTimeline {
        BootTimeline {
            services: services.into_iter().map(|s| (s.service.clone(), s)).collect(),
            up_returned: None,
            t0: None,
        }
    }

    #[track_caller]
    fn check(b: &BootTimeline, service: &str, expected: &[&str]) {
        let got: Vec<String> = b.causes(service).iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), expected.len(), "{service}: {got:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(g.starts_with(e), "{service}: `{g}` should start with `{e}`");
        }
    }

    /// The measured case from environment.md: 30 s intervals, real readiness after ~5 s,
    /// the gateway held back by the depends_on chain until ~62 s.
    fn slow_interval_stack() -> BootTimeline {
        boot(vec![
            svc("postgres", [100, 300, 2_000, 30_300], Some(30_000), &[]),
            svc("redis", [100, 300, 800, 30_300], Some(30_000), &[]),
            svc("gateway", [100, 30_500, 31_200, 60_500], Some(30_000), &["postgres", "redis"]),
        ])
    }

    #[test]
    fn names_interval_for_a_late_health_report() {
        let b = slow_interval_stack();
        check(&b, "postgres", &["healthcheck interval 30.000s: ready at 2.000s"]);
        check(&b, "redis", &["healthcheck interval 30.000s"]);
    }

    #[test]
    fn names_depends_on_chain_and_interval_for_the_gateway() {
        let b = slow_interval_stack();
        check(
            &b,
            "gateway",
            &[
                "depends_on chain: started at 30.500s only after `redis` was reported healthy at 30.300s",
                "healthcheck interval",
            ],
        );
    }

    #[test]
    fn fast_intervals_need_no_explanation() {
        let b = boot(vec![
            svc("postgres", [100, 300, 1_500, 1_400], Some(1_000), &[]),
            svc("gateway", [100, 1_600, 1_900, 2_700], Some(1_000), &["postgres"]),
        ]);
        check(&b, "postgres", &[]);
        // Started 1.5 s after creation, waiting on postgres: still explained.
        check(&b, "gateway", &["depends_on chain"]);
        assert_eq!(b.stack_ready(), Some(ms(1_900)));
        assert_eq!(b.stack_healthy(), Some(ms(2_700)));
    }

    #[test]
    fn a_gap_beyond_the_interval_is_unexplained() {
        let b = boot(vec![svc("api", [0, 100, 1_000, 9_000], Some(1_000), &[])]);
        check(&b, "api", &["ready at 1.000s but healthy only at 9.000s"]);
    }

    #[test]
    fn services_without_healthcheck_count_as_done_when_ready() {
        let s = svc("worker", [0, 100, 100, 0], None, &[]);
        assert!(s.is_done());
        let b = boot(vec![s]);
        assert_eq!(b.stack_healthy(), None, "nothing has a healthcheck");
        assert_eq!(b.stack_ready(), Some(ms(100)));
        assert_eq!(b.services["worker"].ready_after_start(), Some(Duration::ZERO));
    }

    #[test]
    fn unknown_service_has_no_causes() {
        check(&slow_interval_stack(), "nope", &[]);
    }
}
