//! Headless Chromium (Debian's `chromium`, installed by `scripts/setup-test-deps.sh`) for the
//! tests that look at a page as a person would: the DOM after its scripts ran, and a
//! phone-sized screenshot kept as an artefact in `$CARGO_TARGET_DIR/test-artefacts/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};

use crate::paths;

/// Chromium at a phone's size, its profile in `profile` (a test's temporary directory).
fn run(url: &str, profile: &Path, extra: &[&str]) -> Result<Output> {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=412,915", "--timeout=4000"])
        .args(extra)
        .arg(url)
        .output()
        .context("running chromium (scripts/setup-test-deps.sh installs it)")
}

/// The page's DOM once its scripts have had 4 s.
pub fn dom(url: &str, profile: &Path) -> Result<String> {
    let out = run(url, profile, &["--dump-dom"])?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A screenshot of the page, kept as `test-artefacts/{name}` under the target directory.
pub fn screenshot(url: &str, profile: &Path, name: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| paths::workspace().join("target"), PathBuf::from);
    let artefacts = target.join("test-artefacts");
    std::fs::create_dir_all(&artefacts)?;
    let png = artefacts.join(name);
    run(url, profile, &[&format!("--screenshot={}", png.display())])?;
    let size = std::fs::metadata(&png).map_or(0, |m| m.len());
    ensure!(
        size > 1000,
        "no screenshot of {url} ({size} bytes at {})",
        png.display()
    );
    Ok(png)
}
