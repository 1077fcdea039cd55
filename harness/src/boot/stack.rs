//! Booting a compose stack and measuring it.
//!
//! We drive the Compose v2 CLI and the Engine API ourselves instead of testcontainers'
//! compose module: that module runs `up --wait` with a fixed 60 s timeout, keeps one handle
//! per service name, and its signal watchdog covers single containers only. Here:
//!
//! 1. compose resolves the stack (`config --format json`); images come from recipes;
//! 2. an override file adds our ownership labels to every service, network and volume;
//! 3. the events stream is opened (replaying from just before `up`), then `up -d` runs;
//! 4. each container `start` event launches a readiness poller running the service's own
//!    healthcheck every 250 ms; `health_status` events give Docker's verdict;
//! 5. the boot ends when every service is ready and, where it has a healthcheck, healthy,
//!    or fails at the deadline naming the service, its state and its health log.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::boot::readiness::{self, ProbeResult, Wait, WaitFor, Waited};
use crate::boot::timeline::{BootTimeline, ServiceTimeline};
use crate::engine;
use crate::engine::compose::{self, ComposeModel, ComposeProject, HealthTiming};
use crate::engine::images::{self, ImageStatus};
use crate::engine::labels::{self, RunIdentity};
use crate::engine::provision;
use crate::engine::teardown::{self, Guard};
use crate::errors::{Error, Result, tail_lines};

/// How to boot a stack. Built with `StackConfig::new(dir)` and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// A stack directory (holding `compose.yaml`, or a `stack.toml` naming its files) or a
    /// compose file.
    pub stack: PathBuf,
    /// Extra compose files layered on top, e.g. an override with slower healthchecks.
    pub overrides: Vec<PathBuf>,
    /// A short name for the run (usually the test name); it becomes part of the project name.
    pub name: String,
    /// The whole boot must finish within this.
    pub boot_timeout: Duration,
    /// How often the harness runs each healthcheck while waiting.
    pub cadence: Duration,
    /// The compose profiles to activate; empty activates every profile, so a service
    /// behind a profile is booted and judged unless the run narrows them.
    pub profiles: Vec<String>,
    /// When to pull an image that no recipe builds and that is not a `build:` service's.
    pub pull: images::Pull,
}

impl StackConfig {
    /// A config for the stack at `stack` (a directory or a compose file), named `stack`, with a 180 s boot deadline and the default healthcheck cadence.
    pub fn new(stack: impl Into<PathBuf>) -> Self {
        StackConfig {
            stack: stack.into(),
            overrides: Vec::new(),
            name: "stack".into(),
            // Generous on purpose: the criterion is judged on measured times, this only
            // bounds a boot that will never finish. The seeds' 30 s intervals need ~90 s.
            boot_timeout: Duration::from_secs(180),
            cadence: readiness::DEFAULT_CADENCE,
            profiles: Vec::new(),
            pull: images::Pull::Missing,
        }
    }

    /// Activates only these compose profiles (and services with none), as `--profile` does.
    pub fn with_profiles(mut self, profiles: &[String]) -> Self {
        self.profiles = profiles.to_vec();
        self
    }

    /// Sets when images that no recipe builds are pulled.
    pub fn with_pull(mut self, pull: images::Pull) -> Self {
        self.pull = pull;
        self
    }

    /// Sets the run's short name, which becomes part of the project name.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Layers another compose file on top of the stack's.
    pub fn with_override(mut self, file: impl Into<PathBuf>) -> Self {
        self.overrides.push(file.into());
        self
    }

    /// Sets the deadline the whole boot (and every later wait) must finish within.
    pub fn with_boot_timeout(mut self, timeout: Duration) -> Self {
        self.boot_timeout = timeout;
        self
    }

    /// Sets how often the harness runs each healthcheck while waiting.
    pub fn with_cadence(mut self, cadence: Duration) -> Self {
        self.cadence = cadence;
        self
    }
}

/// The stable tag a `build:` service's image gets: `harness-build/<dir>-<hash of the
/// stack's path>:<service>`. Stable, so the builder's cache and the previous image are
/// reused and replaced rather than piling up one image per run.
pub fn build_tag(stack_dir: &std::path::Path, service: &str) -> String {
    use sha2::Digest;
    let abs = std::fs::canonicalize(stack_dir).unwrap_or_else(|_| stack_dir.to_owned());
    let hash = hex::encode(sha2::Sha256::digest(abs.to_string_lossy().as_bytes()));
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let clean = |s: &str| -> String {
        s.to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect()
    };
    format!("harness-build/{}-{}:{}", clean(&name), &hash[..8], clean(service))
}

/// A compose project name unique to this run and this test: `hx<run>-<slug>`.
pub fn project_name(run_id: &str, name: &str) -> String {
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("hx{run_id}") } else { format!("hx{run_id}-{slug}") }
}

/// A booted stack. Dropping it removes everything it created.
#[derive(Debug)]
pub struct Stack {
    /// The compose project: its unique name and every file passed to compose, the harness's overrides included.
    pub project: ComposeProject,
    /// The stack as compose resolves it.
    pub model: ComposeModel,
    /// When each service was created, started, ready and healthy.
    pub timeline: BootTimeline,
    /// The images the stack's services run, with where each came from; empty for an attached stack.
    pub images: Vec<ImageStatus>,
    /// The stack directory (see [`compose::layout`]); its policy is found from here.
    pub dir: PathBuf,
    /// Compose's warnings while resolving the stack (unset variables, with where they are
    /// used); empty for an attached stack.
    pub warnings: Vec<String>,
    /// What the stack's own files say beyond the model, read once: see [`FileFacts`].
    pub file_facts: FileFacts,
    docker: Docker,
    guard: Guard,
    /// Bounds every wait after the boot too (restart, recreate, restore, recovery).
    boot_timeout: Duration,
    // The override file must outlive the project: later compose commands pass it again.
    // `None` for a stack attached from another process, which owns the file.
    _workdir: Option<Arc<tempfile::TempDir>>,
}

/// What a boot leaves for the report: plain, serialisable data, so a report is built from a
/// record (which a test process can also write as evidence and a later process read back),
/// never from a live [`Stack`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// The compose project, `hx<run id>-<name>`.
    pub project: String,
    /// The stack directory; its git state is read from here.
    pub dir: PathBuf,
    /// The compose files as given (the harness's own override files excluded), for hashes
    /// and stand-in markers.
    pub files: Vec<PathBuf>,
    /// The service names, sorted.
    pub services: Vec<String>,
    /// When each service was created, started, ready and healthy.
    pub timeline: BootTimeline,
    /// Each service's image as booted: service, reference, id, size, budget.
    pub images: Vec<RecordedImage>,
    /// Compose's warnings while resolving the stack, in a person's words.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One service's image in a [`RunRecord`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedImage {
    /// The service that runs it.
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

