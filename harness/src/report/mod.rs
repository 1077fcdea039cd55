//! The sign-off report: one model, written as `report.json` (versioned schema, see the
//! README), `report.md`, a self-contained `report.html` and `junit.xml`, into
//! `target/acceptance/<run-id>/`.
//!
//! Two producers fill the same model. `harness check` builds it from the run it just did.
//! Test suites write *evidence* (a [`StackReport`] fragment per test, under
//! `target/acceptance/evidence/<nextest run id>/`), and `harness report` merges a run's
//! evidence into the same report, so the CLI and `cargo nextest run` sign off alike.
//!
//! Rendering is pure (model in, text out) and tested without Docker; gathering
//! provenance asks the engine, compose and git.

#[cfg(test)]
mod hostile;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::boot::stack::RunRecord;
use crate::boot::timeline::BootTimeline;
use crate::errors::{Error, Result};
use crate::judge::network::Matrix;
use crate::judge::verdict::{Outcome, Summary, Verdict};
use crate::policy::Policy;

/// The schema id in every `report.json`. Bumped on any change a reader could trip on.
/// Version 2: verdicts carry `state` (`pass`, `fail`, `not_judged` with `reason`, `waived`
/// with `waiver`) instead of `passed`, and counts include `not_judged` and `waived`.
pub const SCHEMA: &str = "harness-report/2";

/// A whole report: one or more stacks judged in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The report schema, always [`SCHEMA`] when written by this harness.
    pub schema: String,
    /// The run this report is for: the CLI's run id, or the nextest run id for merged evidence.
    pub run_id: String,
    /// `check` (the CLI judged the stack) or `nextest` (merged from a test run's evidence).
    pub source: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// How long the run took, in seconds.
    pub duration_s: f64,
    /// Go only when every stack is go.
    pub go: bool,
    /// Verdicts that passed, over every stack.
    pub passed: usize,
    /// Verdicts that failed, over every stack.
    pub failed: usize,
    /// Verdicts that could not be judged, over every stack.
    pub not_judged: usize,
    /// Verdicts whose failure the policy waives, over every stack.
    pub waived: usize,
    /// One section per stack, in the order given.
    pub stacks: Vec<StackReport>,
    /// The harness, engine, compose and host the run used.
    pub provenance: Provenance,
}

/// Everything judged on one stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackReport {
    /// The stack directory as given (`compose/reference`).
    pub name: String,
    /// Go when something was judged, nothing failed and nothing went unjudged (see [`Summary::go`]).
    pub go: bool,
    /// Verdicts on this stack that passed.
    pub passed: usize,
    /// Verdicts on this stack that failed.
    pub failed: usize,
    /// Verdicts on this stack that could not be judged.
    pub not_judged: usize,
    /// Verdicts on this stack whose failure the policy waives.
    pub waived: usize,
    /// `--only` / `--skip` as given; empty means the whole catalogue.
    pub only: Vec<String>,
    /// `--skip` as given; empty means nothing is skipped.
    pub skip: Vec<String>,
    /// Every verdict, in catalogue order once sorted.
    pub verdicts: Vec<Entry>,
    /// The boot timeline; `None` when nothing was booted (e.g. `harness lint`).
    pub timeline: Option<Timeline>,
    /// The image of each service, with its size.
    pub images: Vec<Image>,
    /// The isolation matrix, one row per network; empty when the network checks did not run.
    pub isolation: Vec<GridRow>,
    /// Every load the run put through the gateway, steady or during a change, with what
    /// the requests saw; empty when no load ran.
    #[serde(default)]
    pub loads: Vec<crate::load::LoadRun>,
    /// Seconds each family of checks took (`check` only).
    pub catalogue: Vec<(String, f64)>,
    /// The policy and compose files judged, with their hashes.
    pub files: Vec<FileHash>,
    /// The git state of the stack directory; `None` outside a git repository or without git.
    pub git: Option<GitState>,
    /// Services played by a stand-in, with why (from the compose file's `x-harness-stand-in`).
    pub stand_ins: Vec<(String, String)>,
    /// Warnings about the input that are not verdicts: compose's unset variables (with the
    /// lines that use them), an engine that could not be asked.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A verdict with what the catalogue knows about its criterion, and (from a test run)
