//! Sessions: a random id in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` unless the
//! issuer is plain http on loopback), its SHA-256 the key of a server-side row that expires.
//! Every state-changing form carries the session's synchroniser token (CSRF), compared in
//! constant time, and a POST whose `Origin` is another site is refused before that.

use aws_lc_rs::digest;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::Portal;
use super::respond::{sign_in_redirect, store_error_page};
use super::viewer::Viewer;
use crate::admin::Role;
use crate::http::state::{AppState, SourceAddress};
use crate::ids::{now, random_token};
use crate::store::SessionRecord;

pub const SESSION_COOKIE: &str = "authdomain_session";
pub const LOGIN_COOKIE: &str = "authdomain_login";

/// A `Set-Cookie` value with the portal's attributes; `max_age` 0 deletes the cookie.
pub fn cookie(portal: &Portal, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if portal.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        portal.base
    ))
    .expect("cookie characters are base64url")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn hash_id(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(digest::digest(&digest::SHA256, id.as_bytes()))
}

/// A new session for a person; returns the cookie's id and the record stored.
pub fn new_session(
    portal: &Portal,
    subject: &str,
    name: &str,
    email: Option<&str>,
    role: &Role,
) -> (String, SessionRecord) {
    let id = random_token(32);
    let t = now();
    let (admin, teams) = match role {
        Role::Admin => (true, Vec::new()),
        Role::Member(t) => (false, t.iter().cloned().collect()),
    };
    let record = SessionRecord {
        id_hash: hash_id(&id),
        subject: subject.to_owned(),
        name: name.to_owned(),
        email: email.map(str::to_owned),
        admin,
        teams,
        csrf: random_token(24),
        created_at: t,
        expires_at: t + portal.settings.session_ttl.as_secs() as i64,
    };
    (id, record)
}

/// The viewer, if the request carries a live session.
pub async fn current(state: &AppState, parts: &Parts) -> Result<Option<Viewer>, Response> {
    let Some(id) = read_cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let record = state
        .authority
        .portal_session(&hash_id(&id), now())
        .await
        .map_err(|e| store_error_page(state, e))?;
    let source = parts.extensions.get::<SourceAddress>().map(|a| a.0.clone());
    Ok(record.map(|s| Viewer::from_session(s, source)))
}

/// Pages that need a session: without one, the browser goes to the sign-in page and comes
/// back afterwards.
impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match current(state, parts).await? {
            Some(v) => Ok(v),
            None => Err(sign_in_redirect(state, parts)),
        }
    }
}
