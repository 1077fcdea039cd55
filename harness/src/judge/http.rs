//! Checks over HTTP and names: gateway routes reach their upstream, services find each
//! other by service name, and Prometheus scrapes its targets and sees the metric families.
//!
//! Only the gateway is published on the host, so everything else is fetched from inside
//! the stack: `docker exec` into a service that has busybox (the Prometheus container in
//! the reference) running `busybox wget` against a compose service name. Pure functions
//! ([`route_verdict`], [`request_delta`], [`target_verdicts`], [`family_verdicts`],
//! [`discovery_verdicts`]) do the judging and are tested without Docker.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use serde_json::Value;

use crate::errors::Result;
use crate::judge::Context;
use crate::judge::criteria::Criterion;
use crate::judge::network::{self, Matrix, Observed, Purpose};
use crate::judge::verdict::{Outcome, Verdict};
use crate::policy::{Policy, Route, Target};
use crate::units::secs;

/// The whole request through the gateway, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// One fetch from inside a container.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Prometheus gets to scrape every target once: its interval is 5 s in the
/// reference (fixtures/images/prometheus/prometheus.yml), so three intervals.
const SCRAPE_WAIT: Duration = Duration::from_secs(15);
/// Prometheus's own port (its image's default `--web.listen-address`).
const PROMETHEUS_PORT: u16 = 9090;
/// The request counter every HTTP service following Prometheus' naming conventions has;
/// its `path` label tells which route a request hit.
const REQUEST_COUNTER: &str = "http_requests_total";
/// Evidence quotes this much of a response body.
const BODY_QUOTE: usize = 200;
/// Output kept from one in-container fetch; a metrics page is a few kB.
const EXEC_CAP: usize = 4 * 1024 * 1024;

/// Runs `cmd` in `service`'s container; stdout on exit 0, else stderr and the code.
async fn exec_stdout(cx: &Context<'_>, service: &str, cmd: &[&str]) -> std::result::Result<String, String> {
    let id = cx.stack.container_id(service).await.map_err(|e| e.to_string())?;
    let docker = cx.docker();
    let attempt = async {
        let exec = docker
            .create_exec(
                &id,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("exec in {service} failed: {e}"))?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&exec.id, Some(StartExecOptions { detach: false, ..Default::default() }))
            .await
            .map_err(|e| format!("exec in {service} failed: {e}"))?
        {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message }) if stdout.len() < EXEC_CAP => {
                        stdout.push_str(&String::from_utf8_lossy(&message));
                    }
                    Ok(LogOutput::StdErr { message }) if stderr.len() < EXEC_CAP => {
                        stderr.push_str(&String::from_utf8_lossy(&message));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("reading exec output in {service} failed: {e}")),
                }
            }
        }
        let code = docker.inspect_exec(&exec.id).await.map_err(|e| format!("exec in {service} failed: {e}"))?.exit_code;
        match code {
            Some(0) => Ok(stdout),
            c => Err(format!(
                "`{}` in {service} exited with {}: {}",
                cmd.join(" "),
                c.map_or_else(|| "no code".to_owned(), |c| c.to_string()),
                crate::errors::tail_lines(&stderr, 2)
            )),
        }
    };
    tokio::time::timeout(EXEC_TIMEOUT, attempt).await.unwrap_or_else(|_| {
        Err(format!("`{}` in {service} did not finish within {}", cmd.join(" "), secs(EXEC_TIMEOUT)))
    })
}

/// GETs `url` from inside `via`'s container with busybox wget (bookworm's busybox wget
/// crashes with its own `-T`, so the exec timeout bounds it instead).
async fn fetch_inside(cx: &Context<'_>, via: &str, url: &str) -> std::result::Result<String, String> {
    exec_stdout(cx, via, &["/bin/busybox", "wget", "-q", "-O", "-", url]).await
}

/// One sample line of the Prometheus text format: `name{labels} value`.
fn sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        // Label values are quoted and may hold `}` `,` `"` (escaped); walk them.
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            if c == ',' || c.is_whitespace() {
                continue;
            }
            let eq = body[i..].find('=')? + i;
            let key = body[i..eq].trim().to_owned();
            while chars.peek().is_some_and(|(j, _)| *j <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, '"') => break,
                    (_, c) => value.push(c),
                }
            }
            labels.insert(key, value);
        }
        rest = &body[end? + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// Whether a `path` label (a route template such as `/api/v1/notes/{id}`) covers `path`.
fn path_matches(template: &str, path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let (a, b): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

fn series_name(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{REQUEST_COUNTER}{{{}}}", inner.join(","))
}

/// The request counter series that grew between two metrics pages: those whose `path`
/// label covers `path` first, then every other one that grew (health checks, scrapes).
pub fn request_delta(before: &str, after: &str, path: &str) -> (Vec<String>, Vec<String>) {
    let counts = |text: &str| -> BTreeMap<String, (BTreeMap<String, String>, f64)> {
        text.lines()
            .filter_map(sample)
            .filter(|(n, _, _)| *n == REQUEST_COUNTER)
            .map(|(_, l, v)| (series_name(&l), (l, v)))
            .collect()
    };
    let (b, a) = (counts(before), counts(after));
    let (mut hit, mut other) = (Vec::new(), Vec::new());
    for (name, (labels, v)) in &a {
        let old = b.get(name).map_or(0.0, |(_, v)| *v);
        if *v > old {
            let line = format!("{name} +{}", v - old);
            if labels.get("path").is_some_and(|t| path_matches(t, path)) { hit.push(line) } else { other.push(line) }
        }
    }
    (hit, other)
}

/// What the gateway answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// A few response headers, `name: value`.
    pub headers: Vec<String>,
    /// The response body, as text.
    pub body: String,
}

/// Whether the upstream's own request counter shows the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// No metrics endpoint for the upstream in the policy, or it could not be fetched.
    Unavailable(String),
    /// `(series for this path that grew, other series that grew)`, and where from.
    Counted {
        /// The counter series for this path that grew.
        hit: Vec<String>,
        /// Other counter series that grew.
        other: Vec<String>,
        /// Where the metrics were fetched from.
        source: String,
    },
}

