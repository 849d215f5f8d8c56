//! [`BuildError`]: why an [`crate::Authenticator`] could not be built from the resources.

/// Every problem found while preparing the resources for authentication (unreadable CA or
/// issuer certificates, password hashes beyond the cost limits, ...), reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authentication configuration: {}", .problems.join("; "))]
pub struct BuildError {
    /// One line per problem, each naming the resource it is about.
    pub problems: Vec<String>,
}

impl BuildError {
    pub(crate) fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}
