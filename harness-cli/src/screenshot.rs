//! Renders a report's HTML to PNG in headless Chromium.
//!
//! The report is one self-contained HTML file (inline CSS and SVG), and a PNG of it is the
//! artifact that proves it renders. Chromium comes from Debian's packages through
//! `fixtures/provision.sh chromium`, run on first use like the other host tools; it is
//! opt-in there because it is large and no boot needs it.
//!
//! Chromium is kept off the network entirely: the report must not need it, CI hosts may
//! have none, and a browser that phones home makes render time depend on the network.
//! Its exit code proves nothing (it exits 0 when the page fails to load and no screenshot
//! is written), so success is judged from the PNG itself: it exists, is a PNG, and has the
//! asked size.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::OnceCell;

use harness::errors::{Error, Result, tail_lines};

/// Names Debian (`chromium`) and other distributions (`chromium-browser`) install under.
const CHROMIUM_NAMES: [&str; 2] = ["chromium", "chromium-browser"];
/// A one-page render takes about a second warm; a minute means it hangs, not that it is slow.
const RENDER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for stderr to close once chromium has exited or been killed: a helper
/// that escaped its process group must not hold the caller forever.
const STDERR_GRACE: Duration = Duration::from_secs(5);
/// Lines of chromium's stderr quoted in an error.
const STDERR_TAIL_LINES: usize = 3;
/// What Chromium logs when fontconfig offers it no font at all (seen with 156 on bookworm).
const NO_FONT_MARKER: &str = "Could not find any font";

/// Chromium on PATH under any of the names Debian and others give it, without installing.
pub(crate) fn find_chromium() -> Option<PathBuf> {
    find_on_path(&CHROMIUM_NAMES, &std::env::var_os("PATH").unwrap_or_default())
}

/// Finds chromium on PATH, installing Debian's package with `fixtures/provision.sh chromium`
/// if it is not there. Runs the check once per process.
pub async fn ensure_chromium() -> Result<PathBuf> {
    static CHROMIUM: OnceCell<PathBuf> = OnceCell::const_new();
    CHROMIUM
        .get_or_try_init(|| async {
            if let Some(found) = find_chromium() {
                return Ok(found);
            }
            harness::engine::provision::run_script(&["chromium"], "chromium for report screenshots").await?;
            find_chromium().ok_or_else(|| Error::Provision {
                detail: format!(
                    "neither {} is on PATH after `fixtures/provision.sh chromium`",
                    CHROMIUM_NAMES.join(" nor ")
                ),
                hint: "install Debian's packages by hand with `apt-get install --no-install-recommends chromium fonts-dejavu-core`, or put chromium on PATH".into(),
            })
        })
        .await
        .cloned()
}

