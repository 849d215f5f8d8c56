//! [`State`]: one immutable version of the namespace — its resources, the compiled
//! [`Policy`] and the [`Authenticator`] built from them. A change builds a new one (which
//! validates everything) and swaps it in whole.

use std::sync::Arc;

use gridmq_access::{Limits, Policy, Problem, ResourceKind, ResourceRef, Resources, Validate};
use gridmq_auth::{AuthOptions, AuthShared, Authenticator, BuildError};

/// One version of the namespace.
#[derive(Debug)]
pub(crate) struct State {
    /// Increases with every change.
    pub(crate) version: u64,
    /// The resources, each list sorted by listing key.
    pub(crate) resources: Resources,
    /// Authorization, compiled.
    pub(crate) policy: Policy,
    /// Authentication, prepared.
    pub(crate) authenticator: Arc<Authenticator>,
    /// Increases when a CA certificate is removed or replaced (adding one cannot make a
    /// verified chain fail, so it does not count).
    pub(crate) ca_generation: u64,
    /// Increases when client groups, topic spaces or permission bindings change.
    pub(crate) policy_generation: u64,
}

/// What a state is built with.
#[derive(Debug)]
pub(crate) struct Builder<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) options: &'a AuthOptions,
    pub(crate) shared: &'a Arc<AuthShared>,
}

impl Builder<'_> {
    /// Validates `resources` and builds the state that follows `previous` (if any).
    pub(crate) fn build(
        &self,
        resources: Resources,
        previous: Option<&State>,
    ) -> Result<State, Vec<Problem>> {
        let problems = resources.problems(self.limits);
        if !problems.is_empty() {
            return Err(problems);
        }
        let policy = Policy::compile(&resources, self.limits).map_err(|e| e.problems)?;
        let authenticator =
            Authenticator::new(&resources, self.options.clone(), self.shared.clone())
                .map_err(build_problems)?;
        let (version, ca_generation, policy_generation) = match previous {
            None => (1, 1, 1),
            Some(p) => {
                let old = &p.resources;
                let ca_lost = old
                    .ca_certificates
                    .iter()
                    .any(|ca| !resources.ca_certificates.contains(ca));
                let policy_changed = old.client_groups != resources.client_groups
                    || old.topic_spaces != resources.topic_spaces
                    || old.permission_bindings != resources.permission_bindings;
                (
                    p.version + 1,
                    p.ca_generation + u64::from(ca_lost),
                    p.policy_generation + u64::from(policy_changed),
                )
            }
        };
        Ok(State {
            version,
            resources,
            policy,
            authenticator: Arc::new(authenticator),
            ca_generation,
            policy_generation,
        })
    }
}

/// The problems of an authenticator build, attributed to their resource where the
/// message says which (`caCertificates/x: ...`, `clients/x: passwordHashes[0]: ...`,
/// `customJwtAuthentication...: ...`).
fn build_problems(error: BuildError) -> Vec<Problem> {
    error
        .problems
        .into_iter()
        .map(|line| {
            let (place, message) = line.split_once(": ").unwrap_or(("", line.as_str()));
            let resource = |kind, name: &str| {
                Some(ResourceRef {
                    kind,
                    name: name.to_owned(),
                })
            };
            let (resource, path, message) =
                if let Some(name) = place.strip_prefix("caCertificates/") {
                    (
                        resource(ResourceKind::CaCertificate, name),
                        "properties.encodedCertificate".to_owned(),
                        message.to_owned(),
                    )
                } else if let Some(name) = place.strip_prefix("clients/") {
                    let (field, message) = message.split_once(": ").unwrap_or(("", message));
                    (
                        resource(ResourceKind::Client, name),
                        format!("properties.{field}"),
                        message.to_owned(),
                    )
                } else if place.starts_with("customJwtAuthentication") {
                    (
                        None,
                        format!("topicSpacesConfiguration.clientAuthentication.{place}"),
                        message.to_owned(),
                    )
                } else {
                    (None, String::new(), line.clone())
                };
            Problem {
                resource,
                path,
                position: None,
                message,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_problems_name_their_resource() {
        let problems = build_problems(BuildError {
            problems: vec![
                "caCertificates/ca-1: not a certificate".into(),
                "clients/dev: passwordHashes[1]: cost too high".into(),
                "customJwtAuthentication.encodedIssuerCertificates[0]: bad PEM".into(),
                "something else".into(),
            ],
        });
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "caCertificate 'ca-1': properties.encodedCertificate: not a certificate",
                "client 'dev': properties.passwordHashes[1]: cost too high",
                "topicSpacesConfiguration.clientAuthentication.customJwtAuthentication.encodedIssuerCertificates[0]: bad PEM",
                ": something else",
            ]
        );
    }
}
