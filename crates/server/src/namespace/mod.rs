//! The namespace: Event Grid's identity and access model in the running broker.
//!
//! [`Namespace`] keeps the current [`State`] (resources, compiled policy, authenticator)
//! behind an `ArcSwap`; connections read it without locks. A change (management API,
//! `gridmq apply`, the configuration at start) builds and validates a whole new state
//! under one writer lock, persists it, swaps it in, and judges every live session against
//! it ([`sessions`]).
//!
//! In open mode the namespace still holds resources (so they can be prepared before
//! switching), but connections are neither authenticated nor authorized.
//!
//! # Layout
//! - [`admission`]: CONNECT -> identity, owner, session limits, rights, will check; AUTH.
//! - `bearer`: bearer tokens of HTTP requests -> identity and rights, cached.
//! - `sessions`: the live sessions and how changes reach them.
//! - `authorizer`: the engine `Authorizer` of one session.
//! - `state`: one immutable version of the namespace.
//! - `document`: JSON bodies and documents to typed resources.
//! - `set`: lookups, pages and edits of a resource set.
//! - `store`: the state file.
//! - [`management`]: the management API's service.

pub(crate) mod admission;
mod authorizer;
pub(crate) mod bearer;
mod document;
pub(crate) mod management;
mod sessions;
pub(crate) mod set;
mod state;
mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gridmq_access::{Limits, Problem, ResourceKind, ResourceRef, Resources, Validate};
use gridmq_auth::{AuthOptions, AuthShared};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::config::NamespaceConfig;
use document::{Document, PasswordInput, Typed};
use sessions::LiveSessions;
use set::Upsert;
use state::{Builder, State};
use store::Store;

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamespaceError {
    /// No such resource.
    NotFound(ResourceKind, String),
    /// The request or the set it would make is invalid; every problem is listed.
    Invalid(Vec<Problem>),
    /// Other resources stand in the way (a deleted group still bound, ...).
    Conflict(String, Vec<Problem>),
    /// Persisting or preparing failed inside; logged by whoever reports it.
    Internal(String),
}

/// Why the namespace could not start.
#[derive(Debug, thiserror::Error)]
#[error("namespace: {}", .0.join("; "))]
pub struct NamespaceStartError(pub Vec<String>);

/// What a document application changed, by kind and name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ApplyReport {
    created: Vec<String>,
    updated: Vec<String>,
    deleted: Vec<String>,
    unchanged: usize,
    settings_changed: bool,
}

impl ApplyReport {
    fn to_json(&self) -> Value {
        json!({
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "settingsChanged": self.settings_changed,
        })
    }
}

/// The namespace of a running broker.
pub struct Namespace {
    enforced: bool,
    limits: Limits,
    options: AuthOptions,
    shared: Arc<AuthShared>,
    state: ArcSwap<State>,
    writer: tokio::sync::Mutex<()>,
    store: Store,
    sessions: Arc<LiveSessions>,
    bearers: bearer::BearerCache,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("enforced", &self.enforced)
            .field("version", &self.state.load().version)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// Loads the stored resources, applies the declared ones on top and builds the first
    /// state. Every problem is reported at once.
    pub(crate) async fn open(config: &NamespaceConfig) -> Result<Arc<Self>, NamespaceStartError> {
        let fail = |e: String| NamespaceStartError(vec![e]);
        let shared = Arc::new(AuthShared::new(&config.auth).map_err(|e| fail(e.to_string()))?);
        let store = config.state_file.clone().map_or(Store::Memory, Store::File);
        let stored = store.load().await.map_err(fail)?;
        let mut resources = stored.clone().unwrap_or_default();
        set::sort(&mut resources);
        let builder = Builder {
            limits: &config.limits,
            options: &config.auth,
            shared: &shared,
        };
        // The stored set alone must be valid: nothing silently disappears.
        let first = builder
            .build(resources, None)
            .map_err(|p| problems_error("the stored namespace state", &p))?;
        let namespace = Arc::new(Self {
            enforced: config.enabled,
            limits: config.limits.clone(),
            options: config.auth.clone(),
            shared,
            state: ArcSwap::from_pointee(first),
            writer: tokio::sync::Mutex::new(()),
            store,
            sessions: Arc::new(LiveSessions::default()),
            bearers: bearer::BearerCache::default(),
        });
        if let Some(document) = load_declared(config).map_err(NamespaceStartError)? {
            let report = namespace
                .apply_document(document, false)
                .await
                .map_err(|e| match e {
                    NamespaceError::Invalid(p) | NamespaceError::Conflict(_, p) => {
                        problems_error("the declared resources", &p)
                    }
                    NamespaceError::NotFound(..) | NamespaceError::Internal(_) => {
                        fail(format!("{e:?}"))
                    }
                })?;
            info!(
                created = report.created.len(),
                updated = report.updated.len(),
                unchanged = report.unchanged,
                "namespace: declared resources applied"
            );
        } else if stored.is_none() {
            // Nothing applied: still leave a state file behind for the next start.
            let state = namespace.state.load_full();
            namespace.store.save(&state.resources).await.map_err(fail)?;
        }
        Ok(namespace)
    }

