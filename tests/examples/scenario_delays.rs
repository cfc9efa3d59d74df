//! Prints how soon the default rules see each firmware-sim fault scenario (the table in
//! `rules/README.md`): `cargo run --release -p e2e-tests --example scenario_delays`.

fn main() -> anyhow::Result<()> {
    let rules = edge_agent::rule_files::load(&[]).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let dir = e2e_tests::scenarios::scenarios_dir();
    println!("| scenario | fault (machine) | first alert (sensor: rule) | delay after the fault starts | alerts before it |");
    println!("|---|---|---|---|---|");
    for file in e2e_tests::scenarios::SCENARIOS {
        let d = e2e_tests::scenarios::detect(&dir, file, &rules)?;
        let first = d
            .first
            .map(|(sensor, rule)| format!("`{sensor}`: `{rule}`"))
            .unwrap_or_else(|| "none".to_string());
        let delay = d
            .delay_s
            .map(|s| format!("{:.0} s ({:.1} min)", s, s / 60.0))
            .unwrap_or_else(|| "not detected".to_string());
        println!(
            "| {} | {} ({}) | {first} | {delay} | {} |",
            d.scenario, d.fault, d.machine, d.raised_before
        );
    }
    Ok(())
}
