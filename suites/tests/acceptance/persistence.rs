//! Persistence and backup: data written through real clients survives a restart and a
//! recreation, lives on a named volume, and a backup restores it byte for byte (seed
//! ZViewer 004 "data persisting across container restarts"; seed zigQuant 000's tar
//! backup of a named volume). Every test here is destructive and boots its own stack.

use std::path::PathBuf;

use harness::checks::{Context, data};
use harness::policy::{Backup, BackupMethod, DataKind, Persistence, Policy, Settings};
use harness::stack::{Stack, StackConfig};
use harness::teardown::Removed;
use harness::verdict::Verdict;
use tracing_test::traced_test;

use crate::{leftovers, test_stack, workspace};

const NOTHING: Removed = Removed { containers: 0, networks: 0, volumes: 0 };

fn policy(persistence: Vec<Persistence>, backups: Vec<Backup>) -> Policy {
    Policy {
        path: PathBuf::from("(built in the test)"),
        defaults: Settings::default(),
        services: Default::default(),
        networks: Default::default(),
        persistence,
        backups,
        gateway: None,
        routes: vec![],
        observability: Default::default(),
        waivers: vec![],
    }
}

fn keep(service: &str, kind: DataKind, volume: &str, path: Option<&str>) -> Persistence {
    Persistence { service: service.into(), kind, volume: volume.into(), path: path.map(str::to_owned) }
}

#[track_caller]
fn find<'v>(verdicts: &'v [Verdict], criterion: &str, subject: &str) -> &'v Verdict {
    verdicts
        .iter()
        .find(|v| v.criterion.id() == criterion && v.subject == subject)
        .unwrap_or_else(|| panic!("no verdict for {criterion} {subject}"))
}

fn print(verdicts: &[Verdict]) {
    for v in verdicts {
        eprintln!("{}\n    {}", v.line(), v.evidence);
    }
}

/// The fixture passwords appear in no verdict and no log line (`logs_contain` is the one
/// `#[traced_test]` puts in the test's scope).
#[track_caller]
fn assert_no_secrets(verdicts: &[Verdict], logs_contain: impl Fn(&str) -> bool) {
    for secret in ["postgres_password", "redis_password"] {
        let value =
            std::fs::read_to_string(workspace(&format!("compose/reference/secrets/{secret}"))).unwrap_or_default();
        let value = value.lines().next().unwrap_or_default();
        assert!(!value.is_empty(), "fixture secret {secret} is readable");
        for v in verdicts {
            let text = format!("{} {} {} {:?}", v.measured, v.budget, v.evidence, v.hint);
            assert!(!text.contains(value), "{secret} leaked into {}", v.line());
        }
        assert!(!logs_contain(value), "{secret} leaked into the logs");
    }
}

/// Criterion: data persists across container restarts and recreation, on a named volume
/// (seed ZViewer 004). Rows through sqlx, keys through redis, a file in Prometheus's volume.
#[tokio::test(flavor = "multi_thread")]
#[traced_test]
async fn postgres_rows_and_redis_keys_survive_restart_and_recreate() {
    let stack = Stack::boot(StackConfig::new(workspace("compose/reference")).with_name("persistence-reference"))
        .await
        .expect("reference stack boots");
    let policy = policy(
        vec![
            keep("postgres", DataKind::Postgres, "pgdata", None),
            keep("redis", DataKind::Redis, "redisdata", None),
            keep("prometheus", DataKind::File, "promdata", Some("/prometheus")),
        ],
        vec![],
    );
    let verdicts = data::persistence(&Context { stack: &stack, policy: &policy }).await.expect("persistence judged");
    print(&verdicts);
    crate::record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(verdicts.len(), 9, "three criteria for each of three services");
    for service in ["postgres", "redis", "prometheus"] {
        for criterion in ["persistence.volume", "persistence.restart", "persistence.recreate"] {
            let v = find(&verdicts, criterion, service);
            assert!(v.passed(), "{}\n  {}", v.line(), v.evidence);
        }
    }
    assert!(find(&verdicts, "persistence.restart", "postgres").measured.starts_with("64/64 rows identical"));
    assert!(find(&verdicts, "persistence.recreate", "redis").measured.starts_with("16/16 keys identical"));
    assert_no_secrets(&verdicts, logs_contain);
    let project = stack.project_name().to_owned();
    drop(stack);
    assert_eq!(leftovers(&project).await, NOTHING, "recreated containers are removed too");
}

