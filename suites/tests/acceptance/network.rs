//! Networks and routing: each network reaches exactly the service ports the policy allows,
//! internal networks have no way out, services find each other by name, the gateway
//! routes to its upstream and Prometheus sees its targets (seeds RedFire 001 and ZViewer
//! 004: "networks correctly isolated", "gateway routing works").
//!
//! Every test boots its own stack, judges it with the reference's expectations, and then
//! judges the same evidence against a violation, so each check is shown both passing and
//! failing on real traffic.

use std::path::Path;

use harness::boot::stack::{Stack, StackConfig};
use harness::judge::network::{self, Matrix, Purpose};
use harness::judge::verdict::Verdict;
use harness::judge::{Context, http};
use harness::policy::{self, Policy};

use crate::support::{self, check_fails, check_pass, find, print, record_reference, shared_reference, workspace};

const SERVICES: [&str; 5] = ["gateway", "api", "postgres", "redis", "prometheus"];

/// The reference stack's own expectations, read from compose/reference/acceptance.toml so
/// the tests judge by what users read, not by a copy that could drift.
fn reference_policy() -> Policy {
    let path = workspace("compose/reference/acceptance.toml");
    policy::load(&path, &SERVICES).unwrap_or_else(|e| panic!("reference policy: {e}"))
}

fn policy_from(text: &str) -> Policy {
    policy::parse(text, Path::new("acceptance.toml"), &SERVICES).unwrap_or_else(|e| panic!("test policy: {e}"))
}

/// The reference policy with one `[networks.X]` reach list replaced.
fn with_reach(network: &str, reach: &str) -> Policy {
    let mut p = reference_policy();
    let replaced = policy_from(&format!("[networks.{network}]\nreach = {reach}\n"));
    p.networks.insert(network.to_owned(), replaced.networks[network].clone());
    p
}

async fn boot(name: &str, overrides: &[&Path]) -> Stack {
    let mut cfg = StackConfig::new(workspace("compose/reference")).with_name(name);
    for o in overrides {
        cfg = cfg.with_override(*o);
    }
    support::boot(cfg).await
}

fn print_times(matrix: &Matrix) {
    for n in &matrix.networks {
        eprintln!("probe {}: {} targets in {:.3}s", n.info.key, n.planned.len(), n.took.as_secs_f64());
    }
}

/// Criterion: networks correctly isolated (RedFire 001, ZViewer 004). On the reference,
/// each network reaches exactly its policy's targets, by address and by name, and the
/// internal networks cannot forward traffic out while frontend can (the control that
/// shows the egress check can fail). A policy that allows fewer pairs fails, naming the pair.
#[tokio::test(flavor = "multi_thread")]
async fn reference_networks_reach_exactly_what_the_policy_allows() {
    // Read-only: the run's shared reference stack.
    let stack = shared_reference().await;
    let policy = reference_policy();
    let cx = Context { stack: &stack, policy: &policy };

    let verdicts = network::isolation(&cx).await.expect("isolation judged");
    print(&verdicts);
    for net in ["frontend", "backend", "data"] {
        check_pass(&verdicts, "network.reach", net);
    }
    for net in ["backend", "data"] {
        check_pass(&verdicts, "network.egress", net);
        let v = find(&verdicts, "network.egress", net);
        assert!(v.evidence.contains("Internal: true"), "{}", v.evidence);
        assert!(v.evidence.contains("control from frontend (Internal: false)"), "{}", v.evidence);
        assert_eq!(v.measured, "forwarded connect timeout", "{}", v.evidence);
    }
    assert!(!verdicts.iter().any(|v| v.criterion.id() == "network.egress" && v.subject == "frontend"));

    let matrix = network::probe(&cx).await.expect("networks probed");
    print_times(&matrix);
    for n in &matrix.networks {
        assert!(n.took.as_secs_f64() < 10.0, "one probe container per network stays cheap: {:?}", n.took);
    }
    let discovery = http::discovery_verdicts(&matrix, &policy);
    print(&discovery);
    let judged: Vec<Verdict> = verdicts.iter().chain(&discovery).cloned().collect();
    record_reference(&stack, &policy, &judged, Some(&matrix));
    assert_eq!(discovery.len(), 7);
    assert!(discovery.iter().all(|v| v.passed()), "every allowed pair resolves by name");

    // The check can fail: frontend is not internal, and the same forwarded target connects.
    let frontend = matrix.network("frontend").expect("frontend probed");
    let (_, seen, _) = frontend.observed(&Purpose::Forwarded).expect("frontend tried the forwarded target");
    assert!(seen.connected(), "a normal network forwards: {seen}");
    let v = network::egress_verdict(frontend, None, None);
    assert!(
        !v.passed() && v.hint.as_deref().is_some_and(|h| h.contains("set `internal: true` on network frontend")),
        "{v:?}"
    );

    // A policy that allows fewer pairs than the stack really has.
    let strict = with_reach("backend", r#"["gateway:8080", "api:8080"]"#);
    let judged = network::judge(&matrix, &strict);
    check_fails(
        &judged,
        "network.reach",
        "backend",
        "api and gateway can reach prometheus:9090 from network backend, the policy does not allow it",
    );
    check_pass(&judged, "network.reach", "data");

    // A network the policy does not describe is not judged, and says how to describe it.
    let mut missing = reference_policy();
    missing.networks.remove("data");
    check_fails(&network::judge(&matrix, &missing), "network.reach", "data", "add [networks.data] to acceptance.toml");
}

/// Criterion: networks correctly isolated (RedFire 001, ZViewer 004). Putting postgres on
/// the backend network (a compose override) makes it reachable from the gateway's
/// network: the reach verdict fails and names who can reach it.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_on_the_backend_network_breaks_isolation() {
    let file = std::env::temp_dir().join(format!("harness-network-override-{}.yaml", std::process::id()));
    std::fs::write(&file, "services:\n  postgres:\n    networks: [data, backend]\n").expect("write override");
    let stack = boot("network-postgres-on-backend", &[&file]).await;
    let _ = std::fs::remove_file(&file);
    let policy = reference_policy();
    let cx = Context { stack: &stack, policy: &policy };

    let verdicts = network::isolation(&cx).await.expect("isolation judged");
    print(&verdicts);
    check_fails(
        &verdicts,
        "network.reach",
        "backend",
        "api, gateway and prometheus can reach postgres:5432 from network backend, the policy does not allow it",
    );
    let v = find(&verdicts, "network.reach", "backend");
    assert_eq!(v.measured, "reaches api:8080, gateway:8080, postgres:5432, prometheus:9090");
    assert_eq!(
        v.hint.as_deref(),
        Some("take postgres off network backend, or add \"postgres:5432\" to [networks.backend] reach if it is meant")
    );
    for net in ["frontend", "data"] {
        check_pass(&verdicts, "network.reach", net);
    }
}

