//! The demo's story, checked: the motor's bearing wear is flagged as a change first, then
//! raised as ISO 10816 zone C (warning), then zone D (critical).
//!
//! The demo's own parts, on the simulator's manual clock instead of the wall: the demo
//! scenario's Modbus TCP gateway, the demo's config (its motor poll groups and intervals),
//! the agent's Modbus reads, the shipped rule files loaded as the agent loads them, the rules
//! stage, the status model and the terminal's alert lines. Each poll tick sets the plant to
//! the time the scaled clock would show then (wall time × the scenario's speed) and stamps the
//! readings with that wall time, so the run is deterministic and takes well under a second
//! for minutes of demo.

use std::path::Path;

use edge_agent::config::Device;
use edge_agent::event::{AlertState, Event, EventBody};
use edge_agent::observe::model::StatusModel;
use edge_agent::rules_stage::RulesStage;
use edge_agent::sources::modbus::once::poll_once;

use super::plant_clock::PlantClock;
use super::*;

/// A Unix time for the demo's start; any will do.
const START_MS: i64 = 1_750_000_000_000;
/// How long the demo is followed, in wall time: the status page test's limit.
const LIMIT_MS: i64 = 240_000;

const CHANGE: &str = "bearing-vibration-change";
const ZONE_C: &str = "bearing-vibration-zone-c";
const ZONE_D: &str = "bearing-vibration-zone-d";

/// What the demo's terminal would print about the motor, until zone D is raised or
/// [`LIMIT_MS`]: its alert lines, and each raise on the motor as (wall ms, rule).
struct Followed {
    lines: Vec<String>,
    raised: Vec<(i64, String)>,
}

fn greatest_common_divisor(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        greatest_common_divisor(b, a % b)
    }
}

/// The demo's motor device, configured as the demo configures it, reading `gateway`.
fn demo_motor(gateway: SocketAddr, dir: &Path) -> anyhow::Result<(Device, Vec<PathBuf>)> {
    // The serial devices are not started: their paths only need to differ.
    let plant = PlantAddresses {
        tcp: gateway,
        rtu: dir.join("rtu"),
        accel: dir.join("accel"),
        probe: dir.join("probe"),
    };
    let rules = dir.join("rules");
    write_rules(&rules)?;
    let listen = "127.0.0.1:0".parse()?;
    let text = config_text(
        &plant,
        &dir.join("data"),
        &rules,
        listen,
        ("127.0.0.1", 1883),
    );
    let config = edge_agent::config::parse("the demo's agent.toml", &text)
        .map_err(|found| anyhow::anyhow!("the demo config is invalid: {found:?}"))?;
    let motor = config
        .devices
        .into_iter()
        .find(|d| d.id == "motor1")
        .context("the demo config has no motor1")?;
    Ok((motor, config.rules))
}

async fn follow_the_demo_motor() -> anyhow::Result<Followed> {
    let scenario = Scenario::from_toml_str(SCENARIO)?;
    let speed = scenario.scenario.speed;
    let clock = SimClock::manual(0.0);
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), clock.clone());
    let gateway = sim
        .start_modbus_tcp("gateway", "127.0.0.1:0".parse()?)
        .await?;
    let dir = tempfile::tempdir()?;
    let (motor, rule_paths) = demo_motor(gateway, dir.path())?;
    let rules = edge_agent::rule_files::load(&rule_paths)
        .map_err(|found| anyhow::anyhow!("the shipped rules: {found:?}"))?;
    let mut stage = RulesStage::new(rules, false);
    let mut model = StatusModel::default();
    let plant_clock = PlantClock::new(START_MS, speed);
    let intervals: Vec<i64> = motor
        .polls
        .iter()
        .map(|g| i64::try_from(g.interval.as_millis()).expect("a poll interval in ms fits"))
        .collect();
    let tick = intervals.iter().copied().fold(0, greatest_common_divisor);
    anyhow::ensure!(tick > 0, "motor1 has no poll group");

    let mut followed = Followed {
        lines: Vec::new(),
        raised: Vec::new(),
    };
    let mut printed = Default::default();
    let mut wall_ms = 0;
    while wall_ms <= LIMIT_MS {
        clock.set(wall_ms as f64 / 1000.0 * speed);
        // The groups due now, as the poller would read them.
        let mut due = motor.clone();
        due.polls = motor
            .polls
            .iter()
            .zip(&intervals)
            .filter(|(_, &every)| wall_ms % every == 0)
            .map(|(group, _)| group.clone())
            .collect();
        let reports = poll_once(std::slice::from_ref(&due)).await;
        let mut events = Vec::new();
        for report in reports {
            anyhow::ensure!(
                report.failures.is_empty(),
                "at {wall_ms} ms: {:?}",
                report.failures
            );
            for decoded in report.decoded {
                let reading = Event::good_reading(
                    decoded.register.sensor,
                    START_MS + wall_ms,
                    decoded.value.value,
                );
                stage.process(reading, &mut events);
            }
        }
        for event in &events {
            model.observe(event);
            if let EventBody::Alert(alert) = &event.body {
                if alert.state == AlertState::Raised {
                    followed
                        .raised
                        .push((event.ts_ms - START_MS, alert.rule.clone()));
                }
            }
        }
        followed.lines.extend(summary::new_alert_lines(
            &model,
            &mut printed,
            &plant_clock,
            false,
        ));
        if followed.raised.iter().any(|(_, rule)| rule == ZONE_D) {
            break;
        }
        wall_ms += tick;
    }
    sim.shutdown().await?;
    Ok(followed)
}

#[tokio::test]
async fn the_demo_warns_of_the_bearing_change_then_raises_zone_c_then_zone_d() -> anyhow::Result<()>
{
    let followed = follow_the_demo_motor().await?;
    let terminal = followed.lines.join("\n");
    println!("{terminal}");
    let first = |rule: &str| {
        followed
            .raised
            .iter()
            .find(|(_, r)| r == rule)
            .map(|(at, _)| *at)
    };
    let (change, zone_c, zone_d) = (first(CHANGE), first(ZONE_C), first(ZONE_D));
    let (Some(change), Some(zone_c), Some(zone_d)) = (change, zone_c, zone_d) else {
        panic!(
            "within {} s: {CHANGE} at {change:?} ms, {ZONE_C} at {zone_c:?} ms, {ZONE_D} at {zone_d:?} ms; terminal:\n{terminal}",
            LIMIT_MS / 1000
        );
    };
    assert!(
        change < zone_c && zone_c < zone_d,
        "{CHANGE} at {change} ms, {ZONE_C} at {zone_c} ms, {ZONE_D} at {zone_d} ms; terminal:\n{terminal}"
    );
    // Each alert line says when it came, on the wall and in the plant.
    for rule in [CHANGE, ZONE_C, ZONE_D] {
        let line = followed
            .lines
            .iter()
            .find(|l| l.contains(rule) && l.contains("ALERT"))
            .with_context(|| format!("no alert line for {rule}:\n{terminal}"))?;
        assert!(line.contains(" plant "), "{line}");
    }
    Ok(())
}
