//! Validation that reports every problem at once, each with the resource it is in, the
//! field path (`properties.topicTemplates[2]`) and, for query and template syntax, the byte
//! position inside the field.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::limits::Limits;
use crate::model::{
    ALL_CLIENTS_GROUP, CaCertificate, Client, ClientAuthentication, ClientGroup,
    CustomJwtAuthentication, NamespaceSettings, PermissionBinding, Resources, TopicSpace,
    ValidationScheme, WebhookAuthentication,
};
use crate::query::Query;
use crate::template::Template;
use crate::text::{fold_case, json_string_len};

/// The kinds of resource a problem can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `caCertificates`.
    CaCertificate,
    /// `clients`.
    Client,
    /// `clientGroups`.
    ClientGroup,
    /// `topicSpaces`.
    TopicSpace,
    /// `permissionBindings`.
    PermissionBinding,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CaCertificate => "caCertificate",
            Self::Client => "client",
            Self::ClientGroup => "clientGroup",
            Self::TopicSpace => "topicSpace",
            Self::PermissionBinding => "permissionBinding",
        })
    }
}

/// The resource a problem was found in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its name, as given.
    pub name: String,
}

/// One thing wrong with a resource or a set of resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The resource, or `None` for namespace settings and collection-wide problems.
    pub resource: Option<ResourceRef>,
    /// The JSON path of the field, relative to the resource (or to the collection).
    pub path: String,
    /// The byte offset inside the field's string, for query and template syntax errors.
    pub position: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.resource {
            write!(f, "{} '{}': ", r.kind, r.name)?;
        }
        write!(f, "{}: ", self.path)?;
        if let Some(pos) = self.position {
            write!(f, "at byte {pos}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The problems, in the order of the input.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s)", self.problems.len())?;
        for p in &self.problems {
            write!(f, "; {p}")?;
        }
        Ok(())
    }
}

/// Things that can be checked against [`Limits`].
pub trait Validate {
    /// Every problem, in input order; empty when valid.
    fn problems(&self, limits: &Limits) -> Vec<Problem>;

    /// `Ok` when there is no problem, else all of them.
    fn validate(&self, limits: &Limits) -> Result<(), ValidationError> {
        let problems = self.problems(limits);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { problems })
        }
    }
}

/// Collects problems for one resource.
struct Report<'a> {
    resource: Option<ResourceRef>,
    prefix: &'a str,
    out: &'a mut Vec<Problem>,
}

impl Report<'_> {
    fn add(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.add_at(path, None, message);
    }

    fn add_at(
        &mut self,
        path: impl fmt::Display,
        position: Option<usize>,
        message: impl Into<String>,
    ) {
        self.out.push(Problem {
            resource: self.resource.clone(),
            path: format!("{}{path}", self.prefix),
            position,
            message: message.into(),
        });
    }

    fn check(&mut self, path: impl fmt::Display, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(path, message);
        }
    }
}

fn report<'a>(kind: ResourceKind, name: &str, out: &'a mut Vec<Problem>) -> Report<'a> {
    Report {
        resource: Some(ResourceRef {
            kind,
            name: name.to_owned(),
        }),
        prefix: "",
        out,
    }
}

// ---------------------------------------------------------------------------------------
// Field checks

fn check_resource_name(name: &str, limits: &Limits) -> Result<(), String> {
    let len = name.chars().count();
    if (limits.min_name_len..=limits.max_name_len).contains(&len)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "must be {} to {} characters: letters, digits and `-`",
            limits.min_name_len, limits.max_name_len
        ))
    }
}

fn check_client_name(name: &str, limits: &Limits) -> Result<(), String> {
    let len = name.chars().count();
    if (1..=limits.max_client_name_len).contains(&len)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'.' | b'_'))
    {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {} characters: letters, digits, `-`, `:`, `.` and `_`",
            limits.max_client_name_len
        ))
    }
}

fn check_description(report: &mut Report<'_>, description: Option<&str>, limits: &Limits) {
    if description.is_some_and(|d| d.chars().count() > limits.max_description_len) {
        report.add(
            "properties.description",
            format!("must be at most {} characters", limits.max_description_len),
        );
    }
}

