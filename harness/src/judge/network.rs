//! Network checks: which service ports each compose network reaches, and whether an
//! `internal: true` network has a way out.
//!
//! One probe container (`harness/probe`) per network runs every connect of that network in
//! one batch (`probe tcp`), in parallel inside the container: N networks cost N containers,
//! not one per pair. Each batch holds, for every service port:
//!
//! - the port at **every address the service has, on any network** (`10.0.2.3:5432`): IP
//!   level reachability, the real isolation. Addresses on other networks must not connect;
//! - the port **by service name**, only for services attached to the probed network: that
//!   is discovery through Docker's DNS. Names of services *not* on the network are never
//!   looked up: Docker's resolver forwards names it does not know to the host's upstream
//!   DNS servers, which would send packets off this machine;
//! - two egress targets at the network's gateway address (see below).
//!
//! # Egress, and why the target is a forwarded port
//!
//! Traffic may only go to this machine, so "no way out" is shown with in-machine targets.
//! Measured on Engine 20.10 (iptables): a container on an `internal: true` network still
//! reaches **the host's own addresses** (its gateway, other bridges' gateways, docker0):
//! those packets go to the host's INPUT chain, which `internal` does not filter. What
//! `internal` removes is *forwarding* off the network (`-i br-X ! -d SUBNET -j DROP`) and
//! NAT. So the judged target is a port the harness publishes, bound to the network's
//! gateway address, on a container of the default bridge: reaching it needs the engine to
//! rewrite the destination to another network (DNAT) and forward the packet. From an
//! internal network that packet is dropped (timeout); from a normal network the engine's
//! port proxy answers (connected). The same batch also tries a listener the harness opens
//! on the host at the gateway address; that result is reported, not judged.
//!
//! Pure functions ([`parse_lines`], [`plan`], [`reach_verdict`], [`egress_verdict`],
//! [`judge`]) turn probe output and the policy into verdicts and are tested without Docker.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::helper::{self, HelperRun, Running};
use crate::engine::labels;
use crate::errors::{Error, Result, chain};
use crate::judge::Context;
use crate::judge::config;
use crate::judge::criteria::Criterion;
use crate::judge::facts::ServiceFacts;
use crate::judge::verdict::{Outcome, Verdict};
use crate::policy::{NetworkPolicy, Policy, Target};
use crate::units::secs;

/// The probe image, made ready with the stack's images when it is prepared.
pub use crate::engine::images::PROBE_IMAGE;
/// Per-connect timeout inside the probe. Same-host connects answer in about a millisecond;
/// a dropped packet is what the timeout measures, so longer only slows every check.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// A probe container that has not exited by then is stuck (the probe itself gives up
/// after twice the connect timeout).
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// The container port the egress sink publishes. Nothing listens on it: the engine's port
/// proxy accepts the connection before it tries the container, which is all we measure.
const SINK_PORT: &str = "9/tcp";
/// The probe needs no privileges at all: it runs as nobody.
pub(crate) const NOBODY: &str = "65534:65534";

/// One JSON line of `probe tcp` (see `fixtures/probe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProbeLine {
    /// The target as given to the probe, `host:port` or `service:port`.
    pub target: String,
    /// Whether the host part resolved to an address.
    pub resolved: bool,
    /// Whether a TCP connection was established.
    pub connected: bool,
    /// How long the attempt took, in milliseconds.
    pub ms: u64,
    /// Why it did not connect, e.g. `connection refused`; `None` when it did.
    pub error: Option<String>,
    /// The address connected to, or the last one tried; `None` when nothing resolved.
    pub addr: Option<String>,
}

/// Reads the probe's stdout: one JSON object per line, blank lines ignored.
pub fn parse_lines(output: &str) -> std::result::Result<Vec<ProbeLine>, String> {
    output
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l.trim()).map_err(|e| {
                let shown: String = l.chars().take(120).collect();
                format!("line {} of the probe's output is not a result (`{shown}`): {e}", i + 1)
            })
        })
        .collect()
}

/// What one connect attempt showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A TCP connection was established.
    Connected,
    /// Something answered with a reset: the packet got there, nothing listens.
    Refused,
    /// No answer at all: dropped on the way.
    Timeout,
    /// No route, or the host said so (ICMP).
    Unreachable(String),
    /// The name did not resolve.
    Unresolved(String),
    /// Any other failure, with the probe's error.
    Failed(String),
    /// The probe's output had no line for this target.
    Missing,
}

impl Observed {
    /// Classifies the probe's line for a target; `None` means the output had no line for it.
    pub fn of(line: Option<&ProbeLine>) -> Observed {
        let Some(l) = line else { return Observed::Missing };
        if l.connected {
            return Observed::Connected;
        }
        let error = l.error.clone().unwrap_or_default();
        if !l.resolved {
            return Observed::Unresolved(error);
        }
        match error.as_str() {
            "connection refused" => Observed::Refused,
            "timed out" => Observed::Timeout,
            "host unreachable" | "network unreachable" => Observed::Unreachable(error),
            _ => Observed::Failed(error),
        }
    }

    /// Whether the attempt connected.
    pub fn connected(&self) -> bool {
        *self == Observed::Connected
    }
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::Connected => f.write_str("connected"),
            Observed::Refused => f.write_str("refused"),
            Observed::Timeout => f.write_str("timeout"),
            Observed::Unreachable(e) => write!(f, "unreachable ({e})"),
            Observed::Unresolved(e) if e.is_empty() => f.write_str("unresolved"),
            Observed::Unresolved(e) => write!(f, "unresolved ({e})"),
            Observed::Failed(e) => write!(f, "error ({e})"),
            Observed::Missing => f.write_str("no result"),
        }
    }
}

/// A compose network as the harness found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The compose key (`backend`), which the policy uses.
    pub key: String,
    /// The engine's name (`<project>_backend`).
    pub engine_name: String,
    /// `Internal` from `docker network inspect`.
    pub internal: bool,
    /// The bridge's address on this network: the host, as the network's containers see it.
    pub gateway: Option<IpAddr>,
    /// Services the compose file attaches to it.
    pub members: Vec<String>,
}

/// Where one service can be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddrs {
    /// The compose service.
    pub service: String,
    /// (network key, address), one per container per network.
    pub addresses: Vec<(String, IpAddr)>,
    /// Container ports to probe: declared anywhere (policy, compose, image).
    pub ports: BTreeSet<u16>,
}

