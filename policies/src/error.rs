//! Errors: a policy set that cannot be loaded, and a request that cannot be decided.

use std::fmt;
use std::path::PathBuf;

use consent::UnitId;

/// One problem in a policy directory, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    /// The policy's `@id`, when the problem is in one policy.
    pub policy: Option<String>,
    /// Cedar's message (with its help, if any), or ours.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        if let Some(p) = &self.policy {
            write!(f, ": policy {p:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a policy set was not loaded (at start-up) or not swapped in (on reload).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the policy set is invalid:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

impl PolicyError {
    /// The located problems (empty for an I/O error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid { problems } => problems,
            PolicyError::Io { .. } => &[],
        }
    }
}

/// Why a request could not be decided. This is never a policy answer: the gateway must
/// treat it as a failure (and release nothing), not as a deny to show the caseworker.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    Vocabulary(#[from] consent::vocabulary::VocabularyError),
    #[error("unknown organisation unit {0}")]
    UnknownUnit(UnitId),
    #[error("the request names no category")]
    NoCategories,
    #[error("category {0} is requested twice")]
    DuplicateCategory(consent::Category),
    #[error("consents were passed for category {0}, which is not requested")]
    ConsentForUnrequestedCategory(consent::Category),
    #[error("a block of another citizen was passed with the request")]
    ForeignBlock,
    #[error("a role name must be non-empty; got {0:?}")]
    BadRole(String),
    #[error("the request does not fit the policy schema: {0}")]
    Request(String),
    #[error("policy {policy} failed to evaluate: {message}")]
    Evaluation { policy: String, message: String },
    #[error("the policy set gave an inconsistent answer: {0}")]
    Inconsistent(String),
}
