//! `report.md`: for a PR comment or a release ticket. The verdict first, failures with
//! their evidence and fix next, then the tables a reviewer checks.

use super::{Report, StackReport};
use crate::units::megabytes;

/// Any text that came from a run (names, evidence, health-check output, paths) as Markdown
/// that renders as that text: no HTML (a PR comment renders tags), no link or image (a
/// hostile `![](url)` would load a remote image), no table-breaking `|` or newline, no
/// control sequence. The harness's own backticks are kept: evidence quotes commands in them.
pub(crate) fn text(s: &str) -> String {
    // HTML escaping first (a tag or entity is only text then), then what Markdown itself reads.
    let html = super::esc(s);
    let mut out = String::with_capacity(html.len());
    for c in html.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '\n' | '\t' => out.push(' '),
            c => out.push_str(&super::terminal(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}s"))
}

/// Renders the whole report as Markdown.
pub fn render(r: &Report) -> String {
    let mut out = format!(
        "# Acceptance: **{}**\n\n{} passed, {} failed, {} not judged, across {} stack(s). Run `{}` ({}), started {}, took {:.1}s.\n\n",
        r.verdict_word(),
        r.passed,
        r.failed,
        r.not_judged,
        r.stacks.len(),
        text(&r.run_id),
        text(&r.source),
        text(&r.started_at),
        r.duration_s
    );
    out.push_str("| stack | verdict | passed | failed | not judged |\n|---|---|---|---|---|\n");
    for s in &r.stacks {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            text(&s.name),
            if s.go { "GO" } else { "NO-GO" },
            s.passed,
            s.failed,
            s.not_judged
        ));
    }
    for s in &r.stacks {
        stack(&mut out, s);
    }
    let p = &r.provenance;
    out.push_str(&format!(
        "\n## Provenance\n\n- harness {}; engine {} (API {}); compose {}; host {}\n- command: {}\n",
        text(&p.harness_version),
        text(&p.engine_version),
        text(&p.engine_api),
        text(&p.compose_version),
        text(&p.host),
        text(&p.command)
    ));
    out
}

