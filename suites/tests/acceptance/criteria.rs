//! Configuration and runtime criteria (hardening, users, healthchecks, secrets, images,
//! memory, published ports, shutdown, recovery) on the compliant reference stack and on
//! `compose/broken`, which violates each one on purpose. A check is only trusted once it
//! is seen failing here, with the exact criterion, subject and message.

use std::time::Duration;

use harness::judge::{self, Context, lifecycle, lint, runtime};
use rstest::rstest;

use crate::support::{
    boot_judged, check_fails, check_pass, failures, find, record_reference, shared_reference, workspace,
};

/// Every read-only criterion passes on the reference stack (all seeds' hardening and
/// budgets; see the README's criteria table). Read-only: it runs on the run's shared
/// reference stack.
#[tokio::test(flavor = "multi_thread")]
async fn reference_stack_passes_every_read_only_criterion() {
    let stack = shared_reference().await;
    let policy = judge::load_policy(&stack.dir, &stack.model.service_names()).expect("policy loads");
    let verdicts = judge::read_only(&Context { stack: &stack, policy: &policy }).await.expect("checks run");
    assert!(verdicts.len() > 80, "every service judged: {}", verdicts.len());
    record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(failures(&verdicts), Vec::<String>::new());
}

/// Per service, every runtime criterion (user, hardening, secrets, healthcheck, image size,
/// memory) passes on the reference stack. One case per service, all on the run's shared
/// reference stack, so a failure names its service in the test name.
#[rstest]
#[case::gateway("gateway")]
#[case::api("api")]
#[case::postgres("postgres")]
#[case::redis("redis")]
#[case::prometheus("prometheus")]
#[tokio::test(flavor = "multi_thread")]
async fn reference_service_passes_every_runtime_criterion(#[case] service: &str) {
    let stack = shared_reference().await;
    let policy = judge::load_policy(&stack.dir, &stack.model.service_names()).expect("policy loads");
    let verdicts = runtime::service(&Context { stack: &stack, policy: &policy }, service).await.expect("checks run");
    assert!(verdicts.len() >= 18, "{service}: every criterion judged: {}", verdicts.len());
    assert!(verdicts.iter().all(|v| v.subject == service), "verdicts are about {service}");
    record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(failures(&verdicts), Vec::<String>::new());
}