fn check_count(report: &mut Report<'_>, path: &str, len: usize, max: usize) {
    if len > max {
        report.add(
            path,
            format!("has {len} entries; at most {max} are allowed"),
        );
    }
}

/// Accepts exactly one PEM `CERTIFICATE` block with a base64 body.
fn check_pem_certificate(pem: &str, limits: &Limits) -> Result<(), String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    if pem.len() > limits.max_certificate_len {
        return Err(format!(
            "must be at most {} bytes",
            limits.max_certificate_len
        ));
    }
    let body = pem
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END));
    match body {
        Some(body)
            if !body.trim().is_empty()
                && !body.contains("-----")
                && body.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'+' | b'/' | b'=')
                        || b.is_ascii_whitespace()
                }) =>
        {
            Ok(())
        }
        _ => Err(format!("must be one PEM certificate ({BEGIN} ... {END})")),
    }
}

fn check_url(url: &str, limits: &Limits) -> Result<(), String> {
    let rest = url.strip_prefix("https://").or_else(|| {
        url.strip_prefix("http://")
            .filter(|_| limits.allow_plain_http)
    });
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(()),
        _ if limits.allow_plain_http => {
            Err("must be an http:// or https:// URL with a host".into())
        }
        _ => Err("must be an https:// URL with a host".into()),
    }
}

fn check_thumbprint(thumbprint: &str) -> Result<(), String> {
    if matches!(thumbprint.len(), 40 | 64) && thumbprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("must be a SHA-1 (40) or SHA-256 (64) hex digest".into())
    }
}

/// Checks the shape of an argon2 PHC string; the auth layer verifies passwords with it.
fn check_password_hash(phc: &str) -> Result<(), String> {
    let b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    let fields: Vec<&str> = phc.split('$').collect();
    let (algorithm, rest) = match fields.as_slice() {
        ["", algorithm, rest @ ..] => (*algorithm, rest),
        _ => ("", &[] as &[&str]),
    };
    let rest = match rest {
        [version, rest @ ..] if version.starts_with("v=") => rest,
        rest => rest,
    };
    let shape_ok = matches!(algorithm, "argon2id" | "argon2i" | "argon2d")
        && matches!(rest, [params, salt, hash]
            if params.split(',').all(|p| p.split_once('=').is_some_and(|(k, v)| !k.is_empty() && !v.is_empty()))
                && b64(salt) && b64(hash));
    if shape_ok {
        Ok(())
    } else {
        Err("must be an argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)".into())
    }
}

/// The size of attributes as compact JSON: `{"key":value,...}`.
fn attributes_size(client: &Client) -> usize {
    use crate::identity::AttributeValue;
    let attrs = &client.properties.attributes;
    let entries: usize = attrs
        .iter()
        .map(|(k, v)| {
            json_string_len(k)
                + 1
                + match v {
                    AttributeValue::String(s) => json_string_len(s),
                    AttributeValue::Integer(i) => i.to_string().len(),
                    AttributeValue::StringArray(items) => {
                        2 + items.iter().map(|s| json_string_len(s)).sum::<usize>()
                            + items.len().saturating_sub(1)
                    }
                }
        })
        .sum();
    2 + entries + attrs.len().saturating_sub(1)
}

// ---------------------------------------------------------------------------------------
// Resources

