//! Error responses: RFC 6749 §5.2 for OAuth endpoints, a JSON body with the field for the
//! admin API, and JSON for 404 and panics (which are bugs, but never leak details).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::admin::AdminError;
use crate::oauth::{ErrorCode, OAuthError};

pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// The response for an OAuth error: JSON, `Cache-Control: no-store`, `WWW-Authenticate`
/// for `invalid_client` via the Authorization header, `Retry-After` when set.
pub fn oauth_error_response(e: &OAuthError, realm: &str) -> Response {
    // `invalid_client` is always 401 (ErrorCode::status): RFC 6749 §5.2 requires it with the
    // Authorization header and allows it otherwise, so clients see one behaviour.
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (
        status,
        Json(json!({ "error": e.code.as_str(), "error_description": e.description })),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, NO_STORE);
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if e.code == ErrorCode::InvalidClient && e.used_authorization_header {
        let challenge = format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            realm.replace('"', "")
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Some(secs) = e.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, field) = match &self {
            AdminError::Invalid { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                Some(field.clone()),
            ),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            AdminError::ScopesHeld(_) => (StatusCode::CONFLICT, "scopes_held", None),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            AdminError::Store(e) if e.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
            ),
            AdminError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
            AdminError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
            ),
        };
        let description = match &self {
            AdminError::Store(e) if !e.is_unavailable() => {
                tracing::error!(error = %e, "admin API store error");
                "internal error".to_owned()
            }
            AdminError::Store(_) => {
                "the database is temporarily unavailable; retry shortly".to_owned()
            }
            AdminError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut body = json!({ "error": code, "error_description": description });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        if let AdminError::ScopesHeld(held) = &self {
            body["held"] = json!(held);
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(5));
        }
        resp
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": format!("no endpoint at `{}`", uri.path()) })),
    )
        .into_response()
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "server_error", "error_description": "internal error" })),
    )
        .into_response()
}

/// Admin API request errors (malformed JSON and the like), naming what was expected.
pub fn bad_request(description: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}
