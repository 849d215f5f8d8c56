//! [`Authenticator`]: an immutable view of the namespace's authentication resources that
//! decides who a connecting client is.
//!
//! # Choosing the mechanism
//! One mechanism decides each CONNECT; the first rule that applies picks it:
//! 1. An Authentication Method (v5): `CUSTOM-JWT` / `OAUTH2-JWT` with custom JWT configured
//!    -> JWT from Authentication Data; any other method -> the webhook if configured, else
//!    0x8C.
//! 2. A client certificate, an authentication name (User Name, else the alternative name
//!    sources) naming a registered client, and that client has
//!    `clientCertificateAuthentication` (or no password hashes, for Event Grid's default
//!    Subject scheme) -> X.509.
//! 3. A v3.1.x Password shaped like a JWT with custom JWT configured -> JWT.
//! 4. A Password and a registered client with password hashes -> password.
//! 5. The webhook, if configured, for everything else (unknown names, no credentials).
//! 6. Otherwise refused: 0x86 when a password was given (after the same argon2 work as a
//!    wrong password), else 0x87.
//!
//! A mechanism that applies is final: a client whose certificate fails is not retried
//! with its password or the webhook. A disabled client resource blocks its authentication
//! name whatever the mechanism; it is checked after the credentials, so only a client with
//! valid credentials learns of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use gridmq_access::{
    AlternativeAuthenticationNameSource, ClientCertificateAuthentication, ClientIdentity,
    ClientState, Resources, ValidationScheme,
};
use gridmq_transport::{ClientCertificate, PeerInfo, TlsInfo};

use crate::error::BuildError;
use crate::jwt::{self, JwtSettings, Token, normalize_audience};
use crate::keys::{self, KeySet, VerifyKey};
use crate::options::AuthOptions;
use crate::outcome::{AuthFailure, Authenticated, JwtCarrier, Method, quoted};
use crate::password::{self, StoredHash};
use crate::request::AuthRequest;
use crate::shared::AuthShared;
use crate::text::{eq_ignore_case, fold_case};
use crate::webhook::{self, WebhookSettings};
use crate::x509::{self, CaStore};

/// Longest Authentication Method name accepted, in bytes.
const MAX_METHOD_LEN: usize = 256;

/// Decides who connecting clients are, from one version of the namespace's resources.
///
/// Immutable: build a new one when resources change (the server keeps it behind an
/// `ArcSwap`) and pass the same [`AuthShared`] so caches and connections survive.
#[derive(Debug)]
pub struct Authenticator {
    options: AuthOptions,
    shared: Arc<AuthShared>,
    /// Registered clients by case-folded authentication name.
    clients: HashMap<String, Arc<Registered>>,
    cas: CaStore,
    name_sources: Vec<AlternativeAuthenticationNameSource>,
    jwt: Option<Jwt>,
    webhook: Option<WebhookSettings>,
}

#[derive(Debug)]
struct Jwt {
    settings: JwtSettings,
    /// Keys from `encodedIssuerCertificates`, by `kid`.
    keys: KeySet,
}

/// A client resource, prepared.
struct Registered {
    name: String,
    identity: ClientIdentity,
    enabled: bool,
    certificate: Option<ClientCertificateAuthentication>,
    hashes: Arc<[StoredHash]>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Registered {
    fn scheme(&self) -> ValidationScheme {
        self.certificate
            .as_ref()
            .map_or(ValidationScheme::default(), |c| c.validation_scheme)
    }

    /// Whether a presented certificate decides for this client (rule 2).
    fn uses_certificate(&self) -> bool {
        self.certificate.is_some() || self.hashes.is_empty()
    }
}

impl Authenticator {
    /// Prepares `resources` for authentication: parses CA and issuer certificates and
    /// password hashes. Reports every unusable one at once.
    pub fn new(
        resources: &Resources,
        options: AuthOptions,
        shared: Arc<AuthShared>,
    ) -> Result<Self, BuildError> {
        let mut problems = Vec::new();
        let cas = CaStore::build(&resources.ca_certificates, &mut problems);
        let clients = registered_clients(resources, &options, &mut problems);
        let auth = &resources.settings.client_authentication;
        let jwt = auth.custom_jwt_authentication.as_ref().map(|config| {
            let mut keys = KeySet::default();
            for (i, cert) in config.encoded_issuer_certificates.iter().enumerate() {
                match keys::from_certificate_pem(&cert.encoded_certificate) {
                    Ok(key) => keys.insert(cert.kid.clone(), key),
                    Err(e) => problems.push(format!(
                        "customJwtAuthentication.encodedIssuerCertificates[{i}]: {e}"
                    )),
                }
            }
            Jwt {
                settings: JwtSettings::new(config),
                keys,
            }
        });
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        Ok(Self {
            options,
            shared,
            clients,
            cas,
            name_sources: auth.alternative_authentication_name_sources.clone(),
            jwt,
            webhook: auth
                .webhook_authentication
                .as_ref()
                .map(WebhookSettings::new),
        })
    }

