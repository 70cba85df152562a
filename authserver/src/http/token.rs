//! Token (RFC 6749 §4.4), introspection (RFC 7662) and revocation (RFC 7009) endpoints.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{NO_STORE, oauth_error_response};
use super::{AppState, SourceAddress};
use crate::authority::RequestContext;
use crate::oauth::request;
use crate::oauth::{ErrorCode, OAuthError};

/// Check the request's framing: form content type and a readable body within the limit.
fn form_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, OAuthError> {
    let used_header = headers.contains_key(header::AUTHORIZATION);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(if content_type.is_empty() {
            "the request needs `Content-Type: application/x-www-form-urlencoded`".to_owned()
        } else {
            format!(
                "Content-Type `{}` is not accepted; send application/x-www-form-urlencoded",
                content_type.chars().take(80).collect::<String>()
            )
        })
        .with_header(used_header));
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::new(
                ErrorCode::RequestTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            )
        } else {
            OAuthError::invalid_request("the request body could not be read")
        }
        .with_header(used_header)
    })
}

fn context(
    state: &AppState,
    source: Option<Extension<SourceAddress>>,
    path: &str,
) -> RequestContext {
    RequestContext {
        source_address: source.map(|Extension(SourceAddress(a))| a),
        endpoint_url: state.authority.settings().endpoint(path),
    }
}

fn fail(state: &AppState, e: &OAuthError, endpoint: &'static str) -> Response {
    metrics::counter!("authserver_oauth_errors_total", "endpoint" => endpoint, "error" => e.code.as_str()).increment(1);
    oauth_error_response(e, &state.authority.settings().issuer)
}

pub async fn token(
    State(state): State<AppState>,
    source: Option<Extension<SourceAddress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, source, "/oauth2/token");
    let result = async {
        let body = form_body(&headers, body)?;
        let req = request::token_request(
            headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
            &body,
        )?;
        state.authority.issue_token(&req, &ctx).await
    }
    .await;
    match result {
        Ok(tokens) => {
            let mut resp = Json(tokens).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => fail(&state, &e, "token"),
    }
}

/// Parse an introspection or revocation request (the same form for both).
fn token_reference(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<request::TokenReference, OAuthError> {
    let body = form_body(headers, body)?;
    request::token_reference(
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        &body,
    )
}

/// A successful answer that must not be cached.
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    resp
}

pub async fn introspect(
    State(state): State<AppState>,
    source: Option<Extension<SourceAddress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, source, "/oauth2/introspect");
    let result = async {
        state
            .authority
            .introspect(&token_reference(&headers, body)?, &ctx)
            .await
    }
    .await;
    match result {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => fail(&state, &e, "introspect"),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    source: Option<Extension<SourceAddress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = context(&state, source, "/oauth2/revoke");
    let result = async {
        state
            .authority
            .revoke(&token_reference(&headers, body)?, &ctx)
            .await
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => fail(&state, &e, "revoke"),
    }
}