/// Renders `html` at `width`×`height` CSS pixels into `png` and returns how long chromium
/// took, from launch to exit. Any PNG already at `png` is replaced.
pub async fn screenshot(html: &Path, png: &Path, width: u32, height: u32) -> Result<Duration> {
    // Chromium answers a missing page with "page load failed" on stderr and exit 0; say so
    // here, with the path, rather than later as "no screenshot written".
    tokio::fs::metadata(html).await.map_err(|e| Error::io("cannot read the report to screenshot", html, e))?;
    let chromium = ensure_chromium().await?;
    // Chromium resolves relative paths against its own working directory, and the page
    // must be a URL; make both absolute so the caller's view of the paths is the one used.
    let html = std::path::absolute(html).map_err(|e| Error::io("cannot resolve the report path", html, e))?;
    let png = std::path::absolute(png).map_err(|e| Error::io("cannot resolve the screenshot path", png, e))?;
    if let Some(dir) = png.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::io("cannot create the screenshot directory", dir, e))?;
    }
    // A stale PNG from an earlier run would pass every check below after a failed render.
    match tokio::fs::remove_file(&png).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("cannot replace the old screenshot", &png, e));
        }
        _ => {}
    }
    let profile = profile_dir()?;
    let mut cmd = headless(&chromium, profile.path());
    cmd.args(screenshot_args(&png, width, height)).arg(file_url(&html));
    let started = Instant::now();
    let run = run_with_deadline(cmd, &chromium, RENDER_TIMEOUT).await?;
    let took = started.elapsed();
    let stderr = stderr_tail(&run.stderr);
    tracing::debug!(chromium = %chromium.display(), took = ?took, stderr = %run.stderr, "chromium finished");

    let fail = |detail: String| Error::io("chromium did not render a screenshot", &png, std::io::Error::other(detail));
    match run.status {
        None => {
            return Err(fail(format!(
                "chromium did not finish within {RENDER_TIMEOUT:?} and was killed; last stderr: {stderr} (hint: open {} in a browser and look for a script that never ends)",
                html.display()
            )));
        }
        Some(status) if !status.success() => {
            return Err(fail(format!(
                "chromium exited with {status}; last stderr: {stderr} (hint: run {} --headless --screenshot by hand to see the whole output)",
                chromium.display()
            )));
        }
        Some(_) => {}
    }
    // With no font at all Chromium still writes a PNG of the right size, only without a
    // single glyph; this line on stderr is the one sign of it.
    if run.stderr.contains(NO_FONT_MARKER) {
        return Err(fail(
            "chromium found no font, so the page rendered without text (hint: install Debian's fonts-dejavu-core, e.g. with `fixtures/provision.sh chromium`)".into(),
        ));
    }
    let bytes = match tokio::fs::read(&png).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "chromium exited 0 but wrote no file; last stderr: {stderr} (hint: a page that fails to load is not an error to chromium; check that {} opens in a browser)",
                html.display()
            )));
        }
        Err(e) => return Err(Error::io("cannot read the screenshot", &png, e)),
    };
    match png_size(&bytes) {
        None => Err(fail(format!("the file is not a PNG ({} bytes); last stderr: {stderr}", bytes.len()))),
        Some(size) if size != (width, height) => Err(fail(format!(
            "the PNG is {}x{}, asked for {width}x{height} (hint: a device scale factor other than 1 multiplies the size; check the chromium flags)",
            size.0, size.1
        ))),
        Some(_) => Ok(took),
    }
}

/// The page's DOM after Chromium loaded it and ran whatever it would run: how a test proves
/// that text a stack controls never became script in a report (a script that ran changes
/// what this returns, e.g. the title). Off the network like every render.
pub async fn rendered_dom(html: &Path) -> Result<String> {
    tokio::fs::metadata(html).await.map_err(|e| Error::io("cannot read the page to load", html, e))?;
    let chromium = ensure_chromium().await?;
    let html = std::path::absolute(html).map_err(|e| Error::io("cannot resolve the page path", html, e))?;
    let profile = profile_dir()?;
    let mut cmd = headless(&chromium, profile.path());
    cmd.arg("--dump-dom").arg(file_url(&html));
    let run = run_with_deadline(cmd, &chromium, RENDER_TIMEOUT).await?;
    match run.status {
        Some(status) if status.success() && !run.stdout.is_empty() => Ok(run.stdout),
        other => Err(Error::io(
            "chromium did not load the page",
            &html,
            std::io::Error::other(format!(
                "{}; last stderr: {}",
                other.map_or_else(|| format!("killed after {RENDER_TIMEOUT:?}"), |s| format!("exited with {s}")),
                stderr_tail(&run.stderr)
            )),
        )),
    }
}

/// A throwaway profile directory: Chromium locks its profile, so concurrent renders sharing
/// one would hand the page to the first browser and exit; nothing is left in $HOME.
fn profile_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("harness-chromium-")
        .tempdir()
        .map_err(|e| Error::io("cannot create a chromium profile directory", std::env::temp_dir(), e))
}

/// Chromium with the flags every headless launch shares, before the page's own arguments.
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    // Debian's wrapper adds the caller's CHROMIUM_FLAGS to every launch; a developer's
    // desktop flags have no place in a render that must look the same on CI.
    cmd.env_remove("CHROMIUM_FLAGS");
    cmd.args(headless_args(profile));
    cmd
}

