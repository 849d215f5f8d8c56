//! The namespace resources, shaped like Event Grid's management API so that its JSON bodies
//! (camelCase properties under `properties`) can be used unchanged.
//!
//! These types hold what was sent, checked or not; [`crate::validate`] reports every problem
//! at once, and [`crate::Policy::compile`] only accepts a set that validates. Unknown JSON
//! properties (such as the read-only `provisioningState`) are ignored, as the management API
//! does, so a resource read back can be written again.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{AttributeValue, ClientIdentity};

/// A named resource: `{ "name": ..., "properties": { ... } }`.
///
/// The name is optional on the wire because a PUT carries it in the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource<P> {
    /// The resource name, unique per namespace and kind.
    #[serde(default)]
    pub name: String,
    /// The resource's properties.
    pub properties: P,
}

impl<P> Resource<P> {
    /// A resource with the given name and properties.
    pub fn new(name: impl Into<String>, properties: P) -> Self {
        Self {
            name: name.into(),
            properties,
        }
    }
}

/// A registered client (`namespaces/clients/{name}`).
pub type Client = Resource<ClientProperties>;
/// A CA certificate that client certificates may chain to (`namespaces/caCertificates/{name}`).
pub type CaCertificate = Resource<CaCertificateProperties>;
/// A client group: the clients whose identity satisfies a query (`namespaces/clientGroups/{name}`).
pub type ClientGroup = Resource<ClientGroupProperties>;
/// A topic space: a set of topic templates (`namespaces/topicSpaces/{name}`).
pub type TopicSpace = Resource<TopicSpaceProperties>;
/// A permission binding: a client group may publish or subscribe in a topic space.
pub type PermissionBinding = Resource<PermissionBindingProperties>;

/// The properties of a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientProperties {
    /// The name the client authenticates as; the resource name when absent. Unique per
    /// namespace ignoring case, but kept in its original case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_name: Option<String>,
    /// Attributes that client group queries and topic templates read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Whether the client may connect.
    #[serde(default)]
    pub state: ClientState,
    /// How a client certificate is matched to this client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_authentication: Option<ClientCertificateAuthentication>,
    /// Our addition: password credentials, as argon2 PHC strings (more than one for rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub password_hashes: Vec<PasswordHash>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Client {
    /// The authentication name: the explicit one, or else the resource name.
    pub fn authentication_name(&self) -> &str {
        self.properties
            .authentication_name
            .as_deref()
            .unwrap_or(&self.name)
    }

    /// The identity this client is authorized as.
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            authentication_name: self.authentication_name().to_owned(),
            attributes: self.properties.attributes.clone(),
        }
    }

    /// The certificate validation scheme, with Event Grid's default when none is set.
    pub fn validation_scheme(&self) -> ValidationScheme {
        self.properties
            .client_certificate_authentication
            .as_ref()
            .map_or(ValidationScheme::default(), |c| c.validation_scheme)
    }
}

/// Whether a client may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ClientState {
    /// The client may connect (the default).
    #[default]
    Enabled,
    /// The client is refused, and disconnected if online.
    Disabled,
}

/// How a client certificate is matched to a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificateAuthentication {
    /// Which certificate field must equal the authentication name.
    #[serde(default)]
    pub validation_scheme: ValidationScheme,
    /// Hex thumbprints a self-signed certificate must have; required exactly for
    /// [`ValidationScheme::ThumbprintMatch`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_thumbprints: Vec<String>,
}

/// The certificate field compared with the authentication name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ValidationScheme {
    /// The subject (common name) equals the authentication name (the default).
    #[default]
    SubjectMatchesAuthenticationName,
    /// A DNS subject alternative name equals it.
    DnsMatchesAuthenticationName,
    /// A URI subject alternative name equals it.
    UriMatchesAuthenticationName,
    /// An IP subject alternative name equals it.
    IpMatchesAuthenticationName,
    /// An email subject alternative name equals it.
    EmailMatchesAuthenticationName,
    /// The certificate's thumbprint is one of the allowed ones (self-signed certificates).
    ThumbprintMatch,
}

/// An argon2 password hash in PHC string format (`$argon2id$v=19$m=...$salt$hash`).
///
/// This crate stores and shape-checks the string; hashing and verifying belong to the auth
/// layer. `Debug` hides the value, which is fit for offline guessing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl PasswordHash {
    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The properties of a CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificateProperties {
    /// The certificate in PEM (`-----BEGIN CERTIFICATE-----`).
    pub encoded_certificate: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Read-only, RFC 3339: filled in by the layer that parses the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_time_in_utc: Option<String>,
    /// Read-only, RFC 3339: filled in by the layer that parses the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time_in_utc: Option<String>,
}

/// The properties of a client group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientGroupProperties {
    /// The membership query (see [`crate::query`]).
    pub query: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The name of the built-in group that every client belongs to.
pub const ALL_CLIENTS_GROUP: &str = "$all";

