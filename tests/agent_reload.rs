//! Hot reload of the `edge-agent` binary: SIGHUP and a change on disk re-read the config and
//! its rules; a set that passes `check` replaces the rules, one that does not is refused
//! with a health event naming FILE:LINE:COL, and the agent runs on. (That sensors whose
//! rules did not change keep their windows and alert states is tested beside the code, in
//! `rules_stage::reload`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use e2e_tests::paths;
use serde_json::Value;

fn signal(child: &Child, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} failed");
    Ok(())
}

/// The next `rules` health event on the agent's stdout, within 30 s.
fn next_rules_event(lines: &mpsc::Receiver<String>) -> Result<Value> {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .context("no rules health event within 30 s")?;
        let event: Value = serde_json::from_str(&line)?;
        if event["kind"] == "health" && event["component"] == "rules" {
            return Ok(event);
        }
    }
}

fn write_config(path: &Path, data: &Path, rules: &Path, forward: bool) -> Result<()> {
    std::fs::write(
        path,
        format!(
            "[agent]\ngateway = \"reload\"\ndata_dir = \"{}\"\nrules = [\"{}\"]\nforward_readings = {forward}\n",
            data.display(),
            rules.display()
        ),
    )?;
    Ok(())
}

#[test]
fn sighup_and_changed_files_reload_the_rules_and_a_broken_set_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules)?;
    let pump = rules.join("pump.toml");
    let shipped = std::fs::read_to_string(paths::workspace().join("rules/pump.toml"))?;
    std::fs::write(&pump, &shipped)?;
    let config = dir.path().join("agent.toml");
    write_config(&config, &dir.path().join("data"), &rules, true)?;

    let mut agent = Command::new(paths::edge_agent_binary())
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = BufReader::new(agent.stdout.take().context("stdout")?);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // SIGHUP: the same files reload (and the agent is not killed, as it was, exit 129).
    // Until the agent runs, SIGHUP's default action would end it: wait for the spool.
    let spool = dir.path().join("data/spool/sled");
    for _ in 0..600 {
        if spool.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&agent, "HUP")?;
    let event = next_rules_event(&lines)?;
    assert_eq!(event["state"], "online", "{event}");
    let first = event["detail"].as_str().context("detail")?.to_owned();
    assert!(first.contains("pump.toml:"), "{first}");

    // A changed rule file is found on disk, and its new hash runs.
    std::fs::write(&pump, shipped.replace("above = 90.0", "above = 92.0"))?;
    let event = next_rules_event(&lines)?;
    assert_eq!(event["state"], "online", "{event}");
    let second = event["detail"].as_str().context("detail")?.to_owned();
    assert_ne!(first, second, "the new file's hash is reported");

    // A broken file is refused, with where it is broken.
    std::fs::write(&pump, format!("{shipped}\nbroken = \n"))?;
    let event = next_rules_event(&lines)?;
    assert_eq!(event["state"], "degraded", "{event}");
    let detail = event["detail"].as_str().context("detail")?;
    let line = shipped.lines().count() + 2;
    assert!(
        detail.starts_with("reload refused, old rules kept: ")
            && detail.contains(&format!("{}:{line}:", pump.display())),
        "{detail}"
    );

    // The agent runs on, and still reloads once the file is mended.
    assert!(agent.try_wait()?.is_none(), "the agent stopped");
    std::fs::write(&pump, shipped.replace("above = 90.0", "above = 92.0"))?;
    signal(&agent, "HUP")?;
    let event = next_rules_event(&lines)?;
    assert_eq!(event["state"], "online", "{event}");
    assert_eq!(event["detail"].as_str(), Some(second.as_str()));

    signal(&agent, "TERM")?;
    let status = agent.wait()?;
    assert!(status.success(), "exit {status}");
    Ok(())
}