/// The [`RunRecord`] of a booted stack, on either engine.
pub(crate) fn record_of(
    project: &ComposeProject,
    dir: &std::path::Path,
    model: &ComposeModel,
    timeline: &BootTimeline,
    images: &[ImageStatus],
    warnings: &[String],
) -> RunRecord {
    let images = model
        .services
        .iter()
        .filter_map(|(service, svc)| {
            let reference = svc.image.as_ref()?;
            let i = images.iter().find(|i| &i.reference == reference)?;
            Some(RecordedImage {
                service: service.clone(),
                reference: reference.clone(),
                id: i.id.clone(),
                size_bytes: i.size_bytes,
                budget_bytes: i.budget_bytes,
            })
        })
        .collect();
    RunRecord {
        project: project.project.clone(),
        dir: dir.to_path_buf(),
        files: project.files.clone(),
        services: model.service_names().iter().map(|s| (*s).to_owned()).collect(),
        timeline: timeline.clone(),
        images,
        warnings: warnings.to_vec(),
    }
}

/// A stack resolved and with its images ready, not yet started.
#[derive(Debug)]
pub struct Prepared {
    /// The compose project: its unique name and every file passed to compose, the harness's overrides included.
    pub project: ComposeProject,
    /// The stack as compose resolves it.
    pub model: ComposeModel,
    /// The images the stack's services run, each now on the engine.
    pub images: Vec<ImageStatus>,
    /// The stack directory (see [`compose::layout`]).
    pub dir: PathBuf,
    /// Compose's warnings while resolving the stack, in a person's words.
    pub warnings: Vec<String>,
    /// The Dockerfiles and stand-ins, read while preparing.
    pub file_facts: FileFacts,
    pub(crate) docker: Docker,
    pub(crate) workdir: Arc<tempfile::TempDir>,
}

/// What a stack's own files say beyond compose's model, read once per stack and shared by
/// every check: each `build:` service's Dockerfile (its USER, HEALTHCHECK and FROM lines),
/// and which services stand-ins play.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// Each `build:` service's Dockerfile; a service whose Dockerfile cannot be read is absent.
    pub dockerfiles: BTreeMap<String, engine::dockerfile::BuildFile>,
    /// The services a stand-in plays, with why ([`compose::stand_ins`]).
    pub stand_ins: BTreeMap<String, String>,
    /// What each service fixes as written ([`ComposeModel::fixed_addresses`]), before the
    /// boot moved it aside; services that fix nothing are absent.
    pub fixed: BTreeMap<String, Vec<String>>,
}

impl FileFacts {
    /// Reads them for a model resolved from the files as written (no harness override):
    /// `files` are those files. A Dockerfile that cannot be read is left out (preparing a
    /// boot reports it as an error before anything runs; a stack attached later was prepared
    /// by its owner).
    pub fn read(model: &ComposeModel, files: &[PathBuf]) -> FileFacts {
        let dockerfiles = model
            .services
            .iter()
            .filter_map(|(name, svc)| {
                let file = engine::dockerfile::read_for_service(name, svc.build.as_ref()?).ok()?;
                Some((name.clone(), file))
            })
            .collect();
        FileFacts { dockerfiles, stand_ins: compose::stand_ins(files), fixed: fixed_addresses(model) }
    }
}

impl Stack {
    /// The boot as plain data, for the report.
    pub fn record(&self) -> RunRecord {
        record_of(&self.project, &self.dir, &self.model, &self.timeline, &self.images, &self.warnings)
    }

    /// Resolves, builds images, boots and waits. See the module docs for the steps.
    pub async fn boot(cfg: StackConfig) -> Result<Stack> {
        Self::prepare(&cfg).await?.start(&cfg).await
    }

