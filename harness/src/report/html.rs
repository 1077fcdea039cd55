//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no fetches).
//! Read top to bottom it answers, in order: go or no-go; how the boot went against its
//! budget; what failed and how to fix it; the images and the isolation matrix; every
//! verdict; and what exactly was judged, where.

use super::{GridCell, Report, StackReport, Timeline, esc};
use crate::units::megabytes;

const CSS: &str = r#"
body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0; color: #1f2328; background: #fff; }
main { max-width: 1140px; margin: 0 auto; padding: 0 24px 48px; }
.banner { padding: 18px 24px; color: #fff; }
.banner.go { background: #1a7f37; } .banner.nogo { background: #cf222e; }
.banner h1 { margin: 0; font-size: 34px; letter-spacing: 1px; }
.banner p { margin: 4px 0 0; font-size: 15px; }
h2 { margin: 28px 0 8px; font-size: 22px; border-bottom: 2px solid #d0d7de; padding-bottom: 4px; }
h3 { margin: 20px 0 6px; font-size: 16px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; color: #fff; font-weight: bold; font-size: 13px; }
.pill.go { background: #1a7f37; } .pill.nogo { background: #cf222e; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.nowrap { white-space: nowrap; }
td.fail { color: #cf222e; font-weight: bold; } td.pass { color: #1a7f37; }
.failure { border-left: 4px solid #cf222e; background: #fff5f5; padding: 6px 10px; margin: 8px 0; }
.failure .what { font-weight: bold; }
.failure pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0; font-size: 12px; background: none; }
.failure .fix { color: #0550ae; }
.grid td { text-align: center; }
.cell-allowed { background: #dafbe1; } .cell-denied { background: #f6f8fa; color: #57606a; }
.cell-bad { background: #ffcecb; font-weight: bold; } .cell-free { background: #fff8c5; }
.muted { color: #57606a; } code { font-size: 12px; }
"#;

/// Renders the whole report as one self-contained HTML page.
pub fn render(r: &Report) -> String {
    let word = r.verdict_word();
    let class = if r.go { "go" } else { "nogo" };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{word}: acceptance report {}</title><style>{CSS}</style></head><body>\n",
        esc(&r.run_id)
    );
    let names: Vec<String> = r.stacks.iter().map(|s| esc(&s.name)).collect();
    out.push_str(&format!(
        "<div class=\"banner {class}\"><h1>{word}</h1><p>{} passed, {} failed, {} not judged &middot; {} &middot; run {} ({}) &middot; {} &middot; {:.1}s</p></div>\n<main>\n",
        r.passed,
        r.failed,
        r.not_judged,
        names.join(", "),
        esc(&r.run_id),
        esc(&r.source),
        esc(&r.started_at),
        r.duration_s
    ));
    for s in &r.stacks {
        stack(&mut out, s);
    }
    let p = &r.provenance;
    out.push_str("<h2>Provenance</h2><table>");
    for (k, v) in [
        ("harness", p.harness_version.as_str()),
        ("engine", &format!("{} (API {})", p.engine_version, p.engine_api)),
        ("compose", p.compose_version.as_str()),
        ("host", p.host.as_str()),
        ("command", p.command.as_str()),
        ("started", r.started_at.as_str()),
        ("duration", &format!("{:.1}s", r.duration_s)),
    ] {
        out.push_str(&format!("<tr><th>{k}</th><td><code>{}</code></td></tr>", esc(v)));
    }
    out.push_str("</table>\n</main></body></html>\n");
    out
}

fn stack(out: &mut String, s: &StackReport) {
    let (word, class) = if s.go { ("GO", "go") } else { ("NO-GO", "nogo") };
    out.push_str(&format!(
        "<h2>{} <span class=\"pill {class}\">{word}</span> <span class=\"muted\">{} passed, {} failed, {} not judged</span></h2>\n",
        esc(&s.name),
        s.passed,
        s.failed,
        s.not_judged
    ));
    if !s.only.is_empty() || !s.skip.is_empty() {
        out.push_str(&format!("<p class=\"muted\">Partial run: {}.</p>", esc(&super::partial(s))));
    }
    if let Some(t) = &s.timeline {
        out.push_str("<h3>Boot timeline</h3>\n");
        out.push_str(&timeline_svg(t));
    }
    let failures: Vec<_> = s.verdicts.iter().filter(|e| e.verdict.failed()).collect();
    if !failures.is_empty() {
        out.push_str(&format!("<h3>Failures ({})</h3>\n", failures.len()));
        for e in failures {
            let v = &e.verdict;
            out.push_str(&format!(
                "<div class=\"failure\"><div class=\"what\">{} &middot; {}: {} (budget {}){}</div><pre>{}</pre>{}</div>\n",
                esc(v.criterion.id()),
                esc(&v.subject),
                esc(&v.measured),
                esc(&v.budget),
                v.cis().map(|c| format!(" <span class=\"muted\">CIS {c}</span>")).unwrap_or_default(),
                esc(&v.evidence),
                v.hint.as_ref().map(|h| format!("<div class=\"fix\">fix: {}</div>", esc(h))).unwrap_or_default()
            ));
        }
    }
    let unjudged: Vec<_> = s.verdicts.iter().filter_map(|e| super::unjudged(&e.verdict)).collect();
    if !unjudged.is_empty() {
        out.push_str(&format!(
            "<h3>Not judged ({})</h3><p class=\"muted\">The harness could not measure these; they are neither passes nor failures.</p><ul>\n",
            unjudged.len()
        ));
        for (v, why) in unjudged {
            out.push_str(&format!("<li>{} &middot; {}: {}</li>\n", esc(v.criterion.id()), esc(&v.subject), esc(why)));
        }
        out.push_str("</ul>\n");
    }
    if !s.images.is_empty() {
        out.push_str("<h3>Image sizes</h3>\n");
        out.push_str(&images_svg(s));
    }
    if !s.loads.is_empty() {
        out.push_str("<h3>Under load</h3><p class=\"muted\">Requests through the gateway per second: answered (green) and failed (red), with what the harness changed, and when (dashed lines).</p>\n");
        for l in &s.loads {
            out.push_str(&load_svg(l));
        }
    }
    if !s.isolation.is_empty() {
        out.push_str("<h3>Isolation matrix</h3><p class=\"muted\">From a probe on each network (row) to each service port (column): allowed and connected, denied and blocked, or (red) not what the policy says. Yellow: the policy says nothing about the network.</p>\n<table class=\"grid\"><tr><th>network</th>");
        for c in &s.isolation[0].cells {
            out.push_str(&format!("<th>{}</th>", esc(&c.target)));
        }
        out.push_str("</tr>\n");
        for row in &s.isolation {
            out.push_str(&format!(
                "<tr><th>{}{}</th>",
                esc(&row.network),
                if row.internal { " <span class=\"muted\">internal</span>" } else { "" }
            ));
            for c in &row.cells {
                let (class, text) = grid_cell(c);
                out.push_str(&format!("<td class=\"{class}\">{text}</td>"));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h3>Every verdict</h3><table><tr><th></th><th>criterion</th><th>subject</th><th>measured</th><th>budget</th><th>seed</th><th>CIS</th></tr>\n");
    for e in &s.verdicts {
        let v = &e.verdict;
        out.push_str(&format!(
            "<tr><td class=\"{}\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td></tr>\n",
            if v.failed() { "fail" } else if v.passed() { "pass" } else { "skip" },
            super::outcome_word(&v.outcome),
            esc(v.criterion.id()),
            esc(&v.subject),
            esc(&v.measured),
            esc(&v.budget),
            esc(&e.seed),
            v.cis().unwrap_or("")
        ));
    }
    out.push_str("</table>\n");
    if !s.files.is_empty() || s.git.is_some() || !s.stand_ins.is_empty() || !s.warnings.is_empty() {
        out.push_str("<h3>What was judged</h3><table>");
        for f in &s.files {
            out.push_str(&format!(
                "<tr><th>{}</th><td><code>{}</code></td><td><code>sha256 {}</code></td></tr>",
                esc(&f.role),
                esc(&f.path),
                esc(&f.sha256)
            ));
        }
        if let Some(g) = &s.git {
            out.push_str(&format!(
                "<tr><th>git</th><td colspan=\"2\"><code>{}</code>{}</td></tr>",
                esc(&g.commit),
                if g.dirty { " with local changes" } else { "" }
            ));
        }
        for (service, why) in &s.stand_ins {
            out.push_str(&format!("<tr><th>stand-in</th><td>{}</td><td>{}</td></tr>", esc(service), esc(why)));
        }
        for w in &s.warnings {
            out.push_str(&format!("<tr><th>warning</th><td colspan=\"2\">{}</td></tr>", esc(w)));
        }
        out.push_str("</table>\n");
    }
}

fn grid_cell(c: &GridCell) -> (&'static str, &'static str) {
    match (c.allowed, c.connected) {
        (Some(true), true) => ("cell-allowed", "&#10003; allowed"),
        (Some(false), false) => ("cell-denied", "&middot; denied"),
        (Some(false), true) => ("cell-bad", "&#10003; NOT allowed"),
        (Some(true), false) => ("cell-bad", "&middot; expected"),
        (None, true) => ("cell-free", "&#10003;"),
        (None, false) => ("cell-free", "&middot;"),
    }
}

/// A tick step that gives 5-10 ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    [0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0].into_iter().find(|s| span / s <= 10.0).unwrap_or(600.0)
}

/// One load run: a bar per second of the requests answered (green, up) and failed (red,
/// stacked on top), the changes as dashed lines, and the figures underneath.
pub fn load_svg(l: &crate::load::LoadRun) -> String {
    const LEFT: f64 = 50.0;
    const WIDTH: f64 = 1080.0;
    const PLOT_H: f64 = 90.0;
    let m = &l.summary;
    let seconds = (m.timeline.len() as f64).max(m.duration_s.ceil()).max(1.0);
    let most = m.timeline.iter().map(|(ok, err)| ok + err).max().unwrap_or(0).max(1) as f64;
    let plot = WIDTH - LEFT - 20.0;
    let x = |s: f64| LEFT + s / seconds * plot;
    // The changes' labels, each in the first row where it overlaps no other; the plot starts
    // below the last row used.
    let labels: Vec<Label> =
        mark_labels(&l.marks.iter().map(|(at, what)| (x(*at), what.as_str())).collect::<Vec<_>>(), LEFT + plot);
    let rows = labels.iter().map(|l| l.row + 1).max().unwrap_or(1);
    let top = 22.0 + LABEL_ROW * rows as f64;
    let h = |n: u64| n as f64 / most * PLOT_H;
    let bottom = top + PLOT_H;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"load {}\">\n<text x=\"{LEFT}\" y=\"16\" font-weight=\"bold\">{} &middot; {}</text>\n",
        bottom + 56.0,
        esc(&l.criterion),
        esc(&l.criterion),
        esc(&l.subject)
    );
    let bar_w = (plot / seconds - 2.0).max(1.0);
    for (i, (ok, err)) in m.timeline.iter().enumerate() {
        let x0 = x(i as f64) + 1.0;
        svg.push_str(&format!(
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"#2da44e\"><title>{i}s: {ok} answered</title></rect>\n",
            bottom - h(*ok),
            h(*ok)
        ));
        if *err > 0 {
            svg.push_str(&format!(
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"#cf222e\"><title>{i}s: {err} failed</title></rect>\n",
                bottom - h(*ok) - h(*err),
                h(*err)
            ));
        }
    }
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\" stroke=\"#57606a\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#57606a\">{most:.0}/s</text>\n",
        LEFT + plot,
        LEFT - 4.0,
        top + 10.0
    ));
    for ((at, what), label) in l.marks.iter().zip(&labels) {
        let y = 22.0 + LABEL_ROW * (label.row + 1) as f64 - 4.0;
        svg.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{bottom}\" stroke=\"#8250df\" stroke-dasharray=\"4 3\"/><text x=\"{2:.1}\" y=\"{y:.1}\" text-anchor=\"{3}\" fill=\"#8250df\">{4}</text>\n",
            x(*at),
            y - 10.0,
            if label.end_anchored { x(*at) - 3.0 } else { x(*at) + 3.0 },
            if label.end_anchored { "end" } else { "start" },
            esc(what)
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{:.1}\">{} requests in {:.1}s: {:.2}% ok; p50 {:.1}ms, p95 {:.1}ms, p99 {:.1}ms, max {:.1}ms; longest error burst {}</text>\n<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#57606a\">replicas: {}</text>\n</svg>\n",
        bottom + 22.0,
        m.requests,
        m.duration_s,
        m.success_percent(),
        m.p50_ms,
        m.p95_ms,
        m.p99_ms,
        m.max_ms,
        m.burst_text(),
        bottom + 40.0,
        esc(&m.spread().unwrap_or_else(|| "not named (no x-replica header)".to_owned()))
    ));
    svg
}

/// The height of one row of change labels above a load plot.
const LABEL_ROW: f64 = 14.0;
/// The width a character of a 12 px label takes, at most (DejaVu Sans' widest are about 7 px).
const LABEL_CHAR: f64 = 7.0;

/// Where one change's label goes: its row above the plot, and whether it ends at its line
/// (a label that would run past the plot's right edge) rather than starting there.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Label {
    row: usize,
    end_anchored: bool,
}

/// Lays out the labels of changes at `(x, text)`, so that no two in a row overlap: each goes
/// in the first row whose labels all end before it starts (with a gap), however close the
/// changes were in time. Pure, so the layout is tested without a browser.
fn mark_labels(marks: &[(f64, &str)], right: f64) -> Vec<Label> {
    const GAP: f64 = 8.0;
    // Per row, the spans its labels cover.
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut out = Vec::with_capacity(marks.len());
    for (x, text) in marks {
        let width = text.chars().count() as f64 * LABEL_CHAR + 3.0;
        let end_anchored = x + width > right;
        let span = if end_anchored { (x - width, *x) } else { (*x, x + width) };
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|(a, b)| span.1 + GAP <= *a || *b + GAP <= span.0);
        let row = match rows.iter().position(free) {
            Some(r) => r,
            None => {
                rows.push(Vec::new());
                rows.len() - 1
            }
        };
        rows[row].push(span);
        out.push(Label { row, end_anchored });
    }
    out
}

/// A Gantt chart: per service, created→started (grey), started→ready (blue),
/// ready→healthy (amber), with the startup budget as a red line.
pub fn timeline_svg(t: &Timeline) -> String {
    const LABEL: f64 = 130.0;
    const WIDTH: f64 = 1080.0;
    const ROW: f64 = 24.0;
    const TOP: f64 = 26.0;
    let latest = t
        .services
        .iter()
        .flat_map(|s| [s.created_s, s.started_s, s.ready_s, s.healthy_s])
        .flatten()
        .fold(0.0_f64, f64::max);
    let span = latest.max(t.budget_s).max(1.0) * 1.05;
    let plot = WIDTH - LABEL - 20.0;
    let x = |s: f64| LABEL + s / span * plot;
    let height = TOP + ROW * t.services.len() as f64 + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"boot timeline\">\n"
    );
    let step = tick_step(span);
    let bottom = TOP + ROW * t.services.len() as f64;
    let mut tick = 0.0;
    while tick <= span {
        svg.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{bottom}\" stroke=\"#eaeef2\"/><text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\" fill=\"#57606a\">{tick}s</text>\n",
            x(tick),
            bottom + 16.0
        ));
        tick += step;
    }
    for (i, s) in t.services.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LABEL - 8.0,
            y + 16.0,
            esc(&s.service)
        ));
        let bar = |from: Option<f64>, to: Option<f64>, color: &str, what: &str| match (from, to) {
            (Some(a), Some(b)) => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\"><title>{} {what} {a:.2}s to {b:.2}s</title></rect>\n",
                x(a),
                y + 5.0,
                (x(b) - x(a)).max(2.0),
                esc(&s.service)
            ),
            _ => String::new(),
        };
        svg.push_str(&bar(s.created_s, s.started_s, "#afb8c1", "created to started"));
        svg.push_str(&bar(s.started_s, s.ready_s, "#218bff", "started to ready"));
        svg.push_str(&bar(s.ready_s, s.healthy_s, "#d4a72c", "ready to healthy"));
        let end = s.healthy_s.or(s.ready_s);
        if let Some(e) = end {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f2328\">{}</text>\n",
                x(e) + 4.0,
                y + 16.0,
                match (s.ready_s, s.healthy_s) {
                    (Some(r), Some(h)) => format!("ready {r:.1}s, healthy {h:.1}s"),
                    (Some(r), None) => format!("ready {r:.1}s"),
                    _ => String::new(),
                }
            ));
        } else {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#cf222e\">never ready</text>\n",
                LABEL + 4.0,
                y + 16.0
            ));
        }
    }
    svg.push_str(&format!(
        "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{bottom}\" stroke=\"#cf222e\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\" fill=\"#cf222e\" font-weight=\"bold\">budget {3:.0}s</text>\n",
        x(t.budget_s),
        TOP - 14.0,
        TOP - 16.0,
        t.budget_s
    ));
    let legend_y = bottom + 34.0;
    for (i, (color, what)) in
        [("#afb8c1", "created → started"), ("#218bff", "started → ready"), ("#d4a72c", "ready → healthy (Docker)")]
            .iter()
            .enumerate()
    {
        let lx = LABEL + 200.0 * i as f64;
        svg.push_str(&format!(
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{legend_y:.1}\">{what}</text>\n",
            legend_y - 9.0,
            lx + 18.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Horizontal bars of image size, each with its budget as a red tick.
pub fn images_svg(s: &StackReport) -> String {
    const LABEL: f64 = 130.0;
    const WIDTH: f64 = 1080.0;
    const ROW: f64 = 24.0;
    let largest =
        s.images.iter().map(|i| i.size_bytes.max(i.budget_bytes.unwrap_or(0))).max().unwrap_or(1).max(1) as f64 * 1.05;
    let plot = WIDTH - LABEL - 420.0;
    let x = |b: u64| LABEL + b as f64 / largest * plot;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"image sizes\">\n",
        ROW * s.images.len() as f64 + 8.0
    );
    for (i, img) in s.images.iter().enumerate() {
        let y = ROW * i as f64;
        let over = img.budget_bytes.is_some_and(|b| img.size_bytes > b);
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{LABEL}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{}\"/>",
            LABEL - 8.0,
            y + 16.0,
            esc(&img.service),
            y + 5.0,
            (x(img.size_bytes) - LABEL).max(2.0),
            if over { "#cf222e" } else { "#2da44e" }
        ));
        let label = match img.budget_bytes {
            Some(b) => {
                svg.push_str(&format!(
                    "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#cf222e\" stroke-width=\"3\"/>",
                    x(b),
                    y + 2.0,
                    y + 22.0
                ));
                format!("{} of {} &middot; {}", megabytes(img.size_bytes), megabytes(b), esc(&img.reference))
            }
            None => format!("{} &middot; {}", megabytes(img.size_bytes), esc(&img.reference)),
        };
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n",
            x(img.size_bytes.max(img.budget_bytes.unwrap_or(0))) + 6.0,
            y + 16.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn self_contained_and_verdict_first() {
        let html = render(&sample());
        assert!(
            html.contains("<div class=\"banner nogo\"><h1>NO-GO</h1><p>3 passed, 1 failed, 0 not judged"),
            "{html}"
        );
        for forbidden in ["<script", "http://", "https://", "<link", "@import", "src=\""] {
            let outside_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!outside_ns.contains(forbidden), "no external reference ({forbidden})");
        }
        assert!(html.contains("fix: shorten the healthcheck interval"), "failures carry their fix");
        assert!(html.contains("&lt;with&gt; &quot;quotes&quot; &amp; ampersands"), "evidence is escaped");
        assert!(html.contains("<td class=\"cell-bad\">&#10003; NOT allowed</td>"), "mismatches stand out");
    }

    #[test]
    fn timeline_draws_each_phase_and_the_budget() {
        let r = sample();
        let svg = timeline_svg(r.stacks[0].timeline.as_ref().expect("timeline"));
        assert!(svg.contains("<title>api started to ready 2.00s to 5.30s</title>"), "{svg}");
        assert!(svg.contains("<title>api ready to healthy 5.30s to 6.30s</title>"), "{svg}");
        assert!(svg.contains(">budget 30s</text>"), "{svg}");
        assert!(svg.contains(">ready 1.4s, healthy 1.5s</text>"), "{svg}");
    }

    #[test]
    fn change_labels_never_overlap_however_close_the_changes() {
        let right = 1060.0;
        // Far apart: one row. A tenth of a second apart (a pixel): a row each.
        assert_eq!(
            mark_labels(&[(100.0, "SIGKILL api"), (400.0, "api back")], right)
                .iter()
                .map(|l| l.row)
                .collect::<Vec<_>>(),
            [0, 0]
        );
        let close = mark_labels(
            &[(100.0, "new replica a1"), (101.0, "stop b5d1"), (102.0, "new replica c3"), (300.0, "done")],
            right,
        );
        assert_eq!(close.iter().map(|l| l.row).collect::<Vec<_>>(), [0, 1, 2, 0]);
        // A label at the right edge ends at its line instead of running off the picture.
        let edge = mark_labels(&[(1050.0, "rollback_completed")], right);
        assert!(edge[0].end_anchored, "{edge:?}");
        // The drawing gives each row its own height: the plot starts below the third row.
        let mut run = sample().stacks[0].loads[0].clone();
        run.marks = vec![(2.0, "new replica a1".into()), (2.01, "stop b5d1".into()), (2.02, "new replica c3".into())];
        let svg = load_svg(&run);
        let ys: Vec<&str> = svg
            .match_indices("fill=\"#8250df\">")
            .map(|(i, _)| &svg[..i])
            .map(|head| head.rsplit("y=\"").next().unwrap_or_default())
            .collect();
        assert_eq!(ys.len(), 3, "{svg}");
        let distinct: std::collections::BTreeSet<&str> =
            ys.iter().map(|y| y.split('"').next().unwrap_or_default()).collect();
        assert_eq!(distinct.len(), 3, "three rows for three changes a pixel apart: {svg}");
    }

    #[test]
    fn ticks_stay_readable() {
        assert_eq!(tick_step(6.0), 1.0);
        assert_eq!(tick_step(31.5), 5.0);
        assert_eq!(tick_step(95.0), 10.0);
    }

    #[test]
    fn image_bars_mark_budget_overruns() {
        let mut s = sample().stacks[0].clone();
        s.images[0].size_bytes = 150_000_000;
        let svg = images_svg(&s);
        assert!(svg.contains("fill=\"#cf222e\""), "{svg}");
        assert!(svg.contains(">150.0MB of 100.0MB &middot; harness/app:0.1.0</text>"), "{svg}");
    }
}