/// Why a target is in a network's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The target's address on network `via`.
    Address {
        /// The service port.
        target: Target,
        /// The key of the network whose address is used.
        via: String,
    },
    /// The target by service name, through Docker's DNS.
    Name {
        /// The service port.
        target: Target,
    },
    /// A listener the harness opened on the host, at this network's gateway address.
    Host,
    /// A port published at this network's gateway address by a container on another
    /// network: reaching it needs forwarding off the network.
    Forwarded,
}

/// One target of a batch: what the probe is given, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// What the probe is given: `ip:port` or `service:port`.
    pub wire: String,
    /// Why the target is in the batch.
    pub purpose: Purpose,
}

/// The batch for one network: every service port at every address, by name where the
/// service is on this network, and the egress targets when there are ports for them.
pub fn plan(
    info: &NetworkInfo,
    services: &[ServiceAddrs],
    host_port: Option<u16>,
    sink_port: Option<u16>,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for s in services {
        let on_network = s.addresses.iter().any(|(net, _)| *net == info.key);
        for &port in &s.ports {
            let target = Target { service: s.service.clone(), port };
            for (via, ip) in &s.addresses {
                out.push(Planned {
                    wire: SocketAddr::new(*ip, port).to_string(),
                    purpose: Purpose::Address { target: target.clone(), via: via.clone() },
                });
            }
            if on_network {
                out.push(Planned { wire: target.to_string(), purpose: Purpose::Name { target } });
            }
        }
    }
    if let Some(gw) = info.gateway {
        if let Some(p) = host_port {
            out.push(Planned { wire: SocketAddr::new(gw, p).to_string(), purpose: Purpose::Host });
        }
        if let Some(p) = sink_port {
            out.push(Planned { wire: SocketAddr::new(gw, p).to_string(), purpose: Purpose::Forwarded });
        }
    }
    out
}

/// One network's probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkProbe {
    /// The network probed.
    pub info: NetworkInfo,
    /// The targets the probe was given, in order.
    pub planned: Vec<Planned>,
    /// The parsed output, or why there is none (the probe failed to run or to parse).
    pub lines: std::result::Result<Vec<ProbeLine>, String>,
    /// Create to remove of the probe container.
    pub took: Duration,
    /// Peers the host listener accepted from (only this network's probe targets it).
    pub host_accepted: Vec<IpAddr>,
}

impl NetworkProbe {
    fn line(&self, wire: &str) -> Option<&ProbeLine> {
        self.lines.as_ref().ok()?.iter().find(|l| l.target == wire)
    }

    /// The first planned target with this purpose, and what it showed.
    pub fn observed(&self, purpose: &Purpose) -> Option<(&Planned, Observed, Option<&ProbeLine>)> {
        let p = self.planned.iter().find(|p| p.purpose == *purpose)?;
        let line = self.line(&p.wire);
        Some((p, Observed::of(line), line))
    }

    /// Every service port of the batch (and of `extra`), with its attempts.
    fn cells(&self, extra: &[Target]) -> BTreeMap<Target, Cell<'_>> {
        let mut cells: BTreeMap<Target, Cell<'_>> = BTreeMap::new();
        for t in extra {
            cells.entry(t.clone()).or_default();
        }
        for p in &self.planned {
            let line = self.line(&p.wire);
            match &p.purpose {
                Purpose::Address { target, via } => {
                    cells.entry(target.clone()).or_default().addresses.push((p, via, Observed::of(line), line));
                }
                Purpose::Name { target } => {
                    cells.entry(target.clone()).or_default().name = Some((Observed::of(line), line));
                }
                Purpose::Host | Purpose::Forwarded => {}
            }
        }
        cells
    }

    /// The targets that connected, by address or by name.
    pub fn reachable(&self) -> BTreeSet<Target> {
        self.cells(&[]).into_iter().filter(|(_, c)| c.connected()).map(|(t, _)| t).collect()
    }
}