/// `gateway.route`: the gateway answers `route.path` with the expected status and, where
/// the upstream's metrics can be read and a 2xx is expected, the upstream counted it. A
/// 2xx the upstream never saw came from somewhere else (a static page, a cache).
pub fn route_verdict(route: &Route, url: &str, answer: std::result::Result<Answer, String>, proof: &Proof) -> Verdict {
    let mut v = Verdict {
        criterion: Criterion::GatewayRoute,
        subject: route.path.clone(),
        measured: String::new(),
        budget: format!("{} from {}", route.status, route.upstream),
        outcome: Outcome::judged(false),
        evidence: format!("GET {url}"),
        hint: None,
    };
    let a = match answer {
        Ok(a) => a,
        Err(e) => {
            v.measured = "no answer".into();
            v.evidence.push_str(&format!(": {e}"));
            v.hint = Some("the gateway did not answer: check that it is up and publishes its port on 127.0.0.1".into());
            return v;
        }
    };
    v.measured = format!("{}", a.status);
    let quote: String = a.body.chars().take(BODY_QUOTE).collect();
    v.evidence.push_str(&format!(
        ": {}; headers: {}; body ({} bytes): {:?}",
        a.status,
        if a.headers.is_empty() { "none".to_owned() } else { a.headers.join(", ") },
        a.body.len(),
        quote
    ));
    let status_ok = a.status == route.status;
    let mut reached = true;
    match proof {
        Proof::Unavailable(why) => v.evidence.push_str(&format!("; upstream counter: not read ({why})")),
        Proof::Counted { hit, other, source } => {
            v.evidence.push_str(&format!("; {} counted it: ", route.upstream));
            if hit.is_empty() {
                v.evidence.push_str(&format!("no (no {REQUEST_COUNTER} series for this path grew"));
                if !other.is_empty() {
                    v.evidence.push_str(&format!("; others grew: {}", other.join(", ")));
                }
                v.evidence.push(')');
                reached = !(200..300).contains(&route.status);
            } else {
                v.evidence.push_str(&hit.join(", "));
            }
            v.evidence.push_str(&format!(" (from {source})"));
        }
    }
    v.outcome = Outcome::judged(status_ok && reached);
    v.hint = if !status_ok {
        Some(format!(
            "the gateway answered {} where {} was expected: check its route for {} to {} (e.g. nginx `location` and `proxy_pass`)",
            a.status, route.status, route.path, route.upstream
        ))
    } else if !reached {
        Some(format!(
            "the answer did not come from {}: the gateway serves {} itself; proxy it to {}",
            route.upstream, route.path, route.upstream
        ))
    } else {
        None
    };
    v
}

/// `gateway.route` for every `[[routes]]`, through the gateway's published port.
pub async fn routes(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let policy = cx.policy;
    if policy.routes.is_empty() {
        return Ok(Vec::new());
    }
    let no_answer = |why: String| -> Vec<Verdict> {
        policy
            .routes
            .iter()
            .map(|r| route_verdict(r, "(no url)", Err(why.clone()), &Proof::Unavailable("no request".into())))
            .collect()
    };
    let Some(gw) = &policy.gateway else {
        return Ok(no_answer("the policy has [[routes]] but no [gateway]".into()));
    };
    let base = match cx.stack.host_port(&gw.service, gw.port).await {
        Ok(a) => a,
        Err(e) => return Ok(no_answer(format!("the gateway's port is not published: {e}"))),
    };
    // Straight to loopback: no proxy from the environment, and redirects are answers too.
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return Ok(no_answer(format!("cannot build an HTTP client: {e}"))),
    };
    let mut out = Vec::new();
    for route in &policy.routes {
        let url = format!("http://{base}{}", route.path);
        let metrics = match metrics_source(policy, &route.upstream) {
            Some((via, murl)) => Some((via, replica_urls(cx, &route.upstream, &murl).await?)),
            None => None,
        };
        let before = match &metrics {
            Some((via, murls)) => fetch_all(cx, via, murls).await,
            None => Err(format!("the policy names no metrics endpoint on {}", route.upstream)),
        };
        let answer = get(&client, &url).await;
        let proof = match (&before, &metrics) {
            (Ok((via, before)), Some((_, murls))) => match fetch_all(cx, std::slice::from_ref(via), murls).await {
                Ok((_, after)) => {
                    let (mut hit, mut other) = (Vec::new(), Vec::new());
                    for (b, a) in before.iter().zip(&after) {
                        let (h, o) = request_delta(b, a, &route.path);
                        hit.extend(h);
                        other.extend(o);
                    }
                    let source = if murls.len() == 1 {
                        format!("{} fetched inside {via}", murls[0])
                    } else {
                        format!("{} (one per replica) fetched inside {via}", murls.join(", "))
                    };
                    Proof::Counted { hit, other, source }
                }
                Err(e) => Proof::Unavailable(e),
            },
            (Err(e), _) => Proof::Unavailable(e.clone()),
            (Ok(_), None) => Proof::Unavailable("no metrics endpoint".into()),
        };
        out.push(route_verdict(route, &url, answer, &proof));
    }
    Ok(out)
}

/// The metrics URL of each replica of `service`: the service's name reaches one replica
/// (any), so with several each is asked by its hostname, which Docker's DNS resolves on
/// the service's networks; with one, the service's own URL.
async fn replica_urls(cx: &Context<'_>, service: &str, url: &str) -> Result<Vec<String>> {
    let running: Vec<String> = cx.stack.running_replicas(service).await?.into_iter().map(|r| r.hostname).collect();
    let prefix = format!("http://{service}:");
    Ok(match url.strip_prefix(&prefix) {
        Some(rest) if running.len() > 1 => running.iter().map(|h| format!("http://{h}:{rest}")).collect(),
        _ => vec![url.to_owned()],
    })
}

/// Fetches every URL through the first of `via` that can fetch the first one; returns which
/// container did, and the pages in the order of `urls`.
async fn fetch_all(
    cx: &Context<'_>,
    via: &[String],
    urls: &[String],
) -> std::result::Result<(String, Vec<String>), String> {
    let Some((first, rest)) = urls.split_first() else { return Err("no metrics URL".to_owned()) };
    let (v, page) = fetch_first(cx, via, first).await?;
    let mut pages = vec![page];
    for u in rest {
        pages.push(fetch_inside(cx, &v, u).await?);
    }
    Ok((v, pages))
}

async fn get(client: &reqwest::Client, url: &str) -> std::result::Result<Answer, String> {
    let resp = client.get(url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "connection" | "content-length"))
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("(binary)")))
        .collect();
    let body = resp.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Answer { status, headers, body })
}

/// Where `upstream`'s metrics can be read from inside: the policy's metrics endpoint when
/// it is on `upstream`, fetched through the Prometheus container, else the gateway's.
fn metrics_source(policy: &Policy, upstream: &str) -> Option<(Vec<String>, String)> {
    let m = policy.observability.metrics.as_ref().filter(|m| m.service == upstream)?;
    let via: Vec<String> =
        policy.observability.prometheus.iter().chain(policy.gateway.iter().map(|g| &g.service)).cloned().collect();
    Some((via, format!("http://{}:{}{}", m.service, m.port, policy.observability.metrics_path)))
}

