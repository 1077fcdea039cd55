//! How load reaches a stack's gateway. Where the gateway publishes its port, load goes to
//! that port on 127.0.0.1. Where it publishes none (a gateway behind another proxy, or a
//! stack that only a front end outside it would publish), the harness starts a forwarder
//! inside the stack: the probe image, on a network the run created that the gateway is on,
//! relaying connections from a port published on 127.0.0.1 to the gateway by its service
//! name. The load generator, its bounds and its loopback-only target rule stay as they are;
//! the forwarder adds one hop of a relay in the same kernel, which the evidence says.
//!
//! The forwarder only ever connects to the gateway's name on a network of this run, so no
//! request leaves the stack; it stops by itself after [`LIFETIME`], and is labelled like every
//! helper, so a run that ends without removing it still has it removed with the stack.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::engine::helper::{self, HelperRun, Running};
use crate::engine::images::PROBE_IMAGE;
use crate::errors::chain;
use crate::judge::Context;
use crate::judge::network::NOBODY;

/// The forwarder's own port inside its container.
const LISTEN: u16 = 8080;
/// The longest one step's load may need its forwarder: the change checks take minutes.
const LIFETIME: Duration = Duration::from_secs(1800);
/// How long the forwarder may take to start listening.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Where load goes, and what keeps that way open.
pub(crate) struct WayIn {
    /// A loopback address: the gateway's published port, or the forwarder's.
    pub(crate) base: SocketAddr,
    /// How the load gets in when it is not the published port: said in the evidence.
    pub(crate) via: Option<String>,
    forwarder: Option<Running>,
}

impl WayIn {
    /// `url`, with how it reaches the gateway when that is through a forwarder.
    pub(crate) fn describe(&self, url: &str) -> String {
        match &self.via {
            Some(via) => format!("{url} ({via})"),
            None => url.to_owned(),
        }
    }

    /// Removes the forwarder, if there is one.
    pub(crate) async fn close(self) {
        if let Some(f) = self.forwarder {
            f.remove().await;
        }
    }
}

/// The way in to `service`'s container port `port`: published, or forwarded. `Err` says why
/// there is none, naming the service (the criteria that need it are then not judged).
pub(crate) async fn way_in(cx: &Context<'_>, service: &str, port: u16) -> Result<WayIn, String> {
    let published = match cx.stack.host_port(service, port).await {
        Ok(base) => return Ok(WayIn { base, via: None, forwarder: None }),
        Err(e) => chain(&e),
    };
    forwarder(cx, service, port).await.map_err(|why| {
        format!(
            "`{service}` has no way in: its port {port} is not published on 127.0.0.1 ({published}), and no forwarder could reach it inside the stack: {why} (hint: publish the port, or put `{service}` on a network of the stack)"
        )
    })
}

/// Starts a forwarder to `service:port` on a network the run created, and waits until it
/// listens.
async fn forwarder(cx: &Context<'_>, service: &str, port: u16) -> Result<WayIn, String> {
    let docker = cx.stack.docker();
    let project = cx.stack.project_name();
    let network = own_network(cx, service).await?;
    let req = HelperRun::new("forwarder", service, PROBE_IMAGE)
        .command([
            "forward".to_owned(),
            "--listen".to_owned(),
            LISTEN.to_string(),
            "--to".to_owned(),
            format!("{service}:{port}"),
            "--for".to_owned(),
            LIFETIME.as_secs().to_string(),
        ])
        .user(NOBODY)
        .network(&network)
        .publish(&format!("{LISTEN}/tcp"), &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let running = helper::start(docker, project, req).await.map_err(|e| chain(&e))?;
    let ready = match listening(cx, &running.id).await {
        Ok(()) => running.published_ports(&format!("{LISTEN}/tcp")).await,
        Err(why) => Err(why),
    };
    // `published_ports` returns at least one binding, or an error.
    match ready.map(|ports| ports.into_values().next().unwrap_or_default()) {
        Ok(host_port) => {
            crate::progress::note(format!(
                "no published port for `{service}`: load goes through a forwarder on network {network} (127.0.0.1:{host_port} -> {service}:{port})"
            ));
            Ok(WayIn {
                base: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), host_port),
                via: Some(format!("a forwarder on network {network} to {service}:{port}, one relay hop added")),
                forwarder: Some(running),
            })
        }
        Err(why) => {
            running.remove().await;
            Err(why)
        }
    }
}

/// The first network of `service`'s container that this run's compose project created and
/// that is not internal: an external network is someone else's, never joined, and Docker
/// publishes no port of a container whose networks are all internal.
async fn own_network(cx: &Context<'_>, service: &str) -> Result<String, String> {
    let docker = cx.stack.docker();
    let id = cx.stack.container_id(service).await.map_err(|e| chain(&e))?;
    let inspect = docker.inspect_container(&id, None).await.map_err(|e| format!("cannot inspect `{service}`: {e}"))?;
    let mut names: Vec<String> =
        inspect.network_settings.and_then(|n| n.networks).map(|n| n.into_keys().collect()).unwrap_or_default();
    names.sort();
    let mut internal = Vec::new();
    for name in &names {
        let Ok(net) = docker.inspect_network(name, None).await else { continue };
        let labels = net.labels.unwrap_or_default();
        if labels.get("com.docker.compose.project").map(String::as_str) != Some(cx.stack.project_name()) {
            continue;
        }
        if net.internal == Some(true) {
            internal.push(name.clone());
            continue;
        }
        return Ok(name.clone());
    }
    Err(if internal.is_empty() {
        format!(
            "`{service}` is on no network this run created (on: {})",
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )
    } else {
        format!(
            "`{service}` is only on internal networks this run created ({}), from which Docker publishes no port",
            internal.join(", ")
        )
    })
}

/// Waits until the forwarder says it listens.
async fn listening(cx: &Context<'_>, id: &str) -> Result<(), String> {
    use futures_util::StreamExt as _;
    let docker = cx.stack.docker();
    let started = Instant::now();
    loop {
        let options = bollard::query_parameters::LogsOptionsBuilder::default().stdout(true).stderr(true).build();
        let mut logs = docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
        if text.contains("\"listening\"") {
            return Ok(());
        }
        let running = docker
            .inspect_container(id, None)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return Err(format!("the forwarder exited: {}", text.trim()));
        }
        if started.elapsed() > READY_WITHIN {
            return Err(format!("the forwarder did not listen within {}s", READY_WITHIN.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
