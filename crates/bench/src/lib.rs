//! `gridmq-bench`: an end-to-end MQTT load tool, cheap enough to run beside the broker it
//! measures on the same small machine.
//!
//! It speaks MQTT through `gridmq-codec` over raw tokio streams: publishers encode many
//! stamped PUBLISH packets into one buffer per write, subscribers read into large buffers
//! and pick out only the stamp, and nothing allocates per message. Each payload carries
//! its publisher, a sequence number and a send time, so one process counts loss,
//! duplicates and end-to-end latency exactly. Only loopback targets are accepted, and
//! every run ends by itself.
//!
//! # Layout
//! - [`cli`]: the command line, one subcommand per scenario.
//! - [`layout`]: topics and filters per scenario, and how many subscribers get each message.
//! - [`run`]: a message scenario from connect to summary; [`schedule`] is its timeline.
//! - [`publisher`] / [`subscriber`]: the two client loops; [`http_publisher`]: the HTTP
//!   Publish requester of the `http-publish` scenario.
//! - [`connections`]: the idle-connections scenario and the open-file limit.
//! - [`handshake`]: CONNECT and SUBSCRIBE through the codec.
//! - [`wire`]: hot-path framing of PUBLISH and acknowledgements.
//! - [`transport`]: loopback TCP and TLS connections, source addresses.
//! - [`payload`]: the stamp, the run clock and the measured window.
//! - [`accounting`]: loss and duplicate counting; [`latency`]: histograms.
//! - [`ratelimit`]: the token bucket that paces publishers and connects; [`timer`]: the
//!   sub-millisecond timer paced publishers sleep on.
//! - [`procstat`]: broker CPU and memory from `/proc`.
//! - [`report`]: JSON and text summaries.

pub mod accounting;
pub mod cli;
pub mod connections;
pub mod handshake;
pub mod http_publisher;
pub mod latency;
pub mod layout;
pub mod payload;
pub mod procstat;
pub mod publisher;
pub mod ratelimit;
pub mod report;
pub mod run;
pub mod schedule;
pub mod subscriber;
pub mod timer;
pub mod transport;
pub mod wire;
