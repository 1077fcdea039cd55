//! Benchmarks of the boot path: figures and ratios, never pass/fail timings.
//!
//! - [`versus_compose_wait`]: the harness's boot-to-verdict against plain
//!   `docker compose up -d --wait` on the same stack, alternating, medians and ratio.
//! - [`ready_accuracy`]: with slow healthcheck intervals, how far the harness's ready times
//!   are from an independent watcher that runs each healthcheck every 100 ms.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::Mutex;

use harness::boot::readiness;
use harness::boot::stack::{Stack, StackConfig};
use harness::engine::labels;
use harness::engine::teardown::{self, Guard};
use harness::errors::Result;
use harness::judge::startup;
use harness::units::secs;

/// The median of a set of durations (the mean of the middle two for an even count).
pub fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

#[derive(Debug, Clone, Default)]
pub struct VersusReport {
    pub harness: Vec<Duration>,
    pub compose_wait: Vec<Duration>,
}

impl VersusReport {
    pub fn ratio(&self) -> f64 {
        median(&self.harness).as_secs_f64() / median(&self.compose_wait).as_secs_f64().max(f64::EPSILON)
    }
}

impl std::fmt::Display for VersusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[Duration]| v.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(" ");
        writeln!(f, "harness boot-to-verdict   runs: {}", list(&self.harness))?;
        writeln!(f, "compose up -d --wait      runs: {}", list(&self.compose_wait))?;
        writeln!(
            f,
            "median harness {}  median compose --wait {}",
            secs(median(&self.harness)),
            secs(median(&self.compose_wait))
        )?;
        write!(f, "ratio harness/compose = {:.3} (target <= 1.10)", self.ratio())
    }
}

/// Alternates harness boots and `compose up -d --wait`, `runs` times each. Teardown is
/// not timed. Each side starts from created-nothing, with images already built.
pub async fn versus_compose_wait(cfg: &StackConfig, runs: usize) -> Result<VersusReport> {
    let mut report = VersusReport::default();
    // One untimed boot first, so image builds and first-run caches do not land in run 1.
    Stack::boot(cfg.clone().with_name("bench-warmup")).await?.down().await?;
    for i in 0..runs {
        let started = Instant::now();
        let stack = Stack::boot(cfg.clone().with_name(&format!("bench-harness-{i}"))).await?;
        let verdicts = startup::judge(&stack.timeline, &startup::Budgets::uniform(startup::DEFAULT_BUDGET));
        let took = started.elapsed();
        report.harness.push(took);
        eprintln!("bench: harness run {} {} ({} verdicts)", i + 1, secs(took), verdicts.len());
        stack.down().await?;

        let prepared = Stack::prepare(&cfg.clone().with_name(&format!("bench-compose-{i}"))).await?;
        let guard = Guard::register(&prepared.project.project);
        let started = Instant::now();
        prepared.project.run(&["up", "-d", "--wait", "--no-build"]).await?;
        let took = started.elapsed();
        report.compose_wait.push(took);
        eprintln!("bench: compose --wait run {} {}", i + 1, secs(took));
        drop(guard);
    }
    Ok(report)
}

/// Per service, the harness's ready time minus the independent watcher's.
#[derive(Debug, Clone, Default)]
pub struct AccuracyReport {
    /// (service, harness ready, reference ready, harness minus reference in seconds)
    pub rows: Vec<(String, Duration, Duration, f64)>,
    pub stack_healthy: Vec<Duration>,
}

impl AccuracyReport {
    pub fn worst(&self) -> f64 {
        self.rows.iter().map(|r| r.3.abs()).fold(0.0, f64::max)
    }
}

impl std::fmt::Display for AccuracyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<12} {:>9} {:>11} {:>9}", "service", "harness", "reference", "delta")?;
        for (svc, h, r, d) in &self.rows {
            writeln!(f, "{svc:<12} {:>9} {:>11} {:>+8.3}s", secs(*h), secs(*r), d)?;
        }
        let healthy: Vec<String> = self.stack_healthy.iter().map(|d| secs(*d)).collect();
        writeln!(f, "Docker reported the stack healthy at: {}", healthy.join(" "))?;
        write!(f, "worst |delta| = {:.3}s (target <= 0.500s)", self.worst())
    }
}

/// Boots `runs` times and compares each service's ready time with a reference watcher.
pub async fn ready_accuracy(cfg: &StackConfig, runs: usize) -> Result<AccuracyReport> {
    let mut report = AccuracyReport::default();
    for i in 0..runs {
        let cfg = cfg.clone().with_name(&format!("bench-accuracy-{i}"));
        let prepared = Stack::prepare(&cfg).await?;
        let reference: std::sync::Arc<Mutex<BTreeMap<String, SystemTime>>> = Default::default();
        let watcher = tokio::spawn(watch(prepared.project.project.clone(), reference.clone()));
        let stack = prepared.start(&cfg).await?;
        watcher.abort();
        let t0 = stack.timeline.t0.unwrap_or(SystemTime::UNIX_EPOCH);
        let reference = reference.lock().await.clone();
        for (svc, s) in &stack.timeline.services {
            let (Some(ready), Some(r)) = (s.ready, reference.get(svc)) else { continue };
            let r = r.duration_since(t0).unwrap_or_default();
            report.rows.push((svc.clone(), ready, r, ready.as_secs_f64() - r.as_secs_f64()));
        }
        report.stack_healthy.extend(stack.timeline.stack_healthy());
        eprintln!("bench: accuracy run {} done, stack healthy at {:?}", i + 1, stack.timeline.stack_healthy());
        stack.down().await?;
    }
    Ok(report)
}

