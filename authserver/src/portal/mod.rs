//! The self-serve portal under `/portal`: people sign in with the company's OpenID Connect
//! provider (authorization code with PKCE, the portal a confidential client) and manage
//! their teams' resource servers, scopes and clients, the signing keys and the audit log.
//!
//! Server-rendered HTML (maud), assets embedded in the binary, no script inline. Every
//! change goes through the same [`crate::admin`] operations as the admin API with the
//! signed-in person as the [`Actor`](crate::admin::Actor), so there is one authorization
//! path. Layers: [`identity`] (groups to a role), the ID token checks in [`oidc`], the
//! [`Viewer`] and every family's `pages` are pure; `respond` (answers and error pages),
//! [`session`] and every family's handlers are the edges. A family is what people do:
//! `sign_in`, `overview`, `apis`, `clients`, `keys`, `audit`, each a handler module with
//! its pages beside it.

mod apis;
mod audit;
mod clients;
mod forms;
pub mod identity;
mod keys;
mod layout;
pub mod oidc;
mod overview;
mod respond;
pub mod session;
mod sign_in;
pub mod site;
mod viewer;

use axum::Router;
use axum::middleware;
use axum::routing::get;

pub use crate::settings::portal::{ClientSecret, OidcProvider, PortalSettings, SignIn};
pub use identity::role_for;
pub use site::Portal;
pub use viewer::Viewer;

use crate::http::state::AppState;

/// The portal's routes: one router per family of pages, behind the security headers and
/// the cross-origin check of [`respond::guard`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(overview::routes())
        .route("/portal/assets/{file}", get(respond::asset))
        .merge(sign_in::routes())
        .merge(apis::routes())
        .merge(clients::routes())
        .merge(keys::routes())
        .merge(audit::routes())
        .layer(middleware::from_fn(respond::guard))
}