    /// Everything before `up`: engine, tools, reaper, compose model, images, labels.
    pub async fn prepare(cfg: &StackConfig) -> Result<Prepared> {
        let docker = engine::connect().await?;
        provision::ensure(provision::Need::Compose).await?;
        teardown::reap_once(&docker).await?;

        let layout = compose::layout(&cfg.stack)?;
        let mut files = layout.files.clone();
        files.extend(cfg.overrides.iter().cloned());
        for f in &files {
            compose::validate_yaml(f)?;
        }
        let run = RunIdentity::current();
        let project = project_name(&run.run_id, &cfg.name);
        let profiles = cfg.profiles.clone();
        let base = ComposeProject { project: project.clone(), files: files.clone(), profiles: profiles.clone() };
        let (mut model, warnings) = base.model_and_warnings().await?;
        if model.services.is_empty() {
            return Err(Error::NoServices { stack: layout.dir.clone(), profiles: profiles.join(", ") });
        }
        let warnings: Vec<String> = warnings.iter().map(|w| compose::describe_warning(w, &layout.files)).collect();
        // Before the boot moves them aside (and network names are taken from the boot).
        let fixed = fixed_addresses(&model);
        for w in &warnings {
            crate::progress::note(format!("warning: {w}"));
        }
        // Named after its owner (see teardown::workdir_prefix), so a later reap removes it
        // when this process dies without its Drop (SIGKILL).
        let workdir = tempfile::Builder::new()
            .prefix(&teardown::workdir_prefix(RunIdentity::current()))
            .tempdir()
            .map_err(|e| Error::io("cannot create a work directory", std::env::temp_dir(), e))?;
        // Names and host ports fixed in the file would collide with another run on the same
        // engine: rewritten for the boot, and said so. The file as written is what is judged
        // (its `80:80` is a finding even though the boot publishes an ephemeral loopback port);
        // only the engine-side network names are taken from the boot, so probes find them.
        if let Some(isolation) = isolation_override(&model) {
            for note in &isolation.notes {
                crate::progress::note(format!("isolation: {note}"));
            }
            let file = workdir.path().join("harness.isolation.yaml");
            std::fs::write(&file, &isolation.yaml)
                .map_err(|e| Error::io("cannot write isolation override", &file, e))?;
            files.push(file);
            let booted = ComposeProject { project: project.clone(), files: files.clone(), profiles: profiles.clone() }
                .model()
                .await?;
            for (key, network) in &mut model.networks {
                if let Some(name) = booted.networks.get(key).and_then(|n| n.name.clone()) {
                    model.raw["networks"][key]["name"] = name.clone().into();
                    network.name = Some(name);
                }
            }
        }

        let wanted: BTreeMap<String, String> = model
            .services
            .iter()
            .filter(|(_, s)| s.build.is_none())
            .filter_map(|(name, s)| Some((name.clone(), s.image.clone()?)))
            .collect();
        // `build:` services: their Dockerfiles are read first (a missing context or target is
        // an input error before anything runs), and the images they start FROM are made
        // ready with the stack's own, so a Dockerfile FROM a recipe image needs no registry.
        let mut builds = Vec::new();
        let mut needed = wanted.clone();
        let mut file_facts = FileFacts { stand_ins: compose::stand_ins(&files), fixed, ..FileFacts::default() };
        for (name, svc) in &model.services {
            let Some(build) = &svc.build else { continue };
            let file = engine::dockerfile::read_for_service(name, build)?;
            for (i, from) in file.images.iter().enumerate() {
                needed.entry(format!("{name} (FROM {})", i + 1)).or_insert_with(|| from.value.clone());
            }
            file_facts.dockerfiles.insert(name.clone(), file);
            builds.push((name.clone(), build.clone()));
        }
        // The network checks' probe image is made ready here, with the stack's own (and built
        // beside them): a check never builds an image mid-judgement. It is not the stack's.
        needed.insert("(network probe)".to_owned(), images::PROBE_IMAGE.to_owned());
        let mut images = images::ensure_for_services(&docker, &needed, cfg.pull).await?;
        images.retain(|i| wanted.values().any(|r| r == &i.reference));
        let mut built_images = BTreeMap::new();
        for (name, build) in &builds {
            let tag = build_tag(&layout.dir, name);
            let owner = format!("{}#{name}", layout.dir.display());
            let status = images::build_service(&docker, name, build, &tag, &owner).await?;
            crate::progress::note(format!(
                "built `{name}` as {tag} ({}, {})",
                crate::units::megabytes(status.size_bytes),
                match status.provenance {
                    images::Provenance::Built(took) => crate::units::secs(took),
                    _ => "cached".to_owned(),
                }
            ));
            if let Some(svc) = model.services.get_mut(name) {
                svc.image = Some(tag.clone());
            }
            built_images.insert(name.clone(), tag);
            images.push(status);
        }
        if !built_images.is_empty() {
            // The built images run as compose would run them (`up --no-build`), under the
            // harness's own stable tag instead of a per-run `<project>-<service>` name that
            // would be left behind after every run.
            let services: serde_json::Map<String, serde_json::Value> =
                built_images.iter().map(|(name, tag)| (name.clone(), serde_json::json!({ "image": tag }))).collect();
            let file = workdir.path().join("harness.build.json");
            std::fs::write(&file, serde_json::json!({ "services": services }).to_string())
                .map_err(|e| Error::io("cannot write the build override", &file, e))?;
            files.push(file);
        }

        let labels_file = workdir.path().join("harness.labels.json");
        let json = label_override(&model, &run.labels());
        std::fs::write(&labels_file, json).map_err(|e| Error::io("cannot write label override", &labels_file, e))?;
        files.push(labels_file);
        let dir = layout.dir;
        Ok(Prepared {
            project: ComposeProject { project, files, profiles },
            model,
            images,
            dir,
            warnings,
            file_facts,
            docker,
            workdir: Arc::new(workdir),
        })
    }

    /// A stack another process booted and owns (see [`crate::boot::shared`]): resolved again
    /// from its compose files, with the owner's boot timeline. Dropping it removes nothing.
    pub async fn attach(project: ComposeProject, dir: PathBuf, timeline: BootTimeline) -> Result<Stack> {
        let docker = engine::connect().await?;
        let model = project.model().await?;
        // The facts judged from the file as written (fixed names and ports) need the model
        // without the harness's own overrides, which moved them aside.
        let written = ComposeProject {
            files: project.files.iter().filter(|f| !is_harness_override(f)).cloned().collect(),
            ..project.clone()
        };
        let file_facts = FileFacts::read(&written.model().await?, &written.files);
        let guard = Guard::detached(&project.project);
        let boot_timeout = StackConfig::new(&dir).boot_timeout;
        Ok(Stack {
            project,
            model,
            timeline,
            images: Vec::new(),
            dir,
            warnings: Vec::new(),
            file_facts,
            docker,
            guard,
            boot_timeout,
            _workdir: None,
        })
    }

    /// The engine connection this stack was booted with.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The compose project name, `hx<run id>-<name>`.
    pub fn project_name(&self) -> &str {
        &self.project.project
    }

    /// Leaves the stack running after this value is dropped (for debugging).
    pub fn keep(&mut self) {
        self.guard.keep();
    }

    /// Fails with the list of services there are when `service` is not one of them.
    pub fn require_service(&self, service: &str) -> Result<()> {
        if self.model.services.contains_key(service) {
            return Ok(());
        }
        Err(Error::UnknownService {
            stack: self.dir.display().to_string(),
            service: service.to_owned(),
            available: self.model.service_names().join(", "),
        })
    }

    /// The id of a container of `service`: its first running replica, else its first.
    pub async fn container_id(&self, service: &str) -> Result<String> {
        let replicas = self.replicas(service).await?;
        // A running replica first: with several, any of them speaks for the service.
        let pick = replicas.iter().find(|r| r.running).or(replicas.first());
        pick.map(|r| r.id.clone()).ok_or_else(|| Error::UnknownService {
            stack: self.dir.display().to_string(),
            service: format!("{service} (declared, but it has no container)"),
            available: self.model.service_names().join(", "),
        })
    }

