//! The `harness` command as a user runs it: exit codes and one-line errors for bad input.
//! Only commands that need no boot live here (lint); booting is covered in `suites/`.

use std::path::PathBuf;
use std::process::Command;

use rstest::rstest;

fn stack(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Runs `harness ARGS`, returning exit code, stdout and stderr.
fn harness(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().expect("run harness");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn check_error(stack_dir: &str, fragments: &[&str]) {
    let dir = stack(stack_dir);
    let (code, _, err) = harness(&["lint", dir.to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "bad input exits 2: {err}");
    for f in fragments {
        assert!(err.contains(f), "stderr should contain `{f}`: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// Each malformed policy exits 2 with one line naming the file, the line and the key.
#[rstest]
#[case::unknown_key("bad-policy-key", &["acceptance.toml:3", "imge_size", "did you mean `image_size`"])]
#[case::unit_that_does_not_parse("bad-policy-unit", &["acceptance.toml:3", "30 parsecs"])]
#[case::unknown_persistence_kind("bad-policy-kind", &["acceptance.toml:4", "mongodb", "postgres, redis, file"])]
#[case::service_not_in_compose("bad-policy-service", &["acceptance.toml:2", "database", "idle"])]
fn malformed_policies_exit_2_naming_file_line_and_key(#[case] stack_name: &str, #[case] fragments: &[&str]) {
    check_error(&format!("suites/stacks/{stack_name}"), fragments);
}

#[test]
fn a_stack_without_compose_file_exits_2() {
    check_error("suites/stacks/does-not-exist", &["no compose file in", "hint:"]);
}

#[test]
fn lint_judges_without_booting_and_names_what_needs_a_running_stack() {
    let dir = stack("suites/stacks/tiny");
    let (code, out, err) = harness(&["lint", dir.to_str().expect("utf-8 path")]);
    // The tiny stack has no hardening at all: lint must find that, statically.
    assert_eq!(code, 1, "violations exit 1: {out}{err}");
    assert!(out.contains("FAIL hardening.read_only idle"), "{out}");
    assert!(out.contains("not judged without a running stack: startup.service"), "{out}");
}