/// The independent watcher: its own events subscription and its own 100 ms pollers.
async fn watch(project: String, out: std::sync::Arc<Mutex<BTreeMap<String, SystemTime>>>) {
    let Ok(docker) = harness::engine::connect().await else { return };
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("event".to_owned(), vec!["start".to_owned()]),
        ("label".to_owned(), vec![format!("{}={project}", labels::COMPOSE_PROJECT)]),
    ]);
    let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
    let mut tasks = Vec::new();
    while let Some(Ok(ev)) = events.next().await {
        let Some(actor) = ev.actor else { continue };
        let attrs = actor.attributes.unwrap_or_default();
        let (Some(service), Some(id)) = (attrs.get(labels::COMPOSE_SERVICE).cloned(), actor.id) else { continue };
        let docker = docker.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            // The reference watcher looks four times as often as the harness's boot; the boot
            // it watches is bounded by its own timeout, and this task is aborted with it.
            let w = readiness::Wait::new(readiness::WaitFor::Ready, StackConfig::new(".").boot_timeout)
                .with_cadence(Duration::from_millis(100))
                .with_probe_timeout(Duration::from_secs(5));
            if let Ok(waited) = readiness::wait(&docker, &id, &w, |_| {}).await {
                out.lock().await.entry(service).or_insert(waited.at);
            }
        }));
    }
    drop(tasks);
}

/// Removes every stack this process booted for benchmarking (they are removed one by one
/// already; this is for an interrupted bench, called by the CLI before it exits).
pub async fn cleanup() -> Result<()> {
    let docker = harness::engine::connect().await?;
    let run = labels::RunIdentity::current();
    teardown::remove_labelled(&docker, &format!("{}={}", labels::RUN_ID, run.run_id)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_report_files_are_anything_but_the_report_forms() {
        let base = tempfile::tempdir().expect("tempdir");
        let run = base.path().join("a1b2");
        std::fs::create_dir(&run).expect("mkdir");
        for f in ["report.json", "report.md", "report.html", "junit.xml", "report.png", ".tmpXy12"] {
            std::fs::write(run.join(f), "x").expect("write");
        }
        std::fs::write(base.path().join(".tmpAb34"), "").expect("write");
        assert_eq!(stray_files(base.path()), [".tmpAb34", "a1b2/.tmpXy12"]);
        assert!(stray_files(&base.path().join("nowhere")).is_empty());
    }

    fn s(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|ms| Duration::from_millis(*ms)).collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&s(&[5, 1, 3])), Duration::from_millis(3));
        assert_eq!(median(&s(&[4, 1, 3, 2])), Duration::from_micros(2500));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn ratio_compares_medians() {
        let r = VersusReport { harness: s(&[5_500, 5_000, 5_200]), compose_wait: s(&[5_000, 4_900, 5_100]) };
        assert!((r.ratio() - 1.04).abs() < 1e-9, "{}", r.ratio());
        assert!(r.to_string().contains("ratio harness/compose = 1.040"));
    }

    #[test]
    fn worst_delta_is_absolute() {
        let r = AccuracyReport {
            rows: vec![
                ("a".into(), Duration::ZERO, Duration::ZERO, 0.2),
                ("b".into(), Duration::ZERO, Duration::ZERO, -0.3),
            ],
            stack_healthy: vec![],
        };
        assert!((r.worst() - 0.3).abs() < 1e-9);
    }
}

/// Repeated wall times of one operation against its target.
#[derive(Debug, Clone)]
pub struct TimedReport {
    pub what: String,
    pub times: Vec<Duration>,
    pub target: Duration,
}

impl std::fmt::Display for TimedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = median(&self.times);
        let max = self.times.iter().max().copied().unwrap_or_default();
        write!(
            f,
            "{}: median {} max {} over {} runs; target {}, median/target ratio {:.3}",
            self.what,
            secs(m),
            secs(max),
            self.times.len(),
            secs(self.target),
            m.as_secs_f64() / self.target.as_secs_f64()
        )
    }
}

/// Times `runs` lints of `stack` (compose resolves the file, the engine is asked for
/// image config; no boot), against the 2 s target.
pub async fn lint(stack: &std::path::Path, runs: usize) -> Result<TimedReport> {
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        harness::judge::lint::lint_stack(stack).await?;
        times.push(t.elapsed());
    }
    Ok(TimedReport { what: format!("lint {}", stack.display()), times, target: Duration::from_secs(2) })
}

/// A scratch stack with `n` services for the lint benchmark: hardened services on four
/// recipe images (on the engine once `harness images` ran), every tenth built from a small
/// Dockerfile FROM one of them, on three networks, with a volume each tenth service.
pub fn many_services(n: usize) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().map_err(|e| harness::Error::io("create a scratch directory", "/tmp", e))?;
    let images =
        ["harness/app:0.1.0", "harness/redis:7.0-bookworm", "harness/nginx:1.22-bookworm", "harness/probe:0.1.0"];
    let mut yaml = String::from("services:\n");
    for i in 0..n {
        let image = images[i % images.len()];
        yaml.push_str(&format!("  svc{i:03}:\n"));
        if i % 10 == 9 {
            yaml.push_str("    build: { context: ./web, target: runtime }\n");
        } else {
            yaml.push_str(&format!("    image: {image}\n"));
        }
        yaml.push_str(
            "    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    mem_limit: 64m\n    pids_limit: 64\n    restart: unless-stopped\n",
        );
        yaml.push_str(&format!("    networks: [net{}]\n    environment: {{ INDEX: \"{i}\" }}\n", i % 3));
        if i % 10 == 0 {
            yaml.push_str(&format!("    volumes: [\"data{i}:/data\"]\n"));
        }
    }
    yaml.push_str("networks:\n  net0: {}\n  net1: {}\n  net2: {}\nvolumes:\n");
    for i in (0..n).step_by(10) {
        yaml.push_str(&format!("  data{i}: {{}}\n"));
    }
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| harness::Error::io("write the generated stack", &path, e))
    };
    write("compose.yaml", &yaml)?;
    write("web/Dockerfile", "FROM harness/nginx:1.22-bookworm AS runtime\nUSER 101:101\n")?;
    Ok(dir)
}