    /// A service's containers, first replica first (compose's container number), running
    /// or not.
    pub async fn replicas(&self, service: &str) -> Result<Vec<Replica>> {
        self.require_service(service)?;
        let f = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={}", labels::COMPOSE_PROJECT, self.project.project),
                format!("{}={service}", labels::COMPOSE_SERVICE),
            ],
        )]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&f).build()))
            .await
            .map_err(|e| Error::engine("list containers", service, e))?;
        let mut out: Vec<Replica> = list
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let number = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::COMPOSE_CONTAINER_NUMBER))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let running = c.state.as_ref().is_some_and(|s| s.to_string() == "running");
                Some(Replica { hostname: id.chars().take(12).collect(), id, number, running })
            })
            .collect();
        out.sort_by_key(|r| r.number);
        Ok(out)
    }

    /// [`Stack::replicas`] that are running now.
    pub async fn running_replicas(&self, service: &str) -> Result<Vec<Replica>> {
        Ok(self.replicas(service).await?.into_iter().filter(|r| r.running).collect())
    }

    /// Scales one service to `n` containers with compose (`up --scale`), leaving the
    /// containers it already has and every other service alone. Returns when compose does;
    /// waiting for the new replicas is the caller's ([`Stack::wait_container`]).
    pub async fn scale(&self, service: &str, n: u32) -> Result<()> {
        self.require_service(service)?;
        let scale = format!("{service}={n}");
        self.project
            .run(&["up", "-d", "--no-deps", "--no-recreate", "--no-build", "--scale", &scale, service])
            .await
            .map(|_| ())
    }

    /// Waits until one container of `service` runs and passes the service's own
    /// healthcheck, bounded by the boot timeout: for a replica started by [`Stack::scale`].
    pub async fn wait_container(&self, service: &str, id: &str) -> Result<Waited> {
        let w = Wait::new(WaitFor::Ready, self.boot_timeout);
        readiness::wait(&self.docker, id, &w, |_| {}).await.map_err(|g| Error::HealthTimeout {
            project: self.project.project.clone(),
            service: format!("{service} (container {})", &id[..id.len().min(12)]),
            waited: g.waited,
            state: format!("waiting for {}: {}", g.what, g.state),
            health_log: g.health_log,
            last_probe: g.last_probe,
        })
    }

    /// The host address a published container port is reachable at.
    pub async fn host_port(&self, service: &str, container_port: u16) -> Result<SocketAddr> {
        self.require_service(service)?;
        let port = container_port.to_string();
        let out = self.project.run(&["port", service, &port]).await?;
        let text = out.trim().replace("0.0.0.0", "127.0.0.1");
        text.parse().map_err(|_| Error::ComposeCommand {
            project: self.project.project.clone(),
            args: format!("port {service} {port}"),
            code: "0".into(),
            stderr_tail: format!("`{service}` does not publish port {port} (compose said `{}`)", out.trim()),
        })
    }

    /// Restarts one service's container(s) with `docker compose restart` and waits until the
    /// service's own healthcheck passes again (see `wait_ready`). Returns how long that took.
    pub async fn restart_service(&self, service: &str) -> Result<Duration> {
        self.require_service(service)?;
        let started = std::time::Instant::now();
        self.project.run(&["restart", service]).await?;
        self.wait_ready(service).await?;
        Ok(started.elapsed())
    }

    /// Brings the whole stack down **keeping its volumes**, then up again, and waits until
    /// every service's own healthcheck passes: the data-survives-recreation cycle. Returns how
    /// long it took.
    pub async fn recreate_keeping_volumes(&self) -> Result<Duration> {
        let started = std::time::Instant::now();
        // `down` without `-v` removes containers and networks; named volumes stay. So would
        // the containers' anonymous volumes (a bare `- /path` mount, a Dockerfile `VOLUME`):
        // unlabelled and no longer attached, nothing would remove them, so `rm -v` first.
        self.project.run(&["stop", "--timeout", "10"]).await?;
        self.project.run(&["rm", "--force", "-v"]).await?;
        self.project.run(&["down", "--timeout", "10"]).await?;
        // Not `up --wait`: it waits out Docker's interval (30 s and more on the seeds) and
        // refuses a service whose healthcheck is disabled; the harness's own probe knows
        // when each service is back.
        self.project.run(&["up", "-d", "--no-build"]).await?;
        for service in self.model.service_names() {
            self.wait_ready(service).await?;
        }
        Ok(started.elapsed())
    }

    /// Waits until a service runs and its own healthcheck command passes, run by the harness
    /// every 250 ms: as soon as the service is really ready, not when Docker's interval next
    /// comes round (30 s with the seeds' checks). For checks that only need the service back.
    pub async fn wait_ready(&self, service: &str) -> Result<()> {
        self.wait_for(service, WaitFor::Ready).await.map(|_| ())
    }

    /// Waits for `what` in the service's container, bounded by the configured boot timeout;
    /// giving up names the service, its state, Docker's health log and the last probe.
    ///
    /// It gives up early when a service this one depends on (`depends_on`) has had no running
    /// container for [`DEPENDENCY_GRACE`] and nothing will start it again: a database killed
    /// from outside mid-run would otherwise keep a restarted api waiting out the whole
    /// deadline (180 s by default) for a readiness that cannot come.
    pub async fn wait_for(&self, service: &str, what: WaitFor) -> Result<Waited> {
        let id = self.container_id(service).await?;
        let w = Wait::new(what, self.boot_timeout);
        tokio::select! {
            waited = readiness::wait(&self.docker, &id, &w, |_| {}) => waited.map_err(|g| Error::HealthTimeout {
                project: self.project.project.clone(),
                service: service.to_owned(),
                waited: g.waited,
                state: format!("waiting for {}: {}", g.what, g.state),
                health_log: g.health_log,
                last_probe: g.last_probe,
            }),
            (dependency, code, down) = self.dependency_down(service) => Err(Error::DependencyDown {
                project: self.project.project.clone(),
                service: service.to_owned(),
                dependency,
                code,
                down,
            }),
        }
    }

    /// Resolves once a dependency of `service` has been down for good for
    /// [`DEPENDENCY_GRACE`] (see [`dependency_gone`]): its name, last exit code and how long
    /// it has been down. Never resolves for a service with no dependency, or while every
    /// dependency runs.
    async fn dependency_down(&self, service: &str) -> (String, i64, Duration) {
        let deps: Vec<(String, String)> = self
            .model
            .services
            .get(service)
            .map(|s| s.depends_on.iter().map(|(d, c)| (d.clone(), c.condition.clone())).collect())
            .unwrap_or_default();
        let mut down_since: BTreeMap<&str, tokio::time::Instant> = BTreeMap::new();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for (dep, condition) in &deps {
                // A dependency outside the active profiles, or scaled to nothing, has no
                // container to judge.
                let replicas = self.replicas(dep).await.unwrap_or_default();
                let Some(first) = replicas.first().filter(|_| !replicas.iter().any(|r| r.running)) else {
                    down_since.remove(dep.as_str());
                    continue;
                };
                let (code, restarts) = exit_code_and_restart(&self.docker, &first.id).await;
                if !dependency_gone(condition, code, restarts) {
                    down_since.remove(dep.as_str());
                    continue;
                }
                let since = *down_since.entry(dep.as_str()).or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= DEPENDENCY_GRACE {
                    return (dep.clone(), code, since.elapsed());
                }
            }
        }
    }

    /// The boot timeout this stack was started with; every later wait is bounded by it.
    pub fn boot_timeout(&self) -> Duration {
        self.boot_timeout
    }

    /// Removes everything now and reports what went; dropping the stack does the same
    /// but can only print errors.
    pub async fn down(mut self) -> Result<teardown::Removed> {
        self.guard.keep();
        teardown::remove_project(&self.docker, &self.project.project).await
    }
}