    /// Logs the mode and what the namespace holds, once the broker listens.
    pub(crate) fn announce(&self, config: &NamespaceConfig) {
        let state = self.state.load();
        let r = &state.resources;
        if self.enforced {
            info!(
                clients = r.clients.len(),
                client_groups = r.client_groups.len(),
                topic_spaces = r.topic_spaces.len(),
                permission_bindings = r.permission_bindings.len(),
                ca_certificates = r.ca_certificates.len(),
                "namespace mode: clients must authenticate; publish and subscribe need permission bindings"
            );
        } else {
            warn!(
                "open mode: anonymous clients may publish and subscribe to every topic; \
                 turn on namespace mode with [namespace] enabled = true or `gridmq serve --namespace`"
            );
        }
        if config.state_file.is_none() {
            info!(
                "namespace: in-memory storage and no state_file: resources changed through the API last until the broker stops"
            );
        }
    }

    /// Whether clients are authenticated and authorized (namespace mode).
    pub(crate) fn enforced(&self) -> bool {
        self.enforced
    }

    fn builder(&self) -> Builder<'_> {
        Builder {
            limits: &self.limits,
            options: &self.options,
            shared: &self.shared,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> Arc<State> {
        self.state.load_full()
    }

    /// How many namespace sessions are connected.
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Edits a copy of the resources with `edit`, validates the result, persists it,
    /// swaps it in and judges live sessions. Changes are serialized.
    async fn commit<T>(
        &self,
        edit: impl FnOnce(&mut Resources) -> Result<T, NamespaceError>,
    ) -> Result<T, NamespaceError> {
        let _writer = self.writer.lock().await;
        let current = self.state.load_full();
        let mut next = current.resources.clone();
        let outcome = edit(&mut next)?;
        if next == current.resources {
            return Ok(outcome);
        }
        let state = self
            .builder()
            .build(next, Some(&current))
            .map_err(NamespaceError::Invalid)?;
        self.store
            .save(&state.resources)
            .await
            .map_err(NamespaceError::Internal)?;
        let state = Arc::new(state);
        self.state.store(state.clone());
        self.sessions.reconcile(&state).await;
        Ok(outcome)
    }

    /// Creates or replaces one resource from a body (flat or wrapped). Returns whether it
    /// was created, and the resource as stored.
    pub(crate) async fn put(
        &self,
        kind: ResourceKind,
        name: &str,
        body: serde_json::Map<String, Value>,
    ) -> Result<(bool, Value), NamespaceError> {
        let properties =
            document::properties_of(kind, name, body).map_err(NamespaceError::Invalid)?;
        let typed = document::typed(kind, name, properties).map_err(NamespaceError::Invalid)?;
        let typed = self.prepare(typed).await?;
        let upsert = self
            .commit(|resources| {
                check_immutable(resources, &typed)?;
                Ok(set::upsert(resources, typed))
            })
            .await?;
        let stored = set::find(&self.state().resources, kind, name).ok_or_else(|| {
            NamespaceError::Internal(format!("{kind} '{name}' vanished after a write"))
        })?;
        Ok((upsert == Upsert::Created, stored))
    }

    /// Deletes one resource.
    pub(crate) async fn delete(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), NamespaceError> {
        if kind == ResourceKind::ClientGroup
            && name.eq_ignore_ascii_case(gridmq_access::ALL_CLIENTS_GROUP)
        {
            return Err(NamespaceError::Invalid(vec![Problem {
                resource: reference(kind, name),
                path: "name".into(),
                position: None,
                message: "`$all` is built in: it cannot be changed or deleted".into(),
            }]));
        }
        let result = self
            .commit(|resources| {
                if set::remove(resources, kind, name) {
                    Ok(())
                } else {
                    Err(NamespaceError::NotFound(kind, name.to_owned()))
                }
            })
            .await;
        match result {
            // Removing a resource can only leave references to it behind.
            Err(NamespaceError::Invalid(problems)) => Err(NamespaceError::Conflict(
                format!("{kind} '{name}' is in use"),
                problems,
            )),
            other => other,
        }
    }

    /// The namespace resource: settings and mode.
    pub(crate) fn namespace_json(&self) -> Value {
        let state = self.state();
        let mut settings =
            serde_json::to_value(&state.resources.settings).unwrap_or_else(|_| json!({}));
        if let Some(map) = settings.as_object_mut() {
            let mode = if self.enforced { "Enabled" } else { "Disabled" };
            map.insert("state".into(), mode.into());
        }
        json!({ "name": "default", "properties": { document::SETTINGS_KEY: settings } })
    }

    /// Replaces the namespace settings.
    pub(crate) async fn put_settings(
        &self,
        body: serde_json::Map<String, Value>,
    ) -> Result<Value, NamespaceError> {
        let settings = document::settings_of(body).map_err(NamespaceError::Invalid)?;
        let problems = settings.problems(&self.limits);
        if !problems.is_empty() {
            return Err(NamespaceError::Invalid(prefixed_settings(problems)));
        }
        self.commit(|resources| {
            resources.settings = settings;
            Ok(())
        })
        .await?;
        Ok(self.namespace_json())
    }

    /// Applies a document: every resource created or replaced, the settings replaced if
    /// given, and with `prune` the resources it leaves out deleted. All or nothing.
    pub(crate) async fn apply(
        &self,
        document: Value,
        prune: bool,
    ) -> Result<Value, NamespaceError> {
        let document = document::document(document).map_err(NamespaceError::Invalid)?;
        Ok(self.apply_document(document, prune).await?.to_json())
    }

    async fn apply_document(
        &self,
        document: Document,
        prune: bool,
    ) -> Result<ApplyReport, NamespaceError> {
        let mut typed = Vec::with_capacity(document.resources.len());
        let mut problems = Vec::new();
        for resource in document.resources {
            match self.prepare(resource).await {
                Ok(t) => typed.push(t),
                Err(NamespaceError::Invalid(p)) => problems.extend(p),
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            return Err(NamespaceError::Invalid(problems));
        }
        let settings = document.settings;
        self.commit(move |resources| {
            let mut report = ApplyReport::default();
            let mut keep: HashMap<ResourceKind, Vec<String>> = HashMap::new();
            let mut problems = Vec::new();
            for t in typed {
                if let Err(NamespaceError::Invalid(p)) = check_immutable(resources, &t) {
                    problems.extend(p);
                    continue;
                }
                let label = format!("{}/{}", document::collection(t.kind()), t.name());
                keep.entry(t.kind())
                    .or_default()
                    .push(set::key(t.kind(), t.name()));
                match set::upsert(resources, t) {
                    Upsert::Created => report.created.push(label),
                    Upsert::Replaced => report.updated.push(label),
                    Upsert::Unchanged => report.unchanged += 1,
                }
            }
            if !problems.is_empty() {
                return Err(NamespaceError::Invalid(problems));
            }
            if let Some(settings) = settings {
                report.settings_changed = resources.settings != settings;
                resources.settings = settings;
            }
            if prune {
                for (collection, kind) in document::KINDS.iter().rev() {
                    let kept = keep.get(kind).map(Vec::as_slice).unwrap_or_default();
                    for name in set::names(resources, *kind) {
                        if !kept.contains(&set::key(*kind, &name)) {
                            set::remove(resources, *kind, &name);
                            report.deleted.push(format!("{collection}/{name}"));
                        }
                    }
                }
            }
            Ok(report)
        })
        .await
    }

    /// Completes a typed resource with what needs work or the current set: client
    /// passwords hashed (an unchanged password keeps its hash), kept hashes when a
    /// replacement names none, CA certificate times read from the certificate.
    async fn prepare(&self, typed: Typed) -> Result<Typed, NamespaceError> {
        match typed {
            Typed::Client(client, input) => self.prepare_client(client, input).await,
            Typed::CaCertificate(mut ca) => {
                let pem = ca.properties.encoded_certificate.clone();
                match certificate_times(&pem) {
                    Ok((issued, expires)) => {
                        ca.properties.issue_time_in_utc = Some(issued);
                        ca.properties.expiry_time_in_utc = Some(expires);
                        Ok(Typed::CaCertificate(ca))
                    }
                    Err(message) => Err(NamespaceError::Invalid(vec![Problem {
                        resource: reference(ResourceKind::CaCertificate, &ca.name),
                        path: "properties.encodedCertificate".into(),
                        position: None,
                        message,
                    }])),
                }
            }
            other => Ok(other),
        }
    }

    async fn prepare_client(
        &self,
        mut client: gridmq_access::Client,
        input: PasswordInput,
    ) -> Result<Typed, NamespaceError> {
        let existing = set::client(&self.state().resources, &client.name).cloned();
        let hashes = &mut client.properties.password_hashes;
        match input.password {
            Some(password) => {
                let max = self.options.max_password_len;
                if password.is_empty() || password.len() > max {
                    return Err(NamespaceError::Invalid(vec![Problem {
                        resource: reference(ResourceKind::Client, &client.name),
                        path: "properties.password".into(),
                        position: None,
                        message: format!("must be 1 to {max} bytes"),
                    }]));
                }
                let old = existing
                    .map(|c| c.properties.password_hashes)
                    .unwrap_or_default();
                let options = self.options.clone();
                let hash = tokio::task::spawn_blocking(move || {
                    let same = old
                        .into_iter()
                        .find(|h| gridmq_auth::verify_password(password.as_bytes(), h, &options));
                    match same {
                        Some(hash) => Ok(hash),
                        None => gridmq_auth::hash_password(password.as_bytes()),
                    }
                })
                .await
                .map_err(|e| NamespaceError::Internal(format!("password hashing stopped: {e}")))?
                .map_err(|e| NamespaceError::Internal(e.to_string()))?;
                if !hashes.contains(&hash) {
                    hashes.push(hash);
                }
            }
            None if !input.explicit_hashes => {
                if let Some(existing) = existing {
                    *hashes = existing.properties.password_hashes;
                }
            }
            None => {}
        }
        Ok(Typed::Client(client, PasswordInput::default()))
    }
}

/// An authentication name cannot change once the client exists (Event Grid's rule:
/// sessions and topics are keyed by it).
fn check_immutable(resources: &Resources, typed: &Typed) -> Result<(), NamespaceError> {
    let Typed::Client(client, _) = typed else {
        return Ok(());
    };
    match set::client(resources, &client.name) {
        Some(existing) if existing.authentication_name() != client.authentication_name() => {
            Err(NamespaceError::Invalid(vec![Problem {
                resource: reference(ResourceKind::Client, &client.name),
                path: "properties.authenticationName".into(),
                position: None,
                message: format!(
                    "cannot change after creation (it is '{}'); delete the client and create it again",
                    existing.authentication_name()
                ),
            }]))
        }
        _ => Ok(()),
    }
}

fn reference(kind: ResourceKind, name: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        kind,
        name: name.to_owned(),
    })
}