    /// The options this authenticator applies.
    pub fn options(&self) -> &AuthOptions {
        &self.options
    }

    /// The shared state (caches, HTTP client, counters).
    pub fn shared(&self) -> &Arc<AuthShared> {
        &self.shared
    }

    /// Decides who the client of one CONNECT is, at `now` (see the module doc for which
    /// mechanism applies). Every wait inside is bounded by a configured timeout.
    pub async fn authenticate(
        &self,
        request: &AuthRequest<'_>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        self.check_sizes(request)?;
        if let Some(method) = request.authentication_method {
            return self.by_method(method, request, now).await;
        }
        let tls = request
            .peer
            .tls
            .as_ref()
            .filter(|t| !t.client_chain.is_empty());
        let cert = match tls.and_then(x509::leaf_fields) {
            Some(Ok(cert)) => Some(cert),
            Some(Err(e)) => return Err(AuthFailure::not_authorized(e)),
            None => None,
        };
        let name = self.authentication_name(request.username, cert.as_deref());
        let client = name.as_deref().and_then(|n| self.client(n));
        if let (Some(tls), Some(cert), Some(client)) = (tls, cert.as_deref(), client) {
            if client.uses_certificate() {
                return self.certificate_login(client, tls, cert, now);
            }
        }
        if let Some(password) = request.password {
            if !request.protocol.is_v5() && self.jwt.is_some() && jwt::looks_like_jwt(password) {
                return self
                    .jwt_login(
                        password,
                        JwtCarrier::Password,
                        server_name(request.peer),
                        now,
                    )
                    .await;
            }
            if let Some(client) = client.filter(|c| !c.hashes.is_empty()) {
                return self.password_login(Some(client), password).await;
            }
        }
        if let Some(webhook) = &self.webhook {
            return self.webhook_login(webhook, request, now).await;
        }
        if let Some(password) = request.password {
            return self.password_login(None, password).await;
        }
        Err(AuthFailure::not_authorized(match (&cert, name, client) {
            (Some(_), None, _) => "the client certificate gives no authentication name (no \
                                   User Name, no alternative name source matched)"
                .to_owned(),
            (Some(_), Some(n), None) => format!("no client is registered as {}", quoted(&n)),
            (Some(_), Some(n), Some(_)) => format!(
                "client {} needs its password, not a certificate",
                quoted(&n)
            ),
            (None, _, _) => "no credentials (certificate, password, token) were presented".into(),
        }))
    }

    /// Checks a new token from an AUTH packet with reason 0x19 (Re-authenticate) for a
    /// session that `current` authenticated. The Authentication Method must be the
    /// session's, the token valid, and its `sub` the session's authentication name. On
    /// success the session takes the new identity (attributes may have changed) and expiry.
    pub async fn reauthenticate(
        &self,
        current: &Authenticated,
        request: &AuthRequest<'_>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        self.check_sizes(request)?;
        let Method::Jwt(carrier) = current.method else {
            return Err(AuthFailure::bad_method(format!(
                "re-authentication needs a JWT session, this one used {}",
                current.method
            )));
        };
        if carrier.method_name().is_none() || carrier.method_name() != request.authentication_method
        {
            return Err(AuthFailure::bad_method(
                "AUTH must carry the Authentication Method of the CONNECT",
            ));
        }
        let token = request.authentication_data.unwrap_or_default();
        let renewed = self
            .jwt_login(token, carrier, server_name(request.peer), now)
            .await?;
        if !eq_ignore_case(
            &renewed.identity.authentication_name,
            &current.identity.authentication_name,
        ) {
            return Err(AuthFailure::not_authorized(
                "the new token's sub is not the session's authentication name",
            ));
        }
        Ok(renewed)
    }

