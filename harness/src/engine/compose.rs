//! The Compose v2 CLI, and the model of a stack as compose itself resolves it.
//!
//! We let `docker compose config --format json` do the resolving (overrides, env
//! interpolation, short syntax) rather than re-implement the compose spec. Before that we
//! parse the YAML ourselves once, only to report syntax errors with file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::process::Command;

use crate::errors::{Error, Result, tail_lines};
use crate::units::parse_duration;

/// File names compose looks for, in its own order of preference.
pub const COMPOSE_FILE_NAMES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// Finds the compose file for a stack given a directory or a file path.
pub fn locate(stack: &Path) -> Result<PathBuf> {
    if stack.is_file() {
        return Ok(stack.to_path_buf());
    }
    COMPOSE_FILE_NAMES.iter().map(|name| stack.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        Error::ComposeFileMissing { dir: stack.to_path_buf(), looked_for: COMPOSE_FILE_NAMES.join(", ") }
    })
}

/// What one stack is made of: its compose files, in order, and its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The stack directory (the compose file's directory when given a file).
    pub dir: PathBuf,
    /// The compose files, in the order compose applies them.
    pub files: Vec<PathBuf>,
    /// `acceptance.toml` in `dir` unless `stack.toml` names another; it need not exist.
    pub policy: PathBuf,
}

/// `stack.toml`: a stack made of other files, e.g. a `fixed/` variant that layers an override
/// on its parent's compose file and is judged by the parent's policy.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StackFile {
    compose: Vec<PathBuf>,
    policy: Option<PathBuf>,
}

/// The stack file that makes a directory a layered stack.
pub const STACK_FILE: &str = "stack.toml";

/// Resolves a stack directory (or a compose file) into its files and policy.
pub fn layout(stack: &Path) -> Result<Layout> {
    if stack.is_file() {
        let dir = stack.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok(Layout { policy: dir.join("acceptance.toml"), files: vec![stack.to_path_buf()], dir });
    }
    let path = stack.join(STACK_FILE);
    if !path.is_file() {
        return Ok(Layout {
            files: vec![locate(stack)?],
            policy: stack.join("acceptance.toml"),
            dir: stack.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read stack file", &path, e))?;
    let invalid = |reason: String| Error::StackFileInvalid { path: path.clone(), reason };
    let file: StackFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_owned()))?;
    if file.compose.is_empty() {
        return Err(invalid("`compose` lists no files".into()));
    }
    let mut files = Vec::new();
    for f in &file.compose {
        let full = stack.join(f);
        if !full.is_file() {
            return Err(invalid(format!("compose file {} does not exist", full.display())));
        }
        files.push(full);
    }
    let policy = stack.join(file.policy.unwrap_or_else(|| PathBuf::from("acceptance.toml")));
    Ok(Layout { dir: stack.to_path_buf(), files, policy })
}

/// Checks that a file is well-formed YAML, reporting the position of the first error.
pub fn validate_yaml(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read compose file", path, e))?;
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
        Ok(_) => Ok(()),
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            // serde_yaml appends " at line X column Y" itself; keep only the reason.
            let reason = e.to_string().split(" at line ").next().unwrap_or_default().to_owned();
            Err(Error::ComposeFileInvalid { path: path.to_path_buf(), line, column, reason })
        }
    }
}

/// One compose project as the CLI sees it: name plus files.
#[derive(Debug, Clone)]
pub struct ComposeProject {
    /// The compose project name, `hx<run id>-<name>`.
    pub project: String,
    /// The compose files passed with `-f`, in order.
    pub files: Vec<PathBuf>,
    /// The profiles to activate; empty activates every profile (`--profile '*'`), so a
    /// service behind a profile is judged like any other unless the run narrows them.
    pub profiles: Vec<String>,
}

