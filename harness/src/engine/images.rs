//! Images built from recipes, with no registry.
//!
//! A recipe is a directory under `fixtures/images/` with a `recipe.toml`, a `Dockerfile`
//! and the files it copies. A Debian-based recipe is built in two steps: `mmdebstrap`
//! makes a root filesystem with the recipe's packages already installed (on the host, so
//! the build needs no network inside Docker), `docker import` turns it into a base, and
//! `docker build` adds the configuration. Static binaries from this workspace (the app,
//! the probe) are compiled first and copied into the build context.
//!
//! What a fresh machine pays is kept small (`.ci/bench-cold` measures it): the root
//! filesystems share one mmdebstrap base, the static binaries compile once per process in a
//! light profile, and independent recipes build side by side, one per core.
//!
//! Every image is labelled with a hash of everything that went into it: the recipe files
//! and, for binaries, their sources, the lockfile and the compiler version. A build is
//! skipped when the image on the engine carries the same hash, so a second run costs one
//! `inspect` per image and no compile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::engine::provision;
use crate::errors::{Error, Result, tail_lines};
use crate::units;
use crate::workspace;

/// The harness's own network probe (`fixtures/probe`): a static binary in a `FROM scratch`
/// image, used by the network checks' helper containers.
pub const PROBE_IMAGE: &str = "harness/probe:0.1.0";

/// The label that carries the recipe hash on a built image.
pub const RECIPE_HASH_LABEL: &str = "io.harness.recipe-hash";
/// Bumped when the build procedure itself changes meaning, so every image is rebuilt.
const BUILD_SCHEME: &str = "harness-image-build-v1";
/// Static binaries are built for this target with `+crt-static` (see environment.md:
/// only the gnu target is installed; a static-pie glibc binary runs in FROM scratch).
const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
const STATIC_PROFILE: &str = "image";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    image: Option<String>,
    tag: Option<String>,
    budget: Option<String>,
    rootfs: Option<RootfsSpec>,
    #[serde(default)]
    binaries: Vec<String>,
    /// Several images from one Dockerfile, one per build stage (`docker build --target`).
    #[serde(default)]
    targets: Vec<TargetSpec>,
    /// Another recipe's Dockerfile, relative to this directory, for a recipe that builds the
    /// same stages on a different root filesystem (e.g. a runtime-only one).
    dockerfile: Option<PathBuf>,
}

/// One image of a multi-stage recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    stage: String,
    image: String,
    tag: String,
    budget: Option<String>,
}

/// A recipe's `[rootfs]` table: the Debian root filesystem mmdebstrap builds for the image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsSpec {
    /// The Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// The mmdebstrap variant, e.g. `minbase`.
    pub variant: String,
    /// Extra packages to install.
    #[serde(default)]
    pub include: Vec<String>,
    /// Scripts, relative to the recipe directory, run on the root filesystem after it is built.
    #[serde(default)]
    pub hooks: Vec<String>,
    /// Accepted here too, for recipes that list their binaries after the `[rootfs]` table.
    #[serde(default)]
    binaries: Vec<String>,
}

/// One image recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The directory name, or `dir/stage` for one target of a multi-stage recipe.
    pub name: String,
    /// The directory name: targets of one recipe share its root filesystem and build lock.
    pub group: String,
    /// The build stage, for a recipe with `[[targets]]`.
    pub target: Option<String>,
    /// The recipe directory, holding `recipe.toml`.
    pub dir: PathBuf,
    /// The image name, without the tag.
    pub image: String,
    /// The image tag.
    pub tag: String,
    /// The image size budget, in bytes; `None` when the recipe sets none.
    pub budget_bytes: Option<u64>,
    /// The root filesystem to build first; `None` when the Dockerfile starts from elsewhere.
    pub rootfs: Option<RootfsSpec>,
    /// Static binaries from this workspace, compiled first and copied into the build context.
    pub binaries: Vec<String>,
    /// The Dockerfile when it is not the directory's own (`dockerfile = "..."`).
    pub dockerfile: Option<PathBuf>,
}

impl Recipe {
    /// `image:tag`, the reference compose files use.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }

    /// A recipe that makes one image; an error for one with `[[targets]]`.
    pub fn load(dir: &Path) -> Result<Recipe> {
        let mut all = Self::load_all(dir)?;
        if all.len() != 1 {
            return Err(Error::RecipeInvalid {
                path: dir.join("recipe.toml"),
                reason: format!("it makes {} images; load it with Recipe::load_all", all.len()),
            });
        }
        Ok(all.remove(0))
    }

    /// Every image a recipe makes: one, or one per `[[targets]]` entry.
    pub fn load_all(dir: &Path) -> Result<Vec<Recipe>> {
        let path = dir.join("recipe.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read image recipe", &path, e))?;
        let file: RecipeFile =
            toml::from_str(&text).map_err(|e| Error::RecipeInvalid { path: path.clone(), reason: e.to_string() })?;
        let invalid = |reason: String| Error::RecipeInvalid { path: path.clone(), reason };
        let budget = |b: Option<&str>| b.map(units::parse_size).transpose().map_err(invalid);
        if let Some(f) = &file.dockerfile
            && !dir.join(f).is_file()
        {
            return Err(invalid(format!("`dockerfile = {}` names no file", f.display())));
        }
        let mut binaries = file.binaries;
        if let Some(r) = &file.rootfs {
            binaries.extend(r.binaries.iter().cloned());
        }
        let group = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let recipe = |name: String, target: Option<String>, image: String, tag: String, budget_bytes| Recipe {
            name,
            group: group.clone(),
            target,
            dir: dir.to_path_buf(),
            image,
            tag,
            budget_bytes,
            rootfs: file.rootfs.clone(),
            binaries: binaries.clone(),
            dockerfile: file.dockerfile.as_ref().map(|f| dir.join(f)),
        };
        if file.targets.is_empty() {
            let (Some(image), Some(tag)) = (file.image, file.tag) else {
                return Err(invalid("`image` and `tag` are required (or a list of [[targets]])".into()));
            };
            return Ok(vec![recipe(group.clone(), None, image, tag, budget(file.budget.as_deref())?)]);
        }
        if file.image.is_some() || file.tag.is_some() || file.budget.is_some() {
            return Err(invalid("with [[targets]], `image`, `tag` and `budget` belong to each target".into()));
        }
        let mut out = Vec::new();
        for t in file.targets {
            let b = budget(t.budget.as_deref())?;
            out.push(recipe(format!("{group}/{}", t.stage), Some(t.stage), t.image, t.tag, b));
        }
        Ok(out)
    }
}

