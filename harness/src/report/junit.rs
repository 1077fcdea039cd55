//! `junit.xml`: one `testcase` per criterion × subject, so a CI system's test view lists
//! exactly the verdicts of the report (classname = criterion, name = subject). A failed
//! verdict is a `<failure>`, a verdict the harness could not judge is `<skipped>` with the
//! reason, and each case carries the criterion's seed and CIS id as properties. Written
//! with `quick-junit`, which also counts `tests`, `failures`, `errors` and `skipped`.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::{Report, StackReport};
use crate::judge::verdict::Outcome;

/// Names are unique per suite: a second verdict with the same criterion and subject (two
/// routes with one path, say) gets ` #2`, so the mapping stays one-to-one.
pub fn render(report: &Report) -> String {
    let mut out = quick_junit::Report::new("harness acceptance");
    out.set_time(Duration::from_secs_f64(report.duration_s.max(0.0)));
    for stack in &report.stacks {
        out.add_test_suite(suite(stack));
    }
    // Serialising a model built from plain strings cannot fail but for I/O on a String.
    out.to_string().unwrap_or_else(|e| format!("<!-- junit serialisation failed: {e} -->\n"))
}

fn suite(stack: &StackReport) -> TestSuite {
    let mut suite = TestSuite::new(stack.name.as_str());
    let step_secs: BTreeMap<&str, f64> = stack.catalogue.iter().map(|(s, t)| (s.as_str(), *t)).collect();
    let mut per_step: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &stack.verdicts {
        *per_step.entry(e.verdict.criterion.step().name()).or_default() += 1;
    }
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in &stack.verdicts {
        let v = &e.verdict;
        let n = seen.entry((v.criterion.id(), v.subject.as_str())).or_insert(0);
        *n += 1;
        let name = if *n == 1 { v.subject.clone() } else { format!("{} #{n}", v.subject) };
        let status = match &v.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Waived { waiver, .. } => {
                // A waiver is a decision, not a result: shown as skipped with its place.
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("waived: {waiver}"));
                s
            }
            Outcome::NotJudged { reason } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("not judged: {reason}"));
                s
            }
            Outcome::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} (budget {})", v.measured, v.budget));
                s.set_type(v.criterion.id());
                let hint = v.hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default();
                s.set_description(format!("{}{hint}", v.evidence));
                s
            }
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(v.criterion.id());
        // Checks of one step run together, so no finer time exists than the step's wall
        // time, shared equally among the verdicts it produced.
        let step = v.criterion.step().name();
        if let (Some(secs), Some(n)) = (step_secs.get(step), per_step.get(step)) {
            case.set_time(Duration::from_secs_f64((secs / *n as f64).max(0.0)));
        }
        case.add_property(Property::new("seed", v.criterion.seed()));
        if let Some(cis) = v.cis() {
            case.add_property(Property::new("cis", cis));
        }
        if let Some(test) = &e.test {
            case.add_property(Property::new("test", test.as_str()));
        }
        // A verdict judged under load carries the load's figures, as report.json does.
        if let Some(l) = stack.loads.iter().find(|l| l.criterion == v.criterion.id() && l.subject == v.subject) {
            for (key, value) in load_properties(l) {
                case.add_property(Property::new(key, value));
            }
        }
        suite.add_test_case(case);
    }
    suite
}

/// The figures of one load run as JUnit properties: the same numbers report.json has.
fn load_properties(l: &crate::load::LoadRun) -> Vec<(&'static str, String)> {
    let m = &l.summary;
    let mut out = vec![
        ("load.requests", m.requests.to_string()),
        ("load.ok", m.ok.to_string()),
        ("load.success_percent", format!("{:.3}", m.success_percent())),
        ("load.duration_s", format!("{:.3}", m.duration_s)),
        ("load.p50_ms", format!("{:.3}", m.p50_ms)),
        ("load.p95_ms", format!("{:.3}", m.p95_ms)),
        ("load.p99_ms", format!("{:.3}", m.p99_ms)),
        ("load.max_ms", format!("{:.3}", m.max_ms)),
        ("load.longest_burst", m.burst_text()),
    ];
    if let Some(spread) = m.spread() {
        out.push(("load.replicas", spread));
    }
    if !m.failures.is_empty() {
        out.push(("load.failures", m.failures.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")));
    }
    for (at, what) in &l.marks {
        out.push(("load.mark", format!("{at:.1}s {what}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn one_testcase_per_criterion_and_subject() {
        let mut r = sample();
        // The same criterion and subject twice stays two distinct testcases.
        let dup = r.stacks[0].verdicts[0].clone();
        r.stacks[0].verdicts.push(dup);
        let xml = render(&r);
        let cases: Vec<&str> = xml.lines().filter(|l| l.trim_start().starts_with("<testcase")).collect();
        assert_eq!(cases.len(), r.stacks.iter().map(|s| s.verdicts.len()).sum::<usize>());
        let unique: std::collections::BTreeSet<(&str, &str)> = cases
            .iter()
            .map(|l| {
                let class = l.split("classname=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("");
                let name = l.split(" name=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("");
                (class, name)
            })
            .collect();
        assert_eq!(unique.len(), cases.len(), "{xml}");
        assert!(xml.contains("name=\"api #2\""), "{xml}");
        assert!(xml.contains("<failure message=\"45.0s (budget 30.0s)\""), "{xml}");
        assert!(xml.contains("&lt;with&gt;"), "evidence is escaped: {xml}");
        assert!(xml.contains("failures=\"1\"") && xml.contains("errors=\"0\""), "{xml}");
        assert!(xml.contains("<property name=\"seed\""), "{xml}");
    }

    #[test]
    fn a_verdict_judged_under_load_carries_its_figures() {
        let mut r = sample();
        let mut v = r.stacks[0].verdicts[0].clone();
        v.verdict.criterion = crate::judge::criteria::Criterion::AvailabilityRollingUpdate;
        v.verdict.subject = "api".into();
        r.stacks[0].verdicts.push(v);
        let xml = render(&r);
        for property in [
            "<property name=\"load.requests\" value=\"300\"/>",
            "<property name=\"load.success_percent\" value=\"99.667\"/>",
            "<property name=\"load.p99_ms\" value=\"20.000\"/>",
            "<property name=\"load.longest_burst\" value=\"0.100s at 2.5s\"/>",
            "<property name=\"load.failures\" value=\"502 x1\"/>",
            "<property name=\"load.mark\" value=\"2.5s stop b5d10ccb9cf1\"/>",
        ] {
            assert!(xml.contains(property), "{property} in {xml}");
        }
        assert_eq!(xml.matches("load.requests").count(), 1, "only the verdict its load was for: {xml}");
    }

    #[test]
    fn not_judged_is_skipped_with_its_reason() {
        let mut r = sample();
        let mut nj = r.stacks[0].verdicts[0].clone();
        nj.verdict.outcome = Outcome::NotJudged { reason: "docker top gave no uid column".into() };
        nj.verdict.subject = "worker".into();
        r.stacks[0].verdicts.push(nj);
        let xml = render(&r);
        assert!(xml.contains("<skipped message=\"not judged: docker top gave no uid column\""), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}");
    }
}
