//! Checks: each judges one criterion family on a booted stack (or, for `lint`, on the
//! resolved compose model and image config alone) and returns verdicts with evidence.
//!
//! Checks never boot or tear down; they read what the harness booted. Destructive checks
//! (restart, backup, kill) are given a stack of their own by their callers.

pub mod config;
pub mod data;
pub mod facts;
pub mod http;
pub mod lifecycle;
pub mod lint;
pub mod network;
pub mod runtime;

use std::collections::BTreeMap;
use std::path::Path;

use testcontainers::bollard::Docker;

use crate::errors::Result;
use crate::policy::{self, Policy};
use crate::stack::Stack;
use crate::startup;
use crate::verdict::Verdict;

/// The policy beside a stack's compose file, or the harness defaults when there is none.
pub fn load_policy(dir: &Path, services: &[&str]) -> Result<Policy> {
    let path = dir.join("acceptance.toml");
    if path.is_file() {
        return Ok(policy::load(&path, services)?);
    }
    Ok(Policy {
        path,
        defaults: policy::Settings::default(),
        services: services.iter().map(|s| ((*s).to_owned(), policy::Settings::default())).collect(),
        networks: BTreeMap::new(),
        persistence: Vec::new(),
        backups: Vec::new(),
        gateway: None,
        routes: Vec::new(),
        observability: policy::Observability::default(),
    })
}

/// Every read-only check on a booted stack: startup (from the boot's timeline), the
/// runtime configuration checks, then the network matrix (one probe per network serves
/// both isolation and name discovery), gateway routes and observability. Destructive
/// checks are not here: they need a stack of their own.
pub async fn read_only(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let mut out = startup::judge(&cx.stack.timeline, cx.policy.defaults.startup);
    out.extend(runtime::all(cx).await?);
    let matrix = network::probe(cx).await?;
    out.extend(network::judge(&matrix, cx.policy));
    out.extend(http::discovery_verdicts(&matrix, cx.policy));
    out.extend(http::routes(cx).await?);
    out.extend(http::observability(cx).await?);
    Ok(out)
}

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