/// One service port as seen from one network.
#[derive(Debug, Default)]
struct Cell<'a> {
    addresses: Vec<(&'a Planned, &'a String, Observed, Option<&'a ProbeLine>)>,
    name: Option<(Observed, Option<&'a ProbeLine>)>,
}

impl Cell<'_> {
    fn connected(&self) -> bool {
        self.addresses.iter().any(|(_, _, o, _)| o.connected())
            || self.name.as_ref().is_some_and(|(o, _)| o.connected())
    }

    /// `connected via 10.0.2.3:8080 (backend) in 1 ms, by name connected`.
    fn describe(&self) -> String {
        let ms = |l: Option<&ProbeLine>| l.map_or_else(String::new, |l| format!(" in {} ms", l.ms));
        let mut text = match self.addresses.iter().find(|(_, _, o, _)| o.connected()) {
            Some((p, via, o, l)) => format!("{o} via {} ({via}){}", p.wire, ms(*l)),
            None if self.addresses.is_empty() => "no address (no running container)".to_owned(),
            None => self
                .addresses
                .iter()
                .map(|(p, via, o, l)| format!("{o} via {} ({via}){}", p.wire, ms(*l)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if let Some((o, l)) = &self.name {
            let to = l.and_then(|l| l.addr.as_deref()).map(|a| format!(" to {a}")).unwrap_or_default();
            text.push_str(&format!(", by name {o}{to}"));
        }
        text
    }
}

/// Everything the network checks measured, for the verdicts here and for discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// One probe run per network the harness probed.
    pub networks: Vec<NetworkProbe>,
    /// Networks not probed, with the reason (external networks: not the harness's).
    pub unprobed: Vec<(String, String)>,
    /// Where each service can be found.
    pub services: Vec<ServiceAddrs>,
    /// Why there is no forwarded egress target, when there is none.
    pub sink_error: Option<String>,
}

impl Matrix {
    /// The probe run of network `key` (its compose key); `None` when it was not probed.
    pub fn network(&self, key: &str) -> Option<&NetworkProbe> {
        self.networks.iter().find(|n| n.info.key == key)
    }

    /// The addresses `service` has on network `key`.
    pub fn addresses(&self, service: &str, key: &str) -> Vec<IpAddr> {
        self.services
            .iter()
            .filter(|s| s.service == service)
            .flat_map(|s| s.addresses.iter().filter(|(n, _)| n == key).map(|(_, ip)| *ip))
            .collect()
    }
}

fn list(targets: &BTreeSet<Target>) -> String {
    if targets.is_empty() {
        "nothing".to_owned()
    } else {
        targets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The probe run in one line: where, what kind of network, how many targets, how long.
fn run_summary(p: &NetworkProbe) -> String {
    format!(
        "probe container on {} (Internal: {}, gateway {}, members: {}): {} target(s) in {}",
        p.info.engine_name,
        p.info.internal,
        p.info.gateway.map_or_else(|| "none".to_owned(), |g| g.to_string()),
        if p.info.members.is_empty() { "none".to_owned() } else { p.info.members.join(", ") },
        p.planned.len(),
        secs(p.took)
    )
}

/// `network.reach` for one network: exactly the policy's targets connect from it.
///
/// A network without a `[networks.X]` entry is not judged, and says so as a failure: a
/// go/no-go that silently skipped a network would hide whatever that network exposes. Its
/// evidence lists what was reachable, ready to paste into the policy.
pub fn reach_verdict(p: &NetworkProbe, expected: Option<&NetworkPolicy>) -> Verdict {
    let key = &p.info.key;
    let mut v = Verdict {
        criterion: Criterion::NetworkReach,
        subject: key.clone(),
        measured: String::new(),
        budget: String::new(),
        outcome: Outcome::judged(false),
        evidence: run_summary(p),
        hint: None,
    };
    if let Err(e) = &p.lines {
        v.budget = expected.map_or_else(|| "not judged".to_owned(), |e| format!("exactly {}", list(&set(e))));
        return probe_failed(
            v,
            e,
            "the probe container did not produce results: see the error; `harness images --all` rebuilds the probe image",
        );
    }
    let reachable = p.reachable();
    v.measured = format!("reaches {}", list(&reachable));
    let Some(expected) = expected else {
        let cells = p.cells(&[]);
        v.budget = format!("not judged: no [networks.{key}] in the policy");
        v.evidence.push_str("; matrix: ");
        v.evidence
            .push_str(&cells.iter().map(|(t, c)| format!("{t}: {}", c.describe())).collect::<Vec<_>>().join("; "));
        let quoted: Vec<String> = reachable.iter().map(|t| format!("\"{t}\"")).collect();
        v.hint = Some(format!("add [networks.{key}] to acceptance.toml, e.g. reach = [{}]", quoted.join(", ")));
        return v;
    };
    let expected = set(expected);
    v.budget = format!("exactly {}", list(&expected));
    let cells = p.cells(&expected.iter().cloned().collect::<Vec<_>>());
    let mut problems = Vec::new();
    let mut hints = Vec::new();
    for t in reachable.difference(&expected) {
        let others: Vec<String> = p.info.members.iter().filter(|m| **m != t.service).cloned().collect();
        let who = if others.is_empty() { "a container".to_owned() } else { and_list(&others) };
        problems.push(format!("{who} can reach {t} from network {key}, the policy does not allow it"));
        hints.push(format!(
            "take {} off network {key}, or add \"{t}\" to [networks.{key}] reach if it is meant",
            t.service
        ));
    }
    for t in expected.difference(&reachable) {
        let seen = cells.get(t).map_or_else(|| "not probed".to_owned(), Cell::describe);
        problems.push(format!("{t} is not reachable from network {key} ({seen}), the policy expects it"));
        hints.push(format!("attach {} to network {key} and check that it listens on port {}", t.service, t.port));
    }
    v.outcome = Outcome::judged(problems.is_empty());
    if !problems.is_empty() {
        v.evidence.push_str("; ");
        v.evidence.push_str(&problems.join("; "));
    }
    v.evidence.push_str("; matrix: ");
    let matrix: Vec<String> = cells
        .iter()
        .map(|(t, c)| format!("{} {t}: {}", if expected.contains(t) { "allow" } else { "deny" }, c.describe()))
        .collect();
    v.evidence.push_str(&matrix.join("; "));
    v.hint = (!hints.is_empty()).then(|| hints.join("; "));
    v
}

fn set(p: &NetworkPolicy) -> BTreeSet<Target> {
    p.reach.iter().cloned().collect()
}

/// A network's verdict when its probe produced no results: the error is the evidence.
fn probe_failed(mut v: Verdict, error: &str, hint: &str) -> Verdict {
    v.measured = "probe failed".into();
    v.evidence.push_str(&format!("; {error}"));
    v.hint = Some(hint.to_owned());
    v
}

/// `network.egress` for one network: traffic that needs forwarding off the network does
/// not get out. `control` is a non-internal network's probe of the same kind of target,
/// which must connect, or the check could not tell the two apart on this host.
pub fn egress_verdict(p: &NetworkProbe, control: Option<&NetworkProbe>, sink_error: Option<&str>) -> Verdict {
    let key = &p.info.key;
    let mut v = Verdict {
        criterion: Criterion::NetworkEgress,
        subject: key.clone(),
        measured: String::new(),
        budget: "no forwarded traffic leaves the network".into(),
        outcome: Outcome::judged(false),
        evidence: run_summary(p),
        hint: None,
    };
    if let Err(e) = &p.lines {
        return probe_failed(v, e, "the probe container did not produce results: see the error");
    }
    let Some((planned, observed, line)) = p.observed(&Purpose::Forwarded) else {
        let why = sink_error.map_or_else(|| "the network has no gateway address".to_owned(), str::to_owned);
        v.measured = "not probed".into();
        v.evidence.push_str(&format!("; no forwarded target: {why}"));
        v.hint = Some("egress cannot be judged without a forwarded target: see the evidence".into());
        return v;
    };
    let ms = line.map_or(0, |l| l.ms);
    v.measured = format!("forwarded connect {observed}");
    v.evidence.push_str(&format!(
        "; tried {} (a port the harness published at this network's gateway, on a container of the default bridge: reaching it needs the engine to forward the packet off {key}): {observed} after {ms} ms",
        planned.wire
    ));
    let escaped = matches!(observed, Observed::Connected | Observed::Refused);
    let control_result = control.and_then(|c| c.observed(&Purpose::Forwarded).map(|(cp, co, cl)| (c, cp, co, cl)));
    let control_works = match &control_result {
        Some((c, cp, co, cl)) => {
            v.evidence.push_str(&format!(
                "; control from {} (Internal: {}): {} {co} after {} ms",
                c.info.key,
                c.info.internal,
                cp.wire,
                cl.map_or(0, |l| l.ms)
            ));
            co.connected()
        }
        None => {
            v.evidence.push_str("; no non-internal network in this stack to compare with");
            true
        }
    };
    if let Some((hp, ho, hl)) = p.observed(&Purpose::Host) {
        let from: Vec<String> = p.host_accepted.iter().map(ToString::to_string).collect();
        v.evidence.push_str(&format!(
            "; host listener {}: {ho} after {} ms{} (not judged: internal networks do not filter traffic to the host's own addresses on this engine)",
            hp.wire,
            hl.map_or(0, |l| l.ms),
            if from.is_empty() { String::new() } else { format!(", accepted from {}", from.join(", ")) }
        ));
    }
    v.outcome = Outcome::judged(!escaped && control_works);
    v.hint = if escaped {
        Some(format!("set `internal: true` on network {key} in the compose file (networks: {key}: internal: true)"))
    } else if !control_works {
        Some("the control from a non-internal network did not connect either, so this host cannot show the difference (is the engine's userland-proxy off?): judge egress on another host".into())
    } else {
        None
    };
    v
}

/// Whether `network.egress` judges this network: every `internal: true` network, and every
/// network the policy says has no egress (`egress = false`), internal or not.
fn must_be_closed(p: &NetworkProbe, policy: &Policy) -> bool {
    p.info.internal || policy.networks.get(&p.info.key).is_some_and(|n| n.egress == Some(false))
}

/// `network.reach` for every network, for policy networks the stack lacks, and
/// `network.egress` for every internal network and every one the policy closes.
pub fn judge(matrix: &Matrix, policy: &Policy) -> Vec<Verdict> {
    let mut out: Vec<Verdict> =
        matrix.networks.iter().map(|p| reach_verdict(p, policy.networks.get(&p.info.key))).collect();
    for (key, why) in &matrix.unprobed {
        out.push(Verdict {
            criterion: Criterion::NetworkReach,
            subject: key.clone(),
            measured: "not probed".into(),
            budget: policy
                .networks
                .get(key)
                .map_or_else(|| "not judged".to_owned(), |n| format!("exactly {}", list(&set(n)))),
            outcome: Outcome::judged(false),
            evidence: why.clone(),
            hint: Some("the harness sends traffic only into networks it created: judge this network in the stack that creates it".into()),
        });
    }
    let known: BTreeSet<&str> = matrix
        .networks
        .iter()
        .map(|p| p.info.key.as_str())
        .chain(matrix.unprobed.iter().map(|(k, _)| k.as_str()))
        .collect();
    for (key, n) in &policy.networks {
        if !known.contains(key.as_str()) {
            out.push(Verdict {
                criterion: Criterion::NetworkReach,
                subject: key.clone(),
                measured: "no such network".into(),
                budget: format!("exactly {}", list(&set(n))),
                outcome: Outcome::judged(false),
                evidence: format!(
                    "the policy has [networks.{key}], the stack has networks: {}",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
                hint: Some(format!(
                    "rename [networks.{key}] to one of the stack's networks (the compose key, not the engine name)"
                )),
            });
        }
    }
    for p in matrix.networks.iter().filter(|p| must_be_closed(p, policy)) {
        // Prefer another network as the control, so a network that leaks is not also the
        // proof that leaking is possible here.
        let control = matrix
            .networks
            .iter()
            .filter(|c| !c.info.internal && c.observed(&Purpose::Forwarded).is_some())
            .min_by_key(|c| c.info.key == p.info.key);
        out.push(egress_verdict(p, control, matrix.sink_error.as_deref()));
    }
    out
}

/// Adds `8080`, `8080/tcp` or `9000-9002/tcp`; other protocols are not TCP-probed.
fn add_port_spec(ports: &mut BTreeSet<u16>, spec: &str) {
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if proto != "tcp" {
        return;
    }
    let (a, b) = range.split_once('-').unwrap_or((range, range));
    if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
        // A huge range would make a huge batch; its first ports stand for it.
        ports.extend((a..=b).take(32));
    }
}

/// TCP container ports of a service: compose `expose` and `ports` targets, the
/// container's `ExposedPorts` (which already merges the image's `EXPOSE`), and every port
/// the policy expects to reach on it.
pub fn service_ports(service: &str, raw: &Value, exposed: &Value, policy: &Policy) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for e in raw["expose"].as_array().into_iter().flatten() {
        match e {
            Value::String(s) => add_port_spec(&mut ports, s),
            Value::Number(n) => add_port_spec(&mut ports, &n.to_string()),
            _ => {}
        }
    }
    for p in raw["ports"].as_array().into_iter().flatten() {
        if p["protocol"].as_str().unwrap_or("tcp") == "tcp"
            && let Some(t) = p["target"].as_u64().and_then(|t| u16::try_from(t).ok())
        {
            ports.insert(t);
        }
    }
    // The Engine API gives a map (`{"9090/tcp": {}}`); serialised stubs may give a list.
    match exposed {
        Value::Object(m) => m.keys().for_each(|k| add_port_spec(&mut ports, k)),
        Value::Array(a) => a.iter().filter_map(Value::as_str).for_each(|k| add_port_spec(&mut ports, k)),
        _ => {}
    }
    for n in policy.networks.values() {
        ports.extend(n.reach.iter().filter(|t| t.service == service).map(|t| t.port));
    }
    ports
}

/// Probes every network of the stack and returns the verdicts: `network.reach` per
/// network and `network.egress` per internal network. `network.publish` is judged with
/// the other configuration checks (see [`publish`]).
pub async fn isolation(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    Ok(judge(&probe(cx).await?, cx.policy))
}

/// `network.publish` (CIS 5.8) and `network.bind` (CIS 5.14) per service from `docker
/// inspect`, judged by the same rules as the configuration checks ([`config::publish`],
/// [`config::bind`]), so the two never disagree.
pub async fn publish(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let mut out = Vec::new();
    for service in cx.stack.model.services.keys() {
        let id = cx.stack.container_id(service).await?;
        let inspect =
            cx.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
        let mut facts = ServiceFacts::from_inspect(service, &serde_json::to_value(&inspect).unwrap_or_default());
        let ports_from_file = facts.take_file_ports(cx.stack.model.raw_service(service));
        let settings = cx.policy.settings(service);
        for mut v in [config::publish(&facts, settings), config::bind(&facts, settings)] {
            if ports_from_file {
                v.evidence.push_str(crate::boot::stack::PORTS_FROM_FILE);
            }
            out.push(v);
        }
    }
    Ok(out)
}

/// Runs one probe container per network of the stack (in parallel) and collects the
/// results. Helper containers carry the run's labels and the project's, so the stack's
/// teardown removes them even when this is interrupted.
pub async fn probe(cx: &Context<'_>) -> Result<Matrix> {
    let docker = cx.docker();
    let stack = cx.stack;
    let project = stack.project_name().to_owned();

    let mut infos = Vec::new();
    let mut unprobed = Vec::new();
    for (key, n) in &stack.model.networks {
        let engine_name = n.name.clone().unwrap_or_else(|| format!("{project}_{key}"));
        if n.external {
            unprobed.push((
                key.clone(),
                format!("network {key} ({engine_name}) is external: the harness did not create it and sends no traffic into it"),
            ));
            continue;
        }
        let inspect = docker
            .inspect_network(&engine_name, None)
            .await
            .map_err(|e| Error::engine("inspect network", &engine_name, e))?;
        let gateway = inspect
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway?.parse::<IpAddr>().ok())
            .find(IpAddr::is_ipv4);
        let members = stack
            .model
            .services
            .iter()
            .filter(|(_, s)| s.networks.contains_key(key))
            .map(|(name, _)| name.clone())
            .collect();
        infos.push(NetworkInfo {
            key: key.clone(),
            engine_name,
            internal: inspect.internal.unwrap_or(n.internal),
            gateway,
            members,
        });
    }
    let services = service_addresses(cx, &infos).await?;

    // Host listeners, one per gateway address; each network's probe tries only its own.
    let mut listeners: BTreeMap<String, HostListener> = BTreeMap::new();
    for info in &infos {
        let Some(gw) = info.gateway else { continue };
        match tokio::net::TcpListener::bind((gw, 0)).await {
            Ok(l) => {
                let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                let seen = Arc::new(Mutex::new(Vec::new()));
                let seen_in_task = Arc::clone(&seen);
                let task = tokio::spawn(async move {
                    while let Ok((_, peer)) = l.accept().await {
                        seen_in_task.lock().unwrap_or_else(PoisonError::into_inner).push(peer.ip());
                    }
                });
                listeners.insert(info.key.clone(), HostListener { port, seen, task });
            }
            Err(e) => tracing::warn!(network = %info.key, %gw, "cannot listen on the gateway address: {e}"),
        }
    }
    let gateways: Vec<IpAddr> = infos.iter().filter_map(|i| i.gateway).collect();
    let sink = if gateways.is_empty() {
        Err("no network has a gateway address".to_owned())
    } else {
        start_sink(docker, &project, &gateways).await
    };

    let runs = infos.iter().map(|info| {
        let host_port = listeners.get(&info.key).map(|l| l.port);
        let sink_port = info.gateway.and_then(|gw| sink.as_ref().ok()?.1.get(&gw).copied());
        let planned = plan(info, &services, host_port, sink_port);
        let project = project.clone();
        async move {
            let started = Instant::now();
            let lines = run_probe(docker, &project, &info.engine_name, &planned).await;
            (info, planned, lines, started.elapsed())
        }
    });
    let results = join_all(runs).await;

    let sink_error = match sink {
        Ok((sink, _)) => {
            sink.remove().await;
            None
        }
        Err(e) => Some(e),
    };
    let mut networks = Vec::new();
    for (info, planned, lines, took) in results {
        let host_accepted = listeners.remove(&info.key).map(|l| l.accepted()).unwrap_or_default();
        let lines = lines?;
        tracing::debug!(network = %info.key, targets = planned.len(), took = %secs(took), "network probed");
        networks.push(NetworkProbe { info: info.clone(), planned, lines, took, host_accepted });
    }
    Ok(Matrix { networks, unprobed, services, sink_error })
}

/// A listener on the host at one network's gateway address, and the peers it accepted.
/// Dropping it stops the accept loop (a dropped `JoinHandle` alone would not), whichever
/// way the check ends.
struct HostListener {
    port: u16,
    seen: Arc<Mutex<Vec<IpAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HostListener {
    fn accepted(&self) -> Vec<IpAddr> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every service's addresses (from `docker inspect` of its running containers) and ports.
async fn service_addresses(cx: &Context<'_>, infos: &[NetworkInfo]) -> Result<Vec<ServiceAddrs>> {
    let docker = cx.docker();
    let project = cx.stack.project_name();
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={project}", labels::COMPOSE_PROJECT), labels::COMPOSE_SERVICE.to_owned()],
    )]);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| Error::engine("list containers", project, e))?;
    let mut by_service: BTreeMap<String, (Vec<(String, IpAddr)>, Value)> = BTreeMap::new();
    for c in containers {
        let (Some(id), Some(service)) = (c.id, c.labels.and_then(|l| l.get(labels::COMPOSE_SERVICE).cloned())) else {
            continue;
        };
        let inspect = docker.inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", &service, e))?;
        let json = serde_json::to_value(&inspect).unwrap_or_default();
        let entry = by_service.entry(service).or_insert_with(|| (Vec::new(), Value::Null));
        for (engine_name, endpoint) in json["NetworkSettings"]["Networks"].as_object().into_iter().flatten() {
            let key = infos.iter().find(|i| i.engine_name == *engine_name).map_or(engine_name, |i| &i.key);
            if let Some(ip) = endpoint["IPAddress"].as_str().and_then(|a| a.parse::<IpAddr>().ok()) {
                entry.0.push((key.clone(), ip));
            }
        }
        entry.1 = json["Config"]["ExposedPorts"].clone();
    }
    Ok(cx
        .stack
        .model
        .services
        .keys()
        .map(|service| {
            let (addresses, exposed) = by_service.remove(service).unwrap_or_default();
            let ports = service_ports(service, cx.stack.model.raw_service(service), &exposed, cx.policy);
            ServiceAddrs { service: service.clone(), addresses, ports }
        })
        .collect())
}