/// Fetches `url` through the first of `via` that can; returns which one did.
async fn fetch_first(cx: &Context<'_>, via: &[String], url: &str) -> std::result::Result<(String, String), String> {
    let mut errors = Vec::new();
    for v in via {
        match fetch_inside(cx, v, url).await {
            Ok(text) => return Ok((v.clone(), text)),
            Err(e) => errors.push(e),
        }
    }
    Err(if errors.is_empty() { "no container to fetch it from".to_owned() } else { errors.join("; ") })
}

/// `discovery.name` per policy reach target: from the network, the service name resolves
/// to the service's own address on that network, and connects.
pub fn discovery_verdicts(matrix: &Matrix, policy: &Policy) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (key, np) in &policy.networks {
        for t in &np.reach {
            out.push(discovery_verdict(matrix, key, t));
        }
    }
    out
}

fn discovery_verdict(matrix: &Matrix, key: &str, t: &Target) -> Verdict {
    let mut v = Verdict {
        criterion: Criterion::DiscoveryName,
        subject: format!("{t} from {key}"),
        measured: String::new(),
        budget: format!("{} resolves to {}'s address on {key} and connects", t.service, t.service),
        outcome: Outcome::judged(false),
        evidence: String::new(),
        hint: None,
    };
    let Some(p) = matrix.network(key) else {
        v.measured = "not probed".into();
        v.evidence = format!("network {key} was not probed");
        v.hint = Some(format!("see the network.reach verdict for {key}"));
        return v;
    };
    let own = matrix.addresses(&t.service, key);
    let Some((planned, observed, line)) = p.observed(&Purpose::Name { target: t.clone() }) else {
        v.measured = "not looked up".into();
        v.evidence = format!(
            "{} is not on network {key} (members: {}), so its name was not looked up from there: Docker's DNS would forward it off this machine",
            t.service,
            p.info.members.join(", ")
        );
        v.hint = Some(format!("attach {} to network {key} (its `networks:` in the compose file)", t.service));
        return v;
    };
    let addr = line.and_then(|l| l.addr.clone());
    let resolved_ip = addr.as_deref().and_then(|a| a.parse::<std::net::SocketAddr>().ok()).map(|a| a.ip());
    let own_address = resolved_ip.is_some_and(|ip| own.contains(&ip));
    v.measured = match (&observed, &addr) {
        (Observed::Unresolved(_), _) => observed.to_string(),
        (o, Some(a)) => format!("resolved to {a}, {o}"),
        (o, None) => o.to_string(),
    };
    let own_text: Vec<String> = own.iter().map(ToString::to_string).collect();
    v.evidence = format!(
        "probe on {} tried {}: {observed}{} (connect timeout {} ms); {}'s address on {key}: {}",
        p.info.engine_name,
        planned.wire,
        line.map_or_else(String::new, |l| format!(" in {} ms", l.ms)),
        network::CONNECT_TIMEOUT.as_millis(),
        t.service,
        if own_text.is_empty() { "none".to_owned() } else { own_text.join(", ") },
    );
    v.outcome = Outcome::judged(observed.connected() && own_address);
    v.hint = if v.passed() {
        None
    } else if matches!(observed, Observed::Unresolved(_)) {
        Some(format!("{} does not resolve on {key}: check the service name and that its container runs", t.service))
    } else if observed.connected() {
        Some(format!(
            "{} resolved to an address that is not {}'s on {key}: an alias or another service answers to that name",
            t.service, t.service
        ))
    } else {
        Some(format!(
            "{} resolves but port {} does not answer: check that the service listens on it",
            t.service, t.port
        ))
    };
    v
}

/// Probes the networks (see [`network::probe`]) and judges `discovery.name`. Callers that
/// also judge isolation can probe once and call [`discovery_verdicts`] and
/// [`network::judge`] on the same matrix.
pub async fn discovery(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    Ok(discovery_verdicts(&network::probe(cx).await?, cx.policy))
}

/// Active targets of `/api/v1/targets` that stand for `service`: its job, or its name as
/// the host of the instance or scrape URL.
fn targets_for<'a>(body: &'a Value, service: &str) -> Vec<&'a Value> {
    let host = |s: &str| -> String {
        let s = s.split("://").nth(1).unwrap_or(s);
        s.split(['/', ':']).next().unwrap_or_default().to_owned()
    };
    body["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["labels"]["job"].as_str() == Some(service)
                || t["labels"]["instance"].as_str().is_some_and(|i| host(i) == service)
                || t["scrapeUrl"].as_str().is_some_and(|u| host(u) == service)
        })
        .collect()
}

/// Whether every wanted service has a target Prometheus reports up.
fn all_up(body: &Value, wanted: &[String]) -> bool {
    wanted.iter().all(|w| targets_for(body, w).iter().any(|t| t["health"] == "up"))
}

/// `observability.targets`: Prometheus reports each wanted service's target `up`.
pub fn target_verdicts(
    body: std::result::Result<&Value, &str>,
    wanted: &[String],
    prometheus: &str,
    waited: Duration,
) -> Vec<Verdict> {
    wanted
        .iter()
        .map(|w| {
            let mut v = Verdict {
                criterion: Criterion::ObservabilityTargets,
                subject: w.clone(),
                measured: String::new(),
                budget: format!("up in {prometheus}"),
                outcome: Outcome::judged(false),
                evidence: format!("{prometheus} /api/v1/targets after {}", secs(waited)),
                hint: None,
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    v.measured = "not read".into();
                    v.evidence.push_str(&format!(": {e}"));
                    v.hint = Some(format!("the targets API of {prometheus} could not be read: check that it runs and has busybox wget"));
                    return v;
                }
            };
            let found = targets_for(body, w);
            if found.is_empty() {
                let all: Vec<String> = body["data"]["activeTargets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["scrapeUrl"].as_str().map(str::to_owned))
                    .collect();
                v.measured = "not scraped".into();
                v.evidence.push_str(&format!(
                    ": no target for {w}; active targets: {}",
                    if all.is_empty() { "none".to_owned() } else { all.join(", ") }
                ));
                v.hint = Some(format!("add a scrape job for {w} to the Prometheus configuration (static_configs targets: [\"{w}:PORT\"])"));
                return v;
            }
            let described: Vec<String> = found
                .iter()
                .map(|t| {
                    format!(
                        "job={} scrapeUrl={} health={} lastScrape={} lastScrapeDuration={}s lastError={:?}",
                        t["labels"]["job"].as_str().unwrap_or("?"),
                        t["scrapeUrl"].as_str().unwrap_or("?"),
                        t["health"].as_str().unwrap_or("?"),
                        t["lastScrape"].as_str().unwrap_or("?"),
                        t["lastScrapeDuration"],
                        t["lastError"].as_str().unwrap_or("")
                    )
                })
                .collect();
            v.outcome = Outcome::judged(found.iter().any(|t| t["health"] == "up"));
            v.measured = found.iter().filter_map(|t| t["health"].as_str()).collect::<Vec<_>>().join(", ");
            v.evidence.push_str(&format!(": {}", described.join("; ")));
            if !v.passed() {
                v.hint = Some(format!("{prometheus} cannot scrape {w}: see lastError; both must share a network and {w} must serve its metrics path"));
            }
            v
        })
        .collect()
}

