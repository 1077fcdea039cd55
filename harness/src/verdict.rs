//! The outcome of judging one criterion on one subject, with the evidence behind it.

use serde::{Deserialize, Deserializer, Serialize};

/// A string from the criteria catalogue. An alias, not `&'static str` written out, because
/// serde's derive borrows every field spelled `&str` from the input, which would tie a
/// deserialized verdict to the lifetime of the text it was read from.
pub type CatalogueStr = &'static str;

/// One criterion judged on one subject (the stack, a service, a network or a volume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Stable id, e.g. `startup.service`: one of [`crate::criteria::ALL`].
    #[serde(deserialize_with = "known_criterion")]
    pub criterion: CatalogueStr,
    pub subject: String,
    pub measured: String,
    pub budget: String,
    pub passed: bool,
    /// What was run or inspected, and what came back.
    pub evidence: String,
    /// How to fix a failure, where that is known.
    pub hint: Option<String>,
    /// The CIS Docker Benchmark v1.6 recommendation this check implements, where there is one.
    #[serde(deserialize_with = "known_cis")]
    pub cis: Option<CatalogueStr>,
}

// Verdicts read back from evidence files (`harness report`) keep `&'static str` ids, so
// they are mapped onto the catalogue's own strings; an id the catalogue does not know
// means the file was written by another harness version and is rejected.
fn known_criterion<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let id = String::deserialize(d)?;
    crate::criteria::find(&id).map(|c| c.id).ok_or_else(|| {
        serde::de::Error::custom(format!("unknown criterion `{id}` (written by another harness version?)"))
    })
}

fn known_cis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    let Some(cis) = Option::<String>::deserialize(d)? else { return Ok(None) };
    crate::criteria::ALL
        .iter()
        .filter_map(|c| c.cis)
        .flat_map(|all| std::iter::once(all).chain(all.split(", ")))
        .find(|known| *known == cis)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown CIS id `{cis}`")))
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
