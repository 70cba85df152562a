//! The portal's answers, shared by every family of pages: the security headers on every
//! response, HTML and redirects, and the one place an admin refusal, a store failure or a
//! refused form becomes its page. Handlers return [`Page`], `Result<Response, Response>`,
//! so a refusal is `?` away.

use axum::body::Bytes;
use axum::extract::{Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use serde::Deserialize;

use super::Portal;
use super::forms::FormData;
use super::layout::{self, CSS, Ctx, Draft, JS, Nav};
use super::viewer::Viewer;
use crate::admin::AdminError;
use crate::http::state::AppState;
use crate::store::StoreError;

/// A page, or the page that says why not.
pub(super) type Page = Result<Response, Response>;

/// Every portal response: a strict CSP (no inline script, forms only to ourselves), no
/// framing, referrers only to ourselves (a callback URL holds a code; `no-referrer` would
/// make browsers send `Origin: null` on our own forms), no caching of pages. A POST from
/// another origin is refused before any handler runs.
pub(super) async fn guard(req: Request, next: Next) -> Response {
    if req.method() == Method::POST
        && let Some(origin) = req.headers().get(header::ORIGIN)
        && let Some(host) = req.headers().get(header::HOST)
    {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .is_some_and(|o| {
                let authority = match o.port() {
                    Some(p) => format!("{}:{p}", o.host_str().unwrap_or("")),
                    None => o.host_str().unwrap_or("").to_owned(),
                };
                host.to_str()
                    .is_ok_and(|h| h.eq_ignore_ascii_case(&authority))
            });
        if !same {
            return (StatusCode::FORBIDDEN, "cross-origin form posts are refused").into_response();
        }
    }
    let is_asset = req.uri().path().contains("/portal/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

pub(super) fn portal(state: &AppState) -> &Portal {
    &state.portal
}

pub(super) fn ctx<'a>(state: &'a AppState, viewer: Option<&'a Viewer>, nav: Nav) -> Ctx<'a> {
    Ctx {
        portal: portal(state),
        viewer,
        nav,
    }
}

pub(super) fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The page for a store failure (503 when the database is unavailable).
pub(super) fn store_error_page(state: &AppState, e: StoreError) -> Response {
    admin_error_page(state, None, AdminError::from(e))
}

/// The page for an admin refusal, as a closure for `map_err`:
/// `a.get_client(&viewer.actor, id).await.map_err(fail(&state, Some(&viewer)))?`.
pub(super) fn fail<'a>(
    state: &'a AppState,
    viewer: Option<&'a Viewer>,
) -> impl Fn(AdminError) -> Response + 'a {
    move |e| admin_error_page(state, viewer, e)
}

/// The page for an admin refusal: its status, a title and the reason.
pub(super) fn admin_error_page(
    state: &AppState,
    viewer: Option<&Viewer>,
    e: AdminError,
) -> Response {
    let c = ctx(state, viewer, Nav::None);
    let (status, title, message) = match &e {
        AdminError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not yours", m.clone()),
        AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
        AdminError::Conflict(m) => (StatusCode::CONFLICT, "Conflict", m.clone()),
        AdminError::Invalid { field, message } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("`{field}`: {message}"),
        ),
        AdminError::ScopesHeld(_) => (StatusCode::CONFLICT, "Scopes held", e.to_string()),
        AdminError::Unavailable(m) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            m.clone(),
        ),
        AdminError::Store(s) if s.is_unavailable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "The database is waking up or unavailable; reload in a few seconds.".to_owned(),
        ),
        AdminError::Store(s) => {
            tracing::error!(error = %s, "portal store error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "An internal error occurred; it has been logged.".to_owned(),
            )
        }
    };
    let mut resp = html(status, layout::error_page(&c, title, &message));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(5));
    }
    resp
}

/// A refused form (CSRF token absent or wrong).
pub(super) fn csrf_refused(state: &AppState, viewer: &Viewer) -> Response {
    html(
        StatusCode::FORBIDDEN,
        layout::error_page(
            &ctx(state, Some(viewer), Nav::None),
            "Form expired",
            "This form's security token is missing or out of date (CSRF protection). Reload the page and submit again.",
        ),
    )
}

/// The form of a POST, once its CSRF token is checked.
#[allow(clippy::result_large_err)] // the refusal is the response itself, as axum's rejections
pub(super) fn checked_form(
    state: &AppState,
    viewer: &Viewer,
    body: &Bytes,
) -> Result<FormData, Response> {
    let form = FormData::parse(body);
    if viewer.csrf_ok(form.get("csrf")) {
        Ok(form)
    } else {
        Err(csrf_refused(state, viewer))
    }
}

/// A path under the portal to come back to, or the portal's home.
pub(super) fn safe_return(portal: &Portal, to: Option<&str>) -> String {
    match to {
        Some(t) if t.starts_with(&portal.base) && !t.starts_with("//") && !t.contains('\\') => {
            t.to_owned()
        }
        _ => portal.base.clone(),
    }
}

/// Where a request without a session goes: the sign-in page, coming back afterwards.
pub(super) fn sign_in_redirect(state: &AppState, parts: &Parts) -> Response {
    let p = portal(state);
    let back = if parts.method == Method::GET {
        let path = parts.uri.path();
        let path = path
            .strip_prefix("/portal")
            .map(|rest| p.path(rest))
            .unwrap_or_else(|| p.base.clone());
        match parts.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    } else {
        p.base.clone()
    };
    see_other(&format!("{}?return_to={}", p.base, layout::enc(&back)))
}

// ---- assets ------------------------------------------------------------------------

pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

// ---- APIs --------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(super) struct IdQuery {
    pub(super) id: String,
    pub(super) done: Option<String>,
    pub(super) secret: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DoneQuery {
    pub(super) done: Option<String>,
}

/// The flash text for a `done` code (codes only: nothing typed is reflected).
pub(super) fn done_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "scope-added" => "Scope added.",
        "scope-removed" => "Scope removed.",
        "revoked" => "Secret revoked: requests with it are refused now.",
        "rotated" => "Keys rotated: the next key signs now.",
        _ => return None,
    })
}

pub(super) fn draft_of(raw: &Bytes, e: &AdminError) -> Draft {
    Draft {
        values: url::form_urlencoded::parse(raw)
            .filter(|(k, _)| k != "csrf")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        error: Some(match e {
            AdminError::Invalid { field, message } => (Some(field.clone()), message.clone()),
            other => (None, other.to_string()),
        }),
    }
}

/// Whether a refusal is the person's to fix (shown on the form) rather than a page error.
pub(super) fn is_form_error(e: &AdminError) -> bool {
    matches!(
        e,
        AdminError::Invalid { .. } | AdminError::Conflict(_) | AdminError::Forbidden(_)
    )
}

pub(super) fn form_status(e: &AdminError) -> StatusCode {
    match e {
        AdminError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    }
}
