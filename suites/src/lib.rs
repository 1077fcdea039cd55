//! Shared helpers for the acceptance suites live in `tests/acceptance/`; this library is empty on purpose.
