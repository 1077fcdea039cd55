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
    pub project: String,
    pub files: Vec<PathBuf>,
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

    /// The stack as compose resolves it.
    pub async fn model(&self) -> Result<ComposeModel> {
        let json = self.run(&["config", "--format", "json"]).await?;
        ComposeModel::from_json(&json).map_err(|e| Error::ComposeCommand {
            project: self.project.clone(),
            args: "config --format json".into(),
            code: "0".into(),
            stderr_tail: format!("unexpected output: {e}"),
        })
    }
}

pub(crate) const COMPOSE_HINT: &str =
    "install the Compose v2 plugin; the harness does this itself through fixtures/provision.sh";

/// The parts of a resolved compose file the harness reads. `raw` keeps the whole resolved
/// document for checks that need more (secrets, environment, hardening options).
#[derive(Debug, Clone, Deserialize)]
pub struct ComposeModel {
    #[serde(skip)]
    pub raw: serde_json::Value,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub networks: BTreeMap<String, Network>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Volume>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub image: Option<String>,
    pub healthcheck: Option<HealthcheckSpec>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default)]
    pub networks: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub ports: Vec<serde_json::Value>,
    #[serde(default)]
    pub build: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DependsOn {
    #[serde(default)]
    pub condition: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HealthcheckSpec {
    #[serde(default)]
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<u64>,
    #[serde(default)]
    pub disable: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Network {
    /// The engine-side name (`<project>_<key>` unless the file sets `name:`).
    pub name: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub external: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Volume {
    /// The engine-side name (`<project>_<key>` unless the file sets `name:`).
    pub name: Option<String>,
    #[serde(default)]
    pub external: bool,
}

impl ComposeModel {
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

    pub fn service_names(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }
}

/// Docker's healthcheck timing defaults, used when compose and the image leave them unset.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A healthcheck's timing, resolved to durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct HealthTiming {
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub start_period: std::time::Duration,
    pub retries: u64,
}

impl HealthcheckSpec {
    /// Whether this spec actually runs a check (`NONE` and `disable` turn it off).
    pub fn is_enabled(&self) -> bool {
        !self.disable && self.test.first().is_none_or(|t| t != "NONE")
    }

    pub fn timing(&self) -> Result<HealthTiming> {
        let or = |v: &Option<String>, d| v.as_deref().map(parse_duration).transpose().map(|x| x.unwrap_or(d));
        Ok(HealthTiming {
            interval: or(&self.interval, DEFAULT_INTERVAL)?,
            timeout: or(&self.timeout, DEFAULT_TIMEOUT)?,
            start_period: or(&self.start_period, std::time::Duration::ZERO)?,
            retries: self.retries.unwrap_or(3),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
        let t = api.healthcheck.as_ref().expect("has healthcheck").timing().expect("timing");
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
    fn timing_defaults_follow_docker() {
        let t = HealthcheckSpec::default().timing().expect("defaults");
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
