//! The HTTP edge for a resource server: the bearer token of a request (RFC 6750 §2.1),
//! the RFC 6750 answer to a refusal, a tower [`RequireToken`] layer that verifies every
//! request and hands the handler the verified token, and the axum extractor [`Bearer`].
//!
//! ```no_run
//! # async fn f(verifier: authdomain_verifier::Verifier) {
//! use authdomain_verifier::http::{Bearer, RequireToken};
//! use axum::{Router, routing::get};
//!
//! async fn orders(Bearer(token): Bearer) -> String {
//!     format!("orders for {}", token.client_id)
//! }
//! let app: Router = Router::new()
//!     .route("/orders", get(orders))
//!     .route_layer(RequireToken::new(verifier).scopes(["orders:read"]));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response};

use crate::{AccessToken, KeySource, Verifier, VerifyError};

/// The bearer token of a request: `Authorization: Bearer <token>` (the scheme in any
/// case). No Authorization header, or another scheme, is [`VerifyError::Missing`]; two
/// Authorization headers, or a token with characters RFC 6750 does not allow, are
/// malformed.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, VerifyError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(VerifyError::Missing);
    };
    if values.next().is_some() {
        return Err(VerifyError::Malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| VerifyError::Malformed("the Authorization header is not ASCII"))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(VerifyError::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::Missing);
    }
    let token = token.trim_matches(' ');
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let valid = !token.is_empty()
        && token
            .trim_end_matches('=')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(c));
    if valid {
        Ok(token)
    } else {
        Err(VerifyError::Malformed(
            "the bearer token has characters RFC 6750 does not allow",
        ))
    }
}

/// The RFC 6750 answer to a refusal: status, `WWW-Authenticate` (none for 503, which has
/// `Retry-After` instead), `Cache-Control: no-store`, and a JSON body with `error` and
/// `error_description` (a bare 401 has an empty body).
pub fn refusal_response<B: From<String>>(error: &VerifyError, realm: Option<&str>) -> Response<B> {
    let body = match error.error_code() {
        Some(code) => {
            serde_json::json!({ "error": code, "error_description": error.description() })
                .to_string()
        }
        None if matches!(error, VerifyError::KeysUnavailable(_)) => serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": error.description(),
        })
        .to_string(),
        None => String::new(),
    };
    let mut response = Response::new(B::from(body));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if error.error_code().is_some() || matches!(error, VerifyError::KeysUnavailable(_)) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(challenge) = error.challenge(realm) {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if matches!(error, VerifyError::KeysUnavailable(_)) {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// A tower layer that verifies the bearer token of every request, with the scopes given,
/// and puts the verified [`AccessToken`] (as `Arc<AccessToken>`) into the request's
/// extensions; a refused request is answered per RFC 6750 and never reaches the service.
pub struct RequireToken<K = crate::DefaultKeys> {
    verifier: Verifier<K>,
    scopes: Arc<[String]>,
    realm: Option<Arc<str>>,
}

impl<K> Clone for RequireToken<K> {
    fn clone(&self) -> Self {
        RequireToken {
            verifier: self.verifier.clone(),
            scopes: self.scopes.clone(),
            realm: self.realm.clone(),
        }
    }
}

impl<K> RequireToken<K> {
    pub fn new(verifier: Verifier<K>) -> RequireToken<K> {
        RequireToken {
            verifier,
            scopes: Arc::from(Vec::new()),
            realm: None,
        }
    }

    /// Scopes this route needs, besides those of the verifier's configuration.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes
            .into_iter()
            .map(Into::into)
            .collect::<Vec<_>>()
            .into();
        self
    }

    /// The `realm` of the challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(Arc::from(realm.into()));
        self
    }
}

impl<S, K> tower_layer::Layer<S> for RequireToken<K> {
    type Service = RequireTokenService<S, K>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            inner,
            config: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps around another.
pub struct RequireTokenService<S, K = crate::DefaultKeys> {
    inner: S,
    config: RequireToken<K>,
}

impl<S: Clone, K> Clone for RequireTokenService<S, K> {
    fn clone(&self) -> Self {
        RequireTokenService {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S, K, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for RequireTokenService<S, K>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    K: KeySource,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let outcome = match bearer_token(req.headers()) {
                Ok(token) => {
                    let scopes: Vec<&str> = config.scopes.iter().map(String::as_str).collect();
                    config.verifier.verify_for(token, &scopes).await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(token) => {
                    req.extensions_mut().insert(token);
                    inner.call(req).await
                }
                Err(e) => {
                    tracing::debug!(refusal = %e.refusal(), reason = %e, "bearer token refused");
                    Ok(refusal_response(&e, config.realm.as_deref()))
                }
            }
        })
    }
}

/// The verified token of a request that [`RequireToken`] let through.
#[derive(Debug, Clone)]
pub struct Bearer(pub Arc<AccessToken>);

impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for Bearer {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<AccessToken>>()
            .cloned()
            .map(Bearer)
            .ok_or((
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "the route takes a Bearer but has no RequireToken layer",
            ))
    }
}
