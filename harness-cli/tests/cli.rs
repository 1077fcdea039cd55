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
    harness_env(args, &[])
}

/// [`harness`] with environment variables set for the run.
fn harness_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_harness")).args(args).envs(env.iter().copied()).output().expect("run harness");
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

/// `harness COMMAND <workspace-relative stack> --report-dir <fresh dir named report> EXTRA...`
/// for `lint` and `check`: exit code, stdout, stderr and the report directory.
fn on_stack(command: &str, rel: &str, report: &str, extra: &[&str]) -> (i32, String, String, PathBuf) {
    let dir = stack(rel);
    let reports = report_dir(report);
    let mut args = vec![command, dir.to_str().expect("utf-8 path"), "--report-dir", reports.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let (code, out, err) = harness(&args);
    (code, out, err, reports)
}

/// Each malformed policy exits 2 with one line naming the file, the line and the key.
#[rstest]
#[case::unknown_key("bad-policy-key", &["acceptance.toml:3", "imge_size", "did you mean `image_size`"])]
#[case::unit_that_does_not_parse("bad-policy-unit", &["acceptance.toml:3", "30 parsecs"])]
#[case::unknown_persistence_kind("bad-policy-kind", &["acceptance.toml:4", "mongodb", "postgres, redis, file"])]
#[case::service_not_in_compose("bad-policy-service", &["acceptance.toml:2", "database", "idle"])]
#[case::volume_not_in_compose("bad-policy-volume", &["acceptance.toml:6", "volume `dta`", "volumes there: data"])]
#[case::network_not_in_compose("bad-policy-network", &["acceptance.toml:3", "network `outer`", "networks there: inner"])]
#[case::availability_with_no_way_in("no-way-in", &["acceptance.toml:5", "`gateway`", "no way in", "port 8080 is not published", "no network the stack creates"])]
#[case::availability_through_internal_networks_only("no-way-in-internal", &["acceptance.toml:5", "`gateway`", "no way in", "that is not internal"])]
fn malformed_policies_exit_2_naming_file_line_and_key(#[case] stack_name: &str, #[case] fragments: &[&str]) {
    check_error(&format!("suites/stacks/{stack_name}"), fragments);
}

#[test]
fn a_stack_without_compose_file_exits_2() {
    check_error("suites/stacks/does-not-exist", &["no compose file in", "hint:"]);
}

/// Inputs with nothing to judge, or that cannot be built, are input errors (exit 2) naming
/// the path, not "0 passed, 0 failed" nor a failure.
#[rstest]
#[case::no_services("no-services", &["suites/stacks/no-services has no services", "hint:"])]
#[case::missing_build_context("missing-context", &["missing-context/no-such-dir", "service `web`", "does not exist"])]
fn inputs_with_nothing_to_judge_exit_2(#[case] stack_name: &str, #[case] fragments: &[&str]) {
    check_error(&format!("suites/stacks/{stack_name}"), fragments);
}

/// A build-only service is judged from its Dockerfile, no image built: the target stage's
/// USER and HEALTHCHECK (not those of a stage the target skips), and its FROM lines for
/// pinning, each citing the line.
#[test]
fn lint_reads_a_build_only_service_from_its_dockerfile() {
    let (code, out, err, _) = on_stack("lint", "suites/stacks/built", "built", &[]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "PASS user.image web: user 101:101",
        "Dockerfile:10 USER 101:101 of `web`",
        "Dockerfile:12 HEALTHCHECK CMD of `web`",
        "PASS lint.pinned_tags web: FROM harness/nginx:1.22-bookworm",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    let (code, out, _, _) = on_stack("lint", "suites/stacks/built-root", "built-root", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL user.image web: user root") && out.contains("Dockerfile:2 USER root of `web`"), "{out}");
}

/// An engine that cannot be asked is a warning, and what only an image could tell is not
/// judged: never the silent "root, no healthcheck" it once was. The Dockerfile still speaks.
#[test]
fn lint_without_an_engine_warns_and_invents_nothing() {
    let run = |dir: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args([
                "lint",
                stack(dir).to_str().expect("utf-8"),
                "--report-dir",
                report_dir("no-engine").to_str().expect("utf-8"),
            ])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("run harness");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = run("suites/stacks/absent-image");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("warning: cannot reach the docker engine (unix:///nonexistent/docker.sock)"), "{out}");
    assert!(out.contains("SKIP user.image vendor") && out.contains("SKIP healthcheck.defined vendor"), "{out}");
    assert!(!out.contains("FAIL "), "{out}");
    let (_, out) = run("suites/stacks/built");
    assert!(out.contains("PASS user.image web: user 101:101"), "the Dockerfile needs no engine: {out}");
}

/// Every profile is judged unless --profile narrows them; a policy may name a service of
/// any profile.
#[test]
fn services_behind_a_profile_are_judged() {
    let (code, out, err, _) = on_stack("lint", "suites/stacks/profiles", "profiles", &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL hardening.privileged debug"), "{out}");
    assert!(out.contains("FAIL secrets.env debug: ADMIN_TOKEN (literal value, 24 chars, redacted)"), "{out}");
    assert!(!out.contains("planted-not-a-real-token"), "{out}");
    let (code, out, err, _) = on_stack("lint", "suites/stacks/profiles", "profiles", &["--profile", "none-such"]);
    assert_eq!(code, 2, "the policy names `debug`, which the narrowed profiles leave out: {out}{err}");
    assert!(err.contains("`debug`") || err.contains("debug"), "{err}");
}

/// `harness init` drafts a policy that `harness lint` accepts as written, and will not
/// overwrite it without --force.
#[test]
fn init_drafts_a_policy_that_lint_accepts() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("init-webapp");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let source = stack("suites/corpus/webapp-postgres");
    for f in ["compose.yaml", "db_password.txt"] {
        std::fs::copy(source.join(f), dir.join(f)).expect("copy");
    }
    let d = dir.to_str().expect("utf-8");
    let (code, out, err) = harness(&["init", d]);
    assert_eq!(code, 0, "{out}{err}");
    let text = read(&dir.join("acceptance.toml"));
    for line in [
        "[services.web]\n# It publishes host ports in the compose file.\npublish = true",
        "[gateway]\nservice = \"web\"\nport = 8080",
        "kind = \"postgres\"\nvolume = \"pgdata\"",
        "methods = [\"tar\", \"pg_dump\"]",
    ] {
        assert!(text.contains(line), "`{line}` in:\n{text}");
    }
    let (code, out, err) = harness(&["lint", d, "--report-dir", report_dir("init-webapp").to_str().expect("utf-8")]);
    assert_ne!(code, 2, "the draft loads: {out}{err}");
    let (code, _, err) = harness(&["init", d]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(harness(&["init", d, "--force"]).0, 0);
}

/// Compose's unset-variable warning becomes a lint warning naming the variable, the line
/// that uses it and the missing .env, in the output and the report.
#[test]
fn an_unset_variable_is_a_named_warning() {
    let (_, out, err, reports) = on_stack("lint", "suites/stacks/unset-var", "unset-var", &[]);
    let warning = "warning: variable PROBE_TAG is not set, so compose uses an empty string at suites/stacks/unset-var/compose.yaml:5; there is no .env beside the compose file, but there is .env.example";
    assert!(out.contains(warning), "{out}{err}");
    assert!(
        out.contains("FAIL lint.pinned_tags idle: image harness/probe:"),
        "judged on the empty value, as compose runs it: {out}"
    );
    assert!(read(&run_dir(&reports).join("report.md")).contains("Warning: variable PROBE_TAG is not set"));
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

/// What the harness cannot measure is "not judged", with the reason: lint with an image
/// that is absent and no Dockerfile cannot know the image's USER or HEALTHCHECK. Nothing
/// failed, so the exit code is 2 ("could not judge"), not 0 (a pass it never measured) nor
/// 1 (a failure it invented); the report counts them apart and JUnit marks them skipped.
#[test]
fn lint_of_an_absent_image_is_not_judged_and_exits_2() {
    let (code, out, err, reports) = on_stack("lint", "suites/stacks/absent-image", "absent-image", &[]);
    assert_eq!(code, 2, "not judged exits 2: {out}{err}");
    for line in ["SKIP user.image vendor: not judged:", "SKIP healthcheck.defined vendor: not judged:"] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    assert!(out.contains("harness/not-built-anywhere:1.0` is not on the engine"), "{out}");
    assert!(!out.contains("FAIL "), "nothing is invented: {out}");
    let run = run_dir(&reports);
    let json: serde_json::Value = serde_json::from_str(&read(&run.join("report.json"))).expect("report.json parses");
    assert_eq!((json["failed"].as_u64(), json["not_judged"].as_u64()), (Some(0), Some(2)), "{json}");
    let junit = read(&run.join("junit.xml"));
    assert_eq!(junit.matches("<skipped message=\"not judged:").count(), 2, "{junit}");
    assert!(read(&run.join("report.md")).contains("### Not judged"));
}

// ---------------------------------------------------------------------------------------
// Sign-off: `check` and `report` as a gate runs them, on real stacks. These boot, so
// nextest runs them in the `stacks` group (see .config/nextest.toml).

/// A fresh report directory under target/, kept after the run as an artifact.
fn report_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The one run directory `check` wrote under `dir`.
fn run_dir(dir: &std::path::Path) -> PathBuf {
    let runs: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("report dir exists").map(|e| e.expect("entry").path()).collect();
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    runs[0].clone()
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `<title>` of a page as Chromium left it after running whatever the page would run.
fn title(dom: &str) -> &str {
    let start = dom.find("<title>").map_or(0, |i| i + "<title>".len());
    let end = dom[start..].find("</title>").map_or(start, |i| start + i);
    &dom[start..end]
}

/// suites/stacks/hostile/text: the health check's output, the check command and an env name
/// carry markup, script, Markdown tables/links/images, ANSI sequences, a bell, a carriage
/// return and a right-to-left override. `check` judges the stack as usual (secrets.env
/// fails on the planted token) and every output form shows that text inert: the terminal
/// gets no control sequence, Chromium runs no script from report.html, report.md carries
/// no tag and keeps its tables, junit.xml stays well-formed XML.
#[tokio::test]
async fn hostile_text_stays_inert_in_every_report_form_and_the_terminal() {
    let (code, out, err, reports) =
        on_stack("check", "suites/stacks/hostile/text", "hostile-text", &["--only", "healthcheck,secrets"]);
    assert_eq!(code, 1, "secrets.env fails on the planted token: {out}{err}");
    assert!(out.contains("FAIL secrets.env shouter"), "{out}");
    assert!(out.contains("PASS healthcheck.passes shouter"), "{out}");
    // The policy's 1 ms budget fails it, so its evidence (the check and its output) is
    // printed in full in every form.
    assert!(out.contains("FAIL healthcheck.response shouter"), "{out}");
    for (name, stream) in [("stdout", &out), ("stderr", &err)] {
        let sent: Vec<char> = stream.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\t')).collect();
        assert!(sent.is_empty(), "{name} sent control characters {sent:?}: {stream}");
        assert!(!stream.contains('\u{202e}'), "{name} sent a bidirectional override");
    }
    assert!(out.contains("\\u{1b}[2J"), "the sequence is shown, not sent: {out}");

    let dir = run_dir(&reports);
    let dom = harness_cli::screenshot::rendered_dom(&dir.join("report.html")).await.expect("chromium loads the report");
    assert!(title(&dom).starts_with("NO-GO: acceptance report"), "a script retitled the page: {:?}", title(&dom));
    assert!(!dom.contains("<img") && !dom.contains("<script"), "markup from the stack became elements");
    assert!(dom.contains("document.title=\"pwned\""), "the check is shown as text: {dom}");

    let md = read(&dir.join("report.md"));
    assert!(!md.contains('<'), "no tag reaches a rendered PR comment");
    assert!(md.contains("&lt;script&gt;"), "the text is there, escaped");

    let xml = read(&dir.join("junit.xml"));
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("junit.xml is not well-formed at {}: {e}", reader.buffer_position()),
        }
    }
    assert!(xml.contains("&lt;script&gt;"), "{xml}");
}

/// suites/stacks/hostile/hung-health: a check that sleeps a day under a day-long `timeout:`.
/// Docker never reports anything but `starting`; the harness's own probe of the same check
/// gives up at half the boot deadline, the boot at the deadline, and `check` exits 2 naming
/// the service, its health state and the probe that hung, leaving nothing behind.
#[test]
fn a_health_check_that_never_returns_is_bounded_by_the_harness() {
    let started = std::time::Instant::now();
    let (code, out, err, _) =
        on_stack("check", "suites/stacks/hostile/hung-health", "hung-health", &["--boot-timeout", "15s"]);
    let took = started.elapsed();
    assert_eq!(code, 2, "could not judge: {out}{err}");
    for part in [
        "service `hang`",
        "not healthy within 15s",
        "health starting",
        "last probe: no exit code after",
        "timed out after 7500ms",
    ] {
        assert!(err.contains(part), "`{part}` in: {err}");
    }
    // 15 s of boot plus setup and teardown; a day-long check must not stretch it.
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
    let project = err.split("of project ").nth(1).and_then(|r| r.split_whitespace().next()).expect("project named");
    assert_eq!(leftovers(project), harness::engine::teardown::Removed::default(), "{project} left resources");
}

/// suites/stacks/hostile/fork-bomb: a real fork bomb under `pids_limit: 64`, and 1,500
/// processes in a service with no pids limit. The harness reads every process of both
/// (`user.process`, through `docker top`) and judges the limits: a clear NO-GO (exit 1),
/// within a bound, with nothing left behind.
#[test]
fn fork_bombs_get_a_clear_verdict_in_bounded_time_and_leave_nothing() {
    let started = std::time::Instant::now();
    let (code, out, err, _) = on_stack(
        "check",
        "suites/stacks/hostile/fork-bomb",
        "fork-bomb",
        &["--only", "hardening.pids_limit,user.process"],
    );
    let took = started.elapsed();
    assert_eq!(code, 1, "a NO-GO, not a harness error: {out}{err}");
    for line in [
        "PASS hardening.pids_limit capped",
        "FAIL hardening.pids_limit uncapped",
        "PASS user.process capped",
        "PASS user.process uncapped",
    ] {
        assert!(out.contains(line), "`{line}` in: {out}");
    }
    // Every one of uncapped's processes was read: more than the ~256 pids past which the
    // engine's `docker top` takes its other path (`PS_ARGS` in judge/runtime.rs).
    let read: usize = out
        .lines()
        .find(|l| l.starts_with("PASS user.process uncapped"))
        .and_then(|l| l.split(": ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("a process count on uncapped's user.process line: {out}"));
    assert!(read > 1500, "{read} processes read in uncapped: {out}");
    assert!(took < std::time::Duration::from_secs(120), "took {took:?}");
    assert_nothing_left_by(&out);
}

/// `check --take-turns` waits while another run holds the turn (here the test, through the
/// same advisory lock on a private lock file), says so, boots only once the turn is given
/// back, and still judges and cleans up; the startup it times is its own, after the wait.
#[test]
fn a_check_that_takes_turns_waits_for_the_run_in_its_timed_steps() {
    use std::io::BufRead as _;
    let scratch = tempfile::tempdir().expect("scratch dir");
    let lock = scratch.path().join("turns.lock");
    let held =
        nix::fcntl::Flock::lock(std::fs::File::create(&lock).expect("lock file"), nix::fcntl::FlockArg::LockExclusive)
            .expect("hold the turn");
    let dir = stack("suites/stacks/tiny");
    let reports = report_dir("take-turns");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", dir.to_str().expect("utf-8"), "--report-dir", reports.to_str().expect("utf-8")])
        .args(["--only", "startup", "--take-turns"])
        .env("HARNESS_TURNS_LOCK", &lock)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run harness");
    // Its stderr, line by line, until it says it waits (or ends without saying so).
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("waiting for the turn to boot and judge") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let waits = rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Nothing of the stack may exist while the turn is held: the run waits before it boots.
    let owned = tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        let docker = harness::engine::connect().await.expect("engine reachable");
        let label = format!("{}={}", harness::engine::labels::OWNER_PID, child.id());
        harness::engine::teardown::count_labelled(&docker, &label).await.expect("count resources")
    });
    drop(held);
    let out = child.wait_with_output().expect("wait for harness");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), reader.join().expect("stderr reader"));
    assert!(waits, "it never said it waits: {stderr}");
    assert_eq!(owned, harness::engine::teardown::Removed::default(), "booted while the turn was held");
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let waited: f64 = stderr
        .split("got the turn after ")
        .nth(1)
        .and_then(|r| r.split('s').next()?.parse().ok())
        .unwrap_or_else(|| panic!("how long it waited: {stderr}"));
    assert!(waited >= 2.0, "waited {waited}s while the turn was held 2s past its wait: {stderr}");
    assert!(stdout.contains("PASS startup.stack"), "{stdout}");
    assert_nothing_left_by(&stdout);
}

/// suites/stacks/hostile/host-mounts: the engine socket, the host's `/` and `/etc`, and a
/// named volume whose driver_opts bind `/etc`, are failures both in lint (from the file) and
/// in check (from the engine); the policy's tar backup of that volume is refused (not
/// judged, naming the host path) before any helper mounts it, and nothing is left behind.
#[test]
fn host_mounts_fail_and_no_helper_follows_a_volume_onto_the_host() {
    let expected = [
        "FAIL hardening.docker_sock sock: mounts /var/run/docker.sock",
        "FAIL hardening.host_mounts root: binds /, /etc",
        "FAIL hardening.host_mounts hidden: binds /etc (through volume `",
    ];
    let (code, out, err, _) = on_stack("lint", "suites/stacks/hostile/host-mounts", "host-mounts-lint", &[]);
    assert_eq!(code, 1, "{out}{err}");
    for line in expected {
        assert!(out.contains(line), "lint: `{line}` in {out}");
    }
    let (code, out, err, _) = on_stack(
        "check",
        "suites/stacks/hostile/host-mounts",
        "host-mounts-check",
        &["--only", "hardening.docker_sock,hardening.host_mounts,backup"],
    );
    assert_eq!(code, 1, "{out}{err}");
    for line in expected {
        assert!(out.contains(line), "check: `{line}` in {out}");
    }
    assert!(
        out.contains("SKIP backup.tar hidden: not judged: volume `hostetc` keeps its data in the host path /etc"),
        "{out}"
    );
    assert_nothing_left_by(&out);
}

/// suites/stacks/hostile/full-disk: a tar backup whose archive (8 MiB of random bytes) does
/// not fit on the disk it is written to (TMPDIR on a 2 MiB tmpfs). backup.tar fails, naming
/// the full disk and TMPDIR; nothing was destroyed, so the data written before the backup
/// reads back intact from the service, which runs again; and nothing is left behind, the
/// partial archive included.
#[test]
fn a_backup_that_fills_its_disk_fails_and_destroys_nothing() {
    let tmp = Tmpfs::mount("2m");
    let dir = stack("suites/stacks/hostile/full-disk");
    let reports = report_dir("full-disk");
    let started = std::time::Instant::now();
    let args = [
        "check",
        dir.to_str().expect("utf-8 path"),
        "--report-dir",
        reports.to_str().expect("utf-8"),
        "--only",
        "backup",
    ];
    let (code, out, err) = harness_env(&args, &[("TMPDIR", tmp.path())]);
    let took = started.elapsed();
    assert_eq!(code, 1, "a NO-GO, not a harness error: {out}{err}");
    for part in [
        "FAIL backup.tar store: no usable backup after",
        "original data: 1/1 files identical",
        "No space left on device",
        "nothing destroyed; `store` started again",
        "the disk the archive is written to filled up",
        "(TMPDIR)",
    ] {
        assert!(out.contains(part), "`{part}` in: {out}");
    }
    assert!(took < std::time::Duration::from_secs(120), "took {took:?}");
    assert_nothing_left_by(&out);
    // The image build locks stay by design: removing a lock file another process may be
    // about to take is a race. The archive, partial or not, and the work directory go.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read the tmpfs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !(name.starts_with("harness-image-") && name.ends_with(".lock")))
        .collect();
    assert!(left.is_empty(), "the run left files in its TMPDIR: {left:?}");
}

/// A tmpfs of `size` on a fresh directory, unmounted and removed on drop: a disk that fills
/// up on cue. Mounting needs root, as the engine's socket does on this machine class.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a {size} tmpfs on {} (this test needs root): {status}", dir.path().display());
        Tmpfs(dir)
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Nightly: 100 services on 10 networks (`harness bench footprint --wide 100,10`, the
/// network family only). It boots, the isolation matrix finds each network reaching exactly
/// its ten members (exit 0), the harness stays under its 64 MiB footprint, and nothing is
/// left. The 10-minute bound only catches a hang: speed is the benchmark's to show.
#[test]
fn nightly_a_hundred_services_on_ten_networks_boot_and_isolate() {
    let started = std::time::Instant::now();
    let (code, out, err) = harness(&["bench", "footprint", "--wide", "100,10", "--", "--only", "network"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": exit 0 in "), "the check judged every network as its policy says: {out}");
    assert!(out.contains("verdict: GO"), "{out}");
    let mib = peak_rss_mib(&out);
    assert!(mib < 64.0, "peak RSS {mib} MiB: {out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(600), "took {:?}", started.elapsed());
    assert_nothing_left_by(&out);
}

/// The peak RSS `bench footprint` printed, in MiB.
fn peak_rss_mib(out: &str) -> f64 {
    out.split("peak RSS ")
        .nth(1)
        .and_then(|r| r.split(" MiB").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {out}"))
}

/// Nightly: suites/stacks/hostile/log-flood writes 1 GiB to stdout before it reports
/// healthy (its check waits for the marker written after the last byte). `check` judges it
/// (no restart policy and no network policy: exit 1) while the harness stays under its
/// 64 MiB footprint, and nothing is left.
#[test]
fn nightly_a_gibibyte_of_stdout_leaves_the_harness_footprint_alone() {
    let dir = stack("suites/stacks/hostile/log-flood");
    // The read-only families: a restart would write the gibibyte again.
    let only = ["--", "--only", "hardening,healthcheck,resources,user,secrets,network"];
    let mut args = vec!["bench", "footprint", dir.to_str().expect("utf-8 path")];
    args.extend(only);
    let (code, out, err) = harness(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": exit 1 in "), "the check judged the stack: {out}");
    assert!(out.contains("hardening.restart x1"), "{out}");
    let mib = peak_rss_mib(&out);
    assert!(mib < 64.0, "peak RSS {mib} MiB: {out}");
    assert_nothing_left_by(&out);
}

/// Nightly: a quiet check of the reference stack, then ten checks, one at a time, each with
/// one seeded fault (none, a panic inside a check, SIGTERM, SIGINT, SIGKILL then reap, the
/// engine cut then reap, a service or a helper killed from outside), leave nothing behind:
/// no container, network, volume or work directory of any run's pid; and every undisturbed
/// run judges exactly as the quiet run did. One at a time: four reference stacks at once on
/// 2 cores fail their 30 s startup budgets, a real difference `--concurrency 4` prints
/// (docs/benchmarks.md), not a flaw of the runs.
#[test]
fn nightly_a_soak_of_ten_faulted_runs_leaves_nothing() {
    let dir = stack("compose/reference");
    let args = ["bench", "soak", dir.to_str().expect("utf-8 path"), "--runs", "10", "--seed", "43"];
    let (code, out, err) = harness(&args);
    assert!(out.contains("runs that left something: 0 of 11"), "{out}{err}");
    assert!(out.contains("undisturbed runs whose verdicts differ from the quiet run's: 0 of"), "{out}{err}");
    assert_eq!(code, 0, "{out}{err}");
    // Every fault struck at least once with this seed (a unit test pins the draw), so the
    // table is not vacuous.
    for fault in [
        "none",
        "panic in a check",
        "SIGTERM",
        "SIGINT",
        "SIGKILL + reap",
        "engine cut + reap",
        "service killed",
        "helper killed",
    ] {
        assert!(out.lines().any(|l| l.starts_with(fault)), "`{fault}` never drawn with seed 43: {out}");
    }
    // A panic is a bug of the harness, reported as "could not judge", never Rust's 101.
    assert!(out.lines().any(|l| l.contains("Panic (") && l.contains("exit 2")), "{out}");
}

/// Four undisturbed checks of the reference side by side, taking turns through their timed
/// steps: none leaves anything, and each judges exactly as one check alone does (issue 14's
/// `--concurrency 4`; docs/benchmarks.md has the same run without turns, which differs).
#[test]
fn nightly_four_checks_side_by_side_taking_turns_judge_as_one_alone() {
    let dir = stack("compose/reference");
    let path = dir.to_str().expect("utf-8 path");
    let args = ["bench", "soak", path, "--runs", "4", "--concurrency", "4", "--faults", "none", "--seed", "43"];
    let (code, out, err) = harness(&args);
    assert!(out.contains("taking turns through their timed steps"), "{out}{err}");
    assert!(out.contains("runs that left something: 0 of 5"), "{out}{err}");
    assert!(out.contains("undisturbed runs whose verdicts differ from the quiet run's: 0 of 4"), "{out}{err}");
    // They did overlap: three of the four waited for a turn.
    assert!(out.matches("waiting for its turn").count() >= 3, "{out}");
    assert_eq!(code, 0, "{out}{err}");
}

/// A team's own `build:` service: `check` builds it with the stack's build settings (target,
/// args) from a Dockerfile FROM a local recipe image, boots what it built and reaches GO;
/// the same stack with `USER root` in its Dockerfile fails user.image and user.process,
/// citing the Dockerfile line, and the built images stay under one stable tag per service.
#[tokio::test]
async fn check_builds_a_build_service_and_judges_the_image_it_built() {
    // A real build, not the cache: the images the last run built go first (their untagged
    // stages with them), and no other test builds these two stacks.
    let docker = harness::engine::connect().await.expect("engine reachable");
    for dir in ["suites/stacks/built", "suites/stacks/built-root"] {
        let tag = harness::boot::stack::build_tag(&stack(dir), "web");
        let _ = docker.remove_image(&tag, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    }
    let (code, out, err, _) = on_stack("check", "suites/stacks/built", "built", &[]);
    assert_eq!(code, 0, "GO: {out}\n{err}");
    assert!(err.contains("docker build suites/stacks/built/web/Dockerfile for service `web`"), "build progress: {err}");
    assert!(out.contains("PASS user.image web: user 101:101"), "{out}");
    assert!(out.contains("docker inspect (Dockerfile:10 USER 101:101) of `web`"), "{out}");
    assert!(out.contains("PASS image.size web"), "the built image is judged: {out}");
    assert_eq!(untagged_debug_stages().await, Vec::<String>::new(), "the skipped `debug` stage was left untagged");

    let (code, out, err, _) = on_stack("check", "suites/stacks/built-root", "built-root", &["--only", "user"]);
    assert_eq!(code, 1, "NO-GO: {out}\n{err}");
    assert!(
        out.contains("FAIL user.image web: user root")
            && out.contains("docker inspect (Dockerfile:2 USER root) of `web`"),
        "{out}"
    );
    assert!(
        out.contains("FAIL user.process web") && out.contains("the configured user comes from Dockerfile:2 USER root"),
        "{out}"
    );
}

/// Untagged images made from `harness/nginx:1.22-bookworm` by one `USER root` step: what
/// suites/stacks/built's `debug` stage, which the legacy builder builds although the target
/// skips it, leaves on the engine when a build does not clean up after itself.
async fn untagged_debug_stages() -> Vec<String> {
    let docker = harness::engine::connect().await.expect("engine reachable");
    let base = docker.inspect_image("harness/nginx:1.22-bookworm").await.expect("the base image").id;
    let filters = std::collections::HashMap::from([("dangling".to_owned(), vec!["true".to_owned()])]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
    let mut found = Vec::new();
    for image in docker.list_images(Some(options)).await.expect("list images") {
        if Some(&image.parent_id) != base.as_ref() {
            continue;
        }
        let Ok(inspected) = docker.inspect_image(&image.id).await else { continue };
        if inspected.config.and_then(|c| c.user).as_deref() == Some("root") {
            found.push(image.id);
        }
    }
    found
}

/// A failing Dockerfile step is an input error: exit 2, one line naming the service, the
/// Dockerfile and the step; and an image nothing can provide names what to do.
#[test]
fn a_build_that_fails_or_an_image_that_cannot_be_had_exits_2() {
    let (code, _, err) = harness(&["check", stack("suites/stacks/build-fails").to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    for f in ["building service `web` from", "build-fails/web/Dockerfile", "failed at `Step 3/", "RUN echo", "exit 3"] {
        assert!(last.contains(f), "`{f}` in: {err}");
    }
    let (code, _, err) =
        harness(&["check", stack("suites/stacks/missing-image").to_str().expect("utf-8"), "--pull", "never"]);
    assert_eq!(code, 2, "{err}");
    for f in
        ["image harness/no-such-image:0 for service `ghost`", "--pull never", "docker pull", "docker load", "recipe"]
    {
        assert!(err.contains(f), "`{f}` in: {err}");
    }
}

/// The done-when of the sign-off issue: the reference passes the whole catalogue and the
/// run leaves report.json, report.md, report.html and junit.xml; a screenshot of the HTML
/// (headless Chromium) is kept beside them for a person to look at.
#[tokio::test]
async fn check_passes_the_reference_stack_and_writes_every_report_form() {
    let (code, out, err, dir) = on_stack("check", "compose/reference", "reference", &[]);
    assert_eq!(code, 0, "the reference passes: {out}\n{err}");
    assert!(out.contains("verdict: GO"), "{out}");
    let run = run_dir(&dir);
    let json: serde_json::Value = serde_json::from_str(&read(&run.join("report.json"))).expect("report.json parses");
    assert_eq!(json["schema"], harness::report::SCHEMA);
    assert_eq!(json["go"], true);
    let verdicts = json["stacks"][0]["verdicts"].as_array().expect("verdicts").len();
    assert!(verdicts > 130, "the whole catalogue: {verdicts}");
    for family in ["startup", "runtime", "network", "http", "lifecycle", "persistence", "backup"] {
        assert!(json["stacks"][0]["catalogue"].to_string().contains(family), "{family} ran");
    }
    let p = &json["provenance"];
    // Whatever engine the machine runs: a dotted version, not "unknown (...)" or "not connected".
    let engine = p["engine_version"].as_str().unwrap_or("");
    assert!(engine.split('.').next().is_some_and(|major| major.parse::<u32>().is_ok()) && engine.contains('.'), "{p}");
    assert!(!p["compose_version"].as_str().unwrap_or("").is_empty(), "{p}");
    let md = read(&run.join("report.md"));
    assert!(md.starts_with("# Acceptance: **GO**"), "{md}");
    let html = read(&run.join("report.html"));
    assert!(html.contains("<h1>GO</h1>") && html.contains("aria-label=\"boot timeline\""), "verdict and timeline");
    // JUnit: one testcase per verdict.
    let junit = read(&run.join("junit.xml"));
    assert_eq!(junit.matches("<testcase ").count(), verdicts, "{junit}");

    let png = run.join("report.png");
    let took =
        harness_cli::screenshot::screenshot(&run.join("report.html"), &png, 1280, 1400).await.expect("screenshot");
    let bytes = std::fs::read(&png).expect("png written");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    eprintln!("screenshot {} in {took:?}", png.display());
}

/// The broken stack is a NO-GO (exit 1), and every failure in the report carries its
/// evidence and a fix. The destructive families are skipped here (the suites judge them
/// on the broken stack); `--skip` is shown working at the same time.
#[test]
fn check_fails_the_broken_stack_and_explains_every_failure() {
    let (code, out, err, dir) =
        on_stack("check", "compose/broken", "broken", &["--skip", "backup,persistence,shutdown,recovery"]);
    assert_eq!(code, 1, "violations exit 1: {out}\n{err}");
    let run = run_dir(&dir);
    let report: harness::report::Report = harness::report::read(&run.join("report.json")).expect("report reads");
    let s = &report.stacks[0];
    assert!(!report.go && s.failed >= 18, "{} failures", s.failed);
    assert!(s.verdicts.iter().all(|e| e.verdict.criterion.family() != "backup"), "skipped families are not judged");
    let md = read(&run.join("report.md"));
    for e in s.verdicts.iter().filter(|e| e.verdict.failed()) {
        let v = &e.verdict;
        assert!(v.hint.is_some(), "{} {} has a fix hint", v.criterion, v.subject);
        assert!(
            md.contains(&format!("- **{} {}**", v.criterion, v.subject)),
            "{} {} explained in report.md",
            v.criterion,
            v.subject
        );
    }
    assert!(md.contains("Partial run: skipped backup, persistence, shutdown, recovery"), "{md}");
}

/// A planted secret (an env literal and a compose secret file) appears in no report form
/// and in no log line, even at the most verbose level; the finding itself is reported.
#[test]
fn a_planted_secret_reaches_no_report_and_no_log() {
    let dir = report_dir("secret-plant");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["-vv", "check", stack("suites/stacks/secret-plant").to_str().expect("utf-8")])
        .args(["--skip", "backup,persistence,shutdown,recovery", "--report-dir", dir.to_str().expect("utf-8")])
        .env("RUST_LOG", "debug")
        .output()
        .expect("run harness");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the literal token is a finding: {stdout}\n{stderr}");
    assert!(stdout.contains("FAIL secrets.env holder"), "{stdout}");
    assert!(stderr.contains("DEBUG"), "debug logging was on: {stderr}");
    let run = run_dir(&dir);
    let mut texts = vec![("stdout".to_owned(), stdout.into_owned()), ("stderr".to_owned(), stderr.into_owned())];
    for f in ["report.json", "report.md", "report.html", "junit.xml"] {
        texts.push((f.to_owned(), read(&run.join(f))));
    }
    for (name, text) in &texts {
        for secret in ["planted-env-value-7c1e55d0", "planted-file-value-93ab04f2"] {
            assert!(!text.contains(secret), "{secret} leaked into {name}");
        }
    }
    assert!(texts[2].1.contains("API_TOKEN"), "the report names the variable, not its value");
}

/// Bad input to `check` exits 2 before anything boots, with one line naming the problem.
#[rstest]
#[case::unknown_only_criterion(&["--only", "netwrok.reach"], "unknown criterion `netwrok.reach` in --only (hint: did you mean `network.reach`?")]
#[case::unknown_skip_family(&["--skip", "bakup"], "did you mean `backup`?")]
#[case::unwritable_report_dir(&["--report-dir", "/proc/harness-reports"], "cannot write the report to /proc/harness-reports")]
fn check_refuses_bad_input_before_booting(#[case] args: &[&str], #[case] fragment: &str) {
    let dir = stack("suites/stacks/tiny");
    let mut all = vec!["check", dir.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let (code, out, err) = harness(&all);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(fragment), "{err}");
    assert!(!err.contains("booting"), "nothing booted: {err}");
}

#[test]
fn check_of_a_directory_without_compose_file_exits_2() {
    let empty = tempfile_dir("no-compose");
    let (code, _, err) = harness(&[
        "check",
        empty.to_str().expect("utf-8"),
        "--report-dir",
        report_dir("none").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no compose file in") && err.contains("hint:"), "{err}");
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// Starts `harness check` on `stack_dir`, waits for the boot board's first container, and
/// returns the child and the compose project it is booting.
fn start_check_until_created(
    stack_dir: &str,
    envs: &[(&str, &str)],
) -> (std::process::Child, String, std::sync::Arc<std::sync::Mutex<String>>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "check",
            stack(stack_dir).to_str().expect("utf-8"),
            "--report-dir",
            report_dir("interrupted").to_str().expect("utf-8"),
        ])
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start harness");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut project = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        if let Some(rest) = line.split("] booting hx").nth(1) {
            project = format!("hx{}", rest.split(':').next().unwrap_or_default());
        }
        if line.contains(": created at ") {
            break;
        }
    }
    assert!(!project.is_empty(), "the boot started");
    // Keep draining stderr (the child must never block on a full pipe), for the asserts.
    let rest = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = rest.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(mut r) = sink.lock() {
                r.push_str(&line);
                r.push('\n');
            }
        }
    });
    (child, project, rest)
}

fn wait_exit(child: &mut std::process::Child, limit: std::time::Duration) -> i32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(start.elapsed() < limit, "harness did not exit within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What the engine still holds for a compose project (containers, networks, volumes),
/// counted by the same labelled listing the harness's teardown uses.
/// The project a `check` named on stdout (`stack ... (project NAME)`) left nothing behind.
#[track_caller]
fn assert_nothing_left_by(stdout: &str) {
    let project = stdout.split("(project ").nth(1).and_then(|r| r.split(')').next()).expect("project named");
    assert_eq!(leftovers(project), harness::engine::teardown::Removed::default(), "{project} left resources");
}

fn leftovers(project: &str) -> harness::engine::teardown::Removed {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let docker = harness::engine::connect().await.expect("engine reachable");
        harness::engine::teardown::count_labelled(&docker, &format!("com.docker.compose.project={project}"))
            .await
            .expect("count resources")
    })
}

