//! Access control in the Event Grid model: clients, client groups (chosen by a query over
//! client attributes), topic spaces (sets of topic templates) and permission bindings, compiled
//! into an immutable [`Policy`] that answers "may this client publish/subscribe here?".
//! Pure: no I/O, no async, no clock.
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