impl ComposeProject {
    /// A `docker compose -p NAME -f ... ` command with the given arguments.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new("docker");
        cmd.arg("compose").arg("-p").arg(&self.project);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        if self.profiles.is_empty() {
            cmd.args(["--profile", "*"]);
        }
        for p in &self.profiles {
            cmd.arg("--profile").arg(p);
        }
        cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Runs a compose command to completion, returning stdout, or an error quoting stderr.
    pub async fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output().await.map_err(|e| Error::Spawn {
            program: "docker compose".into(),
            hint: COMPOSE_HINT.into(),
            source: e,
        })?;
        if !out.status.success() {
            return Err(self.failure(args, out.status.code(), &String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn failure(&self, args: &[&str], code: Option<i32>, stderr: &str) -> Error {
        Error::ComposeCommand {
            project: self.project.clone(),
            args: args.join(" "),
            code: code.map_or_else(|| "signal".to_owned(), |c| c.to_string()),
            stderr_tail: tail_lines(stderr, 4),
        }
    }

    /// A project with every profile active.
    pub fn new(project: impl Into<String>, files: Vec<PathBuf>) -> ComposeProject {
        ComposeProject { project: project.into(), files, profiles: Vec::new() }
    }

    /// The stack as compose resolves it.
    pub async fn model(&self) -> Result<ComposeModel> {
        Ok(self.model_and_warnings().await?.0)
    }

    /// The stack as compose resolves it, and compose's warnings while resolving it (unset
    /// variables, obsolete keys), one message each.
    pub async fn model_and_warnings(&self) -> Result<(ComposeModel, Vec<String>)> {
        let args = ["config", "--format", "json"];
        let out = self.command(args).output().await.map_err(|e| Error::Spawn {
            program: "docker compose".into(),
            hint: COMPOSE_HINT.into(),
            source: e,
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(self.failure(&args, out.status.code(), &stderr));
        }
        let model =
            ComposeModel::from_json(&String::from_utf8_lossy(&out.stdout)).map_err(|e| Error::ComposeCommand {
                project: self.project.clone(),
                args: "config --format json".into(),
                code: "0".into(),
                stderr_tail: format!("unexpected output: {e}"),
            })?;
        Ok((model, warnings(&stderr)))
    }
}

/// Compose's warnings, from its log lines (`time=... level=warning msg="..."`), deduplicated.
pub fn warnings(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stderr.lines().filter(|l| l.contains("level=warning")) {
        let msg = match line.split_once("msg=") {
            Some((_, m)) => m.trim().trim_matches('"').replace("\\\"", "\""),
            None => line.trim().to_owned(),
        };
        if !out.contains(&msg) {
            out.push(msg);
        }
    }
    out
}

/// A compose warning in a person's words: an unset variable is named with the compose file
/// lines that use it, and whether a `.env` file is missing beside them.
pub fn describe_warning(warning: &str, files: &[PathBuf]) -> String {
    let Some(var) = unset_variable(warning) else { return format!("compose: {warning}") };
    let mut uses = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let name = crate::workspace::display_path(f);
        for (i, line) in text.lines().enumerate() {
            if line.contains(&format!("${{{var}")) || line.contains(&format!("${var}")) {
                uses.push(format!("{name}:{}", i + 1));
            }
        }
    }
    let dir = files.first().and_then(|f| f.parent());
    let env_note = match dir {
        Some(d) if !d.join(".env").exists() => {
            let example = [".env.example", ".env.sample", "env.example"].iter().find(|n| d.join(n).exists());
            match example {
                Some(e) => format!("; there is no .env beside the compose file, but there is {e}"),
                None => "; there is no .env beside the compose file".to_owned(),
            }
        }
        _ => String::new(),
    };
    format!(
        "variable {var} is not set, so compose uses an empty string{}{env_note} (hint: set it in the environment or in .env; verdicts that read it were judged on the empty value)",
        if uses.is_empty() { String::new() } else { format!(" at {}", uses.join(", ")) }
    )
}

/// Services played by a stand-in, with why: the `x-harness-stand-in` key a compose file
/// sets on a service whose real image cannot be had here. Read from the files as written:
/// compose's resolved model drops `x-` keys inside services.
pub fn stand_ins(files: &[PathBuf]) -> BTreeMap<String, String> {
    as_written(files).stand_ins
}

/// What the compose files say as written that compose's resolved model leaves out.
#[derive(Debug, Clone, Default)]
pub struct AsWritten {
    /// Services played by a stand-in, with why ([`stand_ins`]).
    pub stand_ins: BTreeMap<String, String>,
    /// Every top-level `volumes:` key, used by a service or not.
    pub volumes: std::collections::BTreeSet<String>,
    /// Every top-level `networks:` key, used by a service or not.
    pub networks: std::collections::BTreeSet<String>,
}

/// Reads each file once for [`AsWritten`]; a file that cannot be read or parsed adds nothing
/// (compose itself has already judged the files by then).
pub fn as_written(files: &[PathBuf]) -> AsWritten {
    let mut found = AsWritten::default();
    let keys = |doc: &serde_yaml_ng::Value, section: &str| -> Vec<String> {
        let Some(map) = doc.get(section).and_then(|v| v.as_mapping()) else { return Vec::new() };
        map.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect()
    };
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else { continue };
        found.stand_ins.extend(stand_ins_in(&doc));
        found.volumes.extend(keys(&doc, "volumes"));
        found.networks.extend(keys(&doc, "networks"));
    }
    found
}

/// The stand-ins one compose document declares.
pub fn stand_ins_in(doc: &serde_yaml_ng::Value) -> BTreeMap<String, String> {
    let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) else { return BTreeMap::new() };
    services
        .iter()
        .filter_map(|(name, svc)| {
            let why = svc.get("x-harness-stand-in")?.as_str()?;
            Some((name.as_str()?.to_owned(), why.to_owned()))
        })
        .collect()
}

/// The variable a compose "is not set" warning names.
pub fn unset_variable(warning: &str) -> Option<&str> {
    let rest = warning.strip_prefix("The \"")?;
    let (name, tail) = rest.split_once('"')?;
    tail.contains("not set").then_some(name)
}

pub(crate) const COMPOSE_HINT: &str =
    "install the Compose v2 plugin; the harness does this itself through fixtures/provision.sh";

/// The parts of a resolved compose file the harness reads. `raw` keeps the whole resolved
/// document for checks that need more (secrets, environment, hardening options).
#[derive(Debug, Clone, Deserialize)]
pub struct ComposeModel {
    /// The whole resolved document, as compose printed it.
    #[serde(skip)]
    pub raw: serde_json::Value,
    /// The services, by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// The networks, by their key in the file.
    #[serde(default)]
    pub networks: BTreeMap<String, Network>,
    /// The named volumes, by their key in the file.
    #[serde(default)]
    pub volumes: BTreeMap<String, Volume>,
}

/// The parts of one resolved service the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// The image reference; `None` when the service only has a `build:`.
    pub image: Option<String>,
    /// The compose file's healthcheck; `None` leaves the image's `HEALTHCHECK` in force.
    pub healthcheck: Option<HealthcheckSpec>,
    /// The services this one waits for, by name.
    #[serde(default)]
    pub depends_on: BTreeMap<String, DependsOn>,
    /// The networks it joins, by key, with their per-service options.
    #[serde(default)]
    pub networks: BTreeMap<String, serde_json::Value>,
    /// Its published ports, in compose's long syntax.
    #[serde(default)]
    pub ports: Vec<serde_json::Value>,
    /// Its `build:` section; `None` when it only names an image.
    #[serde(default)]
    pub build: Option<serde_json::Value>,
}

