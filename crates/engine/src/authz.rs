//! The authorization seam: what the engine asks before routing a PUBLISH or adding a
//! subscription. The server plugs in the namespace's compiled policy; open mode allows all.

use std::fmt::Debug;

/// Decides whether one connected client may publish to a topic or subscribe to a
/// filter. Called on every PUBLISH, so implementations answer from precompiled state.
pub trait Authorizer: Send + Sync + Debug {
    /// Whether the client may publish to `topic`.
    fn may_publish(&self, topic: &str) -> bool;
    /// Whether the client may subscribe to `filter` (without any `$share/` prefix).
    fn may_subscribe(&self, filter: &str) -> bool;
}

/// Allows everything: the broker's open mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn may_publish(&self, _topic: &str) -> bool {
        true
    }

    fn may_subscribe(&self, _filter: &str) -> bool {
        true
    }
}