/// which test produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The verdict itself, flattened into this entry's JSON.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Which seed documents state the criterion, or "harness default".
    pub seed: String,
    /// The test that produced the verdict; `None` when the CLI judged it.
    pub test: Option<String>,
}

/// The boot, per service, in seconds from `compose up`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The startup budget from the policy, in seconds.
    pub budget_s: f64,
    /// When the last service was ready; `None` when one never was.
    pub stack_ready_s: Option<f64>,
    /// When the last service with a healthcheck was healthy; `None` when one never was.
    pub stack_healthy_s: Option<f64>,
    /// Each service's times.
    pub services: Vec<ServiceTimes>,
}

/// One service's boot milestones, in seconds from `compose up`; `None` where it never got there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceTimes {
    /// The service name.
    pub service: String,
    /// When its container was created.
    pub created_s: Option<f64>,
    /// When its container was started.
    pub started_s: Option<f64>,
    /// When it passed its readiness probe.
    pub ready_s: Option<f64>,
    /// When the engine reported it healthy; `None` too when it has no healthcheck.
    pub healthy_s: Option<f64>,
    /// Why ready and healthy (or created and started) differ, where they do.
    pub causes: Vec<String>,
}

/// The image one service ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The service that ran it.
    pub service: String,
    /// The image reference, `name:tag`.
    pub reference: String,
    /// The image id on the engine.
    pub id: String,
    /// The image size, in bytes.
    pub size_bytes: u64,
    /// The size budget from the image's recipe, in bytes; `None` without a recipe or a budget.
    pub budget_bytes: Option<u64>,
}

/// One network's row of the isolation matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridRow {
    /// The network's key in the compose file.
    pub network: String,
    /// Whether the network is declared `internal` (no outside access).
    pub internal: bool,
    /// One cell per `service:port` any probe tried.
    pub cells: Vec<GridCell>,
}

/// What a probe on one network saw of one service port, against the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridCell {
    /// `service:port`.
    pub target: String,
    /// What the policy allows; `None` when the policy says nothing about this network.
    pub allowed: Option<bool>,
    /// Whether the probe on this network connected, by address or by name.
    pub connected: bool,
}

impl GridCell {
    /// Observed differs from allowed.
    pub fn mismatch(&self) -> bool {
        self.allowed.is_some_and(|a| a != self.connected)
    }
}

/// A file that was judged, with its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// `policy` or `compose`.
    pub role: String,
    /// The file's path, relative to the running project's root when it is inside it.
    pub path: String,
    /// The SHA-256 of its contents, in lowercase hex.
    pub sha256: String,
}

/// The git state of the repository holding a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitState {
    /// The commit checked out (`git rev-parse HEAD`).
    pub commit: String,
    /// Uncommitted changes under the stack directory.
    pub dirty: bool,
}

/// Where and with what the run happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// This crate's version.
    pub harness_version: String,
    /// The Docker engine's version, or why it is unknown.
    pub engine_version: String,
    /// The engine's API version; empty when unknown.
    pub engine_api: String,
    /// The `docker compose` plugin's version, or `not found`.
    pub compose_version: String,
    /// The host name the run happened on.
    pub host: String,
    /// The command line, so a reader can re-run it.
    pub command: String,
}

impl StackReport {
    /// A stack's section from verdicts and whatever else the caller has.
    pub fn new(name: &str, verdicts: Vec<Verdict>, test: Option<&str>) -> StackReport {
        let mut s = StackReport { name: name.to_owned(), ..StackReport::default() };
        s.verdicts = verdicts.into_iter().map(|v| entry(v, test)).collect();
        s.recount();
        s
    }

    /// Adds what a booted stack knows: its boot timeline, images, files and git state.
    /// Fills in what the boot recorded: the timeline, images, judged files and their
    /// hashes, the git state and the stand-ins. From the record, never a live stack.
    pub fn with_run(mut self, run: &RunRecord, policy: &Policy) -> StackReport {
        self.timeline = Some(timeline(&run.timeline, policy.defaults.startup));
        self.images = run
            .images
            .iter()
            .map(|i| Image {
                service: i.service.clone(),
                reference: i.reference.clone(),
                id: i.id.clone(),
                size_bytes: i.size_bytes,
                budget_bytes: i.budget_bytes,
            })
            .collect();
        self.files = files(policy, &run.files);
        self.git = git_state(&run.dir);
        self.stand_ins = stand_ins(&run.services, &run.files);
        self.warnings = run.warnings.clone();
        self
    }

