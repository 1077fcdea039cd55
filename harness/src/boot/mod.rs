//! The boot layer: prepare and start a stack (its isolation override included), wait on
//! real readiness with one closed wait type, record the timeline, share a booted stack
//! between tests, and run single containers through testcontainers. It records and never
//! judges; it uses only the engine layer below it.

pub mod readiness;
pub mod shared;
#[cfg(feature = "single")]
pub mod single;
pub mod stack;
pub mod swarm;
pub mod timeline;
