//! firmware-sim's fault scenarios through the default rules (`e2e_tests::scenarios`): the
//! faults the generic rules can see are raised soon after they start, and nothing is raised
//! before. The delays are the table in `rules/README.md`
//! (`cargo run --release -p e2e-tests --example scenario_delays`).

use e2e_tests::scenarios::{detect, scenarios_dir, Detection};

fn run(file: &str) -> anyhow::Result<Detection> {
    let rules = edge_agent::rule_files::load(&[]).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    detect(&scenarios_dir(), file, &rules)
}

#[test]
fn imbalance_stuck_sensor_and_spikes_are_raised_within_two_minutes_and_nothing_before(
) -> anyhow::Result<()> {
    for file in ["imbalance.toml", "stuck_sensor.toml", "spikes.toml"] {
        let d = run(file)?;
        assert_eq!(
            d.raised_before, 0,
            "{file}: false alarms before the fault: {d:?}"
        );
        assert!(
            d.delay_s.is_some_and(|s| s <= 120.0),
            "{file}: not raised within two minutes: {d:?}"
        );
    }
    Ok(())
}

#[test]
fn bearing_wear_is_raised_before_its_two_hour_ramp_ends() -> anyhow::Result<()> {
    let d = run("bearing_wear.toml")?;
    assert_eq!(d.raised_before, 0, "{d:?}");
    assert!(d.delay_s.is_some_and(|s| s < 7200.0), "{d:?}");
    Ok(())
}

#[test]
fn overheating_is_raised_within_fifteen_minutes_of_the_cooling_failure() -> anyhow::Result<()> {
    // A steady ramp out of a 30-minute load cycle: learned as it climbed, it was never raised
    // before suspect samples were held back from the normal (`adaptive::SUSPECT_SHARE`).
    let d = run("overheating.toml")?;
    assert_eq!(d.raised_before, 0, "{d:?}");
    assert!(d.delay_s.is_some_and(|s| s <= 900.0), "{d:?}");
    Ok(())
}
