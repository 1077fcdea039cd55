//! The Dockerfile that builds a `build:` service, as the build would use it: the chain of
//! stages that ends at compose's `target` (or the last stage), and what lint reads from it
//! (USER, HEALTHCHECK, FROM, ENV, ARG), each with the line it is on, so a verdict can cite
//! `Dockerfile:12 USER 10001` instead of guessing.
//!
//! Parsing is parse-dockerfile's; this module only follows stages and ARGs the way the
//! builder does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Command, HealthcheckArguments, Instruction};

use crate::errors::{Error, Result};

/// A fact read from one Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value read.
    pub value: T,
    /// Where: `Dockerfile:12 USER 10001` (path as given, 1-based line, the instruction's
    /// first line). Never carries an ENV or ARG value.
    pub at: String,
}

/// What a service's Dockerfile says about the image it builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFile {
    /// The Dockerfile read.
    pub path: PathBuf,
    /// The last `USER` of the stage chain; `None` when no stage of the chain sets one (the
    /// base image's then applies).
    pub user: Option<Located<String>>,
    /// The last `HEALTHCHECK` of the chain: `Some(None)` for `HEALTHCHECK NONE`; `None`
    /// when no stage of the chain sets one (the base image's then applies).
    pub healthcheck: Option<Located<Option<Vec<String>>>>,
    /// The image the chain starts from, with ARGs expanded; `None` for `scratch`.
    pub base: Option<Located<String>>,
    /// Every `FROM` of the file that names an image rather than an earlier stage, with
    /// ARGs expanded (builder stages too: each one is pulled to build).
    pub images: Vec<Located<String>>,
    /// `ENV` and `ARG` defaults of the chain as (name, value, where); values are for
    /// judging only and never printed.
    pub env: Vec<(String, String, String)>,
}

