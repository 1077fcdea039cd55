//! Bad input: each mistake gets one clear error naming the thing and a hint, and leaves
//! nothing behind.

use std::time::Duration;

use harness::boot::stack::{Stack, StackConfig};

use crate::support::{boot, leftovers, test_stack};

async fn boot_err(cfg: StackConfig) -> String {
    Stack::boot(cfg).await.expect_err("boot must fail").to_string()
}

#[track_caller]
fn check(message: &str, fragments: &[&str]) {
    for f in fragments {
        assert!(message.contains(f), "`{message}` should contain `{f}`");
    }
    assert!(!message.contains('\n'), "one line: {message}");
}

#[tokio::test]
async fn a_missing_compose_file_names_the_directory_and_what_was_looked_for() {
    let dir = test_stack("does-not-exist");
    let err = boot_err(StackConfig::new(&dir).with_name("bad-missing")).await;
    check(&err, &["no compose file in", "does-not-exist", "compose.yaml", "hint:"]);
}

#[tokio::test]
async fn invalid_yaml_names_the_file_line_and_column() {
    let err = boot_err(StackConfig::new(test_stack("invalid-yaml")).with_name("bad-yaml")).await;
    check(&err, &["invalid-yaml/compose.yaml is not valid YAML at line", "column"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_named_in_code_but_not_in_the_file_lists_the_real_ones() {
    let stack = boot(StackConfig::new(test_stack("tiny")).with_name("bad-service")).await;
    let err = stack.container_id("database").await.expect_err("unknown service").to_string();
    check(&err, &["service `database` is not in stack", "services there: idle"]);
    let err = stack.host_port("database", 5432).await.expect_err("unknown service").to_string();
    check(&err, &["service `database`"]);
}

#[tokio::test]
async fn an_unreachable_engine_says_how_to_start_it() {
    let err = harness::engine::connect_at("unix:///nonexistent/docker.sock").await.expect_err("no engine").to_string();
    check(&err, &["cannot reach the docker engine", "/nonexistent/docker.sock", "hint: start the daemon"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_without_recipe_fails_before_anything_is_created() {
    let cfg = StackConfig::new(test_stack("missing-image")).with_name("bad-image");
    let err = boot_err(cfg).await;
    // No registry answers here: the default `--pull missing` tries, and the error says what to do.
    check(
        &err,
        &[
            "image harness/no-such-image:0 for service `ghost`",
            "pulling it failed",
            "hint: `docker pull",
            "docker load",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthcheck_that_never_passes_times_out_naming_service_state_and_health_log() {
    let cfg = StackConfig::new(test_stack("never-healthy"))
        .with_name("bad-never-healthy")
        // Long enough for Docker to log a few failing checks (1 s interval).
        .with_boot_timeout(Duration::from_secs(8));
    let prepared = Stack::prepare(&cfg).await.expect("prepares");
    let project = prepared.project.project.clone();
    let err = prepared.start(&cfg).await.expect_err("never healthy").to_string();
    check(
        &err,
        &[
            "service `stuck`",
            "was not healthy within 8s",
            "last state: running",
            "last health log: exit 1",
            "last probe: exit 1",
        ],
    );
    assert_eq!(
        leftovers(&project).await,
        harness::engine::teardown::Removed::default(),
        "nothing left after the failed boot"
    );
}
