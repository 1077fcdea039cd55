//! Where the project's own files are: recipes, the provisioning script, the app sources.
//!
//! The harness is run from this workspace (by cargo, nextest or the CLI), so the root is
//! known at compile time; `HARNESS_WORKSPACE` overrides it for an installed binary.

use std::path::PathBuf;

/// The workspace root that holds `fixtures/` and `compose/`.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HARNESS_WORKSPACE") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), std::path::Path::to_path_buf)
}

/// The directory of image recipes, one sub-directory per image.
pub fn recipes_dir() -> PathBuf {
    root().join("fixtures/images")
}
