//! Prints how the default rules score on the development part of NAB (`tests/data/nab-dev`),
//! NAB's standard profile, per category and in total (the figures in `docs/detection.md`):
//! `cargo run --release -p e2e-tests --example nab_score [-- --per-file] [--default=FILE]`.

use e2e_tests::nab;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_file = args.iter().any(|a| a == "--per-file");
    let defaults = args
        .iter()
        .find_map(|a| a.strip_prefix("--default="))
        .map(std::path::Path::new);
    let rules = edge_agent::rule_files::load_with_defaults(&[], defaults)
        .map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let scores = nab::score(&rules, &nab::data_dir(), nab::STANDARD)?;
    if per_file {
        for s in &scores {
            println!(
                "{:60} windows {} detected {} false-alarm rows {:3} raw {:+.3}",
                s.key, s.windows, s.detected, s.false_alarm_rows, s.raw
            );
        }
    }
    let print = |name: &str, t: &nab::Total| {
        println!(
            "{name:24} {:6.1}   files {:2}, windows {:2} ({} detected), {} false-alarm rows",
            t.normalized(),
            t.files,
            t.windows,
            t.detected,
            t.false_alarm_rows
        );
    };
    for (category, total) in nab::by_category(&scores) {
        print(&category, &total);
    }
    print("TOTAL (standard)", &nab::Total::of(&scores));
    Ok(())
}
