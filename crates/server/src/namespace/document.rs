//! From JSON to typed resources: one resource from an API body, or a whole document (the
//! configuration's `[namespace.resources]`, a resources file, `gridmq apply`).
//!
//! A resource's properties may come wrapped in `properties`, as Event Grid's bodies are,
//! or flat beside its `name`. Type errors are reported for every bad property at once,
//! each with its JSON path, as [`Problem`]s like validation's.

use std::collections::BTreeMap;

use gridmq_access::{
    CaCertificate, CaCertificateProperties, Client, ClientGroup, ClientGroupProperties,
    ClientProperties, NamespaceSettings, PermissionBinding, PermissionBindingProperties, Problem,
    Resource, ResourceKind, ResourceRef, TopicSpace, TopicSpaceProperties,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The document keys of each kind, in the order a document is applied (what others
/// refer to first).
pub(crate) const KINDS: [(&str, ResourceKind); 5] = [
    ("caCertificates", ResourceKind::CaCertificate),
    ("clients", ResourceKind::Client),
    ("clientGroups", ResourceKind::ClientGroup),
    ("topicSpaces", ResourceKind::TopicSpace),
    ("permissionBindings", ResourceKind::PermissionBinding),
];

/// The document key holding the namespace settings.
pub(crate) const SETTINGS_KEY: &str = "topicSpacesConfiguration";

/// The collection name of a kind (`clients`, ...).
pub(crate) fn collection(kind: ResourceKind) -> &'static str {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("", |(name, _)| name)
}

/// A client's write-only password fields, handled before the client joins the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PasswordInput {
    /// A plain password to hash on write (`password`).
    pub(crate) password: Option<String>,
    /// Whether the body listed `passwordHashes` itself; if not, and no `password` is
    /// given, a replaced client keeps its hashes.
    pub(crate) explicit_hashes: bool,
}

/// One resource, typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    /// A client and its password fields.
    Client(Client, PasswordInput),
    /// A CA certificate.
    CaCertificate(CaCertificate),
    /// A client group.
    ClientGroup(ClientGroup),
    /// A topic space.
    TopicSpace(TopicSpace),
    /// A permission binding.
    PermissionBinding(PermissionBinding),
}

impl Typed {
    /// Its kind.
    pub(crate) fn kind(&self) -> ResourceKind {
        match self {
            Self::Client(..) => ResourceKind::Client,
            Self::CaCertificate(_) => ResourceKind::CaCertificate,
            Self::ClientGroup(_) => ResourceKind::ClientGroup,
            Self::TopicSpace(_) => ResourceKind::TopicSpace,
            Self::PermissionBinding(_) => ResourceKind::PermissionBinding,
        }
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Client(c, _) => &c.name,
            Self::CaCertificate(r) => &r.name,
            Self::ClientGroup(r) => &r.name,
            Self::TopicSpace(r) => &r.name,
            Self::PermissionBinding(r) => &r.name,
        }
    }
}

/// A document, typed: resources in application order, and settings if it had them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Document {
    pub(crate) resources: Vec<Typed>,
    pub(crate) settings: Option<NamespaceSettings>,
}

fn problem(
    resource: Option<ResourceRef>,
    path: impl Into<String>,
    message: impl Into<String>,
) -> Problem {
    Problem {
        resource,
        path: path.into(),
        position: None,
        message: message.into(),
    }
}

fn reference(kind: ResourceKind, name: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        kind,
        name: name.to_owned(),
    })
}

