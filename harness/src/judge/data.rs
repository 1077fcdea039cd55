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

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

use crate::boot::stack::Stack;
use crate::engine::compose::ComposeModel;
use crate::engine::helper::{self, HelperRun};
use crate::engine::labels::RunIdentity;
use crate::errors::{Error, Result, chain};
use crate::judge::Context;
use crate::judge::criteria::Criterion;
use crate::judge::verdict::{Outcome, Verdict};
use crate::policy::{BackupMethod, DataKind, Persistence};
use crate::units::secs;

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
        // The restore destroys the volume and writes the archive back. Where the volume is
        // a host path or a share, that would be someone's real files: never touched, and so
        // not judged.
        if let Some(outside) = outside_engine(stack, &volume).await? {
            out.extend(b.methods.iter().map(|m| {
                Verdict::not_judged(
                    backup_criterion(*m),
                    &b.service,
                    format!(
                        "volume `{}` keeps its data in {outside}, not in the engine's storage: the backup check destroys and rewrites the volume it restores, so it never runs on one (hint: back up a volume the engine stores, or a copy of this data in one)",
                        b.volume
                    ),
                )
            }));
            continue;
        }
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

fn backup_criterion(method: BackupMethod) -> Criterion {
    match method {
        BackupMethod::Tar => Criterion::BackupTar,
        BackupMethod::PgDump => Criterion::BackupPgDump,
    }
}

/// Where the engine says `volume` keeps its data, when that is outside its own storage
/// ([`volume_outside_engine`](super::facts::volume_outside_engine)).
async fn outside_engine(stack: &Stack, volume: &Volume) -> Result<Option<String>> {
    let v = stack
        .docker()
        .inspect_volume(&volume.name)
        .await
        .map_err(|e| Error::engine("inspect volume", &volume.name, e))?;
    let opts: BTreeMap<String, String> = v.options.into_iter().collect();
    Ok(super::facts::volume_outside_engine(&v.driver, &opts))
}