    pub(crate) fn recount(&mut self) {
        let summary = Summary::of(self.verdicts.iter().map(|e| &e.verdict));
        self.passed = summary.passed;
        self.failed = summary.failed;
        self.not_judged = summary.not_judged;
        self.waived = summary.waived;
        self.go = summary.go();
    }

    /// The counts of this stack's verdicts.
    pub fn summary(&self) -> Summary {
        Summary { passed: self.passed, failed: self.failed, not_judged: self.not_judged, waived: self.waived }
    }

    /// Folds another fragment of the same stack in (evidence of several tests). A
    /// criterion × subject judged twice keeps the failure if either failed, so merging
    /// never hides one, and a real judgement over "not judged".
    pub fn merge(&mut self, other: StackReport) {
        for e in other.verdicts {
            let same = self
                .verdicts
                .iter_mut()
                .find(|x| x.verdict.criterion == e.verdict.criterion && x.verdict.subject == e.verdict.subject);
            match same {
                Some(x) if weight(&e.verdict.outcome) > weight(&x.verdict.outcome) => *x = e,
                Some(_) => {}
                None => self.verdicts.push(e),
            }
        }
        if self.timeline.is_none() {
            self.timeline = other.timeline;
        }
        for i in other.images {
            if !self.images.iter().any(|x| x.service == i.service) {
                self.images.push(i);
            }
        }
        if self.isolation.is_empty() {
            self.isolation = other.isolation;
        }
        for l in other.loads {
            if !self.loads.iter().any(|x| x.criterion == l.criterion && x.subject == l.subject) {
                self.loads.push(l);
            }
        }
        if self.files.is_empty() {
            self.files = other.files;
        }
        if self.git.is_none() {
            self.git = other.git;
        }
        if self.stand_ins.is_empty() {
            self.stand_ins = other.stand_ins;
        }
        self.recount();
    }

    /// Catalogue order, then subject: a stable order for every rendering.
    pub fn sort(&mut self) {
        // The enum's order is the catalogue's order.
        self.verdicts
            .sort_by(|a, b| (a.verdict.criterion, &a.verdict.subject).cmp(&(b.verdict.criterion, &b.verdict.subject)));
    }
}

/// Which of two verdicts on the same criterion × subject a merge keeps.
fn weight(o: &Outcome) -> u8 {
    match o {
        Outcome::Fail => 3,
        Outcome::Pass => 2,
        Outcome::Waived { .. } => 1,
        Outcome::NotJudged { .. } => 0,
    }
}

fn entry(verdict: Verdict, test: Option<&str>) -> Entry {
    let seed = verdict.criterion.seed().to_owned();
    Entry { verdict, seed, test: test.map(str::to_owned) }
}

impl Report {
    /// The report of `stacks`, with counts and go/no-go derived from them.
    pub fn new(
        run_id: &str,
        source: &str,
        started: SystemTime,
        took: Duration,
        mut stacks: Vec<StackReport>,
        provenance: Provenance,
    ) -> Report {
        for s in &mut stacks {
            s.sort();
            s.recount();
        }
        let passed = stacks.iter().map(|s| s.passed).sum();
        let failed = stacks.iter().map(|s| s.failed).sum();
        let not_judged = stacks.iter().map(|s| s.not_judged).sum();
        let waived = stacks.iter().map(|s| s.waived).sum();
        Report {
            schema: SCHEMA.to_owned(),
            run_id: run_id.to_owned(),
            source: source.to_owned(),
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            duration_s: took.as_secs_f64(),
            go: !stacks.is_empty() && stacks.iter().all(|s| s.go),
            passed,
            failed,
            not_judged,
            waived,
            stacks,
            provenance,
        }
    }

