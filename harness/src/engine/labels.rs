//! Who owns a resource: the labels every container, network and volume the harness
//! creates carries, and the liveness test the reaper applies to them.
//!
//! The owner is a process, identified by pid *and* its start time (field 22 of
//! `/proc/PID/stat`), so a recycled pid never makes a dead run's leftovers look alive.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The label holding the run id of the process that created the resource.
pub const RUN_ID: &str = "io.harness.run-id";
/// The label holding the owning process's pid.
pub const OWNER_PID: &str = "io.harness.owner-pid";
/// The label holding the owning process's start time, in clock ticks since boot.
pub const OWNER_START: &str = "io.harness.owner-start";
/// The label holding the host name the owning process runs on.
pub const OWNER_HOST: &str = "io.harness.owner-host";
/// The label holding the creation time, in seconds since the Unix epoch.
pub const CREATED: &str = "io.harness.created";
/// Marks the harness's own helper containers (probes, backups), with their role as the
/// value, for anyone reading `docker ps` and for `bench soak`'s helper fault.
pub const HELPER_ROLE: &str = "io.harness.role";
/// The compose project label compose itself puts on everything it creates.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// The service label compose itself puts on every container.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// Compose's number of a service's container: `api-2` is 2.
pub const COMPOSE_CONTAINER_NUMBER: &str = "com.docker.compose.container-number";

/// The identity of this harness process, fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    /// A random id, ten hex digits, that names this process's run.
    pub run_id: String,
    /// This process's pid.
    pub pid: u32,
    /// Process start time in clock ticks since boot; `0` where `/proc` is unavailable.
    pub start_ticks: u64,
    /// The host name, from `/proc/sys/kernel/hostname`, or `unknown`.
    pub host: String,
}

impl RunIdentity {
    /// The identity of the current process. The run id is random per process, so two
    /// runs that share an engine never collide.
    pub fn current() -> &'static RunIdentity {
        static ID: OnceLock<RunIdentity> = OnceLock::new();
        ID.get_or_init(|| {
            let pid = std::process::id();
            RunIdentity {
                run_id: uuid::Uuid::new_v4().simple().to_string()[..10].to_owned(),
                pid,
                start_ticks: process_start_ticks(pid).unwrap_or(0),
                host: hostname(),
            }
        })
    }

    /// The labels that mark a resource as owned by this run.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        BTreeMap::from([
            (RUN_ID.to_owned(), self.run_id.clone()),
            (OWNER_PID.to_owned(), self.pid.to_string()),
            (OWNER_START.to_owned(), self.start_ticks.to_string()),
            (OWNER_HOST.to_owned(), self.host.clone()),
            (CREATED.to_owned(), created.to_string()),
        ])
    }
}

/// Reads a process's start time from `/proc/PID/stat`.
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

/// Field 22 of `/proc/PID/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm, field 3 (state) is the first; field 22 is the 20th.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// What the reaper decides about a resource, from its labels alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Not ours: no harness labels, or made on another host (whose pids we cannot judge).
    Foreign,
    /// The owning process is still running.
    Alive,
    /// The owning process is gone: the resource is a leftover.
    Orphaned {
        /// The pid of the process that owned it.
        pid: u32,
    },
}

/// Judges ownership given a way to look up a pid's start time (injected for tests).
pub fn ownership(
    labels: &std::collections::HashMap<String, String>,
    me: &RunIdentity,
    start_of: impl Fn(u32) -> Option<u64>,
) -> Ownership {
    let Some(pid) = labels.get(OWNER_PID).and_then(|p| p.parse::<u32>().ok()) else {
        return Ownership::Foreign;
    };
    if labels.get(OWNER_HOST).is_some_and(|h| *h != me.host) {
        return Ownership::Foreign;
    }
    let recorded: u64 = labels.get(OWNER_START).and_then(|s| s.parse().ok()).unwrap_or(0);
    match start_of(pid) {
        // A pid that exists but started at another time is a different process.
        Some(actual) if recorded == 0 || actual == recorded => Ownership::Alive,
        _ => Ownership::Orphaned { pid },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn me() -> RunIdentity {
        RunIdentity { run_id: "r1".into(), pid: 10, start_ticks: 500, host: "box".into() }
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[track_caller]
    fn check(pairs: &[(&str, &str)], alive: &[(u32, u64)], expected: Ownership) {
        let table: HashMap<u32, u64> = alive.iter().copied().collect();
        assert_eq!(ownership(&labels(pairs), &me(), |pid| table.get(&pid).copied()), expected);
    }

    #[test]
    fn judges_ownership_from_labels() {
        // No labels: somebody else's container; never touched.
        check(&[], &[], Ownership::Foreign);
        // Another host's run: its pids mean nothing here.
        check(&[(OWNER_PID, "7"), (OWNER_HOST, "other")], &[], Ownership::Foreign);
        // Owner alive with the recorded start time.
        check(&[(OWNER_PID, "7"), (OWNER_START, "99"), (OWNER_HOST, "box")], &[(7, 99)], Ownership::Alive);
        // Owner gone.
        check(&[(OWNER_PID, "7"), (OWNER_START, "99"), (OWNER_HOST, "box")], &[], Ownership::Orphaned { pid: 7 });
        // Pid recycled by a process that started later.
        check(&[(OWNER_PID, "7"), (OWNER_START, "99")], &[(7, 1234)], Ownership::Orphaned { pid: 7 });
    }

    #[test]
    fn parses_start_time_past_a_comm_with_spaces() {
        let stat = "42 (my (odd) prog) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 50";
        assert_eq!(parse_start_ticks(stat), Some(777));
        assert_eq!(parse_start_ticks("garbage"), None);
    }

    #[test]
    fn current_process_has_a_start_time() {
        let id = RunIdentity::current();
        assert_eq!(id.pid, std::process::id());
        assert!(id.start_ticks > 0);
        assert_eq!(process_start_ticks(id.pid), Some(id.start_ticks));
        assert_eq!(id.labels()[RUN_ID], id.run_id);
    }
}