/// The arguments that make a launch a screenshot of `width`×`height` into `png`.
fn screenshot_args(png: &Path, width: u32, height: u32) -> Vec<OsString> {
    let mut screenshot = OsString::from("--screenshot=");
    screenshot.push(png);
    vec![screenshot, format!("--window-size={width},{height}").into()]
}

/// What every headless launch shares: off the network, no profile of the user's, the same
/// pixels on every host.
fn headless_args(profile: &Path) -> Vec<OsString> {
    let mut user_data_dir = OsString::from("--user-data-dir=");
    user_data_dir.push(profile);
    vec![
        // No display on CI hosts. This is Chromium's current headless mode, the full browser
        // without a window (the old separate headless shell left Chromium in version 132).
        "--headless".into(),
        // CI runs as root and Chromium refuses to sandbox as root; the page is our own file.
        "--no-sandbox".into(),
        // CI hosts have no GPU; software rendering also gives the same pixels everywhere.
        "--disable-gpu".into(),
        // A scrollbar would take pixels from the page and appear only for long reports.
        "--hide-scrollbars".into(),
        // PNG pixels are CSS pixels, so the size check holds on a HiDPI desktop too.
        "--force-device-scale-factor=1".into(),
        // Docker gives containers a 64 MB /dev/shm, too small for Chromium on large pages.
        // Debian's wrapper means to add this when /dev/shm is small, but its check breaks
        // when /dev/shm is mounted twice (it then prints "[: ...: unexpected operator").
        "--disable-dev-shm-usage".into(),
        // A throwaway profile: Chromium locks its profile, so concurrent renders sharing
        // one would hand the page to the first browser and exit; nothing is left in $HOME.
        user_data_dir,
        // The first-run setup and default apps are for people; they only add startup work.
        "--no-first-run".into(),
        "--disable-default-apps".into(),
        // Debian's wrapper turns on remote extensions and loads the system extension
        // directory; no extension has a place in a report render.
        "--disable-extensions".into(),
        // Each of these stops a background fetch: update pings and variations, component
        // downloads (CRLSets, Safe Browsing lists), and account sync.
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        // The backstop: every host name fails to resolve, so nothing the browser or the
        // page asks for leaves the machine, and a report that wrongly links a remote asset
        // renders at once without it instead of waiting on the network.
        "--host-resolver-rules=MAP * ~NOTFOUND".into(),
    ]
}

