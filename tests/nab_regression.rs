//! The shipped default rules on the development part of NAB (`tests/data/nab-dev`, MIT) must
//! not score worse than the figures in `docs/detection.md`, in total or per category.

use e2e_tests::nab;

#[test]
fn the_default_rules_keep_their_nab_score() -> anyhow::Result<()> {
    let rules = edge_agent::rule_files::load(&[]).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let scores = nab::score(&rules, &nab::data_dir(), nab::STANDARD)?;
    let total = nab::Total::of(&scores);
    eprintln!(
        "NAB development part: {:.1}, {} of {} windows, {} false-alarm rows",
        total.normalized(),
        total.detected,
        total.windows,
        total.false_alarm_rows
    );
    assert_eq!(total.files, 38, "the development part has 38 files");
    // docs/detection.md: 63.3 in all; 60 of 69 windows.
    assert!(
        total.normalized() >= 63.0,
        "the score fell to {:.1}",
        total.normalized()
    );
    assert!(
        total.detected >= 60,
        "windows detected fell to {}",
        total.detected
    );
    // Per category: the floor of each, as measured. artificialNoAnomaly has no windows, so
    // every alert costs: one `unusual-behaviour` on a daily cycle with little noise.
    let floors = [
        ("artificialNoAnomaly", -12.0),
        ("artificialWithAnomaly", 75.0),
        ("realAWSCloudwatch", 64.0),
        ("realTweets", 58.0),
    ];
    let categories = nab::by_category(&scores);
    assert_eq!(categories.len(), floors.len());
    for (category, part) in categories {
        let floor = floors
            .iter()
            .find(|(name, _)| *name == category)
            .map(|(_, floor)| *floor)
            .ok_or_else(|| anyhow::anyhow!("a new category {category}"))?;
        assert!(
            part.normalized() >= floor,
            "{category} fell to {:.1}",
            part.normalized()
        );
    }
    Ok(())
}