/// Criterion: gateway routing works, and monitoring sees the app (RedFire 001, ZViewer
/// 004). The route answers 200 and the api's own request counter proves the request got
/// there; Prometheus reports the api up; both families are exposed. A missing path, a
/// target Prometheus does not scrape and a family that does not exist each fail.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_routes_and_prometheus_targets_pass_and_violations_fail() {
    let stack = boot("network-routes", &[]).await;
    let policy = reference_policy();
    let cx = Context { stack: &stack, policy: &policy };

    let routes = http::routes(&cx).await.expect("routes judged");
    let observed = http::observability(&cx).await.expect("observability judged");
    print(&routes);
    print(&observed);
    let judged: Vec<Verdict> = routes.iter().chain(&observed).cloned().collect();
    record_reference(&stack, &policy, &judged, None);
    check_pass(&routes, "gateway.route", "/api/v1/notes");
    let v = find(&routes, "gateway.route", "/api/v1/notes");
    assert!(
        v.evidence
            .contains(r#"api counted it: http_requests_total{method="GET",path="/api/v1/notes",status="200"} +1"#),
        "{}",
        v.evidence
    );
    check_pass(&observed, "observability.targets", "api");
    check_pass(&observed, "observability.families", "http_requests_total");
    check_pass(&observed, "observability.families", "http_request_duration_seconds");

    let publish = network::publish(&cx).await.expect("publish judged");
    for s in SERVICES {
        check_pass(&publish, "network.publish", s);
        check_pass(&publish, "network.bind", s);
    }
    assert_eq!(find(&publish, "network.publish", "gateway").cis(), Some("5.8"));
    assert_eq!(find(&publish, "network.bind", "gateway").cis(), Some("5.14"));

    let mut violating = reference_policy();
    violating.routes[0].path = "/api/v1/missing".into();
    violating.observability.targets.push("redis".into());
    violating.observability.families = vec!["http_requests_total".into(), "no_such_family_total".into()];
    if let Some(gateway) = violating.services.get_mut("gateway") {
        gateway.publish = false;
    }
    let cx = Context { stack: &stack, policy: &violating };
    let routes = http::routes(&cx).await.expect("routes judged");
    let observed = http::observability(&cx).await.expect("observability judged");
    let publish = network::publish(&cx).await.expect("publish judged");
    print(&routes);
    print(&observed);
    check_fails(&routes, "gateway.route", "/api/v1/missing", "the gateway answered 404 where 200 was expected");
    assert_eq!(find(&routes, "gateway.route", "/api/v1/missing").measured, "404");
    check_pass(&observed, "observability.targets", "api");
    check_fails(
        &observed,
        "observability.targets",
        "redis",
        "no target for redis; active targets: http://api:8080/metrics",
    );
    check_pass(&observed, "observability.families", "http_requests_total");
    check_fails(
        &observed,
        "observability.families",
        "no_such_family_total",
        "the service does not expose no_such_family_total",
    );
    check_fails(&publish, "network.publish", "gateway", "this service must not publish host ports");
}