/// The line of a metrics page that shows `family` exists: its `# TYPE` (OpenMetrics
/// declares a counter `x_total` as `# TYPE x counter`), else a sample of that exact name.
pub fn family_line<'a>(metrics: &'a str, family: &str) -> Option<&'a str> {
    let declared = metrics.lines().find(|l| {
        let mut parts = l.split_whitespace();
        if parts.next() != Some("#") || parts.next() != Some("TYPE") {
            return false;
        }
        let (name, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        name == family || (kind == "counter" && family.strip_suffix("_total") == Some(name))
    });
    declared.or_else(|| metrics.lines().find(|l| sample(l).is_some_and(|(n, _, _)| n == family)))
}

/// `observability.families`: one verdict per family the policy names.
pub fn family_verdicts(metrics: std::result::Result<&str, &str>, families: &[String], source: &str) -> Vec<Verdict> {
    let declared: Vec<&str> = metrics
        .map(|m| {
            m.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).collect()
        })
        .unwrap_or_default();
    families
        .iter()
        .map(|f| {
            let mut v = Verdict {
                criterion: Criterion::ObservabilityFamilies,
                subject: f.clone(),
                measured: String::new(),
                budget: format!("present on {source}"),
                outcome: Outcome::judged(false),
                evidence: String::new(),
                hint: None,
            };
            match metrics {
                Err(e) => {
                    v.measured = "not read".into();
                    v.evidence = format!("fetching {source} failed: {e}");
                    v.hint = Some("the metrics endpoint could not be read from inside the stack: see the evidence".into());
                }
                Ok(m) => {
                    let found = family_line(m, f);
                    v.outcome = Outcome::judged(found.is_some());
                    v.measured = found.map_or_else(|| "absent".to_owned(), |l| format!("present (`{}`)", l.trim()));
                    v.evidence = format!(
                        "{source}: {} bytes, {} families declared: {}",
                        m.len(),
                        declared.len(),
                        if declared.is_empty() { "none".to_owned() } else { declared.join(", ") }
                    );
                    if !v.passed() {
                        v.hint = Some(format!("the service does not expose {f}: register it in the service's metrics registry, or fix the name in acceptance.toml"));
                    }
                }
            }
            v
        })
        .collect()
}