/// Reads the Dockerfile of a service's resolved `build:` section (compose config's JSON:
/// absolute `context`, `dockerfile` relative to it, `target`, `args`, or
/// `dockerfile_inline`).
pub fn read_for_service(service: &str, build: &serde_json::Value) -> Result<BuildFile> {
    let context = PathBuf::from(build["context"].as_str().unwrap_or("."));
    if !context.is_dir() && !is_remote(&context) {
        return Err(Error::BuildContextMissing { service: service.to_owned(), context });
    }
    let args: BTreeMap<String, String> = build["args"]
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let target = build["target"].as_str();
    if let Some(inline) = build["dockerfile_inline"].as_str() {
        return parse(service, Path::new("(dockerfile_inline)"), inline, target, &args);
    }
    let path = context.join(build["dockerfile"].as_str().unwrap_or("Dockerfile"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read the Dockerfile", &path, e))?;
    parse(service, &path, &text, target, &args)
}

/// A git URL or other remote context: compose hands it to the builder; nothing local to read.
fn is_remote(context: &Path) -> bool {
    let s = context.to_string_lossy();
    s.contains("://") || s.starts_with("git@")
}

/// Parses `text` (the file at `path`) and follows the chain of stages to `target`.
pub fn parse(
    service: &str,
    path: &Path,
    text: &str,
    target: Option<&str>,
    build_args: &BTreeMap<String, String>,
) -> Result<BuildFile> {
    let invalid = |line: usize, reason: String| Error::DockerfileInvalid {
        service: service.to_owned(),
        path: path.to_owned(),
        line,
        reason,
    };
    let file = parse_dockerfile::parse(text).map_err(|e| invalid(e.line(), e.to_string()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let at = |offset: usize, what: &str| format!("{name}:{} {what}", line_of(offset));

    // Global ARGs (before the first FROM) expand FROM lines; build args override defaults.
    let mut global: BTreeMap<String, String> = BTreeMap::new();
    for arg in file.global_args() {
        for (k, v) in words(&arg.arguments.value) {
            let v = build_args.get(&k).cloned().or(v).unwrap_or_default();
            global.insert(k, v);
        }
    }
    let stages: Vec<_> = file.stages().collect();
    if stages.is_empty() {
        return Err(invalid(0, "it has no FROM instruction".into()));
    }
    let stage_names: Vec<Option<String>> =
        stages.iter().map(|s| s.from.as_.as_ref().map(|(_, n)| n.value.to_lowercase())).collect();
    let last = stages.len() - 1;
    let end = match target {
        None => last,
        Some(t) => stage_names.iter().position(|n| n.as_deref() == Some(&t.to_lowercase())).ok_or_else(|| {
            let known: Vec<&str> = stage_names.iter().flatten().map(String::as_str).collect();
            invalid(
                0,
                format!(
                    "build target `{t}` is not a stage of it (stages named: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            )
        })?,
    };
    let from_image = |i: usize| expand(&stages[i].from.image.value, &global);
    // A FROM that names an earlier stage continues that stage.
    let parent = |i: usize| {
        let image = from_image(i).to_lowercase();
        stage_names[..i].iter().position(|n| n.as_deref() == Some(image.as_str()))
    };
    let mut chain = vec![end];
    while let Some(p) = parent(*chain.last().unwrap_or(&end)) {
        chain.push(p);
    }
    chain.reverse();

    let mut out = BuildFile { path: path.to_owned(), ..BuildFile::default() };
    for (i, stage) in stages.iter().enumerate() {
        let image = from_image(i);
        if parent(i).is_none() && !image.eq_ignore_ascii_case("scratch") {
            let loc = Located { at: at(stage.from.from.span.start, &format!("FROM {image}")), value: image.clone() };
            if i == chain[0] {
                out.base = Some(loc.clone());
            }
            out.images.push(loc);
        }
    }
    for &i in &chain {
        let mut scope = global.clone();
        for ins in stages[i].instructions {
            match ins {
                Instruction::User(u) => {
                    let user = expand(u.arguments.value.trim(), &scope);
                    out.user = Some(Located { at: at(u.user.span.start, &format!("USER {user}")), value: user });
                }
                Instruction::Healthcheck(h) => {
                    let (test, what) = match &h.arguments {
                        HealthcheckArguments::None { .. } => (None, "HEALTHCHECK NONE".to_owned()),
                        HealthcheckArguments::Cmd { arguments, .. } => {
                            let test = match arguments {
                                Command::Exec(list) => std::iter::once("CMD".to_owned())
                                    .chain(list.value.iter().map(|s| s.value.to_string()))
                                    .collect(),
                                Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s.value.trim().to_owned()],
                                _ => continue,
                            };
                            (Some(test), "HEALTHCHECK CMD".to_owned())
                        }
                        _ => continue,
                    };
                    out.healthcheck = Some(Located { at: at(h.healthcheck.span.start, &what), value: test });
                }
                Instruction::Env(e) => {
                    for (k, v) in words(&e.arguments.value) {
                        let v = expand(&v.unwrap_or_default(), &scope);
                        out.env.push((k.clone(), v.clone(), at(e.env.span.start, &format!("ENV {k}"))));
                        scope.insert(k, v);
                    }
                }
                Instruction::Arg(a) => {
                    for (k, v) in words(&a.arguments.value) {
                        let v = build_args.get(&k).cloned().or(v.map(|v| expand(&v, &scope)));
                        if let Some(v) = v {
                            out.env.push((k.clone(), v.clone(), at(a.arg.span.start, &format!("ARG {k}"))));
                            scope.insert(k, v);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// `K=V K2="v 2"` (or the legacy `K value with spaces`) as (name, value) pairs; `ARG NAME`
/// without a default gives `None`.
fn words(text: &str) -> Vec<(String, Option<String>)> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') && text.contains(char::is_whitespace) {
        let (k, v) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        return vec![(k.to_owned(), Some(unquote(v.trim())))];
    }
    let mut out = Vec::new();
    let mut token = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => token.extend(chars.next()),
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if !token.is_empty() {
                    tokens.push(std::mem::take(&mut token));
                }
            }
            (c, _) => token.push(c),
        }
    }
    if !token.is_empty() {
        tokens.push(token);
    }
    for t in tokens {
        match t.split_once('=') {
            Some((k, v)) => out.push((k.to_owned(), Some(v.to_owned()))),
            None => out.push((t, None)),
        }
    }
    out
}

fn unquote(s: &str) -> String {
    let q = s.len() >= 2 && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')));
    if q { s[1..s.len() - 1].to_owned() } else { s.to_owned() }
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}` from `vars`, as the
/// builder does for FROM, USER and ENV; unknown variables become empty.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(body) = rest.strip_prefix('{') {
            let Some(close) = body.find('}') else {
                out.push('$');
                continue;
            };
            let inner = &body[..close];
            rest = &body[close + 1..];
            let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
                Some(p) => (&inner[..p], Some((&inner[p..p + 2], &inner[p + 2..]))),
                None => (inner, None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            out.push_str(&match (op, value) {
                (Some((":-", default)), None) => default.to_owned(),
                (Some((":+", alt)), Some(_)) => alt.to_owned(),
                (Some((":+", _)), None) => String::new(),
                (_, v) => v.cloned().unwrap_or_default(),
            });
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
                continue;
            }
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, target: Option<&str>) -> BuildFile {
        parse("web", Path::new("Dockerfile"), text, target, &BTreeMap::new()).expect("parses")
    }

    const MULTI: &str = "\
ARG RUST=1.80
FROM rust:${RUST} AS build
USER 0
ENV API_TOKEN=abc123
RUN cargo build

FROM harness/app:0.1.0 AS runtime
COPY --from=build /x /x

FROM runtime AS hardened
USER 10001:10001
HEALTHCHECK --interval=5s CMD [\"/app\", \"healthcheck\"]

FROM scratch AS debug
";

    #[test]
    fn the_target_stage_chain_decides_user_and_healthcheck() {
        let f = read(MULTI, Some("hardened"));
        assert_eq!(
            f.user.as_ref().map(|u| (u.value.as_str(), u.at.as_str())),
            Some(("10001:10001", "Dockerfile:11 USER 10001:10001"))
        );
        let hc = f.healthcheck.expect("healthcheck");
        assert_eq!(hc.value, Some(vec!["CMD".to_owned(), "/app".to_owned(), "healthcheck".to_owned()]));
        assert_eq!(hc.at, "Dockerfile:12 HEALTHCHECK CMD");
        assert_eq!(f.base.map(|b| b.value), Some("harness/app:0.1.0".to_owned()), "hardened continues runtime");
        let images: Vec<_> = f.images.iter().map(|i| i.at.as_str()).collect();
        assert_eq!(
            images,
            ["Dockerfile:2 FROM rust:1.80", "Dockerfile:7 FROM harness/app:0.1.0"],
            "scratch is no image"
        );
        assert!(f.env.is_empty(), "the build stage's ENV is not in the target's chain");
    }

    #[test]
    fn without_a_target_the_last_stage_is_built() {
        let f = read(MULTI, None);
        assert_eq!(f.user, None);
        assert_eq!(f.healthcheck, None);
        assert_eq!(f.base, None, "scratch");
        let build = read(MULTI, Some("build"));
        assert_eq!(build.user.map(|u| u.value), Some("0".to_owned()));
        assert_eq!(
            build.env,
            vec![("API_TOKEN".to_owned(), "abc123".to_owned(), "Dockerfile:4 ENV API_TOKEN".to_owned())]
        );
    }

    #[test]
    fn build_args_override_arg_defaults_in_from_lines() {
        let args = BTreeMap::from([("RUST".to_owned(), "1.81".to_owned())]);
        let f = parse("web", Path::new("Dockerfile"), MULTI, Some("build"), &args).expect("parses");
        assert_eq!(f.base.map(|b| b.value), Some("rust:1.81".to_owned()));
    }

    #[test]
    fn an_unknown_target_names_the_stages() {
        let e = parse("web", Path::new("Dockerfile"), MULTI, Some("prod"), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("`prod`") && e.contains("build, runtime, hardened, debug"), "{e}");
    }

    #[test]
    fn healthcheck_none_and_shell_form() {
        let f = read("FROM a:1\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE\n", None);
        assert_eq!(f.healthcheck.map(|h| (h.value, h.at)), Some((None, "Dockerfile:3 HEALTHCHECK NONE".to_owned())));
        let f = read("FROM a:1\nHEALTHCHECK CMD curl -f http://localhost/\n", None);
        assert_eq!(
            f.healthcheck.and_then(|h| h.value),
            Some(vec!["CMD-SHELL".to_owned(), "curl -f http://localhost/".to_owned()])
        );
    }

    #[test]
    fn env_forms_and_continuations() {
        let f =
            read("FROM a:1\nENV A=1 \\\n    B=\"two words\"\nENV LEGACY some value\nARG NODEFAULT\nARG WITH=x\n", None);
        let env: Vec<(&str, &str)> = f.env.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "1"), ("B", "two words"), ("LEGACY", "some value"), ("WITH", "x")]);
        assert_eq!(f.env[1].2, "Dockerfile:2 ENV B", "a continued instruction is cited by its first line");
    }

    #[track_caller]
    fn check_expand(text: &str, expected: &str) {
        let vars = BTreeMap::from([("A".to_owned(), "1".to_owned()), ("E".to_owned(), String::new())]);
        assert_eq!(expand(text, &vars), expected, "{text}");
    }

    #[test]
    fn expands_like_the_builder() {
        check_expand("x:$A", "x:1");
        check_expand("x:${A}-y", "x:1-y");
        check_expand("x:${B:-2}", "x:2");
        check_expand("x:${E:-2}", "x:2");
        check_expand("x:${A:+set}", "x:set");
        check_expand("x:${B:+set}", "x:");
        check_expand("x:$B", "x:");
        check_expand("cost $ 5", "cost $ 5");
    }

    #[test]
    fn a_missing_context_is_an_input_error() {
        let build = serde_json::json!({"context": "/nonexistent/harness-ctx", "dockerfile": "Dockerfile"});
        let e = read_for_service("web", &build).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/harness-ctx") && e.contains("`web`"), "{e}");
    }

    #[test]
    fn a_file_without_from_is_invalid() {
        let e = parse("web", Path::new("Dockerfile"), "RUN true\n", None, &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("Dockerfile"), "{e}");
    }
}
