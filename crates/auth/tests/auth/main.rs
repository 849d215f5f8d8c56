//! Authentication tests through the public API, one module per mechanism, with
//! certificates and keys generated at test time and HTTP servers on loopback.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Tests may panic on a broken fixture.

mod common;
mod jwt;
mod password;
mod selection;
mod webhook;
mod x509;