/// `observability.targets` (waiting up to 15 s for the first scrapes) and
/// `observability.families`, both read from inside the Prometheus container.
pub async fn observability(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let obs = &cx.policy.observability;
    let mut out = Vec::new();
    if !obs.targets.is_empty() {
        match &obs.prometheus {
            None => out.extend(target_verdicts(
                Err("the policy names no [observability] prometheus service"),
                &obs.targets,
                "prometheus",
                Duration::ZERO,
            )),
            Some(prom) => {
                let url = format!("http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/targets");
                let started = Instant::now();
                let body = loop {
                    let body = fetch_inside(cx, prom, &url).await.and_then(|t| {
                        serde_json::from_str::<Value>(&t).map_err(|e| format!("{url} did not answer JSON: {e}"))
                    });
                    if body.as_ref().is_ok_and(|b| all_up(b, &obs.targets)) || started.elapsed() >= SCRAPE_WAIT {
                        break body;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                };
                out.extend(target_verdicts(
                    body.as_ref().map_err(String::as_str),
                    &obs.targets,
                    prom,
                    started.elapsed(),
                ));
            }
        }
    }
    if !obs.families.is_empty() {
        let (metrics, source) = match (&obs.metrics, &obs.prometheus) {
            (Some(m), Some(prom)) => {
                let url = format!("http://{}:{}{}", m.service, m.port, obs.metrics_path);
                (fetch_inside(cx, prom, &url).await, format!("{url} fetched inside {prom}"))
            }
            (None, _) => {
                (Err("the policy names no [observability] metrics endpoint".to_owned()), "(no endpoint)".to_owned())
            }
            (Some(m), None) => (
                Err("the policy names no prometheus service to fetch it from inside the stack".to_owned()),
                format!("{m}{}", obs.metrics_path),
            ),
        };
        out.extend(family_verdicts(metrics.as_deref().map_err(String::as_str), &obs.families, &source));
    }
    Ok(out)
}

/// `availability.steady`: the `[availability]` load through the gateway's published port,
/// judged on the share of requests answered 2xx/3xx and the p99 latency. One verdict, about
/// the gateway; nothing when the policy has no `[availability]`.
pub async fn availability(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    Ok(availability_run(cx).await?.0)
}

/// [`availability`], with the load run for the report.
pub async fn availability_run(cx: &Context<'_>) -> Result<(Vec<Verdict>, Option<crate::load::LoadRun>)> {
    let (Some(a), Some(gw)) = (&cx.policy.availability, &cx.policy.gateway) else { return Ok((Vec::new(), None)) };
    let unjudged = |why: String| crate::judge::change::steady_unjudged(cx.policy, &why);
    let way = match crate::judge::way_in::way_in(cx, &gw.service, gw.port).await {
        Ok(way) => way,
        Err(why) => return Ok((unjudged(why), None)),
    };
    let target = match a.target(way.base) {
        Ok(t) => t,
        Err(e) => {
            way.close().await;
            return Ok((unjudged(e.to_string()), None));
        }
    };
    let url = way.describe(&target.url());
    crate::progress::note(format!(
        "availability: {} req/s for {} to {url} through `{}`",
        a.rate,
        secs(a.duration),
        gw.service
    ));
    let samples = crate::load::run(&target, &crate::load::Plan::steady(a.rate, a.duration, a.p99)).await;
    way.close().await;
    let summary = crate::load::Summary::of(&samples?);
    let mut out = vec![steady_verdict(&gw.service, &url, a, &summary)];
    out.push(match &a.upstream {
        Some(upstream) => {
            // Listed after the load: a replica that died during it is not owed a share.
            let running: Vec<String> =
                cx.stack.running_replicas(upstream).await?.into_iter().map(|r| r.hostname).collect();
            balance_verdict(upstream, a, &running, &summary)
        }
        None => Verdict::not_judged(
            Criterion::GatewayBalance,
            &gw.service,
            format!(
                "no upstream for {}: name one with [availability] upstream, or add a [[routes]] entry for the path",
                a.path
            ),
        ),
    });
    let run = crate::load::LoadRun {
        criterion: Criterion::AvailabilitySteady.id().to_owned(),
        subject: gw.service.clone(),
        summary,
        marks: Vec::new(),
    };
    Ok((out, Some(run)))
}

/// `gateway.balance` from the steady load's answers per replica (the `x-replica` header)
/// and the upstream's running replicas, by hostname (pure, tested without Docker).
pub fn balance_verdict(
    upstream: &str,
    a: &crate::policy::Availability,
    running: &[String],
    s: &crate::load::Summary,
) -> Verdict {
    let tagged: u64 = s.replicas.values().sum();
    if tagged == 0 {
        return Verdict::not_judged(
            Criterion::GatewayBalance,
            upstream,
            format!(
                "no answer of {} carried an `{}` header, so the harness cannot tell `{upstream}`'s replicas apart (hint: have the upstream send its hostname in it, and the gateway pass it on)",
                s.requests,
                crate::load::REPLICA_HEADER
            ),
        );
    }
    let counts: Vec<(String, u64)> =
        running.iter().map(|h| (h.clone(), s.replicas.get(h).copied().unwrap_or(0))).collect();
    // An even share of what the running replicas answered: one that answered and is gone
    // (killed, replaced) is shown in the evidence but owed nothing.
    let even = (counts.iter().map(|(_, c)| *c).sum::<u64>() as f64 / running.len().max(1) as f64).max(1.0);
    let worst = counts.iter().map(|(_, c)| ((*c as f64 - even).abs() / even) * 100.0).fold(0.0_f64, f64::max);
    let silent: Vec<&str> = counts.iter().filter(|(_, c)| *c == 0).map(|(h, _)| h.as_str()).collect();
    let enough = running.len() >= a.replicas as usize;
    let passed = enough && silent.is_empty() && worst <= a.balance;
    let spread: Vec<String> = counts.iter().map(|(h, c)| format!("{h} {c}")).collect();
    let others: Vec<String> = s
        .replicas
        .iter()
        .filter(|(h, _)| !running.contains(h))
        .map(|(h, c)| format!("{h} {c} (not running now)"))
        .collect();
    let hint = if passed {
        None
    } else if !enough {
        Some(format!(
            "`{upstream}` runs {} replica(s): give it `deploy: {{replicas: {}}}` (or more) so one can fail or be replaced while another answers",
            running.len(),
            a.replicas
        ))
    } else if !silent.is_empty() {
        Some(format!(
            "replicas {} got no request: the gateway resolved `{upstream}` once at startup (a fixed `proxy_pass` address); resolve it per request (nginx: `resolver 127.0.0.11 valid=1s` and a variable in `proxy_pass`)",
            silent.join(", ")
        ))
    } else {
        Some("the spread is uneven: check the gateway's balancing method (sticky sessions, weights, a keepalive pool pinned to one address)".to_owned())
    };
    Verdict {
        criterion: Criterion::GatewayBalance,
        subject: upstream.to_owned(),
        measured: format!("{} replica(s), at most {worst:.1}% from an even share", running.len()),
        budget: format!("at least {} replica(s), each within {}% of an even share", a.replicas, a.balance),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "{tagged} of {} answers named their replica: {}{}",
            s.requests,
            spread.join(", "),
            if others.is_empty() { String::new() } else { format!("; also {}", others.join(", ")) }
        ),
        hint,
    }
}

