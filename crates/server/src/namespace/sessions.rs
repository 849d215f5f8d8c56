//! The namespace's view of its connected clients: who each is, what it may do, and how to
//! reach it. After every change to the resources each live session is judged against the
//! new state:
//!
//! - its client resource deleted or disabled, its credentials changed, or (for
//!   certificate logins, once a CA certificate was removed or replaced) its certificate
//!   no longer verifying: disconnected with Not authorized (0x87) and a reason string;
//! - its rights narrowed (some topic it could use is no longer allowed): disconnected the
//!   same way, so that nothing it subscribed to keeps flowing;
//! - its rights unchanged or only grown: the new rights are swapped in, and it stays.
//!
//! A session registers before it claims its MQTT session and is judged once against the
//! state of that moment, so a change that lands while it authenticates is not missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use gridmq_access::{
    Client, ClientCertificateAuthentication, ClientIdentity, ClientRights, ClientState,
    PasswordHash,
};
use gridmq_auth::{AuthRequest, Authenticated, Method};
use gridmq_codec::{ProtocolVersion, ReasonCode};
use gridmq_engine::ConnectionControl;
use gridmq_transport::PeerInfo;
use parking_lot::Mutex;
use tracing::info;

use super::authorizer::SessionAuthorizer;
use super::set;
use super::state::State;

/// What a session logged in with, kept to check its certificate again and to
/// re-authenticate it.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) protocol: ProtocolVersion,
    pub(crate) client_id: String,
    pub(crate) username: Option<String>,
    pub(crate) peer: PeerInfo,
}

impl Login {
    /// An authentication request with the login's fields and no secret.
    pub(crate) fn request(&self) -> AuthRequest<'_> {
        let mut request = AuthRequest::new(self.protocol, &self.client_id, &self.peer);
        request.username = self.username.as_deref();
        request
    }
}

/// A client resource's credential fields; a session ends when those it logged in with
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Credentials {
    certificate: Option<ClientCertificateAuthentication>,
    hashes: Vec<PasswordHash>,
}

impl Credentials {
    fn of(client: &Client) -> Self {
        Self {
            certificate: client.properties.client_certificate_authentication.clone(),
            hashes: client.properties.password_hashes.clone(),
        }
    }

    /// Whether a change from `self` to `now` affects a session that used `method`.
    fn changed_for(&self, now: &Credentials, method: Method) -> bool {
        match method {
            Method::Password => self.hashes != now.hashes,
            Method::Certificate(_) => self.certificate != now.certificate,
            Method::Jwt(_) | Method::Webhook => false,
        }
    }
}

/// One connected namespace client.
#[derive(Debug)]
pub(crate) struct LiveSession {
    id: u64,
    pub(crate) login: Login,
    pub(crate) control: Arc<ConnectionControl>,
    pub(crate) authorizer: Arc<SessionAuthorizer>,
    auth: Mutex<AuthState>,
}

#[derive(Debug)]
struct AuthState {
    authenticated: Authenticated,
    /// The client resource's credentials when the session logged in.
    credentials: Option<Credentials>,
    /// The state version this session was last judged against.
    version: u64,
    ca_generation: u64,
    policy_generation: u64,
    closed: bool,
}

impl LiveSession {
    /// Who the session is now.
    pub(crate) fn authenticated(&self) -> Authenticated {
        self.auth.lock().authenticated.clone()
    }

    /// When the session's credentials run out, with `jwt_leeway` added for tokens.
    pub(crate) fn expires_at(&self, jwt_leeway: Duration) -> Option<SystemTime> {
        let auth = self.auth.lock();
        let at = auth.authenticated.expires_at?;
        Some(match auth.authenticated.method {
            Method::Jwt(_) => at + jwt_leeway,
            _ => at,
        })
    }

    /// Disconnects the session with Not authorized, once.
    fn close(&self, auth: &mut AuthState, message: String) {
        if auth.closed {
            return;
        }
        auth.closed = true;
        self.authorizer.revoke();
        info!(
            client_id = %self.login.client_id,
            authentication_name = %auth.authenticated.identity.authentication_name,
            "namespace change: disconnecting: {message}"
        );
        self.control.kick(ReasonCode::NotAuthorized, message);
    }
}

/// The verdict on a session for one state.
enum Verdict {
    /// Keep it, as this identity.
    Keep(ClientIdentity, Option<Credentials>),
    /// Disconnect it, for this reason.
    Close(String),
}

/// Every live namespace session.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    map: Mutex<HashMap<u64, Arc<LiveSession>>>,
    next: AtomicU64,
}

/// Removes its session from the registry when dropped (the connection ended).
#[derive(Debug)]
pub(crate) struct Registration {
    sessions: Arc<LiveSessions>,
    pub(crate) session: Arc<LiveSession>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.map.lock().remove(&self.session.id);
    }
}