/// A panic inside a check (armed through the `helper::running` fault point, while the
/// network probe's helper container runs) is a harness bug, not a verdict: exit 2 with a
/// message that says so, and the stack and the helper are removed as the panic unwinds.
#[test]
fn a_panic_inside_a_check_exits_2_and_leaves_nothing() {
    let dir = stack("suites/stacks/tiny");
    let reports = report_dir("panic");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", dir.to_str().expect("utf-8 path"), "--only", "network", "--report-dir"])
        .arg(&reports)
        .env("FAILPOINTS", "helper::running=panic(injected by the test)")
        .output()
        .expect("run harness");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("error: the harness panicked: injected by the test"), "{stderr}");
    assert!(stderr.contains("a bug in the harness, not a verdict"), "{stderr}");
    assert_nothing_left_by(&stdout);
}

/// Ctrl-C during boot: exit 2 (nothing was judged), and the stack is gone.
#[test]
fn ctrl_c_during_boot_exits_2_and_leaves_nothing() {
    let (mut child, project, stderr) = start_check_until_created("compose/reference", &[]);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    let code = wait_exit(&mut child, std::time::Duration::from_secs(60));
    let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(code, 2, "an interrupted run could not judge: {err}");
    assert!(err.contains("interrupted by SIGINT: nothing was judged (exit 2)"), "{err}");
    assert_eq!(leftovers(&project), harness::engine::teardown::Removed::default(), "{project} removed");
    // Its work directory too: the exit after a signal runs no destructor.
    let left = harness::engine::teardown::workdirs_of(child.id());
    assert!(left.is_empty(), "work directories left: {left:?}");
}

