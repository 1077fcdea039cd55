//! Host tools: the Compose v2 plugin and mmdebstrap.
//!
//! A fresh machine of this project's kind has Compose v1 only and no mmdebstrap, and the
//! README's commands must work there with nothing run first. So the first boot or image
//! build of a process checks for both and, if one is missing, runs
//! `fixtures/provision.sh`, which installs it from Debian's packages. The check is cheap
//! and runs once per process; the script itself holds a lock against concurrent runs.

use std::process::Stdio;

use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::errors::{Error, Result, tail_lines};
use crate::workspace;

/// Which tools a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Booting stacks: `docker compose` v2.
    Compose,
    /// Building images from recipes: Compose v2 and mmdebstrap.
    ImageBuilds,
}

/// Makes sure the tools for `need` are installed, installing them if not.
pub async fn ensure(need: Need) -> Result<()> {
    static COMPOSE: OnceCell<()> = OnceCell::const_new();
    static BUILDS: OnceCell<()> = OnceCell::const_new();
    let cell = match need {
        Need::Compose => &COMPOSE,
        Need::ImageBuilds => &BUILDS,
    };
    cell.get_or_try_init(|| async move {
        if missing(need).await.is_empty() {
            return Ok(());
        }
        run_script(&[], "missing host tools").await?;
        let still = missing(need).await;
        if still.is_empty() {
            Ok(())
        } else {
            Err(Error::Provision {
                detail: format!("{} still missing after fixtures/provision.sh", still.join(" and ")),
                hint: "install them by hand: mmdebstrap from Debian, the docker compose v2 plugin into /usr/local/lib/docker/cli-plugins".into(),
            })
        }
    })
    .await
    .copied()
}

/// The tools `need` requires that are not installed now.
pub async fn missing(need: Need) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !compose_v2().await {
        out.push("docker compose v2");
    }
    if need == Need::ImageBuilds && !succeeds("mmdebstrap", &["--version"]).await {
        out.push("mmdebstrap");
    }
    out
}

async fn compose_v2() -> bool {
    let Ok(out) = Command::new("docker").args(["compose", "version", "--short"]).stdin(Stdio::null()).output().await
    else {
        return false;
    };
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim_start_matches('v').starts_with('2')
}

async fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// The provisioning script, absolute, so a fix that names it can be pasted anywhere.
pub fn script() -> std::path::PathBuf {
    workspace::root().join("fixtures/provision.sh")
}

/// Runs `fixtures/provision.sh` with `args` (none: the host tools; `chromium`: the
/// screenshot browser), saying first what it installs and why.
pub async fn run_script(args: &[&str], what: &str) -> Result<()> {
    let script = script();
    let shown = std::iter::once(script.display().to_string())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::info!(script = %shown, "installing {what}");
    crate::progress::note(format!("installing {what} with {shown} (once per machine)"));
    let out =
        Command::new("bash").arg(&script).args(args).stdin(Stdio::null()).output().await.map_err(|e| Error::Spawn {
            program: "bash".into(),
            hint: "bash must be on PATH".into(),
            source: e,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Provision {
        detail: format!("{shown} failed: {}", tail_lines(&String::from_utf8_lossy(&out.stderr), 3)),
        hint: "run it by hand as root to see the whole output".into(),
    })
}
