//! Finding, listing, inserting and removing resources in a [`Resources`] set, whose lists
//! are kept sorted by listing key so that a page is a binary search away.
//!
//! Client names are case-sensitive (Event Grid's rule); the other kinds' names are
//! unique ignoring ASCII case, and a replacement takes the spelling it was given.
//! [`check_document`] checks a declared document as such a set.

use gridmq_access::{
    ALL_CLIENTS_GROUP, ClientGroup, Limits, Problem, Resource, ResourceKind, Resources, Validate,
};
use serde::Serialize;
use serde_json::Value;

use super::document::{Typed, render};

/// The key a resource is listed and looked up by.
pub(crate) fn key(kind: ResourceKind, name: &str) -> String {
    match kind {
        ResourceKind::Client => name.to_owned(),
        _ => name.to_ascii_lowercase(),
    }
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// A new resource.
    Created,
    /// An existing resource, now different.
    Replaced,
    /// An existing resource, identical.
    Unchanged,
}

fn position<P>(list: &[Resource<P>], kind: ResourceKind, name: &str) -> Result<usize, usize> {
    let wanted = key(kind, name);
    list.binary_search_by(|r| key(kind, &r.name).cmp(&wanted))
}

fn upsert_in<P: PartialEq>(
    list: &mut Vec<Resource<P>>,
    kind: ResourceKind,
    resource: Resource<P>,
) -> Upsert {
    match position(list, kind, &resource.name) {
        Ok(i) if list[i] == resource => Upsert::Unchanged,
        Ok(i) => {
            list[i] = resource;
            Upsert::Replaced
        }
        Err(i) => {
            list.insert(i, resource);
            Upsert::Created
        }
    }
}

fn remove_in<P>(list: &mut Vec<Resource<P>>, kind: ResourceKind, name: &str) -> bool {
    match position(list, kind, name) {
        Ok(i) => {
            list.remove(i);
            true
        }
        Err(_) => false,
    }
}

fn page_of<P: Serialize>(
    list: &[Resource<P>],
    kind: ResourceKind,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Value>, Option<String>) {
    let start = match after {
        None => 0,
        Some(after) => list.partition_point(|r| key(kind, &r.name).as_str() <= after),
    };
    let rest = &list[start..];
    let items: Vec<Value> = rest.iter().take(limit).map(render).collect();
    let next = (rest.len() > limit)
        .then(|| rest.get(limit.saturating_sub(1)))
        .flatten()
        .map(|r| key(kind, &r.name));
    (items, next)
}

/// Sorts every list by listing key (after loading a set from elsewhere).
pub(crate) fn sort(resources: &mut Resources) {
    resources
        .ca_certificates
        .sort_by_cached_key(|r| key(ResourceKind::CaCertificate, &r.name));
    resources
        .clients
        .sort_by_cached_key(|r| key(ResourceKind::Client, &r.name));
    resources
        .client_groups
        .sort_by_cached_key(|r| key(ResourceKind::ClientGroup, &r.name));
    resources
        .topic_spaces
        .sort_by_cached_key(|r| key(ResourceKind::TopicSpace, &r.name));
    resources
        .permission_bindings
        .sort_by_cached_key(|r| key(ResourceKind::PermissionBinding, &r.name));
}

/// The resource of `kind` named `name`, rendered; the built-in `$all` group included.
pub(crate) fn find(resources: &Resources, kind: ResourceKind, name: &str) -> Option<Value> {
    fn get<P: Serialize>(list: &[Resource<P>], kind: ResourceKind, name: &str) -> Option<Value> {
        position(list, kind, name).ok().map(|i| render(&list[i]))
    }
    match kind {
        ResourceKind::Client => get(&resources.clients, kind, name),
        ResourceKind::CaCertificate => get(&resources.ca_certificates, kind, name),
        ResourceKind::ClientGroup if name.eq_ignore_ascii_case(ALL_CLIENTS_GROUP) => {
            Some(render(&ClientGroup::builtin_all()))
        }
        ResourceKind::ClientGroup => get(&resources.client_groups, kind, name),
        ResourceKind::TopicSpace => get(&resources.topic_spaces, kind, name),
        ResourceKind::PermissionBinding => get(&resources.permission_bindings, kind, name),
    }
}

/// The client resource named `name` (case-sensitive).
pub(crate) fn client<'a>(
    resources: &'a Resources,
    name: &str,
) -> Option<&'a gridmq_access::Client> {
    position(&resources.clients, ResourceKind::Client, name)
        .ok()
        .map(|i| &resources.clients[i])
}

