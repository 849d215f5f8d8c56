//! The broker core: sessions, routing, retained messages and wills, with no I/O.
//!
//! Nothing here reads a clock, touches a socket or needs an async runtime: time comes in
//! as `now`, bytes go out into caller-provided buffers, and cross-connection signals wake
//! plain [`std::task::Waker`]s. The server crate drives it; tests drive it directly.
//!
//! # Layout
//! - [`broker`]: the shared core ([`Broker`]) and the session lifecycle: claim,
//!   takeover, release, expiry, wills.
//! - [`connection`]: one client connection as a state machine ([`Connection`]).
//! - [`session`]: the state MQTT keeps per client id.
//! - [`router`]: subscriptions and fan-out; [`topic_tree`]: the index behind it.
//! - [`retained`]: retained messages; [`will`]: will messages.
//! - [`inbox`]: a session's bounded delivery queue.
//! - [`control`]: close requests and session hand-over between connections.
//! - [`registry`] (private): sessions by client id and offline timers.
//! - [`persist`]: the durability seam — change records, tickets, the `Persistence` trait.
//! - [`message`], [`config`], [`authz`], [`stats`].

pub mod authz;
pub mod broker;
pub mod config;
pub mod connection;
pub mod control;
mod durable;
pub mod inbox;
pub mod message;
pub mod persist;
mod registry;
pub mod retained;
pub mod router;
pub mod session;
pub mod stats;
mod submission;
pub mod topic_tree;
pub mod will;

pub use authz::{AllowAll, Authorizer};
pub use broker::{Broker, Claim, Claimed, ConnectPlan, PendingClaim, Refusal, RestoreReport};
pub use config::{EngineConfig, OverflowPolicy, SharedRedelivery};
pub use connection::{Connection, Ending, ReauthRequest};
pub use control::{ConnectionControl, Kick};
pub use durable::WallClock;
pub use message::{Delivery, Message, SessionId};
pub use stats::Stats;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
