//! The CLI's progress sink: what a person watching `harness check` sees.
//!
//! On a terminal the boot is a live board (indicatif), one line per service moving from
//! waiting to created, started, ready and healthy, with the time it got there, under a
//! title whose elapsed time keeps moving while the boot waits. Notes and log lines are
//! printed above the board through the same `MultiProgress`, so a warning never lands in
//! the middle of it. Without a terminal (CI logs, the shared-stack holder's log) every
//! step is a plain line stamped with the time since the run began, so a red build's log
//! says what happened when.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use harness::progress::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
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

/// The progress display: install it as the library's sink with [`Board::install`], and
/// route logs through [`Board::log_writer`].
#[derive(Debug, Clone)]
pub struct Board {
    mode: Mode,
    started: Instant,
    /// Hidden in lines mode, so printing through it is plain stderr there.
    multi: MultiProgress,
    rows: Arc<Mutex<Rows>>,
}

/// The board on screen: its title bar and one bar per service, by name.
#[derive(Debug, Default)]
struct Rows {
    title: Option<ProgressBar>,
    services: BTreeMap<String, ProgressBar>,
    width: usize,
    /// Between a board's start and its end.
    booting: bool,
}

/// The live board's refresh: often enough for the elapsed time to look alive.
const TICK: Duration = Duration::from_millis(250);

impl Board {
    pub fn new(mode: Mode) -> Board {
        let target = match mode {
            Mode::Live => ProgressDrawTarget::stderr(),
            Mode::Lines => ProgressDrawTarget::hidden(),
        };
        Board::with_target(mode, target)
    }

    fn with_target(mode: Mode, target: ProgressDrawTarget) -> Board {
        Board { mode, started: Instant::now(), multi: MultiProgress::with_draw_target(target), rows: Arc::default() }
    }

    /// Makes this board the library's progress sink.
    pub fn install(&self) {
        let board = self.clone();
        harness::progress::set_sink(Box::new(move |e| board.event(e)));
    }

    /// A `tracing` writer that prints each log line above the board.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter { multi: self.multi.clone() }
    }

    /// `[  12.3s]` since the run began.
    fn stamp(&self) -> String {
        format!("[{:>7.1}s]", self.started.elapsed().as_secs_f64())
    }

    /// A line above the board, or on stderr in lines mode (where the board's target is
    /// hidden and would swallow it).
    fn line(&self, text: &str) {
        // Notes quote the stack (build steps, health logs): show its control sequences.
        let text = &*harness::report::terminal(text);
        match self.mode {
            Mode::Live => {
                let _ = self.multi.println(text);
            }
            Mode::Lines => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn event(&self, event: &Event<'_>) {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        match (*event, self.mode) {
            (Event::Note(msg), _) => self.line(&format!("{} {msg}", self.stamp())),
            (Event::Board { title, services }, Mode::Lines) => {
                rows.booting = true;
                self.line(&format!("{} booting {title}: {}", self.stamp(), services.join(", ")));
            }
            (Event::Board { title, services }, Mode::Live) => {
                rows.booting = true;
                rows.width = services.iter().map(|s| s.len()).max().unwrap_or(0);
                let bar = self.multi.add(ProgressBar::new_spinner().with_style(title_style()));
                bar.set_prefix(format!("booting {title}"));
                bar.enable_steady_tick(TICK);
                rows.title = Some(bar);
                for s in services {
                    let bar = self.multi.add(ProgressBar::new_spinner().with_style(row_style()));
                    bar.set_message(service_line(s, rows.width, "waiting", Duration::ZERO));
                    rows.services.insert((*s).to_owned(), bar);
                }
            }
            // A state outside a boot (a restart's wait) has no board to go on.
            (Event::Service { .. }, _) if !rows.booting => {}
            (Event::Service { name, state, at }, Mode::Lines) => {
                self.line(&format!("{} {name}: {state} at {:.3}s", self.stamp(), at.as_secs_f64()));
            }
            (Event::Service { name, state, at }, Mode::Live) => {
                if let Some(bar) = rows.services.get(name) {
                    bar.set_message(service_line(name, rows.width, state, at));
                }
            }
            (Event::BoardDone, _) => {
                rows.booting = false;
                // The board's last picture stays on screen as plain lines, and its bars
                // leave the live area, so the next boot's board (a restart, a bench run)
                // starts from nothing.
                let mut last = Vec::new();
                if let Some(title) = rows.title.take() {
                    last.push(format!("{}  {}", title.prefix(), seconds(title.elapsed())));
                    title.finish_and_clear();
                    self.multi.remove(&title);
                }
                for bar in std::mem::take(&mut rows.services).into_values() {
                    last.push(bar.message());
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if !last.is_empty() {
                    self.line(&last.join("\n"));
                }
            }
        }
    }
}

/// The title: "booting <project>  3.2s", the time ticking.
fn title_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}  {secs}").unwrap_or_else(|_| ProgressStyle::default_spinner()).with_key(
        "secs",
        |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", seconds(s.elapsed()));
        },
    )
}

