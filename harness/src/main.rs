//! The `harness` command: a thin front-end over the library.
//!
//! Exit codes: 0 every criterion passed, 1 at least one failed, 2 the harness could not
//! judge (infrastructure or bad input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use harness::stack::{Stack, StackConfig};
use harness::units::{parse_duration, secs};
use harness::verdict::Summary;
use harness::{bench, engine, images, startup, teardown};

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
    /// Build or verify the images a stack needs, and say which were cached.
    Images {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Every recipe under fixtures/images, whatever the stack uses (what the test suites need).
        #[arg(long)]
        all: bool,
    },
    /// Benchmark boot-to-verdict against `docker compose up -d --wait`, and ready-time accuracy.
    Bench {
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
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { stack, startup_budget, overrides, keep } => {
            check(stack, startup_budget, overrides, keep).await
        }
        Command::Lint { stack } => {
            let started = std::time::Instant::now();
            let verdicts = harness::checks::lint::lint_stack(&stack)
                .await
                .with_context(|| format!("failed to lint {}", stack.display()))?;
            print_verdicts(&verdicts);
            println!(
                "not judged without a running stack: {} (use `harness check`)",
                harness::checks::lint::NEEDS_RUNNING_STACK.join(", ")
            );
            let summary = Summary::of(&verdicts);
            println!("lint verdict: {summary} in {}", secs(started.elapsed()));
            Ok(if summary.go() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
        Command::Bench { stack, runs, accuracy_override, accuracy_runs } => {
            let cfg = StackConfig::new(&stack);
            let versus = bench::versus_compose_wait(&cfg, runs).await;
            let versus = match versus {
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn check(
    stack: PathBuf,
    budget: Option<Duration>,
    overrides: Vec<PathBuf>,
    keep: bool,
) -> anyhow::Result<ExitCode> {
    let mut cfg = StackConfig::new(&stack).with_name("check");
    cfg.overrides = overrides;
    eprintln!("harness: booting {}", stack.display());
    let mut s = Stack::boot(cfg).await.with_context(|| format!("failed to boot {}", stack.display()))?;
    println!("stack {} (project {})", stack.display(), s.project_name());
    print!("{}", startup::table(&s.timeline));
    let services = s.model.service_names();
    let policy = harness::checks::load_policy(&s.dir, &services)?;
    let mut policy = policy;
    if let Some(b) = budget {
        policy.defaults.startup = b;
    }
    let cx = harness::checks::Context { stack: &s, policy: &policy };
    let catalogue = harness::checks::full(&cx).await?;
    let timing = catalogue.timing_line();
    let verdicts = catalogue.verdicts;
    print_verdicts(&verdicts);
    println!("{timing}");
    let summary = Summary::of(&verdicts);
    println!("verdict: {summary}");
    if keep {
        s.keep();
        print_keep_hint(&s);
    } else {
        let removed = s.down().await?;
        eprintln!("harness: removed {removed}");
    }
    Ok(if summary.go() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
