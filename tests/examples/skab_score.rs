//! Prints how the shipped default rules do on the SKAB recordings (the figures in docs/detection.md):
//! `cargo run --release -p e2e-tests --example skab_score [-- --per-file] [--default=FILE] [RULE_FILE...]`.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_file = args.iter().any(|a| a == "--per-file");
    let paths: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let mut rules = edge_agent::rule_files::load(&paths).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    // `--default=FILE` scores another file in place of the default rules (for tuning).
    if let Some(file) = args.iter().find_map(|a| a.strip_prefix("--default=")) {
        let default = edge_agent::rule_files::read_rule_file(file.as_ref())
            .map_err(|d| anyhow::anyhow!("{d:?}"))?;
        rules = edge_rules::lang::RuleSet::new(Vec::new(), default);
    }
    let score = e2e_tests::skab::score(&rules, &e2e_tests::skab::data_dir())?;
    if per_file {
        for (name, detected, delay, false_alarms) in &score.per_file {
            println!("{name:28} detected={detected:5} delay={delay:?} false_alarms={false_alarms}");
        }
    }
    println!(
        "files {}: episodes detected {}/{} ({:.0} %), median delay {:?} s, false alarms {} in {} normal rows = {:.2} per 1,000 rows",
        score.files,
        score.detected,
        score.episodes,
        100.0 * score.detection_rate(),
        score.median_delay(),
        score.false_alarms,
        score.normal_rows,
        score.false_alarms_per_1000_rows()
    );
    Ok(())
}