/// The properties of a resource body: the `properties` object if there is one, else the
/// body without its `name`. A `name` in the body must be the one in the URL.
pub(crate) fn properties_of(
    kind: ResourceKind,
    name: &str,
    mut body: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<Problem>> {
    let at = reference(kind, name);
    if let Some(given) = body.get("name") {
        if given.as_str() != Some(name) {
            return Err(vec![problem(
                at,
                "name",
                "must be the name in the URL, or left out",
            )]);
        }
    }
    match body.remove("properties") {
        Some(Value::Object(properties)) => Ok(properties),
        Some(_) => Err(vec![problem(at, "properties", "must be an object")]),
        None => {
            body.remove("name");
            // Read-only envelope members of Azure's bodies.
            for key in ["id", "type", "systemData"] {
                body.remove(key);
            }
            Ok(body)
        }
    }
}

/// Types the properties of one resource; every badly typed property is reported.
pub(crate) fn typed(
    kind: ResourceKind,
    name: &str,
    mut properties: Map<String, Value>,
) -> Result<Typed, Vec<Problem>> {
    let at = reference(kind, name);
    match kind {
        ResourceKind::Client => {
            let password = match properties.remove("password") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p),
                Some(_) => {
                    return Err(vec![problem(at, "properties.password", "must be a string")]);
                }
            };
            let input = PasswordInput {
                password,
                explicit_hashes: properties.contains_key("passwordHashes"),
            };
            let props: ClientProperties = deserialize(&at, properties, json!({}))?;
            Ok(Typed::Client(Resource::new(name, props), input))
        }
        ResourceKind::CaCertificate => {
            let props: CaCertificateProperties =
                deserialize(&at, properties, json!({ "encodedCertificate": "" }))?;
            Ok(Typed::CaCertificate(Resource::new(name, props)))
        }
        ResourceKind::ClientGroup => {
            let props: ClientGroupProperties =
                deserialize(&at, properties, json!({ "query": "" }))?;
            Ok(Typed::ClientGroup(Resource::new(name, props)))
        }
        ResourceKind::TopicSpace => {
            let props: TopicSpaceProperties =
                deserialize(&at, properties, json!({ "topicTemplates": [] }))?;
            Ok(Typed::TopicSpace(Resource::new(name, props)))
        }
        ResourceKind::PermissionBinding => {
            let base = json!({
                "clientGroupName": "", "topicSpaceName": "", "permission": "Publisher"
            });
            let props: PermissionBindingProperties = deserialize(&at, properties, base)?;
            Ok(Typed::PermissionBinding(Resource::new(name, props)))
        }
    }
}

/// Types namespace settings from a body: `properties.topicSpacesConfiguration`,
/// `topicSpacesConfiguration`, or the settings themselves. Read-only members (`state`,
/// `hostname`) are ignored.
pub(crate) fn settings_of(body: Map<String, Value>) -> Result<NamespaceSettings, Vec<Problem>> {
    let mut body = body;
    let mut prefix = String::new();
    if let Some(properties) = body.remove("properties") {
        let Value::Object(properties) = properties else {
            return Err(vec![problem(None, "properties", "must be an object")]);
        };
        body = properties;
        prefix.push_str("properties.");
    }
    if let Some(settings) = body.remove(SETTINGS_KEY) {
        let Value::Object(settings) = settings else {
            return Err(vec![problem(
                None,
                format!("{prefix}{SETTINGS_KEY}"),
                "must be an object",
            )]);
        };
        body = settings;
        prefix.push_str(SETTINGS_KEY);
        prefix.push('.');
    }
    for key in ["state", "hostname"] {
        body.remove(key);
    }
    deserialize_at(None, &prefix, body, json!({}))
}

/// Types a whole document: `{"caCertificates": [...], "clients": [...], ...,
/// "topicSpacesConfiguration": {...}}`, every key optional.
pub(crate) fn document(value: Value) -> Result<Document, Vec<Problem>> {
    let (document, problems) = document_lenient(value);
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(problems)
    }
}

/// [`document`], also returning what could be typed when some entries could not.
pub(crate) fn document_lenient(value: Value) -> (Document, Vec<Problem>) {
    let Value::Object(mut top) = value else {
        return (
            Document::default(),
            vec![problem(None, "", "a resources document must be an object")],
        );
    };
    let mut problems = Vec::new();
    let mut out = Document::default();
    for (key, kind) in KINDS {
        let Some(entries) = top.remove(key) else {
            continue;
        };
        let Value::Array(entries) = entries else {
            problems.push(problem(None, key, "must be an array of resources"));
            continue;
        };
        for (i, entry) in entries.into_iter().enumerate() {
            match entry_of(kind, key, i, entry) {
                Ok(typed) => out.resources.push(typed),
                Err(p) => problems.extend(p),
            }
        }
    }
    if let Some(settings) = top.remove(SETTINGS_KEY) {
        match settings {
            Value::Object(map) => {
                match deserialize_at(None, &format!("{SETTINGS_KEY}."), map, json!({})) {
                    Ok(s) => out.settings = Some(s),
                    Err(p) => problems.extend(p),
                }
            }
            _ => problems.push(problem(None, SETTINGS_KEY, "must be an object")),
        }
    }
    for key in top.keys() {
        problems.push(problem(
            None,
            key.as_str(),
            format!(
                "unknown key (expected {} or {SETTINGS_KEY})",
                KINDS.map(|(k, _)| k).join(", ")
            ),
        ));
    }
    (out, problems)
}

