//! Signing in and out: the OpenID Connect authorization code flow with PKCE (`login`,
//! `callback`), the development sign-in of `authdomain dev`, and sign-out. A sign-in
//! starts a server-side session (see `super::session`).

mod pages;

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

pub(super) use pages::{not_configured, sign_in};

use super::forms::FormData;
use super::identity;
use super::layout::Nav;
use super::oidc::{OidcClient, SignInError, pkce_pair};
use super::respond::{
    Page, checked_form, ctx, html, portal, safe_return, see_other, store_error_page,
};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use super::viewer::Viewer;
use crate::admin::{Actor, Role, Via};
use crate::http::state::{AppState, SourceAddress};
use crate::ids::{constant_time_eq, now, random_token};
use crate::store::PendingLogin;

/// How long a sign-in may take at the provider.
const LOGIN_TTL: i64 = 600;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/login", get(login))
        .route("/portal/callback", get(callback))
        .route("/portal/dev-login", post(dev_login))
        .route("/portal/logout", post(logout))
}

fn sign_in_failed(state: &AppState, e: &SignInError) -> Response {
    let status = match e {
        SignInError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        SignInError::NoRole { .. } | SignInError::NotLoopback => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    tracing::info!(reason = %e, "portal sign-in refused");
    let p = portal(state);
    html(
        status,
        pages::sign_in(
            &ctx(state, None, Nav::None),
            Some(&e.to_string()),
            false,
            &p.base,
        ),
    )
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Page {
    let p = portal(&state);
    let Some(oidc) = &p.oidc else {
        return Ok(see_other(&p.base));
    };
    let state_value = random_token(24);
    let nonce = random_token(24);
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = format!("{}/callback", p.url);
    let url = oidc
        .authorization_url(&redirect_uri, &state_value, &nonce, &challenge)
        .await
        .map_err(|e| sign_in_failed(&state, &e))?;
    let pending = PendingLogin {
        state: state_value.clone(),
        nonce,
        code_verifier: verifier,
        return_to: safe_return(p, q.return_to.as_deref()),
        expires_at: now() + LOGIN_TTL,
    };
    state
        .authority
        .begin_login(&pending, now())
        .await
        .map_err(|e| store_error_page(&state, e))?;
    let mut resp = see_other(&url);
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::cookie(p, LOGIN_COOKIE, &state_value, LOGIN_TTL as u64),
    );
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    source: Option<axum::Extension<SourceAddress>>,
    Query(q): Query<CallbackQuery>,
) -> Page {
    let p = portal(&state);
    let Some(oidc) = &p.oidc else {
        return Ok(see_other(&p.base));
    };
    let (role, claims, return_to) =
        finish_sign_in(&state, oidc, &headers, &q)
            .await
            .map_err(|e| {
                let mut resp = sign_in_failed(&state, &e);
                resp.headers_mut()
                    .append(header::SET_COOKIE, session::cookie(p, LOGIN_COOKIE, "", 0));
                resp
            })?;
    let str_claim = |n: &str| claims.get(n).and_then(|v| v.as_str());
    let subject = str_claim("sub").unwrap_or_default();
    let email = str_claim("email");
    let name = str_claim("name")
        .or(email)
        .or(str_claim("preferred_username"))
        .unwrap_or(subject);
    start_session(
        &state,
        subject,
        name,
        email,
        role,
        source.map(|s| s.0.0),
        &return_to,
    )
    .await
}

async fn finish_sign_in(
    state: &AppState,
    oidc: &OidcClient,
    headers: &HeaderMap,
    q: &CallbackQuery,
) -> Result<(Role, serde_json::Value, String), SignInError> {
    let p = portal(state);
    if let Some(error) = &q.error {
        return Err(SignInError::Refused(
            format!("{error} {}", q.error_description.as_deref().unwrap_or(""))
                .trim()
                .to_owned(),
        ));
    }
    let presented = q.state.as_deref().unwrap_or("");
    let expected = session::read_cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    if presented.is_empty() || !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(SignInError::StateMismatch);
    }
    let pending = state
        .authority
        .take_login(presented, now())
        .await
        .map_err(|e| SignInError::Unavailable(format!("the database: {e}")))?
        .ok_or(SignInError::UnknownState)?;
    let code = q
        .code
        .as_deref()
        .ok_or_else(|| SignInError::Refused("the callback has no code".into()))?;
    let redirect_uri = format!("{}/callback", p.url);
    let claims = oidc
        .finish(&redirect_uri, code, &pending.code_verifier, &pending.nonce)
        .await?;
    let groups = identity::groups(&claims, &p.settings.groups_claim);
    let role = identity::role_for(&groups, &p.settings).ok_or_else(|| SignInError::NoRole {
        who: claims
            .get("email")
            .or(claims.get("sub"))
            .and_then(|v| v.as_str())
            .unwrap_or("you")
            .to_owned(),
        groups: if groups.is_empty() {
            format!("none in the `{}` claim", p.settings.groups_claim)
        } else {
            groups.join(", ")
        },
    })?;
    Ok((role, claims, pending.return_to))
}