/// Up to `limit` rendered resources listed after `after`, and the key to continue after
/// when more remain. Client groups list the built-in `$all` first.
pub(crate) fn page(
    resources: &Resources,
    kind: ResourceKind,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Value>, Option<String>) {
    match kind {
        ResourceKind::Client => page_of(&resources.clients, kind, after, limit),
        ResourceKind::CaCertificate => page_of(&resources.ca_certificates, kind, after, limit),
        ResourceKind::ClientGroup => {
            let mut groups = Vec::with_capacity(resources.client_groups.len() + 1);
            groups.push(ClientGroup::builtin_all());
            groups.extend(resources.client_groups.iter().cloned());
            page_of(&groups, kind, after, limit)
        }
        ResourceKind::TopicSpace => page_of(&resources.topic_spaces, kind, after, limit),
        ResourceKind::PermissionBinding => {
            page_of(&resources.permission_bindings, kind, after, limit)
        }
    }
}

/// Inserts or replaces a typed resource.
pub(crate) fn upsert(resources: &mut Resources, typed: Typed) -> Upsert {
    let kind = typed.kind();
    match typed {
        Typed::Client(c, _) => upsert_in(&mut resources.clients, kind, c),
        Typed::CaCertificate(r) => upsert_in(&mut resources.ca_certificates, kind, r),
        Typed::ClientGroup(r) => upsert_in(&mut resources.client_groups, kind, r),
        Typed::TopicSpace(r) => upsert_in(&mut resources.topic_spaces, kind, r),
        Typed::PermissionBinding(r) => upsert_in(&mut resources.permission_bindings, kind, r),
    }
}

/// Removes a resource; whether there was one.
pub(crate) fn remove(resources: &mut Resources, kind: ResourceKind, name: &str) -> bool {
    match kind {
        ResourceKind::Client => remove_in(&mut resources.clients, kind, name),
        ResourceKind::CaCertificate => remove_in(&mut resources.ca_certificates, kind, name),
        ResourceKind::ClientGroup => remove_in(&mut resources.client_groups, kind, name),
        ResourceKind::TopicSpace => remove_in(&mut resources.topic_spaces, kind, name),
        ResourceKind::PermissionBinding => {
            remove_in(&mut resources.permission_bindings, kind, name)
        }
    }
}

/// The names of every resource of `kind` (without `$all`).
pub(crate) fn names(resources: &Resources, kind: ResourceKind) -> Vec<String> {
    fn of<P>(list: &[Resource<P>]) -> Vec<String> {
        list.iter().map(|r| r.name.clone()).collect()
    }
    match kind {
        ResourceKind::Client => of(&resources.clients),
        ResourceKind::CaCertificate => of(&resources.ca_certificates),
        ResourceKind::ClientGroup => of(&resources.client_groups),
        ResourceKind::TopicSpace => of(&resources.topic_spaces),
        ResourceKind::PermissionBinding => of(&resources.permission_bindings),
    }
}

/// Type and validation problems of a declared document, without touching files or
/// hashing passwords (for `gridmq config check`).
pub(crate) fn check_document(value: &Value, limits: &Limits) -> Vec<Problem> {
    let (document, mut problems) = super::document::document_lenient(value.clone());
    let mut resources = Resources::default();
    for typed in document.resources {
        upsert(&mut resources, typed);
    }
    if let Some(settings) = document.settings {
        resources.settings = settings;
    }
    problems.extend(resources.problems(limits));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_access::{TopicSpace, TopicSpaceProperties};

    fn space(name: &str, template: &str) -> Typed {
        Typed::TopicSpace(TopicSpace::new(
            name,
            TopicSpaceProperties {
                topic_templates: vec![template.into()],
                description: None,
            },
        ))
    }

    #[test]
    fn upserts_keep_order_and_tell_what_changed() {
        let mut r = Resources::default();
        assert_eq!(upsert(&mut r, space("b", "x")), Upsert::Created);
        assert_eq!(upsert(&mut r, space("a", "x")), Upsert::Created);
        assert_eq!(
            upsert(&mut r, space("A", "x")),
            Upsert::Replaced,
            "new spelling"
        );
        assert_eq!(upsert(&mut r, space("A", "x")), Upsert::Unchanged);
        assert_eq!(names(&r, ResourceKind::TopicSpace), ["A", "b"]);
        assert!(find(&r, ResourceKind::TopicSpace, "a").is_some());
        assert!(remove(&mut r, ResourceKind::TopicSpace, "B"));
        assert!(!remove(&mut r, ResourceKind::TopicSpace, "b"));
    }

    #[test]
    fn pages_continue_after_the_key() {
        let mut r = Resources::default();
        for name in ["c", "a", "e", "b", "d"] {
            upsert(&mut r, space(name, "x"));
        }
        let (items, next) = page(&r, ResourceKind::TopicSpace, None, 2);
        assert_eq!(items.len(), 2);
        assert_eq!(next.as_deref(), Some("b"));
        let (items, next) = page(&r, ResourceKind::TopicSpace, Some("b"), 3);
        assert_eq!(items[0]["name"], "c");
        assert_eq!(next, None);
        let (groups, _) = page(&r, ResourceKind::ClientGroup, None, 10);
        assert_eq!(groups[0]["name"], "$all");
        assert!(find(&r, ResourceKind::ClientGroup, "$ALL").is_some());
    }
}
