//! [`SessionAuthorizer`]: the engine's [`Authorizer`] for one namespace session. It holds
//! the session's compiled [`ClientRights`], which the namespace swaps when permissions
//! grow, and a few topics recently allowed, so that a device publishing to the same
//! topics again pays a string comparison rather than a walk of its filters.

use std::sync::Arc;

use gridmq_access::ClientRights;
use gridmq_engine::Authorizer;
use parking_lot::Mutex;

/// Topics remembered per session.
const RECENT: usize = 4;
/// Longest topic remembered, in bytes; longer ones are always checked.
const RECENT_MAX_LEN: usize = 128;

/// The rights of one session, swappable while it runs.
#[derive(Debug)]
pub(crate) struct SessionAuthorizer {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    rights: Arc<ClientRights>,
    /// Topics `rights` allowed to publish to, most recent first. Only "allowed" is
    /// remembered, and rights are only swapped for ones that include them, so an entry
    /// never outlives its truth; [`SessionAuthorizer::revoke`] clears them.
    recent: [Option<Box<str>>; RECENT],
}

impl SessionAuthorizer {
    /// An authorizer granting `rights`.
    pub(crate) fn new(rights: Arc<ClientRights>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                rights,
                recent: Default::default(),
            }),
        }
    }

    /// The rights in force.
    pub(crate) fn rights(&self) -> Arc<ClientRights> {
        self.inner.lock().rights.clone()
    }

    /// Swaps in rights that include the current ones (remembered topics stay allowed).
    pub(crate) fn grow(&self, rights: Arc<ClientRights>) {
        self.inner.lock().rights = rights;
    }

    /// Takes every right away, for a session about to be disconnected.
    pub(crate) fn revoke(&self) {
        let mut inner = self.inner.lock();
        inner.rights = Arc::new(ClientRights::deny_all());
        inner.recent = Default::default();
    }
}

impl Authorizer for SessionAuthorizer {
    fn may_publish(&self, topic: &str) -> bool {
        let mut inner = self.inner.lock();
        if let Some(i) = inner
            .recent
            .iter()
            .position(|t| t.as_deref() == Some(topic))
        {
            inner.recent[..=i].rotate_right(1);
            return true;
        }
        let allowed = inner.rights.may_publish(topic);
        if allowed && topic.len() <= RECENT_MAX_LEN {
            inner.recent.rotate_right(1);
            inner.recent[0] = Some(topic.into());
        }
        allowed
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        self.inner.lock().rights.may_subscribe(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_access::{ClientIdentity, Limits, Policy, Resources};

    fn rights(templates: &[&str]) -> Arc<ClientRights> {
        let resources: Resources = serde_json::from_value(serde_json::json!({
            "topicSpaces": [{ "name": "space", "properties": { "topicTemplates": templates } }],
            "permissionBindings": [
                { "name": "pub", "properties": { "clientGroupName": "$all", "topicSpaceName": "space", "permission": "Publisher" } },
                { "name": "sub", "properties": { "clientGroupName": "$all", "topicSpaceName": "space", "permission": "Subscriber" } }
            ]
        }))
        .unwrap();
        let policy = Policy::compile(&resources, &Limits::default()).unwrap();
        Arc::new(policy.rights_for(&ClientIdentity::new("d1")))
    }

    #[test]
    fn answers_from_rights_and_remembers_allowed_topics() {
        let authz = SessionAuthorizer::new(rights(&["a/${client.authenticationName}/#"]));
        for _ in 0..3 {
            assert!(authz.may_publish("a/d1/x"));
            assert!(!authz.may_publish("a/d2/x"));
        }
        for i in 0..10 {
            assert!(authz.may_publish(&format!("a/d1/{i}")));
        }
        assert!(authz.may_subscribe("a/d1/+"));
        assert!(!authz.may_subscribe("a/+/x"));
    }

    #[test]
    fn grows_and_revokes() {
        let authz = SessionAuthorizer::new(rights(&["a/#"]));
        assert!(authz.may_publish("a/1"));
        assert!(!authz.may_publish("b/1"));
        authz.grow(rights(&["a/#", "b/#"]));
        assert!(authz.may_publish("a/1") && authz.may_publish("b/1"));
        authz.revoke();
        assert!(!authz.may_publish("a/1"), "remembered topics go too");
        assert!(!authz.may_subscribe("a/#"));
    }
}