impl Validate for Client {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = report(ResourceKind::Client, &self.name, &mut out);
        let p = &self.properties;
        r.check("name", check_client_name(&self.name, limits));
        if let Some(auth_name) = &p.authentication_name {
            let len = auth_name.chars().count();
            if len == 0 || len > limits.max_authentication_name_len || auth_name.contains('\0') {
                r.add(
                    "properties.authenticationName",
                    format!(
                        "must be 1 to {} characters, without U+0000",
                        limits.max_authentication_name_len
                    ),
                );
            }
        }
        for key in p.attributes.keys() {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                r.add(
                    format_args!("properties.attributes.{key}"),
                    "attribute keys must be letters, digits and `_`",
                );
            }
        }
        let size = attributes_size(self);
        if size >= limits.attributes_size_limit {
            r.add(
                "properties.attributes",
                format!(
                    "take {size} bytes as JSON; they must take fewer than {}",
                    limits.attributes_size_limit
                ),
            );
        }
        if let Some(cert) = &p.client_certificate_authentication {
            let path = "properties.clientCertificateAuthentication.allowedThumbprints";
            let thumbprints = &cert.allowed_thumbprints;
            if cert.validation_scheme == ValidationScheme::ThumbprintMatch {
                if thumbprints.is_empty() {
                    r.add(path, "ThumbprintMatch needs at least one thumbprint");
                }
                check_count(&mut r, path, thumbprints.len(), limits.max_thumbprints);
                for (i, t) in thumbprints.iter().enumerate() {
                    r.check(format_args!("{path}[{i}]"), check_thumbprint(t));
                }
            } else if !thumbprints.is_empty() {
                r.add(
                    path,
                    "only allowed with the ThumbprintMatch validation scheme",
                );
            }
        }
        check_count(
            &mut r,
            "properties.passwordHashes",
            p.password_hashes.len(),
            limits.max_password_hashes,
        );
        for (i, hash) in p.password_hashes.iter().enumerate() {
            r.check(
                format_args!("properties.passwordHashes[{i}]"),
                check_password_hash(hash.as_str()),
            );
        }
        check_description(&mut r, p.description.as_deref(), limits);
        out
    }
}

impl Validate for CaCertificate {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = report(ResourceKind::CaCertificate, &self.name, &mut out);
        r.check("name", check_resource_name(&self.name, limits));
        r.check(
            "properties.encodedCertificate",
            check_pem_certificate(&self.properties.encoded_certificate, limits),
        );
        check_description(&mut r, self.properties.description.as_deref(), limits);
        out
    }
}

impl Validate for ClientGroup {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = report(ResourceKind::ClientGroup, &self.name, &mut out);
        if self.is_builtin() {
            if *self != ClientGroup::builtin_all() {
                r.add(
                    "name",
                    "`$all` is built in: it cannot be created, changed or deleted",
                );
            }
            return out;
        }
        r.check("name", check_resource_name(&self.name, limits));
        let query = &self.properties.query;
        if query.trim().is_empty() {
            r.add("properties.query", "is required");
        } else if query.len() > limits.max_query_len {
            r.add(
                "properties.query",
                format!("must be at most {} bytes", limits.max_query_len),
            );
        } else if let Err(e) = Query::parse(query) {
            r.add_at("properties.query", Some(e.position), e.kind.to_string());
        }
        check_description(&mut r, self.properties.description.as_deref(), limits);
        out
    }
}

impl Validate for TopicSpace {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = report(ResourceKind::TopicSpace, &self.name, &mut out);
        r.check("name", check_resource_name(&self.name, limits));
        let templates = &self.properties.topic_templates;
        if templates.is_empty() {
            r.add("properties.topicTemplates", "needs at least one template");
        }
        check_count(
            &mut r,
            "properties.topicTemplates",
            templates.len(),
            limits.max_templates_per_topic_space,
        );
        for (i, source) in templates.iter().enumerate() {
            let path = format!("properties.topicTemplates[{i}]");
            if source.len() > limits.max_template_len {
                r.add(
                    path,
                    format!("must be at most {} bytes", limits.max_template_len),
                );
                continue;
            }
            match Template::parse(source) {
                Err(e) => r.add_at(path, Some(e.position), e.kind.to_string()),
                Ok(t) if t.levels().len() > limits.max_template_levels => r.add(
                    path,
                    format!("has more than {} levels", limits.max_template_levels),
                ),
                Ok(_) => {}
            }
        }
        check_description(&mut r, self.properties.description.as_deref(), limits);
        out
    }
}

impl Validate for PermissionBinding {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = report(ResourceKind::PermissionBinding, &self.name, &mut out);
        r.check("name", check_resource_name(&self.name, limits));
        if self.properties.client_group_name.is_empty() {
            r.add("properties.clientGroupName", "is required");
        }
        if self.properties.topic_space_name.is_empty() {
            r.add("properties.topicSpaceName", "is required");
        }
        check_description(&mut r, self.properties.description.as_deref(), limits);
        out
    }
}

impl Validate for NamespaceSettings {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut r = Report {
            resource: None,
            prefix: "",
            out: &mut out,
        };
        settings_problems(self, limits, &mut r);
        out
    }
}

