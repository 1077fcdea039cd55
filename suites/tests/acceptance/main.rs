//! The acceptance suites: one integration-test binary, one module per area.
//!
//! Every test that boots a stack gives it a unique project name (run id plus test name),
//! so tests run in parallel and next to other runs on the same engine. Nothing here
//! cleans up in the test body: the harness's guard does, and `teardown` proves it.

mod bad_input;
mod criteria;
mod network;
mod persistence;
mod seeds;
mod single;
mod startup;
mod teardown;

use std::path::PathBuf;

use harness::checks::network::Matrix;
use harness::policy::Policy;
use harness::report::StackReport;
use harness::teardown::Removed;
use harness::verdict::Verdict;

/// A path under the workspace root.
pub fn workspace(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A test stack under `suites/stacks/`.
pub fn test_stack(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stacks").join(name)
}

/// The reference stack shared by the read-only tests of this nextest run (one boot for
/// all of them, owned by a holder process; a private boot outside nextest).
pub async fn shared_reference() -> harness::shared::SharedStack {
    harness::shared::acquire(harness::StackConfig::new(workspace("compose/reference")).with_name("shared-reference"))
        .await
        .expect("shared reference stack")
}

/// What the engine still holds for a compose project.
pub async fn leftovers(project: &str) -> Removed {
    let docker = harness::engine::connect().await.expect("engine reachable");
    harness::teardown::count_labelled(&docker, &format!("com.docker.compose.project={project}"))
        .await
        .expect("count resources")
}

/// Writes a test's verdicts on the reference stack as evidence for `harness report` (under
/// nextest only; a plain `cargo test` writes nothing). Only stacks meant to ship record:
/// the broken stack's failures prove the checks, they are not findings about a release.
pub fn record_reference(stack: &harness::Stack, policy: &Policy, verdicts: &[Verdict], matrix: Option<&Matrix>) {
    let test = harness::report::current_test();
    let mut section = StackReport::new("compose/reference", verdicts.to_vec(), Some(&test)).with_stack(stack, policy);
    if let Some(m) = matrix {
        section.isolation = harness::report::grid(m, policy);
    }
    harness::report::record(section).expect("evidence written");
}