fn entry_of(
    kind: ResourceKind,
    key: &str,
    index: usize,
    entry: Value,
) -> Result<Typed, Vec<Problem>> {
    let here = format!("{key}[{index}]");
    let Value::Object(mut body) = entry else {
        return Err(vec![problem(None, here, "must be an object with a name")]);
    };
    let name = match body.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(vec![problem(None, format!("{here}.name"), "is required")]),
    };
    if body.get("properties").is_some_and(|p| !p.is_object()) {
        return Err(vec![problem(
            reference(kind, &name),
            "properties",
            "must be an object",
        )]);
    }
    body.remove("name");
    let properties = properties_of(kind, &name, body)?;
    typed(kind, &name, properties)
}

fn deserialize<P: DeserializeOwned>(
    at: &Option<ResourceRef>,
    properties: Map<String, Value>,
    base: Value,
) -> Result<P, Vec<Problem>> {
    deserialize_at(at.clone(), "properties.", properties, base)
}

/// Deserializes `map`; on failure, tries each key alone on top of `base` (a minimal
/// valid value) so that every bad key is reported, with `prefix` before its path.
fn deserialize_at<P: DeserializeOwned>(
    at: Option<ResourceRef>,
    prefix: &str,
    map: Map<String, Value>,
    base: Value,
) -> Result<P, Vec<Problem>> {
    let first = match serde_path_to_error::deserialize::<_, P>(Value::Object(map.clone())) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let Value::Object(base) = base else {
        return Err(vec![describe(&at, prefix, &first)]);
    };
    let mut problems: BTreeMap<String, Problem> = BTreeMap::new();
    for (key, value) in map {
        let mut one = base.clone();
        one.insert(key, value);
        if let Err(e) = serde_path_to_error::deserialize::<_, P>(Value::Object(one)) {
            let p = describe(&at, prefix, &e);
            problems.entry(p.path.clone()).or_insert(p);
        }
    }
    if problems.is_empty() {
        // Nothing wrong key by key: a required key is missing.
        return Err(vec![describe(&at, prefix, &first)]);
    }
    Err(problems.into_values().collect())
}

fn describe(
    at: &Option<ResourceRef>,
    prefix: &str,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> Problem {
    let message = error.inner().to_string();
    let path = error.path().to_string();
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let parent = if path == "." {
            String::new()
        } else {
            format!("{path}.")
        };
        return problem(
            at.clone(),
            format!("{prefix}{parent}{field}"),
            "is required",
        );
    }
    let path = if path == "." {
        prefix.trim_end_matches('.').to_owned()
    } else {
        format!("{prefix}{path}")
    };
    problem(at.clone(), path, message)
}