/// Times rendering and writing a report's four forms from its `report.json`, into a
/// scratch directory (what a run adds after judging).
pub fn report(path: &std::path::Path, runs: usize) -> Result<TimedReport> {
    let report = harness::report::read(path)?;
    let scratch = tempfile::tempdir().map_err(|e| harness::Error::io("create a scratch directory", "/tmp", e))?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        harness::report::write(&report, scratch.path())?;
        times.push(t.elapsed());
    }
    let verdicts: usize = report.stacks.iter().map(|s| s.verdicts.len()).sum();
    Ok(TimedReport {
        what: format!("report rendering ({verdicts} verdicts, {})", path.display()),
        times,
        target: Duration::from_secs(1),
    })
}

/// The most recently written `report.json` under `dir/<run-id>/`.
pub fn newest_report(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("report.json"))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// The CPU time this process has used so far (every thread), from `/proc/self/stat`.
fn own_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    // In USER_HZ, which Linux's /proc reports in 100ths of a second on every architecture.
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / 100.0)
}

/// One load run of [`load`]: what was asked for and what came back.
#[derive(Debug, Clone)]
pub struct LoadRun {
    pub url: String,
    pub concurrency: usize,
    pub summary: harness::load::Summary,
    pub wall: Duration,
    pub cpu: Duration,
}

impl std::fmt::Display for LoadRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rps = self.summary.requests as f64 / self.wall.as_secs_f64().max(1e-9);
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let share = self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
        write!(
            f,
            "{} with {} in flight: {:.0} req/s ({:.2}% ok; p50 {:.2}ms p99 {:.2}ms max {:.1}ms); \
             the generator used {:.2} s of CPU in {:.2} s = {:.0}% of one core, {:.0}% of the machine's {}; \
             ratio to the 3000 req/s target {:.2}",
            self.url,
            self.concurrency,
            rps,
            self.summary.success_percent(),
            self.summary.p50_ms,
            self.summary.p99_ms,
            self.summary.max_ms,
            self.cpu.as_secs_f64(),
            self.wall.as_secs_f64(),
            share * 100.0,
            share * 100.0 / cores,
            cores,
            rps / 3000.0
        )
    }
}

/// The load generator's ceiling on this machine: boots `stack`, then for each path sends
/// as fast as answers come with `concurrency` requests in flight for `duration`, through the
/// gateway's published port on 127.0.0.1 (the policy's `[gateway]`), and reports requests/s,
/// latency and the generator's own CPU share. Everything runs on this machine: the
/// generator, nginx, the app and its database share its cores.
pub async fn load(
    stack: &std::path::Path,
    paths: &[String],
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Vec<LoadRun>> {
    use anyhow::Context as _;
    let booted = Stack::boot(StackConfig::new(stack).with_name("bench-load")).await?;
    let policy = harness::judge::load_policy(&booted.dir, &booted.model.service_names())?;
    let gw = policy.gateway.clone().context("the stack's policy has no [gateway] to send the load through")?;
    let base = booted.host_port(&gw.service, gw.port).await?;
    let paths: Vec<String> = if paths.is_empty() {
        ["/healthz".to_owned()].into_iter().chain(policy.routes.first().map(|r| r.path.clone())).collect()
    } else {
        paths.to_vec()
    };
    let mut runs = Vec::new();
    for path in &paths {
        let target = harness::load::Target::loopback(base, path)?;
        let plan = harness::load::Plan {
            concurrency,
            rate: None,
            open: false,
            max_requests: 10_000_000,
            max_duration: duration,
            timeout: Duration::from_secs(5),
            replica_header: Some(harness::load::REPLICA_HEADER.to_owned()),
            stop: None,
        };
        // A short warm-up so connections and the app's pool exist before the timed run.
        harness::load::run(&target, &harness::load::Plan { max_duration: Duration::from_secs(1), ..plan.clone() })
            .await?;
        let (cpu0, t) = (own_cpu_time(), Instant::now());
        let samples = harness::load::run(&target, &plan).await?;
        let (wall, cpu) = (t.elapsed(), own_cpu_time().saturating_sub(cpu0));
        let run = LoadRun { url: target.url(), concurrency, summary: harness::load::Summary::of(&samples), wall, cpu };
        eprintln!("bench: {run}");
        runs.push(run);
    }
    booted.down().await?;
    Ok(runs)
}

/// The harness's own footprint target on the reference stack (issue 14).
pub const FOOTPRINT_TARGET_MIB: f64 = 64.0;

/// What one `harness check` process held while it ran, sampled from `/proc` every 100 ms:
/// its peak resident memory (the kernel's own high-water mark, `VmHWM`, so a peak between
/// two samples still counts), and the most file descriptors and threads seen at once.
/// The `docker compose` processes it starts are processes of their own and not counted.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// What was checked, and how.
    pub what: String,
    /// From spawn to exit.
    pub wall: Duration,
    /// The check's exit code (`None`: killed by a signal).
    pub exit: Option<i32>,
    /// Peak resident set, KiB.
    pub peak_rss_kib: u64,
    /// Most open file descriptors seen in one sample.
    pub max_fds: usize,
    /// Most threads seen in one sample.
    pub max_threads: usize,
    /// How many samples were taken.
    pub samples: usize,
    /// The check's `error:` line, when it could not judge.
    pub error: Option<String>,
    /// The check's own stack-startup, catalogue-timing and verdict lines.
    pub summary: Vec<String>,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.peak_rss_kib as f64 / 1024.0;
        write!(
            f,
            "{}: exit {} in {}; peak RSS {mib:.1} MiB ({:.2} of the {FOOTPRINT_TARGET_MIB:.0} MiB target); at most {} file descriptors and {} threads ({} samples, every 100 ms)",
            self.what,
            self.exit.map_or_else(|| "by signal".to_owned(), |c| c.to_string()),
            secs(self.wall),
            mib / FOOTPRINT_TARGET_MIB,
            self.max_fds,
            self.max_threads,
            self.samples
        )?;
        for line in self.summary.iter().chain(&self.error) {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// `EXE check STACK --report-dir REPORTS ARGS...` with its output where the caller says.
fn spawn_check(
    exe: &std::path::Path,
    stack: &std::path::Path,
    reports: &std::path::Path,
    args: &[String],
    env: &[(&str, String)],
    stdout: std::process::Stdio,
    stderr: std::process::Stdio,
) -> Result<tokio::process::Child> {
    tokio::process::Command::new(exe)
        .arg("check")
        .arg(stack)
        .arg("--report-dir")
        .arg(reports)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| harness::Error::Spawn {
            program: exe.display().to_string(),
            hint: "rebuild the harness (`cargo build -p harness-cli`)".into(),
            source: e,
        })
}

/// `VmHWM` and `Threads` from `/proc/PID/status`, in KiB and threads.
fn proc_status(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, usize::try_from(field("Threads:")?).ok()?))
}

