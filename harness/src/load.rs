//! A bounded load generator: requests to the stack under test, at a fixed concurrency and
//! optionally a fixed rate, stopped by itself after a request count or a duration, whichever
//! comes first. At a fixed rate the arrivals are either open (each request is due at its own
//! moment whatever the earlier ones do, and its latency counts from that moment, so a stall
//! shows as the queue it causes) or paced (each worker waits for its answer before the next). Every request is recorded (when it started, its latency, its status or error
//! kind, which replica answered), and [`Summary`] reduces them to what the availability
//! criteria judge: the success ratio, latency percentiles, the longest error burst, the
//! spread over replicas and a per-second timeline.
//!
//! Targets are only ever on this machine: [`Target::loopback`] refuses any address that is
//! not a loopback one, so a policy or a bug cannot point the generator at someone else.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::errors::{Error, Result};

/// Where the load goes: a loopback address and port (a stack's published port), a path, and
/// which answer counts as success there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    addr: SocketAddr,
    path: String,
    expect: Option<u16>,
}

impl Target {
    /// A target on this machine. Any address other than a loopback one is refused, so no
    /// request ever leaves the host; `path` must start with `/`.
    pub fn loopback(addr: SocketAddr, path: &str) -> Result<Target> {
        let local = match addr.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => ip.is_loopback(),
        };
        if !local {
            return Err(Error::LoadTargetRefused {
                target: addr.to_string(),
                why: "it is not a loopback address; load goes only to the stack's ports published on 127.0.0.1".into(),
            });
        }
        if !path.starts_with('/') {
            return Err(Error::LoadTargetRefused {
                target: format!("{addr}{path}"),
                why: "the path must start with `/`".into(),
            });
        }
        Ok(Target { addr, path: path.to_owned(), expect: None })
    }

    /// Only `status` counts as success (the status a policy's route declares for the path: a
    /// 301 where a 200 is declared is a wrong answer, not a good one); `None`: any 2xx or 3xx.
    pub fn expecting(self, status: Option<u16>) -> Target {
        Target { expect: status, ..self }
    }

    /// Whether `answer` is a success at this target.
    pub fn success(&self, answer: &Answer) -> bool {
        match (self.expect, answer) {
            (Some(want), Answer::Status(got)) => want == *got,
            _ => answer.ok(),
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }
}

/// How much load, and when to stop. Both bounds always apply: the run ends at whichever of
/// `max_requests` and `max_duration` comes first.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests per second over all workers; `None` sends as fast as answers come.
    pub rate: Option<u32>,
    /// With a rate: open arrivals. Request `i` is due at `i / rate` from the start, whatever
    /// the answers before it do; at most `concurrency` are in flight, a due request waits for
    /// a free slot, and its latency counts from when it was due. A paced generator (`false`)
    /// sends less while the stack stalls and times only what it sent, which hides the stall
    /// from the percentiles (coordinated omission); an open one records the queue.
    pub open: bool,
    /// No more than this many requests in all.
    pub max_requests: u64,
    /// No request starts after this.
    pub max_duration: Duration,
    /// One request's timeout: a request that takes longer is an error of kind `timeout`.
    pub timeout: Duration,
    /// The response header naming the replica that answered, if the stack sets one.
    pub replica_header: Option<String>,
    /// Set to end the run early (no request starts after it is set): a change under load
    /// stops the load a little after the change is done, not at `max_duration`.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Plan {
    /// `rate` requests per second for `duration`, with enough workers that the rate holds
    /// while answers take up to `latency` (rate × latency in flight, at least 2, at most 64),
    /// and a request timeout of twice `latency`.
    pub fn steady(rate: u32, duration: Duration, latency: Duration) -> Plan {
        Plan {
            concurrency: ((f64::from(rate) * latency.as_secs_f64()).ceil() as usize + 1).clamp(2, 64),
            rate: Some(rate),
            open: true,
            max_requests: u64::from(rate) * duration.as_secs().max(1) + u64::from(rate),
            max_duration: duration,
            // Twice the latency budget (at least 2 s): a slow answer is judged by p99, and
            // only one that never comes is an error.
            timeout: (latency * 2).max(Duration::from_secs(2)),
            replica_header: Some(REPLICA_HEADER.to_owned()),
            stop: None,
        }
    }

    /// The same plan, ended early when `stop` is set.
    pub fn stopped_by(self, stop: Arc<AtomicBool>) -> Plan {
        Plan { stop: Some(stop), ..self }
    }
}