impl Prepared {
    /// Runs `up -d` and waits for every service to be ready and healthy.
    pub async fn start(self, cfg: &StackConfig) -> Result<Stack> {
        let Prepared { project, model, images, dir, warnings, file_facts, docker, workdir } = self;
        let guard = Guard::register(&project.project);
        let timeline = boot(&docker, &project, &model, &guard, cfg).await?;
        let boot_timeout = cfg.boot_timeout;
        Ok(Stack {
            project,
            model,
            timeline,
            images,
            dir,
            warnings,
            file_facts,
            docker,
            guard,
            boot_timeout,
            _workdir: Some(workdir),
        })
    }
}

/// One container of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The container id.
    pub id: String,
    /// Its hostname: Docker's default, the id's first 12 characters, which the reference
    /// app sends as `x-replica`.
    pub hostname: String,
    /// Compose's container number (`api-2` is 2).
    pub number: u32,
    /// Whether it is running now.
    pub running: bool,
}

/// Whether a service's compose entry publishes a fixed host port, which the boot moves to an
/// ephemeral loopback port ([`isolation_override`]). Checks that read published ports judge
/// such a service from the file, since the container shows the harness's choice.
pub fn fixes_host_ports(raw_service: &serde_json::Value) -> bool {
    raw_service["ports"]
        .as_array()
        .is_some_and(|ports| ports.iter().any(|p| p["published"].as_str().is_some_and(|h| !h.is_empty())))
}

/// Appended to the evidence of a verdict judged from the file because of [`fixes_host_ports`].
pub const PORTS_FROM_FILE: &str =
    "; judged from the file: the harness published these on ephemeral 127.0.0.1 ports for this run";

/// Whether a compose file is one the harness wrote for a boot (`harness.*` in its work
/// directory), not one of the stack's own.
fn is_harness_override(file: &std::path::Path) -> bool {
    file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("harness."))
        && file.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("harness-"))
}

/// What each service of a model resolved from the files as written fixes; services that
/// fix nothing are left out.
fn fixed_addresses(model: &ComposeModel) -> BTreeMap<String, Vec<String>> {
    model
        .services
        .keys()
        .map(|s| (s.clone(), model.fixed_addresses(s)))
        .filter(|(_, fixed)| !fixed.is_empty())
        .collect()
}

/// An override that makes a stack safe to boot beside other runs, and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The override file's contents, in YAML.
    pub yaml: String,
    /// One line per change, for the progress output.
    pub notes: Vec<String>,
}

/// What a compose file fixes that two runs on one engine would fight over: `container_name`,
/// fixed host ports, fixed network names and subnets. Compose 2.24+'s `!reset`/`!override`
/// tags remove them: containers take project-scoped names, every published port moves to an
/// ephemeral port on 127.0.0.1, networks take project-scoped names and free subnets. `None`
/// when the file fixes none of these.
pub fn isolation_override(model: &ComposeModel) -> Option<Isolation> {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut notes = Vec::new();
    let mut services = String::new();
    for name in model.services.keys() {
        let raw = model.raw_service(name);
        let mut body = String::new();
        if let Some(fixed) = raw["container_name"].as_str() {
            body.push_str("    container_name: !reset null\n");
            notes.push(format!("service {name}: container_name {fixed} removed"));
        }
        let ports = raw["ports"].as_array().map(Vec::as_slice).unwrap_or_default();
        let fixed = model.fixed_host_ports(name);
        if !fixed.is_empty() {
            body.push_str("    ports: !override\n");
            for p in ports {
                let protocol = p["protocol"].as_str().unwrap_or("tcp");
                body.push_str(&format!(
                    "      - {{target: {}, host_ip: 127.0.0.1, protocol: {}}}\n",
                    p["target"],
                    q(protocol)
                ));
            }
            notes.push(format!(
                "service {name}: host port(s) {} published on ephemeral 127.0.0.1 ports instead",
                fixed.join(", ")
            ));
        }
        if !body.is_empty() {
            services.push_str(&format!("  {}:\n{body}", q(name)));
        }
    }
    let mut networks = String::new();
    for key in model.networks.keys() {
        let mut body = String::new();
        if let Some(fixed) = model.fixed_network_name(key) {
            body.push_str("    name: !reset null\n");
            notes.push(format!("network {key}: name {fixed} removed"));
        }
        let subnets = model.fixed_subnets(key);
        if !subnets.is_empty() {
            body.push_str("    ipam: !reset {}\n");
            notes.push(format!("network {key}: subnet {} left to the engine", subnets.join(", ")));
        }
        if !body.is_empty() {
            networks.push_str(&format!("  {}:\n{body}", q(key)));
        }
    }
    if notes.is_empty() {
        return None;
    }
    let mut yaml = String::from("# Written by the harness: see stack::isolation_override.\n");
    if !services.is_empty() {
        yaml.push_str("services:\n");
        yaml.push_str(&services);
    }
    if !networks.is_empty() {
        yaml.push_str("networks:\n");
        yaml.push_str(&networks);
    }
    Some(Isolation { yaml, notes })
}

/// The override that labels everything compose creates for this project.
pub fn label_override(model: &ComposeModel, labels: &BTreeMap<String, String>) -> String {
    let with_labels = || serde_json::json!({ "labels": labels });
    let services: serde_json::Map<_, _> = model.services.keys().map(|k| (k.clone(), with_labels())).collect();
    let networks: serde_json::Map<_, _> =
        model.networks.iter().filter(|(_, n)| !n.external).map(|(k, _)| (k.clone(), with_labels())).collect();
    let volumes: serde_json::Map<_, _> =
        model.volumes.iter().filter(|(_, v)| !v.external).map(|(k, _)| (k.clone(), with_labels())).collect();
    let mut doc = serde_json::json!({ "services": services });
    if !networks.is_empty() {
        doc["networks"] = networks.into();
    }
    if !volumes.is_empty() {
        doc["volumes"] = volumes.into();
    }
    doc.to_string()
}