/// Runs `harness check STACK ARGS...` (this same binary) as a child with its reports in a
/// scratch directory and its output discarded, sampling its footprint until it exits.
pub async fn footprint(stack: &std::path::Path, args: &[String]) -> Result<Footprint> {
    let exe =
        std::env::current_exe().map_err(|e| harness::Error::io("cannot find this binary", "/proc/self/exe", e))?;
    let reports = tempfile::tempdir().map_err(|e| harness::Error::io("create a scratch directory", "/tmp", e))?;
    // Kept for the check's own timings and verdict, and the error line of a check that
    // could not judge.
    let stdout_path = reports.path().join("stdout.log");
    let stderr_path = reports.path().join("stderr.log");
    let stderr_file =
        std::fs::File::create(&stderr_path).map_err(|e| harness::Error::io("open the check's log", &stderr_path, e))?;
    let started = Instant::now();
    let stdout =
        std::fs::File::create(&stdout_path).map_err(|e| harness::Error::io("open the check's log", &stdout_path, e))?;
    let stderr = stderr_file.try_clone().map_err(|e| harness::Error::io("open the check's log", &stderr_path, e))?;
    let mut child = spawn_check(&exe, stack, reports.path(), args, &[], stdout.into(), stderr.into())?;
    let pid = child.id().unwrap_or_default();
    let (mut peak, mut fds, mut threads, mut samples) = (0, 0, 0, 0);
    let status = loop {
        if let Some((hwm, t)) = proc_status(pid) {
            peak = peak.max(hwm);
            threads = threads.max(t);
            fds = fds.max(std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0));
            samples += 1;
        }
        tokio::select! {
            status = child.wait() => break status,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    };
    let status = status.map_err(|e| harness::Error::io("cannot wait for the check", &exe, e))?;
    let error = std::fs::read_to_string(&stderr_path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| harness::report::terminal(l).into_owned());
    // The check's own lines: the slowest service's ready time, the catalogue's steps, the
    // verdict, and which criteria failed how often.
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let mut summary: Vec<String> = stdout
        .lines()
        .filter(|l| {
            (l.starts_with("stack ") && l.contains("(project "))
                || l.starts_with("catalogue ")
                || l.starts_with("verdict:")
                || l.contains("startup.stack stack:")
        })
        .map(|l| harness::report::terminal(l).into_owned())
        .collect();
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    for id in stdout.lines().filter_map(|l| l.strip_prefix("FAIL ")?.split_whitespace().next()) {
        *failed.entry(id).or_default() += 1;
    }
    if !failed.is_empty() {
        let counts: Vec<String> = failed.iter().map(|(id, n)| format!("{id} x{n}")).collect();
        summary.push(format!("failed: {}", counts.join(", ")));
    }
    Ok(Footprint {
        error,
        summary,
        what: format!("check {} {}", stack.display(), args.join(" ")).trim_end().to_owned(),
        wall: started.elapsed(),
        exit: status.code(),
        peak_rss_kib: peak,
        max_fds: fds,
        max_threads: threads,
        samples,
    })
}

/// A scratch stack of `services` nginx services (the recipe image, hardened as the
/// reference's gateway) spread over `networks` networks, service `i` on network
/// `i % networks`, with a policy whose `[networks.*]` say each network reaches exactly its
/// own members: a boot and an isolation matrix at scale (issue 14's 100 services on 10
/// networks). The image's health check runs every 10 s here, not every second: a hundred
/// checks a second is more process starts than the engine runs on 2 cores (measured: checks
/// then exceed their 3 s timeout).
pub fn wide_stack(services: usize, networks: usize) -> Result<tempfile::TempDir> {
    let networks = networks.max(1);
    let dir = tempfile::tempdir().map_err(|e| harness::Error::io("create a scratch directory", "/tmp", e))?;
    let mut yaml = String::from(
        "# Generated by `harness bench footprint --wide`: many small services on many networks.\nservices:\n",
    );
    for i in 0..services {
        yaml.push_str(&format!(
            "  svc{i:03}:\n    image: harness/nginx:1.22-bookworm\n    user: \"101:101\"\n    networks: [net{}]\n    read_only: true\n    tmpfs: [\"/tmp:uid=101,gid=101,mode=0700,size=4m\"]\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    mem_limit: 32m\n    pids_limit: 16\n    restart: unless-stopped\n    logging: {{ driver: json-file, options: {{ max-size: \"1m\", max-file: \"2\" }} }}\n    healthcheck: {{ interval: 10s, timeout: 10s, retries: 3, start_period: 120s }}\n",
            i % networks
        ));
    }
    yaml.push_str("networks:\n");
    let mut policy = String::from("# Each network reaches exactly its own members.\n");
    for n in 0..networks {
        yaml.push_str(&format!("  net{n}: {{}}\n"));
        let members: Vec<String> =
            (0..services).filter(|i| i % networks == n).map(|i| format!("\"svc{i:03}:8080\"")).collect();
        policy.push_str(&format!("[networks.net{n}]\nreach = [{}]\n", members.join(", ")));
    }
    for (name, text) in [("compose.yaml", &yaml), ("acceptance.toml", &policy)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).map_err(|e| harness::Error::io("write the generated stack", &path, e))?;
    }
    Ok(dir)
}