impl LiveSessions {
    /// How many sessions are registered.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Registers a session that `login_state` authenticated, then judges it against
    /// `current` (the state after registering). `Err` carries why it may not connect.
    pub(crate) async fn register(
        self: &Arc<Self>,
        control: Arc<ConnectionControl>,
        login: Login,
        authenticated: Authenticated,
        login_state: &State,
        current: &State,
    ) -> Result<Registration, String> {
        let credentials = authenticated
            .client
            .as_deref()
            .and_then(|name| set::client(&login_state.resources, name))
            .map(Credentials::of);
        let session = Arc::new(LiveSession {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            login,
            control,
            authorizer: Arc::new(SessionAuthorizer::new(Arc::new(ClientRights::deny_all()))),
            auth: Mutex::new(AuthState {
                authenticated,
                credentials,
                version: 0,
                ca_generation: login_state.ca_generation,
                // Never a real generation: the first judgement computes the rights.
                policy_generation: u64::MAX,
                closed: false,
            }),
        });
        self.map.lock().insert(session.id, session.clone());
        let registration = Registration {
            sessions: self.clone(),
            session: session.clone(),
        };
        judge(&session, current).await;
        let auth = session.auth.lock();
        if auth.closed {
            return Err("the namespace changed while the client authenticated".into());
        }
        drop(auth);
        Ok(registration)
    }

    /// Judges every live session against `state` (see the module documentation).
    pub(crate) async fn reconcile(&self, state: &State) {
        let sessions: Vec<Arc<LiveSession>> = self.map.lock().values().cloned().collect();
        for session in sessions {
            judge(&session, state).await;
        }
    }

    /// Takes a session's new credentials from re-authentication: its identity and expiry
    /// change; rights that narrow end it. `Err` carries why.
    pub(crate) fn reauthenticated(
        &self,
        session: &LiveSession,
        renewed: Authenticated,
        state: &State,
    ) -> Result<(), String> {
        let mut auth = session.auth.lock();
        if auth.closed {
            return Err("the session is closing".into());
        }
        let rights = Arc::new(state.policy.rights_for(&renewed.identity));
        let current = session.authorizer.rights();
        auth.authenticated = renewed;
        if *rights == *current {
            return Ok(());
        }
        if rights.includes(&current) {
            session.authorizer.grow(rights);
            return Ok(());
        }
        let message = "the new credentials grant fewer permissions; connect again".to_owned();
        session.close(&mut auth, message.clone());
        Err(message)
    }
}

/// Judges one session against `state` and acts on the verdict.
async fn judge(session: &LiveSession, state: &State) {
    let (verdict, needs_check) = {
        let auth = session.auth.lock();
        if auth.closed || auth.version >= state.version {
            return;
        }
        let needs_check = matches!(auth.authenticated.method, Method::Certificate(_))
            && auth.ca_generation != state.ca_generation;
        (verdict(&auth, state), needs_check)
    };
    let verdict = match verdict {
        Verdict::Keep(..) if needs_check => {
            // A CA certificate was removed or replaced: does the chain still verify?
            let request = session.login.request();
            match state
                .authenticator
                .authenticate(&request, SystemTime::now())
                .await
            {
                Ok(_) => verdict_again(session, state),
                Err(failure) => Verdict::Close(format!(
                    "the client certificate is no longer accepted: {}",
                    failure.log_message
                )),
            }
        }
        verdict => verdict,
    };
    let mut auth = session.auth.lock();
    if auth.closed || auth.version >= state.version {
        return;
    }
    auth.version = state.version;
    auth.ca_generation = state.ca_generation;
    match verdict {
        Verdict::Close(message) => session.close(&mut auth, message),
        Verdict::Keep(identity, credentials) => {
            let identity_changed = identity != auth.authenticated.identity;
            auth.authenticated.identity = identity;
            if credentials.is_some() {
                auth.credentials = credentials;
            }
            if !identity_changed && auth.policy_generation == state.policy_generation {
                return;
            }
            auth.policy_generation = state.policy_generation;
            let rights = Arc::new(state.policy.rights_for(&auth.authenticated.identity));
            let current = session.authorizer.rights();
            if *rights == *current {
                return;
            }
            if rights.includes(&current) {
                session.authorizer.grow(rights);
            } else {
                session.close(
                    &mut auth,
                    "its permissions changed (client groups, topic spaces or permission bindings)"
                        .into(),
                );
            }
        }
    }
}

fn verdict_again(session: &LiveSession, state: &State) -> Verdict {
    verdict(&session.auth.lock(), state)
}

/// Whether the session's client resource still admits it, and as whom.
fn verdict(auth: &AuthState, state: &State) -> Verdict {
    let authenticated = &auth.authenticated;
    let Some(name) = &authenticated.client else {
        // A token or webhook identity: only a disabled client resource of that name
        // stops it.
        let blocked = state
            .resources
            .client_by_authentication_name(&authenticated.identity.authentication_name)
            .is_some_and(|c| c.properties.state == ClientState::Disabled);
        return if blocked {
            Verdict::Close("its client resource was disabled".into())
        } else {
            Verdict::Keep(authenticated.identity.clone(), None)
        };
    };
    let Some(client) = set::client(&state.resources, name) else {
        return Verdict::Close(format!("client '{name}' was deleted"));
    };
    if client.properties.state == ClientState::Disabled {
        return Verdict::Close(format!("client '{name}' was disabled"));
    }
    let now = Credentials::of(client);
    if auth
        .credentials
        .as_ref()
        .is_some_and(|then| then.changed_for(&now, authenticated.method))
    {
        return Verdict::Close(format!("the credentials of client '{name}' changed"));
    }
    Verdict::Keep(client.identity(), Some(now))
}