fn settings_problems(s: &NamespaceSettings, limits: &Limits, r: &mut Report<'_>) {
    let sessions = s.maximum_client_sessions_per_authentication_name;
    if !(1..=limits.max_sessions_per_authentication_name).contains(&sessions) {
        r.add(
            "maximumClientSessionsPerAuthenticationName",
            format!(
                "must be 1 to {}",
                limits.max_sessions_per_authentication_name
            ),
        );
    }
    if !(1..=limits.max_session_expiry_hours).contains(&s.maximum_session_expiry_in_hours) {
        r.add(
            "maximumSessionExpiryInHours",
            format!("must be 1 to {}", limits.max_session_expiry_hours),
        );
    }
    client_authentication_problems(&s.client_authentication, limits, r);
}

fn client_authentication_problems(a: &ClientAuthentication, limits: &Limits, r: &mut Report<'_>) {
    let base = "clientAuthentication";
    let sources = &a.alternative_authentication_name_sources;
    for (i, source) in sources.iter().enumerate() {
        if sources[..i].contains(source) {
            r.add(
                format_args!("{base}.alternativeAuthenticationNameSources[{i}]"),
                "is listed twice",
            );
        }
    }
    if let Some(jwt) = &a.custom_jwt_authentication {
        jwt_problems(jwt, limits, r);
    }
    if let Some(hook) = &a.webhook_authentication {
        webhook_problems(hook, limits, r);
    }
}

fn jwt_problems(jwt: &CustomJwtAuthentication, limits: &Limits, r: &mut Report<'_>) {
    let base = "clientAuthentication.customJwtAuthentication";
    if jwt.token_issuer.trim().is_empty() {
        r.add(format_args!("{base}.tokenIssuer"), "is required");
    }
    let certs = &jwt.encoded_issuer_certificates;
    check_count(
        r,
        &format!("{base}.encodedIssuerCertificates"),
        certs.len(),
        limits.max_issuer_certificates,
    );
    for (i, cert) in certs.iter().enumerate() {
        let path = format!("{base}.encodedIssuerCertificates[{i}]");
        if cert.kid.is_empty() {
            r.add(format_args!("{path}.kid"), "is required");
        } else if certs[..i].iter().any(|c| c.kid == cert.kid) {
            r.add(
                format_args!("{path}.kid"),
                format!("`{}` is used twice", cert.kid),
            );
        }
        r.check(
            format_args!("{path}.encodedCertificate"),
            check_pem_certificate(&cert.encoded_certificate, limits),
        );
    }
    for (i, aud) in jwt.audiences.iter().enumerate() {
        if aud.trim().is_empty() {
            r.add(format_args!("{base}.audiences[{i}]"), "must not be empty");
        }
    }
    match &jwt.jwks_url {
        Some(url) => r.check(format_args!("{base}.jwksUrl"), check_url(url, limits)),
        None if certs.is_empty() => r.add(
            base,
            "needs encodedIssuerCertificates or jwksUrl to verify token signatures",
        ),
        None => {}
    }
}

fn webhook_problems(hook: &WebhookAuthentication, limits: &Limits, r: &mut Report<'_>) {
    let base = "clientAuthentication.webhookAuthentication";
    r.check(
        format_args!("{base}.endpointUrl"),
        check_url(&hook.endpoint_url, limits),
    );
    if let Some(timeout) = hook.timeout {
        if timeout.is_zero() || timeout > limits.max_webhook_timeout {
            r.add(
                format_args!("{base}.timeout"),
                format!(
                    "must be more than 0 and at most {:?}",
                    limits.max_webhook_timeout
                ),
            );
        }
    }
}

impl Validate for Resources {
    fn problems(&self, limits: &Limits) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut top = Report {
            resource: None,
            prefix: "",
            out: &mut out,
        };
        let (certs, clients) = (&self.ca_certificates, &self.clients);
        check_count(
            &mut top,
            "caCertificates",
            certs.len(),
            limits.max_ca_certificates,
        );
        check_count(&mut top, "clients", clients.len(), limits.max_clients);
        let mut settings = Report {
            resource: None,
            prefix: "topicSpacesConfiguration.",
            out: &mut out,
        };
        settings_problems(&self.settings, limits, &mut settings);
        for c in certs {
            out.extend(c.problems(limits));
        }
        duplicate_names(certs, ResourceKind::CaCertificate, ascii_key, &mut out);
        for c in clients {
            out.extend(c.problems(limits));
        }
        duplicate_names(clients, ResourceKind::Client, str::to_owned, &mut out);
        duplicate_authentication_names(clients, &mut out);
        out.extend(policy_problems(self, limits));
        out
    }
}