/// The header the reference app sets to its container's hostname, and nginx passes through.
pub const REPLICA_HEADER: &str = "x-replica";

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// No status: `timeout`, `connect`, `body` or `request`.
    Error(&'static str),
}

impl Answer {
    /// A 2xx or 3xx status.
    pub fn ok(&self) -> bool {
        matches!(self, Answer::Status(s) if (200..400).contains(s))
    }
}

/// One request as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When it started, from the start of the run.
    pub at: Duration,
    /// How long until its answer (or error).
    pub latency: Duration,
    /// How it ended.
    pub answer: Answer,
    /// Which replica answered, from [`Plan::replica_header`].
    pub replica: Option<String>,
    /// Whether the answer is a success at the target ([`Target::success`]).
    pub ok: bool,
}

/// Sends the load and records every request. Never runs past `plan.max_duration` plus one
/// request timeout, and never sends more than `plan.max_requests`.
pub async fn run(target: &Target, plan: &Plan) -> Result<Vec<Sample>> {
    let client = reqwest::Client::builder()
        .timeout(plan.timeout)
        .pool_max_idle_per_host(plan.concurrency)
        // The target is on this machine: a proxy from the environment must not be asked.
        .no_proxy()
        .build()
        .map_err(|e| Error::LoadTargetRefused { target: target.url(), why: format!("no HTTP client: {e}") })?;
    if let (true, Some(rate)) = (plan.open, plan.rate) {
        return Ok(run_open(client, target, plan, rate).await);
    }
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let workers = plan.concurrency.max(1);
    // Each worker paces itself at its share of the rate, offset so the workers interleave.
    let gap = plan.rate.map(|r| Duration::from_secs_f64(workers as f64 / f64::from(r.max(1))));
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let (client, sent, target) = (client.clone(), sent.clone(), target.clone());
        let (plan, header) = (plan.clone(), plan.replica_header.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut next = gap.map(|g| started + g.mul_f64(w as f64 / workers as f64));
            loop {
                if let Some(at) = next {
                    tokio::time::sleep_until(at.into()).await;
                }
                let at = started.elapsed();
                if at >= plan.max_duration
                    || plan.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
                    || sent.fetch_add(1, Ordering::Relaxed) >= plan.max_requests
                {
                    break;
                }
                let t = Instant::now();
                out.push(request(&client, &target, header.as_deref(), at, t).await);
                if let (Some(n), Some(g)) = (next.as_mut(), gap) {
                    *n += g;
                    // Behind schedule (a slow answer): start again now rather than burst to
                    // catch up, so the rate never exceeds the plan.
                    let now = Instant::now();
                    if *n < now {
                        *n = now;
                    }
                }
            }
            out
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap_or_default());
    }
    samples.sort_by_key(|s| s.at);
    Ok(samples)
}

/// One request to `target`, timed from `since` (when it was sent, or when it was due).
async fn request(
    client: &reqwest::Client,
    target: &Target,
    header: Option<&str>,
    at: Duration,
    since: Instant,
) -> Sample {
    let (answer, replica) = match client.get(target.url()).send().await {
        Ok(resp) => {
            let replica = header.and_then(|h| resp.headers().get(h)).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(_) => (Answer::Status(status), replica),
                Err(e) if e.is_timeout() => (Answer::Error("timeout"), replica),
                Err(_) => (Answer::Error("body"), replica),
            }
        }
        Err(e) if e.is_timeout() => (Answer::Error("timeout"), None),
        Err(e) if e.is_connect() => (Answer::Error("connect"), None),
        Err(_) => (Answer::Error("request"), None),
    };
    let ok = target.success(&answer);
    Sample { at, latency: since.elapsed(), answer, replica, ok }
}