    fn check_sizes(&self, request: &AuthRequest<'_>) -> Result<(), AuthFailure> {
        let o = &self.options;
        if request
            .username
            .is_some_and(|u| u.len() > o.max_username_len)
        {
            return Err(AuthFailure::bad_credentials(format!(
                "User Name is longer than {} bytes",
                o.max_username_len
            )));
        }
        if request
            .password
            .is_some_and(|p| p.len() > o.max_password_len)
        {
            return Err(AuthFailure::bad_credentials(format!(
                "Password is longer than {} bytes",
                o.max_password_len
            )));
        }
        if request
            .authentication_method
            .is_some_and(|m| m.len() > MAX_METHOD_LEN)
        {
            return Err(AuthFailure::bad_method(
                "Authentication Method name is too long",
            ));
        }
        if request
            .authentication_data
            .is_some_and(|d| d.len() > o.max_authentication_data_len)
        {
            return Err(AuthFailure::not_authorized(format!(
                "Authentication Data is longer than {} bytes",
                o.max_authentication_data_len
            )));
        }
        let chain = request
            .peer
            .tls
            .as_ref()
            .map_or(0, |t| t.client_chain.len());
        if chain > o.max_chain_len {
            return Err(AuthFailure::not_authorized(format!(
                "client certificate chain has {chain} certificates, more than {}",
                o.max_chain_len
            )));
        }
        Ok(())
    }

    async fn by_method(
        &self,
        method: &str,
        request: &AuthRequest<'_>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        if let Some(carrier) = JwtCarrier::from_method(method).filter(|_| self.jwt.is_some()) {
            let token = request.authentication_data.unwrap_or_default();
            return self
                .jwt_login(token, carrier, server_name(request.peer), now)
                .await;
        }
        if let Some(webhook) = &self.webhook {
            return self.webhook_login(webhook, request, now).await;
        }
        Err(AuthFailure::bad_method(format!(
            "Authentication Method {} is not supported by this namespace",
            quoted(method)
        )))
    }

    fn client(&self, authentication_name: &str) -> Option<&Arc<Registered>> {
        self.clients.get(&fold_case(authentication_name))
    }

    /// The User Name, or else the first alternative name source the certificate has a
    /// value for (preferring, within that source, a value that names a registered client).
    fn authentication_name(
        &self,
        username: Option<&str>,
        cert: Option<&ClientCertificate>,
    ) -> Option<String> {
        if let Some(name) = username.filter(|u| !u.is_empty()) {
            return Some(name.to_owned());
        }
        let cert = cert?;
        self.name_sources.iter().find_map(|source| {
            let names = x509::source_names(*source, cert);
            let registered = names.iter().find(|n| self.client(n).is_some());
            registered.or(names.first()).cloned()
        })
    }

    fn certificate_login(
        &self,
        client: &Registered,
        tls: &TlsInfo,
        cert: &ClientCertificate,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        let refuse = |why: &str| {
            AuthFailure::not_authorized(format!("client {}: {why}", quoted(&client.name)))
        };
        x509::check_validity(cert, now).map_err(|e| refuse(&e))?;
        let scheme = client.scheme();
        if scheme == ValidationScheme::ThumbprintMatch {
            let allowed = client
                .certificate
                .as_ref()
                .map(|c| c.allowed_thumbprints.as_slice())
                .unwrap_or_default();
            let leaf = tls
                .client_chain
                .first()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if !x509::thumbprint_allowed(leaf, allowed) {
                return Err(refuse("certificate thumbprint is not an allowed one"));
            }
        } else {
            self.cas
                .verify(&tls.client_chain, now)
                .map_err(|e| refuse(&e))?;
            if !x509::field_matches(scheme, cert, &client.identity.authentication_name) {
                return Err(refuse(&format!(
                    "certificate does not match the authentication name ({scheme:?})"
                )));
            }
        }
        if !client.enabled {
            return Err(refuse("client is disabled"));
        }
        Ok(Authenticated {
            identity: client.identity.clone(),
            client: Some(client.name.clone()),
            method: Method::Certificate(scheme),
            expires_at: Some(cert.not_after),
        })
    }