/// The rendering of a resource for responses: `{"name", "properties"}`, without password
/// hashes (a client shows how many it has as `passwordCount`).
pub(crate) fn render<P: serde::Serialize>(resource: &Resource<P>) -> Value {
    let mut value = serde_json::to_value(resource).unwrap_or(Value::Null);
    if let Some(properties) = value.get_mut("properties").and_then(Value::as_object_mut) {
        if let Some(Value::Array(hashes)) = properties.remove("passwordHashes") {
            properties.insert("passwordCount".into(), hashes.len().into());
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn bodies_may_be_flat_or_wrapped() {
        let wrapped = map(json!({ "properties": { "query": "attributes.a = 1" } }));
        let flat = map(json!({ "name": "g1", "query": "attributes.a = 1", "id": "/x" }));
        for body in [wrapped, flat] {
            let props = properties_of(ResourceKind::ClientGroup, "g1", body).unwrap();
            let typed = typed(ResourceKind::ClientGroup, "g1", props).unwrap();
            let Typed::ClientGroup(group) = typed else {
                panic!()
            };
            assert_eq!(group.properties.query, "attributes.a = 1");
        }
        let wrong_name = map(json!({ "name": "other", "query": "x" }));
        let problems = properties_of(ResourceKind::ClientGroup, "g1", wrong_name).unwrap_err();
        assert_eq!(paths(&problems), ["name"]);
    }

    #[test]
    fn every_badly_typed_property_is_named() {
        let props = map(json!({
            "state": "Sleeping",
            "attributes": { "floor": 1.5 },
            "clientCertificateAuthentication": { "validationScheme": 7 },
            "description": "fine",
        }));
        let problems = typed(ResourceKind::Client, "c", props).unwrap_err();
        let mut got = paths(&problems);
        got.sort();
        assert_eq!(
            got,
            [
                "properties.attributes.floor",
                "properties.clientCertificateAuthentication.validationScheme",
                "properties.state",
            ]
        );
        assert!(
            problems
                .iter()
                .all(|p| p.resource.as_ref().unwrap().name == "c")
        );
    }

    #[test]
    fn missing_required_properties_are_named() {
        let problems = typed(
            ResourceKind::PermissionBinding,
            "b",
            map(json!({ "permission": "Publisher" })),
        )
        .unwrap_err();
        assert_eq!(problems[0].path, "properties.clientGroupName");
        assert_eq!(problems[0].message, "is required");
    }

    #[test]
    fn password_fields_are_taken_apart() {
        let props = map(json!({ "password": "pw" }));
        let Typed::Client(client, input) = typed(ResourceKind::Client, "c", props).unwrap() else {
            panic!()
        };
        assert!(client.properties.password_hashes.is_empty());
        assert_eq!(input.password.as_deref(), Some("pw"));
        assert!(!input.explicit_hashes);
        let props = map(json!({ "passwordHashes": [] }));
        let Typed::Client(_, input) = typed(ResourceKind::Client, "c", props).unwrap() else {
            panic!()
        };
        assert!(input.explicit_hashes);
    }

    #[test]
    fn documents_type_every_entry_and_name_bad_ones() {
        let doc = document(json!({
            "clientGroups": [{ "name": "g1", "query": "attributes.a = 1" }],
            "topicSpaces": [{ "name": "t1", "properties": { "topicTemplates": ["a/#"] } }, 5, {}],
            "permissionBindings": "nope",
            "topicSpacesConfiguration": { "maximumClientSessionsPerAuthenticationName": "two" },
            "colour": "blue",
        }))
        .unwrap_err();
        let got = paths(&doc);
        assert_eq!(
            got,
            [
                "topicSpaces[1]",
                "topicSpaces[2].name",
                "permissionBindings",
                "topicSpacesConfiguration.maximumClientSessionsPerAuthenticationName",
                "colour",
            ]
        );
        let ok = document(json!({
            "permissionBindings": [{ "name": "b", "clientGroupName": "$all", "topicSpaceName": "t", "permission": "Subscriber" }],
            "caCertificates": [],
        }))
        .unwrap();
        assert_eq!(ok.resources.len(), 1);
        assert_eq!(ok.settings, None);
    }

    #[test]
    fn settings_accept_azure_shapes() {
        for body in [
            json!({ "properties": { "topicSpacesConfiguration": { "state": "Enabled", "maximumClientSessionsPerAuthenticationName": 3 } } }),
            json!({ "topicSpacesConfiguration": { "maximumClientSessionsPerAuthenticationName": 3 } }),
            json!({ "maximumClientSessionsPerAuthenticationName": 3 }),
        ] {
            let settings = settings_of(map(body)).unwrap();
            assert_eq!(settings.maximum_client_sessions_per_authentication_name, 3);
        }
        let problems = settings_of(map(json!({ "properties": { "topicSpacesConfiguration": { "maximumSessionExpiryInHours": -1 } } })))
            .unwrap_err();
        assert_eq!(
            paths(&problems),
            ["properties.topicSpacesConfiguration.maximumSessionExpiryInHours"]
        );
    }

    #[test]
    fn rendering_hides_password_hashes() {
        let mut client = Client::new("c", ClientProperties::default());
        client.properties.password_hashes = vec![gridmq_access::PasswordHash("$argon2id$x".into())];
        let value = render(&client);
        assert_eq!(value["properties"]["passwordCount"], 1);
        assert!(!value.to_string().contains("argon2"));
    }
}