/// `backup.<method>` when the service does not mount the volume the policy backs up.
fn unmounted_backup(service: &str, volume: &str, method: BackupMethod) -> Verdict {
    Verdict {
        criterion: backup_criterion(method),
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
                let archive = tar_one(name, data, uid, gid)
                    .map_err(|e| Error::io("cannot build the file's archive", name.as_str(), e))?;
                let opts = UploadToContainerOptions { path: dir.clone(), ..Default::default() };
                stack
                    .docker()
                    .upload_to_container(&id, Some(opts), bollard::body_full(archive.into()))
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
                            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => break,
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
    // compose's `tmpfs:` key becomes HostConfig.Tmpfs, which `Mounts` does not list: without
    // it a tmpfs data directory would be misreported as the container layer.
    let tmpfs = inspect.host_config.as_ref().and_then(|h| h.tmpfs.clone()).unwrap_or_default();
    let mounts: Vec<MountView> = inspect
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| MountView {
            kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
            name: m.name.unwrap_or_default(),
            destination: m.destination.unwrap_or_default(),
        })
        .chain(tmpfs.into_keys().map(|destination| MountView {
            kind: "tmpfs".into(),
            name: String::new(),
            destination,
        }))
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

/// The seed zigQuant procedure: stop the service, `tar czf` the named volume through a helper
/// container that mounts it read-only, verify the archive on the host with the tar crate,
/// only then destroy container and volume, make an empty volume of the same name, `tar
/// xzf` into it through a helper, start the service, compare.
///
/// The archive streams through the helper's stdout and stdin rather than a bind-mounted
/// host directory: the same archive, without making a host directory writable for the
/// volume owner's uid. The volume lives in the engine, so the helper's own tar does the
/// in-container work; the harness reads the archive itself before anything is destroyed.
async fn tar_cycle(stack: &Stack, service: &str, kind: DataKind, volume: &Volume) -> Result<Verdict> {
    let store = Store::of(stack, service, kind, Some(&volume.target), &volume.key)?;
    let sample = Sample::random(kind, "backup_tar");
    store.write(stack, service, &sample).await?;
    let image = ServiceImage::of(stack, service).await?;
    let dir = workdir()?;
    let archive = dir.path().join(format!("{}.tar.gz", volume.key));
    let mut steps = Vec::new();

    let t = Instant::now();
    stack.project.run(&["stop", "--timeout", STOP_TIMEOUT, service]).await?;
    steps.push(format!("stopped `{service}` in {}", secs(t.elapsed())));
    let t = Instant::now();
    let backup = image
        .tar_helper("tar-backup", service, volume, TarJob::Archive)
        .command(["czf", "-", "--numeric-owner", "-C", &volume.target, "."])
        .stdout_file(&archive);
    let taken = helper::run(stack.docker(), stack.project_name(), backup).await;
    let backup_took = t.elapsed();
    let failed = |why: String, steps: Vec<String>, disk_full: bool| Unbacked {
        criterion: Criterion::BackupTar,
        archive: &archive,
        why,
        backup_took,
        steps,
        stopped: true,
        disk_full,
    };
    if let Some(e) = job_failure(taken)? {
        let why = format!("`tar czf` of volume {} failed after {}: {}", volume.name, secs(backup_took), chain(&e));
        return no_backup(stack, service, &store, sample, failed(why, steps, e.disk_full())).await;
    }
    steps.push(format!("`tar czf` of volume {} through a helper in {}", volume.name, secs(backup_took)));

    // Nothing is destroyed until the archive is known to be readable: a backup that cannot
    // be read back is the finding, and the original data must still be there to restart on.
    let verified = std::fs::File::open(&archive)
        .map_err(|e| e.to_string())
        .and_then(|f| verify_tar_gz(f).map_err(|e| e.to_string()));
    let facts = match verified {
        Ok(facts) if facts.entries > 0 => facts,
        unreadable => {
            let why = match unreadable {
                Ok(_) => "the archive holds no entries".to_owned(),
                Err(e) => format!("the archive is not a readable tar.gz: {e}"),
            };
            return no_backup(stack, service, &store, sample, failed(why, steps, false)).await;
        }
    };
    steps.push(format!(
        "archive verified readable with the tar crate before anything was destroyed: {} entries, {} of file data",
        facts.entries,
        size(facts.file_bytes)
    ));

    let t = Instant::now();
    let saved = destroy(stack, service, volume).await?;
    steps.push(format!("removed container and volume {} in {}", volume.name, secs(t.elapsed())));

    // From here on the data is gone: a step that fails is the answer (the backup does not
    // restore), so it becomes the verdict, not an error.
    let t = Instant::now();
    let restored = async {
        recreate_volume(stack, service, volume, &saved).await?;
        let restore = image
            .tar_helper("tar-restore", service, volume, TarJob::Extract)
            .command(["xzpf", "-", "--numeric-owner", "-C", &volume.target])
            .stdin_file(&archive);
        helper::run(stack.docker(), stack.project_name(), restore).await?;
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

/// A backup helper's outcome: `None` when it did its job, the error when the job failed
/// (judged: there is no backup), an `Err` when the engine did not do its part (not judged).
fn job_failure<T>(outcome: std::result::Result<T, helper::HelperError>) -> Result<Option<helper::HelperError>> {
    match outcome {
        Ok(_) => Ok(None),
        Err(e) if e.job_failed() => Ok(Some(e)),
        Err(e) => Err(e.into()),
    }
}

/// A backup that was not taken, or not one: why, and what was done before.
struct Unbacked<'a> {
    criterion: Criterion,
    /// Where the archive was being written; it may hold a partial one, or nothing.
    archive: &'a Path,
    why: String,
    backup_took: Duration,
    steps: Vec<String>,
    /// The method stopped the service for the backup (tar): it is started again.
    stopped: bool,
    /// The archive's file could not take it: the disk it is on is full.
    disk_full: bool,
}

/// The verdict when there is no usable backup: a failure, whatever the cause (the tool
/// failed, the disk the archive goes to filled up, the archive does not read back).
/// Nothing was destroyed, which is the point of verifying before destroying: the service
/// is started again if the method stopped it, and the data written before the backup is
/// read back through the real client, so the verdict also says that it survived.
async fn no_backup(stack: &Stack, service: &str, store: &Store, sample: Sample, u: Unbacked<'_>) -> Result<Verdict> {
    let Unbacked { criterion, archive, why, backup_took, mut steps, stopped, disk_full } = u;
    steps.push(why.clone());
    if stopped {
        up(stack, service).await?;
        steps.push(format!("nothing destroyed; `{service}` started again"));
    } else {
        steps.push("nothing destroyed".to_owned());
    }
    let n = sample.items.len();
    let unit = sample.unit;
    let kept = match store.read(stack, service, &sample).await {
        Ok(read) => Comparison::of(&sample.items, &read).measured(unit),
        Err(e) => format!("original data unreadable: {}", chain(&e)),
    };
    // A partial archive is evidence of how far the backup got; none at all is too.
    let partial = std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0);
    let hint = if disk_full {
        format!(
            "the disk the archive is written to filled up: the harness writes it under {} (TMPDIR); give it room for the volume's archive, or point TMPDIR at a larger disk",
            std::env::temp_dir().display()
        )
    } else {
        "there is no usable backup to restore: fix what stopped it (above) and run again; nothing was destroyed"
            .to_owned()
    };
    Ok(Verdict {
        criterion,
        subject: service.to_owned(),
        measured: format!("no usable backup after {}; original data: {kept}", secs(backup_took)),
        budget: format!("{n}/{n} {unit} identical after restore"),
        outcome: Outcome::judged(false),
        evidence: format!("wrote {}; {}; {} bytes of archive written", sample.describe(), steps.join("; "), partial),
        hint: Some(hint),
    })
}

/// What the harness read out of a backup archive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArchiveFacts {
    /// Every entry: files, directories, links.
    entries: usize,
    /// The bytes of all regular files' contents.
    file_bytes: u64,
    /// Entry paths, in archive order.
    names: Vec<String>,
}

