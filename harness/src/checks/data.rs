//! Data checks: what a service stores survives a restart and a recreation, lives on a named
//! volume, and its backup restores to identical data.
//!
//! - `persistence.volume`, `persistence.restart`, `persistence.recreate` (seed ZViewer 004,
//!   "data persisting across container restarts");
//! - `backup.tar` (seed zigQuant 000: `tar czf` of the named volume through a helper
//!   container) and `backup.pg_dump` (seed ZViewer's backup and restore).
//!
//! Real clients write and read: rows through sqlx, keys through the redis crate, a file
//! through the Engine's archive API. Random payloads, compared byte for byte; evidence
//! carries counts and sha256 digests, never the data or a password.
//!
//! The data services sit on `internal: true` networks and publish nothing. The harness
//! reaches them at the container's own address: the engine's host has a route to every
//! bridge network the engine creates, internal ones included (measured on Engine 20.10:
//! an internal network drops forwarded traffic, not the host's own), so no relay container
//! or published port is needed. See [`tap`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use testcontainers::bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};

use crate::checks::Context;
use crate::compose::ComposeModel;
use crate::criteria::Criterion;
use crate::errors::{Error, Result, tail_lines};
use crate::labels::{self, RunIdentity};
use crate::policy::{BackupMethod, DataKind, Persistence};
use crate::stack::Stack;
use crate::units::secs;
use crate::verdict::{Outcome, Verdict};

/// Rows written to a PostgreSQL service: enough to span several heap pages' worth of
/// tuples in a checksum, small enough to cost nothing.
const ROWS: usize = 64;
/// Keys written to a Redis service.
const KEYS: usize = 16;
/// Random bytes per row or key.
const ITEM_BYTES: usize = 32;
/// Size of the file written into a `kind = "file"` volume.
const FILE_BYTES: usize = 4096;
/// How long a client keeps retrying to connect (a service just restarted may still be
/// opening its listener after Docker calls it healthy).
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);
/// Bounds one helper container or exec (tar, pg_dump, pg_restore) on test-sized data.
const HELPER_DEADLINE: Duration = Duration::from_secs(120);
/// Stop timeout for services the backup cycle stops: the reference services stop in well
/// under a second; a service that needs longer is killed, as compose would.
const STOP_TIMEOUT: &str = "10";

