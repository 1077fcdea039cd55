//! Pinned verdicts, one line per criterion × subject (`"user.image api" = "pass"`), so no
//! service hides behind another that fails the same criterion. The seeds and the corpus
//! pin this way.
//!
//! `HARNESS_BLESS=1` rewrites a file from what was found instead of asserting; the comment
//! after a line (why that verdict is expected) is kept for every line that stays, so review
//! the diff and comment what is new.

use std::collections::BTreeMap;
use std::path::Path;

use harness::judge::criteria::{self, Criterion};
use harness::judge::verdict::{Outcome, Verdict};

/// The word a pin uses for an outcome.
fn state(v: &Verdict) -> &'static str {
    match v.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::NotJudged { .. } => "skip",
        Outcome::Waived { .. } => "waived",
    }
}

/// `criterion subject` -> state; a second verdict on the same pair gets ` #2`.
fn found(verdicts: &[Verdict]) -> BTreeMap<String, (&'static str, &Verdict)> {
    let mut out = BTreeMap::new();
    for v in verdicts {
        let base = format!("{} {}", v.criterion.id(), v.subject);
        let mut key = base.clone();
        let mut n = 1;
        while out.contains_key(&key) {
            n += 1;
            key = format!("{base} #{n}");
        }
        out.insert(key, (state(v), v));
    }
    out
}

/// One pinned line: its state and the comment after it (with its `#`), if any.
#[derive(Debug, Clone)]
struct Pin {
    state: String,
    comment: String,
}

/// The header comment lines and the pins of a file; an absent file has none.
fn read(path: &Path) -> (Vec<String>, BTreeMap<String, Pin>) {
    let Ok(text) = std::fs::read_to_string(path) else { return (Vec::new(), BTreeMap::new()) };
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut header = Vec::new();
    let mut pins = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') && pins.is_empty() {
            header.push(line.to_owned());
            continue;
        }
        let Some(rest) = t.strip_prefix('"') else { continue };
        let Some((key, after)) = rest.split_once('"') else { continue };
        let comment = after.find('#').map(|i| after[i..].trim().to_owned()).unwrap_or_default();
        let state = doc.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        assert!(
            matches!(state.as_str(), "pass" | "fail" | "skip" | "waived"),
            "{}: `{key}` pins `{state}`; use pass, fail, skip or waived",
            path.display()
        );
        let id = key.split(' ').next().unwrap_or_default();
        assert!(criteria::find(id).is_some(), "{}: unknown criterion {id}", path.display());
        pins.insert(key.to_owned(), Pin { state, comment });
    }
    (header, pins)
}

fn write(path: &Path, header: &[String], pins: &BTreeMap<String, Pin>) {
    let mut text = header.join("\n");
    text.push('\n');
    let width = pins.keys().map(|k| k.len()).max().unwrap_or(0) + 2;
    for (key, pin) in pins {
        let left = format!("\"{key}\"");
        let line = format!("{left:<width$} = \"{}\"", pin.state);
        if pin.comment.is_empty() {
            text.push_str(&line);
        } else {
            text.push_str(&format!("{line:<width2$} {}", pin.comment, width2 = width + 12));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Asserts that the verdicts whose criterion `judged` selects are exactly the pins in `path`
/// for those criteria (same pairs, same states); pins of other criteria belong to another
/// depth and are left alone. Under `HARNESS_BLESS=1`, rewrites them instead. A mismatch
/// lists each difference with the verdict's evidence.
#[track_caller]
pub fn check(path: &Path, header: &str, verdicts: &[Verdict], judged: impl Fn(&Criterion) -> bool) {
    compare(path, header, verdicts, judged, std::env::var_os("HARNESS_BLESS").is_some());
}

#[track_caller]
fn compare(path: &Path, header: &str, verdicts: &[Verdict], judged: impl Fn(&Criterion) -> bool, bless: bool) {
    let found = found(verdicts);
    let (old_header, mut pins) = read(path);
    let judged_key = |key: &str| criteria::find(key.split(' ').next().unwrap_or_default()).is_some_and(|c| judged(&c));
    if bless {
        let comments: BTreeMap<String, String> = pins.iter().map(|(k, p)| (k.clone(), p.comment.clone())).collect();
        pins.retain(|k, _| !judged_key(k));
        for (key, (state, _)) in &found {
            let comment = comments.get(key).cloned().unwrap_or_default();
            pins.insert(key.clone(), Pin { state: (*state).to_owned(), comment });
        }
        let header: Vec<String> =
            if old_header.is_empty() { header.lines().map(str::to_owned).collect() } else { old_header };
        write(path, &header, &pins);
        return;
    }
    assert!(!pins.is_empty(), "{}: no pinned verdicts (run once with HARNESS_BLESS=1)", path.display());
    let mut diffs = Vec::new();
    for (key, pin) in pins.iter().filter(|(k, _)| judged_key(k)) {
        match found.get(key) {
            Some((state, _)) if *state == pin.state => {}
            Some((state, v)) => diffs.push(format!(
                "  {key}: pinned {}, found {state}: {} (budget {}) | {}",
                pin.state, v.measured, v.budget, v.evidence
            )),
            None => diffs.push(format!("  {key}: pinned {}, not judged at all", pin.state)),
        }
    }
    for (key, (state, v)) in &found {
        if !pins.contains_key(key) {
            diffs.push(format!("  {key}: found {state}, not pinned | {}", v.evidence));
        }
    }
    assert!(diffs.is_empty(), "{} differs from what was found:\n{}", path.display(), diffs.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(id: &str, subject: &str, passed: bool) -> Verdict {
        Verdict {
            criterion: criteria::find(id).expect("criterion"),
            subject: subject.into(),
            measured: "m".into(),
            budget: "b".into(),
            outcome: Outcome::judged(passed),
            evidence: "e".into(),
            hint: None,
        }
    }

    /// The reason for the per-subject pins: two services failing one criterion, one of them
    /// fixed, must still show as a difference.
    #[test]
    fn a_subject_cannot_hide_behind_another_that_fails_the_same_criterion() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "# header\n\"user.image a\" = \"fail\"   # runs as root\n\"user.image b\" = \"fail\"\n")
            .expect("write");
        let now = [verdict("user.image", "a", false), verdict("user.image", "b", true)];
        let err = std::panic::catch_unwind(|| compare(&path, "", &now, |_| true, false)).expect_err("differs");
        let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("user.image b: pinned fail, found pass"), "{text}");
        assert!(!text.contains("user.image a:"), "{text}");
        let (header, pins) = read(&path);
        assert_eq!(header, ["# header"]);
        assert_eq!(pins["user.image a"].comment, "# runs as root");
    }
}