/// Every recipe under `dir`, sorted by name.
pub fn recipes(dir: &Path) -> Result<Vec<Recipe>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list image recipes", dir, e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if entry.path().join("recipe.toml").is_file() {
            out.extend(Recipe::load_all(&entry.path())?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What `ensure` did for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Found on the engine with the recipe's current hash.
    Cached,
    /// Built now, taking this long.
    Built(Duration),
    /// Not from a recipe: already on the engine (e.g. pulled by the user).
    Present,
}

/// One image a stack needs, as it is on the engine now.
#[derive(Debug, Clone)]
pub struct ImageStatus {
    /// The image reference, `name:tag`.
    pub reference: String,
    /// The image id on the engine.
    pub id: String,
    /// The image size, in bytes.
    pub size_bytes: u64,
    /// The size budget from the image's recipe, in bytes; `None` without a recipe or a budget.
    pub budget_bytes: Option<u64>,
    /// Whether it was cached, built now or already present.
    pub provenance: Provenance,
}

/// Hashes a recipe's inputs. Pure apart from reading files, so the cache rule is testable.
pub fn recipe_hash(recipe: &Recipe, root: &Path, rustc_version: &str) -> Result<String> {
    let mut h = Sha256::new();
    h.update(BUILD_SCHEME);
    hash_tree(&mut h, &recipe.dir, &recipe.dir)?;
    if let Some(f) = &recipe.dockerfile {
        h.update("\0dockerfile\0");
        hash_file(&mut h, &recipe.dir, f)?;
    }
    if let Some(stage) = &recipe.target {
        h.update(format!("\0target\0{stage}"));
    }
    if !recipe.binaries.is_empty() {
        h.update(rustc_version);
        for file in ["Cargo.lock", "Cargo.toml"] {
            hash_file(&mut h, root, &root.join(file))?;
        }
        for bin in &recipe.binaries {
            hash_tree(&mut h, root, &root.join("fixtures").join(bin))?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_tree(h: &mut Sha256, base: &Path, dir: &Path) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("cannot list recipe inputs", dir, e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            hash_tree(h, base, &path)?;
        } else {
            hash_file(h, base, &path)?;
        }
    }
    Ok(())
}

fn hash_file(h: &mut Sha256, base: &Path, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read recipe input", path, e))?;
    let rel = path.strip_prefix(base).unwrap_or(path);
    // Length-prefix both parts so that moving bytes between name and content changes the hash.
    h.update((rel.as_os_str().len() as u64).to_le_bytes());
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(&bytes);
    Ok(())
}

/// Makes every image `references` names available: builds those with a recipe whose hash
/// changed, accepts others already on the engine, and fails naming the service otherwise.
/// `references` maps service name to image reference. Builds run side by side (see
/// [`ensure_set`]); the result has one entry per distinct reference. An image that is
/// neither a recipe's nor on the engine is pulled as `pull` says.
pub async fn ensure_for_services(
    docker: &Docker,
    references: &BTreeMap<String, String>,
    pull: Pull,
) -> Result<Vec<ImageStatus>> {
    let all = recipes(&workspace::recipes_dir())?;
    let mut wanted: Vec<&Recipe> = Vec::new();
    let mut present: Vec<ImageStatus> = Vec::new();
    for (service, reference) in references {
        if wanted.iter().any(|r| &r.reference() == reference) || present.iter().any(|s| &s.reference == reference) {
            continue;
        }
        if let Some(recipe) = all.iter().find(|r| &r.reference() == reference) {
            wanted.push(recipe);
            continue;
        }
        let mut found = inspect(docker, reference).await?;
        let mut provenance = Provenance::Present;
        if pull == Pull::Always || (found.is_none() && pull == Pull::Missing) {
            let started = Instant::now();
            let mut cmd = Command::new("docker");
            cmd.arg("pull").arg(reference);
            crate::progress::note(format!("  docker pull {reference} (--pull {})", pull.as_str()));
            if let Err(detail) = run_step(cmd, Some(&format!("docker pull {reference}"))).await {
                return Err(Error::PullFailed {
                    service: service.clone(),
                    image: reference.clone(),
                    why: format!("pulling it failed: {detail}"),
                });
            }
            provenance = Provenance::Built(started.elapsed());
            found = inspect(docker, reference).await?;
        }
        match found {
            Some((id, size, _)) => present.push(ImageStatus {
                reference: reference.clone(),
                id,
                size_bytes: size,
                budget_bytes: None,
                provenance,
            }),
            None if pull == Pull::Never => {
                return Err(Error::PullFailed {
                    service: service.clone(),
                    image: reference.clone(),
                    why: "no recipe builds it, and --pull never forbids pulling it".to_owned(),
                });
            }
            None => {
                return Err(Error::ImageMissing {
                    service: service.clone(),
                    image: reference.clone(),
                    recipes: workspace::recipes_dir(),
                });
            }
        }
    }
    let mut out = ensure_set(docker, &wanted).await?;
    out.extend(present);
    Ok(out)
}

/// When to pull an image that no recipe builds, as `docker compose up --pull` takes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pull {
    /// Pull it only when it is not on the engine.
    #[default]
    Missing,
    /// Pull it every run, even when it is on the engine.
    Always,
    /// Never pull: an image not on the engine is an error.
    Never,
}