/// The address a harness client uses to reach `port` of `service` from this process: the
/// container's address on one of its networks, checked with a TCP connect.
///
/// Works for `internal: true` networks too (the host routes to every bridge network the
/// engine creates). It needs the harness on the engine's own host (a rootless or remote
/// engine's container addresses are not routable). Retries for up to 10 s, so a service
/// that has just been restarted is found once it listens. Addresses change when a
/// container is recreated: tap again after a restart or recreate.
pub async fn tap(stack: &Stack, service: &str, port: u16) -> Result<SocketAddr> {
    let id = stack.container_id(service).await?;
    let inspect =
        stack.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
    let networks = inspect.network_settings.and_then(|n| n.networks).unwrap_or_default();
    // Sorted by network name, so the address chosen does not depend on hash order.
    let sorted: BTreeMap<String, _> = networks.into_iter().collect();
    let addrs: Vec<SocketAddr> = sorted
        .values()
        .filter_map(|n| n.ip_address.as_deref()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    if addrs.is_empty() {
        return Err(fail(
            service,
            "cannot find an address for the service",
            format!("container {} has no address on any network (hint: is `{service}` running?)", short(&id)),
        ));
    }
    let deadline = Instant::now() + CONNECT_DEADLINE;
    let mut last = String::new();
    loop {
        for addr in &addrs {
            let attempt = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await;
            match attempt {
                Ok(Ok(_)) => return Ok(*addr),
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out"),
            }
        }
        if Instant::now() > deadline {
            return Err(fail(
                service,
                "cannot reach the service from the harness",
                format!(
                    "no connect to port {port} within {} (last: {last}) (hint: run the harness on the engine's own host; the addresses of a rootless or remote engine's containers are not routable from elsewhere)",
                    secs(CONNECT_DEADLINE)
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `persistence.volume`, `persistence.restart` and `persistence.recreate` for every
/// `[[persistence]]` entry of the policy.
///
/// Writes random data through a real client, restarts each service (`docker compose
/// restart`) and reads it back, then brings the whole stack down (keeping volumes) and up
/// again and reads it back once more.
///
/// **Destructive**: it restarts services and recreates the whole stack; give it a stack of
/// its own.
pub async fn persistence(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let stack = cx.stack;
    if cx.policy.persistence.is_empty() {
        // Nothing to judge: do not restart or recreate anything.
        return Ok(Vec::new());
    }
    let mut subjects = Vec::new();
    for p in &cx.policy.persistence {
        stack.require_service(&p.service)?;
        require_protocol(stack, &p.service, p.kind).await?;
        let store = Store::of(stack, &p.service, p.kind, p.path.as_deref(), &p.volume)?;
        let sample = Sample::random(p.kind, "persist");
        store.write(stack, &p.service, &sample).await?;
        tracing::info!(service = %p.service, written = %sample.describe(), "persistence data written");
        subjects.push(Subject { service: p.service.clone(), volume: p.volume.clone(), store, sample });
    }

    let mut out = Vec::new();
    for s in &subjects {
        out.push(volume_verdict(stack, s).await?);
    }

    let mut services: Vec<&str> = Vec::new();
    for s in &subjects {
        if !services.contains(&s.service.as_str()) {
            services.push(&s.service);
        }
    }
    for service in services {
        let cycle = stack.restart_service(service).await;
        let action = format!("`docker compose restart {service}`");
        for s in subjects.iter().filter(|s| s.service == service) {
            out.push(cycle_verdict(stack, s, Criterion::PersistenceRestart, &action, &cycle).await);
        }
    }

    let cycle = stack.recreate_keeping_volumes().await;
    let action = "`docker compose down` (volumes kept) and `up -d`";
    for s in &subjects {
        out.push(cycle_verdict(stack, s, Criterion::PersistenceRecreate, action, &cycle).await);
    }
    Ok(out)
}

/// Data written through a real client for a later read-back (e.g. across a crash).
#[derive(Debug)]
pub struct Written(Subject);

/// Writes a fresh random sample as `p` describes (rows, keys or a file).
pub async fn write_sample(stack: &Stack, p: &Persistence, tag: &str) -> Result<Written> {
    stack.require_service(&p.service)?;
    require_protocol(stack, &p.service, p.kind).await?;
    let store = Store::of(stack, &p.service, p.kind, p.path.as_deref(), &p.volume)?;
    let sample = Sample::random(p.kind, tag);
    store.write(stack, &p.service, &sample).await?;
    Ok(Written(Subject { service: p.service.clone(), volume: p.volume.clone(), store, sample }))
}

/// Reads a written sample back: what came back (`16/16 keys identical`) and whether all
/// of it is byte-identical. A read that fails counts as nothing identical.
pub async fn read_back(stack: &Stack, w: &Written) -> (String, bool) {
    let s = &w.0;
    match s.store.read(stack, &s.service, &s.sample).await {
        Ok(read) => {
            let c = Comparison::of(&s.sample.items, &read);
            (c.measured(s.sample.unit), c.passed())
        }
        Err(e) => (format!("0/{} {} readable ({})", s.sample.items.len(), s.sample.unit, chain(&e)), false),
    }
}

/// `backup.tar` and `backup.pg_dump` for every `[[backup]]` entry and method of the policy.
///
/// Each method writes its own random data, takes the backup, **destroys the service's
/// container and its named volume**, restores, starts the service again and compares what
/// the real client reads back with what was written.
///
/// **Destructive**: services lose their containers and volumes (dependents are left as
/// they are); give it a stack of its own.
pub async fn backup(cx: &Context<'_>) -> Result<Vec<Verdict>> {
    let stack = cx.stack;
    let mut out = Vec::new();
    for b in &cx.policy.backups {
        stack.require_service(&b.service)?;
        require_protocol(stack, &b.service, b.kind).await?;
        let Some(target) = volume_target(stack.model.raw_service(&b.service), &b.volume) else {
            // The stack keeps the data somewhere the documented backup does not look: the
            // procedure backs up nothing. A finding about the stack, not a harness error.
            out.extend(b.methods.iter().map(|m| unmounted_backup(&b.service, &b.volume, *m)));
            continue;
        };
        let volume = Volume {
            key: b.volume.clone(),
            name: engine_volume_name(&stack.model, &stack.project.project, &b.volume),
            target,
        };
        for method in &b.methods {
            let verdict = match method {
                BackupMethod::Tar => tar_cycle(stack, &b.service, b.kind, &volume).await?,
                BackupMethod::PgDump => pg_dump_cycle(stack, &b.service, b.kind, &volume).await?,
            };
            out.push(verdict);
        }
    }
    Ok(out)
}

/// `backup.<method>` when the service does not mount the volume the policy backs up.
fn unmounted_backup(service: &str, volume: &str, method: BackupMethod) -> Verdict {
    let criterion = match method {
        BackupMethod::Tar => Criterion::BackupTar,
        BackupMethod::PgDump => Criterion::BackupPgDump,
    };
    Verdict {
        criterion,
        subject: service.to_owned(),
        measured: format!("no volume `{volume}`"),
        budget: "restored data identical".into(),
        outcome: Outcome::judged(false),
        evidence: format!(
            "the policy backs up volume `{volume}` of `{service}`, but `{service}` mounts no such volume: nothing the procedure archives holds the data"
        ),
        hint: Some(format!(
            "keep the data in a named volume: declare `{volume}` under top-level volumes and mount it in `{service}`"
        )),
    }
}

/// One `[[persistence]]` entry with what was written for it.
#[derive(Debug)]
struct Subject {
    service: String,
    volume: String,
    store: Store,
    sample: Sample,
}

/// A named volume as the service mounts it.
#[derive(Debug, Clone)]
struct Volume {
    /// The key under top-level `volumes:` (`pgdata`).
    key: String,
    /// The engine's name (`<project>_pgdata`).
    name: String,
    /// Where the service mounts it.
    target: String,
}

/// A password read from a compose secret file or a service's environment. Never printed:
/// `Debug` redacts it and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How the harness reaches one service's data with a real client.
#[derive(Debug, Clone)]
enum Store {
    Postgres {
        user: String,
        database: String,
        password: Secret,
    },
    Redis {
        password: Option<Secret>,
    },
    /// A directory inside the service (a volume's mount path).
    File {
        dir: String,
    },
}

/// Where a service's password comes from, found in its resolved compose definition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PasswordSource {
    /// A compose secret's host file (the env's `*_PASSWORD_FILE` points at its mount).
    File(PathBuf),
    /// A literal `*_PASSWORD` in the environment (a policy may allow that).
    Literal(Secret),
    None,
}

impl Store {
    /// Reads user, database and password for `service` from its resolved definition.
    fn of(stack: &Stack, service: &str, kind: DataKind, path: Option<&str>, volume: &str) -> Result<Store> {
        let raw = &stack.model.raw;
        match kind {
            DataKind::Postgres => {
                let user = env(raw, service, "POSTGRES_USER").unwrap_or_else(|| "postgres".to_owned());
                let database = env(raw, service, "POSTGRES_DB").unwrap_or_else(|| user.clone());
                let password = read_password(service, password_source(raw, service, "POSTGRES")?)?.ok_or_else(|| {
                    fail(
                        service,
                        "cannot find the database password",
                        format!("`{service}` has neither POSTGRES_PASSWORD_FILE pointing at a compose secret nor POSTGRES_PASSWORD (hint: mount the password as a compose secret and set POSTGRES_PASSWORD_FILE)"),
                    )
                })?;
                Ok(Store::Postgres { user, database, password })
            }
            DataKind::Redis => {
                Ok(Store::Redis { password: read_password(service, password_source(raw, service, "REDIS")?)? })
            }
            DataKind::File => {
                let dir = path
                    .map(str::to_owned)
                    .or_else(|| volume_target(stack.model.raw_service(service), volume))
                    .ok_or_else(|| {
                        fail(
                            service,
                            "cannot tell where to write the file",
                            format!("policy entry for `{service}` has kind file but no path, and the service does not mount `{volume}` (hint: set path to the volume's mount path)"),
                        )
                    })?;
                Ok(Store::File { dir })
            }
        }
    }

    async fn write(&self, stack: &Stack, service: &str, sample: &Sample) -> Result<()> {
        match self {
            Store::Postgres { .. } => {
                let mut conn = self.postgres(stack, service).await?;
                let sql = format!("CREATE TABLE {} (id integer PRIMARY KEY, payload bytea NOT NULL)", sample.place);
                sqlx::query(&sql)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot create the test table", e))?;
                let ids: Vec<i32> = sample.items.keys().map(|k| k.parse().unwrap_or_default()).collect();
                let payloads: Vec<Vec<u8>> = sample.items.values().cloned().collect();
                // One statement for all rows: one round trip, and all or nothing.
                let sql = format!("INSERT INTO {} SELECT * FROM UNNEST($1::integer[], $2::bytea[])", sample.place);
                sqlx::query(&sql)
                    .bind(ids)
                    .bind(payloads)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot insert the test rows", e))?;
                let _ = conn.close().await;
                Ok(())
            }
            Store::Redis { .. } => {
                let mut conn = self.redis(stack, service).await?;
                let mut pipe = redis::pipe();
                for (k, v) in &sample.items {
                    pipe.set(k, v.as_slice()).ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(|e| fail(service, "cannot set the test keys", e))
            }
            Store::File { dir } => {
                let id = stack.container_id(service).await?;
                let (uid, gid) = container_owner(stack, service, &id).await?;
                let (name, data) =
                    sample.items.iter().next().ok_or_else(|| fail(service, "nothing to write", "empty sample"))?;
                let archive = tar_one(name, data, uid, gid);
                let opts = UploadToContainerOptions { path: dir.clone(), ..Default::default() };
                stack
                    .docker()
                    .upload_to_container(&id, Some(opts), testcontainers::bollard::body_full(archive.into()))
                    .await
                    .map_err(|e| Error::engine("upload file", format!("{service} ({dir})"), e))
            }
        }
    }

    /// Reads back what `sample` names; absent items are simply not in the map.
    async fn read(&self, stack: &Stack, service: &str, sample: &Sample) -> Result<BTreeMap<String, Vec<u8>>> {
        match self {
            Store::Postgres { .. } => {
                let mut conn = self.postgres(stack, service).await?;
                let sql = format!("SELECT id, payload FROM {} ORDER BY id", sample.place);
                let rows: Vec<(i32, Vec<u8>)> = sqlx::query_as(&sql)
                    .fetch_all(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot read the test rows back", e))?;
                let _ = conn.close().await;
                Ok(rows.into_iter().map(|(id, p)| (id.to_string(), p)).collect())
            }
            Store::Redis { .. } => {
                let mut conn = self.redis(stack, service).await?;
                let keys: Vec<&String> = sample.items.keys().collect();
                let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot read the test keys back", e))?;
                Ok(keys.into_iter().zip(values).filter_map(|(k, v)| Some((k.clone(), v?))).collect())
            }
            Store::File { dir } => {
                let id = stack.container_id(service).await?;
                let mut found = BTreeMap::new();
                for name in sample.items.keys() {
                    let path = format!("{}/{name}", dir.trim_end_matches('/'));
                    let opts = DownloadFromContainerOptions { path: path.clone() };
                    let mut stream = stack.docker().download_from_container(&id, Some(opts));
                    let mut archive = Vec::new();
                    while let Some(chunk) = stream.next().await {
                        match chunk {
                            Ok(bytes) => archive.extend_from_slice(&bytes),
                            // The file is gone: that is a finding, not an error.
                            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                                status_code: 404,
                                ..
                            }) => break,
                            Err(e) => return Err(Error::engine("download file", format!("{service} ({path})"), e)),
                        }
                    }
                    if let Some(data) = untar_one(&archive) {
                        found.insert(name.clone(), data);
                    }
                }
                Ok(found)
            }
        }
    }

    /// Where the service keeps its data, and who said so.
    async fn data_dir(&self, stack: &Stack, service: &str) -> Result<(String, String)> {
        match self {
            Store::Postgres { .. } => {
                let mut conn = self.postgres(stack, service).await?;
                let dir: String = sqlx::query_scalar("SHOW data_directory")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot ask for the data directory", e))?;
                let _ = conn.close().await;
                Ok((dir, "`SHOW data_directory`".to_owned()))
            }
            Store::Redis { .. } => {
                let mut conn = self.redis(stack, service).await?;
                let pair: Vec<String> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("dir")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| fail(service, "cannot ask for the data directory", e))?;
                let dir = pair.get(1).cloned().ok_or_else(|| {
                    fail(service, "cannot ask for the data directory", "`CONFIG GET dir` returned nothing")
                })?;
                Ok((dir, "`CONFIG GET dir`".to_owned()))
            }
            Store::File { dir } => Ok((dir.clone(), "the policy".to_owned())),
        }
    }

    async fn postgres(&self, stack: &Stack, service: &str) -> Result<PgConnection> {
        let Store::Postgres { user, database, password } = self else {
            return Err(fail(service, "not a postgres store", "internal: postgres client on another kind"));
        };
        let addr = tap(stack, service, 5432).await?;
        let opts = PgConnectOptions::new_without_pgpass()
            .host(&addr.ip().to_string())
            .port(addr.port())
            .username(user)
            .password(&password.0)
            .database(database)
            // Plain TCP on a private test network: the reference server has no certificate.
            .ssl_mode(PgSslMode::Disable);
        retry_connect(service, || PgConnection::connect_with(&opts)).await
    }

    async fn redis(&self, stack: &Stack, service: &str) -> Result<redis::aio::MultiplexedConnection> {
        let Store::Redis { password } = self else {
            return Err(fail(service, "not a redis store", "internal: redis client on another kind"));
        };
        let addr = tap(stack, service, 6379).await?;
        let info = redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
            redis: redis::RedisConnectionInfo {
                password: password.as_ref().map(|p| p.0.clone()),
                ..Default::default()
            },
        };
        let client = redis::Client::open(info).map_err(|e| fail(service, "cannot set up the redis client", e))?;
        retry_connect(service, || client.get_multiplexed_async_connection()).await
    }
}

/// Connects, retrying until [`CONNECT_DEADLINE`]: right after the probe passes on a restart
/// the server may still refuse for a moment.
async fn retry_connect<T, E, F, Fut>(service: &str, mut connect: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
    E: std::fmt::Display,
{
    let deadline = Instant::now() + CONNECT_DEADLINE;
    loop {
        let last = match tokio::time::timeout(Duration::from_secs(5), connect()).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        if Instant::now() > deadline {
            return Err(fail(
                service,
                "cannot connect a client",
                format!("last error after {}: {last}", secs(CONNECT_DEADLINE)),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Random data for one check, keyed the way its store keys it: row id, redis key or file name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    /// The table, the key prefix or the file name.
    place: String,
    /// `rows`, `keys` or `files`.
    unit: &'static str,
    items: BTreeMap<String, Vec<u8>>,
}

impl Sample {
    /// Random data under a name unique to this run and `tag` (`persist`, `backup_tar`...).
    fn random(kind: DataKind, tag: &str) -> Sample {
        let run = &RunIdentity::current().run_id;
        match kind {
            DataKind::Postgres => {
                let mut bytes = random_bytes(ROWS * ITEM_BYTES).into_iter();
                let items = (1..=ROWS).map(|i| (i.to_string(), bytes.by_ref().take(ITEM_BYTES).collect())).collect();
                Sample { place: format!("harness_{tag}_{run}"), unit: "rows", items }
            }
            DataKind::Redis => {
                let place = format!("harness:{tag}:{run}");
                let mut bytes = random_bytes(KEYS * ITEM_BYTES).into_iter();
                let items =
                    (1..=KEYS).map(|i| (format!("{place}:{i}"), bytes.by_ref().take(ITEM_BYTES).collect())).collect();
                Sample { place, unit: "keys", items }
            }
            DataKind::File => {
                let place = format!(".harness-{}-{run}", tag.replace('_', "-"));
                let items = BTreeMap::from([(place.clone(), random_bytes(FILE_BYTES))]);
                Sample { place, unit: "files", items }
            }
        }
    }

    fn bytes(&self) -> usize {
        self.items.values().map(Vec::len).sum()
    }

    /// `64 rows (2048 bytes, sha256 1f2e...) in harness_persist_ab12`.
    fn describe(&self) -> String {
        format!(
            "{} ({} bytes, sha256 {}) in {}",
            counted(self.items.len(), self.unit),
            self.bytes(),
            short_digest(&digest(&self.items)),
            self.place
        )
    }
}

/// `64 rows`, `1 file`: units are plural nouns ending in `s`.
fn counted(n: usize, unit: &str) -> String {
    if n == 1 { format!("1 {}", unit.strip_suffix('s').unwrap_or(unit)) } else { format!("{n} {unit}") }
}

/// A size for people: bytes below 10 kB, kB below 1 MB, then MB, one decimal.
fn size(bytes: u64) -> String {
    match bytes {
        0..10_000 => format!("{bytes} B"),
        10_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// Random bytes: one uuid v4 (the workspace's randomness, from the OS) as a seed, stretched
/// with sha256 in counter mode. Unpredictable enough that stale data never matches.
fn random_bytes(len: usize) -> Vec<u8> {
    let seed = uuid::Uuid::new_v4();
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(seed.as_bytes());
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// sha256 over the items in key order, each length-prefixed so no two sets collide by
/// concatenation.
fn digest(items: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (k, v) in items {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v);
    }
    hex::encode(h.finalize())
}

fn short_digest(d: &str) -> &str {
    d.get(..16).unwrap_or(d)
}

/// What came back compared with what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    expected: usize,
    identical: usize,
    changed: usize,
    missing: usize,
    /// Items read back that were never written (a table with more rows than inserted).
    extra: usize,
    before: String,
    after: String,
}

impl Comparison {
    fn of(written: &BTreeMap<String, Vec<u8>>, read: &BTreeMap<String, Vec<u8>>) -> Comparison {
        let mut c = Comparison {
            expected: written.len(),
            identical: 0,
            changed: 0,
            missing: 0,
            extra: read.keys().filter(|k| !written.contains_key(*k)).count(),
            before: digest(written),
            after: digest(read),
        };
        for (k, v) in written {
            match read.get(k) {
                Some(r) if r == v => c.identical += 1,
                Some(_) => c.changed += 1,
                None => c.missing += 1,
            }
        }
        c
    }

    fn passed(&self) -> bool {
        self.identical == self.expected && self.extra == 0
    }

    /// `64/64 rows identical` or `0/64 rows identical (64 missing)`.
    fn measured(&self, unit: &str) -> String {
        let mut problems = Vec::new();
        for (n, what) in [(self.changed, "changed"), (self.missing, "missing"), (self.extra, "unexpected")] {
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        let base = format!("{}/{} {unit} identical", self.identical, self.expected);
        if problems.is_empty() { base } else { format!("{base} ({})", problems.join(", ")) }
    }
}

/// `persistence.volume`: the directory the service keeps its data in is on the named
/// volume the policy names, not the container layer, a tmpfs or an anonymous volume.
async fn volume_verdict(stack: &Stack, s: &Subject) -> Result<Verdict> {
    let (path, said_by) = s.store.data_dir(stack, &s.service).await?;
    let id = stack.container_id(&s.service).await?;
    let inspect =
        stack.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", &s.service, e))?;
    let mounts: Vec<MountView> = inspect
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| MountView {
            kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
            name: m.name.unwrap_or_default(),
            destination: m.destination.unwrap_or_default(),
        })
        .collect();
    let expected = ExpectedVolume {
        key: s.volume.clone(),
        name: stack
            .model
            .volumes
            .get(&s.volume)
            .map(|v| v.name.clone().unwrap_or_else(|| format!("{}_{}", stack.project.project, s.volume))),
    };
    Ok(judge_volume(&s.service, &path, &said_by, &mounts, &expected))
}

/// A container mount, as much of it as the volume judgement reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountView {
    /// `volume`, `bind`, `tmpfs`.
    kind: String,
    /// The volume's engine name (empty for binds and tmpfs).
    name: String,
    destination: String,
}

/// The volume the policy expects the data on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedVolume {
    key: String,
    /// The engine name, or `None` when the stack does not declare the volume at all.
    name: Option<String>,
}

/// The mount a path lives on: the one with the longest destination that is the path or
/// one of its parents.
fn covering_mount<'m>(path: &str, mounts: &'m [MountView]) -> Option<&'m MountView> {
    let path = path.trim_end_matches('/');
    mounts
        .iter()
        .filter(|m| {
            let dest = m.destination.trim_end_matches('/');
            path == dest || path.strip_prefix(dest).is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.destination.len())
}

fn judge_volume(service: &str, path: &str, said_by: &str, mounts: &[MountView], expected: &ExpectedVolume) -> Verdict {
    let listed: Vec<String> = mounts.iter().map(|m| format!("{} {}", m.kind, m.destination)).collect();
    let budget = format!("named volume `{}`", expected.key);
    let key = &expected.key;
    let add_volume = format!(
        "mount the named volume at the data directory (`volumes: [\"{key}:{path}\"]` under services.{service}, and `{key}:` under top-level volumes)"
    );
    let (measured, passed, why, hint) = match covering_mount(path, mounts) {
        None => (
            "container layer".to_owned(),
            false,
            "no mount covers it, so the data is in the container's writable layer and goes with the container"
                .to_owned(),
            Some(add_volume),
        ),
        Some(m) if m.kind != "volume" => (
            format!("{} mount", m.kind),
            false,
            format!("it is on a {} mount at {}, not a named volume", m.kind, m.destination),
            Some(add_volume),
        ),
        Some(m) => match &expected.name {
            Some(name) if *name == m.name => (
                format!("volume {}", m.name),
                true,
                format!("it is on volume {} mounted at {}", m.name, m.destination),
                None,
            ),
            Some(name) => (
                format!("volume {}", m.name),
                false,
                format!(
                    "it is on volume {} at {}, not on {name} (an anonymous volume is lost on `down`)",
                    m.name, m.destination
                ),
                Some(add_volume),
            ),
            None => (
                format!("volume {}", m.name),
                false,
                format!("it is on volume {} at {}, but the stack declares no volume `{key}`", m.name, m.destination),
                Some(format!("declare `{key}` under top-level volumes, or fix the policy's volume name")),
            ),
        },
    };
    Verdict {
        criterion: Criterion::PersistenceVolume,
        subject: service.to_owned(),
        measured,
        budget,
        outcome: Outcome::judged(passed),
        evidence: format!(
            "{said_by} says the data lives in {path}; {why}; mounts: {}",
            if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
        ),
        hint,
    }
}

/// Reads the subject's data back after a restart or recreate cycle and judges it.
async fn cycle_verdict(
    stack: &Stack,
    s: &Subject,
    criterion: Criterion,
    action: &str,
    cycle: &Result<Duration>,
) -> Verdict {
    let written = s.sample.describe();
    let (measured, passed, evidence) = match cycle {
        Err(e) => {
            ("service did not come back".to_owned(), false, format!("wrote {written}; {action} failed: {}", chain(e)))
        }
        Ok(took) => match s.store.read(stack, &s.service, &s.sample).await {
            Err(e) => (
                format!("0/{} {} readable", s.sample.items.len(), s.sample.unit),
                false,
                format!("wrote {written}; {action} took {}; reading back failed: {}", secs(*took), chain(&e)),
            ),
            Ok(read) => {
                let c = Comparison::of(&s.sample.items, &read);
                (
                    format!("{} (cycle {})", c.measured(s.sample.unit), secs(*took)),
                    c.passed(),
                    format!(
                        "wrote {written}; {action} took {}; read back {} {} (sha256 {})",
                        secs(*took),
                        read.len(),
                        s.sample.unit,
                        short_digest(&c.after)
                    ),
                )
            }
        },
    };
    let hint = (!passed).then(|| match criterion {
        Criterion::PersistenceRestart => format!(
            "`{}` lost data on a restart: keep its data directory on a volume and make sure it flushes on SIGTERM",
            s.service
        ),
        _ => format!(
            "`{}` lost data when its container was recreated: keep its data on the named volume `{}`, not in the container layer, a tmpfs or an anonymous volume",
            s.service, s.volume
        ),
    });
    Verdict {
        criterion,
        subject: s.service.clone(),
        measured,
        budget: format!("{0}/{0} {1} identical", s.sample.items.len(), s.sample.unit),
        outcome: Outcome::judged(passed),
        evidence,
        hint,
    }
}

/// What one backup method measured; the verdict is built from it.
#[derive(Debug)]
struct BackupRun {
    criterion: Criterion,
    service: String,
    volume: String,
    written: Sample,
    archive_bytes: u64,
    archive_sha: String,
    backup_took: Duration,
    restore_took: Duration,
    /// The steps, in order, with their times.
    steps: Vec<String>,
    /// What the client read back, or why nothing could be (restore or read failure).
    outcome: std::result::Result<BTreeMap<String, Vec<u8>>, String>,
}

/// What a backup method hands over once its restore step is done.
struct Finished<'a> {
    criterion: Criterion,
    archive: &'a Path,
    backup_took: Duration,
    restore_took: Duration,
    steps: Vec<String>,
}

/// The part both methods share after restoring: read the sample back through the real
/// client (unless the restore failed), measure the archive, and judge.
async fn conclude(
    stack: &Stack,
    service: &str,
    volume: &Volume,
    store: &Store,
    sample: Sample,
    restored: Result<String>,
    run: Finished<'_>,
) -> Result<Verdict> {
    let Finished { criterion, archive, backup_took, restore_took, mut steps } = run;
    let outcome = match restored {
        Ok(step) => {
            steps.push(step);
            store.read(stack, service, &sample).await.map_err(|e| format!("reading back failed: {}", chain(&e)))
        }
        Err(e) => Err(format!("the restore failed: {}", chain(&e))),
    };
    let (archive_bytes, archive_sha) = file_facts(service, archive)?;
    Ok(backup_verdict(BackupRun {
        criterion,
        service: service.to_owned(),
        volume: volume.name.clone(),
        written: sample,
        archive_bytes,
        archive_sha,
        backup_took,
        restore_took,
        steps,
        outcome,
    }))
}

fn backup_verdict(r: BackupRun) -> Verdict {
    let n = r.written.items.len();
    let unit = r.written.unit;
    let (measured, passed, after) = match &r.outcome {
        Ok(read) => {
            let c = Comparison::of(&r.written.items, read);
            (
                c.measured(unit),
                c.passed(),
                format!("read back {} {unit} (sha256 {})", read.len(), short_digest(&c.after)),
            )
        }
        Err(e) => (format!("0/{n} {unit} readable"), false, e.clone()),
    };
    let hint = (!passed).then(|| {
        format!(
            "the data restored into `{}` is not what the backup was taken of: check that the backup covers the whole data directory and that the service was stopped (tar) or the dump taken from the right database",
            r.volume
        )
    });
    Verdict {
        criterion: r.criterion,
        subject: r.service,
        measured: format!(
            "{measured}; archive {}, backup {}, restore {}",
            size(r.archive_bytes),
            secs(r.backup_took),
            secs(r.restore_took)
        ),
        budget: format!("{n}/{n} {unit} identical after restore"),
        outcome: Outcome::judged(passed),
        evidence: format!(
            "wrote {}; {}; archive of {} bytes (sha256 {}); {after}",
            r.written.describe(),
            r.steps.join("; "),
            r.archive_bytes,
            short_digest(&r.archive_sha)
        ),
        hint,
    }
}

/// The seed zigQuant procedure: stop the service, `tar czf` the named volume through a
/// helper container that mounts it read-only, destroy container and volume, make an empty
/// volume of the same name, `tar xzf` into it through a helper, start the service, compare.
///
/// The archive streams through the helper's stdout and stdin rather than a bind-mounted
/// host directory: the same archive, without making a host directory writable for the
/// volume owner's uid.
async fn tar_cycle(stack: &Stack, service: &str, kind: DataKind, volume: &Volume) -> Result<Verdict> {
    let store = Store::of(stack, service, kind, Some(&volume.target), &volume.key)?;
    let sample = Sample::random(kind, "backup_tar");
    store.write(stack, service, &sample).await?;
    let helper = HelperSpec::of(stack, service).await?;
    let dir = workdir()?;
    let archive = dir.path().join(format!("{}.tar.gz", volume.key));
    let mut steps = Vec::new();

    let t = Instant::now();
    stack.project.run(&["stop", "--timeout", STOP_TIMEOUT, service]).await?;
    steps.push(format!("stopped `{service}` in {}", secs(t.elapsed())));
    let t = Instant::now();
    let ro = format!("{}:{}:ro", volume.name, volume.target);
    helper
        .run(
            stack,
            service,
            &["-v", &ro],
            &["czf", "-", "--numeric-owner", "-C", &volume.target, "."],
            Stdin::Null,
            Some(&archive),
        )
        .await?;
    let backup_took = t.elapsed();
    steps.push(format!("`tar czf` of volume {} through a helper in {}", volume.name, secs(backup_took)));

    let t = Instant::now();
    let saved = destroy(stack, service, volume).await?;
    steps.push(format!("removed container and volume {} in {}", volume.name, secs(t.elapsed())));

    // From here on the data is gone: a step that fails is the answer (the backup does not
    // restore), so it becomes the verdict, not an error.
    let t = Instant::now();
    let restored = async {
        recreate_volume(stack, service, volume, &saved).await?;
        let rw = format!("{}:{}", volume.name, volume.target);
        let args = ["xzpf", "-", "--numeric-owner", "-C", &volume.target];
        helper.run(stack, service, &["-v", &rw], &args, Stdin::File(&archive), None).await?;
        let extracted = t.elapsed();
        up(stack, service).await?;
        Ok::<_, Error>(extracted)
    }
    .await;
    let restore_took = t.elapsed();
    let restored = restored.map(|extracted| {
        format!(
            "new empty volume and `tar xzf` in {}, `{service}` ready again after {}",
            secs(extracted),
            secs(restore_took)
        )
    });
    let run = Finished { criterion: Criterion::BackupTar, archive: &archive, backup_took, restore_took, steps };
    conclude(stack, service, volume, &store, sample, restored, run).await
}

/// A logical backup: `pg_dump -Fc` through `docker exec`, destroy container and volume,
/// start the service on an empty volume (initdb runs again), `pg_restore` through `docker
/// exec`, compare. The password never leaves the container: a shell there reads it from
/// the secret file into PGPASSWORD for the one process.
async fn pg_dump_cycle(stack: &Stack, service: &str, kind: DataKind, volume: &Volume) -> Result<Verdict> {
    if kind != DataKind::Postgres {
        return Err(fail(
            service,
            "cannot take a pg_dump backup",
            format!(
                "`{service}` is not a postgres store in the policy (hint: pg_dump backs up kind = \"postgres\" only)"
            ),
        ));
    }
    let store = Store::of(stack, service, kind, None, &volume.key)?;
    let Store::Postgres { user, database, .. } = &store else {
        return Err(fail(service, "cannot take a pg_dump backup", "internal: not a postgres store"));
    };
    let password_file = in_container_password_file(&stack.model, service);
    let sample = Sample::random(kind, "backup_pgdump");
    store.write(stack, service, &sample).await?;
    let dir = workdir()?;
    let dump = dir.path().join(format!("{}.dump", database));
    let mut steps = Vec::new();

    let t = Instant::now();
    let id = stack.container_id(service).await?;
    let dump_cmd = pg_command(&password_file, "pg_dump", user, database, &["--format=custom"]);
    let mut args = vec!["exec", id.as_str()];
    args.extend(dump_cmd.iter().map(String::as_str));
    docker_cli(service, &args, Stdin::Null, Some(&dump), PG_TOOLS_HINT).await?;
    let backup_took = t.elapsed();
    steps.push(format!("`pg_dump --format=custom` through `docker exec` in {}", secs(backup_took)));

    let t = Instant::now();
    stack.project.run(&["stop", "--timeout", STOP_TIMEOUT, service]).await?;
    destroy(stack, service, volume).await?;
    steps.push(format!("stopped `{service}`, removed container and volume {} in {}", volume.name, secs(t.elapsed())));

    // From here on the data is gone: a failing step is the verdict (see `tar_cycle`).
    let t = Instant::now();
    let restored = async {
        up(stack, service).await?;
        let fresh = t.elapsed();
        let id = stack.container_id(service).await?;
        accepting_tcp(stack, service, &id).await?;
        let restore = pg_command(&password_file, "pg_restore", user, database, &["--exit-on-error", "--no-owner"]);
        let mut args = vec!["exec", "-i", id.as_str()];
        args.extend(restore.iter().map(String::as_str));
        docker_cli(service, &args, Stdin::File(&dump), None, PG_TOOLS_HINT).await?;
        Ok::<_, Error>(fresh)
    }
    .await;
    let restore_took = t.elapsed();
    let restored = restored.map(|fresh| {
        format!(
            "fresh `{service}` (new volume, initdb) healthy in {}, `pg_restore` done after {}",
            secs(fresh),
            secs(restore_took)
        )
    });
    let run = Finished { criterion: Criterion::BackupPgDump, archive: &dump, backup_took, restore_took, steps };
    conclude(stack, service, volume, &store, sample, restored, run).await
}

/// Waits until PostgreSQL accepts TCP connections on 127.0.0.1:5432, where `pg_restore`
/// connects. A healthcheck such as `pg_isready -U user` goes through the socket, so it
/// already passes while the entrypoint's init-time server runs, which listens on no TCP
/// port; the restore would then be refused.
async fn accepting_tcp(stack: &Stack, service: &str, id: &str) -> Result<()> {
    let cmd: Vec<String> =
        ["pg_isready", "--host=127.0.0.1", "--port=5432", "--quiet"].iter().map(|s| (*s).to_owned()).collect();
    let waited = stack.boot_timeout();
    let mut last = String::from("(not run)");
    let w = crate::readiness::Wait::new(crate::readiness::WaitFor::Command(cmd), waited)
        .with_probe_timeout(Duration::from_secs(5));
    match crate::readiness::wait(stack.docker(), id, &w, |r| last = r.summary()).await {
        Ok(_) => Ok(()),
        Err(g) => Err(fail(
            service,
            "the restored server does not accept TCP connections",
            format!("`pg_isready --host=127.0.0.1 --port=5432` for {}: {last} ({})", secs(waited), g.state),
        )),
    }
}

const PG_TOOLS_HINT: &str = "pg_dump and pg_restore run inside the service's container through `sh`; its image needs both, and the server must accept the user's password over TCP on 127.0.0.1:5432";

/// `sh -c` running a PostgreSQL client tool with PGPASSWORD read inside the container, from
/// the secret file when there is one, else from the service's own POSTGRES_PASSWORD. Only
/// the file's path is in argv, never the password.
fn pg_command(password_file: &str, tool: &str, user: &str, database: &str, extra: &[&str]) -> Vec<String> {
    let script = r#"f=$1; shift; if [ -n "$f" ]; then PGPASSWORD=$(head -n 1 "$f"); else PGPASSWORD=${POSTGRES_PASSWORD:-}; fi; export PGPASSWORD; exec "$@""#;
    let mut cmd: Vec<String> =
        ["sh", "-c", script, "sh", password_file, tool].iter().map(|s| (*s).to_owned()).collect();
    // TCP like the healthcheck: the socket directory differs between images.
    cmd.extend(["--host=127.0.0.1".to_owned(), "--port=5432".to_owned()]);
    cmd.push(format!("--username={user}"));
    cmd.push(format!("--dbname={database}"));
    cmd.extend(extra.iter().map(|s| (*s).to_owned()));
    cmd
}

/// The path, inside the container, of the postgres password file (empty when the password
/// is in the environment instead).
fn in_container_password_file(model: &ComposeModel, service: &str) -> String {
    env(&model.raw, service, "POSTGRES_PASSWORD_FILE").unwrap_or_default()
}

/// What a removed volume was created with, so its replacement is created the same way
/// (compose's labels and ours, driver and options).
#[derive(Debug)]
struct SavedVolume {
    driver: String,
    labels: std::collections::HashMap<String, String>,
    options: std::collections::HashMap<String, String>,
}

/// Removes the service's (stopped) container and its named volume, and proves the volume
/// is gone.
async fn destroy(stack: &Stack, service: &str, volume: &Volume) -> Result<SavedVolume> {
    let docker = stack.docker();
    let v = docker.inspect_volume(&volume.name).await.map_err(|e| Error::engine("inspect volume", &volume.name, e))?;
    let saved = SavedVolume { driver: v.driver, labels: v.labels, options: v.options };
    // `-v`: the container's anonymous volumes (a Dockerfile `VOLUME`, a bare `- /path`
    // mount) carry no labels, so nothing would find and remove them later.
    stack.project.run(&["rm", "--force", "--stop", "-v", service]).await?;
    docker
        .remove_volume(&volume.name, None::<testcontainers::bollard::query_parameters::RemoveVolumeOptions>)
        .await
        .map_err(|e| {
            Error::engine("remove volume", format!("{} (hint: another container may still use it)", volume.name), e)
        })?;
    match docker.inspect_volume(&volume.name).await {
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(saved),
        Ok(_) => Err(fail(
            service,
            "cannot destroy the volume",
            format!("volume {} still exists after removal", volume.name),
        )),
        Err(e) => Err(Error::engine("inspect volume", &volume.name, e)),
    }
}

/// An empty volume with the old one's name, driver, options and labels (so compose adopts
/// it as its own and teardown finds it by label).
async fn recreate_volume(stack: &Stack, service: &str, volume: &Volume, saved: &SavedVolume) -> Result<()> {
    let req = testcontainers::bollard::models::VolumeCreateRequest {
        name: Some(volume.name.clone()),
        driver: Some(saved.driver.clone()),
        driver_opts: Some(saved.options.clone()),
        labels: Some(saved.labels.clone()),
        ..Default::default()
    };
    stack
        .docker()
        .create_volume(req)
        .await
        .map(|_| ())
        .map_err(|e| Error::engine("create volume", format!("{} for {service}", volume.name), e))
}

/// Starts `service` again and waits until its own healthcheck passes, run by the harness
/// (see `Stack::wait_ready`): `up --wait` would wait for Docker's next interval, and refuses a
/// service whose healthcheck is disabled. `--no-deps`: its dependencies are running, and
/// nothing else may be recreated under the check.
async fn up(stack: &Stack, service: &str) -> Result<()> {
    stack.project.run(&["up", "-d", "--no-build", "--no-deps", service]).await?;
    stack.wait_ready(service).await
}

/// How helper containers for a service run: its image (Debian-based images have tar) and
/// its user, so restored files get the owner the service expects.
#[derive(Debug)]
struct HelperSpec {
    image: String,
    user: String,
}

impl HelperSpec {
    async fn of(stack: &Stack, service: &str) -> Result<HelperSpec> {
        let id = stack.container_id(service).await?;
        let c = stack.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
        let config = c.config.unwrap_or_default();
        let image = config.image.filter(|i| !i.is_empty()).ok_or_else(|| {
            fail(service, "cannot find the service's image", format!("container {} has no image", short(&id)))
        })?;
        Ok(HelperSpec { image, user: config.user.unwrap_or_default() })
    }

    /// `docker run --rm` of `tar ARGS` in the service's image, labelled so the stack's
    /// teardown removes it even if this process dies mid-run.
    async fn run(
        &self,
        stack: &Stack,
        service: &str,
        mounts: &[&str],
        tar_args: &[&str],
        stdin: Stdin<'_>,
        stdout: Option<&Path>,
    ) -> Result<()> {
        let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
        if matches!(stdin, Stdin::File(_)) {
            args.push("-i".into());
        }
        let mut owner = RunIdentity::current().labels();
        owner.insert(labels::COMPOSE_PROJECT.to_owned(), stack.project.project.clone());
        for (k, v) in owner {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        // No network and a read-only root: the helper touches nothing but the volume.
        args.extend(["--network".into(), "none".into(), "--read-only".into()]);
        args.extend(["--security-opt".into(), "no-new-privileges:true".into()]);
        if !self.user.is_empty() {
            args.extend(["--user".into(), self.user.clone()]);
        }
        args.extend(mounts.iter().map(|m| (*m).to_owned()));
        args.extend(["--entrypoint".into(), "tar".into(), self.image.clone()]);
        args.extend(tar_args.iter().map(|a| (*a).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let hint = format!(
            "the helper runs `tar` from `{service}`'s image {} as user `{}`; the image needs tar and gzip, and that user must be able to read and write the volume",
            self.image, self.user
        );
        docker_cli(service, &refs, stdin, stdout, &hint).await.map(|_| ())
    }
}

/// Where a docker CLI command reads its stdin from.
#[derive(Debug, Clone, Copy)]
enum Stdin<'a> {
    Null,
    File(&'a Path),
}

/// Runs the docker CLI with a deadline. stdin and stdout may be files, so archives stream
/// to and from disk. Arguments never carry secrets (see [`pg_command`]).
async fn docker_cli(
    service: &str,
    args: &[&str],
    stdin: Stdin<'_>,
    stdout: Option<&Path>,
    hint: &str,
) -> Result<String> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args).kill_on_drop(true).stderr(std::process::Stdio::piped());
    match stdin {
        Stdin::Null => cmd.stdin(std::process::Stdio::null()),
        Stdin::File(p) => cmd.stdin(std::fs::File::open(p).map_err(|e| Error::io("cannot open the archive", p, e))?),
    };
    match stdout {
        Some(p) => cmd.stdout(std::fs::File::create(p).map_err(|e| Error::io("cannot create the archive", p, e))?),
        None => cmd.stdout(std::process::Stdio::piped()),
    };
    let shown = describe_args(args);
    let child = cmd.spawn().map_err(|e| Error::Spawn {
        program: "docker".into(),
        hint: "the docker CLI must be on PATH".into(),
        source: e,
    })?;
    let out = tokio::time::timeout(HELPER_DEADLINE, child.wait_with_output())
        .await
        .map_err(|_| {
            fail(service, "a docker command timed out", format!("`docker {shown}` ran past {}", secs(HELPER_DEADLINE)))
        })?
        .map_err(|e| Error::io("cannot wait for docker", "docker", e))?;
    if !out.status.success() {
        return Err(fail(
            service,
            "a docker command failed",
            format!(
                "`docker {shown}` exited {}: {} (hint: {hint})",
                out.status.code().map_or_else(|| "by signal".to_owned(), |c| c.to_string()),
                tail_lines(&String::from_utf8_lossy(&out.stderr), 4)
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line for messages, without the ownership labels (noise) and with the
/// inline shell script shortened.
fn describe_args(args: &[&str]) -> String {
    let mut shown = Vec::new();
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        if *a == "--label" {
            skip_next = true;
            continue;
        }
        shown.push(if a.len() > 60 { "'<script>'" } else { a });
    }
    shown.join(" ")
}

fn workdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("harness-backup-")
        .tempdir()
        .map_err(|e| Error::io("cannot create a backup directory", std::env::temp_dir(), e))
}

/// Size and sha256 of an archive on the host.
fn file_facts(service: &str, path: &Path) -> Result<(u64, String)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read the archive", path, e))?;
    if bytes.is_empty() {
        return Err(fail(service, "the backup is empty", format!("{} has 0 bytes", path.display())));
    }
    Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))))
}

/// The numeric uid and gid the service runs as, so that a file the harness writes belongs to
/// the service. `user: "999:999"` says so itself; a name (`USER zigquant`) only the image's
/// passwd file resolves, so the container answers `id -u; id -g` as that user.
async fn container_owner(stack: &Stack, service: &str, id: &str) -> Result<(u32, u32)> {
    let c = stack.docker().inspect_container(id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
    let user = c.config.and_then(|c| c.user).unwrap_or_default();
    if let Some(ids) = parse_user(&user) {
        return Ok(ids);
    }
    let cmd = ["sh".to_owned(), "-c".to_owned(), "id -u; id -g".to_owned()];
    let probe = crate::readiness::run_once(stack.docker(), id, &cmd, Duration::from_secs(10)).await;
    let mut lines = probe.output.lines().map(str::trim);
    match (probe.passed(), lines.next().map(str::parse), lines.next().map(str::parse)) {
        (true, Some(Ok(uid)), Some(Ok(gid))) => Ok((uid, gid)),
        _ => Err(fail(
            service,
            "cannot resolve the service's user to numeric ids",
            format!(
                "user `{user}`: `id -u; id -g` in the container gave {}; give the service a numeric `user: UID:GID`",
                probe.summary()
            ),
        )),
    }
}

/// `user:` as numeric ids; `None` for a name, which needs the image's passwd file. Empty
/// is root.
fn parse_user(user: &str) -> Option<(u32, u32)> {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let uid = if u.is_empty() { 0 } else { u.parse().ok()? };
    let gid = if g.is_empty() { uid } else { g.parse().ok()? };
    Some((uid, gid))
}

/// A string from the service's resolved environment.
fn env(raw: &serde_json::Value, service: &str, name: &str) -> Option<String> {
    raw["services"][service]["environment"][name].as_str().map(str::to_owned)
}

/// Where `service`'s password is: `<PREFIX>_PASSWORD_FILE` naming the mount path of one of
/// its compose secrets, or a literal `<PREFIX>_PASSWORD`.
fn password_source(raw: &serde_json::Value, service: &str, prefix: &str) -> Result<PasswordSource> {
    if let Some(path) = env(raw, service, &format!("{prefix}_PASSWORD_FILE")) {
        let secrets = raw["services"][service]["secrets"].as_array().cloned().unwrap_or_default();
        let source = secrets.iter().find_map(|s| {
            let source = s["source"].as_str()?;
            let target = s["target"].as_str().map_or_else(|| format!("/run/secrets/{source}"), str::to_owned);
            // A relative target is relative to /run/secrets.
            let target = if target.starts_with('/') { target } else { format!("/run/secrets/{target}") };
            (target == path).then(|| source.to_owned())
        });
        let file = source.as_deref().and_then(|s| raw["secrets"][s]["file"].as_str());
        return match file {
            Some(f) => Ok(PasswordSource::File(PathBuf::from(f))),
            None => Err(fail(
                service,
                "cannot find the password",
                format!(
                    "{prefix}_PASSWORD_FILE is {path}, which is not a file-backed compose secret of `{service}` (hint: list the secret under services.{service}.secrets with a `file:` at top level)"
                ),
            )),
        };
    }
    Ok(env(raw, service, &format!("{prefix}_PASSWORD"))
        .map_or(PasswordSource::None, |p| PasswordSource::Literal(Secret(p))))
}

/// The password itself: the first line of the secret file, as the images' entrypoints read it.
fn read_password(service: &str, source: PasswordSource) -> Result<Option<Secret>> {
    match source {
        PasswordSource::None => Ok(None),
        PasswordSource::Literal(s) => Ok(Some(s)),
        PasswordSource::File(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read the password secret", &path, e))?;
            let first = text.lines().next().unwrap_or_default();
            if first.is_empty() {
                return Err(fail(
                    service,
                    "cannot use the password",
                    format!("the first line of {} is empty; it is the password", path.display()),
                ));
            }
            Ok(Some(Secret(first.to_owned())))
        }
    }
}

/// Where a service mounts the named volume `key` (its resolved long-syntax `volumes:`).
fn volume_target(service: &serde_json::Value, key: &str) -> Option<String> {
    service["volumes"].as_array()?.iter().find_map(|v| {
        (v["type"].as_str() == Some("volume") && v["source"].as_str() == Some(key))
            .then(|| v["target"].as_str().map(str::to_owned))?
    })
}

fn engine_volume_name(model: &ComposeModel, project: &str, key: &str) -> String {
    model.volumes.get(key).and_then(|v| v.name.clone()).unwrap_or_else(|| format!("{project}_{key}"))
}

/// Every message in an error's chain, joined: evidence must carry the cause, not just the
/// outermost words.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A data-check failure naming the service and the step that failed.
fn fail(service: &str, what: &'static str, detail: impl std::fmt::Display) -> Error {
    Error::Data { service: service.to_owned(), step: what, detail: detail.to_string() }
}

/// The port a real client of `kind` talks to; `None` for files (written through the engine).
fn client_port(kind: DataKind) -> Option<u16> {
    match kind {
        DataKind::Postgres => Some(5432),
        DataKind::Redis => Some(6379),
        DataKind::File => None,
    }
}

/// Fails before anything is written when the policy points a client at a service that
/// does not serve its protocol (judged from the ports the container exposes), instead of
/// a connect timeout later.
pub async fn require_protocol(stack: &Stack, service: &str, kind: DataKind) -> Result<()> {
    let Some(needs) = client_port(kind) else { return Ok(()) };
    let id = stack.container_id(service).await?;
    let c = stack.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
    let exposed: Vec<String> = c.config.and_then(|c| c.exposed_ports).unwrap_or_default();
    if exposed.iter().any(|p| p.split('/').next() == Some(needs.to_string().as_str())) {
        return Ok(());
    }
    Err(Error::WrongClient {
        service: service.to_owned(),
        kind: kind.to_string(),
        ports: if exposed.is_empty() { "no declared port".to_owned() } else { exposed.join(", ") },
        needs,
    })
}

/// One regular file as a POSIX ustar archive: the Engine's archive API takes tar streams.
fn tar_one(name: &str, data: &[u8], uid: u32, gid: u32) -> Vec<u8> {
    fn put(header: &mut [u8; 512], at: usize, len: usize, value: &[u8]) {
        let n = value.len().min(len);
        header[at..at + n].copy_from_slice(&value[..n]);
    }
    fn octal(value: u64, len: usize) -> Vec<u8> {
        format!("{value:0width$o}\0", width = len - 1).into_bytes()
    }
    let mut h = [0u8; 512];
    put(&mut h, 0, 100, name.as_bytes());
    // 0600: the service's own data; nobody else needs to read the marker.
    put(&mut h, 100, 8, &octal(0o600, 8));
    put(&mut h, 108, 8, &octal(u64::from(uid), 8));
    put(&mut h, 116, 8, &octal(u64::from(gid), 8));
    put(&mut h, 124, 12, &octal(data.len() as u64, 12));
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    put(&mut h, 136, 12, &octal(mtime, 12));
    // The checksum is computed with its own field as spaces.
    put(&mut h, 148, 8, b"        ");
    put(&mut h, 156, 1, b"0");
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    // Two zero blocks end the archive.
    out.resize(out.len() + 1024, 0);
    out
}

/// The contents of the first regular file in a tar stream, skipping pax and GNU extension
/// headers; `None` when there is none or the archive is cut short.
fn untar_one(archive: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 512 <= archive.len() {
        let header = &archive[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            return None;
        }
        let size_field = std::str::from_utf8(&header[124..136]).ok()?;
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()?;
        let size = usize::try_from(size).ok()?;
        let data = at + 512;
        if data + size > archive.len() {
            return None;
        }
        match header[156] {
            b'0' | 0 => return Some(archive[data..data + size].to_vec()),
            // pax ('x', 'g') and GNU long-name ('L', 'K') headers describe the next entry.
            _ => at = data + size.div_ceil(512) * 512,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mount(kind: &str, name: &str, destination: &str) -> MountView {
        MountView { kind: kind.into(), name: name.into(), destination: destination.into() }
    }

    #[track_caller]
    fn check_volume(path: &str, mounts: &[MountView], expected: Option<&str>, passed: bool, measured: &str) {
        let want = ExpectedVolume { key: "pgdata".into(), name: expected.map(str::to_owned) };
        let v = judge_volume("postgres", path, "`SHOW data_directory`", mounts, &want);
        assert_eq!((v.passed(), v.measured.as_str()), (passed, measured), "{}", v.evidence);
        assert_eq!(v.criterion, Criterion::PersistenceVolume);
        assert_eq!(v.hint.is_some(), !passed, "a failure says how to fix it");
        assert!(v.evidence.contains(path), "{}", v.evidence);
    }

    #[test]
    fn data_must_live_on_the_named_volume() {
        let data = "/var/lib/postgresql/data";
        let named = || mount("volume", "hx1_pgdata", data);
        let tmp = || mount("tmpfs", "", "/tmp");
        // On the volume the policy names.
        check_volume(data, &[tmp(), named()], Some("hx1_pgdata"), true, "volume hx1_pgdata");
        // A subdirectory of the mount, and a trailing slash, are still on it.
        check_volume("/var/lib/postgresql/data/pg15", &[named()], Some("hx1_pgdata"), true, "volume hx1_pgdata");
        check_volume("/var/lib/postgresql/data/", &[named()], Some("hx1_pgdata"), true, "volume hx1_pgdata");
        // No mount: the container layer. A sibling prefix is not a parent.
        check_volume(data, &[tmp()], Some("hx1_pgdata"), false, "container layer");
        check_volume(data, &[mount("volume", "hx1_pgdata", "/var/lib/postgresql/da")], None, false, "container layer");
        // A tmpfs or bind mount is not a named volume.
        check_volume(data, &[mount("tmpfs", "", data)], Some("hx1_pgdata"), false, "tmpfs mount");
        check_volume(data, &[mount("bind", "", "/var/lib/postgresql")], Some("hx1_pgdata"), false, "bind mount");
        // An anonymous volume, and a volume the stack does not declare.
        let anon = || mount("volume", "3f9a0c", data);
        check_volume(data, &[anon()], Some("hx1_pgdata"), false, "volume 3f9a0c");
        check_volume(data, &[anon()], None, false, "volume 3f9a0c");
        // The deepest mount wins.
        let outer = mount("volume", "hx1_pgdata", "/var/lib/postgresql");
        check_volume(data, &[outer, mount("tmpfs", "", data)], Some("hx1_pgdata"), false, "tmpfs mount");
    }

    fn items(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
    }

    #[track_caller]
    fn check_compare(read: &[(&str, &[u8])], passed: bool, measured: &str) {
        let written = items(&[("1", b"a"), ("2", b"b"), ("3", b"c")]);
        let c = Comparison::of(&written, &items(read));
        assert_eq!((c.passed(), c.measured("rows").as_str()), (passed, measured));
        assert_eq!(c.before == c.after, passed, "digests agree exactly when the data does");
    }

    #[test]
    fn comparison_counts_identical_changed_missing_and_extra() {
        check_compare(&[("1", b"a"), ("2", b"b"), ("3", b"c")], true, "3/3 rows identical");
        check_compare(&[], false, "0/3 rows identical (3 missing)");
        check_compare(&[("1", b"a"), ("2", b"B")], false, "1/3 rows identical (1 changed, 1 missing)");
        check_compare(
            &[("1", b"a"), ("2", b"b"), ("3", b"c"), ("4", b"d")],
            false,
            "3/3 rows identical (1 unexpected)",
        );
    }

    #[test]
    fn digest_is_length_prefixed() {
        // Moving a byte from a key into its value must change the digest.
        assert_ne!(digest(&items(&[("ab", b"c")])), digest(&items(&[("a", b"bc")])));
        assert_eq!(digest(&items(&[("a", b"b")])), digest(&items(&[("a", b"b")])));
    }

    #[test]
    fn samples_are_random_sized_and_named_per_kind() {
        let a = Sample::random(DataKind::Postgres, "persist");
        let b = Sample::random(DataKind::Postgres, "persist");
        assert_eq!((a.items.len(), a.bytes(), a.unit), (ROWS, ROWS * ITEM_BYTES, "rows"));
        assert_ne!(a.items, b.items, "two samples never hold the same data");
        assert!(
            a.place.starts_with("harness_persist_") && a.place.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        let r = Sample::random(DataKind::Redis, "backup_tar");
        assert_eq!((r.items.len(), r.unit), (KEYS, "keys"));
        assert!(r.items.keys().all(|k| k.starts_with("harness:backup_tar:")));
        let f = Sample::random(DataKind::File, "backup_tar");
        assert_eq!((f.items.len(), f.bytes()), (1, FILE_BYTES));
        assert!(f.place.starts_with(".harness-backup-tar-"), "{}", f.place);
    }

    #[test]
    fn one_file_tar_round_trips_and_skips_extension_headers() {
        let data = random_bytes(1000);
        let archive = tar_one("marker", &data, 999, 998);
        assert_eq!(archive.len() % 512, 0);
        assert_eq!(untar_one(&archive), Some(data.clone()));
        // The checksum is what tar computes: the sum of the header with the field blank.
        let mut blank = archive[..512].to_vec();
        blank[148..156].copy_from_slice(b"        ");
        let sum: u32 = blank.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(&archive[148..155], format!("{sum:06o}\0").as_bytes());
        assert_eq!(&archive[108..116], b"0001747\0", "uid 999 in octal");
        // A pax header before the file, as the engine may send.
        let mut pax = tar_one("PaxHeaders/marker", b"30 mtime=1700000000.123456789\n", 0, 0);
        pax[156] = b'x';
        pax.truncate(1024);
        pax.extend_from_slice(&archive);
        assert_eq!(untar_one(&pax), Some(data));
        // Cut short, empty, or only end blocks: nothing.
        assert_eq!(untar_one(&archive[..600]), None);
        assert_eq!(untar_one(&[]), None);
        assert_eq!(untar_one(&[0u8; 1024]), None);
    }

    fn raw() -> serde_json::Value {
        json!({
            "services": {
                "postgres": {
                    "environment": {"POSTGRES_USER": "notes", "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"},
                    "secrets": [{"source": "postgres_password", "target": "/run/secrets/postgres_password"}],
                    "volumes": [
                        {"type": "bind", "source": "/host", "target": "/etc/x"},
                        {"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"}
                    ]
                },
                "redis": {
                    "environment": {"REDIS_PASSWORD_FILE": "/run/secrets/rpw"},
                    "secrets": [{"source": "redis_password", "target": "rpw"}]
                },
                "legacy": {"environment": {"POSTGRES_PASSWORD": "literal-pw"}},
                "broken": {"environment": {"POSTGRES_PASSWORD_FILE": "/elsewhere"}, "secrets": [{"source": "postgres_password"}]},
                "cache": {}
            },
            "secrets": {
                "postgres_password": {"file": "/abs/secrets/postgres_password"},
                "redis_password": {"file": "/abs/secrets/redis_password"}
            }
        })
    }

    #[track_caller]
    fn check_source(service: &str, prefix: &str, expected: Option<PasswordSource>) {
        let got = password_source(&raw(), service, prefix).ok();
        assert_eq!(got, expected, "{service}");
    }

    #[test]
    fn password_comes_from_the_secret_the_env_points_at() {
        check_source("postgres", "POSTGRES", Some(PasswordSource::File("/abs/secrets/postgres_password".into())));
        // A relative secret target is under /run/secrets.
        check_source("redis", "REDIS", Some(PasswordSource::File("/abs/secrets/redis_password".into())));
        check_source("legacy", "POSTGRES", Some(PasswordSource::Literal(Secret("literal-pw".into()))));
        check_source("cache", "REDIS", Some(PasswordSource::None));
        // The env names a file that is no secret of the service: an error, not a guess.
        check_source("broken", "POSTGRES", None);
    }

    #[test]
    fn secrets_never_print() {
        let store =
            Store::Postgres { user: "notes".into(), database: "notes".into(), password: Secret("hunter2".into()) };
        let shown = format!("{store:?} {:?}", PasswordSource::Literal(Secret("hunter2".into())));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        // The pg tools get the file's path in argv, never the password.
        let cmd = pg_command("/run/secrets/postgres_password", "pg_dump", "notes", "notes", &[]).join(" ");
        assert!(cmd.contains("/run/secrets/postgres_password") && cmd.contains("--username=notes"), "{cmd}");
    }

    #[test]
    fn finds_where_a_service_mounts_a_volume() {
        let r = raw();
        assert_eq!(volume_target(&r["services"]["postgres"], "pgdata").as_deref(), Some("/var/lib/postgresql/data"));
        assert_eq!(volume_target(&r["services"]["postgres"], "/host"), None, "binds are not named volumes");
        assert_eq!(volume_target(&r["services"]["cache"], "pgdata"), None);
    }

    #[test]
    fn counts_and_sizes_read_naturally() {
        for (n, unit, expected) in [(64, "rows", "64 rows"), (1, "files", "1 file"), (0, "keys", "0 keys")] {
            assert_eq!(counted(n, unit), expected);
        }
        for (bytes, expected) in [(0, "0 B"), (1067, "1067 B"), (11_463, "11.5 kB"), (6_695_583, "6.7 MB")] {
            assert_eq!(size(bytes), expected);
        }
    }

    #[test]
    fn user_strings_become_ids() {
        for (user, expected) in [
            ("999:998", Some((999, 998))),
            ("999", Some((999, 999))),
            ("", Some((0, 0))),
            ("postgres", None),
            ("1000:staff", None),
        ] {
            assert_eq!(parse_user(user), expected, "{user}");
        }
    }

    #[test]
    fn command_lines_in_messages_drop_labels_and_scripts() {
        let script = "x".repeat(80);
        let args = ["run", "--label", "io.harness.run-id=abc", "--rm", "sh", "-c", &script];
        assert_eq!(describe_args(&args), "run --rm sh -c '<script>'");
    }
}
