//! The outcome of judging one criterion on one subject, with the evidence behind it.
//!
//! A verdict has three states and a fourth, explicit one: it passed, it failed, the harness
//! could not judge it (and says why), or the policy waived it (and says where). "Could not
//! judge" is never turned into a pass or a fail: an acceptance gate that passes what it
//! never measured cannot be trusted, and one that fails on a guess is not believed.

use serde::{Deserialize, Serialize};

use crate::judge::criteria::Criterion;

/// How a criterion came out on one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    /// The criterion was met.
    Pass,
    /// The criterion was not met.
    Fail,
    /// The harness could not measure what the criterion needs (no reading, no source,
    /// a stand-in image that cannot know). Never a pass, never an invented failure.
    NotJudged {
        /// Why it could not be judged.
        reason: String,
    },
    /// The policy waived the criterion for this subject: `waiver` is `file:line: reason`.
    /// `failed` records what the judgement would have been, so a waiver that is no longer
    /// needed shows.
    Waived {
        /// The waiver, `file:line: reason`.
        waiver: String,
        /// Whether the judgement failed before the waiver applied.
        failed: bool,
    },
}

impl Outcome {
    /// Pass or fail from a measured comparison.
    pub fn judged(passed: bool) -> Outcome {
        if passed { Outcome::Pass } else { Outcome::Fail }
    }

    /// The word a report line starts with.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::NotJudged { .. } => "SKIP",
            Outcome::Waived { .. } => "WAIVED",
        }
    }
}

/// One criterion judged on one subject (the stack, a service, a network or a volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The criterion judged.
    pub criterion: Criterion,
    /// What it was judged on: the stack, a service, a network or a volume.
    pub subject: String,
    /// What was measured, e.g. `3.700s`; `not measured` when nothing was.
    pub measured: String,
    /// The limit it was judged against, e.g. `30.000s`; `waived (...)` once waived; empty when not judged.
    pub budget: String,
    /// How it came out, flattened into the verdict's JSON as `state`.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What was run or inspected, and what came back.
    pub evidence: String,
    /// How to fix a failure, where that is known.
    pub hint: Option<String>,
}

impl Verdict {
    /// A verdict the harness could not reach, with the reason. Its measured value says
    /// so, rather than printing a zero that looks like a reading.
    pub fn not_judged(criterion: Criterion, subject: &str, reason: impl Into<String>) -> Verdict {
        let reason = reason.into();
        Verdict {
            criterion,
            subject: subject.to_owned(),
            measured: "not measured".into(),
            budget: String::new(),
            evidence: reason.clone(),
            outcome: Outcome::NotJudged { reason },
            hint: None,
        }
    }

    /// Only a real pass: not judged and waived are not passes.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Pass
    }

    /// A real failure: not judged and waived are not failures.
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }

    /// The CIS Docker Benchmark id of the criterion, if it has one.
    pub fn cis(&self) -> Option<&'static str> {
        self.criterion.cis()
    }

    /// Applies the policy's waiver, if any: the verdict says so, with the waiver's place,
    /// instead of the strict budget.
    pub fn waive(mut self, waiver: String) -> Verdict {
        if matches!(self.outcome, Outcome::NotJudged { .. }) {
            // Nothing was measured, so there is nothing to waive: keep the honest state.
            return self;
        }
        self.budget = format!("waived ({waiver})");
        self.outcome = Outcome::Waived { failed: self.outcome == Outcome::Fail, waiver };
        self.hint = None;
        self
    }

    /// `PASS startup.service gateway: 3.700s (budget 30.000s)`; a verdict that was not
    /// judged gives its reason instead of a budget.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::NotJudged { reason } => {
                format!("{} {} {}: not judged: {reason}", self.outcome.word(), self.criterion, self.subject)
            }
            _ => format!(
                "{} {} {}: {} (budget {})",
                self.outcome.word(),
                self.criterion,
                self.subject,
                self.measured,
                self.budget
            ),
        }
    }
}

/// Counts and the go/no-go decision for a set of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Verdicts that passed.
    pub passed: usize,
    /// Verdicts that failed.
    pub failed: usize,
    /// Verdicts that could not be judged.
    pub not_judged: usize,
    /// Verdicts the policy waived.
    pub waived: usize,
}

