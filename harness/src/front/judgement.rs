//! The verdicts of one `judge` call, and the assertion a test ends with.

use std::fmt::Write as _;

use crate::judge::criteria::Criterion;
use crate::judge::verdict::{Outcome, Summary, Verdict};

/// The verdicts of one [`judge`](super::RunningStack::judge),
/// [`judge_read_only`](super::RunningStack::judge_read_only) or
/// [`judge_all`](super::RunningStack::judge_all) call: one per criterion and subject.
///
/// ```no_run
/// # async fn demo(stack: harness::front::RunningStack) -> harness::Result<()> {
/// use harness::{Criterion, Outcome};
///
/// let judgement = stack.judge(Criterion::UserProcess).await?;
/// let api = judgement.get(Criterion::UserProcess, "api").expect("judged on api");
/// assert_eq!(api.outcome, Outcome::Pass, "{}", api.line());
/// println!("{}", judgement.summary());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Judgement {
    stack: String,
    project: String,
    what: String,
    verdicts: Vec<Verdict>,
}

impl Judgement {
    pub(crate) fn new(stack: &str, project: &str, what: &str, verdicts: Vec<Verdict>) -> Judgement {
        Judgement { stack: stack.to_owned(), project: project.to_owned(), what: what.to_owned(), verdicts }
    }

    /// Every verdict, in the order the checks produced them.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// Counts, and the go/no-go decision (`summary().exit_code()` is what `harness check`
    /// would exit with).
    pub fn summary(&self) -> Summary {
        Summary::of(&self.verdicts)
    }

    /// The verdict on `criterion` for `subject` (a service, network or volume name, or
    /// `stack` for stack-wide criteria), if it was judged.
    pub fn get(&self, criterion: Criterion, subject: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.criterion == criterion && v.subject == subject)
    }

    /// Panics unless every verdict passed (or was waived by the policy, which says where).
    ///
    /// A verdict the harness could not judge is **not** a pass, and neither is a judgement
    /// with no verdicts at all (a criterion the policy gives nothing to judge). The panic
    /// message lists every failure and every verdict that was not judged, each with its
    /// evidence and hint, so the test output says what to fix without a report.
    #[track_caller]
    pub fn assert_pass(&self) {
        if let Some(message) = self.failure_message() {
            panic!("{message}");
        }
    }

    /// The message [`assert_pass`](Judgement::assert_pass) panics with, or `None` when it
    /// passes.
    fn failure_message(&self) -> Option<String> {
        let summary = self.summary();
        if summary.exit_code() == 0 {
            return None;
        }
        let mut out = format!("{} of {} (project {}) did not pass: {summary}\n", self.what, self.stack, self.project);
        if self.verdicts.is_empty() {
            out.push_str(
                "nothing was judged (hint: the policy gives this criterion nothing to judge on this stack, \
                 e.g. no [[routes]] or [observability]; add it to acceptance.toml or judge another criterion)\n",
            );
        }
        for v in self.verdicts.iter().filter(|v| matches!(v.outcome, Outcome::Fail | Outcome::NotJudged { .. })) {
            let _ = writeln!(out, "{}", v.line());
            let _ = writeln!(out, "    evidence: {}", v.evidence);
            let hint = match (&v.hint, &v.outcome) {
                (Some(h), _) => h.as_str(),
                (None, Outcome::NotJudged { .. }) => {
                    "not judged is not a pass: give the harness what the evidence says it lacked, \
                     or leave the criterion out of this judgement"
                }
                (None, _) => "(none known)",
            };
            let _ = writeln!(out, "    hint: {hint}");
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(criterion: Criterion, subject: &str, outcome: Outcome, evidence: &str, hint: Option<&str>) -> Verdict {
        Verdict {
            criterion,
            subject: subject.into(),
            measured: "1 root process(es)".into(),
            budget: "no process with uid 0".into(),
            outcome,
            evidence: evidence.into(),
            hint: hint.map(str::to_owned),
        }
    }

    fn judgement(verdicts: Vec<Verdict>) -> Judgement {
        Judgement::new("deploy/compose", "hxab-0-t", "the read-only catalogue", verdicts)
    }

    fn pass(subject: &str) -> Verdict {
        verdict(Criterion::StartupService, subject, Outcome::Pass, "ready at 1.2s", None)
    }

    #[test]
    fn assert_pass_lists_failures_and_not_judged_with_evidence_and_hint() {
        let j = judgement(vec![
            pass("api"),
            verdict(Criterion::UserProcess, "api", Outcome::Fail, "docker top: uid 0 runs /app", Some("set `user:`")),
            verdict(
                Criterion::ResourcesMemory,
                "redis",
                Outcome::NotJudged { reason: "no memory reading".into() },
                "docker stats gave no memory reading",
                Some("enable the memory cgroup"),
            ),
        ]);
        let message = std::panic::catch_unwind(|| j.assert_pass()).expect_err("a failure panics");
        let message = message.downcast_ref::<String>().expect("a formatted message");
        for fragment in [
            "the read-only catalogue of deploy/compose (project hxab-0-t) did not pass: NO-GO (1 passed, 1 failed, 1 not judged)",
            "FAIL user.process api: 1 root process(es) (budget no process with uid 0)\n    evidence: docker top: uid 0 runs /app\n    hint: set `user:`",
            "SKIP resources.memory redis: not judged: no memory reading\n    evidence: docker stats gave no memory reading\n    hint: enable the memory cgroup",
        ] {
            assert!(message.contains(fragment), "missing `{fragment}` in:\n{message}");
        }
        assert!(!message.contains("startup.service"), "passes are not listed:\n{message}");
    }

    #[test]
    fn not_judged_alone_still_fails() {
        let nj = Verdict::not_judged(Criterion::UserProcess, "api", "docker top gave no uid column");
        let message = judgement(vec![pass("api"), nj]).failure_message().expect("not judged is not a pass");
        assert!(message.contains("SKIP user.process api: not judged: docker top gave no uid column"), "{message}");
        assert!(message.contains("hint: not judged is not a pass"), "{message}");
        let empty = judgement(Vec::new()).failure_message().expect("nothing judged is not a pass");
        assert!(empty.contains("nothing was judged"), "{empty}");
    }

    #[test]
    fn passes_and_waivers_pass() {
        let waived = verdict(Criterion::UserProcess, "db", Outcome::Fail, "uid 0", None)
            .waive("acceptance.toml:3: vendor image".into());
        let j = judgement(vec![pass("api"), pass("db"), waived]);
        j.assert_pass();
        assert_eq!(j.summary().passed, 2);
        assert_eq!(j.get(Criterion::StartupService, "db").map(|v| v.subject.as_str()), Some("db"));
        assert!(j.get(Criterion::StartupStack, "stack").is_none());
    }
}