/// One entry of a service's `depends_on`.
#[derive(Debug, Clone, Deserialize)]
pub struct DependsOn {
    /// What to wait for: `service_started`, `service_healthy` or `service_completed_successfully`.
    #[serde(default)]
    pub condition: String,
}

/// A service's `healthcheck:` as the compose file gives it, before defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HealthcheckSpec {
    /// The check command, e.g. `["CMD", "pg_isready"]`; `["NONE"]` turns the check off.
    #[serde(default)]
    pub test: Vec<String>,
    /// The time between checks, in compose units; `None` when unset.
    pub interval: Option<String>,
    /// How long one check may take, in compose units; `None` when unset.
    pub timeout: Option<String>,
    /// The grace period after start, in compose units; `None` when unset.
    pub start_period: Option<String>,
    /// Consecutive failures before unhealthy; `None` when unset.
    pub retries: Option<u64>,
    /// Whether the file turns the check off with `disable: true`.
    #[serde(default)]
    pub disable: bool,
}

/// One network as compose resolves it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Network {
    /// The engine-side name (`<project>_<key>` unless the file sets `name:`).
    pub name: Option<String>,
    /// Whether it is `internal` (no outside access).
    #[serde(default)]
    pub internal: bool,
    /// Whether it is `external` (created outside this project).
    #[serde(default)]
    pub external: bool,
}

/// One named volume as compose resolves it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Volume {
    /// The engine-side name (`<project>_<key>` unless the file sets `name:`).
    pub name: Option<String>,
    /// Whether it is `external` (created outside this project).
    #[serde(default)]
    pub external: bool,
}

/// How [`ComposeModel::fixed_addresses`] starts a fixed host port's line.
pub const HOST_PORT: &str = "host port ";

