//! `junit.xml`: one `testcase` per criterion × subject, so a CI system's test view lists
//! exactly the verdicts of the report (classname = criterion, name = subject).

use std::collections::BTreeMap;

use super::{Report, esc};

/// Names are unique per suite: a second verdict with the same criterion and subject (two
/// routes with one path, say) gets ` #2`, so the mapping stays one-to-one.
pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"harness acceptance\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">\n",
        report.passed + report.failed,
        report.failed,
        report.duration_s
    ));
    for stack in &report.stacks {
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" timestamp=\"{}\">\n",
            esc(&stack.name),
            stack.verdicts.len(),
            stack.failed,
            esc(&report.started_at)
        ));
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for e in &stack.verdicts {
            let v = &e.verdict;
            let n = seen.entry((v.criterion, v.subject.as_str())).or_insert(0);
            *n += 1;
            let name = if *n == 1 { v.subject.clone() } else { format!("{} #{n}", v.subject) };
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\"", esc(v.criterion), esc(&name)));
            if v.passed {
                out.push_str(" />\n");
                continue;
            }
            out.push_str(">\n");
            out.push_str(&format!(
                "      <failure message=\"{} (budget {})\" type=\"{}\">{}{}</failure>\n",
                esc(&v.measured),
                esc(&v.budget),
                esc(v.criterion),
                esc(&v.evidence),
                v.hint.as_ref().map(|h| format!("\nhint: {}", esc(h))).unwrap_or_default()
            ));
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
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
        assert!(xml.contains("<testcase classname=\"startup.service\" name=\"api #2\""), "{xml}");
        assert!(xml.contains("<failure message=\"45.0s (budget 30.0s)\""), "{xml}");
        assert!(xml.contains("&lt;with&gt;"), "evidence is escaped: {xml}");
    }
}