/// Width and height from a PNG's header, or `None` if `bytes` does not start like a PNG.
///
/// A PNG is an 8-byte signature followed by the IHDR chunk: a 4-byte length (13), the type
/// `IHDR`, then width and height as big-endian u32s. Zero is not a valid dimension.
pub(crate) fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    let header = bytes.get(..24)?;
    if header[..8] != SIGNATURE || header[8..12] != 13u32.to_be_bytes() || &header[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(header[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(header[20..24].try_into().ok()?);
    (width > 0 && height > 0).then_some((width, height))
}

/// The first executable file named one of `names` in the directories of `path` (a PATH
/// value), trying every name in a directory before the next directory, as a shell would.
fn find_on_path(names: &[&str], path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).filter(|dir| !dir.as_os_str().is_empty()).find_map(|dir| {
        names.iter().map(|name| dir.join(name)).find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// A `file://` URL for an absolute path. Everything but unreserved characters and `/` is
/// percent-encoded, so spaces, `#` and `?` in a report directory stay part of the path.
fn file_url(path: &Path) -> String {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(char::from(b));
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

/// The last lines of chromium's stderr that say something. Without a system bus (any
/// container, most CI hosts) Chromium logs a dozen D-Bus connection errors per run; they
/// never explain a failed render and would push the real reason out of the tail.
fn stderr_tail(stderr: &str) -> String {
    let kept: Vec<&str> = stderr.lines().filter(|line| !line.contains(":ERROR:dbus/")).collect();
    tail_lines(&kept.join("\n"), STDERR_TAIL_LINES)
}

/// What a run under a deadline left: its exit status (`None` if it was killed at the
/// deadline) and its stderr.
#[derive(Debug)]
struct Run {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` in a process group of its own with stderr captured, and kills the whole
/// group at `deadline`. Chromium forks a zygote, renderers and a crash handler; killing
/// only the browser could leave a hung renderer behind.
async fn run_with_deadline(mut cmd: Command, program: &Path, deadline: Duration) -> Result<Run> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| Error::Spawn {
        program: program.display().to_string(),
        hint: "reinstall Debian's chromium package, or run `fixtures/provision.sh chromium`".into(),
        source: e,
    })?;
    let pid = child.id();
    // Read both pipes while the process runs: a full pipe would block chromium mid-render.
    fn drain(
        pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
    ) -> Option<tokio::task::JoinHandle<Vec<u8>>> {
        pipe.map(|mut pipe| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf).await;
                buf
            })
        })
    }
    let out_reader = drain(child.stdout.take());
    let reader = drain(child.stderr.take());
    let status = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => return Err(Error::io("cannot wait for chromium", program, e)),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            // Also reaps it; an error here only means it is already gone.
            let _ = child.kill().await;
            None
        }
    };
    async fn collect(reader: Option<tokio::task::JoinHandle<Vec<u8>>>) -> String {
        match reader {
            Some(task) => match tokio::time::timeout(STDERR_GRACE, task).await {
                Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
                Ok(Err(_)) | Err(_) => String::new(),
            },
            None => String::new(),
        }
    }
    let (stdout, stderr) = tokio::join!(collect(out_reader), collect(reader));
    Ok(Run { status, stdout, stderr })
}

/// Sends SIGKILL to the process group `pgid`; if that fails the caller still kills the
/// leader, and its helpers notice their parent is gone.
fn kill_group(pgid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let killed = i32::try_from(pgid).ok().is_some_and(|g| killpg(Pid::from_raw(g), Signal::SIGKILL).is_ok());
    if !killed {
        tracing::warn!(pgid, "could not kill chromium's process group; killing the browser only");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG header: signature, IHDR length and type, width, height, then the rest of IHDR.
    fn header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13];
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 2, 0, 0, 0]);
        bytes
    }

    #[track_caller]
    fn check_png(bytes: &[u8], expected: Option<(u32, u32)>) {
        assert_eq!(png_size(bytes), expected);
    }

    #[test]
    fn png_size_reads_ihdr() {
        check_png(&header(1280, 800), Some((1280, 800)));
        check_png(&header(1, u32::MAX), Some((1, u32::MAX)));
        // Exactly signature + IHDR dimensions is enough; the rest of the file is not read.
        check_png(&header(640, 480)[..24], Some((640, 480)));
    }

    #[test]
    fn png_size_rejects_what_is_not_a_png_header() {
        check_png(b"", None);
        check_png(&header(640, 480)[..23], None);
        check_png(b"<!doctype html><html><body>not a png</body></html>", None);
        let mut jpeg = header(640, 480);
        jpeg[..3].copy_from_slice(&[0xff, 0xd8, 0xff]);
        check_png(&jpeg, None);
        let mut other_chunk = header(640, 480);
        other_chunk[12..16].copy_from_slice(b"gAMA");
        check_png(&other_chunk, None);
        let mut long_ihdr = header(640, 480);
        long_ihdr[11] = 14;
        check_png(&long_ihdr, None);
        check_png(&header(0, 480), None);
        check_png(&header(640, 0), None);
    }

    #[track_caller]
    fn check_url(path: &str, expected: &str) {
        assert_eq!(file_url(Path::new(path)), expected);
    }

    #[test]
    fn file_url_escapes_what_a_url_would_misread() {
        check_url("/tmp/report.html", "file:///tmp/report.html");
        check_url("/tmp/run 1/report#2?.html", "file:///tmp/run%201/report%232%3F.html");
        check_url("/tmp/r%c/é.html", "file:///tmp/r%25c/%C3%A9.html");
    }

    #[track_caller]
    fn check_tail(stderr: &str, expected: &str) {
        assert_eq!(stderr_tail(stderr), expected);
    }

    #[test]
    fn stderr_tail_drops_dbus_noise() {
        let dbus = "[1:2:1122/055024.166826:ERROR:dbus/bus.cc:405] Failed to connect to the bus: no socket\n";
        let failed = "[1:1:1122/055037.586383:ERROR:components/headless/command_handler/headless_command_handler.cc:403] Page load failed: net::ERR_FILE_NOT_FOUND";
        check_tail(&format!("{dbus}{failed}\n{dbus}{dbus}"), failed);
        check_tail(&format!("a\n{dbus}b\nc\nd\n{dbus}"), "b | c | d");
        check_tail(dbus, "(no output)");
    }

    #[test]
    fn find_on_path_takes_the_first_executable_in_path_order() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let (first, second) = (root.path().join("first"), root.path().join("second"));
        for dir in [&first, &second] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        let put = |path: PathBuf, mode: u32| {
            std::fs::write(&path, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            path
        };
        put(first.join("chromium"), 0o644);
        let browser = put(first.join("chromium-browser"), 0o755);
        put(second.join("chromium"), 0o755);
        let path = std::env::join_paths([&first, &second]).expect("join");
        assert_eq!(find_on_path(&CHROMIUM_NAMES, &path), Some(browser), "a non-executable file is skipped");
        assert_eq!(find_on_path(&["chromium"], &path), Some(second.join("chromium")));
        assert_eq!(find_on_path(&["chromium"], std::ffi::OsStr::new("")), None);
    }

    #[tokio::test]
    async fn screenshot_deadline_kills_the_whole_process_group() {
        // A leader that forks a helper and hangs, as a stuck chromium would.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 60 & echo \"helper $!\" >&2; wait"]);
        let started = Instant::now();
        // 2 s: long enough for the shell to start its helper and say so even on a loaded
        // machine (at 300 ms it sometimes had not, and the test found no pid to check).
        let run = run_with_deadline(cmd, Path::new("sh"), Duration::from_secs(2)).await.expect("run");
        assert!(run.status.is_none(), "not killed: {run:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        let helper = run.stderr.trim().strip_prefix("helper ").expect("helper pid on stderr");
        // Killed means gone, or a zombie waiting for init to reap it. A SIGKILL takes effect
        // when the process is next scheduled: allow it a moment on a loaded machine.
        let mut state = String::new();
        for _ in 0..50 {
            let stat = std::fs::read_to_string(format!("/proc/{helper}/stat")).unwrap_or_default();
            state = stat.rsplit(") ").next().unwrap_or_default().to_owned();
            if state.is_empty() || state.starts_with('Z') {
                break;
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        assert!(state.is_empty() || state.starts_with('Z'), "helper {helper} still runs: {state}");
    }

    /// The detector the hostile-text test relies on: a page whose script runs changes the
    /// title Chromium reports, and the same script shown as escaped text does not.
    #[tokio::test]
    async fn rendered_dom_shows_whether_a_script_ran() {
        let dir = tempfile::tempdir().expect("tempdir");
        let page = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(
                &path,
                format!("<!DOCTYPE html><html><head><title>clean</title></head><body>{body}</body></html>"),
            )
            .expect("write page");
            path
        };
        let ran = rendered_dom(&page("ran.html", "<script>document.title='pwned'</script>")).await.expect("loads");
        assert!(ran.contains("<title>pwned</title>"), "{ran}");
        let shown = rendered_dom(&page("shown.html", "&lt;script&gt;document.title='pwned'&lt;/script&gt;"))
            .await
            .expect("loads");
        assert!(shown.contains("<title>clean</title>"), "{shown}");
    }

    #[tokio::test]
    async fn screenshot_of_a_missing_page_names_the_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let html = dir.path().join("absent.html");
        let err = screenshot(&html, &dir.path().join("absent.png"), 100, 100).await.expect_err("no page");
        assert!(err.to_string().contains("absent.html"), "{err}");
    }
}
