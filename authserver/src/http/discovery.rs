//! RFC 8414 / OpenID Connect Discovery metadata and the JWKS.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::oauth_error_response;
use crate::settings::Settings;

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
const ASSERTION_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The metadata document, computed once: it depends only on settings.
pub fn document(s: &Settings) -> bytes::Bytes {
    let doc = json!({
        "issuer": s.issuer,
        "token_endpoint": s.endpoint("/oauth2/token"),
        "jwks_uri": s.endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": s.endpoint("/oauth2/introspect"),
        "revocation_endpoint": s.endpoint("/oauth2/revoke"),
        "grant_types_supported": ["client_credentials"],
        // No authorization endpoint: this server issues tokens to machines only.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "access_token_signing_alg_values_supported": [s.signing_alg.as_str()],
        // Required members of OpenID Connect Discovery; no ID tokens are issued.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"],
    });
    serde_json::to_vec(&doc).expect("serialisable").into()
}

fn cacheable(body: bytes::Bytes, max_age: u64) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

pub async fn discovery(State(state): State<AppState>) -> Response {
    cacheable(
        state.discovery.clone(),
        state.authority.settings().jwks_max_age,
    )
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    match state.authority.keyring().await {
        Ok(ring) => {
            let mut resp = cacheable(ring.jwks(), state.authority.settings().jwks_max_age);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            resp
        }
        Err(e) => oauth_error_response(&e, &state.authority.settings().issuer),
    }
}
