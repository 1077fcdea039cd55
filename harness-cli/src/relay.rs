//! A unix-socket relay to the real engine that can be cut: the engine "goes away" for one
//! harness process (pointed at the relay by `DOCKER_HOST`) without touching the daemon that
//! other processes share. `bench soak`'s engine-cut fault and the CLI's tests use it.
//!
//! Hand-written: a byte pump between two unix sockets is a few lines of std, and no crate
//! offers "cut every connection now" on top of one.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The engine's own socket, where a relay forwards to.
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// A listening relay; [`Relay::cut`] makes it refuse and close everything, and so does drop.
#[derive(Debug)]
pub struct Relay {
    path: PathBuf,
    streams: Arc<Mutex<Vec<UnixStream>>>,
    cut: Arc<AtomicBool>,
}

impl Relay {
    /// Listens at `path` (replacing a stale socket there) and forwards each connection to the
    /// engine, one thread per direction, until cut.
    pub fn start(path: &Path) -> std::io::Result<Relay> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let streams = Arc::new(Mutex::new(Vec::<UnixStream>::new()));
        let cut = Arc::new(AtomicBool::new(false));
        let (s, c) = (streams.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(engine) = UnixStream::connect(ENGINE_SOCKET) else { continue };
                let pairs = [(client.try_clone(), engine.try_clone()), (engine.try_clone(), client.try_clone())];
                if let Ok(mut all) = s.lock() {
                    all.extend([client, engine]);
                }
                for pair in pairs {
                    if let (Ok(mut from), Ok(mut to)) = pair {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    }
                }
            }
        });
        Ok(Relay { path: path.to_owned(), streams, cut })
    }

    /// The `DOCKER_HOST` value that reaches the engine through this relay.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine disappears: open connections are closed and new ones refused. The
    /// listening thread ends at its next connection (a blocked `accept` cannot be woken
    /// otherwise), so one is made here.
    pub fn cut(&self) {
        if self.cut.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
        if let Ok(all) = self.streams.lock() {
            for s in all.iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}