/// Makes `flaky` fail its own healthcheck after a healthy boot (it removes the file its
/// check tests for) and waits until Docker reports it unhealthy, so `healthcheck.passes`
/// is judged on a service whose health really went bad.
async fn degrade_flaky(stack: &harness::Stack) {
    let id = stack.container_id("flaky").await.expect("flaky runs");
    let rm: Vec<String> = ["/bin/busybox", "rm", "-f", "/tmp/well"].map(str::to_owned).to_vec();
    let done = harness::boot::readiness::run_once(stack.docker(), &id, &rm, Duration::from_secs(10)).await;
    assert!(done.passed(), "cannot degrade flaky: {}", done.summary());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = stack.docker().inspect_container(&id, None).await.expect("inspect flaky");
        let health = c.state.and_then(|s| s.health).and_then(|h| h.status).map(|h| h.to_string());
        if health.as_deref() == Some("unhealthy") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "flaky not unhealthy after 30 s: {health:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Each violation in compose/broken fails its own check, with the evidence a user needs.
#[tokio::test(flavor = "multi_thread")]
async fn broken_stack_fails_each_read_only_criterion_it_violates() {
    let (stack, policy) = boot_judged("compose/broken", "criteria-broken").await;
    degrade_flaky(&stack).await;
    let v = judge::read_only(&Context { stack: &stack, policy: &policy }).await.expect("checks run");
    check_fails(&v, "image.size", "gateway", "88.5MB against a budget of 50.0MB");
    check_fails(&v, "secrets.env", "api", "DATABASE_PASSWORD (literal value");
    check_fails(&v, "network.publish", "postgres", "0.0.0.0:");
    check_fails(&v, "hardening.read_only", "redis", "read_only false");
    check_fails(&v, "healthcheck.response", "prometheus", "ran `");
    check_fails(&v, "user.process", "admin", "uid 0: ");
    check_fails(&v, "user.image", "admin", "user 0:0");
    check_fails(&v, "hardening.privileged", "debug", "privileged true");
    check_fails(&v, "hardening.capabilities", "toolbox", "NET_ADMIN");
    check_fails(&v, "hardening.no_new_privileges", "legacy", "security_opt []");
    check_fails(&v, "hardening.pids_limit", "batch", "no limit");
    check_fails(&v, "hardening.memory_limit", "reports", "no limit");
    check_fails(&v, "hardening.restart", "migrate", "restart no");
    check_fails(&v, "healthcheck.defined", "sidecar", "no healthcheck");
    check_fails(&v, "hardening.docker_sock", "console", "docker.sock");
    check_fails(&v, "hardening.host_mounts", "inventory", "/etc");
    check_fails(&v, "hardening.namespaces", "cache-warmer", "ipc=host");
    check_fails(&v, "lint.fixed_addresses", "singleton", "container_name broken-singleton");
    check_pass(&v, "lint.fixed_addresses", "cache-warmer");
    check_fails(&v, "network.reach", "frontend", "postgres:5432");
    check_fails(&v, "network.egress", "data", "forwarded connect connected");
    // indexer's policy budget (2MB) is below what harness/app really uses.
    check_fails(&v, "resources.memory", "indexer", "engine stats: usage ");
    assert_eq!(find(&v, "resources.memory", "indexer").budget, "2.0MB");
    // flaky was healthy during the boot; degraded since, its check fails.
    check_fails(&v, "healthcheck.passes", "flaky", "docker inspect State.Health.Status unhealthy");
    check_fails(&v, "healthcheck.response", "flaky", "exit 1");
    // ledger-old answers to ledger's name: connected, to the wrong service. Reach allows both.
    check_fails(&v, "discovery.name", "ledger:8080 from data", "an alias or another service answers to that name");
    check_pass(&v, "discovery.name", "ledger-old:8080 from data");
    // The backup names a volume redis does not mount: judged without a destructive cycle,
    // so this stack can stay shared with the read-only checks above.
    let backup = judge::data::backup(&Context { stack: &stack, policy: &policy }).await.expect("backup check runs");
    check_fails(&backup, "backup.tar", "redis", "no volume `redisdata`");
    // The secret's value never reaches a verdict.
    // An unreadable or empty fixture would make this assertion vacuous: fail instead.
    let secret = std::fs::read_to_string(workspace("compose/broken/secrets/postgres_password"))
        .expect("compose/broken/secrets/postgres_password readable");
    let secret = secret.trim();
    assert!(!secret.is_empty(), "the broken stack's postgres password fixture is empty");
    assert!(!format!("{v:?}").contains(secret), "a secret value leaked into the verdicts");
}

/// Static lint decides the configuration criteria with no boot: the reference passes,
/// the broken stack fails (including log rotation, which this engine's daemon defaults
/// would otherwise supply at runtime).
#[tokio::test]
async fn lint_judges_both_stacks_without_booting() {
    let reference = lint::lint_stack(&workspace("compose/reference")).await.expect("lint reference").verdicts;
    assert_eq!(failures(&reference), Vec::<String>::new());
    let broken = lint::lint_stack(&workspace("compose/broken")).await.expect("lint broken").verdicts;
    check_fails(&broken, "hardening.log_rotation", "mailer", "max-size unset");
    check_fails(&broken, "user.image", "admin", "user 0:0");
    check_fails(&broken, "network.publish", "postgres", "0.0.0.0:ephemeral->5432");
    check_fails(&broken, "secrets.env", "api", "DATABASE_PASSWORD");
    check_fails(&broken, "lint.fixed_addresses", "singleton", "container_name broken-singleton");
    // Floating tags exist only in a stack that is never booted (no registry, no `latest`).
    let unpinned = lint::lint_stack(&workspace("suites/stacks/unpinned")).await.expect("lint unpinned").verdicts;
    check_fails(&unpinned, "lint.pinned_tags", "implied", "harness/probe");
    check_fails(&unpinned, "lint.pinned_tags", "explicit", "harness/app:latest");
    check_pass(&unpinned, "lint.pinned_tags", "pinned");
}

/// Graceful shutdown and crash recovery (seed ZViewer: automatic recovery) pass on the
/// reference stack. Destructive: a stack of its own.
#[tokio::test(flavor = "multi_thread")]
async fn reference_services_stop_gracefully_and_recover_from_sigkill() {
    let (stack, policy) = boot_judged("compose/reference", "criteria-lifecycle").await;
    let cx = Context { stack: &stack, policy: &policy };
    let mut judged = Vec::new();
    for service in ["api", "redis", "postgres"] {
        let v = lifecycle::shutdown(&cx, service).await.expect("shutdown check runs");
        judged.push(v.clone());
        assert!(v.passed(), "{}: {}", v.line(), v.evidence);
        let v = lifecycle::recovery(&cx, service).await.expect("recovery check runs");
        judged.push(v.clone());
        record_reference(&stack, &policy, &judged, None);
        assert!(v.passed(), "{}: {}", v.line(), v.evidence);
        if service != "api" {
            // postgres and redis have [[persistence]] entries: their data survives the crash.
            assert!(
                v.evidence.contains("data written before the crash: ") && v.evidence.contains("identical"),
                "{}",
                v.evidence
            );
        }
    }
}

/// A service that ignores SIGTERM is killed at the end of its grace period, and a service
/// with `restart: "no"` never comes back after a crash.
#[tokio::test(flavor = "multi_thread")]
async fn broken_services_ignore_sigterm_and_do_not_recover() {
    let (stack, mut policy) = boot_judged("compose/broken", "criteria-broken-lifecycle").await;
    // Keep the failing recovery short: it waits budget + 10 s before giving up.
    if let Some(s) = policy.services.get_mut("migrate") {
        s.recovery = Duration::from_secs(5);
    }
    let cx = Context { stack: &stack, policy: &policy };
    let v = lifecycle::shutdown(&cx, "worker").await.expect("shutdown check runs");
    check_fails(&[v], "shutdown.graceful", "worker", "exit 137");
    let v = lifecycle::recovery(&cx, "migrate").await.expect("recovery check runs");
    check_fails(&[v], "recovery.restart", "migrate", "restart policy `no`");
}
