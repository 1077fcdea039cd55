//! The five seed systems (compose/seeds/, one stack per compose file the documents give, and
//! each one's `fixed/` variant): every criterion's verdict is pinned in suites/expect/, so a
//! harness change that flips one is caught here, with the evidence.
//!
//! A criterion counts as failed on a stack when any of its subjects fails. Three depths:
//! - `lint`: the static verdicts (`harness lint`), no boot; every profile;
//! - `boot`: one boot per stack and the read-only catalogue; every profile;
//! - `full`: the whole catalogue (shutdown, recovery, persistence, backup) on its own boot;
//!   the nightly profile only (the seeds' 30 s healthcheck intervals make it slow).
//!
//! Pins are per criterion × subject, so a service cannot hide behind another that fails the
//! same criterion. `HARNESS_BLESS=1` writes what was found into the expectation file instead
//! of asserting (then review the diff: each flip is a change in what the harness says about
//! a seed).

use std::path::PathBuf;

use harness::judge::criteria::{self, Selection, Step};
use harness::judge::verdict::{Outcome, Verdict};
use harness::judge::{self, Context};

use crate::pins;
use crate::support::{boot_judged, workspace};

/// Where a stack's pinned verdicts live: suites/expect/<stack>.<depth>.toml.
fn expect_file(stack: &str, depth: &str) -> PathBuf {
    let slug = stack.trim_start_matches("compose/seeds/").replace('/', "-");
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("expect").join(format!("{slug}.{depth}.toml"))
}

/// Asserts that the verdicts of the criteria `judged` selects are exactly the pins, per
/// criterion × subject (see [`crate::pins`]).
#[track_caller]
fn check_pinned(stack: &str, depth: &str, verdicts: &[Verdict], judged: impl Fn(&criteria::Criterion) -> bool) {
    let header = format!(
        "# What `{depth}` finds on {stack}, per criterion and subject. Pinned by\n\
         # suites/tests/acceptance/seeds.rs; HARNESS_BLESS=1 rewrites it (comments are kept)."
    );
    pins::check(&expect_file(stack, depth), &header, verdicts, judged);
}

/// A fixed variant passes everything it is judged on: that is what `fixed/` is for.
#[track_caller]
fn check_fixed_passes(stack: &str, verdicts: &[Verdict]) {
    if !stack.ends_with("/fixed") {
        return;
    }
    // A stand-in's own image cannot pass or fail for the real one: not judged, and said so.
    let stand_in = |v: &Verdict| matches!(&v.outcome, Outcome::NotJudged { reason } if reason.starts_with("stand-in:"));
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.passed() && !stand_in(v))
        .map(|v| format!("{} {}: {}", v.criterion, v.subject, v.measured))
        .collect();
    assert!(failed.is_empty(), "{stack} is meant to pass:\n{}", failed.join("\n"));
}

/// Steps the read-only catalogue runs: what one shared boot can judge without stopping,
/// killing or recreating anything.
fn read_only_step(step: Step) -> bool {
    !step.destructive()
}

/// `lint`: the static verdicts, no boot.
async fn lint(stack: &str) {
    let verdicts = judge::lint::lint_stack(&workspace(stack)).await.expect("lint runs").verdicts;
    check_pinned(stack, "lint", &verdicts, |c| c.lint());
    check_fixed_passes(stack, &verdicts);
}

/// `boot`: one boot and the read-only catalogue.
async fn boot_read_only(stack: &str, name: &str) {
    let (s, policy) = boot_judged(stack, name).await;
    let verdicts = judge::read_only(&Context { stack: &s, policy: &policy }).await.expect("checks run");
    check_pinned(stack, "check", &verdicts, |c| read_only_step(c.step()));
    check_fixed_passes(stack, &verdicts);
}

/// `full`: the whole catalogue, as `harness check` runs it.
async fn full(stack: &str, name: &str) {
    let (s, policy) = boot_judged(stack, name).await;
    let sel = Selection::new(Vec::new(), Vec::new()).expect("everything");
    let verdicts = judge::full(&Context { stack: &s, policy: &policy }, &sel).await.expect("checks run").verdicts;
    check_pinned(stack, "check", &verdicts, |_| true);
    check_fixed_passes(stack, &verdicts);
}

/// One module per stack, with the three depths as its tests: `seeds::redfire::lint`, ...
/// The nextest profiles choose depths by name (see .config/nextest.toml).
macro_rules! seed {
    ($name:ident, $stack:literal) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn lint() {
                super::lint($stack).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn boot() {
                super::boot_read_only($stack, concat!("seed-", stringify!($name))).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn full() {
                super::full($stack, concat!("seed-full-", stringify!($name))).await;
            }
        }
    };
}

seed!(redfire, "compose/seeds/redfire");
seed!(redfire_fixed, "compose/seeds/redfire/fixed");
seed!(zigquant, "compose/seeds/zigquant");
seed!(zigquant_fixed, "compose/seeds/zigquant/fixed");
seed!(zigquant_dev, "compose/seeds/zigquant-dev");
seed!(zigquant_dev_fixed, "compose/seeds/zigquant-dev/fixed");
seed!(stock_analyzer, "compose/seeds/stock-analyzer");
seed!(stock_analyzer_fixed, "compose/seeds/stock-analyzer/fixed");
seed!(stock_helper, "compose/seeds/stock-helper");
seed!(stock_helper_fixed, "compose/seeds/stock-helper/fixed");
seed!(zviewer_dev, "compose/seeds/zviewer-dev");
seed!(zviewer_dev_fixed, "compose/seeds/zviewer-dev/fixed");
seed!(zviewer_prod, "compose/seeds/zviewer-prod");
seed!(zviewer_prod_fixed, "compose/seeds/zviewer-prod/fixed");
