//! The integration-test harness for containerized stacks.
//!
//! The harness boots, waits, measures and tears down; checks judge; suites and the CLI
//! are two thin front-ends over the same library. See `ARCHITECTURE.md` for the map.

pub mod bench;
pub mod checks;
pub mod compose;
pub mod criteria;
pub mod doctor;
pub mod engine;
pub mod errors;
pub(crate) mod helper;
pub mod images;
pub mod labels;
pub mod policy;
pub mod progress;
pub mod provision;
pub mod readiness;
pub mod report;
pub mod screenshot;
pub mod shared;
pub mod single;
pub mod stack;
pub mod startup;
pub mod teardown;
pub mod timeline;
pub mod units;
pub mod verdict;
pub mod workspace;

pub use errors::{Error, Result};
pub use stack::{Stack, StackConfig};
