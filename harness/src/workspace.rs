//! Where files are: the harness's own (recipes, the provisioning script, the app sources),
//! and the *user's* (the target directory their reports and evidence go to).
//!
//! The two are different places as soon as the harness is a dependency of another project:
//! its fixtures stay in this repository, found from the path baked in at compile time,
//! while reports belong beside the build output of the project whose tests are running,
//! found at run time from what cargo tells that process.

use std::path::{Path, PathBuf};

/// The harness's own workspace root, which holds `fixtures/` and `compose/`.
///
/// Known at compile time, since recipes are read from the sources the harness was built
/// from; `HARNESS_WORKSPACE` overrides it for an installed binary. Not for reports: see
/// [`target_dir`].
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HARNESS_WORKSPACE") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), Path::to_path_buf)
}

/// The directory of image recipes, one sub-directory per image.
pub fn recipes_dir() -> PathBuf {
    root().join("fixtures/images")
}

/// The target directory of the project that is running: `CARGO_TARGET_DIR` when set, else
/// `target/` in [`project_root`] of the running crate (`CARGO_MANIFEST_DIR`, which cargo and
/// nextest set for the tests they run), else of the current directory.
///
/// Read at run time on purpose: a test in another project that depends on the harness must
/// get its reports under its own `target/`, not under this repository's.
pub fn target_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    target_dir_from(
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        &cwd,
    )
}

/// [`target_dir`] with its inputs given, so the rule is tested without touching the
/// process environment.
fn target_dir_from(target: Option<PathBuf>, manifest_dir: Option<PathBuf>, cwd: &Path) -> PathBuf {
    if let Some(target) = target.filter(|t| !t.as_os_str().is_empty()) {
        // Cargo reads a relative CARGO_TARGET_DIR against the directory it runs in.
        return cwd.join(target);
    }
    let start = manifest_dir.filter(|m| !m.as_os_str().is_empty()).unwrap_or_else(|| cwd.to_owned());
    project_root(&start).join("target")
}

/// The root cargo builds `dir`'s crate from, as cargo finds it: the nearest directory, `dir`
/// itself included, whose `Cargo.toml` has a `[workspace]` table; else `dir` itself (a crate
/// that is its own workspace). A crate with its own `[workspace]` inside another workspace's
/// tree (such as `examples/downstream` here) is its own root, as it is to cargo.
pub fn project_root(dir: &Path) -> PathBuf {
    dir.ancestors().find(|d| declares_workspace(&d.join("Cargo.toml"))).unwrap_or(dir).to_path_buf()
}

/// Whether a manifest has a `[workspace]` table. An unreadable or malformed file is not a
/// workspace root: cargo would refuse it, and the caller then falls back to the crate.
fn declares_workspace(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|doc| doc.contains_key("workspace"))
}

/// A path relative to the running project's root (or, failing that, the harness's own
/// workspace) when it is inside it: reports travel between machines.
pub fn display_path(path: &Path) -> String {
    let canonical = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let path = canonical(path.to_owned());
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(|m| project_root(&canonical(PathBuf::from(m))));
    running
        .into_iter()
        .chain([canonical(root())])
        .find_map(|root| path.strip_prefix(&root).ok().map(Path::to_path_buf))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of directories and manifests under a fresh temp dir: `(path, Some(manifest))`
    /// writes `path/Cargo.toml`, `(path, None)` only makes the directory.
    fn tree(entries: &[(&str, Option<&str>)]) -> tempfile::TempDir {
        let tmp = tempfile::Builder::new().prefix("harness-workspace-test-").tempdir().expect("temp dir");
        for (path, manifest) in entries {
            let dir = tmp.path().join(path);
            std::fs::create_dir_all(&dir).expect("mkdir");
            if let Some(text) = manifest {
                std::fs::write(dir.join("Cargo.toml"), text).expect("write manifest");
            }
        }
        tmp
    }

    const MEMBER: &str = "[package]\nname = \"a\"\n";
    const ROOT: &str = "[workspace]\nmembers = [\"crates/*\"]\n";

    #[track_caller]
    fn check(entries: &[(&str, Option<&str>)], target: Option<&str>, manifest_dir: Option<&str>, expected: &str) {
        let tmp = tree(entries);
        let base = tmp.path();
        let got = target_dir_from(target.map(PathBuf::from), manifest_dir.map(|m| base.join(m)), &base.join("cwd"));
        assert_eq!(got, base.join(expected));
    }

    #[test]
    fn reports_go_to_the_running_projects_target_dir() {
        let ws = [("ws", Some(ROOT)), ("ws/crates/a", Some(MEMBER)), ("cwd", None)];
        // A member of a workspace: the workspace's target/.
        check(&ws, None, Some("ws/crates/a"), "ws/target");
        // The workspace root's own crate.
        check(&ws, None, Some("ws"), "ws/target");
        // CARGO_TARGET_DIR wins; relative to where cargo runs.
        check(&ws, Some("elsewhere"), Some("ws/crates/a"), "cwd/elsewhere");
        // A crate that is its own workspace, even inside another workspace's tree.
        let nested = [("ws", Some(ROOT)), ("ws/examples/down", Some("[package]\nname = \"d\"\n[workspace]\n"))];
        check(&nested, None, Some("ws/examples/down"), "ws/examples/down/target");
        // No workspace anywhere: the crate's own directory.
        check(&[("solo", Some(MEMBER))], None, Some("solo"), "solo/target");
        // Not run by cargo: from the current directory upwards.
        check(&[("cwd/sub", None), ("cwd", Some(ROOT))], None, None, "cwd/target");
        // A malformed manifest is no workspace root.
        check(&[("ws", Some("[workspace")), ("ws/a", Some(MEMBER))], None, Some("ws/a"), "ws/a/target");
    }
}
