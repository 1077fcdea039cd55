//! The `harness` command's parts that are more than argument plumbing: the progress board,
//! the prerequisites check, report screenshots and the benchmarks. `main.rs` holds the
//! commands; everything that boots, waits or judges is the `harness` library.

pub mod bench;
pub mod board;
pub mod doctor;
pub mod relay;
pub mod screenshot;
