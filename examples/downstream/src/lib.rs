//! A project that depends on the harness the way any downstream one would: by path (or
//! version), with its own compose stack in `deploy/compose/` and its acceptance tests in
//! `tests/acceptance.rs`, written against the front door only. There is no library code:
//! cargo needs one target besides the tests.
