//! AuthDomain's OAuth 2.0 client-credentials / OpenID Connect authorization server.
//!
//! Layers, from pure to effectful: [`oauth`] (request parsing, grant rules, errors) and
//! [`keys`] (signing, JWKS, key encryption) do no I/O; [`store`] is the database;
//! [`authority`] and [`registry`] join them into the service; [`http`], [`lambda`] and
//! [`management`] are the edges. See ARCHITECTURE.md.

pub mod authority;
pub mod http;
pub mod keys;
pub mod lambda;
pub mod management;
pub mod oauth;
pub mod registry;
pub mod settings;
pub mod store;
pub mod throttle;

pub use authority::Authority;
pub use settings::Settings;
