//! Persistence and backup: data written through real clients survives a restart and a
//! recreation, lives on a named volume, and a backup restores it byte for byte (seed
//! ZViewer 004 "data persisting across container restarts"; seed zigQuant 000's tar
//! backup of a named volume). Every test here is destructive and boots its own stack.

use std::path::PathBuf;

use harness::boot::stack::StackConfig;
use harness::judge::verdict::Verdict;
use harness::judge::{Context, data};
use harness::policy::{Backup, BackupMethod, DataKind, Persistence, Policy};
use tracing_test::traced_test;

use crate::support::{
    NOTHING, boot, boot_judged, check_fails, check_pass, find, leftovers, print, record_reference, test_stack,
    workspace,
};

fn policy(persistence: Vec<Persistence>, backups: Vec<Backup>) -> Policy {
    Policy { persistence, backups, ..Policy::harness_defaults(PathBuf::from("(built in the test)"), &[]) }
}

fn keep(service: &str, kind: DataKind, volume: &str, path: Option<&str>) -> Persistence {
    Persistence { service: service.into(), kind, volume: volume.into(), path: path.map(str::to_owned) }
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
    let stack = boot(StackConfig::new(workspace("compose/reference")).with_name("persistence-reference")).await;
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
    record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(verdicts.len(), 9, "three criteria for each of three services");
    for service in ["postgres", "redis", "prometheus"] {
        for criterion in ["persistence.volume", "persistence.restart", "persistence.recreate"] {
            check_pass(&verdicts, criterion, service);
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
    let stack = boot(StackConfig::new(workspace("compose/reference")).with_name("backup-reference")).await;
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
    record_reference(&stack, &policy, &verdicts, None);
    assert_eq!(verdicts.len(), 3);
    for (criterion, service) in [("backup.tar", "postgres"), ("backup.pg_dump", "postgres"), ("backup.tar", "redis")] {
        check_pass(&verdicts, criterion, service);
        assert!(find(&verdicts, criterion, service).measured.contains("archive "));
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
    let stack = boot(
        StackConfig::new(workspace("compose/reference"))
            .with_override(test_stack("no-volume").join("compose.override.yaml"))
            .with_name("persistence-no-volume"),
    )
    .await;
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

    check_fails(&verdicts, "persistence.volume", "postgres", "/var/lib/postgresql/data");
    check_fails(&verdicts, "persistence.volume", "postgres", "pgdata:/var/lib/postgresql/data");
    assert_eq!(find(&verdicts, "persistence.volume", "postgres").measured, "container layer");

    // The same container keeps its layer: a restart alone cannot tell.
    check_pass(&verdicts, "persistence.restart", "postgres");

    // The table is gone after down + up.
    check_fails(&verdicts, "persistence.recreate", "postgres", "does not exist");
    check_fails(&verdicts, "persistence.recreate", "postgres", "named volume `pgdata`");
    assert!(find(&verdicts, "persistence.recreate", "postgres").measured.starts_with("0/64 rows"));

    check_fails(&verdicts, "backup.tar", "redis", "0/16 keys identical (16 missing)");
}

/// Criterion: data persists across container restarts and recreation (seed ZViewer 004),
/// shown failing on compose/broken with its own policy: `sessions` keeps Redis's /data on a
/// tmpfs, so its keys are gone after a plain restart; `redis` keeps them in the container
/// layer, so they survive the restart and are gone after `down` + `up`. postgres, on its
/// named volume, passes all three. Destructive: a broken stack of its own.
#[tokio::test(flavor = "multi_thread")]
async fn broken_stack_loses_data_on_restart_and_on_recreate() {
    let (stack, policy) = boot_judged("compose/broken", "persistence-broken").await;
    let verdicts = data::persistence(&Context { stack: &stack, policy: &policy }).await.expect("persistence judged");
    print(&verdicts);
    check_fails(&verdicts, "persistence.restart", "sessions", "0/16 keys identical");
    check_fails(&verdicts, "persistence.restart", "sessions", "lost data on a restart");
    check_fails(&verdicts, "persistence.volume", "sessions", "tmpfs");
    check_pass(&verdicts, "persistence.restart", "redis");
    check_fails(&verdicts, "persistence.recreate", "redis", "0/16 keys identical");
    check_fails(&verdicts, "persistence.recreate", "redis", "lost data when its container was recreated");
    for criterion in ["persistence.volume", "persistence.restart", "persistence.recreate"] {
        check_pass(&verdicts, criterion, "postgres");
    }
}

/// Bad input: a persistence spec whose client the service does not speak (PostgreSQL rows
/// asked of a container that serves no PostgreSQL) fails at once, naming the service, the
/// kind, the ports it does listen on and the fix, before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_the_service_does_not_speak_is_a_clear_error() {
    let stack = boot(StackConfig::new(test_stack("tiny")).with_name("persist-wrong-client")).await;
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
