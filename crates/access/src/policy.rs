//! The authorization decision: an immutable [`Policy`] compiled from [`Resources`], and the
//! [`ClientRights`] it grants one client, computed once per session.
//!
//! - PUBLISH to topic T is allowed when a Publisher binding ties a group containing the
//!   client to a topic space with a template that, with variables filled in, matches T.
//! - SUBSCRIBE to filter F is allowed when a single Subscriber template, filled in, matches
//!   every topic F can match (`vehicles/#` allows `vehicles/+/position`; `a` and `a/+/#`
//!   together do not allow `a/#`). Shared subscriptions are authorized on their filter:
//!   the caller strips `$share/{group}/`.
//! - Everything else is denied; the built-in `$all` group contains every client.
//!
//! The server keeps the current `Policy` behind an `ArcSwap` and swaps in a new one on
//! every change; sessions recompute their rights from it.

use std::collections::HashMap;
use std::sync::Arc;

pub use crate::identity::{AttributeValue, ClientIdentity};
use crate::limits::Limits;
use crate::model::{ALL_CLIENTS_GROUP, Permission, Resources};
use crate::query::Query;
use crate::template::Template;
use crate::topic_set::TopicSet;
#[cfg(doc)]
use crate::validate::Validate;
use crate::validate::{Problem, ValidationError, policy_problems};

/// A compiled, immutable access-control snapshot.
#[derive(Debug, Clone)]
pub struct Policy {
    open: bool,
    groups: Vec<Group>,
    topic_spaces: Vec<TopicSpace>,
    max_template_expansions: usize,
}

#[derive(Debug, Clone)]
struct Group {
    name: Arc<str>,
    /// `None` for `$all`.
    query: Option<Query>,
    /// Topic spaces (indexes) the group may publish to.
    publish: Vec<usize>,
    /// Topic spaces (indexes) the group may subscribe to.
    subscribe: Vec<usize>,
}

#[derive(Debug, Clone)]
struct TopicSpace {
    templates: Vec<Template>,
}

impl Default for Policy {
    /// Denies everything.
    fn default() -> Self {
        Self::from_parts(
            vec![Group::new(ALL_CLIENTS_GROUP, None)],
            Vec::new(),
            Limits::default().max_template_expansions,
        )
    }
}

impl Policy {
    /// A policy that allows every client to publish and subscribe anywhere (for brokers
    /// without access control configured).
    pub fn open() -> Self {
        Self {
            open: true,
            ..Self::default()
        }
    }

    /// Whether this is [`Policy::open`].
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Compiles the client groups, topic spaces and permission bindings of `resources`;
    /// any problem in those fails the whole compile. Clients, certificates and settings
    /// are not read: check them with [`Validate`] before accepting a change.
    pub fn compile(resources: &Resources, limits: &Limits) -> Result<Self, ValidationError> {
        let problems = policy_problems(resources, limits);
        if !problems.is_empty() {
            return Err(ValidationError { problems });
        }
        let mut spaces = Vec::with_capacity(resources.topic_spaces.len());
        let mut space_index = HashMap::with_capacity(resources.topic_spaces.len());
        for ts in &resources.topic_spaces {
            let templates = ts
                .properties
                .topic_templates
                .iter()
                .map(|t| Template::parse(t).map_err(|e| internal(&e)))
                .collect::<Result<Vec<_>, _>>()?;
            space_index.insert(ts.name.to_ascii_lowercase(), spaces.len());
            spaces.push(TopicSpace { templates });
        }
        let mut groups = vec![Group::new(ALL_CLIENTS_GROUP, None)];
        let mut group_index = HashMap::from([(ALL_CLIENTS_GROUP.to_owned(), 0)]);
        for g in resources.client_groups.iter().filter(|g| !g.is_builtin()) {
            let query = Query::parse(&g.properties.query).map_err(|e| internal(&e))?;
            group_index.insert(g.name.to_ascii_lowercase(), groups.len());
            groups.push(Group::new(&g.name, Some(query)));
        }
        for b in &resources.permission_bindings {
            let p = &b.properties;
            let group = group_index.get(&p.client_group_name.to_ascii_lowercase());
            let space = space_index.get(&p.topic_space_name.to_ascii_lowercase());
            let (Some(&g), Some(&s)) = (group, space) else {
                return Err(internal(&"binding refers to an unknown resource"));
            };
            let list = match p.permission {
                Permission::Publisher => &mut groups[g].publish,
                Permission::Subscriber => &mut groups[g].subscribe,
            };
            if !list.contains(&s) {
                list.push(s);
            }
        }
        Ok(Self::from_parts(
            groups,
            spaces,
            limits.max_template_expansions,
        ))
    }