/// A fault `bench soak` injects into one `harness check` run, at a seeded point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Fault {
    /// The run goes undisturbed.
    None,
    /// A panic inside a check: at the start of a seeded catalogue step, or while a seeded
    /// helper container runs (the `judge::step` and `helper::running` fault points).
    Panic,
    /// SIGTERM to the check, as a CI runner's timeout sends.
    Sigterm,
    /// SIGINT, as Ctrl-C sends.
    Sigint,
    /// SIGKILL: nothing of the check runs after it; `harness reap` must clean up.
    Sigkill,
    /// The engine goes away mid-run: the check reaches it through a relay that is cut.
    /// Nothing can be removed while it is gone; `harness reap`, on the real engine, cleans up.
    EngineCut,
    /// One of the stack's containers killed from outside, mid-run.
    ServiceKilled,
    /// One of the harness's helper containers (a probe, a backup) killed from outside: the
    /// first one running at or after the seeded point.
    HelperKilled,
}

impl Fault {
    /// Every fault, in the order the table prints them.
    pub const ALL: [Fault; 8] = [
        Fault::None,
        Fault::Panic,
        Fault::Sigterm,
        Fault::Sigint,
        Fault::Sigkill,
        Fault::EngineCut,
        Fault::ServiceKilled,
        Fault::HelperKilled,
    ];

    /// Its `--faults` value (`engine-cut`).
    pub fn id(self) -> String {
        use clap::ValueEnum as _;
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }

    fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Panic => "panic in a check",
            Fault::Sigterm => "SIGTERM",
            Fault::Sigint => "SIGINT",
            Fault::Sigkill => "SIGKILL + reap",
            Fault::EngineCut => "engine cut + reap",
            Fault::ServiceKilled => "service killed",
            Fault::HelperKilled => "helper killed",
        }
    }

    /// The fault of run `number` of a soak seeded with `seed`.
    pub fn drawn(seed: u64, number: usize) -> Fault {
        Fault::drawn_from(&Fault::ALL, seed, number)
    }

    /// The fault of run `number`, drawn from `faults` only (all of them when empty). With
    /// every fault in [`Fault::ALL`]'s order this is [`Fault::drawn`], so a seed replays the
    /// same soak whether or not the list was given.
    pub fn drawn_from(faults: &[Fault], seed: u64, number: usize) -> Fault {
        let faults = if faults.is_empty() { &Fault::ALL[..] } else { faults };
        faults[(draw(seed, number, "fault") % faults.len() as u64) as usize]
    }

    /// Whether the process that ran the check can no longer clean up after itself, so the
    /// soak runs `harness reap` before counting (as the next run would).
    fn needs_reap(self) -> bool {
        matches!(self, Fault::Sigkill | Fault::EngineCut)
    }
}

/// Each criterion × subject a run judged, and its outcome's word (PASS, FAIL, SKIP, WAIVED).
pub type Verdicts = BTreeMap<(String, String), &'static str>;

/// One soak run: its fault, when it struck, how the check ended and what was left after.
#[derive(Debug, Clone)]
pub struct SoakRun {
    /// The run's number, from 1; 0 is the quiet run the others are compared with.
    pub number: usize,
    /// The fault injected.
    pub fault: Fault,
    /// How long after the check's start the fault struck; drawn but unused for a panic,
    /// whose place is [`SoakRun::failpoint`].
    pub at: Duration,
    /// The fault point and its actions, for [`Fault::Panic`] (the `FAILPOINTS` value).
    pub failpoint: Option<String>,
    /// The check's exit code, or `None` when a signal ended it.
    pub exit: Option<i32>,
    /// Containers, networks and volumes owned by the check's pid after it ended (after the
    /// reap, for SIGKILL and the engine cut).
    pub left: teardown::Removed,
    /// Work directories of the check's pid still in the temp directory.
    pub workdirs_left: usize,
    /// Untagged (dangling) images added to the engine while the run lasted: a build that
    /// replaced a tag and left the old image behind.
    pub dangling_images: usize,
    /// Files in the run's report directory that are not one of a report's four forms (a
    /// scratch file the writability probe or a write left behind).
    pub stray_files: Vec<String>,
    /// The verdicts of its report.json, when the run wrote one.
    pub verdicts: Option<Verdicts>,
    /// For an undisturbed run: how its verdicts differ from the quiet run's.
    pub differences: Vec<String>,
    /// The check's last `error:` line, when it ended with one (exit 2): why it could not judge.
    pub error: Option<String>,
    /// How long it waited for its turn (taking turns, behind another run's timed steps).
    pub waited: Option<Duration>,
    /// From spawn to the end of the cleanup.
    pub wall: Duration,
}

/// A deterministic draw for run `run` of a soak seeded with `seed`: the same seed gives the
/// same faults at the same points, so a failing run can be replayed. std's `DefaultHasher`
/// with its fixed keys is enough for spreading faults; it is no source of secrets.
fn draw(seed: u64, run: usize, salt: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (seed, run, salt).hash(&mut h);
    h.finish()
}

/// How a soak runs: how many runs, the seed, the fault window, how many side by side.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// Faulted runs (the quiet run comes on top).
    pub runs: usize,
    /// The seed every draw derives from.
    pub seed: u64,
    /// Faults strike within this long after a check starts.
    pub window: Duration,
    /// How many runs at once on the engine (1: one after another).
    pub concurrency: usize,
    /// The faults drawn from (empty: every one).
    pub faults: Vec<Fault>,
    /// Whether the checks take turns through their timed steps (`check --take-turns`), so
    /// that side-by-side runs time their stacks, not the shared machine.
    pub turns: bool,
}

/// The whole soak: the quiet run first, then the faulted ones in the order they ended.
#[derive(Debug, Clone)]
pub struct Soak {
    /// One undisturbed run alone on the engine, whose verdicts the others' must equal.
    pub quiet: SoakRun,
    /// The faulted runs.
    pub runs: Vec<SoakRun>,
}

