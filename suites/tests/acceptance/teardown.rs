//! Teardown: nothing the harness creates outlives it, whether the test ends normally,
//! panics, is stopped with SIGTERM (nextest's timeout) or is killed with SIGKILL (then the
//! next run's reaper removes it).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harness::boot::stack::StackConfig;
use harness::engine::teardown::Removed;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{NOTHING, boot, leftovers, test_stack, wait_exit};

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_stack_removes_containers_networks_and_volumes() {
    let stack = boot(StackConfig::new(test_stack("tiny")).with_name("teardown-drop")).await;
    let project = stack.project_name().to_owned();
    let before = leftovers(&project).await;
    assert_eq!(
        before,
        Removed { containers: 1, networks: 1, volumes: 1, ..Removed::default() },
        "the stack is really up"
    );
    drop(stack);
    assert_eq!(leftovers(&project).await, NOTHING);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_test_still_removes_its_stack() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let stack = boot(StackConfig::new(test_stack("tiny")).with_name("teardown-panic")).await;
        let _ = tx.send(stack.project_name().to_owned());
        panic!("test body fails while holding the stack");
    });
    let project = rx.await.expect("stack booted before the panic");
    assert!(task.await.expect_err("the task panicked").is_panic());
    assert_eq!(leftovers(&project).await, NOTHING);
}

/// Starts `hold-stack` on the tiny stack and waits for its `READY <project>` line.
fn hold_stack(name: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hold-stack"))
        .arg(test_stack("tiny"))
        .arg(name)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hold-stack");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read READY line");
    let project =
        line.trim().strip_prefix("READY ").unwrap_or_else(|| panic!("unexpected output: {line:?}")).to_owned();
    (child, project)
}

fn signal(child: &Child, sig: Signal) {
    let pid = i32::try_from(child.id()).expect("pid fits");
    kill(Pid::from_raw(pid), sig).expect("send signal");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_removes_the_stack_before_exiting() {
    let (mut child, project) = hold_stack("teardown-sigterm");
    assert_eq!(leftovers(&project).await.containers, 1);
    assert_eq!(harness::engine::teardown::workdirs_of(child.id()).len(), 1, "the held stack has its work directory");
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(128 + 15), "exit code says which signal");
    assert_eq!(leftovers(&project).await, NOTHING);
    // The exit after a signal runs no destructor: the handler removes it (found by bench soak).
    assert_eq!(harness::engine::teardown::workdirs_of(child.id()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_removes_the_stack_before_exiting() {
    let (mut child, project) = hold_stack("teardown-sigint");
    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child).code(), Some(128 + 2));
    assert_eq!(leftovers(&project).await, NOTHING);
    assert_eq!(harness::engine::teardown::workdirs_of(child.id()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sigkill_the_next_run_reaps_what_was_left() {
    let (mut child, project) = hold_stack("teardown-sigkill");
    signal(&child, Signal::SIGKILL);
    wait_exit(&mut child);
    // SIGKILL runs no handler: everything is still there...
    assert_eq!(leftovers(&project).await, Removed { containers: 1, networks: 1, volumes: 1, ..Removed::default() });
    // ...until a reaper (run at the start of every harness run) finds the dead owner.
    let docker = harness::engine::connect().await.expect("engine");
    let report = harness::engine::teardown::reap(&docker).await.expect("reap");
    assert!(report.owners.contains(&child.id()), "reaped owners {:?} include {}", report.owners, child.id());
    assert_eq!(leftovers(&project).await, NOTHING);
}

/// Read-only tests share one stack per nextest run: two acquisitions attach to the same
/// container, which a holder process (not this test) booted and owns; once no lease is left
/// the holder removes it all. Sharing exists only under nextest, so outside it this test
/// fails with the reason instead of passing on two private stacks.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_stack_is_booted_once_and_removed_when_idle() {
    assert!(
        std::env::var_os("NEXTEST_RUN_ID").is_some(),
        "sharing is per nextest run (NEXTEST_RUN_ID): run this test with `cargo nextest run`"
    );
    let cfg = || StackConfig::new(test_stack("tiny")).with_name("shared-teardown-test");
    let first = harness::boot::shared::acquire(cfg()).await.expect("first acquire");
    let second = harness::boot::shared::acquire(cfg()).await.expect("second acquire");
    let project = first.project_name().to_owned();
    // The same container, not two stacks that happen to share a project name.
    let id = first.container_id("idle").await.expect("first sees idle");
    assert_eq!(second.container_id("idle").await.expect("second sees idle"), id, "one container for both");
    assert_eq!(leftovers(&project).await.containers, 1);
    // Booted and owned by the holder process: this test's own pid owns nothing.
    let docker = harness::engine::connect().await.expect("engine");
    let inspect = docker.inspect_container(&id, None).await.expect("inspect idle");
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    let owner = labels.get(harness::engine::labels::OWNER_PID).expect("owner label");
    assert_ne!(owner, &std::process::id().to_string(), "a holder owns the shared stack, not the test");
    drop(first);
    drop(second);
    // The holder waits IDLE after the last lease, then removes everything.
    let deadline = std::time::Instant::now() + harness::boot::shared::IDLE + Duration::from_secs(20);
    while leftovers(&project).await != NOTHING {
        assert!(std::time::Instant::now() < deadline, "the holder did not remove {project}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
