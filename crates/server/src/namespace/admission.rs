//! CONNECT in namespace mode: authenticate, name the session's owner and limits, register
//! the session, compute its rights, and check that it may publish its will. Then, while
//! it runs: re-authentication (AUTH 0x19) and the end of its credentials' validity.
//!
//! Refusals carry a short reason string for the client; what exactly failed goes to the
//! log, never a password or token.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gridmq_auth::{AuthFailure, AuthRequest};
use gridmq_codec::ReasonCode;
use gridmq_engine::{Authorizer, ConnectPlan, ConnectionControl, Kick, ReauthRequest, Refusal};
use gridmq_transport::PeerInfo;
use tracing::{debug, info};

use super::Namespace;
use super::sessions::{LiveSession, Login, Registration};

/// A namespace client admitted to connect; dropping it unregisters the session.
#[derive(Debug)]
pub(crate) struct Admission {
    registration: Registration,
}

impl Admission {
    /// The session's authorizer, for the engine.
    pub(crate) fn authorizer(&self) -> Arc<dyn Authorizer> {
        self.registration.session.authorizer.clone()
    }

    /// The live session.
    pub(crate) fn session(&self) -> &Arc<LiveSession> {
        &self.registration.session
    }
}

/// What a client is told when refused: the reason code's meaning, no details.
fn public_message(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::BadUserNameOrPassword => "bad user name or password",
        ReasonCode::BadAuthenticationMethod => "authentication method not supported",
        ReasonCode::ServerUnavailable => "authentication is unavailable; try again later",
        _ => "not authorized",
    }
}

/// Bounds a client-supplied value for the log.
fn shown(value: Option<&str>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) => {
            let cut: String = v.chars().take(64).collect();
            format!("{cut:?}")
        }
    }
}

impl Namespace {
    /// Admits a CONNECT: on success `plan` names the owner, session limit and expiry cap.
    pub(crate) async fn admit(
        &self,
        plan: &mut ConnectPlan,
        peer: &PeerInfo,
        control: &Arc<ConnectionControl>,
    ) -> Result<Admission, Refusal> {
        let login = Login {
            protocol: plan.connect.protocol,
            client_id: plan.client_id.to_string(),
            username: plan.connect.username.as_ref().map(ToString::to_string),
            peer: peer.clone(),
        };
        let login_state = self.state();
        let connect = &plan.connect;
        let props = &connect.properties;
        let mut request = AuthRequest::new(connect.protocol, &plan.client_id, peer);
        request.username = connect.username.as_deref();
        request.password = connect.password.as_deref();
        request.authentication_method = props.authentication_method.as_deref();
        request.authentication_data = props.authentication_data.as_deref();
        let authenticated = match login_state
            .authenticator
            .authenticate(&request, SystemTime::now())
            .await
        {
            Ok(authenticated) => authenticated,
            Err(failure) => return Err(self.refused(plan, peer, &failure)),
        };
        let settings = &login_state.resources.settings;
        plan.owner = Some(authenticated.identity.authentication_name.as_str().into());
        plan.max_sessions_per_owner =
            Some(settings.maximum_client_sessions_per_authentication_name as usize);
        plan.max_session_expiry = Some(
            settings
                .maximum_session_expiry_in_hours
                .saturating_mul(3600),
        );
        let method = authenticated.method;
        let name = authenticated.identity.authentication_name.clone();
        let current = self.state();
        let registration = self
            .sessions
            .register(
                control.clone(),
                login,
                authenticated,
                &login_state,
                &current,
            )
            .await
            .map_err(|why| {
                info!(authentication_name = %shown(Some(&name)), "refused: {why}");
                Refusal::new(
                    ReasonCode::NotAuthorized,
                    public_message(ReasonCode::NotAuthorized),
                )
            })?;
        if let Some(will) = &plan.connect.will {
            if !registration.session.authorizer.may_publish(&will.topic) {
                info!(
                    authentication_name = %shown(Some(&name)),
                    will_topic = %shown(Some(&will.topic)),
                    "refused: not authorized to publish the will to its topic"
                );
                return Err(Refusal::new(
                    ReasonCode::NotAuthorized,
                    "not authorized to publish the will message to its topic",
                ));
            }
        }
        debug!(authentication_name = %shown(Some(&name)), %method, "authenticated");
        Ok(Admission { registration })
    }

    fn refused(&self, plan: &ConnectPlan, peer: &PeerInfo, failure: &AuthFailure) -> Refusal {
        let props = &plan.connect.properties;
        info!(
            client_id = %shown(Some(&plan.client_id)),
            username = %shown(plan.connect.username.as_deref()),
            authentication_method = %shown(props.authentication_method.as_deref()),
            peer = %peer.remote_addr,
            reason = %failure.reason,
            "authentication failed: {}",
            failure.log_message
        );
        Refusal::new(failure.reason, public_message(failure.reason))
    }

    /// Checks a re-authentication request; `Ok` once the session took the new
    /// credentials, `Err` with the DISCONNECT to send otherwise.
    pub(crate) fn reauthenticate(
        self: &Arc<Self>,
        session: Arc<LiveSession>,
        request: ReauthRequest,
    ) -> impl Future<Output = Result<(), Kick>> + Send + 'static {
        let namespace = self.clone();
        async move {
            let state = namespace.state();
            let current = session.authenticated();
            let mut auth = session.login.request();
            auth.authentication_method = Some(request.method.as_str());
            auth.authentication_data = request.data.as_deref();
            let renewed = state
                .authenticator
                .reauthenticate(&current, &auth, SystemTime::now())
                .await;
            let kick = |reason, message: String| Kick { reason, message };
            match renewed {
                Ok(renewed) => namespace
                    .sessions
                    .reauthenticated(&session, renewed, &state)
                    .map_err(|why| kick(ReasonCode::NotAuthorized, why)),
                Err(failure) => {
                    info!(
                        client_id = %session.login.client_id,
                        reason = %failure.reason,
                        "re-authentication failed: {}",
                        failure.log_message
                    );
                    // DISCONNECT has no 0x86, 0x88 or 0x8C: Server busy for a service
                    // that failed, Not authorized for the rest.
                    let reason = if failure.reason == ReasonCode::ServerUnavailable {
                        ReasonCode::ServerBusy
                    } else {
                        ReasonCode::NotAuthorized
                    };
                    Err(kick(
                        reason,
                        format!(
                            "re-authentication failed: {}",
                            public_message(failure.reason)
                        ),
                    ))
                }
            }
        }
    }

    /// When `session`'s credentials run out (a token's `exp` plus the configured leeway,
    /// a webhook decision's `expiration`, a certificate's end of validity).
    pub(crate) fn expires_at(&self, session: &LiveSession) -> Option<SystemTime> {
        session.expires_at(self.options.jwt_leeway)
    }
}

/// How long until `at`, zero if it passed.
pub(crate) fn until(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}