/// Runs `harness check STACK` once undisturbed and alone (the quiet run), then
/// `plan.runs` more, `plan.concurrency` at a time, each with one fault from [`Fault::ALL`]
/// at a seeded point within `plan.window` of its start. Counts what each run left behind
/// after it ended (and, when its process could not clean up, after `harness reap`), and
/// compares every undisturbed run's verdicts with the quiet run's. `each` sees every run
/// as it ends.
pub async fn soak(stack: &std::path::Path, plan: &SoakPlan, each: impl FnMut(&SoakRun)) -> Result<Soak> {
    let exe =
        std::env::current_exe().map_err(|e| harness::Error::io("cannot find this binary", "/proc/self/exe", e))?;
    let docker = harness::engine::connect().await?;
    let each = std::sync::Mutex::new(each);
    let report = |r: &SoakRun| {
        if let Ok(mut f) = each.lock() {
            f(r);
        }
    };
    let quiet = soak_run(&docker, &exe, stack, plan, 0, Fault::None, None).await?;
    report(&quiet);
    // Lanes: run i goes to lane i % K; each lane runs its share one after another.
    let lanes = plan.concurrency.clamp(1, plan.runs.max(1));
    let lane = |l: usize| {
        let (docker, exe, quiet, report) = (&docker, &exe, &quiet, &report);
        async move {
            let mut done = Vec::new();
            for number in (1..=plan.runs).filter(|n| (n - 1) % lanes == l) {
                let fault = Fault::drawn_from(&plan.faults, plan.seed, number);
                let r = soak_run(docker, exe, stack, plan, number, fault, quiet.verdicts.as_ref()).await?;
                report(&r);
                done.push(r);
            }
            Ok::<_, harness::Error>(done)
        }
    };
    let mut runs = Vec::with_capacity(plan.runs);
    for done in futures_util::future::join_all((0..lanes).map(lane)).await {
        runs.extend(done?);
    }
    runs.sort_by_key(|r| r.number);
    Ok(Soak { quiet, runs })
}

/// One run of a soak: spawn the check (through a relay for the engine cut, with a fault
/// point armed for the panic), strike, wait, reap where needed, count, compare.
async fn soak_run(
    docker: &bollard::Docker,
    exe: &std::path::Path,
    stack: &std::path::Path,
    plan: &SoakPlan,
    number: usize,
    fault: Fault,
    quiet: Option<&Verdicts>,
) -> Result<SoakRun> {
    let window_ms = u64::try_from(plan.window.as_millis()).unwrap_or(u64::MAX).max(1);
    let at = Duration::from_millis(draw(plan.seed, number, "at") % window_ms);
    let scratch = tempfile::tempdir().map_err(|e| harness::Error::io("create a scratch directory", "/tmp", e))?;
    let reports = scratch.path().join("reports");
    let relay = match fault {
        Fault::EngineCut => Some(
            crate::relay::Relay::start(&scratch.path().join("engine.sock"))
                .map_err(|e| harness::Error::io("start the engine relay", scratch.path(), e))?,
        ),
        _ => None,
    };
    // The panic's place: the start of catalogue step 1-6, or inside helper container 1-4.
    let failpoint = (fault == Fault::Panic).then(|| {
        let pick = draw(plan.seed, number, "point");
        let (point, skip) = if pick % 2 == 0 {
            (harness::faults::STEP, (pick / 2) % 6)
        } else {
            (harness::faults::HELPER, (pick / 2) % 4)
        };
        format!("{point}={skip}*off->panic(soak run {number}: injected panic)")
    });
    let mut env: Vec<(&str, String)> = Vec::new();
    if let Some(r) = &relay {
        env.push(("DOCKER_HOST", r.docker_host()));
    }
    if let Some(f) = &failpoint {
        env.push(("FAILPOINTS", f.clone()));
    }
    let dangling_before = dangling(docker).await?;
    let started = Instant::now();
    // stderr to a file: an exit 2 says why in its last `error:` line, which the soak shows.
    let stderr_path = scratch.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path)
        .map_err(|e| harness::Error::io("create the check's stderr file", &stderr_path, e))?;
    let args = if plan.turns { vec!["--take-turns".to_owned()] } else { Vec::new() };
    let mut child = spawn_check(exe, stack, &reports, &args, &env, std::process::Stdio::null(), stderr.into())?;
    let pid = child.id().unwrap_or_default();
    let status = tokio::select! {
        status = child.wait() => status,
        () = tokio::time::sleep(at) => {
            match fault {
                Fault::EngineCut => { if let Some(r) = &relay { r.cut(); } }
                Fault::HelperKilled => {
                    // Helpers come and go within seconds: keep looking until one runs or
                    // the check ends.
                    let hunt = async { while !kill_owned(docker, pid, true, plan.seed, number).await {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } };
                    tokio::select! { () = hunt => {}, _ = child.wait() => {} }
                }
                _ => strike(docker, fault, pid, plan.seed, number).await,
            }
            child.wait().await
        }
    }
    .map_err(|e| harness::Error::io("cannot wait for the check", exe, e))?;
    drop(relay);
    if fault.needs_reap() {
        teardown::reap(docker).await?;
    }
    let left = teardown::count_labelled(docker, &format!("{}={pid}", labels::OWNER_PID)).await?;
    let workdirs_left = teardown::workdirs_of(pid).len();
    let dangling_images = dangling(docker).await?.saturating_sub(dangling_before);
    let stray_files = stray_files(&reports);
    let verdicts = read_verdicts(&reports);
    let error = last_error_line(&stderr_path);
    let waited = turn_wait(&stderr_path);
    let differences = match (fault, quiet, &verdicts) {
        (Fault::None, Some(q), Some(v)) => verdict_differences(q, v),
        (Fault::None, Some(_), None) => vec!["wrote no report.json".to_owned()],
        _ => Vec::new(),
    };
    Ok(SoakRun {
        number,
        fault,
        at,
        failpoint,
        exit: status.code(),
        left,
        workdirs_left,
        dangling_images,
        stray_files,
        verdicts,
        differences,
        error,
        waited,
        wall: started.elapsed(),
    })
}