    /// The counts over every stack.
    pub fn summary(&self) -> Summary {
        Summary { passed: self.passed, failed: self.failed, not_judged: self.not_judged, waived: self.waived }
    }

    /// The one-word verdict, as [`Summary::word`] decides it over every stack; a run whose
    /// stacks are not all GO (one judged nothing) is never called GO.
    pub fn verdict_word(&self) -> &'static str {
        match self.summary().word() {
            "GO" if !self.go => "NOT JUDGED",
            word => word,
        }
    }
}

/// The boot timeline in report form.
pub fn timeline(t: &BootTimeline, budget: Duration) -> Timeline {
    let s = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    Timeline {
        budget_s: budget.as_secs_f64(),
        stack_ready_s: s(t.stack_ready()),
        stack_healthy_s: s(t.stack_healthy()),
        services: t
            .services
            .values()
            .map(|x| ServiceTimes {
                service: x.service.clone(),
                created_s: s(x.created),
                started_s: s(x.started),
                ready_s: s(x.ready),
                healthy_s: if x.health.is_some() { s(x.healthy) } else { None },
                causes: t.causes(&x.service).iter().map(ToString::to_string).collect(),
            })
            .collect(),
    }
}

fn stand_ins(services: &[String], files: &[PathBuf]) -> Vec<(String, String)> {
    let mut found = crate::engine::compose::stand_ins(files);
    found.retain(|s, _| services.contains(s));
    found.into_iter().collect()
}

