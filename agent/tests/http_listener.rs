//! The agent's local HTTP listener, against the real binary and firmware-sim's plant:
//! `/metrics` passes Prometheus's own `promtool check metrics` and counts what the sources
//! did, `/healthz` and `/readyz` answer, a token guards a listener, and systemd's notify
//! socket sees READY=1 and watchdog pings.

mod agent_process;

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agent_process::{get, wait_for, Agent};
use anyhow::{Context, Result};
use firmware_sim::{Plant, Scenario, SimClock, Simulator};

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../firmware-sim/scenarios/demo.toml"
);
const LIMIT: Duration = Duration::from_secs(30);

/// The demo plant's Modbus TCP gateway on a free port.
async fn plant() -> Result<(Simulator, std::net::SocketAddr)> {
    let plant = Plant::from_scenario(Scenario::load(DEMO)?, None);
    let mut sim = Simulator::new(plant, SimClock::scaled(30.0));
    let address = sim
        .start_modbus_tcp("gateway", "127.0.0.1:0".parse()?)
        .await?;
    Ok((sim, address))
}

/// Two devices on the gateway: unit 1 reads the motor's velocity, unit 2 (the pump) is asked
/// for a register its transmitter does not have (exception 2, illegal data address).
fn config(gateway: std::net::SocketAddr) -> String {
    format!(
        r#"[agent]
gateway = "http-test"
data_dir = "@DATA@"

[http]
listen = "127.0.0.1:0"

[[device]]
id = "motor1"
transport = "tcp"
address = "{gateway}"
unit = 1
  [[device.poll]]
  interval = "200ms"
    [[device.poll.register]]
    sensor = "motor1.de.velocity"
    table = "input"
    address = 10
    type = "f32"
    unit = "mm/s"

[[device]]
id = "wrongmap"
transport = "tcp"
address = "{gateway}"
unit = 2
  [[device.poll]]
  interval = "200ms"
    [[device.poll.register]]
    sensor = "wrongmap.nothing"
    table = "input"
    address = 900
    type = "u16"
"#
    )
}

/// The value of the sample `name{labels}` in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_count_what_the_sources_did() -> Result<()> {
    let (sim, gateway) = plant().await?;
    let mut agent = Agent::start(&config(gateway), &[])?;
    let addr = agent.http_addr(LIMIT)?;

    let health = get(addr, "/healthz", None)?;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = wait_for(addr, "/readyz", LIMIT, |r| r.status == 200)?;
    assert!(ready.body.starts_with("ready"), "{ready:?}");

    let ok = r#"edge_agent_device_reads_total{device="motor1",result="ok"}"#;
    let exception = r#"edge_agent_modbus_exceptions_total{code="2",device="wrongmap"}"#;
    let metrics = wait_for(addr, "/metrics", LIMIT, |r| {
        sample(&r.body, ok).is_some_and(|n| n >= 3.0)
            && sample(&r.body, exception).is_some_and(|n| n >= 1.0)
            && sample(
                &r.body,
                r#"edge_agent_device_readings_total{device="motor1",quality="good"}"#,
            )
            .is_some_and(|n| n >= 1.0)
    })?;
    let text = metrics.body;
    for series in [
        r#"edge_agent_device_state{device="motor1",state="online"} 1"#,
        r#"edge_agent_device_state{device="wrongmap",state="degraded"} 1"#,
        r#"edge_agent_alerts_active{severity="critical"}"#,
        r#"edge_agent_alerts_raised_total{severity="warning"}"#,
        r#"edge_agent_spool_pending_records{class="telemetry"}"#,
        "edge_agent_spool_oldest_age_seconds",
        r#"edge_agent_spool_dropped_total{class="telemetry",reason="full"} 0"#,
        "edge_agent_rules_reloads_total 0",
        r#"edge_agent_rules_info{rule_hash=""#,
        r#"edge_agent_info{gateway="http-test""#,
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            r#"edge_agent_device_reads_total{device="wrongmap",result="exception"}"#
        ),
        sample(&text, exception),
        "exceptions by code add up to the device's exceptions"
    );

    let checked = promtool_check(&text)?;
    assert!(
        checked.0,
        "promtool check metrics refused it:\n{}\n{text}",
        checked.1
    );

    let status = agent.stop(LIMIT)?;
    assert!(status.success(), "{status}");
    sim.shutdown().await?;
    Ok(())
}

/// Runs `promtool check metrics` on `text`: (accepted, what it said).
fn promtool_check(text: &str) -> Result<(bool, String)> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("promtool (Debian package prometheus; scripts/setup-test-deps.sh installs it)")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), said))
}

#[test]
fn a_token_guards_everything_but_healthz() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n")?;
    let config = format!(
        "[agent]\ngateway = \"t\"\ndata_dir = \"@DATA@\"\n[http]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        token_file.display()
    );
    let mut agent = Agent::start(&config, &[])?;
    let addr = agent.http_addr(LIMIT)?;
    assert_eq!(get(addr, "/healthz", None)?.status, 200);
    for path in ["/metrics", "/readyz", "/", "/api/status"] {
        assert_eq!(get(addr, path, None)?.status, 401, "{path} without a token");
        assert_eq!(
            get(addr, path, Some("wrong"))?.status,
            401,
            "{path} with a wrong token"
        );
    }
    let metrics = get(addr, "/metrics", Some("s3cret-token"))?;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("edge_agent_info"));
    assert_eq!(get(addr, "/?token=s3cret-token", None)?.status, 200);
    assert_eq!(
        get(addr, "/api/status?token=s3cret-token", None)?.status,
        200
    );
    agent.stop(LIMIT)?;
    Ok(())
}

#[test]
fn systemd_hears_ready_then_watchdog_pings_then_stopping() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path)?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let config = "[agent]\ngateway = \"n\"\ndata_dir = \"@DATA@\"\n[http]\nenabled = false\n";
    let agent = Agent::start(
        config,
        &[
            ("NOTIFY_SOCKET", socket_path.display().to_string()),
            ("WATCHDOG_USEC", "200000".to_owned()),
        ],
    )?;
    let mut heard = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 512];
    while heard
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 2
    {
        anyhow::ensure!(
            start.elapsed() < LIMIT,
            "heard only {heard:?}:\n{}",
            agent.log()
        );
        if let Ok(n) = socket.recv(&mut buf) {
            heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(
        heard[0].contains("READY=1"),
        "READY=1 comes first: {heard:?}"
    );
    agent.stop(LIMIT)?;
    let mut last = String::new();
    while let Ok(n) = socket.recv(&mut buf) {
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    assert!(
        last.contains("STOPPING=1"),
        "the last message says stopping: {last:?}"
    );
    Ok(())
}