fn prefixed_settings(problems: Vec<Problem>) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|mut p| {
            p.path = format!("{}.{}", document::SETTINGS_KEY, p.path);
            p
        })
        .collect()
}

fn problems_error(what: &str, problems: &[Problem]) -> NamespaceStartError {
    NamespaceStartError(problems.iter().map(|p| format!("{what}: {p}")).collect())
}

/// The issue and expiry times of a PEM certificate, RFC 3339.
fn certificate_times(pem: &str) -> Result<(String, String), String> {
    let ders = gridmq_auth::certificate::pem_certificates(pem).map_err(|e| e.to_string())?;
    let [der] = ders.as_slice() else {
        return Err(format!(
            "must hold exactly one certificate, not {}",
            ders.len()
        ));
    };
    let cert = gridmq_auth::certificate::describe(der).map_err(|e| e.to_string())?;
    Ok((
        humantime::format_rfc3339_seconds(cert.not_before).to_string(),
        humantime::format_rfc3339_seconds(cert.not_after).to_string(),
    ))
}

/// Reads the declared resources: the `resources_file` (JSON, or TOML by its `.toml`
/// extension) or the inline `[namespace.resources]`.
pub(crate) fn load_declared(config: &NamespaceConfig) -> Result<Option<Document>, Vec<String>> {
    let Some((value, origin)) = declared(config)? else {
        return Ok(None);
    };
    document::document(value)
        .map(Some)
        .map_err(|problems| problems.iter().map(|p| format!("{origin}: {p}")).collect())
}