/// The isolation matrix as a grid: every network × every service port any probe tried.
pub fn grid(matrix: &Matrix, policy: &Policy) -> Vec<GridRow> {
    let targets: std::collections::BTreeSet<String> =
        matrix.services.iter().flat_map(|s| s.ports.iter().map(move |p| format!("{}:{p}", s.service))).collect();
    matrix
        .networks
        .iter()
        .map(|p| {
            let reached: std::collections::BTreeSet<String> = p.reachable().iter().map(ToString::to_string).collect();
            let allowed: Option<std::collections::BTreeSet<String>> =
                policy.networks.get(&p.info.key).map(|n| n.reach.iter().map(ToString::to_string).collect());
            GridRow {
                network: p.info.key.clone(),
                internal: p.info.internal,
                cells: targets
                    .iter()
                    .map(|t| GridCell {
                        target: t.clone(),
                        allowed: allowed.as_ref().map(|a| a.contains(t)),
                        connected: reached.contains(t),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The policy and compose files with their SHA-256, so a reviewer knows exactly what was judged.
pub fn files(policy: &Policy, compose: &[PathBuf]) -> Vec<FileHash> {
    let mut out = Vec::new();
    let mut add = |role: &str, path: &Path| {
        if let Ok(bytes) = std::fs::read(path) {
            out.push(FileHash {
                role: role.to_owned(),
                path: display_path(path),
                sha256: hex::encode(Sha256::digest(&bytes)),
            });
        }
    };
    add("policy", &policy.path);
    for f in compose {
        // The harness's own label override is generated per run: not the user's file.
        if f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("harness.labels")) {
            continue;
        }
        add("compose", f);
    }
    out
}

/// Kept here as well as in [`crate::workspace`], where it lives, for the report's readers.
pub use crate::workspace::display_path;

/// The commit of the repository holding the stack, and whether the stack has local edits.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = run(&["rev-parse", "HEAD"])?;
    let dirty = run(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
    Some(GitState { commit, dirty })
}

/// Engine, compose and host facts. Missing pieces say why instead of failing the report.
pub async fn provenance(docker: Option<&bollard::Docker>) -> Provenance {
    let (engine_version, engine_api) = match docker {
        Some(d) => crate::engine::version(d).await.unwrap_or_else(|e| (format!("unknown ({e})"), String::new())),
        None => ("not connected".to_owned(), String::new()),
    };
    let compose_version = tokio::process::Command::new("docker")
        .args(["compose", "version", "--short"])
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "not found".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    Provenance {
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        engine_version,
        engine_api,
        compose_version,
        host: crate::engine::labels::RunIdentity::current().host.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Where reports and evidence go unless told otherwise: `acceptance/` in the target
/// directory of the project that is running (see [`crate::workspace::target_dir`]), beside
/// the rest of its build's output, whether that project is this workspace or one that
/// depends on the harness.
pub fn default_dir() -> PathBuf {
    crate::workspace::target_dir().join("acceptance")
}

/// Fails early, before anything boots, when reports cannot be written under `base`.
pub fn ensure_writable(base: &Path) -> Result<()> {
    let err = |reason: String| Error::ReportDir { path: base.to_owned(), reason };
    std::fs::create_dir_all(base).map_err(|e| err(e.to_string()))?;
    tempfile::NamedTempFile::new_in(base).map(drop).map_err(|e| err(e.to_string()))
}

/// The files one report was written as.
#[derive(Debug, Clone)]
pub struct Written {
    /// The directory the report went into, `base/<run id>/`.
    pub dir: PathBuf,
    /// The `report.json`.
    pub json: PathBuf,
    /// The `report.md`.
    pub markdown: PathBuf,
    /// The `report.html`.
    pub html: PathBuf,
    /// The `junit.xml`.
    pub junit: PathBuf,
    /// Rendering and writing all four.
    pub took: Duration,
}

/// Writes the four forms into `base/<run id>/`.
pub fn write(report: &Report, base: &Path) -> Result<Written> {
    let started = std::time::Instant::now();
    let dir = base.join(&report.run_id);
    let err = |path: &Path, e: String| Error::ReportDir { path: path.to_owned(), reason: e };
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e.to_string()))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| err(&dir, e.to_string()))?;
    let forms = [
        ("report.json", json),
        ("report.md", markdown::render(report)),
        ("report.html", html::render(report)),
        ("junit.xml", junit::render(report)),
    ];
    for (name, text) in &forms {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| err(&path, e.to_string()))?;
    }
    Ok(Written {
        json: dir.join("report.json"),
        markdown: dir.join("report.md"),
        html: dir.join("report.html"),
        junit: dir.join("junit.xml"),
        dir,
        took: started.elapsed(),
    })
}

/// Reads a `report.json` back, checking its schema.
pub fn read(path: &Path) -> Result<Report> {
    let err = |reason: String| Error::Evidence { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if report.schema != SCHEMA {
        return Err(err(format!("schema {} (this harness reads {SCHEMA})", report.schema)));
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Evidence from test runs.

/// One test's contribution to a run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The schema the evidence was written with, [`SCHEMA`].
    pub schema: String,
    /// The test that wrote it, as libtest names it.
    pub test: String,
    /// What the test judged on its stack.
    pub stack: StackReport,
}

/// The evidence directory of a nextest run.
pub fn evidence_dir(run_id: &str) -> PathBuf {
    default_dir().join("evidence").join(run_id)
}

/// The name of the running test: libtest names the thread it runs a test on after the
/// test, and a `#[tokio::test]` body runs on that thread.
pub fn current_test() -> String {
    std::thread::current().name().unwrap_or("unknown").to_owned()
}

/// Writes a test's evidence for `harness report`, when run by nextest (which sets
/// `NEXTEST_RUN_ID`); a plain `cargo test` writes nothing. Errors are returned, not
/// swallowed: a gate that silently loses evidence would sign off on less than it says.
pub fn record(stack: StackReport) -> Result<Option<PathBuf>> {
    let Ok(run_id) = std::env::var("NEXTEST_RUN_ID") else { return Ok(None) };
    let test = current_test();
    let dir = evidence_dir(&run_id);
    let err = |path: &Path, e: String| Error::ReportDir { path: path.to_owned(), reason: e };
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e.to_string()))?;
    let slug: String = test.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let path = dir.join(format!("{slug}-{}.json", std::process::id()));
    let evidence = Evidence { schema: SCHEMA.to_owned(), test, stack };
    let text = serde_json::to_string_pretty(&evidence).map_err(|e| err(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| err(&path, e.to_string()))?;
    Ok(Some(path))
}

/// The newest run under the evidence directory, for `harness report` with no run id.
pub fn latest_run() -> Option<String> {
    let dir = default_dir().join("evidence");
    let mut runs: Vec<(SystemTime, String)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.file_name().to_string_lossy().into_owned())))
        .collect();
    runs.sort();
    runs.pop().map(|(_, r)| r)
}

/// A nextest run's evidence, merged.
#[derive(Debug, Clone)]
pub struct Merged {
    /// One section per stack.
    pub stacks: Vec<StackReport>,
    /// The tests that wrote evidence.
    pub tests: Vec<String>,
    /// The span the evidence files were written in: the run's judging time.
    pub first: SystemTime,
    /// When the last evidence file was written.
    pub last: SystemTime,
}

/// Merges every evidence file of `dir` into one section per stack, with the tests that
/// produced each verdict, plus the time span the files cover.
pub fn merge_evidence(dir: &Path) -> Result<Merged> {
    let err = |path: &Path, reason: String| Error::Evidence { path: path.to_owned(), reason };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, format!("{e} (hint: run the suites under `cargo nextest run` first)")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut stacks: BTreeMap<String, StackReport> = BTreeMap::new();
    let mut tests = Vec::new();
    let mut written = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
        written.extend(std::fs::metadata(path).and_then(|m| m.modified()).ok());
        let ev: Evidence = serde_json::from_str(&text).map_err(|e| err(path, e.to_string()))?;
        if ev.schema != SCHEMA {
            return Err(err(path, format!("schema {} (this harness reads {SCHEMA})", ev.schema)));
        }
        tests.push(ev.test);
        match stacks.get_mut(&ev.stack.name) {
            Some(s) => s.merge(ev.stack),
            None => {
                stacks.insert(ev.stack.name.clone(), ev.stack);
            }
        }
    }
    if stacks.is_empty() {
        return Err(err(dir, "no evidence files (hint: run the suites under `cargo nextest run` first)".into()));
    }
    tests.sort();
    tests.dedup();
    let first = written.iter().min().copied().unwrap_or_else(SystemTime::now);
    let last = written.iter().max().copied().unwrap_or(first);
    Ok(Merged { stacks: stacks.into_values().collect(), tests, first, last })
}

