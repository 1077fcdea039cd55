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
//! `HARNESS_BLESS=1` writes what was found into the expectation file instead of asserting
//! (then review the diff: each flip is a change in what the harness says about a seed).

use std::collections::BTreeMap;
use std::path::PathBuf;

use harness::judge::criteria::{self, Selection, Step};
use harness::judge::verdict::Verdict;
use harness::judge::{self, Context};

use crate::support::{boot_judged, workspace};

/// Where a stack's pinned verdicts live: suites/expect/<stack>.<depth>.toml.
fn expect_file(stack: &str, depth: &str) -> PathBuf {
    let slug = stack.trim_start_matches("compose/seeds/").replace('/', "-");
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("expect").join(format!("{slug}.{depth}.toml"))
}

/// `criterion -> passed` as pinned: lists of ids under `pass` and `fail`.
fn read_expected(path: &PathBuf) -> BTreeMap<String, bool> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (key, passed) in [("pass", true), ("fail", false)] {
        for id in doc.get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            let id = id.as_str().unwrap_or_else(|| panic!("{}: {key} holds a non-string", path.display()));
            assert!(criteria::find(id).is_some(), "{}: unknown criterion {id}", path.display());
            out.insert(id.to_owned(), passed);
        }
    }
    out
}

fn write_expected(path: &PathBuf, stack: &str, depth: &str, found: &BTreeMap<String, bool>) {
    let list = |passed: bool| {
        let ids: Vec<String> =
            found.iter().filter(|(_, p)| **p == passed).map(|(id, _)| format!("  \"{id}\",")).collect();
        if ids.is_empty() { "[]".to_owned() } else { format!("[\n{}\n]", ids.join("\n")) }
    };
    let text = format!(
        "# What `{depth}` finds on {stack}, per criterion (failed when any subject fails). Pinned by\n\
         # suites/tests/acceptance/seeds.rs; rewrite with HARNESS_BLESS=1 and review the diff.\n\
         pass = {}\nfail = {}\n",
        list(true),
        list(false)
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Asserts that the verdicts give every criterion `judged` selects exactly its pinned pass or
/// fail, and that no other criterion was judged. A mismatch lists each flip with the failing
/// subjects' evidence.
#[track_caller]
fn check_pinned(stack: &str, depth: &str, verdicts: &[Verdict], judged: impl Fn(&criteria::Criterion) -> bool) {
    let mut found: BTreeMap<String, bool> = BTreeMap::new();
    for v in verdicts {
        *found.entry(v.criterion.id().to_owned()).or_insert(true) &= v.passed();
    }
    let path = expect_file(stack, depth);
    if std::env::var_os("HARNESS_BLESS").is_some() {
        let mut all = read_expected(&path);
        all.retain(|id, _| criteria::find(id).is_some_and(|c| !judged(&c)));
        all.extend(found);
        write_expected(&path, stack, depth, &all);
        return;
    }
    let expected = read_expected(&path);
    assert!(!expected.is_empty(), "{}: no pinned verdicts (run once with HARNESS_BLESS=1)", path.display());
    let mut flips = Vec::new();
    for c in criteria::ALL.iter().filter(|c| judged(c)) {
        let want = expected.get(c.id()).copied();
        let got = found.get(c.id()).copied();
        if want == got {
            continue;
        }
        let show = |s: Option<bool>| match s {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "not judged",
        };
        let evidence: Vec<String> = verdicts
            .iter()
            .filter(|v| v.criterion.id() == c.id() && !v.passed())
            .map(|v| format!("      {}: {} (budget {}) | {}", v.subject, v.measured, v.budget, v.evidence))
            .collect();
        flips.push(format!("  {}: pinned {}, found {}\n{}", c.id(), show(want), show(got), evidence.join("\n")));
    }
    for id in found.keys().filter(|id| criteria::find(id).is_none_or(|c| !judged(&c))) {
        flips.push(format!("  {id}: judged, but not in the steps this depth runs"));
    }
    assert!(flips.is_empty(), "{stack} ({depth}) differs from {}:\n{}", path.display(), flips.join("\n"));
}

/// A fixed variant passes everything it is judged on: that is what `fixed/` is for.
#[track_caller]
fn check_fixed_passes(stack: &str, verdicts: &[Verdict]) {
    if !stack.ends_with("/fixed") {
        return;
    }
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| format!("{} {}: {}", v.criterion, v.subject, v.measured))
        .collect();
    assert!(failed.is_empty(), "{stack} is meant to pass:\n{}", failed.join("\n"));
}

/// Steps the read-only catalogue runs: what one shared boot can judge without stopping,
/// killing or recreating anything.
fn read_only_step(step: Step) -> bool {
    !matches!(step, Step::Lifecycle | Step::Persistence | Step::Backup)
}

/// `lint`: the static verdicts, no boot.
async fn lint(stack: &str) {
    let verdicts = judge::lint::lint_stack(&workspace(stack)).await.expect("lint runs");
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