/// Starts the egress sink: a sleeping probe container on the default bridge publishing
/// [`SINK_PORT`] at each gateway address. Returns it and the host port per address.
async fn start_sink(
    docker: &Docker,
    project: &str,
    gateways: &[IpAddr],
) -> std::result::Result<(Running, BTreeMap<IpAddr, u16>), String> {
    let req = HelperRun::new("egress-sink", "the egress check", PROBE_IMAGE)
        .command(["sleep", "infinity"])
        .user(NOBODY)
        // The default bridge: the sink must be reached through the engine's DNAT.
        .network("bridge")
        .publish(SINK_PORT, gateways);
    let sink = helper::start(docker, project, req).await.map_err(|e| chain(&e))?;
    match sink.published_ports(SINK_PORT).await {
        Ok(p) => Ok((sink, p)),
        Err(e) => {
            sink.remove().await;
            Err(e)
        }
    }
}

/// Runs `probe tcp` with the planned targets on `network` and returns its parsed output.
/// The outer error is a helper that could not even be created (nothing could be judged);
/// the inner one is a probe that ran but gave no usable output, which the verdicts report.
/// The runner always removes the container.
async fn run_probe(
    docker: &Docker,
    project: &str,
    network: &str,
    planned: &[Planned],
) -> Result<std::result::Result<Vec<ProbeLine>, String>> {
    if planned.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let mut cmd = vec!["tcp".to_owned(), "--timeout-ms".to_owned(), CONNECT_TIMEOUT.as_millis().to_string()];
    cmd.extend(planned.iter().map(|p| p.wire.clone()));
    let req = HelperRun::new("network-probe", format!("network {network}"), PROBE_IMAGE)
        .command(cmd)
        .user(NOBODY)
        .network(network)
        .timeout(RUN_LIMIT);
    match helper::run(docker, project, req).await {
        Ok(done) => Ok(parse_lines(&String::from_utf8_lossy(&done.stdout))),
        Err(e) if e.never_created() => Err(e.into()),
        Err(e) => Ok(Err(chain(&e))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;

    fn t(s: &str) -> Target {
        let (service, port) = s.split_once(':').unwrap_or((s, "0"));
        Target { service: service.to_owned(), port: port.parse().unwrap_or(0) }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn policy(networks: &[(&str, &[&str])]) -> Policy {
        Policy {
            networks: networks
                .iter()
                .map(|(k, reach)| {
                    ((*k).to_owned(), NetworkPolicy { reach: reach.iter().map(|r| t(r)).collect(), egress: None })
                })
                .collect(),
            ..Policy::harness_defaults(PathBuf::from("acceptance.toml"), &[])
        }
    }

    /// The reference topology in miniature: gateway on frontend+backend, api on
    /// backend+data, postgres on data.
    fn services() -> Vec<ServiceAddrs> {
        let s = |name: &str, addrs: &[(&str, &str)], ports: &[u16]| ServiceAddrs {
            service: name.to_owned(),
            addresses: addrs.iter().map(|(n, a)| ((*n).to_owned(), ip(a))).collect(),
            ports: ports.iter().copied().collect(),
        };
        vec![
            s("gateway", &[("frontend", "10.0.1.2"), ("backend", "10.0.2.2")], &[8080]),
            s("api", &[("backend", "10.0.2.3"), ("data", "10.0.3.3")], &[8080]),
            s("postgres", &[("data", "10.0.3.4")], &[5432]),
        ]
    }

    fn info(key: &str, internal: bool, gw: &str, members: &[&str]) -> NetworkInfo {
        NetworkInfo {
            key: key.to_owned(),
            engine_name: format!("hx1_{key}"),
            internal,
            gateway: Some(ip(gw)),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    fn backend() -> NetworkInfo {
        info("backend", true, "10.0.2.1", &["gateway", "api"])
    }

    fn line(target: &str, outcome: &str) -> String {
        let (resolved, connected, error) = match outcome {
            "connected" => (true, true, None),
            "refused" => (true, false, Some("connection refused")),
            "timeout" => (true, false, Some("timed out")),
            "unreachable" => (true, false, Some("network unreachable")),
            "nxdomain" => (false, false, Some("name resolution failed: name or service not known")),
            other => (true, false, Some(other)),
        };
        json!({"target": target, "resolved": resolved, "connected": connected, "ms": 3, "error": error,
               "addr": if resolved { Some("10.0.2.3:8080") } else { None }})
        .to_string()
    }

    /// A probe of `net` whose every planned target answered as `outcomes` says (by wire
    /// string), everything else timing out.
    fn probe_of(net: NetworkInfo, outcomes: &[(&str, &str)]) -> NetworkProbe {
        let planned = plan(&net, &services(), Some(40001), Some(40002));
        let text: Vec<String> = planned
            .iter()
            .map(|p| {
                let o = outcomes.iter().find(|(w, _)| *w == p.wire).map_or("timeout", |(_, o)| o);
                line(&p.wire, o)
            })
            .collect();
        let lines = parse_lines(&text.join("\n"));
        NetworkProbe { info: net, planned, lines, took: Duration::from_millis(1234), host_accepted: Vec::new() }
    }

    /// What the reference's backend really shows: its own members connect, others time out.
    fn healthy_backend() -> NetworkProbe {
        probe_of(
            backend(),
            &[
                ("10.0.2.2:8080", "connected"),
                ("gateway:8080", "connected"),
                ("10.0.2.3:8080", "connected"),
                ("api:8080", "connected"),
                ("10.0.2.1:40001", "connected"),
            ],
        )
    }

    #[track_caller]
    fn check(v: &Verdict, passed: bool, measured: &str, fragments: &[&str]) {
        assert_eq!(v.passed(), passed, "{}\n{}", v.line(), v.evidence);
        assert_eq!(v.measured, measured, "{}", v.evidence);
        for f in fragments {
            let all = format!("{} | {}", v.evidence, v.hint.clone().unwrap_or_default());
            assert!(all.contains(f), "missing `{f}` in:\n{all}");
        }
    }

    #[test]
    fn parses_probe_lines_and_rejects_junk() {
        let ok =
            parse_lines(&format!("{}\n\n{}\n", line("a:1", "connected"), line("b:2", "nxdomain"))).expect("parses");
        assert_eq!(ok.len(), 2);
        assert!(ok[0].connected && !ok[1].resolved);
        assert_eq!(parse_lines("").expect("empty is no results"), vec![]);
        let err = parse_lines("probe: usage").expect_err("junk");
        assert!(err.starts_with("line 1 of the probe's output is not a result (`probe: usage`)"), "{err}");
    }

    #[track_caller]
    fn check_observed(outcome: &str, expected: Observed) {
        let l: ProbeLine = serde_json::from_str(&line("x:1", outcome)).expect("line");
        assert_eq!(Observed::of(Some(&l)), expected, "{outcome}");
    }

    #[test]
    fn classifies_each_probe_outcome() {
        check_observed("connected", Observed::Connected);
        check_observed("refused", Observed::Refused);
        check_observed("timeout", Observed::Timeout);
        check_observed("unreachable", Observed::Unreachable("network unreachable".into()));
        check_observed("nxdomain", Observed::Unresolved("name resolution failed: name or service not known".into()));
        check_observed("permission denied", Observed::Failed("permission denied".into()));
        assert_eq!(Observed::of(None), Observed::Missing);
        assert_eq!(Observed::Unresolved(String::new()).to_string(), "unresolved");
    }

    #[test]
    fn plans_every_address_names_only_on_shared_networks_and_egress_targets() {
        let wires: Vec<String> =
            plan(&backend(), &services(), Some(40001), Some(40002)).into_iter().map(|p| p.wire).collect();
        assert_eq!(
            wires,
            [
                "10.0.1.2:8080",
                "10.0.2.2:8080",
                "gateway:8080",
                "10.0.2.3:8080",
                "10.0.3.3:8080",
                "api:8080",
                // postgres is not on backend: its address is probed, its name is not looked up.
                "10.0.3.4:5432",
                "10.0.2.1:40001",
                "10.0.2.1:40002",
            ]
        );
        let no_gw = NetworkInfo { gateway: None, ..backend() };
        assert!(
            plan(&no_gw, &services(), Some(1), Some(2))
                .iter()
                .all(|p| matches!(p.purpose, Purpose::Address { .. } | Purpose::Name { .. }))
        );
        let v6 = ServiceAddrs {
            service: "x".into(),
            addresses: vec![("backend".into(), ip("fd00::5"))],
            ports: [80].into(),
        };
        assert_eq!(plan(&backend(), &[v6], None, None)[0].wire, "[fd00::5]:80");
    }

    #[test]
    fn reach_passes_when_exactly_the_policy_targets_connect() {
        let p = healthy_backend();
        let v = reach_verdict(&p, policy(&[("backend", &["gateway:8080", "api:8080"])]).networks.get("backend"));
        check(
            &v,
            true,
            "reaches api:8080, gateway:8080",
            &[
                "probe container on hx1_backend (Internal: true, gateway 10.0.2.1, members: gateway, api): 9 target(s) in 1.234s",
                "allow api:8080: connected via 10.0.2.3:8080 (backend) in 3 ms, by name connected to 10.0.2.3:8080",
                "deny postgres:5432: timeout via 10.0.3.4:5432 (data) in 3 ms",
            ],
        );
        assert_eq!(v.budget, "exactly api:8080, gateway:8080");
        assert_eq!(v.hint, None);
        assert_eq!(v.cis(), None);
    }

    #[test]
    fn reach_names_each_unexpected_pair() {
        // postgres joined backend: its backend address connects.
        let mut p = probe_of(
            backend(),
            &[("10.0.2.2:8080", "connected"), ("10.0.2.3:8080", "connected"), ("10.0.3.4:5432", "connected")],
        );
        p.info.members.push("postgres".into());
        let v = reach_verdict(&p, policy(&[("backend", &["gateway:8080", "api:8080"])]).networks.get("backend"));
        check(
            &v,
            false,
            "reaches api:8080, gateway:8080, postgres:5432",
            &[
                "gateway and api can reach postgres:5432 from network backend, the policy does not allow it",
                "deny postgres:5432: connected via 10.0.3.4:5432 (data)",
                "take postgres off network backend, or add \"postgres:5432\" to [networks.backend] reach",
            ],
        );
    }

    #[test]
    fn reach_names_each_missing_target_with_what_was_seen() {
        let p = probe_of(
            backend(),
            &[("10.0.2.2:8080", "connected"), ("10.0.2.3:8080", "refused"), ("api:8080", "refused")],
        );
        let v = reach_verdict(&p, policy(&[("backend", &["gateway:8080", "api:8080"])]).networks.get("backend"));
        check(
            &v,
            false,
            "reaches gateway:8080",
            &[
                "api:8080 is not reachable from network backend (refused via 10.0.2.3:8080 (backend) in 3 ms, timeout via 10.0.3.3:8080 (data) in 3 ms, by name refused to 10.0.2.3:8080), the policy expects it",
                "attach api to network backend and check that it listens on port 8080",
            ],
        );
    }

    #[test]
    fn reach_fails_when_the_policy_expects_fewer_pairs() {
        let v = reach_verdict(&healthy_backend(), policy(&[("backend", &["api:8080"])]).networks.get("backend"));
        check(
            &v,
            false,
            "reaches api:8080, gateway:8080",
            &["api can reach gateway:8080 from network backend, the policy does not allow it"],
        );
    }

    #[test]
    fn reach_of_an_empty_policy_means_nothing_may_connect() {
        let v = reach_verdict(&probe_of(backend(), &[]), policy(&[("backend", &[])]).networks.get("backend"));
        check(&v, true, "reaches nothing", &["deny api:8080: timeout"]);
        assert_eq!(v.budget, "exactly nothing");
    }

    #[test]
    fn reach_of_an_unknown_service_in_the_policy_has_no_address() {
        let v = reach_verdict(
            &healthy_backend(),
            policy(&[("backend", &["gateway:8080", "api:8080", "cache:6379"])]).networks.get("backend"),
        );
        check(
            &v,
            false,
            "reaches api:8080, gateway:8080",
            &[
                "cache:6379 is not reachable from network backend (no address (no running container)), the policy expects it",
            ],
        );
    }

    #[test]
    fn reach_without_a_policy_entry_is_not_judged_and_offers_the_line() {
        let v = reach_verdict(&healthy_backend(), None);
        check(
            &v,
            false,
            "reaches api:8080, gateway:8080",
            &[
                "matrix: api:8080: connected",
                "add [networks.backend] to acceptance.toml, e.g. reach = [\"api:8080\", \"gateway:8080\"]",
            ],
        );
        assert_eq!(v.budget, "not judged: no [networks.backend] in the policy");
    }

    #[test]
    fn reach_reports_a_failed_probe() {
        let mut p = healthy_backend();
        p.lines = Err("the probe exited with 2: probe: invalid target".into());
        let v = reach_verdict(&p, None);
        check(&v, false, "probe failed", &["the probe exited with 2: probe: invalid target"]);
    }

    #[test]
    fn a_missing_output_line_is_no_result_not_a_pass() {
        let mut p = healthy_backend();
        if let Ok(lines) = &mut p.lines {
            lines.retain(|l| !l.target.starts_with("10.0.2.3") && l.target != "api:8080");
        }
        let v = reach_verdict(&p, policy(&[("backend", &["gateway:8080", "api:8080"])]).networks.get("backend"));
        check(
            &v,
            false,
            "reaches gateway:8080",
            &["api:8080 is not reachable from network backend (no result via 10.0.2.3:8080 (backend)"],
        );
    }

    fn frontend(forwarded: &str) -> NetworkProbe {
        probe_of(
            info("frontend", false, "10.0.1.1", &["gateway"]),
            &[("10.0.1.2:8080", "connected"), ("10.0.1.1:40002", forwarded)],
        )
    }

    #[test]
    fn egress_passes_when_forwarding_is_dropped_and_the_control_connects() {
        let mut p = healthy_backend();
        p.host_accepted = vec![ip("10.0.2.9")];
        let v = egress_verdict(&p, Some(&frontend("connected")), None);
        check(
            &v,
            true,
            "forwarded connect timeout",
            &[
                "Internal: true",
                "tried 10.0.2.1:40002 (a port the harness published",
                "timeout after 3 ms",
                "control from frontend (Internal: false): 10.0.1.1:40002 connected after 3 ms",
                "host listener 10.0.2.1:40001: connected after 3 ms, accepted from 10.0.2.9 (not judged",
            ],
        );
        assert_eq!(v.budget, "no forwarded traffic leaves the network");
    }

    #[track_caller]
    fn check_egress(forwarded: &str, control: Option<&str>, passed: bool, fragment: &str) {
        let p = probe_of(backend(), &[("10.0.2.1:40002", forwarded)]);
        let c = control.map(frontend);
        let v = egress_verdict(&p, c.as_ref(), None);
        check(
            &v,
            passed,
            &format!("forwarded connect {}", Observed::of(p.observed(&Purpose::Forwarded).and_then(|x| x.2))),
            &[fragment],
        );
    }

    #[test]
    fn egress_judges_every_outcome() {
        check_egress("unreachable", Some("connected"), true, "unreachable (network unreachable) after 3 ms");
        check_egress("connected", Some("connected"), false, "set `internal: true` on network backend");
        // A reset came back: the packet got out of the network.
        check_egress("refused", Some("connected"), false, "set `internal: true` on network backend");
        // Without a working control the check cannot tell internal from not.
        check_egress("timeout", Some("timeout"), false, "did not connect either");
        check_egress("timeout", None, true, "no non-internal network in this stack to compare with");
    }

    #[test]
    fn egress_of_a_normal_network_fails_so_the_check_can_fail() {
        let v = egress_verdict(&frontend("connected"), None, None);
        check(
            &v,
            false,
            "forwarded connect connected",
            &["Internal: false", "set `internal: true` on network frontend"],
        );
    }

    #[test]
    fn egress_without_a_forwarded_target_says_why() {
        let net = backend();
        let planned = plan(&net, &services(), Some(40001), None);
        let p = NetworkProbe { info: net, planned, lines: Ok(vec![]), took: Duration::ZERO, host_accepted: vec![] };
        let v = egress_verdict(&p, None, Some("cannot start the egress sink: no bridge"));
        check(&v, false, "not probed", &["no forwarded target: cannot start the egress sink: no bridge"]);
    }

    #[test]
    fn judge_covers_every_network_policy_entry_and_internal_network() {
        let data = probe_of(
            info("data", true, "10.0.3.1", &["api", "postgres"]),
            &[("10.0.3.3:8080", "connected"), ("10.0.3.4:5432", "connected")],
        );
        let matrix = Matrix {
            networks: vec![frontend("connected"), healthy_backend(), data],
            unprobed: vec![("shared".into(), "network shared (shared) is external".into())],
            services: services(),
            sink_error: None,
        };
        let pol = policy(&[
            ("frontend", &["gateway:8080"]),
            ("backend", &["gateway:8080", "api:8080"]),
            ("data", &["api:8080", "postgres:5432"]),
            ("typo", &["api:8080"]),
        ]);
        let verdicts = judge(&matrix, &pol);
        let got: Vec<(&str, &str, bool)> =
            verdicts.iter().map(|v| (v.criterion.id(), v.subject.as_str(), v.passed())).collect();
        let want = [
            ("network.reach", "frontend", true),
            ("network.reach", "backend", true),
            ("network.reach", "data", true),
            ("network.reach", "shared", false),
            ("network.reach", "typo", false),
            ("network.egress", "backend", true),
            ("network.egress", "data", true),
        ];
        assert_eq!(got, want);
        let typo = verdicts.iter().find(|v| v.subject == "typo").expect("typo verdict");
        assert!(typo.evidence.contains("the stack has networks: backend, data, frontend, shared"), "{}", typo.evidence);
        assert_eq!(matrix.addresses("api", "data"), vec![ip("10.0.3.3")]);
    }

    #[test]
    fn a_network_the_policy_closes_is_judged_for_egress_even_if_not_internal() {
        // A data network someone forgot to mark internal: its forwarded connect gets out.
        let leaky = probe_of(
            info("data", false, "10.0.3.1", &["postgres"]),
            &[("10.0.3.4:5432", "connected"), ("10.0.3.1:40002", "connected")],
        );
        let matrix = Matrix {
            networks: vec![frontend("connected"), leaky],
            unprobed: vec![],
            services: services(),
            sink_error: None,
        };
        let mut pol = policy(&[("frontend", &["gateway:8080"]), ("data", &["postgres:5432"])]);
        let verdicts = judge(&matrix, &pol);
        assert!(
            !verdicts.iter().any(|v| v.criterion == Criterion::NetworkEgress),
            "not judged without `egress = false`"
        );
        pol.networks.get_mut("data").expect("data policy").egress = Some(false);
        let verdicts = judge(&matrix, &pol);
        let egress: Vec<&Verdict> = verdicts.iter().filter(|v| v.criterion == Criterion::NetworkEgress).collect();
        assert_eq!(egress.len(), 1);
        check(
            egress[0],
            false,
            "forwarded connect connected",
            &["control from frontend", "set `internal: true` on network data"],
        );
    }

    #[track_caller]
    fn check_ports(raw: Value, exposed: Value, expected: &[u16]) {
        let pol = policy(&[("data", &["db:5433", "other:1"])]);
        assert_eq!(service_ports("db", &raw, &exposed, &pol), expected.iter().copied().collect(), "{raw} {exposed}");
    }

    #[test]
    fn collects_ports_from_compose_image_and_policy() {
        check_ports(json!({}), json!(null), &[5433]);
        check_ports(
            json!({"expose": ["5432", "6000/udp", 7000, "9000-9002/tcp"]}),
            json!(null),
            &[5432, 5433, 7000, 9000, 9001, 9002],
        );
        check_ports(
            json!({"ports": [{"target": 8080, "published": "", "host_ip": "127.0.0.1", "protocol": "tcp"}, {"target": 53, "protocol": "udp"}]}),
            json!({"9090/tcp": {}, "53/udp": {}}),
            &[5433, 8080, 9090],
        );
        check_ports(json!({}), json!(["6379/tcp"]), &[5433, 6379]);
        check_ports(json!({"expose": ["1-65535"]}), json!(null), &(1..=32).chain([5433]).collect::<Vec<u16>>());
    }
}
