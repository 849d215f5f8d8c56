//! Scenario tests of the engine through in-memory connections and a fake clock.

mod authentication;
mod durability;
mod pubsub;
mod qos;
mod retained;
mod sessions;
mod will;
