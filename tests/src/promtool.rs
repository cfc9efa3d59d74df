//! Prometheus's own checker for a `/metrics` text: `promtool check metrics` (Debian package
//! `prometheus`, installed by scripts/setup-test-deps.sh).

use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};

/// Fails, with promtool's findings and the text, unless `promtool check metrics` accepts it.
pub fn check_metrics(text: &str) -> Result<()> {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("promtool (Debian package prometheus; scripts/setup-test-deps.sh installs it)")?;
    let mut stdin = promtool.stdin.take().context("promtool's stdin")?;
    stdin.write_all(text.as_bytes())?;
    drop(stdin);
    let checked = promtool.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    ensure!(
        checked.status.success(),
        "promtool check metrics refused it: {said}\n{text}"
    );
    Ok(())
}
