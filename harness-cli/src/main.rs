//! The `harness` command: a thin front-end over the library.
//!
//! Exit codes: 0 every selected criterion passed, 1 at least one failed, 2 the harness
//! could not judge (infrastructure, bad input, an interrupt). `--help` lists them with the
//! environment variables read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use harness::boot::stack::{Stack, StackConfig};
use harness::engine::images;
use harness::engine::teardown;
use harness::engine::{self, labels};
use harness::judge::criteria::Selection;
use harness::judge::startup;
use harness::judge::verdict::Summary;
use harness::report::{Report, StackReport};
use harness::units::{parse_duration, secs};
use harness_cli::bench;
use harness_cli::board::{Board, Mode};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Boot a compose stack, measure it, judge its acceptance criteria, tear it down.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// The top-level help's epilogue: what a script calling `harness` needs besides the flags.
const AFTER_HELP: &str = "\
Exit codes:
  0  every selected criterion passed
  1  at least one criterion failed
  2  could not judge: bad input, engine lost, interrupted, or a selected criterion not judged

Environment:
  RUST_LOG           log filter, overrides -v (e.g. RUST_LOG=harness=debug)
  NO_COLOR           no ANSI colour (there is none either when the output is not a terminal)
  DOCKER_HOST        the engine to talk to (default unix:///var/run/docker.sock)
  CARGO_TARGET_DIR   where reports go by default (<dir>/acceptance) and images are built
  HARNESS_WORKSPACE  the project's root (fixtures, recipes), for a binary used outside it
  HARNESS_TAKE_TURNS `check --take-turns` when 1/true/yes (e.g. set once on a shared CI runner)
  HARNESS_TURNS_LOCK the lock file runs taking turns share (default: per user, in the temp dir)
Read by the test suites, not by this command:
  HARNESS_BIN        the `harness` binary that holds a nextest run's shared stack
  HARNESS_BLESS      rewrite the seeds' pinned verdicts instead of asserting them";

/// `--format`: what goes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Lines for a person.
    Human,
    /// The report (the JSON of report.json); the lines for a person go to stderr.
    Json,
}

