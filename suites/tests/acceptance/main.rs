//! The acceptance suites: one integration-test binary, one module per area.
//!
//! Every test that boots a stack gives it a unique project name (run id plus test name),
//! so tests run in parallel and next to other runs on the same engine. Nothing here
//! cleans up in the test body: the harness's guard does, and `teardown` proves it.

mod availability;
mod bad_input;
mod corpus;
mod criteria;
mod network;
mod persistence;
mod pins;
mod seeds;
mod single;
mod startup;
mod support;
mod teardown;
