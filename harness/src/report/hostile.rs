//! Every report form stays well-formed and inert when every string a run can put in it is
//! hostile: markup, script, Markdown links and images, table pipes, terminal control
//! sequences, newlines, bidirectional overrides, very long text. A stack controls much of
//! what a report quotes (health-check output, commands, names, paths, warnings), and the
//! report is opened in a browser, pasted into a PR and printed in a terminal.

use super::tests::sample;
use super::{Report, html, junit, markdown, terminal};

/// One payload with every trick at once; the long tail makes sure no truncation hides a
/// half-escaped sequence.
fn payload() -> String {
    format!(
        "<script>document.title='pwned'</script><img src=x onerror=alert(1)> a|b ![i](x.png) [l](javascript:alert(1)) ```` \u{1b}[2J\u{1b}]0;title\u{7} next\nline\r\u{202e}gpj.exe {}",
        "x".repeat(10_000)
    )
}

/// The sample report with the payload appended to every string the serialised form carries,
/// except the few that must parse (criterion ids, outcome tags).
fn hostile() -> Report {
    fn poison(v: &mut serde_json::Value, key: &str) {
        match v {
            serde_json::Value::String(s) if !matches!(key, "criterion" | "state" | "kind") => s.push_str(&payload()),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| poison(x, key)),
            serde_json::Value::Object(o) => o.iter_mut().for_each(|(k, x)| poison(x, k)),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(sample()).expect("serialises");
    poison(&mut value, "");
    let report: Report = serde_json::from_value(value).expect("still a report");
    assert!(report.stacks[0].name.contains("<script>"), "the payload went in");
    report
}

#[test]
fn html_runs_no_script_and_loads_nothing() {
    let page = html::render(&hostile()).to_lowercase();
    for bad in ["<script", "<img", "\u{1b}", "\u{7}"] {
        assert!(!page.contains(bad), "{bad:?} reached report.html");
    }
    assert!(page.contains("&lt;script&gt;"), "the payload is shown, escaped");
}

#[test]
fn markdown_keeps_its_tables_and_renders_no_html_link_or_image() {
    let md = markdown::render(&hostile());
    assert!(!md.contains('<'), "no tag can reach a rendered PR comment");
    assert!(!md.contains("](") || md.match_indices("](").all(|(i, _)| md[..i].ends_with('\\')), "no link or image");
    assert!(!md.chars().any(|c| c.is_control() && c != '\n'), "no control character");
    // Every row of a table has as many cells as its header.
    let unescaped = |l: &str| l.match_indices('|').filter(|(i, _)| !l[..*i].ends_with('\\')).count();
    let mut columns = None;
    for line in md.lines() {
        match (line.starts_with('|'), columns) {
            (true, None) => columns = Some(unescaped(line)),
            (true, Some(n)) => {
                assert_eq!(unescaped(line), n, "a row broke its table: {}", &line[..line.len().min(200)])
            }
            (false, _) => columns = None,
        }
    }
}

#[test]
fn junit_stays_well_formed_xml() {
    let xml = junit::render(&hostile());
    assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'), "XML 1.0 forbids these characters");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => elements += 1,
            Ok(_) => {}
            Err(e) => panic!("junit.xml is not well-formed at {}: {e}", reader.buffer_position()),
        }
    }
    assert!(elements > 3, "{elements} elements");
}

#[test]
fn terminal_lines_send_no_control_sequence() {
    for stack in &hostile().stacks {
        for e in &stack.verdicts {
            for text in [e.verdict.line(), e.verdict.evidence.clone()] {
                let shown = terminal(&text);
                assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown}");
                assert!(!shown.contains('\u{202e}'), "no bidirectional override");
            }
        }
    }
}