/// How long the check waited for its turn, from its "got the turn after 12.3s" line (in the
/// first 64 KiB of its stderr: the turn is taken before the boot); none when it never had
/// to wait or took no turns.
fn turn_wait(path: &std::path::Path) -> Option<Duration> {
    use std::io::Read as _;
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(64 * 1024).read_to_end(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head);
    let rest = text.lines().find_map(|l| l.split_once("got the turn after ").map(|(_, r)| r.to_owned()))?;
    rest.trim_end().strip_suffix('s')?.parse::<f64>().ok().map(Duration::from_secs_f64)
}

/// The last line starting with `error:` in the file at `path` (a check's stderr), read from
/// its last 64 KiB only: a run that printed a flood must not cost the soak its memory.
fn last_error_line(path: &std::path::Path) -> Option<String> {
    use std::io::{Read as _, Seek as _};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(std::io::SeekFrom::Start(len.saturating_sub(64 * 1024))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail).lines().rev().find(|l| l.starts_with("error:")).map(str::to_owned)
}

/// Injects a signal or a service kill into the check running as `pid`.
async fn strike(docker: &bollard::Docker, fault: Fault, pid: u32, seed: u64, run: usize) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let signal = |s: Signal| {
        if let Ok(p) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(p), s);
        }
    };
    match fault {
        Fault::Sigterm => signal(Signal::SIGTERM),
        Fault::Sigint => signal(Signal::SIGINT),
        Fault::Sigkill => signal(Signal::SIGKILL),
        // Before the first container exists there is nothing to kill: the run is then
        // undisturbed, and the table counts it under this fault all the same.
        Fault::ServiceKilled => {
            kill_owned(docker, pid, false, seed, run).await;
        }
        Fault::None | Fault::Panic | Fault::EngineCut | Fault::HelperKilled => {}
    }
}

/// Kills one running container of the check `pid`: a helper (`helper`) or a service, drawn
/// by the seed. Whether there was one to kill.
async fn kill_owned(docker: &bollard::Docker, pid: u32, helper: bool, seed: u64, run: usize) -> bool {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_owned(), vec![format!("{}={pid}", labels::OWNER_PID)])]);
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::default().filters(&filters).build();
    let running: Vec<_> = docker
        .list_containers(Some(opts))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.labels.as_ref().is_some_and(|l| l.contains_key(labels::HELPER_ROLE)) == helper)
        .collect();
    let Some(pick) = running.get((draw(seed, run, "victim") % running.len().max(1) as u64) as usize) else {
        return false;
    };
    if let Some(id) = &pick.id {
        let _ = docker.kill_container(id, None::<bollard::query_parameters::KillContainerOptions>).await;
    }
    true
}

/// The verdicts of the report.json under `reports` (one run's report directory).
fn read_verdicts(reports: &std::path::Path) -> Option<Verdicts> {
    let file =
        std::fs::read_dir(reports).ok()?.flatten().map(|e| e.path().join("report.json")).find(|p| p.is_file())?;
    let report = harness::report::read(&file).ok()?;
    Some(
        report
            .stacks
            .iter()
            .flat_map(|s| &s.verdicts)
            .map(|e| ((e.verdict.criterion.id().to_owned(), e.verdict.subject.clone()), e.verdict.outcome.word()))
            .collect(),
    )
}

/// Each criterion × subject whose outcome differs between the quiet run and `other`, one
/// line each (`gateway.route api: PASS -> FAIL`); a verdict only one of them has counts.
pub fn verdict_differences(quiet: &Verdicts, other: &Verdicts) -> Vec<String> {
    let keys: std::collections::BTreeSet<_> = quiet.keys().chain(other.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (quiet.get(k).copied().unwrap_or("(none)"), other.get(k).copied().unwrap_or("(none)"));
            (a != b).then(|| format!("{} {}: {a} -> {b}", k.0, k.1))
        })
        .collect()
}

impl SoakRun {
    /// Whether the run left anything behind.
    pub fn dirty(&self) -> bool {
        self.left != teardown::Removed::default()
            || self.workdirs_left > 0
            || self.dangling_images > 0
            || !self.stray_files.is_empty()
    }
}

/// How many untagged images the engine holds.
async fn dangling(docker: &bollard::Docker) -> Result<usize> {
    let filters = HashMap::from([("dangling".to_owned(), vec!["true".to_owned()])]);
    let opts = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
    let list =
        docker.list_images(Some(opts)).await.map_err(|e| harness::Error::engine("list images", "dangling", e))?;
    Ok(list.len())
}

/// Files under a report directory that are not `report.json`, `report.md`, `report.html`
/// or `junit.xml` inside a run's directory (or its screenshot), relative to `base`.
pub fn stray_files(base: &std::path::Path) -> Vec<String> {
    const FORMS: [&str; 5] = ["report.json", "report.md", "report.html", "junit.xml", "report.png"];
    let mut out = Vec::new();
    let Ok(top) = std::fs::read_dir(base) else { return out };
    for entry in top.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(name);
            continue;
        }
        for inner in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            let file = inner.file_name().to_string_lossy().into_owned();
            if !FORMS.contains(&file.as_str()) {
                out.push(format!("{name}/{file}"));
            }
        }
    }
    out.sort();
    out
}