    /// Checks `password` against `client`'s hashes, or against a dummy hash when there is
    /// no such client, so both refusals cost the same.
    async fn password_login(
        &self,
        client: Option<&Arc<Registered>>,
        password: &[u8],
    ) -> Result<Authenticated, AuthFailure> {
        let client = client.filter(|c| !c.hashes.is_empty());
        let hashes = client.map_or_else(password::dummy, |c| c.hashes.clone());
        let slot = tokio::time::timeout(
            self.options.password_queue_timeout,
            self.shared.password_slots.acquire(),
        )
        .await;
        let Ok(Ok(_slot)) = slot else {
            return Err(AuthFailure::unavailable(
                "too many password checks in progress",
            ));
        };
        let password = password.to_vec();
        let matched = tokio::task::spawn_blocking(move || password::verify_any(&password, &hashes))
            .await
            .map_err(|_| AuthFailure::unavailable("password check did not complete"))?;
        match client {
            Some(client) if matched => {
                if !client.enabled {
                    return Err(AuthFailure::not_authorized(format!(
                        "client {}: client is disabled",
                        quoted(&client.name)
                    )));
                }
                Ok(Authenticated {
                    identity: client.identity.clone(),
                    client: Some(client.name.clone()),
                    method: Method::Password,
                    expires_at: None,
                })
            }
            _ => Err(AuthFailure::bad_credentials("bad user name or password")),
        }
    }

    /// Authenticates the bearer token of an HTTP request (HTTP Publish, the retained
    /// API) as a JWT from the configured issuer, checked as for MQTT clients. The
    /// identity is `sub`, or else `oid` (Microsoft Entra's object id, which Event Grid
    /// uses for HTTP Publish); `host` (the request's Host, without port) stands in for
    /// the TLS server name among the default audiences.
    pub async fn authenticate_bearer(
        &self,
        token: &[u8],
        host: Option<&str>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        if token.len() > self.options.max_authentication_data_len {
            return Err(AuthFailure::not_authorized(format!(
                "bearer token is longer than {} bytes",
                self.options.max_authentication_data_len
            )));
        }
        self.jwt_login(token, JwtCarrier::HttpBearer, host, now)
            .await
    }

    async fn jwt_login(
        &self,
        token: &[u8],
        carrier: JwtCarrier,
        server_name: Option<&str>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        let Some(jwt) = &self.jwt else {
            return Err(AuthFailure::bad_method(
                "custom JWT authentication is not configured",
            ));
        };
        let token = jwt::parse(token)?;
        let subject_claims: &[&str] = if carrier == JwtCarrier::HttpBearer {
            &["sub", "oid"]
        } else {
            &["sub"]
        };
        let claims = jwt::check_claims(
            &token.claims,
            &jwt.settings,
            &self.audiences(jwt, server_name),
            now,
            self.options.jwt_leeway,
            self.options.max_authentication_name_len,
            subject_claims,
        )?;
        let key = self.jwt_key(jwt, &token, now).await?;
        if key.algorithm != token.algorithm {
            return Err(AuthFailure::not_authorized(format!(
                "JWT alg {} does not fit its key (a {} key)",
                keys::alg_name(token.algorithm),
                keys::alg_name(key.algorithm)
            )));
        }
        let verified = jsonwebtoken::crypto::verify(
            token.signature,
            token.signed.as_bytes(),
            &key.key,
            token.algorithm,
        )
        .unwrap_or(false);
        if !verified {
            return Err(AuthFailure::not_authorized("JWT signature does not verify"));
        }
        self.check_not_disabled(&claims.subject)?;
        Ok(Authenticated {
            identity: ClientIdentity {
                authentication_name: claims.subject,
                attributes: claims.attributes,
            },
            client: None,
            method: Method::Jwt(carrier),
            expires_at: Some(claims.expires_at),
        })
    }

    /// Accepted audiences: the namespace's, else the broker's host names and the server
    /// name the client asked for (TLS SNI, or an HTTP request's Host).
    fn audiences(&self, jwt: &Jwt, server_name: Option<&str>) -> Vec<String> {
        if !jwt.settings.audiences.is_empty() {
            return jwt.settings.audiences.clone();
        }
        self.options
            .default_audiences
            .iter()
            .map(String::as_str)
            .chain(server_name)
            .map(normalize_audience)
            .collect()
    }

