//! Access control in the Event Grid model: clients, client groups (chosen by a query over
//! client attributes), topic spaces (sets of topic templates) and permission bindings, compiled
//! into an immutable [`Policy`] that answers "may this client publish/subscribe here?".
//! Pure: no I/O, no async, no clock.
//!
//! ```
//! use gridmq_access::{ClientIdentity, Limits, Policy, Resources};
//!
//! let resources: Resources = serde_json::from_str(r#"{
//!   "clientGroups": [{ "name": "machines", "properties": { "query": "attributes.type = 'machine'" } }],
//!   "topicSpaces": [{ "name": "telemetry",
//!     "properties": { "topicTemplates": ["machines/${client.authenticationName}/telemetry/#"] } }],
//!   "permissionBindings": [{ "name": "machines-publish", "properties": {
//!     "clientGroupName": "machines", "topicSpaceName": "telemetry", "permission": "Publisher" } }]
//! }"#)?;
//! let policy = Policy::compile(&resources, &Limits::default())?;
//! let rights = policy.rights_for(&ClientIdentity::new("m1").with_attribute("type", "machine"));
//! assert!(rights.may_publish("machines/m1/telemetry/temp"));
//! assert!(!rights.may_publish("machines/m2/telemetry/temp"));
//! assert!(!rights.may_subscribe("machines/m1/telemetry/#"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`model`]: the resources with Event Grid's JSON shape, and the [`Resources`] set.
//! - [`limits`]: [`Limits`], the configurable bounds validation enforces.
//! - [`validate`]: [`Validate`], reporting every problem with its field path at once.
//! - [`query`]: the client group query language: parser, printer, evaluator.
//! - [`template`]: topic templates: parser and per-client substitution.
//! - [`identity`]: [`ClientIdentity`], what the auth layer hands over.
//! - [`policy`]: [`Policy`] and the per-session [`ClientRights`].
//! - `topic_set`: the filter tree behind [`ClientRights`]' checks.
//! - `text`: case-insensitive comparison and JSON sizes.

pub mod identity;
pub mod limits;
pub mod model;
pub mod policy;
pub mod query;
pub mod template;
mod text;
mod topic_set;
pub mod validate;

pub use identity::{AttributeValue, ClientIdentity};
pub use limits::Limits;
pub use model::{
    ALL_CLIENTS_GROUP, AlternativeAuthenticationNameSource, CaCertificate, CaCertificateProperties,
    Client, ClientAuthentication, ClientCertificateAuthentication, ClientGroup,
    ClientGroupProperties, ClientProperties, ClientState, CustomJwtAuthentication,
    IssuerCertificate, NamespaceSettings, PasswordHash, Permission, PermissionBinding,
    PermissionBindingProperties, Resource, Resources, TopicSpace, TopicSpaceProperties,
    ValidationScheme, WebhookAuthentication,
};
pub use policy::{ClientRights, Policy};
pub use query::{Query, QueryError};
pub use template::{Template, TemplateError};
pub use validate::{Problem, ResourceKind, ResourceRef, Validate, ValidationError};
