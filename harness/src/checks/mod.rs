//! Checks: each judges one criterion family on a booted stack (or, for `lint`, on the
//! resolved compose model and image config alone) and returns verdicts with evidence.
//!
//! Checks never boot or tear down; they read what the harness booted. Destructive checks
//! (restart, backup, kill) are given a stack of their own by their callers.

pub mod config;
pub mod facts;
pub mod lifecycle;
pub mod lint;
pub mod runtime;

use testcontainers::bollard::Docker;

use crate::policy::Policy;
use crate::stack::Stack;

/// What a check needs: the booted stack and the policy to judge it by.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub stack: &'a Stack,
    pub policy: &'a Policy,
}

impl Context<'_> {
    pub fn docker(&self) -> &Docker {
        self.stack.docker()
    }
}