/// Criterion: a backup restores identical data after the volume is destroyed (seed zigQuant
/// 000: `tar czf` of the named volume through a helper container; ZViewer: pg_dump and
/// restore). Tar for PostgreSQL and Redis, pg_dump for PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
#[traced_test]
async fn tar_and_pg_dump_backups_restore_identical_data() {
    let stack = Stack::boot(StackConfig::new(workspace("compose/reference")).with_name("backup-reference"))
        .await
        .expect("reference stack boots");
    let policy = policy(
        vec![],
        vec![
            Backup {
                service: "postgres".into(),
                volume: "pgdata".into(),
                kind: DataKind::Postgres,
                methods: vec![BackupMethod::Tar, BackupMethod::PgDump],
            },
            Backup {
                service: "redis".into(),
                volume: "redisdata".into(),
                kind: DataKind::Redis,
                methods: vec![BackupMethod::Tar],
            },
        ],
    );
    let verdicts = data::backup(&Context { stack: &stack, policy: &policy }).await.expect("backups judged");
    print(&verdicts);
    crate::record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(verdicts.len(), 3);
    for (criterion, service) in [("backup.tar", "postgres"), ("backup.pg_dump", "postgres"), ("backup.tar", "redis")] {
        let v = find(&verdicts, criterion, service);
        assert!(v.passed(), "{}\n  {}", v.line(), v.evidence);
        assert!(v.measured.contains("archive "), "{}", v.measured);
    }
    assert_no_secrets(&verdicts, logs_contain);
    let project = stack.project_name().to_owned();
    drop(stack);
    assert_eq!(leftovers(&project).await, NOTHING, "restored volumes and helper containers are removed too");
}

/// Criteria: data persists across recreation on a named volume (seed ZViewer 004), and a
/// backup restores it (seed zigQuant 000), shown failing. Without its volume, PostgreSQL
/// keeps its cluster in the container layer: it survives a restart (same container) and is
/// gone after `down` + `up` (new container). Redis writes outside its volume, so a tar of
/// the volume restores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn data_outside_the_named_volume_fails_volume_recreate_and_backup() {
    let stack = Stack::boot(
        StackConfig::new(workspace("compose/reference"))
            .with_override(test_stack("no-volume").join("compose.override.yaml"))
            .with_name("persistence-no-volume"),
    )
    .await
    .expect("reference stack with data outside the volumes boots");
    let policy = policy(
        vec![keep("postgres", DataKind::Postgres, "pgdata", None)],
        vec![Backup {
            service: "redis".into(),
            volume: "redisdata".into(),
            kind: DataKind::Redis,
            methods: vec![BackupMethod::Tar],
        }],
    );
    let cx = Context { stack: &stack, policy: &policy };
    let mut verdicts = data::persistence(&cx).await.expect("persistence judged");
    verdicts.extend(data::backup(&cx).await.expect("backup judged"));
    print(&verdicts);

    let volume = find(&verdicts, "persistence.volume", "postgres");
    assert!(!volume.passed(), "{}", volume.line());
    assert_eq!(volume.measured, "container layer");
    assert!(volume.evidence.contains("/var/lib/postgresql/data"), "{}", volume.evidence);
    assert!(volume.hint.as_deref().is_some_and(|h| h.contains("pgdata:/var/lib/postgresql/data")), "{:?}", volume.hint);

    // The same container keeps its layer: a restart alone cannot tell.
    let restart = find(&verdicts, "persistence.restart", "postgres");
    assert!(restart.passed(), "{}\n  {}", restart.line(), restart.evidence);

    let recreate = find(&verdicts, "persistence.recreate", "postgres");
    assert!(!recreate.passed(), "{}", recreate.line());
    assert!(recreate.measured.starts_with("0/64 rows"), "{}", recreate.measured);
    assert!(recreate.evidence.contains("does not exist"), "the table is gone: {}", recreate.evidence);
    assert!(recreate.hint.as_deref().is_some_and(|h| h.contains("named volume `pgdata`")), "{:?}", recreate.hint);

    let tar = find(&verdicts, "backup.tar", "redis");
    assert!(!tar.passed(), "{}", tar.line());
    assert!(tar.measured.starts_with("0/16 keys identical (16 missing)"), "{}", tar.measured);
    assert!(tar.hint.is_some());
}

/// Bad input: a persistence spec whose client the service does not speak (PostgreSQL rows
/// asked of a container that serves no PostgreSQL) fails at once, naming the service, the
/// kind, the ports it does listen on and the fix, before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_the_service_does_not_speak_is_a_clear_error() {
    let stack =
        Stack::boot(StackConfig::new(test_stack("tiny")).with_name("persist-wrong-client")).await.expect("boots");
    let p = policy(vec![keep("idle", DataKind::Postgres, "scratch", None)], vec![]);
    let started = std::time::Instant::now();
    let err = data::persistence(&Context { stack: &stack, policy: &p }).await.expect_err("wrong client").to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "fails fast, not by connect timeout");
    for fragment in ["service `idle`", "does not speak postgres", "no declared port", "port 5432", "hint: fix `kind`"] {
        assert!(err.contains(fragment), "`{err}` should contain `{fragment}`");
    }
    let project = stack.project_name().to_owned();
    drop(stack);
    assert_eq!(leftovers(&project).await, NOTHING);
}
