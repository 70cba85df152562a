//! Harnesses that start real services for tests, shared by every crate's test suite.
//!
//! A harness that cannot start its service panics with what is missing and how to install
//! it: tests never skip silently (under `CI=true` or anywhere else).

pub mod aws;
pub mod browser;
pub mod cross;
pub mod http_api;
pub mod idp;
pub mod issuer;
pub mod kube;
pub mod lambda;
pub mod lambda_emulator;
pub mod layout;
pub mod moto;
pub mod net;
pub mod postgres;
pub mod registry;

/// True when running under CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