impl Pull {
    /// The word `--pull` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Pull::Missing => "missing",
            Pull::Always => "always",
            Pull::Never => "never",
        }
    }
}

impl std::str::FromStr for Pull {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Pull, String> {
        match s {
            "missing" => Ok(Pull::Missing),
            "always" => Ok(Pull::Always),
            "never" => Ok(Pull::Never),
            other => Err(format!("`{other}` is not a pull policy (use missing, always or never)")),
        }
    }
}

/// The label a `build:` service's image carries: the stack directory and service it was
/// built for, so `harness reap --images` and a person can tell them apart.
pub const SERVICE_BUILD_LABEL: &str = "io.harness.built-for";

/// Builds a `build:` service's image from compose's resolved `build:` section (context,
/// dockerfile or dockerfile_inline, target, args) and tags it `tag`, with the builder the
/// recipes use (the engine here has no buildx). The builder's layer cache makes an
/// unchanged rebuild a matter of seconds; the image it replaced is removed once no tag
/// names it, so rebuilds leave nothing dangling.
pub async fn build_service(
    docker: &Docker,
    service: &str,
    build: &serde_json::Value,
    tag: &str,
    owner: &str,
) -> Result<ImageStatus> {
    let context = PathBuf::from(build["context"].as_str().unwrap_or("."));
    let work;
    let dockerfile = match build["dockerfile_inline"].as_str() {
        Some(text) => {
            work = tempfile::tempdir()
                .map_err(|e| Error::io("cannot create a build directory", std::env::temp_dir(), e))?;
            let path = work.path().join("Dockerfile");
            std::fs::write(&path, text).map_err(|e| Error::io("cannot write the inline Dockerfile", &path, e))?;
            path
        }
        None => context.join(build["dockerfile"].as_str().unwrap_or("Dockerfile")),
    };
    let started = Instant::now();
    let mut cmd = Command::new("docker");
    // Not --quiet: "Step N/M" lines are the progress, and name the step that failed.
    cmd.env("DOCKER_BUILDKIT", "0").arg("build").arg("--rm").arg("--force-rm").arg("-f").arg(&dockerfile);
    if let Some(target) = build["target"].as_str() {
        cmd.arg("--target").arg(target);
    }
    for (k, v) in build["args"].as_object().into_iter().flatten() {
        cmd.arg("--build-arg").arg(format!("{k}={}", v.as_str().unwrap_or_default()));
    }
    cmd.arg("--label").arg(format!("{SERVICE_BUILD_LABEL}={owner}")).arg("-t").arg(tag).arg(&context);
    crate::progress::note(format!("  docker build {} for service `{service}`", workspace::display_path(&dockerfile)));
    let dangling_before = dangling(docker).await;
    let built = run_step(cmd, Some(&format!("docker build {service}"))).await;
    // Every image the build left untagged goes: the one the new tag replaced, a failed
    // build's last good step, and the last image of each stage `--target` skips (the legacy
    // builder builds those too: suites/stacks/built's `debug` stage).
    remove_build_leftovers(docker, &dangling_before).await;
    if let Err(detail) = built {
        let (step, detail) = match detail.split_once(" || ") {
            Some((step, rest)) => (step.to_owned(), rest.to_owned()),
            None => ("docker build".to_owned(), detail),
        };
        return Err(Error::ServiceBuild { service: service.to_owned(), dockerfile, step, detail });
    }
    let (id, size, _) = inspect(docker, tag).await?.ok_or_else(|| Error::ServiceBuild {
        service: service.to_owned(),
        dockerfile: dockerfile.clone(),
        step: "docker build".to_owned(),
        detail: format!("the build succeeded but {tag} is not on the engine"),
    })?;
    Ok(ImageStatus {
        reference: tag.to_owned(),
        id,
        size_bytes: size,
        budget_bytes: None,
        provenance: Provenance::Built(started.elapsed()),
    })
}

/// Every recipe's image, built or found cached (what the test suites need).
pub async fn ensure_all(docker: &Docker) -> Result<Vec<ImageStatus>> {
    let all = recipes(&workspace::recipes_dir())?;
    ensure_set(docker, &all.iter().collect::<Vec<_>>()).await
}

/// How many recipes build at once: one per core, at most four. A build is mostly one
/// single-threaded process (dpkg in mmdebstrap, `docker build`), so two cores keep two busy.
fn build_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4)
}