fn declared(config: &NamespaceConfig) -> Result<Option<(Value, String)>, Vec<String>> {
    Ok(match (&config.resources_file, &config.resources) {
        (Some(path), _) => Some((read_document(path)?, path.display().to_string())),
        (None, Some(inline)) => Some((inline.0.clone(), "namespace.resources".to_owned())),
        (None, None) => None,
    })
}

/// Checks the declared resources (the `resources_file` is read) for type and validation
/// problems, as `gridmq config check` reports them.
pub fn check_declared(config: &NamespaceConfig) -> Result<(), Vec<String>> {
    let Some((value, origin)) = declared(config)? else {
        return Ok(());
    };
    let problems = set::check_document(&value, &config.limits);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.iter().map(|p| format!("{origin}: {p}")).collect())
    }
}

/// Reads a resources document from a JSON or TOML file (by extension; JSON otherwise).
/// A gridmq configuration file works too: its `[namespace.resources]` is taken.
pub fn read_document(path: &Path) -> Result<Value, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let value: Value = if toml {
        toml::from_str::<Value>(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?
    } else {
        serde_json::from_str(&text).map_err(|e| vec![format!("{}: {e}", path.display())])?
    };
    Ok(match value.pointer("/namespace/resources") {
        Some(inner) => inner.clone(),
        None => value,
    })
}
