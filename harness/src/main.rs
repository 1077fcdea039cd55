//! The `harness` command: a thin front-end over the library.
//!
//! Exit codes: 0 every criterion passed, 1 at least one failed, 2 the harness could not
//! judge (infrastructure or bad input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use harness::criteria::Selection;
use harness::report::{Report, StackReport};
use harness::stack::{Stack, StackConfig};
use harness::units::{parse_duration, secs};
use harness::verdict::Summary;
use harness::{bench, engine, images, startup, teardown};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Boot a compose stack, measure it, judge its acceptance criteria, tear it down."
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build or find the images, boot the stack, judge it, print timings and a verdict, tear down.
    Check {
        /// Stack directory (holding compose.yaml) or compose file.
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Startup budget per service and for the stack (default: the policy's, 30 s).
        #[arg(long, value_parser = duration)]
        startup_budget: Option<Duration>,
        /// Extra compose files layered on top (e.g. an override with other healthcheck timings).
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
        /// Leave the stack running afterwards, and print how to reach and remove it.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        select: Select,
        /// Where reports go: <DIR>/<run-id>/report.{json,md,html} and junit.xml.
        #[arg(long, default_value_os_t = harness::report::default_dir())]
        report_dir: PathBuf,
    },
    /// Judge what can be judged from the compose file and image config alone, with no boot.
    Lint {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
    },
    /// Boot a stack and leave it running, for debugging.
    Up {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
    },
    /// Boot a stack and hold it for the read-only tests of a nextest run (started by the
    /// suites through `harness::shared`; not for direct use).
    #[command(hide = true)]
    Hold {
        stack: PathBuf,
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
    },
    /// Remove a project started with `up` or `check --keep`.
    Down {
        /// The project name printed by `up`.
        project: String,
    },
    /// Remove what dead harness runs left behind (containers, networks, volumes).
    Reap,
    /// Turn the evidence a `cargo nextest run` of the suites wrote into the same report
    /// `check` writes (target/acceptance/<run-id>/).
    Report {
        /// The nextest run id (default: the newest run with evidence).
        #[arg(long)]
        run_id: Option<String>,
        #[arg(long, default_value_os_t = harness::report::default_dir())]
        report_dir: PathBuf,
        /// Also render report.html to report.png in headless Chromium (installed if missing).
        #[arg(long)]
        screenshot: bool,
    },
    /// Print a markdown table of the stacks in report.json files (verdict, failed criteria and
    /// why), or write it into a README between its seed-table markers.
    Table {
        /// report.json files, one row per stack they judged, in this order.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Replace the table between the seed-table markers in this file instead of printing.
        #[arg(long)]
        readme: Option<PathBuf>,
    },
    /// Check the prerequisites (engine, Compose v2, disk, registry or offline recipes) and
    /// say how to fix each.
    Doctor,
    /// Build or verify the images a stack needs, and say which were cached.
    Images {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Every recipe under fixtures/images, whatever the stack uses (what the test suites need).
        #[arg(long)]
        all: bool,
    },
    /// Benchmarks that print figures and ratios (see the README).
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Boot-to-verdict against `docker compose up -d --wait`, and ready-time accuracy.
    Boot {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Runs of each side.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Also measure ready-time accuracy with this override (e.g. 30 s healthcheck intervals).
        #[arg(long)]
        accuracy_override: Option<PathBuf>,
        /// Runs of the accuracy measurement.
        #[arg(long, default_value_t = 2)]
        accuracy_runs: usize,
    },
    /// Wall time of `harness lint` (target: under 2 s).
    Lint {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Time to render and write a report's four forms (target: under 1 s).
    Report {
        /// A report.json to re-render (default: the newest under target/acceptance).
        report: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
}

/// `--only` and `--skip`: criterion ids (`network.reach`) or families (`network`).
#[derive(Debug, clap::Args)]
struct Select {
    /// Judge only these criteria or families (comma-separated or repeated).
    #[arg(long, value_name = "CRITERION")]
    only: Vec<String>,
    /// Do not judge these criteria or families (comma-separated or repeated).
    #[arg(long, value_name = "CRITERION")]
    skip: Vec<String>,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // `check --help` lists every criterion id, from the catalogue itself.
    let ids: Vec<String> = harness::criteria::ALL
        .iter()
        .map(|c| format!("  {:<28} {}{}", c.id(), c.seed(), c.cis().map(|x| format!(" (CIS {x})")).unwrap_or_default()))
        .collect();
    let help = format!(
        "Criteria (for --only/--skip, or their family: the part before the dot):\n{}\n\nExit codes: 0 every criterion passed, 1 at least one failed, 2 the harness could not judge.",
        ids.join("\n")
    );
    let matches = Cli::command().mut_subcommand("check", |c| c.after_long_help(help)).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    // bollard logs every Engine API response body at debug, and `docker inspect` bodies
    // carry containers' environments, secrets included. Whatever -v or RUST_LOG ask for,
    // its events below info never reach the log.
    let redact = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("bollard") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter.and(redact)),
        )
        .init();
    harness::progress::init(harness::progress::Mode::for_stderr());
    // Ctrl-C or SIGTERM: the library removes what it started, then exits 2 ("could not judge").
    teardown::exit_code_on_signal(2);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(run(cli.command));
    // An interrupt makes the work in flight fail too; its cleanup decides how we exit.
    teardown::wait_for_signal_cleanup();
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    };
    // A probe still stuck in a blocking call (a name lookup in `doctor`, say) must not
    // hold the exit: its answer is no longer wanted.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { stack, startup_budget, overrides, keep, select, report_dir } => {
            let selection = Selection::new(select.only, select.skip)?;
            check(CheckArgs { stack, budget: startup_budget, overrides, keep, selection, report_dir }).await
        }
        Command::Report { run_id, report_dir, screenshot } => {
            report_from_evidence(run_id, report_dir, screenshot).await
        }
        Command::Table { reports, readme } => table(&reports, readme.as_deref()),
        Command::Doctor => {
            let findings = harness::doctor::run().await;
            for f in &findings {
                println!("{f}");
            }
            Ok(if harness::doctor::exit_ok(&findings) { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Lint { stack } => {
            let started = Instant::now();
            let verdicts = harness::checks::lint::lint_stack(&stack)
                .await
                .with_context(|| format!("failed to lint {}", stack.display()))?;
            print_verdicts(&verdicts);
            println!(
                "not judged without a running stack: {} (use `harness check`)",
                harness::checks::lint::needs_running_stack().join(", ")
            );
            let summary = Summary::of(&verdicts);
            println!("lint verdict: {summary} in {}", secs(started.elapsed()));
            Ok(exit(summary))
        }
        Command::Up { stack, overrides } => {
            let mut cfg = StackConfig::new(&stack).with_name("up");
            cfg.overrides = overrides;
            let mut s = Stack::boot(cfg).await.with_context(|| format!("failed to boot {}", stack.display()))?;
            print!("{}", startup::table(&s.timeline));
            s.keep();
            print_keep_hint(&s);
            Ok(ExitCode::SUCCESS)
        }
        Command::Hold { stack, state_dir, name, overrides } => {
            let mut cfg = StackConfig::new(&stack).with_name(&name);
            cfg.overrides = overrides;
            harness::shared::hold(cfg, &state_dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Down { project } => {
            let docker = engine::connect().await?;
            let removed = teardown::remove_project(&docker, &project).await?;
            println!("removed {removed} of {project}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Reap => {
            let docker = engine::connect().await?;
            let report = teardown::reap(&docker).await?;
            println!("reaped {} from {} dead run(s)", report.removed, report.owners.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Images { stack, all } => {
            let statuses = if all {
                let docker = engine::connect().await?;
                let mut out = Vec::new();
                for recipe in images::recipes(&harness::workspace::recipes_dir())? {
                    out.push(images::ensure_recipe(&docker, &recipe).await?);
                }
                out
            } else {
                let cfg = StackConfig::new(&stack).with_name("images");
                Stack::prepare(&cfg)
                    .await
                    .with_context(|| format!("failed to prepare images for {}", stack.display()))?
                    .images
            };
            for i in &statuses {
                let how = match &i.provenance {
                    images::Provenance::Cached => "cached".to_owned(),
                    images::Provenance::Built(d) => format!("built in {}", secs(*d)),
                    images::Provenance::Present => "present (no recipe)".to_owned(),
                };
                let budget =
                    i.budget_bytes.map(|b| format!(" (budget {})", harness::units::megabytes(b))).unwrap_or_default();
                println!("{:<36} {:>9}{budget}  {how}", i.reference, harness::units::megabytes(i.size_bytes));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(b) => bench_command(b).await,
    }
}

async fn bench_command(b: Bench) -> anyhow::Result<ExitCode> {
    match b {
        Bench::Boot { stack, runs, accuracy_override, accuracy_runs } => {
            let cfg = StackConfig::new(&stack);
            let versus = match bench::versus_compose_wait(&cfg, runs).await {
                Ok(v) => v,
                Err(e) => {
                    let _ = bench::cleanup().await;
                    return Err(e.into());
                }
            };
            println!("{versus}");
            if let Some(o) = accuracy_override {
                let acc = bench::ready_accuracy(&cfg.clone().with_override(o), accuracy_runs).await?;
                println!("{acc}");
            }
        }
        Bench::Lint { stack, runs } => println!("{}", bench::lint(&stack, runs).await?),
        Bench::Report { report, runs } => {
            let path = match report {
                Some(p) => p,
                None => bench::newest_report(&harness::report::default_dir())
                    .context("no report.json under target/acceptance (hint: run `harness check` first, or pass one)")?,
            };
            println!("{}", bench::report(&path, runs)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct CheckArgs {
    stack: PathBuf,
    budget: Option<Duration>,
    overrides: Vec<PathBuf>,
    keep: bool,
    selection: Selection,
    report_dir: PathBuf,
}

async fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    // Refuse before booting anything: an hour of checks with nowhere to put the verdict
    // would be wasted.
    harness::report::ensure_writable(&a.report_dir)?;
    let started_at = SystemTime::now();
    let started = Instant::now();
    let mut cfg = StackConfig::new(&a.stack).with_name("check");
    cfg.overrides = a.overrides;
    harness::progress::note(format!("booting {}", a.stack.display()));
    let mut s = Stack::boot(cfg).await.with_context(|| format!("failed to boot {}", a.stack.display()))?;
    println!("stack {} (project {})", a.stack.display(), s.project_name());
    print!("{}", startup::table(&s.timeline));
    let services = s.model.service_names();
    let mut policy = harness::checks::load_policy(&s.dir, &services)?;
    if let Some(b) = a.budget {
        policy.defaults.startup = b;
    }
    let cx = harness::checks::Context { stack: &s, policy: &policy };
    let catalogue = harness::checks::full(&cx, &a.selection).await?;
    print_verdicts(&catalogue.verdicts);
    println!("{}", catalogue.timing_line());

    let mut section = StackReport::new(&harness::report::display_path(&a.stack), catalogue.verdicts.clone(), None)
        .with_stack(&s, &policy);
    section.only = a.selection.only.clone();
    section.skip = a.selection.skip.clone();
    section.catalogue = catalogue.timings.iter().map(|(f, d)| ((*f).to_owned(), d.as_secs_f64())).collect();
    if let Some(m) = &catalogue.matrix {
        section.isolation = harness::report::grid(m, &policy);
    }
    let provenance = harness::report::provenance(Some(s.docker())).await;
    let run_id = harness::labels::RunIdentity::current().run_id.clone();
    let report = Report::new(&run_id, "check", started_at, started.elapsed(), vec![section], provenance);
    let written = harness::report::write(&report, &a.report_dir)?;
    let summary = Summary::of(&catalogue.verdicts);
    println!("verdict: {summary}");
    println!(
        "report: {} (also report.md, report.html, junit.xml; rendered in {} ms)",
        written.json.display(),
        written.took.as_millis()
    );
    if a.keep {
        s.keep();
        print_keep_hint(&s);
    } else {
        let removed = s.down().await?;
        harness::progress::note(format!("removed {removed}"));
    }
    Ok(exit(summary))
}

/// 1 when anything failed; 2 when a selected criterion was not judged; 0 only when every
/// selected criterion passed (or was waived by the policy).
fn exit(summary: Summary) -> ExitCode {
    ExitCode::from(summary.exit_code() as u8)
}

/// `harness table`: the README's seed table from report.json files.
fn table(reports: &[PathBuf], readme: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    use harness::report::table;
    let reports: Vec<_> = reports.iter().map(|p| harness::report::read(p)).collect::<Result<_, _>>()?;
    let text = table::render(&reports);
    let Some(readme) = readme else {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    };
    let old = std::fs::read_to_string(readme).with_context(|| format!("cannot read {}", readme.display()))?;
    let Some(new) = table::splice(&old, &text) else {
        anyhow::bail!(
            "{} has no seed table to replace (hint: put the two lines `{}` and `{}` where it goes)",
            readme.display(),
            table::BEGIN,
            table::END
        );
    };
    std::fs::write(readme, new).with_context(|| format!("cannot write {}", readme.display()))?;
    eprintln!(
        "wrote the table of {} stack(s) into {}",
        reports.iter().map(|r| r.stacks.len()).sum::<usize>(),
        readme.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `harness report`: the newest (or named) nextest run's evidence as a report.
async fn report_from_evidence(run_id: Option<String>, dir: PathBuf, screenshot: bool) -> anyhow::Result<ExitCode> {
    harness::report::ensure_writable(&dir)?;
    let run_id = match run_id {
        Some(r) => r,
        None => harness::report::latest_run().context(
            "no evidence under target/acceptance/evidence (hint: run `cargo nextest run --workspace` first)",
        )?,
    };
    let evidence = harness::report::evidence_dir(&run_id);
    let merged = harness::report::merge_evidence(&evidence)?;
    let docker = engine::connect().await.ok();
    let provenance = harness::report::provenance(docker.as_ref()).await;
    let report = Report::new(
        &run_id,
        "nextest",
        merged.first,
        merged.last.duration_since(merged.first).unwrap_or_default(),
        merged.stacks,
        provenance,
    );
    let written = harness::report::write(&report, &dir)?;
    println!(
        "{}: {} passed, {} failed, {} not judged across {} stack(s), from {} test(s)' evidence",
        report.verdict_word(),
        report.passed,
        report.failed,
        report.not_judged,
        report.stacks.len(),
        merged.tests.len()
    );
    println!("report: {} (also report.md, report.html, junit.xml)", written.json.display());
    if screenshot {
        let png = written.dir.join("report.png");
        let took = harness::screenshot::screenshot(&written.html, &png, 1280, 1600).await?;
        println!("screenshot: {} in {}", png.display(), secs(took));
    }
    // The report judges stacks; whether the test run passed is nextest's exit code. Both
    // are go/no-go here so the gate can use either.
    Ok(exit(report.summary()))
}

fn print_verdicts(verdicts: &[harness::verdict::Verdict]) {
    for v in verdicts {
        println!("{}", v.line());
        println!("    {}", v.evidence);
        if let Some(h) = &v.hint {
            println!("    hint: {h}");
        }
    }
}

fn print_keep_hint(s: &Stack) {
    let files: Vec<String> = s.project.files.iter().map(|f| format!("-f {}", f.display())).collect();
    println!("kept running as project {}", s.project_name());
    println!("  inspect: docker compose -p {} {} ps", s.project_name(), files.join(" "));
    println!("  remove:  harness down {}", s.project_name());
}