/// What the boot loop learns, from the events stream, the pollers and compose.
enum Note {
    Event {
        action: String,
        service: String,
        container: String,
        at: Duration,
    },
    Ready {
        service: String,
        container: String,
        at: Duration,
        probes: u32,
    },
    Probe {
        service: String,
        result: ProbeResult,
    },
    UpExited {
        status: std::io::Result<std::process::Output>,
    },
    /// The events stream ended: while a boot waits, only a lost engine ends it.
    EventsEnded {
        error: Option<String>,
    },
}

fn since(t0: SystemTime, at: SystemTime) -> Duration {
    at.duration_since(t0).unwrap_or(Duration::ZERO)
}

async fn boot(
    docker: &Docker,
    project: &ComposeProject,
    model: &ComposeModel,
    guard: &Guard,
    cfg: &StackConfig,
) -> Result<BootTimeline> {
    let mut timeline = BootTimeline::default();
    for (name, svc) in &model.services {
        // The image's HEALTHCHECK counts too: Docker runs it, and waits on it.
        let image_check = match &svc.image {
            Some(image) => match docker.inspect_image(image).await {
                Ok(img) => serde_json::to_value(&img).unwrap_or_default()["Config"]["Healthcheck"].clone(),
                Err(_) => serde_json::Value::Null,
            },
            None => serde_json::Value::Null,
        };
        let health = compose::effective_timing(svc.healthcheck.as_ref(), &image_check)?;
        timeline.services.insert(
            name.clone(),
            ServiceTimeline {
                service: name.clone(),
                health,
                depends_on: svc.depends_on.iter().map(|(d, c)| (d.clone(), c.condition.clone())).collect(),
                ..Default::default()
            },
        );
    }

    let names: Vec<&str> = model.services.keys().map(String::as_str).collect();
    crate::progress::board(&project.project, &names);
    let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
    let t0 = SystemTime::now();
    timeline.t0 = Some(t0);
    let t0_secs = t0.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);

    // Events first, replaying from a second before `up`, so none is missed.
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("label".to_owned(), vec![format!("{}={}", labels::COMPOSE_PROJECT, project.project)]),
    ]);
    let opts =
        EventsOptionsBuilder::default().since(&(t0_secs.saturating_sub(1)).to_string()).filters(&filters).build();
    let mut events = docker.events(Some(opts));
    let events_tx = tx.clone();
    let events_task = tokio::spawn(async move {
        let mut error = None;
        while let Some(ev) = events.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            let Some(actor) = ev.actor else { continue };
            let attrs = actor.attributes.unwrap_or_default();
            let Some(service) = attrs.get(labels::COMPOSE_SERVICE).cloned() else { continue };
            let at_nanos = ev.time_nano.unwrap_or(0).max(0) as u64;
            let at = since(t0, UNIX_EPOCH + Duration::from_nanos(at_nanos));
            let action = ev.action.unwrap_or_default();
            let container = actor.id.unwrap_or_default();
            if events_tx.send(Note::Event { action, service, container, at }).is_err() {
                return;
            }
        }
        let _ = events_tx.send(Note::EventsEnded { error });
    });

    let mut up = project.command(["up", "-d", "--no-build", "--quiet-pull"]);
    // Its own process group, so a signal's cleanup kills the compose plugin `docker` runs
    // as a child too (see teardown::kill_children); a terminal's Ctrl-C reaches only us.
    up.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).process_group(0);
    let child = up.spawn().map_err(|e| Error::Spawn {
        program: "docker compose".into(),
        hint: compose::COMPOSE_HINT.into(),
        source: e,
    })?;
    if let Some(pid) = child.id() {
        guard.track_child(pid);
    }
    let up_pid = child.id();
    let up_tx = tx.clone();
    tokio::spawn(async move {
        let status = child.wait_with_output().await;
        let _ = up_tx.send(Note::UpExited { status });
    });

    let deadline = tokio::time::sleep(cfg.boot_timeout);
    tokio::pin!(deadline);
    let mut pollers: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut polled: Vec<String> = Vec::new();
    let mut last_probe: BTreeMap<String, ProbeResult> = BTreeMap::new();
    let mut containers: BTreeMap<String, String> = BTreeMap::new();
    // A service with replicas is ready (and healthy) when its last replica is: a gateway in
    // front of two replicas serves its full capacity only then.
    let expected: BTreeMap<String, usize> =
        model.services.keys().map(|n| (n.clone(), model.replicas(n).max(1) as usize)).collect();
    let mut ready_in: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut healthy_in: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let all_of = |seen: &mut BTreeMap<String, std::collections::BTreeSet<String>>, service: &str, container: &str| {
        let set = seen.entry(service.to_owned()).or_default();
        set.insert(container.to_owned());
        set.len() >= expected.get(service).copied().unwrap_or(1)
    };
    let mut up_done = false;
    // Containers that died before their service was done but whose restart policy may bring
    // them back: (service, exit code, when to stop waiting for the restart).
    let mut dead: BTreeMap<String, (String, i64, tokio::time::Instant)> = BTreeMap::new();
    // Deaths per service during the boot: a restart policy gets CRASH_LOOP - 1 second chances.
    let mut deaths: BTreeMap<String, u32> = BTreeMap::new();
    let outcome: Result<()> = loop {
        if up_done && timeline.services.values().all(ServiceTimeline::is_done) {
            break Ok(());
        }
        let recheck = dead.values().map(|(_, _, by)| *by).min();
        let note = tokio::select! {
            n = rx.recv() => match n { Some(n) => n, None => break Ok(()) },
            () = &mut deadline => break Err(timeout_error(docker, project, &timeline, &containers, &last_probe, cfg.boot_timeout).await),
            () = sleep_until_or_never(recheck) => {
                match still_dead(docker, &mut dead).await {
                    Some((container, service, code)) => {
                        break Err(Error::ContainerExited {
                            project: project.project.clone(),
                            deaths: deaths.get(&service).copied().unwrap_or(1),
                            service,
                            code,
                            log_tail: log_tail(project, &container).await,
                        });
                    }
                    None => continue,
                }
            }
        };
        match note {
            Note::Event { action, service, container, at } => {
                let Some(s) = timeline.services.get_mut(&service) else { continue };
                match action.as_str() {
                    "create" => {
                        crate::progress::service(&service, "created", at);
                        s.created.get_or_insert(at);
                        containers.insert(service.clone(), container.clone());
                    }
                    "start" => {
                        // A container that died and was restarted by its policy is waited on again.
                        dead.remove(&container);
                        crate::progress::service(&service, "started", at);
                        s.started.get_or_insert(at);
                        if s.health.is_none() {
                            // Without a healthcheck, running is all there is to wait for.
                            if all_of(&mut ready_in, &service, &container) {
                                s.ready.get_or_insert(at);
                            }
                        } else if !polled.contains(&container) {
                            polled.push(container.clone());
                            pollers.push(spawn_poller(
                                docker.clone(),
                                container,
                                service,
                                s.health,
                                cfg,
                                t0,
                                tx.clone(),
                            ));
                        }
                    }
                    "health_status: healthy" => {
                        if all_of(&mut healthy_in, &service, &container) {
                            crate::progress::service(&service, "healthy", at);
                            s.healthy.get_or_insert(at);
                        }
                    }
                    // A container that dies before its service is done: before it was ready,
                    // or ready (its own check passed) but not yet reported healthy, which
                    // would otherwise wait out the whole boot deadline for a health event
                    // that a dead container never sends. A restart policy that will start it
                    // again gets RESTART_GRACE to do so.
                    "die" if s.ready.is_none() || s.health.is_none() || s.healthy.is_none() => {
                        let (code, restarts) = exit_code_and_restart(docker, &container).await;
                        let died = deaths.entry(service.clone()).or_insert(0);
                        *died += 1;
                        let died = *died;
                        // A clean exit of a service without a healthcheck is a one-shot job done.
                        let failed = code != 0 || s.health.is_some();
                        if failed && restarts && died < CRASH_LOOP {
                            dead.insert(container, (service, code, tokio::time::Instant::now() + RESTART_GRACE));
                        } else if failed {
                            break Err(Error::ContainerExited {
                                project: project.project.clone(),
                                deaths: died,
                                service,
                                code,
                                log_tail: log_tail(project, &container).await,
                            });
                        }
                    }
                    _ => {}
                }
            }
            Note::Ready { service, container, at, probes } => {
                if let Some(s) = timeline.services.get_mut(&service) {
                    s.probes = s.probes.max(probes);
                    if all_of(&mut ready_in, &service, &container) {
                        crate::progress::service(&service, if s.healthy.is_some() { "healthy" } else { "ready" }, at);
                        s.ready.get_or_insert(at);
                    }
                }
            }
            Note::Probe { service, result } => {
                last_probe.insert(service, result);
            }
            Note::EventsEnded { error } => {
                break Err(Error::EngineLost {
                    endpoint: crate::errors::engine_endpoint(),
                    project: project.project.clone(),
                    detail: error.unwrap_or_else(|| "the events stream closed".to_owned()),
                });
            }
            Note::UpExited { status } => {
                if let Some(pid) = up_pid {
                    guard.untrack_child(pid);
                }
                timeline.up_returned = Some(since(t0, SystemTime::now()));
                up_done = true;
                match status {
                    Ok(out) if out.status.success() => {}
                    Ok(out) => {
                        break Err(project.failure(
                            &["up", "-d"],
                            out.status.code(),
                            &String::from_utf8_lossy(&out.stderr),
                        ));
                    }
                    Err(e) => {
                        break Err(Error::Spawn {
                            program: "docker compose up".into(),
                            hint: compose::COMPOSE_HINT.into(),
                            source: e,
                        });
                    }
                }
            }
        }
    };
    crate::progress::board_done();
    events_task.abort();
    for p in pollers {
        p.abort();
    }
    outcome.map(|()| timeline)
}

