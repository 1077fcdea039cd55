//! The outcome of judging one criterion on one subject, with the evidence behind it.

use serde::Serialize;

/// One criterion judged on one subject (the stack, a service, a network or a volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Stable id, e.g. `startup.service`.
    pub criterion: &'static str,
    pub subject: String,
    pub measured: String,
    pub budget: String,
    pub passed: bool,
    /// What was run or inspected, and what came back.
    pub evidence: String,
    /// How to fix a failure, where that is known.
    pub hint: Option<String>,
    /// The CIS Docker Benchmark v1.6 recommendation this check implements, where there is one.
    pub cis: Option<&'static str>,
}

impl Verdict {
    /// `PASS startup.service gateway: 3.700s (budget 30.000s)`, then evidence on the next line.
    pub fn line(&self) -> String {
        format!(
            "{} {} {}: {} (budget {})",
            if self.passed { "PASS" } else { "FAIL" },
            self.criterion,
            self.subject,
            self.measured,
            self.budget
        )
    }
}

/// Counts and the go/no-go decision for a set of verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

impl Summary {
    pub fn of(verdicts: &[Verdict]) -> Summary {
        let passed = verdicts.iter().filter(|v| v.passed).count();
        Summary { passed, failed: verdicts.len() - passed }
    }

    /// Go only when something was judged and nothing failed.
    pub fn go(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} criteria passed, {} failed)",
            if self.go() { "GO" } else { "NO-GO" },
            self.passed,
            self.failed
        )
    }
}