impl Summary {
    /// Counts `verdicts` by outcome.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Summary {
        let mut s = Summary::default();
        for v in verdicts {
            match v.outcome {
                Outcome::Pass => s.passed += 1,
                Outcome::Fail => s.failed += 1,
                Outcome::NotJudged { .. } => s.not_judged += 1,
                Outcome::Waived { .. } => s.waived += 1,
            }
        }
        s
    }

    /// Go only when something was judged, nothing failed and nothing selected went
    /// unjudged.
    pub fn go(&self) -> bool {
        self.failed == 0 && self.not_judged == 0 && self.passed > 0
    }

    /// The word a verdict line leads with: GO; NOT JUDGED when nothing failed but something
    /// went unjudged (a stand-in, a missing image); NO-GO otherwise. Every renderer asks
    /// this, so the word is decided once.
    pub fn word(&self) -> &'static str {
        if self.go() {
            "GO"
        } else if self.failed == 0 && self.passed > 0 {
            "NOT JUDGED"
        } else {
            "NO-GO"
        }
    }

    /// The process exit code a gate reports: 1 when anything failed; otherwise 2 when a
    /// selected criterion could not be judged (or nothing was judged at all); 0 only when
    /// every selected criterion passed or was explicitly waived.
    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 {
            1
        } else if self.not_judged > 0 || self.passed + self.waived == 0 {
            2
        } else {
            0
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} passed, {} failed, {} not judged", self.word(), self.passed, self.failed, self.not_judged)?;
        if self.waived > 0 {
            write!(f, ", {} waived", self.waived)?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(outcome: Outcome) -> Verdict {
        Verdict {
            criterion: Criterion::UserProcess,
            subject: "api".into(),
            measured: "0 root process(es)".into(),
            budget: "no process with uid 0".into(),
            outcome,
            evidence: String::new(),
            hint: None,
        }
    }

    #[track_caller]
    fn check(outcomes: &[Outcome], exit: i32, shown: &str) {
        let vs: Vec<Verdict> = outcomes.iter().cloned().map(v).collect();
        let s = Summary::of(&vs);
        assert_eq!((s.exit_code(), s.to_string().as_str()), (exit, shown));
    }

    #[test]
    fn exit_codes_follow_the_three_states() {
        let nj = || Outcome::NotJudged { reason: "no uid column".into() };
        let waived = || Outcome::Waived { waiver: "acceptance.toml:3: vendor".into(), failed: true };
        check(&[Outcome::Pass, Outcome::Pass], 0, "GO (2 passed, 0 failed, 0 not judged)");
        check(&[Outcome::Pass, Outcome::Fail, nj()], 1, "NO-GO (1 passed, 1 failed, 1 not judged)");
        check(&[Outcome::Pass, nj()], 2, "NOT JUDGED (1 passed, 0 failed, 1 not judged)");
        check(&[], 2, "NO-GO (0 passed, 0 failed, 0 not judged)");
        check(&[nj()], 2, "NO-GO (0 passed, 0 failed, 1 not judged)");
        check(&[Outcome::Pass, waived()], 0, "GO (1 passed, 0 failed, 0 not judged, 1 waived)");
    }

    #[test]
    fn lines_say_skip_with_the_reason_and_waived_with_the_place() {
        let skipped = Verdict::not_judged(Criterion::ResourcesMemory, "api", "the engine gave no memory reading");
        assert_eq!(skipped.line(), "SKIP resources.memory api: not judged: the engine gave no memory reading");
        let waived = v(Outcome::Fail).waive("acceptance.toml:7: vendor image".into());
        assert_eq!(
            waived.line(),
            "WAIVED user.process api: 0 root process(es) (budget waived (acceptance.toml:7: vendor image))"
        );
        assert!(!waived.passed() && !waived.failed());
        // Nothing measured, nothing to waive.
        let still = skipped.clone().waive("acceptance.toml:9: x".into());
        assert_eq!(still, skipped);
    }

    #[test]
    fn verdicts_round_trip_through_json() {
        let nj = Verdict::not_judged(Criterion::UserProcess, "api", "docker top gave no uid column");
        let json = serde_json::to_value(&nj).expect("serialises");
        assert_eq!(json["state"], "not_judged");
        assert_eq!(json["criterion"], "user.process");
        let back: Verdict = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, nj);
        let bad = serde_json::json!({"criterion": "nope.nope", "subject": "x", "measured": "", "budget": "",
            "state": "pass", "evidence": "", "hint": null});
        let err = serde_json::from_value::<Verdict>(bad).expect_err("unknown id rejected");
        assert!(err.to_string().contains("unknown criterion `nope.nope`"), "{err}");
    }
}
