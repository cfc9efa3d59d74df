//! `edge-agent demo` seen through its status page in headless Chromium: the page loads, the
//! live values change while it stays open, and the demo's bearing fault appears as an alert
//! on the page when the agent raises it. The screenshot is kept as a test artefact
//! (`status-page.png` in Cargo's target tmp dir).

mod agent_process;
mod browser;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use browser::Browser;
use serde_json::Value;

/// The demo's bearing alert comes within about two minutes; a loaded CI machine gets more.
const ALERT_LIMIT: Duration = Duration::from_secs(240);

struct Demo {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Demo {
    fn start(data_dir: &std::path::Path) -> Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--seconds",
                "400",
                "--data-dir",
            ])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let out = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().expect("lock");
                out.push_str(&line);
                out.push('\n');
            }
        });
        Ok(Self { child, out })
    }

    fn output(&self) -> String {
        self.out.lock().expect("lock").clone()
    }

    fn page_url(&self) -> Result<String> {
        let start = Instant::now();
        loop {
            let out = self.output();
            if let Some(line) = out
                .lines()
                .find(|l| l.trim_start().starts_with("status page"))
            {
                return Ok(line.split_whitespace().last().context("url")?.to_owned());
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("the demo printed no status page address:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The motor's drive-end velocity as the page shows it.
const MOTOR_VALUE: &str = r#"const v = document.querySelector('.sensor[data-sensor="motor1.de.velocity"] .value');
return v ? v.dataset.value : null;"#;
const ALERT_CARDS: &str = r#"return Array.from(document.querySelectorAll('#active-alerts .alert-card')).map(c => c.innerText);"#;

fn poll<T>(limit: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<Option<T>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(found) = f()? {
            return Ok(Some(found));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(None)
}

#[test]
fn the_status_page_shows_live_values_and_the_demo_bearing_alert() -> Result<()> {
    let data = tempfile::tempdir()?;
    let demo = Demo::start(data.path())?;
    let url = demo.page_url()?;
    let browser = Browser::start()?;
    browser.open(&url)?;

    let title = browser.run("return document.title;")?;
    assert_eq!(title, Value::from("edge-agent status"));
    let gateway = poll(Duration::from_secs(30), || {
        let text = browser.run("return document.getElementById('gateway').textContent;")?;
        Ok((text == "demo-gw").then_some(text))
    })?;
    assert!(gateway.is_some(), "the page never showed the gateway id");

    // Live values: the page, left open, shows the motor's velocity changing.
    let first = poll(Duration::from_secs(60), || {
        let v = browser.run(MOTOR_VALUE)?;
        Ok(v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
    })?
    .context("no value for motor1.de.velocity on the page")?;
    let changed = poll(Duration::from_secs(60), || {
        let v = browser.run(MOTOR_VALUE)?;
        Ok(v.as_str()
            .filter(|s| !s.is_empty() && *s != first)
            .map(str::to_owned))
    })?;
    assert!(
        changed.is_some(),
        "motor1.de.velocity stayed at {first} on the page"
    );

    // The bearing fault: an ISO zone alert on motor1.de.velocity appears on the page.
    let mut first_alerts = None;
    let bearing = poll(ALERT_LIMIT, || {
        let cards = browser.run(ALERT_CARDS)?;
        let cards: Vec<String> = serde_json::from_value(cards)?;
        if first_alerts.is_none() && !cards.is_empty() {
            first_alerts = Some(cards.clone());
        }
        Ok(cards
            .into_iter()
            .find(|c| c.contains("bearing-vibration-zone") && c.contains("motor1.de.velocity")))
    })?;
    let png = browser.screenshot()?;
    let artefact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&artefact, &png)?;
    println!("screenshot: {}", artefact.display());
    println!("first alerts on the page: {first_alerts:?}");
    println!("demo terminal:\n{}", demo.output());
    let bearing = bearing.with_context(|| {
        format!(
            "no bearing alert on the page within {ALERT_LIMIT:?}; terminal:\n{}",
            demo.output()
        )
    })?;
    assert!(bearing.contains("motor1"), "{bearing}");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    // The terminal summary names the same alert, without JSON.
    let out = demo.output();
    assert!(out.contains("bearing-vibration-zone"), "{out}");
    assert!(!out.contains("{\""), "JSON in the demo's terminal:\n{out}");
    Ok(())
}
