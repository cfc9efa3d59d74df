//! Finding and loading rule files: a path is a file or a folder of `*.toml` files.

use std::path::{Path, PathBuf};

use edge_rules::lang::{
    parse_rule_file, Diagnostic, RuleFile, RuleSet, DEFAULT_RULES, DEFAULT_RULES_LABEL,
};

/// The `*.toml` files a path names: the file itself, or every one below a folder, sorted.
/// `Cargo.toml` is a Rust manifest, never a rule file, and is left out of folders.
pub fn toml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        // Stat it so that a missing file is an error here, with its name.
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                // Build output and hidden folders (.git, .tools) hold no rule files.
                if name != "target" && !name.starts_with('.') {
                    folders.push(path);
                }
            } else if name.ends_with(".toml") && name != "Cargo.toml" {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The embedded default rules. They are checked by the test suite, so failing here is a bug.
pub fn default_rules() -> RuleFile {
    parse_rule_file(DEFAULT_RULES_LABEL, DEFAULT_RULES)
        .expect("the embedded default rules are valid (checked by tests)")
}

/// Loads `paths` (files or folders) into a rule set on top of the default rules, or returns
/// every problem found, as `FILE:LINE:COL: message` diagnostics.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, Vec<Diagnostic>> {
    load_with_defaults(paths, None)
}

/// [`load`], with `defaults` (a rule file) in place of the embedded default rules when given:
/// how to try other generic rules on recorded data without rebuilding the agent.
pub fn load_with_defaults(
    paths: &[PathBuf],
    defaults: Option<&Path>,
) -> Result<RuleSet, Vec<Diagnostic>> {
    let default = match defaults {
        Some(path) => read_rule_file(path)?,
        None => default_rules(),
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let listed = toml_files(path).map_err(|e| vec![io_diagnostic(path, &e)])?;
        for file in listed {
            match read_rule_file(&file) {
                Ok(rules) => files.push(rules),
                Err(mut found) => problems.append(&mut found),
            }
        }
    }
    if problems.is_empty() {
        Ok(RuleSet::new(files, default))
    } else {
        Err(problems)
    }
}

/// Reads and validates one rule file.
pub fn read_rule_file(path: &Path) -> Result<RuleFile, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![io_diagnostic(path, &e)])?;
    parse_rule_file(&path.display().to_string(), &text).map_err(|d| d.0)
}

pub fn io_diagnostic(path: &Path, error: &std::io::Error) -> Diagnostic {
    Diagnostic {
        file: path.display().to_string(),
        line: 1,
        column: 1,
        message: format!("cannot read: {error}"),
    }
}
