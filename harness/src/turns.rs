//! Turns for timed work: harness runs on one host that ask for them take turns through
//! the steps whose verdicts time something.
//!
//! Why: a startup budget, a p99 or a recovery time judges the stack only while the stack
//! has the machine. Several harness runs on one engine (CI jobs sharing a runner, `bench
//! soak --concurrency`) share its cores, and on a small machine four stacks booting at once
//! miss a 30 s startup budget that each meets alone in 8 s. That failure is the machine's,
//! not the stack's. A run that takes turns waits until no other such run is in its timed
//! steps, so its timings are what the stack does alone; its untimed work (images,
//! persistence, backups, teardown) still overlaps the others'.
//!
//! The turn is an advisory `flock` on one file per user in the temp directory (or
//! `HARNESS_TURNS_LOCK`). The kernel drops it when its holder exits, however it exits, so a
//! killed run never blocks the next one. Runs that do not ask for turns ignore the file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::{Error, Result};

/// The environment variable that names the lock file instead of the default.
pub const LOCK_ENV: &str = "HARNESS_TURNS_LOCK";

/// The lock file every run on this host by this user shares: `HARNESS_TURNS_LOCK`, else
/// `harness-turns-<uid>.lock` in the temp directory.
pub fn lock_path() -> PathBuf {
    lock_path_from(std::env::var_os(LOCK_ENV))
}

fn lock_path_from(var: Option<std::ffi::OsString>) -> PathBuf {
    match var {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::temp_dir().join(format!("harness-turns-{}.lock", nix::unistd::getuid())),
    }
}

/// A turn being held: the timed steps of this run. Dropping it gives the turn back.
#[derive(Debug)]
pub struct Turn {
    // Held for its lock; dropping it unlocks and closes the file.
    _lock: Flock<std::fs::File>,
    /// How long this run waited for the turn (zero when no other run held it).
    pub waited: Duration,
}

/// Waits for the turn, then holds it until the returned [`Turn`] is dropped. `what` names
/// the work in the progress line shown while waiting.
pub async fn take(what: &str) -> Result<Turn> {
    take_at(lock_path(), what).await
}

/// [`take`] with a given lock file (tests use their own).
pub async fn take_at(path: PathBuf, what: &str) -> Result<Turn> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open the turns lock file", &path, e))?;
    let started = Instant::now();
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(Turn { _lock: lock, waited: Duration::ZERO }),
        Err((file, Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => return Err(Error::io("lock the turns lock file", &path, e.into())),
    };
    crate::progress::note(format!(
        "waiting for the turn to {what}: another harness run on this host is in its timed steps (lock {})",
        path.display()
    ));
    let shown = path.clone();
    // A blocking flock on a thread of its own: a signal still ends the process at once (the
    // teardown handler exits), and the kernel then drops the wait with it.
    let lock = tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockExclusive))
        .await
        .map_err(|e| Error::io("wait for the turns lock", &shown, std::io::Error::other(e)))?
        .map_err(|(_, e)| Error::io("lock the turns lock file", &shown, e.into()))?;
    let waited = started.elapsed();
    crate::progress::note(format!("got the turn after {:.1}s", waited.as_secs_f64()));
    Ok(Turn { _lock: lock, waited })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two turns on one file: the second waits until the first is dropped, and says how long.
    #[tokio::test]
    async fn a_second_turn_waits_until_the_first_is_given_back() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let path = dir.path().join("turns.lock");
        let first = take_at(path.clone(), "test").await.expect("the first turn");
        assert_eq!(first.waited, Duration::ZERO);
        let second = tokio::spawn(take_at(path.clone(), "test"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second turn did not wait");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second turn within 5 s")
            .expect("its task")
            .expect("the second turn");
        assert!(second.waited >= Duration::from_millis(250), "waited {:?}", second.waited);
    }

    /// A lock file that cannot be created is an error naming the file, not a wait.
    #[tokio::test]
    async fn a_lock_file_that_cannot_be_opened_names_the_file() {
        let err = take_at(PathBuf::from("/nonexistent-dir/turns.lock"), "test").await.expect_err("no such directory");
        assert!(err.to_string().contains("/nonexistent-dir/turns.lock"), "{err}");
    }

    /// The default is per user, in the temp directory; the variable, when set, wins.
    #[test]
    fn the_lock_is_per_user_in_the_temp_directory_unless_named() {
        let uid = nix::unistd::getuid();
        for var in [None, Some("")] {
            let p = lock_path_from(var.map(Into::into));
            assert_eq!(p, std::env::temp_dir().join(format!("harness-turns-{uid}.lock")));
        }
        assert_eq!(lock_path_from(Some("/run/ci/turns".into())), PathBuf::from("/run/ci/turns"));
    }
}