/// `--engine`: what runs the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    /// `docker compose up`.
    Compose,
    /// `docker stack deploy` on Docker Swarm, with the translations printed.
    Swarm,
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
        /// Give up booting after this long (default: 180 s).
        #[arg(long, value_parser = duration, value_name = "DURATION")]
        boot_timeout: Option<Duration>,
        /// Extra compose files layered on top (e.g. an override with other healthcheck timings).
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
        /// Leave the stack running afterwards, and print how to reach and remove it.
        #[arg(long)]
        keep: bool,
        /// Activate only this compose profile (repeatable); by default every profile is
        /// active, so services behind a profile are judged too.
        #[arg(long = "profile", value_name = "PROFILE")]
        profiles: Vec<String>,
        /// When to pull images that no recipe builds: missing (default), always or never.
        #[arg(long, default_value = "missing", value_parser = pull_policy)]
        pull: images::Pull,
        /// Where the stack runs: `compose` (default), or `swarm`: `docker stack deploy` on a
        /// single-node swarm the harness starts (and leaves) when the engine is in none.
        #[arg(long, value_enum, default_value_t = Engine::Compose)]
        engine: Engine,
        /// Take turns with other harness runs on this host that take them: wait until none
        /// is in its timed steps (boot to the change checks) before booting, so that
        /// startup, latency and recovery times are the stack's alone and not the shared
        /// machine's. Persistence, backups and teardown still overlap. The lock file is
        /// per user in the temp directory, or HARNESS_TURNS_LOCK.
        /// (The variable takes true/false, 1/0, yes/no, on/off.)
        #[arg(long, env = "HARNESS_TAKE_TURNS", value_parser = clap::builder::BoolishValueParser::new())]
        take_turns: bool,
        #[command(flatten)]
        select: Select,
        /// Where reports go: <DIR>/<run-id>/report.{json,md,html} and junit.xml.
        #[arg(long, default_value_os_t = harness::report::default_dir())]
        report_dir: PathBuf,
        /// What goes on stdout: lines for a person, or the report's JSON.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Judge what can be judged from the compose file and image config alone, with no boot;
    /// writes the same report files as `check`.
    Lint {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Activate only this compose profile (repeatable); by default every profile is
        /// active, so services behind a profile are judged too.
        #[arg(long = "profile", value_name = "PROFILE")]
        profiles: Vec<String>,
        /// Where reports go: <DIR>/<run-id>/report.{json,md,html} and junit.xml.
        #[arg(long, default_value_os_t = harness::report::default_dir())]
        report_dir: PathBuf,
        /// What goes on stdout: lines for a person, or the report's JSON.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Draft a commented acceptance.toml for a stack from its compose file: every key at
    /// its default, reach per network, the gateway, persistence and backups of named volumes.
    Init {
        /// Stack directory (holding compose.yaml).
        stack: PathBuf,
        /// Overwrite an existing policy file.
        #[arg(long)]
        force: bool,
    },
    /// Boot a stack and leave it running, for debugging.
    Up {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
        /// Give up booting after this long (default: 180 s).
        #[arg(long, value_parser = duration, value_name = "DURATION")]
        boot_timeout: Option<Duration>,
    },
    /// Boot a stack and hold it for the read-only tests of a nextest run (started by the
    /// suites through `harness::boot::shared`; not for direct use).
    #[command(hide = true)]
    Hold {
        stack: PathBuf,
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long = "override")]
        overrides: Vec<PathBuf>,
        #[arg(long, value_parser = duration, value_name = "DURATION")]
        boot_timeout: Option<Duration>,
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
        /// Instead of STACK, lint a generated compose file with this many services (every
        /// tenth built from a Dockerfile, the rest on four recipe images), e.g. 200.
        #[arg(long, value_name = "N")]
        services: Option<usize>,
    },
    /// The load generator's ceiling: requests/s through the stack's gateway on 127.0.0.1,
    /// as fast as answers come, and the generator's own CPU share (target: 3000 req/s).
    Load {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Paths to load, one run each (default: nginx's own /healthz, then the first route).
        #[arg(long = "path", value_name = "PATH")]
        paths: Vec<String>,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How long each run lasts, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The harness's own footprint during one `check`: peak RSS (target: 64 MiB on the
    /// reference stack), file descriptors and threads, sampled from /proc.
    Footprint {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        /// Instead of STACK, a generated stack of SERVICES nginx services on NETWORKS
        /// networks, each network reaching exactly its members, e.g. `100,10`.
        #[arg(long, value_name = "SERVICES,NETWORKS", value_parser = services_and_networks)]
        wide: Option<(usize, usize)>,
        /// Arguments passed on to `check` (e.g. `--only network,startup`).
        #[arg(last = true)]
        check_args: Vec<String>,
    },
    /// Fault injection: one quiet check of STACK, then RUNS checks, each with one fault (none,
    /// a panic in a check, SIGTERM, SIGINT, SIGKILL then reap, the engine cut then reap, a
    /// service or a helper container killed) at a seeded point, counting what each run left
    /// behind (target: nothing, every run) and comparing each undisturbed run's verdicts with
    /// the quiet run's. Exits 1 if anything was left or a verdict differed.
    Soak {
        #[arg(default_value = "compose/reference")]
        stack: PathBuf,
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Replays a soak: the same seed gives the same faults at the same points (default:
        /// from the clock, printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Faults strike within this long after a check starts.
        #[arg(long, value_parser = duration, value_name = "DURATION", default_value = "40s")]
        window: Duration,
        /// Runs this many checks side by side on the engine (the quiet run is always alone).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        concurrency: u16,
        /// Draw each run's fault from these only (comma-separated; default: every fault).
        /// `--faults none` runs undisturbed checks, e.g. to compare side-by-side runs.
        #[arg(long, value_enum, value_delimiter = ',')]
        faults: Vec<bench::Fault>,
        /// With --concurrency above 1, the checks take turns through their timed steps
        /// (`check --take-turns`) unless this is given: then they boot and time their stacks
        /// all at once, and the startup and latency verdicts judge the shared machine.
        #[arg(long)]
        no_turns: bool,
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

/// `100,10` for `bench footprint --wide`.
fn services_and_networks(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("expected SERVICES,NETWORKS such as 100,10, got {s:?}"))?;
    let parse = |x: &str| x.trim().parse::<usize>().ok().filter(|n| *n > 0);
    match (parse(a), parse(b)) {
        (Some(services), Some(networks)) if networks <= services => Ok((services, networks)),
        _ => Err(format!("expected two positive counts, networks no more than services, got {s:?}")),
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // `check --help` lists every criterion id, from the catalogue itself.
    let ids: Vec<String> = harness::judge::criteria::ALL
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
    let board = Board::new(Mode::for_stderr());
    // bollard logs every Engine API response body at debug, and `docker inspect` bodies
    // carry containers' environments, secrets included. Whatever -v or RUST_LOG ask for,
    // its events below info never reach the log.
    let redact = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("bollard") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Through the board, so a warning during a boot prints above it, not into it.
                .with_writer(board.log_writer())
                .with_ansi(colour(&std::io::stderr()))
                .with_filter(filter.and(redact)),
        )
        .init();
    board.install();
    // Ctrl-C or SIGTERM: the library removes what it started, then exits 2 ("could not judge").
    teardown::exit_code_on_signal(2);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Armed only when FAILPOINTS names a point (`bench soak`'s panic fault).
    let _faults = harness::faults::setup();
    // A panic is a bug of the harness, not a verdict: it unwinds through the run, whose
    // guards remove what it started, and ends as "could not judge" (2), not Rust's 101.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(cli.command))));
    // An interrupt makes the work in flight fail too; its cleanup decides how we exit.
    teardown::wait_for_signal_cleanup();
    let code = match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            // The error may quote a stack's output (a health log, a build step).
            eprintln!("error: {}", harness::report::terminal(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            eprintln!(
                "error: the harness panicked: {} (hint: this is a bug in the harness, not a verdict on the stack; what the run started was removed; rerun with RUST_BACKTRACE=1 and report the message)",
                harness::report::terminal(what)
            );
            ExitCode::from(2)
        }
    };
    // A probe still stuck in a blocking call (a name lookup in `doctor`, say) must not
    // hold the exit: its answer is no longer wanted.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// ANSI colour on `stream`: only on a terminal, and never with `NO_COLOR` set (no-color.org:
/// any non-empty value).
fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check {
            stack,
            startup_budget,
            boot_timeout,
            overrides,
            keep,
            profiles,
            pull,
            engine,
            take_turns,
            select,
            report_dir,
            format,
        } => {
            let selection = Selection::new(select.only, select.skip)?;
            let out = Human::for_format(format);
            let args = CheckArgs {
                stack,
                budget: startup_budget,
                boot_timeout,
                overrides,
                keep,
                profiles,
                pull,
                engine,
                take_turns,
                selection,
                report_dir,
            };
            check(args, out).await
        }
        Command::Report { run_id, report_dir, screenshot } => {
            report_from_evidence(run_id, report_dir, screenshot).await
        }
        Command::Table { reports, readme } => table(&reports, readme.as_deref()),
        Command::Doctor => {
            let findings = harness_cli::doctor::run().await;
            for f in &findings {
                println!("{f}");
            }
            Ok(if harness_cli::doctor::exit_ok(&findings) { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Lint { stack, profiles, report_dir, format } => {
            lint(&stack, &profiles, &report_dir, Human::for_format(format)).await
        }
        Command::Init { stack, force } => {
            let (path, text) = harness::policy::init::draft_for(&stack)
                .await
                .with_context(|| format!("failed to draft a policy for {}", stack.display()))?;
            if path.exists() && !force {
                anyhow::bail!(
                    "{} already exists (hint: pass --force to overwrite it, or move it aside)",
                    harness::report::display_path(&path)
                );
            }
            std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {} ({} lines); review it, then `harness lint {}`",
                harness::report::display_path(&path),
                text.lines().count(),
                stack.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Up { stack, overrides, boot_timeout } => {
            let cfg = stack_config(&stack, "up", overrides, boot_timeout);
            let mut s = Stack::boot(cfg).await.with_context(|| format!("failed to boot {}", stack.display()))?;
            print!("{}", startup::table(&s.timeline));
            s.keep();
            print_keep_hint(Human::for_format(Format::Human), &s);
            Ok(ExitCode::SUCCESS)
        }
        Command::Hold { stack, state_dir, name, overrides, boot_timeout } => {
            let cfg = stack_config(&stack, &name, overrides, boot_timeout);
            harness::boot::shared::hold(cfg, &state_dir).await?;
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
            println!(
                "reaped {} and {} work directory(ies) from {} dead run(s)",
                report.removed,
                report.workdirs,
                report.owners.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Images { stack, all } => {
            let statuses = if all {
                let docker = engine::connect().await?;
                images::ensure_all(&docker).await?
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
        Bench::Lint { stack, runs, services } => {
            let generated;
            let stack = match services {
                Some(n) => {
                    generated = bench::many_services(n)?;
                    generated.path().to_owned()
                }
                None => stack,
            };
            println!("{}", bench::lint(&stack, runs).await?)
        }
        Bench::Load { stack, paths, concurrency, seconds } => {
            let runs = match bench::load(&stack, &paths, concurrency, Duration::from_secs(seconds)).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = bench::cleanup().await;
                    return Err(e);
                }
            };
            for run in runs {
                println!("{run}");
            }
        }
        Bench::Footprint { stack, wide, check_args } => {
            let scratch = wide.map(|(services, networks)| bench::wide_stack(services, networks)).transpose()?;
            let stack = scratch.as_ref().map_or(stack, |d| d.path().to_path_buf());
            let mut measured = bench::footprint(&stack, &check_args).await?;
            if let Some((services, networks)) = wide {
                measured.what = measured
                    .what
                    .replace(&stack.display().to_string(), &format!("<{services} services on {networks} networks>"));
            }
            println!("{measured}");
        }
        Bench::Soak { stack, runs, seed, window, concurrency, faults, no_turns } => {
            let seed = seed
                .unwrap_or_else(|| SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
            let turns = concurrency > 1 && !no_turns;
            let plan = bench::SoakPlan { runs, seed, window, concurrency: usize::from(concurrency), faults, turns };
            println!(
                "soak of {}: a quiet run, then {runs} run(s), {concurrency} at a time{}, seed {seed} (replay with --seed {seed}{}{})",
                stack.display(),
                if turns { ", taking turns through their timed steps" } else { "" },
                if plan.faults.is_empty() {
                    String::new()
                } else {
                    let names: Vec<_> = plan.faults.iter().map(|f| f.id()).collect();
                    format!(" --faults {}", names.join(","))
                },
                if concurrency > 1 && no_turns { " --no-turns" } else { "" }
            );
            let started = Instant::now();
            let done = bench::soak(&stack, &plan, |r| {
                let label = if r.number == 0 { "quiet run".to_owned() } else { format!("run {}/{runs}", r.number) };
                let fault = match &r.failpoint {
                    Some(f) => format!("{:?} ({f})", r.fault),
                    None => format!("{:?} at {}", r.fault, secs(r.at)),
                };
                println!(
                    "{label}: {fault}: exit {}; left {}, {} work dir(s), {} dangling image(s), stray report files: {}; {} verdict(s){} ({})",
                    r.exit.map_or_else(|| "by signal".to_owned(), |c| c.to_string()),
                    r.left,
                    r.workdirs_left,
                    r.dangling_images,
                    if r.stray_files.is_empty() { "none".to_owned() } else { r.stray_files.join(", ") },
                    r.verdicts.as_ref().map_or(0, std::collections::BTreeMap::len),
                    if r.differences.is_empty() {
                        String::new()
                    } else {
                        format!("; DIFFERS from the quiet run: {}", r.differences.join("; "))
                    },
                    match r.waited {
                        Some(w) => format!("{}, of which {} waiting for its turn", secs(r.wall), secs(w)),
                        None => secs(r.wall),
                    }
                );
                if let Some(e) = &r.error {
                    println!("    {}", harness::report::terminal(e));
                }
            })
            .await?;
            let all: Vec<bench::SoakRun> =
                std::iter::once(done.quiet.clone()).chain(done.runs.iter().cloned()).collect();
            print!("{}", bench::soak_table(&all));
            let dirty = all.iter().filter(|r| r.dirty()).count();
            let differ = done.runs.iter().filter(|r| !r.differences.is_empty()).count();
            let undisturbed = done.runs.iter().filter(|r| r.fault == bench::Fault::None).count();
            println!("runs that left something: {dirty} of {}", all.len());
            println!("undisturbed runs whose verdicts differ from the quiet run's: {differ} of {undisturbed}");
            println!("wall time: {}", secs(started.elapsed()));
            if dirty > 0 || differ > 0 {
                return Ok(ExitCode::from(1));
            }
        }
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

/// Where the lines for a person go: stdout, or stderr when stdout carries the JSON report.
#[derive(Debug, Clone, Copy)]
struct Human {
    format: Format,
}

impl Human {
    fn for_format(format: Format) -> Human {
        Human { format }
    }

    /// Prints text that may carry a stack's own words (health-check output, names): its
    /// control sequences are shown, never sent to the terminal.
    fn print(self, text: impl std::fmt::Display) {
        let text = text.to_string();
        let text = harness::report::terminal(&text);
        match self.format {
            Format::Human => print!("{text}"),
            Format::Json => eprint!("{text}"),
        }
    }

    fn line(self, text: impl std::fmt::Display) {
        self.print(format_args!("{text}\n"));
    }

    /// Ends a command that wrote `report`: the report's JSON on stdout if asked for, and
    /// where the files are.
    fn report(self, written: &harness::report::Written) -> anyhow::Result<()> {
        if self.format == Format::Json {
            let json = std::fs::read_to_string(&written.json)
                .with_context(|| format!("cannot read back {}", written.json.display()))?;
            println!("{}", json.trim_end());
        }
        self.line(format_args!(
            "report: {} (also report.md, report.html, junit.xml; rendered in {} ms)",
            written.json.display(),
            written.took.as_millis()
        ));
        Ok(())
    }
}

/// `harness lint`: the static verdicts, printed and written as the same four report files
/// `check` writes, so a gate that boots nothing still shows its results in CI.
async fn lint(
    stack: &std::path::Path,
    profiles: &[String],
    report_dir: &std::path::Path,
    out: Human,
) -> anyhow::Result<ExitCode> {
    harness::report::ensure_writable(report_dir)?;
    let started_at = SystemTime::now();
    let started = Instant::now();
    let linted = harness::judge::lint::lint_stack_with(stack, profiles)
        .await
        .with_context(|| format!("failed to lint {}", stack.display()))?;
    for w in &linted.warnings {
        out.line(format_args!("warning: {w}"));
    }
    let verdicts = linted.verdicts;
    print_verdicts(out, &verdicts);
    out.line(format_args!(
        "not judged without a running stack: {} (use `harness check`)",
        harness::judge::lint::needs_running_stack().join(", ")
    ));
    let summary = Summary::of(&verdicts);
    out.line(format_args!("lint verdict: {summary} in {}", secs(started.elapsed())));
    let mut section = StackReport::new(&harness::report::display_path(stack), verdicts, None);
    section.warnings = linted.warnings;
    let docker = engine::connect().await.ok();
    let written =
        write_report("lint", started_at, started.elapsed(), vec![section], docker.as_ref(), report_dir).await?;
    out.report(&written)?;
    Ok(exit(summary))
}

/// Writes the run's report (report.json, report.md, report.html, junit.xml) under
/// `<dir>/<run-id>/`: what `check` and `lint` both leave behind.
async fn write_report(
    source: &str,
    started_at: SystemTime,
    took: Duration,
    sections: Vec<StackReport>,
    docker: Option<&bollard::Docker>,
    dir: &std::path::Path,
) -> anyhow::Result<harness::report::Written> {
    let provenance = harness::report::provenance(docker).await;
    let run_id = labels::RunIdentity::current().run_id.clone();
    let report = Report::new(&run_id, source, started_at, took, sections, provenance);
    Ok(harness::report::write(&report, dir)?)
}

/// The boot configuration `check`, `up` and `hold` share: the stack, its overrides, and
/// the boot deadline when one was given (the library's default otherwise).
fn pull_policy(s: &str) -> Result<images::Pull, String> {
    s.parse()
}

fn stack_config(
    stack: &std::path::Path,
    name: &str,
    overrides: Vec<PathBuf>,
    boot_timeout: Option<Duration>,
) -> StackConfig {
    let mut cfg = StackConfig::new(stack).with_name(name);
    cfg.overrides = overrides;
    match boot_timeout {
        Some(t) => cfg.with_boot_timeout(t),
        None => cfg,
    }
}

struct CheckArgs {
    stack: PathBuf,
    budget: Option<Duration>,
    boot_timeout: Option<Duration>,
    overrides: Vec<PathBuf>,
    keep: bool,
    profiles: Vec<String>,
    pull: images::Pull,
    engine: Engine,
    take_turns: bool,
    selection: Selection,
    report_dir: PathBuf,
}

async fn check(a: CheckArgs, out: Human) -> anyhow::Result<ExitCode> {
    // Refuse before booting anything: an hour of checks with nowhere to put the verdict
    // would be wasted.
    harness::report::ensure_writable(&a.report_dir)?;
    let started_at = SystemTime::now();
    let started = Instant::now();
    let cfg = stack_config(&a.stack, "check", a.overrides.clone(), a.boot_timeout)
        .with_profiles(&a.profiles)
        .with_pull(a.pull);
    harness::progress::note(format!("booting {}", a.stack.display()));
    let failed_boot = || format!("failed to boot {}", a.stack.display());
    let prepared = Stack::prepare(&cfg).await.with_context(failed_boot)?;
    // The policy is read before `up`: a policy naming what the stack does not have is an
    // input error that must not cost a boot.
    let mut policy = harness::judge::load_policy_for(&prepared.dir, &prepared.model, &prepared.project.files)?;
    // Taken after the images are ready and the policy read, so a run waits only when it
    // is about to boot; given back by `full_in_turn` after the change checks.
    let turn = if a.take_turns { Some(harness::turns::take("boot and judge").await?) } else { None };
    if a.engine == Engine::Swarm {
        return check_swarm(a, out, cfg, prepared, policy, turn, (started_at, started)).await;
    }
    let mut s = prepared.start(&cfg).await.with_context(failed_boot)?;
    out.line(format_args!("stack {} (project {})", a.stack.display(), s.project_name()));
    out.print(startup::table(&s.timeline));
    if let Some(b) = a.budget {
        policy.defaults.startup = b;
    }
    let cx = harness::judge::Context { stack: &s, policy: &policy };
    let catalogue = harness::judge::full_in_turn(&cx, &a.selection, turn).await?;
    let summary = report_check(&a, out, &catalogue, &s.record(), &policy, (started_at, started), s.docker()).await?;
    if a.keep {
        s.keep();
        print_keep_hint(out, &s);
    } else {
        let removed = s.down().await?;
        harness::progress::note(format!("removed {removed}"));
    }
    Ok(exit(summary))
}

/// A check's verdicts printed and its report written, on either engine; the summary decides
/// the exit code.
async fn report_check(
    a: &CheckArgs,
    out: Human,
    catalogue: &harness::judge::Catalogue,
    record: &harness::boot::stack::RunRecord,
    policy: &harness::policy::Policy,
    (started_at, started): (SystemTime, Instant),
    docker: &bollard::Docker,
) -> anyhow::Result<Summary> {
    print_verdicts(out, &catalogue.verdicts);
    out.line(catalogue.timing_line());
    let mut section = StackReport::new(&harness::report::display_path(&a.stack), catalogue.verdicts.clone(), None)
        .with_run(record, policy);
    section.only = a.selection.only.clone();
    section.skip = a.selection.skip.clone();
    section.catalogue = catalogue.timings.iter().map(|(f, d)| ((*f).to_owned(), d.as_secs_f64())).collect();
    if let Some(m) = &catalogue.matrix {
        section.isolation = harness::report::grid(m, policy);
    }
    section.loads = catalogue.loads.clone();
    let written =
        write_report("check", started_at, started.elapsed(), vec![section], Some(docker), &a.report_dir).await?;
    let summary = Summary::of(&catalogue.verdicts);
    out.line(format_args!("verdict: {summary}"));
    out.report(&written)?;
    Ok(summary)
}

/// `check --engine swarm`: the prepared stack deployed on Swarm and judged there
/// (`harness::judge::swarm`), with the same report files and exit codes.
async fn check_swarm(
    a: CheckArgs,
    out: Human,
    cfg: StackConfig,
    prepared: harness::boot::stack::Prepared,
    mut policy: harness::policy::Policy,
    turn: Option<harness::turns::Turn>,
    (started_at, started): (SystemTime, Instant),
) -> anyhow::Result<ExitCode> {
    let mut s = harness::boot::swarm::SwarmStack::deploy(prepared, &cfg)
        .await
        .with_context(|| format!("failed to deploy {} on swarm", a.stack.display()))?;
    out.line(format_args!(
        "stack {} (swarm stack {}{})",
        a.stack.display(),
        s.name,
        if s.started_swarm { ", on a single-node swarm the harness started" } else { "" }
    ));
    out.print(startup::table(&s.timeline));
    if let Some(b) = a.budget {
        policy.defaults.startup = b;
    }
    let catalogue = harness::judge::swarm::full(&s, &policy, &a.selection).await?;
    // Swarm's catalogue runs no untimed step after its timed ones: the turn ends with it.
    drop(turn);
    let summary = report_check(&a, out, &catalogue, &s.record(), &policy, (started_at, started), s.docker()).await?;
    if a.keep {
        s.keep();
        out.line(format_args!(
            "kept: swarm stack {} (docker stack ps {}); remove it with `harness down {}`",
            s.name, s.name, s.name
        ));
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
        let took = harness_cli::screenshot::screenshot(&written.html, &png, 1280, 1600).await?;
        println!("screenshot: {} in {}", png.display(), secs(took));
    }
    // The report judges stacks; whether the test run passed is nextest's exit code. Both
    // are go/no-go here so the gate can use either.
    Ok(exit(report.summary()))
}

fn print_verdicts(out: Human, verdicts: &[harness::judge::verdict::Verdict]) {
    for v in verdicts {
        out.line(v.line());
        // A health log can span lines: keep them under their verdict.
        out.line(format_args!("    {}", v.evidence.replace('\n', "\n    ")));
        if let Some(h) = &v.hint {
            out.line(format_args!("    hint: {h}"));
        }
    }
}

fn print_keep_hint(out: Human, s: &Stack) {
    // By project name alone: compose finds the containers by their labels, and the harness's
    // own override files go with this process's work directory.
    out.line(format_args!("kept running as project {}", s.project_name()));
    out.line(format_args!("  inspect: docker compose -p {} ps", s.project_name()));
    out.line(format_args!("  remove:  harness down {}", s.project_name()));
}