    fn from_parts(groups: Vec<Group>, topic_spaces: Vec<TopicSpace>, max: usize) -> Self {
        Self {
            open: false,
            groups,
            topic_spaces,
            max_template_expansions: max,
        }
    }

    /// What a client may do: its groups, and its publisher and subscriber templates with
    /// variables filled in, compiled for fast checks. Call once per session (and again
    /// when the policy changes).
    pub fn rights_for(&self, identity: &ClientIdentity) -> ClientRights {
        if self.open {
            return ClientRights::allow_all();
        }
        let mut publish_spaces = vec![false; self.topic_spaces.len()];
        let mut subscribe_spaces = vec![false; self.topic_spaces.len()];
        let mut groups = Vec::new();
        for g in &self.groups {
            if g.query.as_ref().is_none_or(|q| q.matches(identity)) {
                groups.push(Arc::clone(&g.name));
                for &s in &g.publish {
                    publish_spaces[s] = true;
                }
                for &s in &g.subscribe {
                    subscribe_spaces[s] = true;
                }
            }
        }
        ClientRights {
            allow_all: false,
            publish: self.grants(&publish_spaces, identity),
            subscribe: self.grants(&subscribe_spaces, identity),
            groups,
        }
    }

    fn grants(&self, spaces: &[bool], identity: &ClientIdentity) -> TopicSet {
        let mut set = TopicSet::default();
        let chosen = self
            .topic_spaces
            .iter()
            .zip(spaces)
            .filter_map(|(ts, &on)| on.then_some(ts));
        for ts in chosen {
            for template in &ts.templates {
                if let Some(fixed) = template.as_fixed() {
                    set.insert(fixed);
                    continue;
                }
                for filter in template.expand(identity, self.max_template_expansions) {
                    set.insert(&filter);
                }
            }
        }
        set
    }
}

/// A problem that validation should have caught; reported rather than panicking.
fn internal(cause: &dyn std::fmt::Display) -> ValidationError {
    ValidationError {
        problems: vec![Problem {
            resource: None,
            path: String::new(),
            position: None,
            message: format!("internal: {cause}"),
        }],
    }
}

impl Group {
    fn new(name: &str, query: Option<Query>) -> Self {
        Self {
            name: Arc::from(name),
            query,
            publish: Vec::new(),
            subscribe: Vec::new(),
        }
    }
}

/// What one client may publish and subscribe to, as granted by a [`Policy`].
///
/// Rights from the same filters compare equal, so a server can tell after a policy change
/// whether a session's rights changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRights {
    allow_all: bool,
    publish: TopicSet,
    subscribe: TopicSet,
    groups: Vec<Arc<str>>,
}

impl ClientRights {
    /// Rights to everything (what [`Policy::open`] grants).
    pub fn allow_all() -> Self {
        Self {
            allow_all: true,
            ..Self::deny_all()
        }
    }

    /// No rights at all.
    pub fn deny_all() -> Self {
        Self {
            allow_all: false,
            publish: TopicSet::default(),
            subscribe: TopicSet::default(),
            groups: Vec::new(),
        }
    }

    /// Whether the client may PUBLISH to this (valid) topic name.
    pub fn may_publish(&self, topic: &str) -> bool {
        self.allow_all || self.publish.matches(topic)
    }

    /// Whether the client may SUBSCRIBE to this (valid, non-shared) topic filter.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        self.allow_all || self.subscribe.covers(filter)
    }

    /// Whether these rights allow at least everything `other` allows: every filter
    /// `other` may publish to or subscribe within is covered by one filter here. A server
    /// swaps such rights into a live session; narrower ones mean disconnecting it.
    /// Conservative: a filter of `other` covered only by several filters together counts
    /// as not covered.
    pub fn includes(&self, other: &ClientRights) -> bool {
        if self.allow_all {
            return true;
        }
        !other.allow_all
            && self.publish.covers_set(&other.publish)
            && self.subscribe.covers_set(&other.subscribe)
    }

    /// The client groups the client is in, `$all` first (empty for [`Self::allow_all`]).
    pub fn groups(&self) -> &[Arc<str>] {
        &self.groups
    }

    /// How many distinct topic filters the client may publish to.
    pub fn publish_filter_count(&self) -> usize {
        self.publish.len()
    }

    /// How many distinct topic filters the client may subscribe within.
    pub fn subscribe_filter_count(&self) -> usize {
        self.subscribe.len()
    }
}
