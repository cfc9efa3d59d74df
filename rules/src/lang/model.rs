//! Rule files after validation: what the rest of the agent works with.

use crate::engine::{RuleSpec, SensorSpec};

/// Samples in a sensor's window when the rule file does not say.
pub const DEFAULT_WINDOW: usize = 60;
/// The largest window a rule file may ask for.
pub const MAX_WINDOW: usize = 4096;

/// What a sensor measures; decides which generic rules apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorKind {
    Temperature,
    VibrationVelocity,
    Acceleration,
    Generic,
}

impl SensorKind {
    pub const ALL: [SensorKind; 4] = [
        SensorKind::Temperature,
        SensorKind::VibrationVelocity,
        SensorKind::Acceleration,
        SensorKind::Generic,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SensorKind::Temperature => "temperature",
            SensorKind::VibrationVelocity => "vibration_velocity",
            SensorKind::Acceleration => "acceleration",
            SensorKind::Generic => "generic",
        }
    }

    pub fn from_name(name: &str) -> Option<SensorKind> {
        SensorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A sensor declared in a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorDecl {
    pub id: String,
    pub kind: SensorKind,
    pub unit: Option<String>,
    pub spec: SensorSpec,
}

/// Which sensors a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// These sensors, declared in the same file.
    Sensors(Vec<String>),
    /// Every sensor of this kind (`None`: of any kind) that the rule's file applies to: the
    /// sensors it declares, or, for the default rule file, every sensor without rules of its own.
    Kind(Option<SensorKind>),
}

/// Which sensors a rule applies to by their group: a sensor of a group is judged against its
/// siblings, so that a move the whole group makes is taken for the operating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SiblingFilter {
    /// Sensors with and without a group.
    #[default]
    Any,
    /// Only sensors of a group.
    Grouped,
    /// Only sensors without a group.
    Alone,
}

impl SiblingFilter {
    pub const fn name(self) -> &'static str {
        match self {
            SiblingFilter::Any => "any",
            SiblingFilter::Grouped => "grouped",
            SiblingFilter::Alone => "alone",
        }
    }

    pub fn admits(self, grouped: bool) -> bool {
        match self {
            SiblingFilter::Any => true,
            SiblingFilter::Grouped => grouped,
            SiblingFilter::Alone => !grouped,
        }
    }
}

/// Like sensors (the bearings of one machine, three motor phases) that a rule may judge
/// against each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// Two or more sensor ids.
    pub sensors: Vec<String>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub target: Target,
    /// Whether the rule applies to sensors of a group, to the others, or to both.
    pub siblings: SiblingFilter,
    pub spec: RuleSpec,
}

/// One validated rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// How the file was named to the agent (its path, or `<embedded default>`).
    pub label: String,
    /// The first 16 hex digits of the SHA-256 of the file's bytes: which version of the rules
    /// decided an alert.
    pub hash: String,
    pub sensors: Vec<SensorDecl>,
    pub groups: Vec<Group>,
    pub rules: Vec<Rule>,
}