    /// The key for `token`: an uploaded issuer certificate with its `kid`, else the JWKS.
    /// Without a `kid`, the only configured key.
    async fn jwt_key(
        &self,
        jwt: &Jwt,
        token: &Token<'_>,
        now: SystemTime,
    ) -> Result<Arc<VerifyKey>, AuthFailure> {
        let kid = token.kid.as_deref();
        let uploaded = match kid {
            Some(k) => jwt.keys.get(k),
            None if jwt.settings.jwks_url.is_none() => jwt.keys.single(),
            None => None,
        };
        if let Some(key) = uploaded {
            return Ok(key.clone());
        }
        let unknown = || match kid {
            Some(k) => AuthFailure::not_authorized(format!("JWT kid {} is unknown", quoted(k))),
            None => AuthFailure::not_authorized("JWT has no kid and several keys are configured"),
        };
        let Some(url) = &jwt.settings.jwks_url else {
            return Err(unknown());
        };
        if kid.is_none() && jwt.keys.len() > 0 {
            return Err(unknown());
        }
        let fetched = self
            .shared
            .jwks
            .keys(&self.shared.http, url, kid, now, &self.options)
            .await
            .map_err(|e| AuthFailure::unavailable(format!("JWKS unavailable: {e}")))?;
        let key = match kid {
            Some(k) => fetched.get(k),
            None => fetched.single(),
        };
        key.cloned().ok_or_else(unknown)
    }

    async fn webhook_login(
        &self,
        webhook: &WebhookSettings,
        request: &AuthRequest<'_>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthFailure> {
        let key = webhook::cache_key(&webhook.url, request);
        if let Some(hit) = self.shared.webhook_cache.get(&key, now) {
            self.check_not_disabled(&hit.identity.authentication_name)?;
            return Ok(hit);
        }
        let slot = tokio::time::timeout(webhook.timeout, self.shared.webhook_slots.acquire()).await;
        let Ok(Ok(_slot)) = slot else {
            return Err(AuthFailure::unavailable(
                "too many webhook requests in flight",
            ));
        };
        self.shared
            .webhook_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = webhook::call(
            &self.shared.http,
            webhook,
            webhook::body(request),
            self.options.webhook_max_response_bytes,
        )
        .await
        .map_err(|e| AuthFailure::unavailable(format!("webhook {e}")))?;
        let decision = webhook::decide(&answer, now, self.options.max_authentication_name_len)?;
        self.shared.webhook_cache.put(key, &decision, now);
        self.check_not_disabled(&decision.identity.authentication_name)?;
        Ok(decision)
    }

    fn check_not_disabled(&self, authentication_name: &str) -> Result<(), AuthFailure> {
        match self.client(authentication_name) {
            Some(client) if !client.enabled => Err(AuthFailure::not_authorized(format!(
                "client {} is disabled",
                quoted(&client.name)
            ))),
            _ => Ok(()),
        }
    }
}

fn registered_clients(
    resources: &Resources,
    options: &AuthOptions,
    problems: &mut Vec<String>,
) -> HashMap<String, Arc<Registered>> {
    let mut clients = HashMap::with_capacity(resources.clients.len());
    for client in &resources.clients {
        let mut hashes = Vec::new();
        for (i, phc) in client.properties.password_hashes.iter().enumerate() {
            match StoredHash::parse(phc.as_str(), options) {
                Ok(h) => hashes.push(h),
                Err(e) => {
                    problems.push(format!("clients/{}: passwordHashes[{i}]: {e}", client.name))
                }
            }
        }
        let key = fold_case(client.authentication_name());
        if clients.contains_key(&key) {
            problems.push(format!(
                "clients/{}: authentication name {} is already taken",
                client.name,
                quoted(client.authentication_name())
            ));
            continue;
        }
        let registered = Registered {
            name: client.name.clone(),
            identity: client.identity(),
            enabled: client.properties.state == ClientState::Enabled,
            certificate: client.properties.client_certificate_authentication.clone(),
            hashes: hashes.into(),
        };
        clients.insert(key, Arc::new(registered));
    }
    clients
}

/// The TLS server name a client asked for, if any.
fn server_name(peer: &PeerInfo) -> Option<&str> {
    peer.tls.as_ref().and_then(|t| t.server_name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    /// The server keeps the authenticator behind an `ArcSwap` and awaits it inside spawned
    /// connection tasks.
    #[test]
    fn authenticator_and_its_futures_are_thread_safe() {
        let options = AuthOptions::default();
        let shared = Arc::new(AuthShared::new(&options).unwrap());
        let auth = Authenticator::new(&Resources::default(), options, shared).unwrap();
        assert_send_sync(&auth);
        let peer = PeerInfo::plain("127.0.0.1:1".parse().unwrap(), Arc::from("test"));
        let request = AuthRequest::new(gridmq_codec::ProtocolVersion::V5, "c", &peer);
        let now = SystemTime::now();
        assert_send(auth.authenticate(&request, now));
        let current = Authenticated {
            identity: ClientIdentity::new("c"),
            client: None,
            method: Method::Password,
            expires_at: None,
        };
        assert_send(auth.reauthenticate(&current, &request, now));
    }
}