/// "only network; skipped backup, persistence" for a partial run.
pub(crate) fn partial(s: &StackReport) -> String {
    let mut parts = Vec::new();
    if !s.only.is_empty() {
        parts.push(format!("only {}", s.only.join(", ")));
    }
    if !s.skip.is_empty() {
        parts.push(format!("skipped {}", s.skip.join(", ")));
    }
    parts.join("; ")
}

/// The verdicts a report lists under "not judged", with the reason (waivers included,
/// with their place): neither passes nor failures.
pub(crate) fn unjudged(v: &Verdict) -> Option<(&Verdict, &str)> {
    match &v.outcome {
        Outcome::NotJudged { reason } => Some((v, reason.as_str())),
        Outcome::Waived { waiver, .. } => Some((v, waiver.as_str())),
        Outcome::Pass | Outcome::Fail => None,
    }
}

/// The word a verdict table shows.
pub(crate) fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::NotJudged { .. } => "not judged",
        Outcome::Waived { .. } => "waived",
    }
}

/// HTML/XML escaping for the renderers.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text from a stack (health-check output, names, commands, log lines) made safe for a
/// terminal: every control character but newline and tab, and the Unicode bidirectional
/// overrides that reorder what a reader sees, are shown as `\u{..}` escapes instead of being
/// sent. A stack's output must never move the cursor, retitle the window, clear the screen
/// or hide text from the person reading the verdict.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unsafe_for_terminal) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_for_terminal(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn unsafe_for_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn verdict(criterion: &'static str, subject: &str, passed: bool) -> Verdict {
        Verdict {
            criterion: criterion.parse().expect("a catalogue id"),
            subject: subject.to_owned(),
            measured: if passed { "1.0s".into() } else { "45.0s".into() },
            budget: "30.0s".into(),
            outcome: Outcome::judged(passed),
            evidence: format!("measured {subject} <with> \"quotes\" & ampersands"),
            hint: (!passed).then(|| "shorten the healthcheck interval".to_owned()),
        }
    }

    /// A report is built from a run record that has been through JSON, as evidence written
    /// by one process and read by another is: no live stack is needed.
    #[test]
    fn a_report_is_built_from_a_serialised_run_record() {
        let run = RunRecord {
            project: "hx1-demo".into(),
            dir: std::env::temp_dir(),
            files: vec![],
            services: vec!["api".into()],
            timeline: BootTimeline::default(),
            images: vec![crate::boot::stack::RecordedImage {
                service: "api".into(),
                reference: "harness/app:0.1.0".into(),
                id: "sha256:abc".into(),
                size_bytes: 4_300_000,
                budget_bytes: Some(100_000_000),
            }],
            warnings: vec!["variable TAG is not set".into()],
        };
        let back: RunRecord = serde_json::from_str(&serde_json::to_string(&run).expect("json")).expect("parses");
        let policy = crate::policy::parse("", Path::new("acceptance.toml"), &["api"]).expect("policy");
        let s = StackReport::new("demo", vec![verdict("startup.service", "api", true)], None).with_run(&back, &policy);
        assert_eq!(s.images.len(), 1);
        assert_eq!(s.images[0].size_bytes, 4_300_000);
        assert!(s.timeline.is_some());
        assert_eq!(s.warnings, ["variable TAG is not set"], "compose's warnings reach the report");
        let md = markdown::render(&Report::new(
            "r",
            "check",
            std::time::UNIX_EPOCH,
            Duration::ZERO,
            vec![s],
            Provenance::default(),
        ));
        assert!(md.contains("Warning: variable TAG is not set"), "{md}");
    }

    #[test]
    fn stand_ins_come_from_the_files_as_written() {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "services:\n  mongodb:\n    image: app\n    x-harness-stand-in: no Debian package\n  api:\n    image: app\n",
        )
        .expect("yaml");
        assert_eq!(
            crate::engine::compose::stand_ins_in(&doc),
            BTreeMap::from([("mongodb".to_owned(), "no Debian package".to_owned())])
        );
        assert!(crate::engine::compose::stand_ins_in(&serde_yaml_ng::Value::Null).is_empty());
    }

    /// A report with one passing and one failing stack, a timeline, images and a grid.
    pub(crate) fn sample() -> Report {
        let mut good = StackReport::new(
            "compose/reference",
            vec![verdict("startup.service", "api", true), verdict("user.image", "api", true)],
            None,
        );
        good.timeline = Some(Timeline {
            budget_s: 30.0,
            stack_ready_s: Some(5.3),
            stack_healthy_s: Some(6.3),
            services: vec![
                ServiceTimes {
                    service: "api".into(),
                    created_s: Some(0.2),
                    started_s: Some(2.0),
                    ready_s: Some(5.3),
                    healthy_s: Some(6.3),
                    causes: vec![],
                },
                ServiceTimes {
                    service: "postgres".into(),
                    created_s: Some(0.1),
                    started_s: Some(0.4),
                    ready_s: Some(1.4),
                    healthy_s: Some(1.5),
                    causes: vec![],
                },
            ],
        });
        good.images = vec![Image {
            service: "api".into(),
            reference: "harness/app:0.1.0".into(),
            id: "sha256:abc".into(),
            size_bytes: 4_300_000,
            budget_bytes: Some(100_000_000),
        }];
        good.isolation = vec![GridRow {
            network: "data".into(),
            internal: true,
            cells: vec![
                GridCell { target: "postgres:5432".into(), allowed: Some(true), connected: true },
                GridCell { target: "gateway:8080".into(), allowed: Some(false), connected: true },
            ],
        }];
        good.loads = vec![crate::load::LoadRun {
            criterion: "availability.rolling_update".into(),
            subject: "api".into(),
            summary: crate::load::Summary {
                requests: 300,
                ok: 299,
                duration_s: 6.0,
                p50_ms: 3.0,
                p95_ms: 9.0,
                p99_ms: 20.0,
                max_ms: 1005.0,
                longest_burst: Some((2.5, 2.6)),
                replicas: [("b5d10ccb9cf1".to_owned(), 150), ("ae73c2660c22".to_owned(), 149)].into_iter().collect(),
                answers: [("200".to_owned(), 299), ("502".to_owned(), 1)].into_iter().collect(),
                failures: [("502".to_owned(), 1)].into_iter().collect(),
                timeline: vec![(50, 0), (50, 0), (49, 1), (50, 0), (50, 0), (50, 0)],
            },
            marks: vec![(2.0, "new replica".into()), (2.5, "stop b5d10ccb9cf1".into())],
        }];
        let bad = StackReport::new(
            "compose/broken",
            vec![verdict("startup.stack", "stack", false), verdict("image.size", "gateway", true)],
            Some("criteria::broken"),
        );
        Report::new(
            "r1",
            "check",
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(42),
            vec![good, bad],
            Provenance::default(),
        )
    }

    #[test]
    fn load_runs_are_charted_and_tabulated() {
        let r = sample();
        let md = markdown::render(&r);
        assert!(
            md.contains("| availability.rolling_update | api | 300 | 99.67% | 3.0ms | 9.0ms | 20.0ms | 1005.0ms | 0.100s at 2.5s | ae73c2660c22 149, b5d10ccb9cf1 150 | 2.0s new replica, 2.5s stop b5d10ccb9cf1 |"),
            "{md}"
        );
        let html = html::render(&r);
        assert!(html.contains("<h3>Under load</h3>"), "{html}");
        assert!(html.contains("aria-label=\"load availability.rolling_update\""), "{html}");
        // One red bar for the one second with a failure, one dashed line per change.
        assert_eq!(html.matches("failed</title>").count(), 1);
        assert!(html.contains(">stop b5d10ccb9cf1</text>"), "{html}");
        // The JSON carries the whole run.
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parses");
        assert_eq!(back.stacks[0].loads, r.stacks[0].loads);
    }

    #[test]
    fn go_only_when_every_stack_passes() {
        let r = sample();
        assert!(r.stacks[0].go);
        assert!(!r.stacks[1].go);
        assert!(!r.go);
        assert_eq!((r.passed, r.failed), (3, 1));
        assert_eq!(r.started_at, "1970-01-01T00:00:00Z");
        assert_eq!(r.stacks[0].verdicts[1].seed, "all seeds");
    }

    #[test]
    fn json_round_trips_with_its_schema() {
        let r = sample();
        let text = serde_json::to_string(&r).expect("serialises");
        assert!(text.contains("\"schema\":\"harness-report/2\""), "{text}");
        let back: Report = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn an_unknown_criterion_is_rejected_when_read_back() {
        let text = serde_json::to_string(&sample()).expect("serialises").replace("startup.stack", "startup.bogus");
        let err = serde_json::from_str::<Report>(&text).expect_err("rejected");
        assert!(err.to_string().contains("unknown criterion `startup.bogus`"), "{err}");
    }

    #[test]
    fn merging_keeps_a_failure_and_every_subject() {
        let mut a = StackReport::new("s", vec![verdict("user.image", "api", true)], Some("t1"));
        let b = StackReport::new(
            "s",
            vec![verdict("user.image", "api", false), verdict("user.image", "db", true)],
            Some("t2"),
        );
        a.merge(b);
        let got: Vec<(&str, bool, Option<&str>)> =
            a.verdicts.iter().map(|e| (e.verdict.subject.as_str(), e.verdict.passed(), e.test.as_deref())).collect();
        assert_eq!(got, [("api", false, Some("t2")), ("db", true, Some("t2"))]);
        assert!(!a.go);
    }

    #[test]
    fn terminal_text_shows_control_sequences_instead_of_sending_them() {
        assert_eq!(terminal("plain: 200 ok\n\tnext"), "plain: 200 ok\n\tnext");
        assert!(matches!(terminal("plain"), std::borrow::Cow::Borrowed(_)));
        let hostile = "\u{1b}[2J\u{1b}]0;pwned\u{7}red\r\u{202e}txt.exe\u{9b}31m";
        let shown = terminal(hostile);
        assert_eq!(shown, "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}red\\u{d}\\u{202e}txt.exe\\u{9b}31m");
        assert!(!shown.chars().any(unsafe_for_terminal), "{shown}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn an_unwritable_directory_is_refused_before_anything_runs() {
        let err = ensure_writable(Path::new("/proc/harness-cannot-write-here")).expect_err("refused");
        let text = err.to_string();
        assert!(text.starts_with("cannot write the report to /proc/harness-cannot-write-here"), "{text}");
        assert!(text.contains("--report-dir"), "{text}");
    }
}
