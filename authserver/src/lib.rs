//! AuthDomain's OAuth 2.0 client-credentials / OpenID Connect authorization server.
//!
//! Layers, from pure to effectful: [`oauth`] (request parsing, grant rules, errors) and
//! [`keys`] (signing, JWKS, key encryption) do no I/O; [`store`] is the database;
//! [`authority`] is the service over it, with client authentication ([`client_auth`]),
//! tokens ([`token`]) and administration ([`admin`]) as its parts; [`http`], [`lambda`]
//! and the binary's `cli` are the edges. See ARCHITECTURE.md.

pub mod admin;
pub mod authority;
mod cached;
pub mod http;
pub mod ids;
pub mod jwks_client;
pub mod keys;
pub mod lambda;
pub mod oauth;
pub mod outbound;
pub mod portal;
pub mod read_model;
pub mod secrets_manager;
pub mod settings;
pub mod store;
pub mod throttle;

pub use authority::Authority;
pub use settings::Settings;
