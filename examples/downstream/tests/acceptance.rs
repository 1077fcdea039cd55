//! Acceptance tests of this project's stack (`deploy/compose`), through the harness's
//! front door only: boot, judge, assert. Each test boots a stack of its own (a unique
//! compose project) that is removed when the test ends; set `HARNESS_KEEP_ON_FAILURE=1`
//! to keep a failed test's stack for a look.

use harness::{Compose, Criterion, Outcome};

/// The stack boots within its startup budget and passes every read-only criterion of its
/// acceptance.toml: non-root users, hardening, healthchecks, no secrets in env, image sizes,
/// memory, and network isolation as the policy draws it.
#[tokio::test]
async fn stack_boots_in_budget_and_passes_the_read_only_catalogue() -> harness::Result<()> {
    let stack = Compose::new("deploy/compose").start().await?;

    let startup = stack.judge(Criterion::StartupStack).await?;
    startup.assert_pass();
    let whole = startup.get(Criterion::StartupStack, "stack").expect("the stack-wide startup verdict");
    assert_eq!(whole.outcome, Outcome::Pass, "{}", whole.line());

    stack.judge_read_only().await?.assert_pass();
    Ok(())
}

/// The api is published on a loopback port, answers its own healthcheck, and reaches its
/// cache: checked from inside the containers, so the test needs no HTTP client.
#[tokio::test]
async fn api_is_published_and_its_cache_answers() -> harness::Result<()> {
    let stack = Compose::new("deploy/compose").start().await?;

    let url = stack.url("api", 8080).await?;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let unpublished = stack.url("redis", 6379).await.expect_err("redis publishes nothing");
    assert!(unpublished.to_string().contains("127.0.0.1::6379"), "{unpublished}");

    let health = stack.exec("api", &["/app", "healthcheck"]).await?;
    assert!(health.success(), "api healthcheck: exit {}: {}", health.exit_code, health.output);

    // The password file is what the service itself reads; the test never sees the value.
    let ping = stack
        .exec("redis", &["sh", "-c", "REDISCLI_AUTH=\"$(head -n 1 /run/secrets/redis_password)\" redis-cli --no-auth-warning ping"])
        .await?;
    assert_eq!(ping.output.trim(), "PONG", "exit {}", ping.exit_code);

    let logs = stack.logs("api").await?;
    assert!(!logs.contains("panicked"), "{logs}");
    Ok(())
}