fn spawn_poller(
    docker: Docker,
    container: String,
    service: String,
    health: Option<HealthTiming>,
    cfg: &StackConfig,
    t0: SystemTime,
    tx: mpsc::UnboundedSender<Note>,
) -> tokio::task::JoinHandle<()> {
    // The stack's own check timeout, but at most half the boot's deadline: a check that
    // hangs (a day-long `timeout:` is allowed) then still ends in a probe result the
    // timeout message can quote, instead of "none yet".
    let timeout = health.map_or(compose::DEFAULT_TIMEOUT, |h| h.timeout).min(cfg.boot_timeout / 2);
    let w = Wait::new(WaitFor::Ready, cfg.boot_timeout).with_cadence(cfg.cadence).with_probe_timeout(timeout);
    tokio::spawn(async move {
        let on_failure = |result: &ProbeResult| {
            let _ = tx.send(Note::Probe { service: service.clone(), result: result.clone() });
        };
        if let Ok(Waited { at, runs }) = readiness::wait(&docker, &container, &w, on_failure).await {
            let _ = tx.send(Note::Ready { service, container, at: since(t0, at), probes: runs });
        }
    })
}

/// How long a container that died during the boot may take to be started again by its
/// restart policy before the boot fails on it. Docker's first restarts come 0.1-0.8 s after
/// the exit (its back-off doubles from 100 ms).
const RESTART_GRACE: Duration = Duration::from_secs(5);

/// How long a dependency must stay down for good before a wait on a service that depends
/// on it gives up. Long enough for a `docker compose restart` of it (stop grace included,
/// 10 s by default) not to count: that one comes back.
pub const DEPENDENCY_GRACE: Duration = Duration::from_secs(15);

/// Whether a dependency with no running container is down for good, as far as a service
/// waiting on it is concerned: its restart policy will not start it again, and it is not a
/// one-shot job that finished (exit 0 where the dependent did not need it healthy, as
/// `service_completed_successfully` and a `service_started` init container do not).
fn dependency_gone(condition: &str, code: i64, restarts: bool) -> bool {
    !restarts && (code != 0 || condition == "service_healthy")
}

/// The death of a service during the boot that fails it even with a restart policy: a
/// service that keeps crashing is a crash loop to report now, not a boot deadline to wait
/// out. Two restarts let an app that exits while its database starts come back.
const CRASH_LOOP: u32 = 3;