/// The problems in what a [`crate::Policy`] is compiled from: client groups, topic spaces
/// and permission bindings (clients, certificates and settings do not affect it, and a
/// namespace may have very many clients).
pub(crate) fn policy_problems(resources: &Resources, limits: &Limits) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut top = Report {
        resource: None,
        prefix: "",
        out: &mut out,
    };
    let groups = &resources.client_groups;
    let spaces = &resources.topic_spaces;
    let bindings = &resources.permission_bindings;
    check_count(
        &mut top,
        "clientGroups",
        groups.len(),
        limits.max_client_groups,
    );
    check_count(
        &mut top,
        "topicSpaces",
        spaces.len(),
        limits.max_topic_spaces,
    );
    check_count(
        &mut top,
        "permissionBindings",
        bindings.len(),
        limits.max_permission_bindings,
    );
    for g in groups {
        out.extend(g.problems(limits));
    }
    duplicate_names(groups, ResourceKind::ClientGroup, ascii_key, &mut out);
    for t in spaces {
        out.extend(t.problems(limits));
    }
    duplicate_names(spaces, ResourceKind::TopicSpace, ascii_key, &mut out);
    for b in bindings {
        out.extend(b.problems(limits));
    }
    duplicate_names(
        bindings,
        ResourceKind::PermissionBinding,
        ascii_key,
        &mut out,
    );
    dangling_bindings(resources, &mut out);
    out
}

/// Resource names other than client names are unique ignoring ASCII case.
fn ascii_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Flags each resource whose name (by `key`) an earlier one already has.
fn duplicate_names<P>(
    resources: &[crate::model::Resource<P>],
    kind: ResourceKind,
    key: impl Fn(&str) -> String,
    out: &mut Vec<Problem>,
) {
    let mut seen = HashMap::with_capacity(resources.len());
    for res in resources {
        if let Some(first) = seen.insert(key(&res.name), res.name.as_str()) {
            report(kind, &res.name, out)
                .add("name", format!("is already used by {kind} '{first}'"));
        }
    }
}

/// Authentication names are unique ignoring case (Event Grid), though kept as written.
fn duplicate_authentication_names(clients: &[Client], out: &mut Vec<Problem>) {
    let mut seen: HashMap<String, &str> = HashMap::with_capacity(clients.len());
    for c in clients {
        let name = c.authentication_name();
        if let Some(first) = seen.insert(fold_case(name), c.name.as_str()) {
            let path = if c.properties.authentication_name.is_some() {
                "properties.authenticationName"
            } else {
                "name"
            };
            report(ResourceKind::Client, &c.name, out).add(
                path,
                format!("authentication name '{name}' is already used by client '{first}' (compared ignoring case)"),
            );
        }
    }
}

fn dangling_bindings(resources: &Resources, out: &mut Vec<Problem>) {
    let groups: HashSet<String> = resources
        .client_groups
        .iter()
        .map(|g| g.name.to_ascii_lowercase())
        .chain([ALL_CLIENTS_GROUP.to_owned()])
        .collect();
    let spaces: HashSet<String> = resources
        .topic_spaces
        .iter()
        .map(|t| t.name.to_ascii_lowercase())
        .collect();
    for b in &resources.permission_bindings {
        let p = &b.properties;
        let mut r = report(ResourceKind::PermissionBinding, &b.name, out);
        if !p.client_group_name.is_empty()
            && !groups.contains(&p.client_group_name.to_ascii_lowercase())
        {
            r.add(
                "properties.clientGroupName",
                format!("no client group is named '{}'", p.client_group_name),
            );
        }
        if !p.topic_space_name.is_empty()
            && !spaces.contains(&p.topic_space_name.to_ascii_lowercase())
        {
            r.add(
                "properties.topicSpaceName",
                format!("no topic space is named '{}'", p.topic_space_name),
            );
        }
    }
}
