//! The axum router: one module per endpoint family, the same router for the HTTP server
//! and for Lambda.

mod admin;
mod discovery;
mod error;
mod health;
mod token;

pub mod state;

pub use admin::ApiDoc;
pub use error::oauth_error_response;
pub use state::{AppState, MAX_BODY_BYTES, SourceAddress};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::authority::Authority;
use crate::portal::Portal;

/// Build the router. `metrics` enables `/metrics` (server mode).
pub fn router(authority: Arc<Authority>, metrics: Option<PrometheusHandle>) -> Router {
    let discovery = discovery::document(authority.settings());
    let portal = Arc::new(Portal::new(authority.settings()));
    let trusted: Arc<[ipnet::IpNet]> = authority.settings().trusted_proxies.clone().into();
    let state = AppState {
        authority,
        metrics,
        portal,
        discovery,
    };
    Router::new()
        .route("/oauth2/token", post(token::token))
        .route("/connect/token", post(token::token))
        .route("/oauth2/introspect", post(token::introspect))
        .route("/oauth2/revoke", post(token::revoke))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::discovery),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::discovery),
        )
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .nest("/admin/v1", admin::routes())
        .merge(crate::portal::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(trusted, track))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

/// Record request metrics and put the client's address into extensions (when not already
/// set by the Lambda adapter): the TCP peer, or behind a trusted proxy the address it
/// forwarded ([`crate::throttle::source_of`]).
async fn track(
    axum::extract::State(trusted): axum::extract::State<Arc<[ipnet::IpNet]>>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.extensions().get::<SourceAddress>().is_none()
        && let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
    {
        // Bytes that are not text become an unreadable hop (not a missing header).
        let forwarded: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
        if let Some(ip) = crate::throttle::source_of(addr.ip(), &forwarded, &trusted) {
            req.extensions_mut().insert(SourceAddress(ip.to_string()));
        }
    }
    let path = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("authserver_http_request_duration_seconds", "path" => path.clone(), "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    response
}
