//! What every area module shares, stated once: where the stacks are, booting one, finding
//! and asserting verdicts, recording evidence, and waiting for a child process. An area
//! module holds its tests and what only it needs.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use harness::boot::stack::{Stack, StackConfig};
use harness::engine::teardown::Removed;
use harness::judge::verdict::Verdict;
use harness::judge::{self, criteria, network::Matrix};
use harness::policy::Policy;
use harness::report::StackReport;

/// What the engine holds for a project whose stack is gone.
pub const NOTHING: Removed = Removed { containers: 0, networks: 0, volumes: 0, services: 0, swarm_objects: 0 };

/// A path under the workspace root.
pub fn workspace(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A test stack under `suites/stacks/`.
pub fn test_stack(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stacks").join(name)
}

/// Boots a stack (a private one: its own project, removed by its guard), panicking with the
/// harness's error, which names the service and its last state.
pub async fn boot(cfg: StackConfig) -> Stack {
    let dir = cfg.stack.display().to_string();
    Stack::boot(cfg).await.unwrap_or_else(|e| panic!("{dir} boots: {e}"))
}

/// Boots the stack at `rel` (workspace-relative) as project `name`, with the policy it is
/// judged by (its own `acceptance.toml`).
pub async fn boot_judged(rel: &str, name: &str) -> (Stack, Policy) {
    let stack = boot(StackConfig::new(workspace(rel)).with_name(name)).await;
    let policy = judge::load_policy(&stack.dir, &stack.model.service_names())
        .unwrap_or_else(|e| panic!("{rel}: policy loads: {e}"));
    (stack, policy)
}

/// The reference stack shared by the read-only tests of this nextest run (one boot for
/// all of them, owned by a holder process; a private boot outside nextest).
pub async fn shared_reference() -> harness::boot::shared::SharedStack {
    harness::boot::shared::acquire(StackConfig::new(workspace("compose/reference")).with_name("shared-reference"))
        .await
        .expect("shared reference stack")
}

/// What the engine still holds for a compose project.
pub async fn leftovers(project: &str) -> Removed {
    let docker = harness::engine::connect().await.expect("engine reachable");
    harness::engine::teardown::count_labelled(&docker, &format!("com.docker.compose.project={project}"))
        .await
        .expect("count resources")
}

/// What the engine still holds for a Swarm stack: its services, task containers, networks,
/// volumes, secrets and configs.
pub async fn swarm_leftovers(stack: &str) -> Removed {
    let docker = harness::engine::connect().await.expect("engine reachable");
    harness::engine::teardown::count_labelled(&docker, &format!("{}={stack}", harness::engine::swarm::STACK_NAMESPACE))
        .await
        .expect("count resources")
}

/// Writes a test's verdicts on the reference stack as evidence for `harness report` (under
/// nextest only; a plain `cargo test` writes nothing). Only stacks meant to ship record:
/// the broken stack's failures prove the checks, they are not findings about a release.
pub fn record_reference(stack: &Stack, policy: &Policy, verdicts: &[Verdict], matrix: Option<&Matrix>) {
    let test = harness::report::current_test();
    let mut section =
        StackReport::new("compose/reference", verdicts.to_vec(), Some(&test)).with_run(&stack.record(), policy);
    if let Some(m) = matrix {
        section.isolation = harness::report::grid(m, policy);
    }
    harness::report::record(section).expect("evidence written");
}

/// The one verdict for `criterion` on `subject`; a miss lists every verdict there is.
#[track_caller]
pub fn find<'v>(verdicts: &'v [Verdict], criterion: &str, subject: &str) -> &'v Verdict {
    assert!(criteria::find(criterion).is_some(), "`{criterion}` is not a criterion id");
    verdicts.iter().find(|v| v.criterion.id() == criterion && v.subject == subject).unwrap_or_else(|| {
        let all: Vec<String> = verdicts.iter().map(Verdict::line).collect();
        panic!("no {criterion} verdict for {subject}; got:\n{}", all.join("\n"))
    })
}

/// Asserts that `criterion` passed on `subject`.
#[track_caller]
pub fn check_pass(verdicts: &[Verdict], criterion: &str, subject: &str) {
    let v = find(verdicts, criterion, subject);
    assert!(v.passed(), "should pass: {}\n  {}\n  hint: {:?}", v.line(), v.evidence, v.hint);
}

/// Asserts that `criterion` failed on `subject` (judged and failed: not skipped, not
/// waived), with `fragment` in its measured value, evidence or hint, and that the failure
/// carries a fix hint.
#[track_caller]
pub fn check_fails(verdicts: &[Verdict], criterion: &str, subject: &str, fragment: &str) {
    let v = find(verdicts, criterion, subject);
    assert!(v.failed(), "should fail: {} ({})\n  {}", v.line(), v.outcome.word(), v.evidence);
    let text = format!("{} | {} | {}", v.measured, v.evidence, v.hint.clone().unwrap_or_default());
    assert!(text.contains(fragment), "`{fragment}` missing from {}:\n  {text}", v.line());
    assert!(v.hint.is_some(), "{}: a failure carries a hint", v.line());
}

/// The verdicts that did not pass, one line each, for an `assert_eq!` against none.
pub fn failures(verdicts: &[Verdict]) -> Vec<String> {
    verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| format!("{} {}: {} | {}", v.criterion, v.subject, v.measured, v.evidence))
        .collect()
}

/// Prints each verdict with its evidence (shown by nextest for a failing test).
pub fn print(verdicts: &[Verdict]) {
    for v in verdicts {
        eprintln!("{}\n    {}", v.line(), v.evidence);
    }
}

/// Waits up to 30 s for a child process to exit; kills it and fails the test after that.
#[track_caller]
pub fn wait_exit(child: &mut Child) -> ExitStatus {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("child did not exit within 30 s");
}
