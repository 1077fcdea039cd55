//! Fault injection points, for `harness bench soak` and the suites' fault tests.
//!
//! A point does nothing unless the `FAILPOINTS` environment variable (the `fail` crate's
//! syntax: `point=actions;...`) gives it an action and the process called [`setup`], as the
//! CLI does at start. `bench soak` uses them to panic at a seeded place inside a check, e.g.
//! `FAILPOINTS='judge::step=2*off->panic(soak)'` lets two steps of the catalogue begin and
//! panics as the third does. Unset, a point costs a read of an empty registry.
//!
//! They are compiled into every build on purpose: the soak judges the very binary users run,
//! not a special one.

/// As each step of the catalogue begins (startup, runtime, network, ...).
pub const STEP: &str = "judge::step";
/// While a helper container (a probe, a backup or restore) is running.
pub const HELPER: &str = "helper::running";

/// Reads `FAILPOINTS` and arms the points it names; keep the value alive for the whole run
/// (dropping it disarms them). Panics on a malformed value, naming it: a fault that silently
/// did not fire would make a soak prove nothing.
pub fn setup() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}