impl ComposeModel {
    /// Reads the output of `docker compose config --format json`.
    pub fn from_json(json: &str) -> std::result::Result<Self, serde_json::Error> {
        let raw: serde_json::Value = serde_json::from_str(json)?;
        let mut model: ComposeModel = serde_json::from_value(raw.clone())?;
        model.raw = raw;
        Ok(model)
    }

    /// The raw resolved definition of one service (`null` when absent).
    pub fn raw_service(&self, service: &str) -> &serde_json::Value {
        &self.raw["services"][service]
    }

    /// How many containers compose starts for a service: `deploy.replicas`, else `scale`,
    /// else 1 (compose's own precedence).
    pub fn replicas(&self, service: &str) -> u32 {
        let raw = self.raw_service(service);
        raw["deploy"]["replicas"]
            .as_u64()
            .or_else(|| raw["scale"].as_u64())
            .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The service names, sorted.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }

    /// A service's fixed host ports, as `host:container` (`80:80`); ephemeral ones are not
    /// fixed.
    pub fn fixed_host_ports(&self, service: &str) -> Vec<String> {
        let ports = self.raw_service(service)["ports"].as_array().map(Vec::as_slice).unwrap_or_default();
        ports
            .iter()
            .filter_map(|p| p["published"].as_str().filter(|h| !h.is_empty()).map(|h| format!("{h}:{}", p["target"])))
            .collect()
    }

    /// The name the file fixes for a network of its own: compose fills in `<project>_<key>`
    /// when the file sets none, so a name without that prefix was written by hand. External
    /// networks are someone else's and never fixed here.
    pub fn fixed_network_name(&self, key: &str) -> Option<&str> {
        if self.networks.get(key).is_none_or(|n| n.external) {
            return None;
        }
        let project = self.raw["name"].as_str().unwrap_or_default();
        self.raw["networks"][key]["name"].as_str().filter(|n| !n.starts_with(&format!("{project}_")))
    }

    /// The subnets the file fixes for a network of its own.
    pub fn fixed_subnets(&self, key: &str) -> Vec<&str> {
        if self.networks.get(key).is_none_or(|n| n.external) {
            return Vec::new();
        }
        self.raw["networks"][key]["ipam"]["config"]
            .as_array()
            .map(|c| c.iter().filter_map(|e| e["subnet"].as_str()).collect())
            .unwrap_or_default()
    }

    /// Everything a service fixes that a second run of the stack on the same engine, or a
    /// second replica of it, would collide on: its `container_name`, its fixed host ports,
    /// the fixed names and subnets of the networks it joins and the fixed addresses it takes
    /// on them. One line each, e.g. `network backend: subnet 172.20.0.0/24`.
    pub fn fixed_addresses(&self, service: &str) -> Vec<String> {
        let raw = self.raw_service(service);
        let mut out = Vec::new();
        if let Some(name) = raw["container_name"].as_str() {
            out.push(format!("container_name {name}"));
        }
        for port in self.fixed_host_ports(service) {
            out.push(format!("{HOST_PORT}{port}"));
        }
        let joined = self.services.get(service).map(|s| s.networks.iter()).into_iter().flatten();
        for (key, options) in joined {
            if let Some(name) = self.fixed_network_name(key) {
                out.push(format!("network {key}: name {name}"));
            }
            for subnet in self.fixed_subnets(key) {
                out.push(format!("network {key}: subnet {subnet}"));
            }
            for field in ["ipv4_address", "ipv6_address"] {
                if let Some(address) = options[field].as_str() {
                    out.push(format!("network {key}: {field} {address}"));
                }
            }
        }
        out
    }
}

/// Docker's default time between healthcheck runs, used when compose and the image leave
/// it unset.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// Docker's default time one healthcheck run may take, used when compose and the image
/// leave it unset.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A healthcheck's timing, resolved to durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct HealthTiming {
    /// The time between checks.
    pub interval: std::time::Duration,
    /// How long one check may take before it counts as failed.
    pub timeout: std::time::Duration,
    /// The grace period after start during which failures do not count.
    pub start_period: std::time::Duration,
    /// Consecutive failures before the container is unhealthy.
    pub retries: u64,
}

impl HealthcheckSpec {
    /// Whether this spec actually runs a check (`NONE` and `disable` turn it off).
    pub fn is_enabled(&self) -> bool {
        !self.disable && self.test.first().is_none_or(|t| t != "NONE")
    }
}