/// The exit code of a container that died, and whether its restart policy may start it
/// again (`always`, `unless-stopped`, or `on-failure` after a failure). Docker does not
/// restart a container that was killed or stopped through its API, whatever the policy: the
/// grace then runs out and the boot fails on it.
async fn exit_code_and_restart(docker: &Docker, container: &str) -> (i64, bool) {
    let inspect = docker.inspect_container(container, None).await.ok();
    let code = inspect.as_ref().and_then(|c| c.state.as_ref()?.exit_code).unwrap_or(-1);
    let policy = inspect.and_then(|c| c.host_config?.restart_policy?.name).map(|n| n.to_string()).unwrap_or_default();
    let restarts = match policy.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0,
        _ => false,
    };
    (code, restarts)
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Of the containers that died, the first whose grace is over and that is still not
/// running: (container, service, exit code). Those running again are waited on as usual.
async fn still_dead(
    docker: &Docker,
    dead: &mut BTreeMap<String, (String, i64, tokio::time::Instant)>,
) -> Option<(String, String, i64)> {
    let now = tokio::time::Instant::now();
    let due: Vec<String> = dead.iter().filter(|(_, (_, _, by))| *by <= now).map(|(c, _)| c.clone()).collect();
    for container in due {
        let Some((service, code, _)) = dead.remove(&container) else { continue };
        let running =
            docker.inspect_container(&container, None).await.ok().and_then(|c| c.state?.running).unwrap_or(false);
        if !running {
            return Some((container, service, code));
        }
    }
    None
}

async fn log_tail(project: &ComposeProject, container: &str) -> String {
    let out = tokio::process::Command::new("docker")
        .args(["logs", "--tail", "5", container])
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    match out {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            tail_lines(&text, 5)
        }
        Err(_) => format!("(no logs: see `docker compose -p {} logs`)", project.project),
    }
}

/// The timeout error for the first service that is not done, with what was seen last.
async fn timeout_error(
    docker: &Docker,
    project: &ComposeProject,
    timeline: &BootTimeline,
    containers: &BTreeMap<String, String>,
    last_probe: &BTreeMap<String, ProbeResult>,
    waited: Duration,
) -> Error {
    let service = timeline
        .services
        .values()
        .find(|s| !s.is_done())
        .map_or_else(|| "(compose up)".to_owned(), |s| s.service.clone());
    let (state, health_log) = match containers.get(&service) {
        Some(id) => readiness::last_seen(docker, id).await,
        None => ("not created".to_owned(), "(none)".to_owned()),
    };
    Error::HealthTimeout {
        project: project.project.clone(),
        service: service.clone(),
        waited,
        state,
        health_log,
        last_probe: last_probe.get(&service).map_or_else(|| "(none yet)".to_owned(), ProbeResult::summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_gone(condition: &str, code: i64, restarts: bool, expected: bool) {
        assert_eq!(dependency_gone(condition, code, restarts), expected, "{condition} exit {code} restarts {restarts}");
    }

    #[test]
    fn a_dependency_is_gone_when_nothing_restarts_it_and_it_was_not_a_finished_job() {
        check_gone("service_healthy", 137, false, true);
        check_gone("service_started", 1, false, true);
        check_gone("service_healthy", 0, false, true);
        check_gone("service_healthy", 137, true, false);
        check_gone("service_completed_successfully", 0, false, false);
        check_gone("service_started", 0, false, false);
        check_gone("service_completed_successfully", 2, false, true);
    }

    #[track_caller]
    fn check_name(run: &str, name: &str, expected: &str) {
        assert_eq!(project_name(run, name), expected);
    }

    #[test]
    fn project_names_are_unique_per_run_and_valid_for_compose() {
        check_name("ab12", "startup::reference_stack_boots", "hxab12-startup-reference-stack-boots");
        check_name("ab12", "", "hxab12");
        check_name("ab12", "--Weird Name!!", "hxab12-weird-name");
        let long = project_name("ab12", &"x".repeat(100));
        assert!(long.len() <= 47, "{long}");
    }

    #[test]
    fn isolation_removes_fixed_names_ports_and_subnets_and_says_so() {
        let model = ComposeModel::from_json(
            r#"{"name": "hx1-seed",
              "services": {
                "db": {"image": "x", "container_name": "seed-db",
                       "ports": [{"target": 5432, "published": "5432", "protocol": "tcp"},
                                 {"target": 9187, "host_ip": "127.0.0.1", "protocol": "tcp"}]},
                "api": {"image": "x", "ports": [{"target": 8080, "host_ip": "127.0.0.1", "protocol": "tcp"}]}},
              "networks": {"default": {"name": "seed-net"},
                           "data": {"name": "hx1-seed_data", "ipam": {"config": [{"subnet": "172.22.0.0/24"}]}},
                           "ext": {"name": "shared", "external": true}}}"#,
        )
        .expect("model");
        assert!(fixes_host_ports(model.raw_service("db")));
        assert!(!fixes_host_ports(model.raw_service("api")));
        let iso = isolation_override(&model).expect("something to isolate");
        assert_eq!(
            iso.yaml,
            "# Written by the harness: see stack::isolation_override.\n\
             services:\n  \"db\":\n    container_name: !reset null\n    ports: !override\n\
             \x20     - {target: 5432, host_ip: 127.0.0.1, protocol: \"tcp\"}\n\
             \x20     - {target: 9187, host_ip: 127.0.0.1, protocol: \"tcp\"}\n\
             networks:\n  \"data\":\n    ipam: !reset {}\n  \"default\":\n    name: !reset null\n"
        );
        assert_eq!(
            iso.notes,
            [
                "service db: container_name seed-db removed",
                "service db: host port(s) 5432:5432 published on ephemeral 127.0.0.1 ports instead",
                "network data: subnet 172.22.0.0/24 left to the engine",
                "network default: name seed-net removed",
            ]
        );
        // A stack that already follows the rules (the reference stack) gets no override.
        let clean = ComposeModel::from_json(
            r#"{"name": "p", "services": {"api": {"image": "x", "ports": [{"target": 8080, "host_ip": "127.0.0.1"}]}},
              "networks": {"default": {"name": "p_default"}}}"#,
        )
        .expect("model");
        assert_eq!(isolation_override(&clean), None);
    }

    #[test]
    fn label_override_covers_services_networks_and_own_volumes() {
        let model = ComposeModel::from_json(
            r#"{"services": {"api": {}, "db": {}},
                "networks": {"data": {"internal": true}, "ext": {"external": true}},
                "volumes": {"pg": {}}}"#,
        )
        .expect("model");
        let labels = BTreeMap::from([("io.harness.run-id".to_owned(), "r1".to_owned())]);
        let doc: serde_json::Value = serde_json::from_str(&label_override(&model, &labels)).expect("json");
        assert_eq!(doc["services"]["api"]["labels"]["io.harness.run-id"], "r1");
        assert_eq!(doc["networks"]["data"]["labels"]["io.harness.run-id"], "r1");
        assert!(doc["networks"].get("ext").is_none(), "external networks are not ours to label");
        assert_eq!(doc["volumes"]["pg"]["labels"]["io.harness.run-id"], "r1");
    }
}
