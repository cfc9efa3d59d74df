//! Hot reload: the config file and its rule files are read again on a trigger (SIGHUP, which
//! the binary turns into [`ReloadOptions::trigger`]) and when they change on disk, and new
//! rules replace the running ones only if the whole set passes `check`.
//!
//! - A set that does not pass is refused: an error line with every diagnostic
//!   (`FILE:LINE:COL: message`), a `rules` health event (degraded) in the spool, and the old
//!   rules keep running. [`AgentStats::reloads_refused`] counts it.
//! - A set that passes replaces the rules in the rules stage between two events; sensors
//!   whose rules did not change keep their windows and alert states (see
//!   `rules_stage::reload`). A `rules` health event (online) names the new rule hashes;
//!   [`AgentStats::reloads`] and [`AgentStats::rule_hash`] follow.
//! - Of the config, only `rules` and `forward_readings` apply live. A change to devices,
//!   streams, the spool or MQTT is logged as needing a restart, and not applied.
//!
//! Changes on disk are found by polling the files' size and modification time every
//! [`ReloadOptions::poll`]: a few `stat` calls, on every file system (inotify misses
//! changes on network and some overlay mounts, and would need another dependency). An
//! editor's save usually lands as one change; a burst of changes is read once per poll.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::check;
use crate::config::AgentConfig;
use crate::event::{Event, HealthState};
use crate::rule_files;
use crate::rules_stage::Reload;
use crate::sources::now_ms;
use crate::stats::{self, AgentStats};

/// How the running agent finds new rules.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// The configuration file `run` was started with.
    pub path: PathBuf,
    /// How often the files are looked at.
    pub poll: Duration,
    /// Notified to reload now (the binary notifies it on SIGHUP).
    pub trigger: Arc<Notify>,
}

impl ReloadOptions {
    /// Reloads on `trigger` and on changes, looked for every 2 s.
    pub fn new(path: PathBuf, trigger: Arc<Notify>) -> Self {
        Self {
            path,
            poll: Duration::from_secs(2),
            trigger,
        }
    }
}

/// Why the watcher stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the rules stage stopped taking reloads")]
    RulesGone,
    #[error("reading the files for a reload: {0}")]
    Task(String),
}

/// The (size, modification time) of every file a config and its rules consist of.
type Fingerprint = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

fn fingerprint(config_path: &Path, rules: &[PathBuf]) -> Fingerprint {
    let stat = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
    };
    let mut files = vec![(config_path.to_path_buf(), stat(config_path))];
    for path in rules {
        // A folder's listing is part of it: a file added or removed is a change.
        files.push((path.clone(), stat(path)));
        for file in rule_files::toml_files(path).unwrap_or_default() {
            let stat = stat(&file);
            files.push((file, stat));
        }
    }
    files
}

/// Records the hashes of the rules now running in `stats`.
pub(crate) fn record_rule_hash(stats: &AgentStats, rules: &edge_rules::lang::RuleSet) {
    let hashes: Vec<String> = rules
        .files()
        .map(|f| format!("{}:{}", f.label, f.hash))
        .collect();
    *stats::lock(&stats.rule_hash) = hashes.join(",");
    crate::observe::rules_changed(stats, rules);
}

/// Watches until `stop`, sending each reload to the rules stage.
pub async fn watch(
    options: ReloadOptions,
    mut running: AgentConfig,
    to_rules: mpsc::Sender<Reload>,
    stats: Arc<AgentStats>,
    stop: CancellationToken,
) -> Result<(), ReloadError> {
    let mut seen = fingerprint(&options.path, &running.rules);
    loop {
        let why = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = options.trigger.notified() => "asked (SIGHUP)",
            () = tokio::time::sleep(options.poll) => {
                let now = fingerprint(&options.path, &running.rules);
                if now == seen {
                    continue;
                }
                "files changed on disk"
            }
        };
        let path = options.path.clone();
        let (checked, files) = tokio::task::spawn_blocking(move || {
            let checked = check::config_with_rules(&path, false);
            let rules = match &checked {
                Ok(c) => c.config.rules.clone(),
                Err(_) => Vec::new(),
            };
            (checked, rules)
        })
        .await
        .map_err(|e| ReloadError::Task(e.to_string()))?;
        let reload = match checked {
            Err(diagnostics) => {
                stats.reloads_refused.fetch_add(1, Ordering::Relaxed);
                let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
                error!(why, problems = %lines.join("\n"), "reload refused: the new config or rules do not pass check; the old rules keep running");
                let first = lines.first().cloned().unwrap_or_default();
                let detail = format!(
                    "reload refused, old rules kept: {first}{}",
                    if lines.len() > 1 {
                        format!(" (and {} more)", lines.len() - 1)
                    } else {
                        String::new()
                    }
                );
                seen = fingerprint(&options.path, &running.rules);
                Reload {
                    rules: None,
                    health: Event::health(now_ms(), "rules", HealthState::Degraded, detail),
                }
            }
            Ok(checked) => {
                for warning in &checked.warnings {
                    warn!(%warning, "rules for a sensor that is not read");
                }
                warn_about_restart(&running, &checked.config);
                stats.reloads.fetch_add(1, Ordering::Relaxed);
                record_rule_hash(&stats, &checked.rules);
                let hashes = stats::lock(&stats.rule_hash).clone();
                info!(why, rules = %hashes, "reloaded the config and rules");
                seen = fingerprint(&options.path, &files);
                let forward = checked.config.forward_readings;
                running.rules = checked.config.rules.clone();
                running.forward_readings = forward;
                Reload {
                    rules: Some((checked.rules, forward)),
                    health: Event::health(
                        now_ms(),
                        "rules",
                        HealthState::Online,
                        format!("rules reloaded: {hashes}"),
                    ),
                }
            }
        };
        to_rules
            .send(reload)
            .await
            .map_err(|_| ReloadError::RulesGone)?;
    }
}

/// Logs the parts of `new` that differ from `running` and need a restart.
fn warn_about_restart(running: &AgentConfig, new: &AgentConfig) {
    let mut changed = Vec::new();
    if running.gateway != new.gateway {
        changed.push("gateway");
    }
    if running.data_dir != new.data_dir {
        changed.push("data_dir");
    }
    if running.devices != new.devices {
        changed.push("[[device]]");
    }
    if running.streams != new.streams {
        changed.push("[[stream]]");
    }
    if running.spool != new.spool {
        changed.push("[spool]");
    }
    if running.mqtt != new.mqtt {
        changed.push("[mqtt]");
    }
    if !changed.is_empty() {
        warn!(changed = %changed.join(", "), "these changes take effect at the next restart (only rules and forward_readings reload live)");
    }
}