/// The `availability.steady` verdict from a load run's summary (pure, tested without Docker).
pub fn steady_verdict(gateway: &str, url: &str, a: &crate::policy::Availability, s: &crate::load::Summary) -> Verdict {
    let p99_budget = a.p99.as_secs_f64() * 1000.0;
    // Closed-loop workers (rate × p99 budget of them) fall behind only when answers are
    // slower than the budget: the stack did not carry the rate, and a short run must not
    // look like a full one.
    let planned = (f64::from(a.rate) * a.duration.as_secs_f64()).round() as u64;
    let carried = s.requests * 10 >= planned * 9;
    let enough = s.requests > 0 && s.success_percent() >= a.success;
    let fast = s.p99_ms <= p99_budget && carried;
    let hint = match (enough, fast) {
        (true, true) => None,
        (false, _) if s.requests == 0 => {
            Some("no request was sent: is the gateway's port reachable on 127.0.0.1?".to_owned())
        }
        (false, _) => Some(format!(
            "{:.2}% of requests failed at {} req/s: read the gateway's and its upstream's logs for the seconds of the error burst (docker compose logs); a rate limit, too few workers or connections, or an upstream that restarts sheds load",
            100.0 - s.success_percent(),
            a.rate
        )),
        (true, false) if !carried => Some(format!(
            "the stack carried {:.0} req/s of the {} asked for: answers were slower than the p99 budget allows; profile the upstream of {} under load",
            s.requests as f64 / a.duration.as_secs_f64(),
            a.rate,
            a.path
        )),
        (true, false) => Some(format!(
            "p99 {:.1}ms under {} req/s: profile the upstream of {} under load (slow queries, a small connection pool), or raise the budget if the document allows it",
            s.p99_ms, a.rate, a.path
        )),
    };
    let short = if !carried {
        format!("; sent {} of {planned} planned: answers came slower than the rate allows", s.requests)
    } else {
        String::new()
    };
    Verdict {
        criterion: Criterion::AvailabilitySteady,
        subject: gateway.to_owned(),
        measured: format!("{:.2}% ok, p99 {:.1}ms", s.success_percent(), s.p99_ms),
        budget: format!(
            "at least {}% ok and p99 at most {:.0}ms, at {} req/s for {}",
            a.success,
            p99_budget,
            a.rate,
            secs(a.duration)
        ),
        outcome: Outcome::judged(enough && fast),
        evidence: format!("GET {url} through `{gateway}`: {}{short}", s.describe()),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::judge::network::{NetworkInfo, NetworkProbe, ServiceAddrs, parse_lines, plan};
    use crate::policy::NetworkPolicy;

    const METRICS: &str = r#"# HELP http_requests Requests handled.
# TYPE http_requests counter
http_requests_total{method="GET",path="/health",status="200"} 41
http_requests_total{method="GET",path="/api/v1/notes/{id}",status="200"} 2
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",path="/health",le="0.005"} 41
untyped_thing 3
# EOF
"#;

    /// A sample as the tests spell it: name, labels, value.
    type Sample<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    #[track_caller]
    fn check_sample(line: &str, expected: Option<Sample<'_>>) {
        let got = sample(line).map(|(n, l, v)| (n.to_owned(), l, v));
        let want = expected.map(|(n, l, v)| {
            (n.to_owned(), l.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(), v)
        });
        assert_eq!(got, want, "{line}");
    }

    #[test]
    fn reads_sample_lines() {
        check_sample("up 1", Some(("up", &[], 1.0)));
        check_sample(
            r#"x_total{a="1",b="two words"} 3 1700000000"#,
            Some(("x_total", &[("a", "1"), ("b", "two words")], 3.0)),
        );
        check_sample(r#"x{p="/a/{id}",q="c\"}d,e"} 2.5"#, Some(("x", &[("p", "/a/{id}"), ("q", "c\"}d,e")], 2.5)));
        check_sample("# TYPE x counter", None);
        check_sample("", None);
        check_sample("x{broken 1", None);
        check_sample("x notanumber", None);
    }

    #[track_caller]
    fn check_path(template: &str, path: &str, expected: bool) {
        assert_eq!(path_matches(template, path), expected, "{template} vs {path}");
    }

    #[test]
    fn matches_route_templates() {
        check_path("/api/v1/notes", "/api/v1/notes", true);
        check_path("/api/v1/notes", "/api/v1/notes?limit=5", true);
        check_path("/api/v1/notes/{id}", "/api/v1/notes/42", true);
        check_path("/api/v1/notes/{id}", "/api/v1/notes/", false);
        check_path("/api/v1/notes/{id}", "/api/v1/notes", false);
        check_path("/api/v1/notes", "/api/v1/other", false);
        check_path("unmatched", "/api/v1/missing", false);
    }

    #[test]
    fn counts_the_series_of_the_requested_path() {
        let after = METRICS
            .replace(r#"path="/health",status="200"} 41"#, r#"path="/health",status="200"} 43"#)
            .replace(r#"{id}",status="200"} 2"#, r#"{id}",status="200"} 3"#);
        let (hit, other) = request_delta(METRICS, &after, "/api/v1/notes/7");
        assert_eq!(hit, [r#"http_requests_total{method="GET",path="/api/v1/notes/{id}",status="200"} +1"#]);
        assert_eq!(other, [r#"http_requests_total{method="GET",path="/health",status="200"} +2"#]);
        // A series that appears for the first time counts from zero.
        let new = format!("{METRICS}http_requests_total{{method=\"GET\",path=\"/api/v1/notes\",status=\"200\"}} 1\n");
        assert_eq!(request_delta(METRICS, &new, "/api/v1/notes").0.len(), 1);
        assert_eq!(request_delta(METRICS, METRICS, "/api/v1/notes"), (vec![], vec![]));
    }

    fn route(path: &str, status: u16) -> Route {
        Route { path: path.into(), upstream: "api".into(), status }
    }

    fn answer(status: u16, body: &str) -> std::result::Result<Answer, String> {
        Ok(Answer { status, headers: vec!["content-type: application/json".into()], body: body.into() })
    }

    fn counted(hit: &[&str]) -> Proof {
        Proof::Counted {
            hit: hit.iter().map(|s| (*s).to_owned()).collect(),
            other: vec!["http_requests_total{path=\"/health\"} +1".into()],
            source: "http://api:8080/metrics fetched inside prometheus".into(),
        }
    }

    #[track_caller]
    fn check_route(r: Route, a: std::result::Result<Answer, String>, proof: Proof, passed: bool, fragments: &[&str]) {
        let v = route_verdict(&r, "http://127.0.0.1:1234/x", a, &proof);
        assert_eq!((v.criterion.id(), v.subject.as_str()), ("gateway.route", r.path.as_str()));
        assert_eq!(v.passed(), passed, "{}\n{}", v.line(), v.evidence);
        let all = format!("{} | {}", v.evidence, v.hint.clone().unwrap_or_default());
        for f in fragments {
            assert!(all.contains(f), "missing `{f}` in:\n{all}");
        }
    }

    #[test]
    fn judges_routes_on_status_and_upstream_counter() {
        let long = "x".repeat(500);
        check_route(
            route("/api/v1/notes", 200),
            answer(200, "[]"),
            counted(&["http_requests_total{path=\"/api/v1/notes\"} +1"]),
            true,
            &[
                "GET http://127.0.0.1:1234/x: 200",
                "content-type: application/json",
                "body (2 bytes): \"[]\"",
                "api counted it: http_requests_total{path=\"/api/v1/notes\"} +1 (from http://api:8080/metrics",
            ],
        );
        check_route(
            route("/api/v1/notes", 200),
            answer(200, &long),
            Proof::Unavailable("no metrics endpoint".into()),
            true,
            &["body (500 bytes)", "upstream counter: not read (no metrics endpoint)"],
        );
        check_route(
            route("/api/v1/missing", 200),
            answer(404, ""),
            counted(&[]),
            false,
            &["the gateway answered 404 where 200 was expected: check its route for /api/v1/missing to api"],
        );
        // A 200 the upstream never counted: served by the gateway itself.
        check_route(
            route("/static", 200),
            answer(200, "hi"),
            counted(&[]),
            false,
            &[
                "api counted it: no (no http_requests_total series for this path grew; others grew:",
                "the answer did not come from api",
            ],
        );
        // An expected 404 need not reach the upstream.
        check_route(route("/nope", 404), answer(404, ""), counted(&[]), true, &["api counted it: no"]);
        check_route(
            route("/api/v1/notes", 200),
            Err("request failed: connection refused".into()),
            Proof::Unavailable("x".into()),
            false,
            &["GET http://127.0.0.1:1234/x: request failed: connection refused", "the gateway did not answer"],
        );
    }

    fn targets_body(health: &str) -> Value {
        json!({"status": "success", "data": {"activeTargets": [{
            "labels": {"instance": "api:8080", "job": "api"}, "scrapeUrl": "http://api:8080/metrics",
            "health": health, "lastError": if health == "up" { "" } else { "connection refused" },
            "lastScrape": "2024-01-01T00:00:00Z", "lastScrapeDuration": 0.002
        }], "droppedTargets": []}})
    }

    #[track_caller]
    fn check_target(
        body: std::result::Result<&Value, &str>,
        wanted: &str,
        passed: bool,
        measured: &str,
        fragment: &str,
    ) {
        let v = target_verdicts(body, &[wanted.to_owned()], "prometheus", Duration::from_secs(3));
        let v = &v[0];
        assert_eq!(
            (v.criterion.id(), v.subject.as_str(), v.passed(), v.measured.as_str()),
            ("observability.targets", wanted, passed, measured),
            "{}",
            v.evidence
        );
        let all = format!("{} | {}", v.evidence, v.hint.clone().unwrap_or_default());
        assert!(all.contains(fragment), "missing `{fragment}` in:\n{all}");
    }

    #[test]
    fn judges_prometheus_targets() {
        check_target(Ok(&targets_body("up")), "api", true, "up", "job=api scrapeUrl=http://api:8080/metrics health=up");
        check_target(Ok(&targets_body("down")), "api", false, "down", "lastError=\"connection refused\"");
        check_target(Ok(&targets_body("unknown")), "api", false, "unknown", "cannot scrape api");
        check_target(
            Ok(&targets_body("up")),
            "redis",
            false,
            "not scraped",
            "no target for redis; active targets: http://api:8080/metrics",
        );
        check_target(Err("wget: not found"), "api", false, "not read", "after 3.000s: wget: not found");
        // Matching by instance host when the job is named otherwise.
        let mut body = targets_body("up");
        body["data"]["activeTargets"][0]["labels"]["job"] = json!("app");
        check_target(Ok(&body), "api", true, "up", "job=app");
        assert!(all_up(&targets_body("up"), &["api".into()]));
        assert!(!all_up(&targets_body("unknown"), &["api".into()]));
    }

    #[track_caller]
    fn check_family(family: &str, expected: Option<&str>) {
        assert_eq!(family_line(METRICS, family), expected, "{family}");
    }

    #[test]
    fn finds_families_by_type_line_openmetrics_counter_or_sample() {
        check_family("http_requests_total", Some("# TYPE http_requests counter"));
        check_family("http_requests", Some("# TYPE http_requests counter"));
        check_family("http_request_duration_seconds", Some("# TYPE http_request_duration_seconds histogram"));
        check_family("untyped_thing", Some("untyped_thing 3"));
        check_family("http_request_duration_seconds_total", None);
        check_family("nonexistent_family", None);
    }

    #[test]
    fn one_family_verdict_each() {
        let fams = ["http_requests_total".to_owned(), "no_such_family".to_owned()];
        let v = family_verdicts(Ok(METRICS), &fams, "http://api:8080/metrics");
        assert_eq!(
            v.iter().map(|v| (v.subject.as_str(), v.passed())).collect::<Vec<_>>(),
            [("http_requests_total", true), ("no_such_family", false)]
        );
        assert_eq!(v[0].measured, "present (`# TYPE http_requests counter`)");
        assert!(
            v[1].evidence.contains("2 families declared: http_requests, http_request_duration_seconds"),
            "{}",
            v[1].evidence
        );
        assert!(v[1].hint.as_deref().is_some_and(|h| h.contains("does not expose no_such_family")));
        let e = family_verdicts(Err("exited with 1"), &fams, "x");
        assert!(e.iter().all(|v| !v.passed() && v.measured == "not read"));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn matrix(name_outcome: &str, resolved_to: &str) -> Matrix {
        let info = NetworkInfo {
            key: "backend".into(),
            engine_name: "hx1_backend".into(),
            internal: true,
            gateway: Some(ip("10.0.2.1")),
            members: vec!["api".into(), "gateway".into()],
        };
        let services = vec![
            ServiceAddrs {
                service: "api".into(),
                addresses: vec![("backend".into(), ip("10.0.2.3"))],
                ports: [8080].into(),
            },
            ServiceAddrs {
                service: "postgres".into(),
                addresses: vec![("data".into(), ip("10.0.3.4"))],
                ports: [5432].into(),
            },
        ];
        let planned = plan(&info, &services, None, None);
        let text: Vec<String> = planned
            .iter()
            .map(|p| {
                let (resolved, connected, error) = match (p.wire.as_str(), name_outcome) {
                    ("api:8080", "connected") => (true, true, None),
                    ("api:8080", "nxdomain") => (false, false, Some("name resolution failed: name or service not known")),
                    ("api:8080", "refused") => (true, false, Some("connection refused")),
                    _ => (true, false, Some("timed out")),
                };
                let addr = if p.wire == "api:8080" { resolved_to } else { p.wire.as_str() };
                json!({"target": p.wire, "resolved": resolved, "connected": connected, "ms": 1, "error": error, "addr": resolved.then_some(addr)}).to_string()
            })
            .collect();
        let probe = NetworkProbe {
            info,
            planned,
            lines: parse_lines(&text.join("\n")),
            took: Duration::from_millis(900),
            host_accepted: vec![],
        };
        Matrix { networks: vec![probe], unprobed: vec![], services, sink_error: None }
    }

    fn reach_policy(reach: &[(&str, u16)], network: &str) -> Policy {
        Policy {
            networks: BTreeMap::from([(
                network.to_owned(),
                NetworkPolicy {
                    reach: reach.iter().map(|(s, p)| Target { service: (*s).into(), port: *p }).collect(),
                    egress: None,
                },
            )]),
            ..Policy::harness_defaults(PathBuf::from("acceptance.toml"), &[])
        }
    }

    #[track_caller]
    fn check_discovery(m: &Matrix, reach: &[(&str, u16)], network: &str, passed: bool, measured: &str, fragment: &str) {
        let v = discovery_verdicts(m, &reach_policy(reach, network));
        assert_eq!(v.len(), 1);
        let v = &v[0];
        assert_eq!(
            (v.criterion.id(), v.passed(), v.measured.as_str()),
            ("discovery.name", passed, measured),
            "{}",
            v.evidence
        );
        let all = format!("{} | {}", v.evidence, v.hint.clone().unwrap_or_default());
        assert!(all.contains(fragment), "missing `{fragment}` in:\n{all}");
    }

    #[test]
    fn judges_discovery_by_name() {
        let ok = matrix("connected", "10.0.2.3:8080");
        check_discovery(
            &ok,
            &[("api", 8080)],
            "backend",
            true,
            "resolved to 10.0.2.3:8080, connected",
            "probe on hx1_backend tried api:8080: connected in 1 ms (connect timeout 1000 ms); api's address on backend: 10.0.2.3",
        );
        check_discovery(
            &matrix("nxdomain", ""),
            &[("api", 8080)],
            "backend",
            false,
            "unresolved (name resolution failed: name or service not known)",
            "api does not resolve on backend",
        );
        check_discovery(
            &matrix("refused", "10.0.2.3:8080"),
            &[("api", 8080)],
            "backend",
            false,
            "resolved to 10.0.2.3:8080, refused",
            "port 8080 does not answer",
        );
        check_discovery(
            &matrix("connected", "10.0.2.99:8080"),
            &[("api", 8080)],
            "backend",
            false,
            "resolved to 10.0.2.99:8080, connected",
            "not api's on backend",
        );
        check_discovery(
            &ok,
            &[("postgres", 5432)],
            "backend",
            false,
            "not looked up",
            "postgres is not on network backend (members: api, gateway)",
        );
        check_discovery(&ok, &[("api", 8080)], "data", false, "not probed", "network data was not probed");
        let v = discovery_verdicts(&ok, &reach_policy(&[("api", 8080)], "backend"));
        assert_eq!(v[0].subject, "api:8080 from backend");
    }

    fn availability() -> crate::policy::Availability {
        crate::policy::Availability {
            path: "/api/v1/notes".into(),
            status: Some(200),
            rate: 50,
            duration: Duration::from_secs(5),
            success: 99.9,
            p99: Duration::from_millis(500),
            upstream: Some("api".into()),
            replicas: 2,
            balance: 25.0,
            burst: Duration::from_secs(1),
            dependencies: None,
            reconnect: Duration::from_secs(5),
            scale_to: 3,
        }
    }

    #[track_caller]
    fn check_balance(running: &[&str], answered: &[(&str, u64)], outcome: &str, measured: &str, fragment: &str) {
        let mut s = summary(250, 250, 3.0, &[("200", 250)]);
        s.replicas = answered.iter().map(|(h, n)| ((*h).to_owned(), *n)).collect();
        let running: Vec<String> = running.iter().map(|h| (*h).to_owned()).collect();
        let v = balance_verdict("api", &availability(), &running, &s);
        assert_eq!((v.outcome.word(), v.measured.as_str()), (outcome, measured), "{v:?}");
        let text = format!("{} {}", v.evidence, v.hint.clone().unwrap_or_default());
        assert!(text.contains(fragment), "{fragment:?} not in {text}");
    }

    #[test]
    fn balance_needs_every_replica_answering_near_an_even_share() {
        check_balance(
            &["a", "b"],
            &[("a", 126), ("b", 124)],
            "PASS",
            "2 replica(s), at most 0.8% from an even share",
            "a 126, b 124",
        );
        // 60/40 is 20% from even: inside 25%; 70/30 is 40%: outside.
        check_balance(
            &["a", "b"],
            &[("a", 150), ("b", 100)],
            "PASS",
            "2 replica(s), at most 20.0% from an even share",
            "b 100",
        );
        check_balance(
            &["a", "b"],
            &[("a", 175), ("b", 75)],
            "FAIL",
            "2 replica(s), at most 40.0% from an even share",
            "uneven",
        );
        // A gateway that resolved once sends everything to one replica.
        check_balance(
            &["a", "b"],
            &[("a", 250)],
            "FAIL",
            "2 replica(s), at most 100.0% from an even share",
            "resolved `api` once",
        );
        check_balance(&["a"], &[("a", 250)], "FAIL", "1 replica(s), at most 0.0% from an even share", "replicas: 2");
        // A replica that answered and is gone is shown, not owed a share.
        check_balance(
            &["a", "b"],
            &[("a", 120), ("b", 120), ("z", 10)],
            "PASS",
            "2 replica(s), at most 0.0% from an even share",
            "z 10 (not running now)",
        );
        check_balance(&["a", "b"], &[], "SKIP", "not measured", "cannot tell `api`'s replicas apart");
    }

    fn summary(requests: u64, ok: u64, p99_ms: f64, answers: &[(&str, u64)]) -> crate::load::Summary {
        crate::load::Summary {
            requests,
            ok,
            duration_s: 5.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms,
            max_ms: p99_ms * 2.0,
            longest_burst: (ok < requests).then_some((1.0, 1.5)),
            replicas: BTreeMap::new(),
            answers: answers.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            failures: answers
                .iter()
                .filter(|(k, _)| !k.parse::<u16>().is_ok_and(|c| (200..400).contains(&c)))
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect(),
            timeline: Vec::new(),
        }
    }

    #[track_caller]
    fn check_steady(s: &crate::load::Summary, passed: bool, measured: &str, fragment: &str) {
        let a = crate::policy::Availability { p99: Duration::from_millis(250), ..availability() };
        let v = steady_verdict("gateway", "http://127.0.0.1:4000/api/v1/notes", &a, s);
        assert_eq!((v.passed(), v.measured.as_str()), (passed, measured), "{v:?}");
        let text = format!("{} {}", v.evidence, v.hint.clone().unwrap_or_default());
        assert!(text.contains(fragment), "{fragment:?} not in {text}");
        assert!(v.budget.contains("at least 99.9% ok and p99 at most 250ms, at 50 req/s"), "{}", v.budget);
    }

    #[test]
    fn steady_load_is_judged_on_successes_and_p99() {
        check_steady(&summary(250, 250, 3.0, &[("200", 250)]), true, "100.00% ok, p99 3.0ms", "250 requests");
        // One failure in 250 is 99.6%: below 99.9%, and the failing answers are named.
        check_steady(&summary(250, 249, 3.0, &[("200", 249), ("503", 1)]), false, "99.60% ok, p99 3.0ms", "503 x1");
        check_steady(&summary(250, 249, 3.0, &[("200", 249), ("503", 1)]), false, "99.60% ok, p99 3.0ms", "sheds load");
        check_steady(
            &summary(250, 250, 400.0, &[("200", 250)]),
            false,
            "100.00% ok, p99 400.0ms",
            "p99 400.0ms under 50 req/s",
        );
        check_steady(&summary(0, 0, 0.0, &[]), false, "0.00% ok, p99 0.0ms", "no request was sent");
        check_steady(
            &summary(100, 100, 240.0, &[("200", 100)]),
            false,
            "100.00% ok, p99 240.0ms",
            "sent 100 of 250 planned",
        );
        check_steady(
            &summary(100, 100, 240.0, &[("200", 100)]),
            false,
            "100.00% ok, p99 240.0ms",
            "carried 20 req/s of the 50",
        );
    }
}