/// The engine goes away mid-boot: exit 2 with a message that names the engine and what
/// to do; what the run created is removed by the reaper once the engine is back.
#[test]
fn an_engine_that_goes_away_mid_run_exits_2_and_is_reaped_after() {
    let sock = tempfile_dir("relays").join(format!("engine-gone-{}.sock", std::process::id()));
    let relay = harness_cli::relay::Relay::start(&sock).expect("bind relay socket");
    let host = relay.docker_host();
    let (mut child, project, stderr) =
        start_check_until_created("compose/reference", &[("DOCKER_HOST", host.as_str())]);
    relay.cut();
    let code = wait_exit(&mut child, std::time::Duration::from_secs(120));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(code, 2, "losing the engine means the harness could not judge: {err}");
    assert!(err.contains("lost the docker engine") || err.contains("cannot reach the docker engine"), "{err}");
    assert!(err.contains("harness reap"), "says how to clean up: {err}");
    // The engine is back (the real socket): the reaper removes what the dead run left.
    let (code, out, err) = harness(&["reap"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(leftovers(&project), harness::engine::teardown::Removed::default(), "{project} reaped: {out}");
}

/// Whether the engine is in a swarm, and whose.
fn swarm_membership(runtime: &tokio::runtime::Runtime) -> harness::engine::swarm::Membership {
    runtime.block_on(async {
        let docker = harness::engine::connect().await.expect("engine reachable");
        harness::engine::swarm::membership(&docker).await.expect("membership")
    })
}

/// A `check --engine swarm` SIGKILLed as soon as its stack is deployed: no handler runs,
/// so the services, their task containers, networks, volumes and secrets stay, and so does
/// the swarm the run started. The next `harness reap` removes all of it and leaves the
/// swarm (its node carries the dead run's owner labels).
#[test]
fn a_swarm_run_killed_with_sigkill_is_reaped_and_its_swarm_left() {
    use std::io::BufRead;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let membership = || swarm_membership(&runtime);
    let was_inactive = membership() == harness::engine::swarm::Membership::Inactive;
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", "--engine", "swarm", stack("suites/stacks/tiny").to_str().expect("utf-8"), "--report-dir"])
        .arg(report_dir("swarm-sigkill"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start harness");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut name = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        // Printed once `docker stack deploy` has returned: the services exist.
        if let Some(rest) = line.split("] booting hx").nth(1) {
            name = format!("hx{}", rest.split(':').next().unwrap_or_default());
            break;
        }
    }
    assert!(!name.is_empty(), "the deploy started");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped by the test");
    let left = |name: &str| {
        runtime.block_on(async {
            let docker = harness::engine::connect().await.expect("engine reachable");
            let label = format!("{}={name}", harness::engine::swarm::STACK_NAMESPACE);
            harness::engine::teardown::count_labelled(&docker, &label).await.expect("count resources")
        })
    };
    assert!(left(&name).services > 0, "SIGKILL runs no handler: the services are still there");
    let (code, out, err) = harness(&["reap"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(left(&name), harness::engine::teardown::Removed::default(), "{name} reaped: {out}{err}");
    if was_inactive {
        assert_eq!(membership(), harness::engine::swarm::Membership::Inactive, "the dead run's swarm is left: {err}");
        let bridge = runtime.block_on(async {
            let docker = harness::engine::connect().await.expect("engine reachable");
            docker.inspect_network(harness::engine::swarm::GWBRIDGE, None).await.is_ok()
        });
        assert!(!bridge, "docker_gwbridge, which a swarm leave leaves behind, is removed too");
    }
}

/// Issue 12's bad input: `--engine swarm` on an engine that cannot start a swarm. Swarm's
/// manager port on 127.0.0.1 (2377, where the harness's single-node swarm listens) is held
/// by this test, so the engine's own `swarm init` fails: exit 2, naming the engine's reason
/// and the port, with nothing deployed, nothing left and the engine still in no swarm.
#[test]
fn swarm_init_that_fails_exits_2_naming_why() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let membership = || swarm_membership(&runtime);
    if membership() != harness::engine::swarm::Membership::Inactive {
        eprintln!("skipped: this engine is already in a swarm, so the harness would not start one");
        return;
    }
    let held = std::net::TcpListener::bind("127.0.0.1:2377").expect("port 2377 free on an engine in no swarm");
    let (code, out, err) =
        harness(&["check", "--engine", "swarm", stack("suites/stacks/tiny").to_str().expect("utf-8")]);
    drop(held);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("swarm setup failed: cannot start a swarm on this engine") && err.contains("2377"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!out.contains("PASS") && !err.contains("booting hx"), "nothing was deployed or judged: {out}{err}");
    assert_eq!(membership(), harness::engine::swarm::Membership::Inactive, "no swarm is left half-started: {err}");
}

/// Nightly (issue 12's seeds on Swarm): ZViewer's production stack (004, main-server at
/// `replicas: 2` behind nginx) deployed with `--engine swarm`. The fixed variant passes
/// balance, replica loss and rolling update; the seed as the document wrote it spreads its
/// answers evenly too, but its nginx passes `/api/auth/ready` to a route main-server does
/// not have (404), so the changes have no answering stack to judge: not judged, with that
/// reason, never passed. Pinned here rather than in suites/expect, whose pins are compose's.
#[test]
fn nightly_zviewer_prod_on_swarm_is_judged_on_balance_replica_loss_and_rolling_update() {
    let only = "gateway.balance,availability.replica_loss,availability.rolling_update";
    let pinned = |stack_dir: &str, expected: &[(&str, &str)], code_wanted: i32| {
        let reports = report_dir("zviewer-swarm");
        let (code, out, err) = harness(&[
            "check",
            "--engine",
            "swarm",
            stack(stack_dir).to_str().expect("utf-8"),
            "--only",
            only,
            "--boot-timeout",
            "240s",
            "--report-dir",
            reports.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, code_wanted, "{out}{err}");
        for (word, line) in expected {
            assert!(out.lines().any(|l| l.starts_with(&format!("{word} {line}"))), "`{word} {line}` in:\n{out}");
        }
        assert!(err.contains("left the swarm") || !err.contains("starting a single-node swarm"), "{err}");
    };
    pinned(
        "compose/seeds/zviewer-prod/fixed",
        &[
            ("PASS", "gateway.balance main-server: 2 replica(s)"),
            ("PASS", "availability.replica_loss main-server: 100.00% ok"),
            ("PASS", "availability.rolling_update main-server: 100.00% ok"),
        ],
        0,
    );
    pinned(
        "compose/seeds/zviewer-prod",
        &[
            ("PASS", "gateway.balance main-server: 2 replica(s)"),
            ("SKIP", "availability.replica_loss main-server: not judged: the stack did not answer /api/auth/ready"),
            ("SKIP", "availability.rolling_update main-server: not judged: the stack did not answer /api/auth/ready"),
        ],
        2,
    );
}
