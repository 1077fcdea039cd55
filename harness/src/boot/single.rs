//! Single services through testcontainers, for tests that need one real server and not a
//! whole topology.
//!
//! testcontainers owns the container handle and removes it on drop. We add what it lacks:
//! images come from our recipes, every container carries this run's ownership labels, and
//! the harness's signal handler removes it on SIGTERM (testcontainers' own watchdog is an
//! opt-in feature we leave off, so there is one cleanup path, not two).

use std::collections::BTreeMap;
use std::time::Duration;

use testcontainers::CopyTargetOptions;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::engine;
use crate::engine::images;
use crate::engine::labels::RunIdentity;
use crate::engine::teardown;
use crate::errors::{Error, Result};

/// What to start. `image` is a full reference, e.g. `harness/redis:7.0-bookworm`.
#[derive(Debug, Clone)]
pub struct SingleConfig {
    /// The image reference, `name:tag`.
    pub image: String,
    /// Environment variables, as (name, value).
    pub env: Vec<(String, String)>,
    /// Container ports to publish on ephemeral host ports.
    pub ports: Vec<u16>,
    /// Replaces the image's command.
    pub cmd: Option<Vec<String>>,
    /// Files written into the container before it starts (path, content), e.g. a secret.
    pub files: Vec<(String, Vec<u8>)>,
    /// tmpfs mounts (path, mount options such as `uid=998,mode=0700`), as compose's `tmpfs:`.
    pub tmpfs: Vec<(String, String)>,
    /// How long the container may take to start.
    pub startup_timeout: Duration,
}

impl SingleConfig {
    /// A config for `image` with nothing published, the image's own command and a 60 s startup timeout.
    pub fn new(image: &str) -> Self {
        SingleConfig {
            image: image.to_owned(),
            env: Vec::new(),
            ports: Vec::new(),
            cmd: None,
            files: Vec::new(),
            tmpfs: Vec::new(),
            // Long enough for a database's first initdb on a loaded 2-core machine.
            startup_timeout: Duration::from_secs(60),
        }
    }

    /// Sets an environment variable.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Publishes a container port on an ephemeral host port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.ports.push(port);
        self
    }

    /// Writes `content` to `path` in the container (mode 0444, so any uid can read it).
    pub fn with_file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.to_owned(), content.to_vec()));
        self
    }

    /// Mounts a tmpfs at `path` with mount `options` (e.g. `uid=998,gid=998,mode=0700`).
    pub fn with_tmpfs(mut self, path: &str, options: &str) -> Self {
        self.tmpfs.push((path.to_owned(), options.to_owned()));
        self
    }

    /// Replaces the image's command.
    pub fn with_cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = Some(cmd.iter().map(|s| (*s).to_owned()).collect());
        self
    }
}

/// Starts the container and waits until Docker reports its healthcheck healthy.
pub async fn start(cfg: SingleConfig) -> Result<ContainerAsync<GenericImage>> {
    let docker = engine::connect().await?;
    teardown::reap_once(&docker).await?;
    images::ensure_for_services(
        &docker,
        &BTreeMap::from([("(single)".to_owned(), cfg.image.clone())]),
        images::Pull::Missing,
    )
    .await?;
    teardown::install_signal_handler();

    let (name, tag) = cfg.image.rsplit_once(':').unwrap_or((cfg.image.as_str(), "latest"));
    let mut image = GenericImage::new(name, tag).with_wait_for(WaitFor::healthcheck());
    for p in &cfg.ports {
        image = image.with_exposed_port(ContainerPort::Tcp(*p));
    }
    let mut request = image.with_labels(RunIdentity::current().labels()).with_startup_timeout(cfg.startup_timeout);
    for (k, v) in &cfg.env {
        request = request.with_env_var(k, v);
    }
    for (path, content) in &cfg.files {
        request = request.with_copy_to(CopyTargetOptions::new(path.as_str()).with_mode(0o444), content.clone());
    }
    if !cfg.tmpfs.is_empty() {
        let tmpfs: std::collections::HashMap<String, String> = cfg.tmpfs.iter().cloned().collect();
        request = request.with_host_config_modifier(move |hc| hc.tmpfs = Some(tmpfs.clone()));
    }
    if let Some(cmd) = &cfg.cmd {
        request = request.with_cmd(cmd);
    }
    request
        .start()
        .await
        .map_err(|source| Error::SingleContainer { image: cfg.image.clone(), source: Box::new(source) })
}
