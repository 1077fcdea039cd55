//! Progress of long steps (image builds, boot, waits, the backup cycle) for people
//! watching a run, as events.
//!
//! The library only says what happened: a note, a boot board starting, a service reaching
//! a state, the board ending. How that is shown is the front-end's business (the CLI draws
//! a live board on a terminal and timestamped lines otherwise), so the library carries no
//! terminal code and a test's output never gets a live board. A front-end installs its
//! sink once with [`set_sink`]; until one does, notes go to `tracing` at info and boot
//! states at debug, where a test's subscriber (or none) decides.

use std::sync::OnceLock;
use std::time::Duration;

/// One thing a person watching a run may want to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// One step of a long operation: "building image x", "backup.tar of pgdata: archived".
    Note(&'a str),
    /// A boot of `title` begins, with these services, all waiting.
    Board {
        /// The compose project that is booting.
        title: &'a str,
        /// The stack's services.
        services: &'a [&'a str],
    },
    /// A service reached `state` (created, started, ready, healthy) `at` after the boot began.
    Service {
        /// The service.
        name: &'a str,
        /// The state it reached: `created`, `started`, `ready` or `healthy`.
        state: &'static str,
        /// How long after the boot began it got there.
        at: Duration,
    },
    /// The boot is over, booted or not.
    BoardDone,
}

/// Where events go: a closure rather than a trait, since a front-end has one way to show them.
pub type Sink = Box<dyn Fn(&Event<'_>) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the sink every later event goes to. The first call wins: a process has one
/// front-end, and events must not change destination halfway through a board.
pub fn set_sink(sink: Sink) -> bool {
    SINK.set(sink).is_ok()
}

fn emit(event: &Event<'_>) {
    match SINK.get() {
        Some(sink) => sink(event),
        None => match event {
            Event::Note(msg) => tracing::info!(target: "harness::progress", "{msg}"),
            Event::Board { title, services } => {
                tracing::debug!(target: "harness::progress", "booting {title}: {}", services.join(", "));
            }
            Event::Service { name, state, at } => {
                tracing::debug!(target: "harness::progress", "{name}: {state} at {:.3}s", at.as_secs_f64());
            }
            Event::BoardDone => {}
        },
    }
}

/// One step of a long operation.
pub fn note(msg: impl std::fmt::Display) {
    emit(&Event::Note(&msg.to_string()));
}

/// Starts a board for a boot of `title` with these services, all waiting.
pub fn board(title: &str, services: &[&str]) {
    emit(&Event::Board { title, services });
}

/// A service reached `state` (created, started, ready, healthy) `at` after the boot began.
pub fn service(name: &str, state: &'static str, at: Duration) {
    emit(&Event::Service { name, state, at });
}

/// Ends the board.
pub fn board_done() {
    emit(&Event::BoardDone);
}