/// Open arrivals ([`Plan::open`]): one dispatcher starts each request when it is due (or,
/// with every slot busy, as soon as one frees), and each is timed from when it was due.
async fn run_open(client: reqwest::Client, target: &Target, plan: &Plan, rate: u32) -> Vec<Sample> {
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let slots = Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1)));
    let stopped = || plan.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    let mut flying = tokio::task::JoinSet::new();
    for i in 0..plan.max_requests {
        let at = gap.mul_f64(i as f64);
        if at >= plan.max_duration || stopped() {
            break;
        }
        let due = started + at;
        tokio::time::sleep_until(due.into()).await;
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        // A stall can hold the dispatcher here past the end: nothing starts after it.
        if started.elapsed() >= plan.max_duration || stopped() {
            break;
        }
        let (client, target, header) = (client.clone(), target.clone(), plan.replica_header.clone());
        flying.spawn(async move {
            let sample = request(&client, &target, header.as_deref(), at, due).await;
            drop(slot);
            sample
        });
    }
    let mut samples: Vec<Sample> = flying.join_all().await;
    samples.sort_by_key(|s| s.at);
    samples
}

/// One load run as the report shows it: which verdict it was for, what it amounted to, and
/// the moments the harness changed the stack during it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadRun {
    /// The criterion id the run was judged for (`availability.rolling_update`).
    pub criterion: String,
    /// The verdict's subject.
    pub subject: String,
    /// What the requests saw.
    pub summary: Summary,
    /// What the harness did when, in seconds from the run's start (`SIGKILL api b5d1...`).
    pub marks: Vec<(f64, String)>,
}

/// What a run amounted to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with success: the status the target expects, else any 2xx or 3xx.
    pub ok: u64,
    /// The run's length, from the first request's start to the last one's answer, in seconds.
    pub duration_s: f64,
    /// Latency percentiles over every request, in milliseconds: p50, p95, p99, max.
    pub p50_ms: f64,
    /// 95th percentile latency, in milliseconds.
    pub p95_ms: f64,
    /// 99th percentile latency, in milliseconds.
    pub p99_ms: f64,
    /// The slowest request, in milliseconds.
    pub max_ms: f64,
    /// The longest run of consecutive failed requests (in start order), as the window from
    /// its first failure's start to its last failure's answer, in seconds from the start;
    /// `None` when nothing failed.
    pub longest_burst: Option<(f64, f64)>,
    /// Requests per answering replica (requests with no replica header are not counted).
    pub replicas: BTreeMap<String, u64>,
    /// How the requests ended, by answer: `200`, `502`, `timeout`...
    pub answers: BTreeMap<String, u64>,
    /// The failed requests among them, by answer (a `200` fails where a route declares `404`).
    #[serde(default)]
    pub failures: BTreeMap<String, u64>,
    /// Per whole second from the start: (successes, failures).
    pub timeline: Vec<(u64, u64)>,
}