/// Ensures a set of recipes, [`build_slots`] at a time. The targets of one recipe directory
/// share its root filesystem and Dockerfile stages, so they build one after another, in one
/// slot; so do the recipes that only wait on the static binaries' compile. Every started
/// build is let finish (a dropped future would orphan its mmdebstrap or `docker build`); the
/// first error is returned after. The result follows `wanted`'s order.
async fn ensure_set(docker: &Docker, wanted: &[&Recipe]) -> Result<Vec<ImageStatus>> {
    use futures_util::StreamExt;
    let before = dangling(docker).await;
    // Owned parts only: a stream of futures borrowing from here would not be `Send` for every
    // lifetime, which a caller's `tokio::spawn` of a whole boot needs.
    // FROM-scratch recipes of static binaries (the app, the probe) wait on one compile: they
    // share one slot, so the other starts the root filesystems meanwhile.
    let slot = |r: &Recipe| {
        if r.rootfs.is_none() && !r.binaries.is_empty() { "(static binaries)" } else { r.group.as_str() }.to_owned()
    };
    let mut groups: Vec<Vec<(usize, Recipe)>> = Vec::new();
    for (i, recipe) in wanted.iter().enumerate() {
        match groups.iter_mut().find(|g| slot(&g[0].1) == slot(recipe)) {
            Some(g) => g.push((i, (*recipe).clone())),
            None => groups.push(vec![(i, (*recipe).clone())]),
        }
    }
    let results: Vec<Vec<(usize, Result<ImageStatus>)>> = futures_util::stream::iter(groups)
        .map(|group| {
            let docker = docker.clone();
            async move {
                let mut done = Vec::new();
                for (i, recipe) in group {
                    let status = ensure_recipe(&docker, &recipe).await;
                    let failed = status.is_err();
                    done.push((i, status));
                    if failed {
                        break;
                    }
                }
                done
            }
        })
        .buffer_unordered(build_slots())
        .collect()
        .await;
    remove_build_leftovers(docker, &before).await;
    let mut results: Vec<(usize, Result<ImageStatus>)> = results.into_iter().flatten().collect();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The legacy builder leaves the last image of each stage a target only copies from
/// (zigquant's `alpine-base`) untagged. Removed once a whole set of builds is done, not after
/// each target: the next target of the same Dockerfile reuses those stages as its cache.
async fn remove_build_leftovers(docker: &Docker, before: &std::collections::BTreeSet<String>) {
    for id in dangling(docker).await.difference(before) {
        remove_if_dangling(docker, id, "a build").await;
    }
}

/// Builds one recipe unless the engine already has its current hash. Holds a lock across
/// processes, because nextest runs many tests at once and each may need the same image.
pub async fn ensure_recipe(docker: &Docker, recipe: &Recipe) -> Result<ImageStatus> {
    let root = workspace::root();
    let rustc = if recipe.binaries.is_empty() { String::new() } else { rustc_version().await };
    let hash = recipe_hash(recipe, &root, &rustc)?;
    let reference = recipe.reference();
    // Per directory: the targets of one recipe share its root filesystem.
    let _lock = BuildLock::acquire(&recipe.group).await?;
    let current = inspect(docker, &reference).await?;
    if let Some((id, size, labels)) = current.clone()
        && labels.get(RECIPE_HASH_LABEL) == Some(&hash)
    {
        tracing::debug!(image = %reference, "cached");
        return Ok(ImageStatus {
            reference,
            id,
            size_bytes: size,
            budget_bytes: recipe.budget_bytes,
            provenance: Provenance::Cached,
        });
    }
    provision::ensure(provision::Need::ImageBuilds).await?;
    let started = Instant::now();
    crate::progress::note(format!("building image {reference} from {}", recipe.dir.display()));
    build(recipe, &hash, &root).await?;
    let took = started.elapsed();
    let (id, size, _) = inspect(docker, &reference).await?.ok_or_else(|| Error::ImageBuild {
        image: reference.clone(),
        recipe: recipe.dir.clone(),
        step: "inspect".into(),
        detail: "the image is not on the engine after a successful build".into(),
    })?;
    crate::progress::note(format!("built {reference} in {} ({})", units::secs(took), units::megabytes(size)));
    if let Some((old, ..)) = current.filter(|(old, ..)| *old != id) {
        remove_if_dangling(docker, &old, &reference).await;
    }
    Ok(ImageStatus {
        reference,
        id,
        size_bytes: size,
        budget_bytes: recipe.budget_bytes,
        provenance: Provenance::Built(took),
    })
}

/// The ids of the engine's untagged images; empty when the engine cannot say.
async fn dangling(docker: &Docker) -> std::collections::BTreeSet<String> {
    let filters = std::collections::HashMap::from([("dangling".to_owned(), vec!["true".to_owned()])]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
    docker.list_images(Some(options)).await.map(|images| images.into_iter().map(|i| i.id).collect()).unwrap_or_default()
}

/// An image a build left untagged (the one a rebuild replaced, or a stage the target only
/// copies from) is removed, so builds leave no dangling images behind. One that a container
/// still uses stays (the engine refuses), and so does one that a tag still names; neither is
/// an error.
async fn remove_if_dangling(docker: &Docker, old: &str, replaced_by: &str) {
    let Ok(img) = docker.inspect_image(old).await else { return };
    let tags = img.repo_tags.unwrap_or_default();
    if tags.iter().any(|t| t != "<none>:<none>") {
        return;
    }
    let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().build();
    match docker.remove_image(old, Some(options), None).await {
        Ok(_) => tracing::debug!(image = %old, %replaced_by, "removed the image a rebuild replaced"),
        Err(e) => tracing::debug!(image = %old, %replaced_by, "kept the image a rebuild replaced: {e}"),
    }
}

async fn inspect(docker: &Docker, reference: &str) -> Result<Option<(String, u64, BTreeMap<String, String>)>> {
    match docker.inspect_image(reference).await {
        Ok(img) => {
            let labels = img.config.and_then(|c| c.labels).unwrap_or_default().into_iter().collect();
            Ok(Some((img.id.unwrap_or_default(), img.size.unwrap_or(0).max(0) as u64, labels)))
        }
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(e) => Err(Error::engine("inspect image", reference, e)),
    }
}

/// The compiler's version, part of a binary recipe's hash: asked once per process, since
/// every boot checks the app's and the probe's recipes.
async fn rustc_version() -> String {
    static VERSION: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    VERSION
        .get_or_init(|| async {
            let out = Command::new("rustc").arg("-V").stdin(Stdio::null()).output().await;
            out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
        })
        .await
        .clone()
}

async fn build(recipe: &Recipe, hash: &str, root: &Path) -> Result<()> {
    let fail = |step: &str, detail: String| Error::ImageBuild {
        image: recipe.reference(),
        recipe: recipe.dir.clone(),
        step: step.to_owned(),
        detail,
    };
    let work =
        tempfile::tempdir().map_err(|e| Error::io("cannot create a build directory", std::env::temp_dir(), e))?;
    let ctx = work.path().join("context");
    copy_dir(&recipe.dir, &ctx)?;
    if let Some(f) = &recipe.dockerfile {
        std::fs::copy(f, ctx.join("Dockerfile")).map_err(|e| Error::io("cannot copy the Dockerfile", f, e))?;
    }

    if !recipe.binaries.is_empty() {
        let dir = static_binaries(root).await.map_err(|d| fail("cargo build", d))?;
        for name in &recipe.binaries {
            let path = dir.join(name);
            std::fs::copy(&path, ctx.join(name))
                .map_err(|e| Error::io("cannot copy binary into build context", &path, e))?;
        }
    }

    let mut build_args = Vec::new();
    if let Some(spec) = &recipe.rootfs {
        let tag = ensure_rootfs(recipe, spec).await?;
        build_args.push(format!("ROOTFS={tag}"));
    }

    let mut cmd = Command::new("docker");
    // The legacy builder is used on purpose: the engine here has no buildx, and it is
    // enough for recipes that only COPY files onto an imported base.
    // Not --quiet: its "Step N/M" lines are the progress shown while a build runs.
    cmd.env("DOCKER_BUILDKIT", "0").arg("build").arg("--rm").arg("--force-rm");
    for a in &build_args {
        cmd.arg("--build-arg").arg(a);
    }
    if let Some(stage) = &recipe.target {
        cmd.arg("--target").arg(stage);
    }
    cmd.arg("--label")
        .arg(format!("{RECIPE_HASH_LABEL}={hash}"))
        .arg("--label")
        .arg(format!("io.harness.recipe={}", recipe.name))
        .arg("-t")
        .arg(recipe.reference())
        .arg(&ctx);
    run_step(cmd, Some(&format!("docker build {}", recipe.reference())))
        .await
        .map_err(|d| fail("docker build", d.replacen(" || ", ": ", 1)))
}

/// The host's apt sources, passed to mmdebstrap so the root filesystem comes from the same
/// archive (and point release) as the host's packages; mmdebstrap's own default would be a
/// fixed public mirror.
const HOST_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// Imports the recipe's Debian root filesystem as `harness-rootfs/<name>:<hash>`, unless an
/// image with that tag exists. The hash covers only what goes into the rootfs (packages,
/// hooks), so editing a Dockerfile or a config file it copies reuses the slow mmdebstrap
/// step. The tag costs no disk: the final image has the imported layer as its parent.
///
/// The recipe's packages go onto a shared base (see [`ensure_base`]) with apt inside the
/// chroot, so each recipe pays only for its own packages: postgres's root filesystem took
/// about 23 s this way against 33 s for a whole mmdebstrap of its own (the same files).
async fn ensure_rootfs(recipe: &Recipe, spec: &RootfsSpec) -> Result<String> {
    let fail = |step: &str, detail: String| Error::ImageBuild {
        image: recipe.reference(),
        recipe: recipe.dir.clone(),
        step: step.to_owned(),
        detail,
    };
    let hash = rootfs_hash(recipe, spec)?;
    let tag = format!("harness-rootfs/{}:{}", recipe.group, &hash[..16]);
    let mut cmd = Command::new("docker");
    cmd.arg("image").arg("inspect").arg(&tag).stdout(Stdio::null()).stderr(Stdio::null());
    if run(cmd).await.is_ok() {
        return Ok(tag);
    }
    let base = ensure_base(spec).await.map_err(|d| fail("mmdebstrap (base)", d))?;
    let work =
        tempfile::tempdir().map_err(|e| Error::io("cannot create a build directory", std::env::temp_dir(), e))?;
    let tar = work.path().join("rootfs.tar");
    let mut cmd = Command::new("mmdebstrap");
    // `custom` installs nothing itself: the base brings the essential set, apt and the
    // host's sources; its package lists were cleaned, hence the update.
    // Not --quiet: its stage lines ("I: running --customize-hook ...") are the progress shown.
    cmd.arg("--variant=custom").arg("--skip=update");
    cmd.arg(format!("--setup-hook=tar -C \"$1\" -xf '{}'", base.display()));
    // An empty suite makes mmdebstrap write a sources.list apt cannot parse; the base's own
    // sources (the host's) are the ones to use.
    cmd.arg("--customize-hook=rm -f \"$1\"/etc/apt/sources.list");
    if !spec.include.is_empty() {
        cmd.arg("--customize-hook=chroot \"$1\" apt-get update -q");
        cmd.arg(format!(
            "--customize-hook=chroot \"$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends {}",
            spec.include.join(" ")
        ));
    }
    for hook in &spec.hooks {
        // mmdebstrap runs the hook through a shell with "$1" set to the rootfs path.
        cmd.arg(format!("--customize-hook=sh '{}' \"$1\"", recipe.dir.join(hook).display()));
    }
    cmd.arg("").arg(&tar);
    crate::progress::note(format!("  mmdebstrap {} with {}", spec.suite, spec.include.join(", ")));
    run_step(cmd, Some(&format!("mmdebstrap {}", recipe.group))).await.map_err(|d| fail("mmdebstrap", d))?;
    let mut cmd = Command::new("docker");
    cmd.arg("import").arg(&tar).arg(&tag);
    run(cmd).await.map_err(|d| fail("docker import", d))?;
    Ok(tag)
}

/// The shared base every recipe's root filesystem starts from: `mmdebstrap --variant=VARIANT
/// SUITE` from the host's apt sources, kept as a tar file (without `/dev`, which mmdebstrap
/// makes itself) under the target directory. Built once per suite and variant and shared by
/// every recipe, instead of installing the same essential packages in each (about 20 s
/// apiece); kept as a file and not an image because mmdebstrap unpacks it, and cheap to make
/// again (about 25 s) where a clean clone lacks it. Returns its path.
async fn ensure_base(spec: &RootfsSpec) -> std::result::Result<PathBuf, String> {
    let mut h = Sha256::new();
    h.update(BUILD_SCHEME);
    h.update(format!("{}\0{}\0", spec.suite, spec.variant));
    h.update(std::fs::read(HOST_SOURCES).unwrap_or_default());
    let name = format!("rootfs-base-{}-{}-{}", spec.suite, spec.variant, &hex::encode(h.finalize())[..16]);
    let dir = target_dir(&workspace::root()).join("harness-cache");
    let path = dir.join(format!("{name}.tar"));
    // One build per host, however many recipes or processes ask at once.
    let _lock = BuildLock::acquire(&name).await.map_err(|e| e.to_string())?;
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let work =
        tempfile::tempdir_in(&dir).map_err(|e| format!("cannot create a directory in {}: {e}", dir.display()))?;
    let whole = work.path().join("base.tar");
    let mut cmd = Command::new("mmdebstrap");
    cmd.arg(format!("--variant={}", spec.variant)).arg(&spec.suite).arg(&whole);
    if Path::new(HOST_SOURCES).is_file() {
        cmd.arg(HOST_SOURCES);
    }
    crate::progress::note(format!(
        "  mmdebstrap {} {} (the base every root filesystem shares)",
        spec.variant, spec.suite
    ));
    run_step(cmd, Some(&format!("mmdebstrap base {}", spec.suite))).await?;
    // Without /dev: mmdebstrap makes the device nodes of each recipe's rootfs itself, and
    // would refuse to find them there already.
    let filtered = work.path().join("base-nodev.tar");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("mmtarfilter --path-exclude='/dev/*' < \"$1\" > \"$2\"").arg("sh").arg(&whole).arg(&filtered);
    run(cmd).await?;
    std::fs::rename(&filtered, &path).map_err(|e| format!("cannot keep {}: {e}", path.display()))?;
    Ok(path)
}

/// Hashes what goes into a recipe's root filesystem: the `[rootfs]` table and its hooks.
pub fn rootfs_hash(recipe: &Recipe, spec: &RootfsSpec) -> Result<String> {
    let mut h = Sha256::new();
    h.update(BUILD_SCHEME);
    h.update(format!("{}\0{}\0{}", spec.suite, spec.variant, spec.include.join(",")));
    for hook in &spec.hooks {
        hash_file(&mut h, &recipe.dir, &recipe.dir.join(hook))?;
    }
    Ok(hex::encode(h.finalize()))
}

/// Compiles every workspace binary any recipe copies (the app, the probe) as static
/// executables, in one cargo invocation, once per process; returns the directory holding
/// them. One invocation because the binaries share most dependencies; once because every
/// recipe that copies the app (the seeds' stand-ins too) would otherwise ask cargo again.
async fn static_binaries(root: &Path) -> std::result::Result<PathBuf, String> {
    // A failure is not kept: the next recipe that needs the binaries tries the compile again.
    static BUILT: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    BUILT
        .get_or_try_init(|| async {
            let mut bins: Vec<String> = recipes(&workspace::recipes_dir())
                .map_err(|e| e.to_string())?
                .into_iter()
                .flat_map(|r| r.binaries)
                .collect();
            bins.sort();
            bins.dedup();
            build_static_binaries(root, &bins).await
        })
        .await
        .cloned()
}

/// One `cargo build` of `bins` as static executables, in the light `image` profile.
async fn build_static_binaries(root: &Path, bins: &[String]) -> std::result::Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).env("RUSTFLAGS", "-C target-feature=+crt-static").args([
        "build",
        "--locked",
        "--profile",
        STATIC_PROFILE,
        "--target",
        STATIC_TARGET,
    ]);
    for b in bins {
        cmd.arg("-p").arg(b);
    }
    crate::progress::note(format!("  cargo build --profile {STATIC_PROFILE} (static) -p {}", bins.join(" -p ")));
    // cargo's own "Compiling ..." lines are the progress a long cold build shows.
    run_step(cmd, Some(&format!("cargo build (static) {}", bins.join(",")))).await?;
    Ok(target_dir(root).join(STATIC_TARGET).join(STATIC_PROFILE))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs a build step, returning the tail of its output as the error. A step that runs
/// longer than [`PROGRESS_EVERY`] says so, with its last output line and how long the same
/// step took last time, so a long cold build is never silent.
async fn run(cmd: Command) -> std::result::Result<(), String> {
    run_step(cmd, None).await
}

/// How often a long build step reports that it is still working.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// [`run`], for a step worth an estimate: `key` names it in the build-times file.
async fn run_step(mut cmd: Command, key: Option<&str>) -> std::result::Result<(), String> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::pin(s) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>),
        child.stderr.take().map(|s| Box::pin(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let estimate = key.and_then(last_took).map(|t| format!(", last time {}", units::secs(t))).unwrap_or_default();
    let what = key.unwrap_or("build step").to_owned();
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    // The stage a step is in says more than its last line ("Step 4/9 : RUN ..." over
    // "---> Running in 3f2a"): docker build's steps, mmdebstrap's "I:" stages, cargo's crates.
    let mut stage: Option<String> = None;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut open = true;
    let status = loop {
        tokio::select! {
            line = rx.recv(), if open => match line {
                Some(line) if !line.trim().is_empty() => {
                    let t = line.trim_start();
                    if t.starts_with("Step ") || t.starts_with("I: ") || t.starts_with("Compiling ") {
                        stage = Some(t.to_owned());
                    }
                    if tail.len() == 40 {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                Some(_) => {}
                None => open = false,
            },
            _ = tick.tick() => {
                let shown = stage.as_deref().or(tail.back().map(String::as_str)).unwrap_or("(no output yet)");
                let last: String = shown.chars().take(100).collect();
                crate::progress::note(format!(
                    "  {what}: still working after {}{estimate}; at: {}",
                    units::secs(started.elapsed()),
                    last.trim()
                ));
            }
            status = child.wait(), if !open => break status.map_err(|e| format!("cannot wait: {e}"))?,
        }
    };
    if status.success() {
        if let Some(key) = key {
            remember_took(key, started.elapsed());
        }
        return Ok(());
    }
    let text: Vec<String> = tail.into_iter().collect();
    let code = status.code().unwrap_or(-1);
    let tail = tail_lines(&text.join("\n"), 6);
    // A docker build's failing step leads, before ` || `, so its caller can name it.
    Err(match stage.filter(|s| s.starts_with("Step ")) {
        Some(step) => format!("{step} || exit {code}: {tail}"),
        None => format!("exit {code}: {tail}"),
    })
}

/// Where the last duration of each long build step is kept, for the next build's estimate.
fn build_times_file() -> PathBuf {
    target_dir(&workspace::root()).join("harness-build-times.json")
}

fn last_took(key: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(build_times_file()).ok()?;
    let map: BTreeMap<String, f64> = serde_json::from_str(&text).ok()?;
    map.get(key).map(|s| Duration::from_secs_f64(*s))
}

/// Best effort: an estimate is a courtesy, so a file that cannot be written is skipped.
fn remember_took(key: &str, took: Duration) {
    let path = build_times_file();
    let mut map: BTreeMap<String, f64> =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    map.insert(key.to_owned(), took.as_secs_f64());
    if let Ok(text) = serde_json::to_string_pretty(&map) {
        let _ = std::fs::write(&path, text);
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("cannot create build context", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io("cannot list recipe", from, e))?.flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| Error::io("cannot copy recipe file", &path, e))?;
        }
    }
    Ok(())
}

/// An exclusive lock on one recipe's build, shared by every harness process on the host.
#[derive(Debug)]
struct BuildLock {
    // Held, never read: the lock is released when the file is closed on drop.
    _file: std::fs::File,
}

impl BuildLock {
    async fn acquire(name: &str) -> Result<BuildLock> {
        let path = std::env::temp_dir().join(format!("harness-image-{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open image build lock", &path, e))?;
        // Blocking on a lock would stall the runtime thread, so wait on a blocking thread.
        tokio::task::spawn_blocking(move || fs4::fs_std::FileExt::lock_exclusive(&file).map(|()| file))
            .await
            .map_err(|e| Error::io("image build lock task failed", &path, std::io::Error::other(e)))?
            .map(|file| BuildLock { _file: file })
            .map_err(|e| Error::io("cannot take image build lock", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_build_step_streams_its_output_and_fails_with_its_tail() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo one; echo two >&2"]);
        assert_eq!(run(ok).await, Ok(()));
        let mut bad = Command::new("sh");
        bad.args(["-c", "for i in 1 2 3 4 5 6 7 8; do echo line $i; done; echo oops >&2; exit 3"]);
        let err = run(bad).await.expect_err("exit 3 fails");
        assert!(err.starts_with("exit 3: "), "{err}");
        assert!(err.contains("oops") && err.contains("line 8") && !err.contains("line 1\n"), "only the tail: {err}");
        let err = run(Command::new("/nonexistent/tool")).await.expect_err("cannot start");
        assert!(err.starts_with("cannot start"), "{err}");
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    fn recipe_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "recipe.toml",
            "image = \"harness/x\"\ntag = \"1\"\nbudget = \"100MB\"\n[rootfs]\nsuite = \"bookworm\"\nvariant = \"minbase\"\ninclude = [\"redis-server\"]\n",
        );
        write(dir.path(), "Dockerfile", "ARG ROOTFS\nFROM ${ROOTFS}\n");
        dir
    }

    #[test]
    fn a_shared_dockerfile_must_exist_and_counts_in_the_hash() {
        let root = tempfile::tempdir().expect("tempdir");
        let (full, slim) = (root.path().join("full"), root.path().join("slim"));
        std::fs::create_dir_all(&full).expect("mkdir");
        std::fs::create_dir_all(&slim).expect("mkdir");
        write(&full, "Dockerfile", "FROM scratch AS one\n");
        write(&slim, "recipe.toml", "image = \"seed/x\"\ntag = \"1\"\ndockerfile = \"../full/Dockerfile\"\n");
        let r = Recipe::load(&slim).expect("loads");
        assert_eq!(r.dockerfile.as_deref(), Some(slim.join("../full/Dockerfile").as_path()));
        let before = recipe_hash(&r, root.path(), "rustc").expect("hash");
        write(&full, "Dockerfile", "FROM scratch AS one\nUSER 1:1\n");
        assert_ne!(before, recipe_hash(&r, root.path(), "rustc").expect("hash"), "an edit of the shared file rebuilds");
        write(&slim, "recipe.toml", "image = \"seed/x\"\ntag = \"1\"\ndockerfile = \"../none/Dockerfile\"\n");
        let err = Recipe::load(&slim).expect_err("no such file").to_string();
        assert!(err.contains("names no file"), "{err}");
    }

    #[test]
    fn loads_every_target_of_a_multi_stage_recipe() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("recipe.toml"),
            "binaries = [\"app\"]\n[rootfs]\nsuite = \"bookworm\"\nvariant = \"minbase\"\n\
             [[targets]]\nstage = \"one\"\nimage = \"seed/one\"\ntag = \"1.0.0\"\nbudget = \"500MB\"\n\
             [[targets]]\nstage = \"two\"\nimage = \"seed/two\"\ntag = \"latest\"\n",
        )
        .expect("write");
        let all = Recipe::load_all(dir.path()).expect("loads");
        let refs: Vec<String> = all.iter().map(Recipe::reference).collect();
        assert_eq!(refs, ["seed/one:1.0.0", "seed/two:latest"]);
        assert_eq!(all[0].target.as_deref(), Some("one"));
        assert_eq!(all[0].budget_bytes, Some(500_000_000));
        assert_eq!(all[1].budget_bytes, None);
        assert!(all.iter().all(|r| r.group == all[0].group && r.binaries == ["app"] && r.rootfs.is_some()));
        // Same files, different stage: different images, so different hashes.
        let h = |r: &Recipe| {
            let r = Recipe { binaries: Vec::new(), ..r.clone() };
            recipe_hash(&r, dir.path(), "rustc").expect("hash")
        };
        assert_ne!(h(&all[0]), h(&all[1]));
        let err = Recipe::load(dir.path()).expect_err("two images").to_string();
        assert!(err.contains("makes 2 images"), "{err}");
    }

    #[test]
    fn a_target_list_excludes_top_level_image_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("recipe.toml"),
            "image = \"x\"\n[[targets]]\nstage = \"a\"\nimage = \"y\"\ntag = \"1\"\n",
        )
        .expect("write");
        let err = Recipe::load_all(dir.path()).expect_err("both").to_string();
        assert!(err.contains("belong to each target"), "{err}");
        std::fs::write(dir.path().join("recipe.toml"), "budget = \"1MB\"\n").expect("write");
        let err = Recipe::load_all(dir.path()).expect_err("neither").to_string();
        assert!(err.contains("`image` and `tag` are required"), "{err}");
    }

    #[test]
    fn loads_a_recipe() {
        let dir = recipe_dir();
        let r = Recipe::load(dir.path()).expect("loads");
        assert_eq!(r.reference(), "harness/x:1");
        assert_eq!(r.budget_bytes, Some(100_000_000));
        assert_eq!(r.rootfs.as_ref().map(|s| s.include.clone()), Some(vec!["redis-server".to_owned()]));
    }

    #[test]
    fn unknown_recipe_keys_are_errors_naming_the_file() {
        let dir = recipe_dir();
        write(dir.path(), "recipe.toml", "image = \"a\"\ntag = \"1\"\nbudjet = \"1MB\"\n");
        let err = Recipe::load(dir.path()).expect_err("unknown key").to_string();
        assert!(err.contains("recipe.toml"), "{err}");
        assert!(err.contains("budjet"), "{err}");
    }

    #[test]
    fn hash_changes_with_any_recipe_file_and_only_then() {
        let dir = recipe_dir();
        let root = tempfile::tempdir().expect("root");
        let r = Recipe::load(dir.path()).expect("loads");
        let first = recipe_hash(&r, root.path(), "").expect("hash");
        assert_eq!(first, recipe_hash(&r, root.path(), "").expect("hash"), "stable");
        write(dir.path(), "extra.conf", "x");
        let second = recipe_hash(&r, root.path(), "").expect("hash");
        assert_ne!(first, second, "a new file changes the hash");
        write(dir.path(), "extra.conf", "y");
        assert_ne!(second, recipe_hash(&r, root.path(), "").expect("hash"), "new content changes the hash");
    }

    #[test]
    fn rootfs_hash_ignores_the_dockerfile_but_not_packages_or_hooks() {
        let dir = recipe_dir();
        write(dir.path(), "rootfs.sh", "echo a");
        let mut r = Recipe::load(dir.path()).expect("loads");
        let spec = r.rootfs.clone().expect("rootfs");
        let mut spec_with_hook = spec.clone();
        spec_with_hook.hooks = vec!["rootfs.sh".into()];
        let base = rootfs_hash(&r, &spec).expect("hash");
        write(dir.path(), "Dockerfile", "ARG ROOTFS\nFROM ${ROOTFS}\nUSER 1:1\n");
        assert_eq!(base, rootfs_hash(&r, &spec).expect("hash"), "Dockerfile edits reuse the rootfs");
        let hooked = rootfs_hash(&r, &spec_with_hook).expect("hash");
        assert_ne!(base, hooked);
        write(dir.path(), "rootfs.sh", "echo b");
        assert_ne!(hooked, rootfs_hash(&r, &spec_with_hook).expect("hash"), "hook edits rebuild the rootfs");
        let mut more = spec.clone();
        more.include.push("curl".into());
        r.rootfs = Some(more.clone());
        assert_ne!(base, rootfs_hash(&r, &more).expect("hash"));
    }

    #[test]
    fn binary_recipes_hash_their_sources_and_compiler() {
        let dir = recipe_dir();
        write(dir.path(), "recipe.toml", "image = \"harness/app\"\ntag = \"1\"\nbinaries = [\"app\"]\n");
        let root = tempfile::tempdir().expect("root");
        std::fs::create_dir_all(root.path().join("fixtures/app/src")).expect("mkdir");
        write(root.path(), "Cargo.lock", "");
        write(root.path(), "Cargo.toml", "");
        write(&root.path().join("fixtures/app/src"), "main.rs", "fn main() {}");
        let r = Recipe::load(dir.path()).expect("loads");
        let a = recipe_hash(&r, root.path(), "rustc 1.95").expect("hash");
        assert_ne!(a, recipe_hash(&r, root.path(), "rustc 1.96").expect("hash"));
        write(&root.path().join("fixtures/app/src"), "main.rs", "fn main() { }");
        assert_ne!(a, recipe_hash(&r, root.path(), "rustc 1.95").expect("hash"));
    }
}