fn row_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// `3.2s`: the board's one unit.
fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// One service's line on the board. Pure.
fn service_line(name: &str, width: usize, state: &str, at: Duration) -> String {
    let when = if state == "waiting" { String::new() } else { seconds(at) };
    format!("  {name:<width$}  {state:<8} {when}")
}

/// A `tracing_subscriber` writer: it gathers one formatted event and prints it above the
/// board when dropped, since the subscriber drops the writer after each event.
#[derive(Debug, Clone)]
pub struct LogWriter {
    multi: MultiProgress,
}

/// One log event on its way to stderr.
#[derive(Debug)]
pub struct LogLine {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine { multi: self.multi.clone(), buf: Vec::new() }
    }
}

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.multi.suspend(|| {
                let _ = std::io::stderr().lock().write_all(&buf);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_shows_each_service_state_and_time() {
        let rows = [("api", "started", 2000), ("postgres", "healthy", 1500), ("redis", "waiting", 0)];
        let lines: Vec<String> =
            rows.iter().map(|(n, s, ms)| service_line(n, 8, s, Duration::from_millis(*ms))).collect();
        assert_eq!(lines, ["  api       started  2.0s", "  postgres  healthy  1.5s", "  redis     waiting  "]);
        assert_eq!(seconds(Duration::from_millis(3250)), "3.2s");
    }

    /// On a terminal: notes print above the live board, and the board's last picture stays.
    #[test]
    fn live_board_keeps_notes_above_it_and_leaves_its_last_picture() {
        let term = indicatif::InMemoryTerm::new(12, 60);
        let board = Board::with_target(Mode::Live, ProgressDrawTarget::term_like(Box::new(term.clone())));
        board.event(&Event::Note("building image x"));
        board.event(&Event::Board { title: "hx1-check", services: &["api", "postgres"] });
        board.event(&Event::Service { name: "postgres", state: "healthy", at: Duration::from_millis(1500) });
        board.event(&Event::Note("isolation: host port published"));
        let live = term.contents();
        let lines: Vec<&str> = live.lines().map(str::trim_end).collect();
        assert!(lines[0].ends_with("building image x"), "{live}");
        assert!(lines[1].ends_with("isolation: host port published"), "a note goes above the board: {live}");
        assert!(lines[2].starts_with("booting hx1-check  "), "{live}");
        assert_eq!(&lines[3..5], ["  api       waiting", "  postgres  healthy  1.5s"], "{live}");

        board.event(&Event::BoardDone);
        board.event(&Event::Note("removed 3"));
        let after = term.contents();
        let lines: Vec<&str> = after.lines().map(str::trim_end).collect();
        assert!(lines[2].starts_with("booting hx1-check  "), "{after}");
        assert_eq!(&lines[3..5], ["  api       waiting", "  postgres  healthy  1.5s"], "{after}");
        assert!(lines[5].ends_with("removed 3"), "after the board, not inside it: {after}");
    }
}
