//! The corpus (suites/corpus/): small compose projects of the kinds teams run, written
//! here, none of them for the harness: build-only services and multi-stage targets,
//! profiles, `extends`, `include`, anchors, env files, compose secrets, one-shot jobs,
//! host networking, baked USERs and HEALTHCHECKs, deploy limits, unset variables.
//!
//! Each project pins its verdicts per criterion × subject (`expect.lint.toml`, and
//! `expect.check.toml` for those booted), with a comment on every expectation that is not
//! obvious. `HARNESS_BLESS=1` rewrites the pins and keeps the comments.

use std::path::{Path, PathBuf};
use std::time::Instant;

use harness::judge::criteria::Selection;
use harness::judge::{self, Context};

use crate::pins;
use crate::support::{boot_judged, workspace};

fn corpus() -> PathBuf {
    workspace("suites/corpus")
}

/// Every project directory (one with a compose.yaml), sorted.
fn projects() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("suites/corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn header(project: &Path, depth: &str) -> String {
    format!(
        "# What `{depth}` judges on suites/corpus/{}, per criterion and subject. Pinned by\n\
         # suites/tests/acceptance/corpus.rs; HARNESS_BLESS=1 rewrites it (comments are kept).",
        project.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    )
}

/// Lint over the whole corpus in one test, every profile active: each project's verdicts
/// equal its pins. Prints the time it took (target: under 10 s for the corpus).
#[tokio::test(flavor = "multi_thread")]
async fn lint_pins_every_project() {
    let all = projects();
    assert!(all.len() >= 25, "the corpus holds at least 25 projects, found {}", all.len());
    let started = Instant::now();
    let mut failures = Vec::new();
    for project in &all {
        let verdicts =
            judge::lint::lint_stack(project).await.unwrap_or_else(|e| panic!("{}: {e}", project.display())).verdicts;
        let path = project.join("expect.lint.toml");
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pins::check(&path, &header(project, "lint"), &verdicts, |c| c.lint())
        })) {
            failures
                .push(e.downcast_ref::<String>().cloned().unwrap_or_else(|| format!("{}: mismatch", path.display())));
        }
    }
    println!("lint over {} corpus projects: {:.2}s", all.len(), started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `check` on the projects whose images come from local recipes, two of them `build:`
/// services: one boot each and the whole catalogue, pinned per criterion × subject.
#[rstest::rstest]
#[case::multistage_target("multistage-target")]
#[case::build_args("build-args")]
#[case::compose_secrets("compose-secrets")]
#[case::baked_user("baked-user")]
#[case::deploy_limits("deploy-limits")]
#[tokio::test(flavor = "multi_thread")]
async fn check_pins_the_bootable_projects(#[case] name: &str) {
    let rel = format!("suites/corpus/{name}");
    let (s, policy) = boot_judged(&rel, &format!("corpus-{name}")).await;
    let sel = Selection::new(Vec::new(), Vec::new()).expect("everything");
    let verdicts = judge::full(&Context { stack: &s, policy: &policy }, &sel).await.expect("checks run").verdicts;
    let project = workspace(&rel);
    pins::check(&project.join("expect.check.toml"), &header(&project, "check"), &verdicts, |_| true);
}