impl ClientGroup {
    /// The built-in `$all` group, as listings show it. It cannot be created, changed or
    /// deleted; its empty query stands for "every client".
    pub fn builtin_all() -> Self {
        Self::new(
            ALL_CLIENTS_GROUP,
            ClientGroupProperties {
                query: String::new(),
                description: Some("All clients in the namespace".to_owned()),
            },
        )
    }

    /// Whether this is the built-in `$all` group (by name).
    pub fn is_builtin(&self) -> bool {
        self.name.eq_ignore_ascii_case(ALL_CLIENTS_GROUP)
    }
}

/// The properties of a topic space.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpaceProperties {
    /// Topic templates (see [`crate::template`]).
    pub topic_templates: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The properties of a permission binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionBindingProperties {
    /// The client group granted the permission (`$all` for everyone).
    pub client_group_name: String,
    /// The topic space the permission applies to.
    pub topic_space_name: String,
    /// What the group may do there.
    pub permission: Permission,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a permission binding grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// PUBLISH to topics the templates match.
    Publisher,
    /// SUBSCRIBE to filters the templates cover.
    Subscriber,
}

/// Namespace-wide MQTT settings, in the shape of Event Grid's `topicSpacesConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSettings {
    /// How many sessions (online or offline) one authentication name may hold.
    #[serde(default = "one")]
    pub maximum_client_sessions_per_authentication_name: u32,
    /// The longest session expiry the broker grants, in hours.
    #[serde(default = "one")]
    pub maximum_session_expiry_in_hours: u32,
    /// Where authentication names and identities come from.
    #[serde(default)]
    pub client_authentication: ClientAuthentication,
}

fn one() -> u32 {
    1
}

impl Default for NamespaceSettings {
    fn default() -> Self {
        Self {
            maximum_client_sessions_per_authentication_name: 1,
            maximum_session_expiry_in_hours: 1,
            client_authentication: ClientAuthentication::default(),
        }
    }
}

/// How clients authenticate, beyond registered clients.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAuthentication {
    /// Certificate fields tried in order for the authentication name when CONNECT has no
    /// user name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternative_authentication_name_sources: Vec<AlternativeAuthenticationNameSource>,
    /// JWTs from an external issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_jwt_authentication: Option<CustomJwtAuthentication>,
    /// An HTTP endpoint that decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_authentication: Option<WebhookAuthentication>,
}

/// A client certificate field that can supply the authentication name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlternativeAuthenticationNameSource {
    /// The subject.
    ClientCertificateSubject,
    /// A DNS subject alternative name.
    ClientCertificateDns,
    /// A URI subject alternative name.
    ClientCertificateUri,
    /// An IP subject alternative name.
    ClientCertificateIp,
    /// An email subject alternative name.
    ClientCertificateEmail,
}

/// JWT authentication with an external issuer (Event Grid's "custom JWT").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomJwtAuthentication {
    /// The `iss` claim tokens must carry.
    pub token_issuer: String,
    /// Uploaded signing certificates, selected by the token's `kid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoded_issuer_certificates: Vec<IssuerCertificate>,
    /// Our addition: accepted `aud` values; the broker's host names when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Our addition: a JWKS document to take signing keys from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

/// One uploaded JWT signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerCertificate {
    /// The key id tokens name in their header.
    pub kid: String,
    /// The certificate in PEM.
    pub encoded_certificate: String,
}

/// Authentication delegated to an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAuthentication {
    /// Where CONNECT details are POSTed.
    pub endpoint_url: String,
    /// Our addition: how long to wait for an answer ("5s"); see [`Self::DEFAULT_TIMEOUT`].
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl WebhookAuthentication {
    /// Event Grid asks webhooks to answer within about five seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// The configured timeout, or the default.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }
}

/// Every access-control resource of a namespace, plus its MQTT settings.
///
/// The built-in `$all` group is implicit: it need not (and must not differ from
/// [`ClientGroup::builtin_all`] if it does) appear in `client_groups`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resources {
    /// Registered CA certificates.
    pub ca_certificates: Vec<CaCertificate>,
    /// Registered clients.
    pub clients: Vec<Client>,
    /// Client groups other than `$all`.
    pub client_groups: Vec<ClientGroup>,
    /// Topic spaces.
    pub topic_spaces: Vec<TopicSpace>,
    /// Permission bindings.
    pub permission_bindings: Vec<PermissionBinding>,
    /// Namespace settings.
    #[serde(rename = "topicSpacesConfiguration")]
    pub settings: NamespaceSettings,
}

impl Resources {
    /// The client group named `name` (ASCII case ignored), including the built-in `$all`.
    pub fn client_group(&self, name: &str) -> Option<ClientGroup> {
        if name.eq_ignore_ascii_case(ALL_CLIENTS_GROUP) {
            return Some(ClientGroup::builtin_all());
        }
        self.client_groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// The topic space named `name` (ASCII case ignored).
    pub fn topic_space(&self, name: &str) -> Option<&TopicSpace> {
        self.topic_spaces
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The client with the given authentication name (compared ignoring case).
    pub fn client_by_authentication_name(&self, name: &str) -> Option<&Client> {
        self.clients
            .iter()
            .find(|c| crate::text::eq_ignore_case(c.authentication_name(), name))
    }
}