impl Summary {
    /// Reduces samples (in start order, as [`run`] returns them).
    pub fn of(samples: &[Sample]) -> Summary {
        let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("static histogram bounds are valid");
        let mut replicas = BTreeMap::new();
        let mut answers = BTreeMap::new();
        let mut failures = BTreeMap::new();
        let mut timeline: Vec<(u64, u64)> = Vec::new();
        let (mut burst, mut longest): (Option<(Duration, Duration, usize)>, Option<(Duration, Duration, usize)>) =
            (None, None);
        let mut end = Duration::ZERO;
        for s in samples {
            hist.saturating_record(s.latency.as_micros().max(1) as u64);
            end = end.max(s.at + s.latency);
            if let Some(r) = &s.replica {
                *replicas.entry(r.clone()).or_insert(0) += 1;
            }
            let word = match &s.answer {
                Answer::Status(code) => code.to_string(),
                Answer::Error(kind) => (*kind).to_owned(),
            };
            if !s.ok {
                *failures.entry(word.clone()).or_insert(0) += 1;
            }
            *answers.entry(word).or_insert(0) += 1;
            let second = s.at.as_secs() as usize;
            if timeline.len() <= second {
                timeline.resize(second + 1, (0, 0));
            }
            if s.ok {
                timeline[second].0 += 1;
                burst = None;
            } else {
                timeline[second].1 += 1;
                let b = burst.get_or_insert((s.at, s.at + s.latency, 0));
                b.1 = b.1.max(s.at + s.latency);
                b.2 += 1;
                if longest.is_none_or(|l| b.1 - b.0 > l.1 - l.0) {
                    longest = Some(*b);
                }
            }
        }
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            requests: samples.len() as u64,
            ok: samples.iter().filter(|s| s.ok).count() as u64,
            duration_s: end.as_secs_f64(),
            p50_ms: if samples.is_empty() { 0.0 } else { ms(0.50) },
            p95_ms: if samples.is_empty() { 0.0 } else { ms(0.95) },
            p99_ms: if samples.is_empty() { 0.0 } else { ms(0.99) },
            // Exact, not the histogram's bucket (3 significant digits).
            max_ms: samples.iter().map(|s| s.latency).max().unwrap_or_default().as_secs_f64() * 1000.0,
            longest_burst: longest.map(|(a, b, _)| (a.as_secs_f64(), b.as_secs_f64())),
            replicas,
            answers,
            failures,
            timeline,
        }
    }

    /// The share of requests that succeeded, in percent; 0 when nothing was sent.
    pub fn success_percent(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.ok as f64 * 100.0 / self.requests as f64 }
    }

    /// The longest error burst's length in seconds (0 when nothing failed).
    pub fn burst_s(&self) -> f64 {
        self.longest_burst.map_or(0.0, |(a, b)| b - a)
    }

    /// The longest error burst for a report: `0.100s at 2.5s`, or `none`.
    pub fn burst_text(&self) -> String {
        self.longest_burst.map_or_else(|| "none".to_owned(), |(a, b)| format!("{:.3}s at {a:.1}s", b - a))
    }

    /// Answers per replica for a report (`ae73c2660c22 149, b5d1... 150`); `None` when no
    /// answer named its replica.
    pub fn spread(&self) -> Option<String> {
        let parts: Vec<String> = self.replicas.iter().map(|(r, n)| format!("{r} {n}")).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// One line for evidence: `2000 requests in 10.0s: 99.95% ok, p50 1.2ms p95 ... ; 502 x1`.
    pub fn describe(&self) -> String {
        let failures: Vec<String> = self.failures.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        let mut out = format!(
            "{} requests in {:.1}s: {:.2}% ok, p50 {:.1}ms p95 {:.1}ms p99 {:.1}ms max {:.1}ms",
            self.requests,
            self.duration_s,
            self.success_percent(),
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms
        );
        if !failures.is_empty() {
            out.push_str(&format!("; failures: {}", failures.join(", ")));
        }
        if let Some((a, b)) = self.longest_burst {
            out.push_str(&format!("; longest error burst {:.3}s (at {a:.1}s-{b:.1}s)", b - a));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_ms: u64, answer: Answer, replica: Option<&str>) -> Sample {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            ok: answer.ok(),
            answer,
            replica: replica.map(str::to_owned),
        }
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in ["127.0.0.1:8080", "127.0.0.2:80", "[::1]:8080"] {
            assert!(Target::loopback(ok.parse().expect("addr"), "/").is_ok(), "{ok}");
        }
        for refused in ["10.0.0.1:80", "192.168.1.1:80", "8.8.8.8:53", "0.0.0.0:80", "[::]:80", "172.17.0.2:8080"] {
            let e = Target::loopback(refused.parse().expect("addr"), "/").expect_err(refused).to_string();
            assert!(e.contains(refused) && e.contains("loopback"), "{e}");
        }
        assert!(Target::loopback("127.0.0.1:80".parse().expect("addr"), "health").is_err());
    }

    #[test]
    fn summary_counts_percentiles_bursts_and_replicas() {
        let samples = vec![
            sample(0, 1, Answer::Status(200), Some("a")),
            sample(100, 2, Answer::Status(200), Some("b")),
            sample(1000, 5, Answer::Status(502), None),
            sample(1100, 5, Answer::Error("connect"), None),
            sample(1200, 50, Answer::Error("timeout"), None),
            sample(1300, 3, Answer::Status(200), Some("a")),
            sample(2500, 4, Answer::Status(503), None),
            sample(2600, 1, Answer::Status(301), Some("b")),
        ];
        let s = Summary::of(&samples);
        assert_eq!((s.requests, s.ok), (8, 4));
        assert_eq!(s.success_percent(), 50.0);
        // The three failures from 1.000 s to 1.250 s (the timeout's answer) are the longest.
        assert_eq!(s.longest_burst, Some((1.0, 1.25)));
        assert_eq!(s.replicas, BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 2)]));
        assert_eq!(s.timeline, vec![(2, 0), (1, 3), (1, 1)]);
        assert_eq!(s.max_ms, 50.0);
        assert!(s.p50_ms >= 2.9 && s.p50_ms <= 4.01, "{}", s.p50_ms);
        let line = s.describe();
        assert!(line.contains("8 requests") && line.contains("50.00% ok"), "{line}");
        assert!(line.contains("502 x1") && line.contains("timeout x1") && !line.contains("200 x"), "{line}");
        assert!(line.contains("longest error burst 0.250s"), "{line}");
    }

    #[test]
    fn a_declared_status_is_the_only_success() {
        let any = Target::loopback("127.0.0.1:80".parse().expect("addr"), "/").expect("loopback");
        let declared = any.clone().expecting(Some(404));
        for (answer, by_default, where_404_is_declared) in [
            (Answer::Status(200), true, false),
            (Answer::Status(301), true, false),
            (Answer::Status(404), false, true),
            (Answer::Status(503), false, false),
            (Answer::Error("connect"), false, false),
        ] {
            assert_eq!(any.success(&answer), by_default, "{answer:?}");
            assert_eq!(declared.success(&answer), where_404_is_declared, "{answer:?}");
        }
    }

    /// A server that answers one request at a time, each after 100 ms: at 20 rps for 1 s,
    /// a paced generator sends half the plan and times every request at about 100 ms; open
    /// arrivals time the queue the stall causes, request k waiting about k × 50 ms more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_arrivals_record_the_queue_a_slow_server_causes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else { return };
                let lock = one_at_a_time.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let _turn = lock.lock().await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let target = Target::loopback(addr, "/").expect("loopback");
        let plan = Plan { concurrency: 1, ..Plan::steady(20, Duration::from_secs(1), Duration::from_millis(500)) };
        let paced = Summary::of(&run(&target, &Plan { open: false, ..plan.clone() }).await.expect("runs"));
        let open = Summary::of(&run(&target, &plan).await.expect("runs"));
        server.abort();
        assert!(paced.max_ms < 200.0, "paced: each request timed alone: {}", paced.describe());
        assert!(paced.requests <= 11, "paced: the stall halves what is sent: {}", paced.describe());
        // Open: the tenth request was due at 0.45 s and answered near 1.0 s.
        assert!(open.max_ms > 350.0, "open: the queue shows: {}", open.describe());
        assert!(open.p50_ms > paced.p50_ms, "open {} against paced {}", open.describe(), paced.describe());
    }

    #[test]
    fn nothing_failed_means_no_burst() {
        let s = Summary::of(&[sample(0, 1, Answer::Status(204), None)]);
        assert_eq!((s.longest_burst, s.burst_s(), s.success_percent()), (None, 0.0, 100.0));
        let empty = Summary::of(&[]);
        assert_eq!((empty.requests, empty.success_percent(), empty.p99_ms), (0, 0.0, 0.0));
    }

    /// A real server on 127.0.0.1 (a tokio listener answering every second request with a
    /// 503): the generator stops at its count, paces at its rate and records what it got.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_generator_is_bounded_and_records_every_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else { return };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let i = counter.fetch_add(1, Ordering::Relaxed);
                        let status = if i % 2 == 0 { "200 OK" } else { "503 Service Unavailable" };
                        let reply =
                            format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nx-replica: r{}\r\n\r\nok", i % 3);
                        if conn.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let target = Target::loopback(addr, "/health").expect("loopback");
        // Bounded by count.
        let plan = Plan {
            concurrency: 4,
            rate: None,
            open: false,
            max_requests: 200,
            max_duration: Duration::from_secs(30),
            timeout: Duration::from_secs(2),
            replica_header: Some(REPLICA_HEADER.to_owned()),
            stop: None,
        };
        let samples = run(&target, &plan).await.expect("runs");
        assert_eq!(samples.len(), 200);
        let s = Summary::of(&samples);
        assert_eq!(s.ok, 100, "every second answer is a 503: {:?}", s.answers);
        assert_eq!(s.replicas.values().sum::<u64>(), 200);
        assert_eq!(s.failures, BTreeMap::from([("503".to_owned(), 100)]));
        // Where the route declares 503, the 503s are the successes and the 200s the failures.
        let declared = target.clone().expecting(Some(503));
        let s = Summary::of(&run(&declared, &Plan { max_requests: 20, ..plan.clone() }).await.expect("runs"));
        assert_eq!((s.requests, s.ok), (20, 10), "{:?}", s.answers);
        assert_eq!(s.failures, BTreeMap::from([("200".to_owned(), 10)]));
        assert!(s.describe().contains("failures: 200 x10"), "{}", s.describe());
        // Bounded by time, and paced: 100 rps for 1 s is about 100 requests, never 1000.
        let plan_100 = Plan::steady(100, Duration::from_secs(1), Duration::from_millis(50));
        assert_eq!(plan_100.concurrency, 6, "100/s answered within 50 ms: 5 in flight and one spare");
        let paced = run(&target, &Plan { max_requests: 1000, ..plan_100 }).await.expect("runs");
        assert!((80..=110).contains(&paced.len()), "{} requests at 100 rps for 1 s", paced.len());
        server.abort();
        // Nothing listens any more: every request is a connect error, recorded as such.
        let gone = run(&target, &Plan { max_requests: 5, ..plan.clone() }).await.expect("runs");
        assert!(gone.iter().all(|s| s.answer == Answer::Error("connect")), "{gone:?}");
        // Open arrivals at the same 100 rps send the same, each due at its own moment.
        let open = run(
            &target,
            &Plan { max_requests: 1000, ..Plan::steady(100, Duration::from_secs(1), Duration::from_millis(50)) },
        )
        .await
        .expect("runs");
        assert!((90..=101).contains(&open.len()), "{} requests at 100 rps for 1 s", open.len());
        // A stop flag already set: nothing is sent, however large the bounds.
        let stop = Arc::new(AtomicBool::new(true));
        let stopped = run(&target, &plan.stopped_by(stop)).await.expect("runs");
        assert!(stopped.is_empty(), "{stopped:?}");
    }
}
