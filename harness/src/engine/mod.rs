//! The engine layer: everything that talks to Docker and nothing that judges. Connecting
//! (with API version negotiation), the Compose CLI and its resolved model, ownership labels,
//! teardown and the reaper, image recipes and builds, host tools, and the one runner for
//! the harness's own helper containers. Nothing here knows about boots, policies or
//! verdicts.
//!
//! The Engine API connection.
//!
//! bollard speaks a newer API than Debian's Engine 20.10 (API 1.41) accepts, so every
//! connection negotiates the version first; a ping proves the engine is there before any
//! work starts, so "no daemon" is one clear error instead of a failure deep in a boot.

pub mod compose;
pub mod dockerfile;
pub(crate) mod helper;
pub mod images;
pub mod labels;
pub mod provision;
pub mod swarm;
pub mod teardown;

use bollard::Docker;

use crate::errors::{Error, Result, engine_endpoint};

/// Connects to the engine named by `DOCKER_HOST` (or the local socket) and checks it answers.
pub async fn connect() -> Result<Docker> {
    connect_at(&engine_endpoint()).await
}

/// Connects to the engine at a `unix://` socket path and checks it answers.
pub async fn connect_at(endpoint: &str) -> Result<Docker> {
    let unreachable = |source| Error::EngineUnreachable { endpoint: endpoint.to_owned(), source };
    let socket = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    let docker = if std::env::var_os("DOCKER_HOST").is_some() && endpoint == engine_endpoint() {
        Docker::connect_with_defaults()
    } else {
        Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)
    }
    .map_err(unreachable)?;
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    docker.ping().await.map_err(unreachable)?;
    Ok(docker)
}

/// Engine and API version, for reports and `doctor`.
pub async fn version(docker: &Docker) -> Result<(String, String)> {
    let v = docker.version().await.map_err(|e| Error::engine("version", "the engine", e))?;
    Ok((v.version.unwrap_or_default(), v.api_version.unwrap_or_default()))
}
