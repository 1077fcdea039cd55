//! The integration-test harness for containerized stacks.
//!
//! The harness boots, waits, measures and tears down; checks judge; suites and the CLI
//! are two thin front-ends over the same library. See `ARCHITECTURE.md` for the map.
//!
//! # The front door
//!
//! A test boots its compose stack with [`Compose`], judges criteria on the
//! [`RunningStack`] and asserts that they passed. Every test gets a
//! project of its own, every wait has a deadline, and the stack is removed when it goes out
//! of scope (or kept after a failure with `HARNESS_KEEP_ON_FAILURE=1`). Under nextest the
//! verdicts are also recorded as evidence in your project's `target/acceptance/`, which
//! `harness report` turns into a sign-off report.
//!
//! ```no_run
//! use harness::Criterion;
//!
//! #[tokio::test]
//! async fn the_stack_is_fit_to_ship() -> harness::Result<()> {
//!     let stack = harness::Compose::new("deploy/compose").start().await?;
//!     stack.judge(Criterion::StartupStack).await?.assert_pass();
//!     let api = stack.url("api", 8080).await?;
//!     assert!(stack.exec("api", &["/app", "healthcheck"]).await?.success(), "{api} is not healthy");
//!     stack.judge_all().await?.assert_pass();
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

// The layers, each using only those below it: front → report → judge → boot → engine, and
// judge → policy. `errors`, `units`, `progress` and `workspace` serve every layer.
pub mod boot;
pub mod engine;
pub mod errors;
pub mod faults;
pub mod front;
pub mod judge;
pub mod load;
pub mod policy;
pub mod progress;
pub mod report;
pub mod turns;
pub mod units;
pub mod workspace;

pub use boot::stack::{Stack, StackConfig};
pub use errors::{Error, Result};
pub use front::{Compose, Judgement, RunningStack};
pub use judge::criteria::Criterion;
pub use judge::verdict::{Outcome, Verdict};
