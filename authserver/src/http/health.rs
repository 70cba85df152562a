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

/// Ready to issue tokens. With a read model (Lambda): the read model and the signing keys
/// are loaded, and the database is not asked (a probe must not keep Aurora awake).
/// Otherwise: the database answers and the signing keys are loaded.
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.authority.reads_published() {
        let keys = state.authority.keyring().await;
        return match (keys, state.authority.read_model_version()) {
            (Ok(_), Some(version)) => {
                Json(json!({ "status": "ready", "read_model_version": version })).into_response()
            }
            (keys, version) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "read_model": if version.is_some() { "ok" } else { "unavailable" },
                    "signing_keys": if keys.is_ok() { "ok" } else { "unavailable" },
                })),
            )
                .into_response(),
        };
    }
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
