//! `availability.steady`: the policy's steady load through the gateway's published port on
//! 127.0.0.1, on the reference stack (passes) and on `suites/stacks/shedding`, whose gateway
//! rate-limits its route far below the promised load (fails, with the 503s in the evidence).

use harness::judge::{self, Context, http};

use crate::support::{boot_judged, check_fails, check_pass, find, shared_reference};

/// 004 ZViewer's 服务可用性 > 99.9%: 250 requests through nginx to the api and PostgreSQL,
/// every one answered. Read-only: on the run's shared reference stack.
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_gateway_answers_every_request_under_steady_load() {
    let stack = shared_reference().await;
    let policy = judge::load_policy(&stack.dir, &stack.model.service_names()).expect("policy loads");
    let v = http::availability(&Context { stack: &stack, policy: &policy }).await.expect("load runs");
    check_pass(&v, "availability.steady", "gateway");
    let evidence = &find(&v, "availability.steady", "gateway").evidence;
    assert!(evidence.contains("/api/v1/notes") && evidence.contains("100.00% ok"), "{evidence}");
    // The generator sent about what the plan says (50 req/s for 5 s), no more.
    let sent: u64 = evidence.split(" requests").next().and_then(|s| s.rsplit(' ').next()?.parse().ok()).unwrap_or(0);
    assert!((200..=260).contains(&sent), "{sent} requests: {evidence}");
}

/// A gateway that sheds load below the promise fails, naming what the users got.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_sheds_load_fails_steady_availability() {
    let (stack, policy) = boot_judged("suites/stacks/shedding", "availability-shedding").await;
    let v = http::availability(&Context { stack: &stack, policy: &policy }).await.expect("load runs");
    check_fails(&v, "availability.steady", "gateway", "503 x");
    let failed = find(&v, "availability.steady", "gateway");
    assert!(failed.hint.as_deref().is_some_and(|h| h.contains("sheds load")), "{failed:?}");
    assert!(failed.evidence.contains("longest error burst"), "{}", failed.evidence);
}
