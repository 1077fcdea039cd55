//! Progress of long steps (image builds, boot, waits, the backup cycle) for people
//! watching a run.
//!
//! In a terminal the boot is a live board, one line per service moving from created to
//! started to ready to healthy, with elapsed time, redrawn in place. Without a terminal
//! (CI logs) every step is a plain line with the time since the run began, so a red
//! build's log says what happened when. The library stays quiet about boot states unless
//! a front-end chose a mode: test output is not a place for a live board.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No front-end chose: notes go to stderr as `harness: ...`, boot states are not shown.
    Plain,
    /// Timestamped lines, one per step and per state change.
    Lines,
    /// A board redrawn in place (a terminal).
    Live,
}

impl Mode {
    /// Live on a terminal, timestamped lines otherwise.
    pub fn for_stderr() -> Mode {
        if std::io::stderr().is_terminal() { Mode::Live } else { Mode::Lines }
    }
}

struct State {
    mode: Mode,
    started: Instant,
    /// Service → (state, when it got there, from the boot's start).
    board: BTreeMap<String, (&'static str, Duration)>,
    board_title: String,
    board_started: Option<Instant>,
    /// Lines of the board on screen, to move back over when redrawing.
    drawn: usize,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    let state = guard.get_or_insert_with(|| State {
        mode: Mode::Plain,
        started: Instant::now(),
        board: BTreeMap::new(),
        board_title: String::new(),
        board_started: None,
        drawn: 0,
    });
    f(state)
}

/// Chooses the mode; the CLI calls this once at start. In live mode a ticker keeps the
/// board's elapsed time moving while a boot waits.
pub fn init(mode: Mode) {
    with(|s| {
        s.mode = mode;
        s.started = Instant::now();
    });
    if mode == Mode::Live {
        let _ = std::thread::Builder::new().name("progress".into()).spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                with(|s| {
                    if s.board_started.is_some() {
                        redraw(s);
                    }
                });
            }
        });
    }
}

/// `[  12.3s] ` since the run began.
fn stamp(s: &State) -> String {
    format!("[{:>7.1}s]", s.started.elapsed().as_secs_f64())
}

/// One step of a long operation: "building image x", "backup.tar of pgdata: archived".
pub fn note(msg: impl std::fmt::Display) {
    with(|s| {
        let mut err = std::io::stderr().lock();
        match s.mode {
            Mode::Plain => {
                let _ = writeln!(err, "harness: {msg}");
            }
            Mode::Lines => {
                let _ = writeln!(err, "{} {msg}", stamp(s));
            }
            Mode::Live => {
                clear(s, &mut err);
                let _ = writeln!(err, "{} {msg}", stamp(s));
                drop(err);
                redraw(s);
            }
        }
    });
}

/// Starts a board for a boot of `title` with these services, all waiting.
pub fn board(title: &str, services: &[&str]) {
    with(|s| {
        s.board = services.iter().map(|n| ((*n).to_owned(), ("waiting", Duration::ZERO))).collect();
        s.board_title = title.to_owned();
        s.board_started = Some(Instant::now());
        if s.mode == Mode::Lines {
            let _ = writeln!(std::io::stderr(), "{} booting {title}: {}", stamp(s), services.join(", "));
        }
        if s.mode == Mode::Live {
            redraw(s);
        }
    });
}

/// A service reached `state` (created, started, ready, healthy) `at` after the boot began.
pub fn service(name: &str, state: &'static str, at: Duration) {
    with(|s| {
        if s.board_started.is_none() {
            return;
        }
        s.board.insert(name.to_owned(), (state, at));
        match s.mode {
            Mode::Plain => {}
            Mode::Lines => {
                let _ = writeln!(std::io::stderr(), "{} {name}: {state} at {:.3}s", stamp(s), at.as_secs_f64());
            }
            Mode::Live => redraw(s),
        }
    });
}

/// Ends the board: live mode leaves its last picture on screen.
pub fn board_done() {
    with(|s| {
        if s.mode == Mode::Live && s.board_started.is_some() {
            redraw(s);
        }
        s.board.clear();
        s.board_started = None;
        s.drawn = 0;
    });
}

fn clear(s: &mut State, err: &mut impl Write) {
    if s.drawn > 0 {
        // Up over the board, then erase to the end of the screen.
        let _ = write!(err, "\x1b[{}A\x1b[J", s.drawn);
        s.drawn = 0;
    }
}

fn redraw(s: &mut State) {
    let Some(started) = s.board_started else { return };
    let mut err = std::io::stderr().lock();
    clear(s, &mut err);
    let lines = board_lines(&s.board_title, started.elapsed(), &s.board);
    for l in &lines {
        let _ = writeln!(err, "{l}");
    }
    s.drawn = lines.len();
}

/// The board's text: a title with elapsed time, then one line per service. Pure.
pub fn board_lines(title: &str, elapsed: Duration, board: &BTreeMap<String, (&'static str, Duration)>) -> Vec<String> {
    let mut out = vec![format!("booting {title}  {:.1}s", elapsed.as_secs_f64())];
    let width = board.keys().map(String::len).max().unwrap_or(0);
    for (name, (state, at)) in board {
        let when = if *state == "waiting" { String::new() } else { format!("{:.1}s", at.as_secs_f64()) };
        out.push(format!("  {name:<width$}  {state:<8} {when}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_shows_each_service_state_and_time() {
        let mut board = BTreeMap::new();
        board.insert("api".to_owned(), ("started", Duration::from_millis(2000)));
        board.insert("postgres".to_owned(), ("healthy", Duration::from_millis(1500)));
        board.insert("redis".to_owned(), ("waiting", Duration::ZERO));
        let lines = board_lines("compose/reference", Duration::from_millis(3250), &board);
        assert_eq!(
            lines,
            [
                "booting compose/reference  3.2s",
                "  api       started  2.0s",
                "  postgres  healthy  1.5s",
                "  redis     waiting  ",
            ]
        );
    }
}