/// The healthcheck Docker actually runs for a service: compose's fields over the image's
/// `HEALTHCHECK` (`image` is the image's `Config.Healthcheck` as the Engine API gives it, or
/// null). Compose only writes what the file says, so a service whose check comes from its
/// Dockerfile, or whose file gives only `test:`, would otherwise be judged with the wrong
/// timings, or as having none. `None` when nothing runs a check.
pub fn effective_timing(compose: Option<&HealthcheckSpec>, image: &serde_json::Value) -> Result<Option<HealthTiming>> {
    if compose.is_some_and(|h| !h.is_enabled()) {
        return Ok(None);
    }
    let compose_test = compose.map(|h| h.test.as_slice()).unwrap_or_default();
    let image_test: Vec<String> = image["Test"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let test = if compose_test.is_empty() { image_test.as_slice() } else { compose_test };
    if test.is_empty() || test[0] == "NONE" {
        return Ok(None);
    }
    let nanos = |key: &str| image[key].as_i64().filter(|n| *n > 0).map(|n| std::time::Duration::from_nanos(n as u64));
    let pick = |v: Option<&Option<String>>, key: &str, d| -> Result<std::time::Duration> {
        match v.and_then(Option::as_deref) {
            Some(text) => parse_duration(text),
            None => Ok(nanos(key).unwrap_or(d)),
        }
    };
    Ok(Some(HealthTiming {
        interval: pick(compose.map(|h| &h.interval), "Interval", DEFAULT_INTERVAL)?,
        timeout: pick(compose.map(|h| &h.timeout), "Timeout", DEFAULT_TIMEOUT)?,
        start_period: pick(compose.map(|h| &h.start_period), "StartPeriod", std::time::Duration::ZERO)?,
        retries: compose.and_then(|h| h.retries).or_else(|| image["Retries"].as_u64().filter(|r| *r > 0)).unwrap_or(3),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn compose_warnings_are_read_from_its_log_lines() {
        let stderr = "time=\"2026-12-02T00:58:15Z\" level=warning msg=\"The \\\"TAG\\\" variable is not set. Defaulting to a blank string.\"\n\
                      time=\"2026-12-02T00:58:15Z\" level=warning msg=\"The \\\"TAG\\\" variable is not set. Defaulting to a blank string.\"\n\
                      some other line\n";
        let w = warnings(stderr);
        assert_eq!(w, ["The \"TAG\" variable is not set. Defaulting to a blank string."], "one per message");
        assert_eq!(unset_variable(&w[0]), Some("TAG"));
        assert_eq!(unset_variable("`version` is obsolete"), None);
    }

    #[test]
    fn an_unset_variable_is_named_with_the_lines_that_use_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, "services:\n  a:\n    image: x:${TAG}\n    environment: [\"T=$TAG\"]\n").expect("write");
        std::fs::write(dir.path().join(".env.example"), "TAG=1\n").expect("write");
        let text = describe_warning("The \"TAG\" variable is not set. Defaulting to a blank string.", &[file]);
        assert!(text.starts_with("variable TAG is not set, so compose uses an empty string at "), "{text}");
        assert!(text.contains("compose.yaml:3, ") && text.contains("compose.yaml:4"), "{text}");
        assert!(text.contains("no .env beside the compose file, but there is .env.example"), "{text}");
    }

    #[test]
    fn a_stack_file_layers_compose_files_and_names_the_policy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixed = dir.path().join("fixed");
        std::fs::create_dir(&fixed).expect("mkdir");
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").expect("write");
        std::fs::write(fixed.join("compose.yaml"), "services: {}\n").expect("write");
        std::fs::write(
            fixed.join(STACK_FILE),
            "compose = [\"../compose.yaml\", \"compose.yaml\"]\npolicy = \"../acceptance.toml\"\n",
        )
        .expect("write");
        let l = layout(&fixed).expect("layout");
        assert_eq!(l.dir, fixed);
        assert_eq!(l.files, [fixed.join("../compose.yaml"), fixed.join("compose.yaml")]);
        assert_eq!(l.policy, fixed.join("../acceptance.toml"));
        // Without a stack file: the directory's own compose file and policy.
        let plain = layout(dir.path()).expect("layout");
        assert_eq!(plain.files, [dir.path().join("compose.yaml")]);
        assert_eq!(plain.policy, dir.path().join("acceptance.toml"));
    }

    #[test]
    fn a_stack_file_naming_a_missing_file_or_an_unknown_key_is_an_error_with_the_form() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("compose = [\"nope.yaml\"]\n", "nope.yaml does not exist"),
            ("compose = []\n", "lists no files"),
            ("files = [\"compose.yaml\"]\n", "unknown field `files`"),
        ];
        for (text, expect) in cases {
            std::fs::write(dir.path().join(STACK_FILE), text).expect("write");
            let err = layout(dir.path()).expect_err(text).to_string();
            assert!(err.contains(expect) && err.contains("hint: it takes `compose = ["), "{text}: {err}");
        }
    }

    const RESOLVED: &str = r#"{
      "name": "x",
      "services": {
        "api": {
          "image": "harness/app:1",
          "healthcheck": {"test": ["CMD", "/app", "healthcheck"], "interval": "1s", "timeout": "3s", "retries": 30, "start_period": "1m0s"},
          "depends_on": {"postgres": {"condition": "service_healthy", "required": true}},
          "networks": {"data": null},
          "ports": []
        },
        "postgres": {"image": "harness/postgres:15", "healthcheck": {"test": ["NONE"]}}
      },
      "networks": {"data": {"name": "x_data", "internal": true}},
      "volumes": {"pgdata": {"name": "x_pgdata"}}
    }"#;

    #[test]
    fn reads_resolved_compose_json() {
        let m = ComposeModel::from_json(RESOLVED).expect("parses");
        assert_eq!(m.service_names(), ["api", "postgres"]);
        let api = &m.services["api"];
        assert_eq!(api.depends_on["postgres"].condition, "service_healthy");
        assert!(m.networks["data"].internal);
        let t =
            effective_timing(api.healthcheck.as_ref(), &serde_json::Value::Null).expect("valid").expect("a check runs");
        assert_eq!(
            t,
            HealthTiming {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(3),
                start_period: Duration::from_secs(60),
                retries: 30
            }
        );
        assert!(!m.services["postgres"].healthcheck.as_ref().expect("present").is_enabled());
    }

    #[test]
    fn image_healthchecks_fill_what_compose_leaves_out() {
        let image = serde_json::json!({"Test": ["CMD-SHELL", "curl -f localhost/health"],
            "Interval": 10_000_000_000_i64, "Timeout": 5_000_000_000_i64, "Retries": 5});
        // Only in the Dockerfile: the image's timings.
        let t = effective_timing(None, &image).expect("valid").expect("a check runs");
        assert_eq!((t.interval, t.timeout, t.retries), (Duration::from_secs(10), Duration::from_secs(5), 5));
        // Compose's `test:` alone keeps the image's timings; its own fields win.
        let spec = HealthcheckSpec {
            test: vec!["CMD".into(), "true".into()],
            interval: Some("2s".into()),
            ..Default::default()
        };
        let t = effective_timing(Some(&spec), &image).expect("valid").expect("a check runs");
        assert_eq!((t.interval, t.timeout), (Duration::from_secs(2), Duration::from_secs(5)));
        // Disabled in compose, or no test anywhere: nothing runs.
        let off = HealthcheckSpec { disable: true, ..Default::default() };
        assert_eq!(effective_timing(Some(&off), &image).expect("valid"), None);
        assert_eq!(effective_timing(None, &serde_json::Value::Null).expect("valid"), None);
        let none = serde_json::json!({"Test": ["NONE"]});
        assert_eq!(effective_timing(None, &none).expect("valid"), None);
    }

    #[test]
    fn timing_defaults_follow_docker() {
        let only_test = HealthcheckSpec { test: vec!["CMD".into(), "true".into()], ..Default::default() };
        let t = effective_timing(Some(&only_test), &serde_json::Value::Null).expect("valid").expect("a check runs");
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.retries, 3);
    }

    #[test]
    fn locate_reports_where_it_looked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = locate(dir.path()).expect_err("empty dir").to_string();
        assert!(err.contains("no compose file in"), "{err}");
        assert!(err.contains("compose.yaml, compose.yml"), "{err}");
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").expect("write");
        assert_eq!(locate(dir.path()).expect("found"), dir.path().join("docker-compose.yml"));
    }

    #[test]
    fn invalid_yaml_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, "services:\n  api:\n    image: [unclosed\n").expect("write");
        let err = validate_yaml(&path).expect_err("invalid").to_string();
        assert!(err.contains("compose.yaml is not valid YAML at line"), "{err}");
        assert!(!err.contains(" at line 4 column"), "position is not repeated: {err}");
    }
}
