//! Liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// The process is up.
pub async fn live() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// The database answers and signing keys are loaded.
pub async fn ready(State(state): State<AppState>) -> Response {
    let db = state.authority.ping().await;
    let keys = state.authority.keyring().await;
    match (db, keys) {
        (Ok(()), Ok(_)) => {
            Json(json!({ "status": "ready", "database": state.authority.backend() }))
                .into_response()
        }
        (db, keys) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "database": if db.is_ok() { "ok" } else { "unavailable" },
                "signing_keys": if keys.is_ok() { "ok" } else { "unavailable" },
            })),
        )
            .into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found", "error_description": "metrics are served in server mode only" })))
            .into_response(),
    }
}