async fn start_session(
    state: &AppState,
    subject: &str,
    name: &str,
    email: Option<&str>,
    role: Role,
    source: Option<String>,
    return_to: &str,
) -> Page {
    let p = portal(state);
    let (id, record) = session::new_session(p, subject, name, email, &role);
    state
        .authority
        .start_portal_session(&record)
        .await
        .map_err(|e| store_error_page(state, e))?;
    let actor = Actor {
        id: email.unwrap_or(subject).to_owned(),
        role,
        via: Via::Portal,
        source,
    };
    state
        .authority
        .audit(
            &actor,
            "portal.sign-in",
            subject,
            None,
            json!({ "name": name, "teams": record.teams, "admin": record.admin }),
        )
        .await;
    let mut resp = see_other(return_to);
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::cookie(p, SESSION_COOKIE, &id, p.settings.session_ttl.as_secs()),
    );
    h.append(header::SET_COOKIE, session::cookie(p, LOGIN_COOKIE, "", 0));
    Ok(resp)
}

fn is_loopback(source: Option<&SourceAddress>) -> bool {
    source
        .and_then(|s| s.0.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

async fn dev_login(State(state): State<AppState>, req: Request) -> Page {
    let (parts, body) = req.into_parts();
    let p = portal(&state);
    let source = parts.extensions.get::<SourceAddress>();
    if !p.dev_sign_in() || !is_loopback(source) {
        return Err(sign_in_failed(&state, &SignInError::NotLoopback));
    }
    let body = axum::body::to_bytes(body, crate::http::state::MAX_BODY_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let form = FormData::parse(&body);
    let name = form.get("name").unwrap_or("dev@localhost").to_owned();
    let role = match form.get("role") {
        Some("admin") | None => Role::Admin,
        Some(r) => match r.strip_prefix("team:") {
            Some(t) if authdomain_api::names::is_team(t) => {
                Role::Member(BTreeSet::from([t.to_owned()]))
            }
            _ => {
                return Err(sign_in_failed(
                    &state,
                    &SignInError::Refused(format!(
                        "`role`: expected `admin` or `team:NAME`, found `{r}`"
                    )),
                ));
            }
        },
    };
    let return_to = safe_return(p, form.get("return_to"));
    let email = name.contains('@').then_some(name.as_str());
    start_session(
        &state,
        &name,
        &name,
        email,
        role,
        source.map(|s| s.0.clone()),
        &return_to,
    )
    .await
}

async fn logout(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Page {
    checked_form(&state, &viewer, &body)?;
    let p = portal(&state);
    state
        .authority
        .end_portal_session(&viewer.session.id_hash)
        .await
        .map_err(|e| store_error_page(&state, e))?;
    state
        .authority
        .audit(
            &viewer.actor,
            "portal.sign-out",
            &viewer.session.subject,
            None,
            json!({}),
        )
        .await;
    let mut resp = see_other(&format!("{}?signed_out=1", p.base));
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::cookie(p, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}