/// The table `bench soak` ends with: per fault, runs, exit codes seen, what was left, and
/// (for undisturbed runs) how many differed from the quiet run's verdicts.
pub fn soak_table(runs: &[SoakRun]) -> String {
    let mut out = format!(
        "{:<18} {:>5}  {:<16} {:<8} {}\n",
        "fault", "runs", "exit codes seen", "differ", "left after each run (and reap)"
    );
    for fault in Fault::ALL {
        let of: Vec<&SoakRun> = runs.iter().filter(|r| r.fault == fault).collect();
        if of.is_empty() {
            continue;
        }
        let mut codes: Vec<String> =
            of.iter().map(|r| r.exit.map_or_else(|| "signal".to_owned(), |c| c.to_string())).collect();
        codes.sort();
        codes.dedup();
        let left = of.iter().fold(teardown::Removed::default(), |mut acc, r| {
            acc += r.left;
            acc
        });
        let dirs: usize = of.iter().map(|r| r.workdirs_left).sum();
        let images: usize = of.iter().map(|r| r.dangling_images).sum();
        let files: usize = of.iter().map(|r| r.stray_files.len()).sum();
        // Only undisturbed runs are compared: a fault may rightly change a verdict.
        let differ = if fault == Fault::None {
            of.iter().filter(|r| !r.differences.is_empty()).count().to_string()
        } else {
            "-".to_owned()
        };
        out.push_str(&format!(
            "{:<18} {:>5}  {:<16} {:<8} {left}, {dirs} work dir(s), {images} dangling image(s), {files} stray report file(s)\n",
            fault.name(),
            of.len(),
            codes.join(", "),
            differ,
        ));
    }
    out
}

#[cfg(test)]
mod soak_tests {
    use super::*;

    /// The nightly soak (10 runs, seed 43) must strike with every fault, or its table proves
    /// less than it claims; a change to the draw or to the list of faults shows here first.
    #[test]
    fn the_nightly_seed_draws_every_fault_in_ten_runs() {
        let drawn: std::collections::BTreeSet<Fault> = (1..=10).map(|n| Fault::drawn(43, n)).collect();
        assert_eq!(drawn.len(), Fault::ALL.len(), "{drawn:?}");
    }

    /// `--faults` narrows the draw; all of them (or none given) replays the unfiltered soak.
    #[test]
    fn a_fault_list_narrows_the_draw_and_the_full_list_replays_the_seed() {
        for n in 1..=20 {
            assert_eq!(Fault::drawn_from(&[], 43, n), Fault::drawn(43, n));
            assert_eq!(Fault::drawn_from(&Fault::ALL, 43, n), Fault::drawn(43, n));
            assert_eq!(Fault::drawn_from(&[Fault::None], 43, n), Fault::None);
            let two = Fault::drawn_from(&[Fault::None, Fault::Sigterm], 43, n);
            assert!(matches!(two, Fault::None | Fault::Sigterm), "{two:?}");
        }
    }

    #[track_caller]
    fn check_turn_wait(stderr: &str, expected: Option<f64>) {
        let dir = tempfile::tempdir().expect("scratch dir");
        let path = dir.path().join("stderr.log");
        std::fs::write(&path, stderr).expect("write");
        assert_eq!(turn_wait(&path), expected.map(Duration::from_secs_f64), "{stderr:?}");
    }

    #[test]
    fn the_turn_wait_is_read_from_the_checks_progress_line() {
        check_turn_wait("[    0.1s] booting x\n[   41.0s] got the turn after 40.7s\n", Some(40.7));
        check_turn_wait("[    0.1s] booting x\n", None);
        check_turn_wait("got the turn after soon\n", None);
    }

    fn verdicts(list: &[(&str, &str, &'static str)]) -> Verdicts {
        list.iter().map(|(c, s, w)| (((*c).to_owned(), (*s).to_owned()), *w)).collect()
    }

    #[test]
    fn differences_name_each_changed_missing_or_extra_verdict() {
        let quiet = verdicts(&[
            ("gateway.route", "api", "PASS"),
            ("startup.service", "db", "PASS"),
            ("user.process", "api", "FAIL"),
        ]);
        assert!(verdict_differences(&quiet, &quiet).is_empty());
        let other = verdicts(&[
            ("gateway.route", "api", "FAIL"),
            ("user.process", "api", "FAIL"),
            ("image.size", "api", "SKIP"),
        ]);
        assert_eq!(
            verdict_differences(&quiet, &other),
            vec![
                "gateway.route api: PASS -> FAIL".to_owned(),
                "image.size api: (none) -> SKIP".to_owned(),
                "startup.service db: PASS -> (none)".to_owned(),
            ]
        );
    }

    #[test]
    fn the_last_error_line_is_found_in_a_long_stderr() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stderr.log");
        let mut text = String::from("error: an early one\n");
        text.push_str(&"[ 1.0s] progress\n".repeat(10_000));
        text.push_str("error: lost the docker engine (hint: ...)\n[ 9.0s] interrupted\n");
        std::fs::write(&path, text).expect("write");
        assert_eq!(last_error_line(&path).as_deref(), Some("error: lost the docker engine (hint: ...)"));
        std::fs::write(&path, "[ 1.0s] all well\n").expect("write");
        assert_eq!(last_error_line(&path), None);
    }

    fn run(fault: Fault, differences: &[&str]) -> SoakRun {
        SoakRun {
            number: 1,
            fault,
            at: Duration::ZERO,
            failpoint: None,
            exit: Some(0),
            left: teardown::Removed::default(),
            workdirs_left: 0,
            dangling_images: 0,
            stray_files: Vec::new(),
            verdicts: None,
            differences: differences.iter().map(|d| (*d).to_owned()).collect(),
            error: None,
            waited: None,
            wall: Duration::ZERO,
        }
    }

    #[test]
    fn the_table_counts_differing_undisturbed_runs_only() {
        let table =
            soak_table(&[run(Fault::None, &[]), run(Fault::None, &["x y: PASS -> FAIL"]), run(Fault::Panic, &[])]);
        let none = table.lines().find(|l| l.starts_with("none")).expect("a row for none");
        // fault, runs, exit codes, differ: 2 runs, both exit 0, one differs.
        assert_eq!(none.split_whitespace().take(4).collect::<Vec<_>>(), ["none", "2", "0", "1"], "{table}");
        let panic = table.lines().find(|l| l.starts_with("panic in a check")).expect("a row for the panic");
        assert_eq!(panic.split_whitespace().nth(6), Some("-"), "faulted runs are not compared: {table}");
    }
}