fn stack(out: &mut String, s: &StackReport) {
    out.push_str(&format!(
        "\n## {}: {} ({} passed, {} failed, {} not judged)\n",
        text(&s.name),
        if s.go { "GO" } else { "NO-GO" },
        s.passed,
        s.failed,
        s.not_judged
    ));
    if !s.only.is_empty() || !s.skip.is_empty() {
        out.push_str(&format!("\nPartial run: {}.\n", text(&super::partial(s))));
    }
    let failures: Vec<_> = s.verdicts.iter().filter(|e| e.verdict.failed()).collect();
    if !failures.is_empty() {
        out.push_str("\n### Failures\n\n");
        for e in failures {
            let v = &e.verdict;
            out.push_str(&format!(
                "- **{} {}**: {} (budget {}){}\n  - evidence: {}\n",
                v.criterion,
                text(&v.subject),
                text(&v.measured),
                text(&v.budget),
                v.cis().map(|c| format!(", CIS {c}")).unwrap_or_default(),
                text(&v.evidence)
            ));
            if let Some(h) = &v.hint {
                out.push_str(&format!("  - fix: {}\n", text(h)));
            }
        }
    }
    let unjudged: Vec<_> = s.verdicts.iter().filter_map(|e| super::unjudged(&e.verdict)).collect();
    if !unjudged.is_empty() {
        out.push_str(
            "\n### Not judged\n\nThe harness could not measure these; they are neither passes nor failures.\n\n",
        );
        for (v, why) in unjudged {
            out.push_str(&format!("- **{} {}**: {}\n", v.criterion, text(&v.subject), text(why)));
        }
    }
    if let Some(t) = &s.timeline {
        out.push_str(&format!(
            "\n### Boot (budget {:.0}s; stack ready {}, healthy {})\n\n| service | created | started | ready | healthy | why they differ |\n|---|---|---|---|---|---|\n",
            t.budget_s,
            opt(t.stack_ready_s),
            opt(t.stack_healthy_s)
        ));
        for x in &t.services {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                text(&x.service),
                opt(x.created_s),
                opt(x.started_s),
                opt(x.ready_s),
                opt(x.healthy_s),
                text(&x.causes.join("; "))
            ));
        }
    }
    if !s.images.is_empty() {
        out.push_str("\n### Images\n\n| service | image | size | budget |\n|---|---|---|---|\n");
        for i in &s.images {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                text(&i.service),
                text(&i.reference),
                megabytes(i.size_bytes),
                i.budget_bytes.map_or_else(|| "-".to_owned(), megabytes)
            ));
        }
    }
    if !s.isolation.is_empty() {
        out.push_str("\n### Isolation (✓ connected, · blocked; ! where the policy says otherwise)\n\n");
        let targets: Vec<String> = s.isolation[0].cells.iter().map(|c| text(&c.target)).collect();
        out.push_str(&format!("| network | {} |\n|---|{}\n", targets.join(" | "), "---|".repeat(targets.len())));
        for row in &s.isolation {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|c| format!("{}{}", if c.connected { "✓" } else { "·" }, if c.mismatch() { " !" } else { "" }))
                .collect();
            out.push_str(&format!(
                "| {}{} | {} |\n",
                text(&row.network),
                if row.internal { " (internal)" } else { "" },
                cells.join(" | ")
            ));
        }
    }
    if !s.loads.is_empty() {
        out.push_str("\n### Under load (through the gateway; what the harness changed, and when)\n\n| criterion | subject | requests | ok | p50 | p95 | p99 | max | longest error burst | replicas | changes |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for l in &s.loads {
            let m = &l.summary;
            let marks: Vec<String> = l.marks.iter().map(|(at, what)| format!("{at:.1}s {}", text(what))).collect();
            out.push_str(&format!(
                "| {} | {} | {} | {:.2}% | {:.1}ms | {:.1}ms | {:.1}ms | {:.1}ms | {} | {} | {} |\n",
                text(&l.criterion),
                text(&l.subject),
                m.requests,
                m.success_percent(),
                m.p50_ms,
                m.p95_ms,
                m.p99_ms,
                m.max_ms,
                m.burst_text(),
                text(&m.spread().unwrap_or_else(|| "-".to_owned())),
                if marks.is_empty() { "-".to_owned() } else { marks.join(", ") }
            ));
        }
    }
    out.push_str("\n### Every verdict\n\n| | criterion | subject | measured | budget | seed | CIS |\n|---|---|---|---|---|---|---|\n");
    for e in &s.verdicts {
        let v = &e.verdict;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            if v.failed() { "**FAIL**" } else { super::outcome_word(&v.outcome) },
            v.criterion,
            text(&v.subject),
            text(&v.measured),
            text(&v.budget),
            text(&e.seed),
            v.cis().unwrap_or("")
        ));
    }
    if !s.files.is_empty() || s.git.is_some() {
        out.push_str("\nJudged files:");
        for f in &s.files {
            out.push_str(&format!(
                " {} {} sha256 {};",
                text(&f.role),
                text(&f.path),
                text(f.sha256.get(..16).unwrap_or(&f.sha256))
            ));
        }
        if let Some(g) = &s.git {
            out.push_str(&format!(" git {}{}", text(&g.commit), if g.dirty { " (with local changes)" } else { "" }));
        }
        out.push('\n');
    }
    for (service, why) in &s.stand_ins {
        out.push_str(&format!("\nStand-in: {}: {}\n", text(service), text(why)));
    }
    for w in &s.warnings {
        out.push_str(&format!("\nWarning: {}\n", text(w)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn leads_with_the_verdict_and_explains_each_failure() {
        let md = render(&sample());
        assert!(md.starts_with("# Acceptance: **NO-GO**\n\n3 passed, 1 failed, 0 not judged"), "{md}");
        assert!(md.contains("- **startup.stack stack**: 45.0s (budget 30.0s)"), "{md}");
        assert!(md.contains("  - fix: shorten the healthcheck interval"), "{md}");
        assert!(md.contains("| api | 0.2s | 2.0s | 5.3s | 6.3s |"), "{md}");
        assert!(md.contains("| data (internal) | ✓ | ✓ ! |"), "{md}");
        assert!(md.contains("| api | harness/app:0.1.0 | 4.3MB | 100.0MB |"), "{md}");
    }
}