/// Reads a `tar czf` archive to its end with the tar crate: every header parsed (GNU long
/// names and PAX included), every entry's content read, and the gzip trailer's CRC and
/// length checked. An error means the archive would not restore.
fn verify_tar_gz(reader: impl std::io::Read) -> std::io::Result<ArchiveFacts> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut facts = ArchiveFacts { entries: 0, file_bytes: 0, names: Vec::new() };
    for entry in archive.entries()? {
        let mut entry = entry?;
        let read = std::io::copy(&mut entry, &mut std::io::sink())?;
        if entry.header().entry_type().is_file() {
            facts.file_bytes += read;
        }
        facts.entries += 1;
        facts.names.push(entry.path()?.to_string_lossy().into_owned());
    }
    // tar stops at its end-of-archive blocks; the gzip CRC is only checked at the stream's end.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())?;
    Ok(facts)
}

/// A logical backup: `pg_dump -Fc` through a helper in the service's network namespace,
/// destroy container and volume, start the service on an empty volume (initdb runs
/// again), `pg_restore` through a helper, compare. The password never leaves the container: a shell there reads it from
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
    let Store::Postgres { user, database, password } = &store else {
        return Err(fail(service, "cannot take a pg_dump backup", "internal: not a postgres store"));
    };
    let password_file = in_container_password_file(&stack.model, service);
    let password = PgPassword {
        source: password_source(&stack.model.raw, service, "POSTGRES")?,
        in_container: password_file.clone(),
        literal: password.clone(),
    };
    let image = ServiceImage::of(stack, service).await?;
    let sample = Sample::random(kind, "backup_pgdump");
    store.write(stack, service, &sample).await?;
    let dir = workdir()?;
    let dump = dir.path().join(format!("{}.dump", database));
    let mut steps = Vec::new();

    let t = Instant::now();
    let id = stack.container_id(service).await?;
    let dump_cmd = pg_command(&password_file, "pg_dump", user, database, &["--format=custom"]);
    let req = image.pg_helper("pg-dump", service, &id, &password)?.command(dump_cmd).stdout_file(&dump);
    let taken = helper::run(stack.docker(), stack.project_name(), req).await;
    let backup_took = t.elapsed();
    let failed = |why: String, steps: Vec<String>, disk_full: bool| Unbacked {
        criterion: Criterion::BackupPgDump,
        archive: &dump,
        why,
        backup_took,
        steps,
        stopped: false,
        disk_full,
    };
    if let Some(e) = job_failure(taken)? {
        let why = format!("`pg_dump` failed after {}: {}", secs(backup_took), chain(&e));
        return no_backup(stack, service, &store, sample, failed(why, steps, e.disk_full())).await;
    }
    steps.push(format!("`pg_dump --format=custom` through a helper in {}", secs(backup_took)));

    // As for tar: nothing is destroyed before the dump is known to be one.
    let header = std::fs::read(&dump).map_err(|e| Error::io("cannot read the dump", &dump, e))?;
    if !header.starts_with(b"PGDMP") {
        let why = format!("the dump ({} bytes) does not start with PGDMP: it is not a pg_dump archive", header.len());
        return no_backup(stack, service, &store, sample, failed(why, steps, false)).await;
    }
    // The header says what the file claims to be; reading it to the end says it is whole. A
    // dump cut short (a full disk, a killed helper) fails here, while the data still exists.
    let read_back = HelperRun::new("pg-verify", service, &image.image)
        .entrypoint("pg_restore")
        .command(["--file=/dev/null"])
        .stdin_file(&dump)
        .user(&image.user)
        .timeout(HELPER_DEADLINE)
        .hint(PG_TOOLS_HINT);
    if let Some(e) = job_failure(helper::run(stack.docker(), stack.project_name(), read_back).await)? {
        let why = format!("the dump does not read back: `pg_restore --file=/dev/null` failed: {}", chain(&e));
        return no_backup(stack, service, &store, sample, failed(why, steps, e.disk_full())).await;
    }
    steps.push(format!(
        "dump verified before anything was destroyed: PGDMP header, and `pg_restore` read all {} of it back",
        size(header.len() as u64)
    ));

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
        let req = image.pg_helper("pg-restore", service, &id, &password)?.command(restore).stdin_file(&dump);
        helper::run(stack.docker(), stack.project_name(), req).await?;
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
    let w = crate::boot::readiness::Wait::new(crate::boot::readiness::WaitFor::Command(cmd), waited)
        .with_probe_timeout(Duration::from_secs(5));
    match crate::boot::readiness::wait(stack.docker(), id, &w, |r| last = r.summary()).await {
        Ok(_) => Ok(()),
        Err(g) => Err(fail(
            service,
            "the restored server does not accept TCP connections",
            format!("`pg_isready --host=127.0.0.1 --port=5432` for {}: {last} ({})", secs(waited), g.state),
        )),
    }
}

const PG_TOOLS_HINT: &str = "pg_dump and pg_restore run through `sh` in a helper from the service's image, in its container's network namespace; the image needs both, and the server must accept the user's password over TCP on 127.0.0.1:5432";

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
    docker.remove_volume(&volume.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await.map_err(|e| {
        Error::engine("remove volume", format!("{} (hint: another container may still use it)", volume.name), e)
    })?;
    match docker.inspect_volume(&volume.name).await {
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(saved),
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
    let req = bollard::models::VolumeCreateRequest {
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

/// The image and user the tar and pg helpers run with: the service's own, so the tools
/// match its data (Debian-based images have tar, gzip and the pg client tools) and restored
/// files get the owner the service expects.
#[derive(Debug)]
struct ServiceImage {
    image: String,
    user: String,
}

/// Which way a tar helper moves data: what it may touch, and so what a root helper needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TarJob {
    /// Read the volume (mounted read-only).
    Archive,
    /// Write into the volume, keeping numeric owners and modes.
    Extract,
}

/// Where a pg helper finds the password: the secret's host file, bind-mounted read-only at
/// the path the service's env names, else the literal the policy allowed in its env.
#[derive(Debug)]
struct PgPassword {
    source: PasswordSource,
    in_container: String,
    literal: Secret,
}

impl ServiceImage {
    async fn of(stack: &Stack, service: &str) -> Result<ServiceImage> {
        let id = stack.container_id(service).await?;
        let c = stack.docker().inspect_container(&id, None).await.map_err(|e| Error::engine("inspect", service, e))?;
        let config = c.config.unwrap_or_default();
        let image = config.image.filter(|i| !i.is_empty()).ok_or_else(|| {
            fail(service, "cannot find the service's image", format!("container {} has no image", short(&id)))
        })?;
        Ok(ServiceImage { image, user: config.user.unwrap_or_default() })
    }

    /// `tar` in the service's image as the service's user, with the volume mounted and no
    /// network. A service that runs as root gets a root helper, and with every capability
    /// dropped root could neither read the service's 0700 data nor restore its owners:
    /// exactly those capabilities come back, per job.
    fn tar_helper(&self, role: &'static str, service: &str, volume: &Volume, job: TarJob) -> HelperRun {
        let req = HelperRun::new(role, service, &self.image)
            .entrypoint("tar")
            .volume(&volume.name, &volume.target, job == TarJob::Archive)
            .user(&self.user)
            .timeout(HELPER_DEADLINE)
            .hint(format!(
                "the helper runs `tar` from `{service}`'s image {} as user `{}`; the image needs tar and gzip, and that user must be able to read and write the volume",
                self.image, self.user
            ));
        match (runs_as_root(&self.user), job) {
            (false, _) => req,
            (true, TarJob::Archive) => req.cap_add(&["DAC_READ_SEARCH"]),
            (true, TarJob::Extract) => req.cap_add(&["CHOWN", "DAC_OVERRIDE", "FOWNER"]),
        }
    }

    /// A PostgreSQL client tool in the service's image as its user, inside the network
    /// namespace of the service's container `id`: it reaches the server at 127.0.0.1:5432 as
    /// the healthcheck does, and no other network.
    fn pg_helper(&self, role: &'static str, service: &str, id: &str, password: &PgPassword) -> Result<HelperRun> {
        let req = HelperRun::new(role, service, &self.image)
            .network(&format!("container:{id}"))
            .user(&self.user)
            .timeout(HELPER_DEADLINE)
            .hint(PG_TOOLS_HINT);
        Ok(match &password.source {
            PasswordSource::File(host) => {
                let host =
                    std::fs::canonicalize(host).map_err(|e| Error::io("cannot find the password secret", host, e))?;
                req.bind(&host, &password.in_container, true)
            }
            PasswordSource::Literal(_) | PasswordSource::None => req.env("POSTGRES_PASSWORD", &password.literal.0),
        })
    }
}

/// Whether `user:` (empty is the image's default, root for the images here) is root.
fn runs_as_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default();
    name.is_empty() || name == "root" || name == "0"
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
    let probe = crate::boot::readiness::run_once(stack.docker(), id, &cmd, Duration::from_secs(10)).await;
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

/// One regular file as a tar stream, which the Engine's archive API takes.
fn tar_one(name: &str, data: &[u8], uid: u32, gid: u32) -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    // 0600: the service's own data; nobody else needs to read the marker.
    header.set_mode(0o600);
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    header.set_mtime(mtime);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(&mut header, name, data)?;
    builder.into_inner()
}

/// The contents of the first regular file in a tar stream (extension headers are the tar
/// crate's business); `None` when there is none or the archive is cut short.
fn untar_one(archive: &[u8]) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).ok()?;
            // The crate hands out what is there; a stream cut short is shorter than its header says.
            return (data.len() as u64 == entry.size()).then_some(data);
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
    fn one_file_tar_round_trips_with_owner_and_skips_extension_headers() {
        let data = random_bytes(1000);
        let archive = tar_one("marker", &data, 999, 998).expect("archive");
        assert_eq!(untar_one(&archive), Some(data.clone()));
        let mut read = tar::Archive::new(archive.as_slice());
        let entry = read.entries().expect("entries").next().expect("one entry").expect("entry");
        let h = entry.header();
        assert_eq!((h.uid().ok(), h.gid().ok(), h.mode().ok()), (Some(999), Some(998), Some(0o600)));
        // A PAX header before the file, as the engine may send: skipped, the file found.
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("mtime", b"1700000000.123456789".as_slice())]).expect("pax");
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        pax.append_data(&mut h, "marker", data.as_slice()).expect("file");
        assert_eq!(untar_one(&pax.into_inner().expect("archive")), Some(data));
        // Cut short, empty, or only end blocks: nothing.
        assert_eq!(untar_one(&archive[..600]), None);
        assert_eq!(untar_one(&[]), None);
        assert_eq!(untar_one(&[0u8; 1024]), None);
    }

    /// A `tar czf` archive as the tar crate writes it: the given files (name, size) under a
    /// directory entry, gzip-compressed.
    fn tar_gz(files: &[(&str, usize)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o700);
        dir.set_size(0);
        b.append_data(&mut dir, "./", std::io::empty()).expect("dir");
        for (name, len) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(*len as u64);
            h.set_mode(0o600);
            b.append_data(&mut h, name, random_bytes(*len).as_slice()).expect("file");
        }
        b.into_inner().expect("tar").finish().expect("gzip")
    }

    #[track_caller]
    fn check_archive(files: &[(&str, usize)]) {
        let facts = verify_tar_gz(tar_gz(files).as_slice()).expect("readable");
        let mut names = vec!["./".to_owned()];
        names.extend(files.iter().map(|(n, _)| (*n).to_owned()));
        let bytes: usize = files.iter().map(|(_, l)| l).sum();
        assert_eq!(facts, ArchiveFacts { entries: files.len() + 1, file_bytes: bytes as u64, names });
    }

    #[test]
    fn archive_verification_counts_entries_and_keeps_long_names() {
        check_archive(&[]);
        check_archive(&[("PG_VERSION", 3), ("base/1/1259", 8192)]);
        // Over ustar's 100-byte name field: a GNU long-name entry carries it, intact.
        let deep = format!("base/{}/{}", "d".repeat(120), "f".repeat(90));
        check_archive(&[(deep.as_str(), 100), ("pg_wal/000000010000000000000001", 0)]);
        // Over 255 bytes, past what ustar's prefix field could ever hold.
        let deeper = format!("{}/data", "segment/".repeat(40));
        check_archive(&[(deeper.as_str(), 10)]);
    }

    #[test]
    fn archive_verification_refuses_what_would_not_restore() {
        let good = tar_gz(&[("PG_VERSION", 3000)]);
        // Truncated, flipped in the middle, not gzip at all, empty.
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        for bad in [&good[..good.len() / 2], flipped.as_slice(), b"not an archive".as_slice(), &[]] {
            assert!(verify_tar_gz(bad).is_err(), "{} bytes accepted", bad.len());
        }
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
    fn only_a_root_service_gets_a_root_tar_helper() {
        for (user, root) in
            [("", true), ("0", true), ("root:root", true), ("0:0", true), ("999:999", false), ("postgres", false)]
        {
            assert_eq!(runs_as_root(user), root, "{user}");
        }
    }
}
