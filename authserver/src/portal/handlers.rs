//! The portal's routes: sign-in and sign-out, then one page per object family. Each page
//! calls the same `Authority` operations as the admin API with the signed-in person as the
//! actor; a refusal renders the page again with the reason and the values typed.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::Deserialize;
use serde_json::json;

use authdomain_api::{ClientInput, ResourceServer, ResourceServerInput, ScopeInput};

use super::Portal;
use super::forms::FormData;
use super::oidc::{SignInError, pkce_pair};
use super::pages::{self, Ctx, Draft, Nav, ScopeChoice};
use super::pages::{CSS, JS};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE, Viewer};
use crate::admin::{Actor, AdminError, Role, Via};
use crate::http::{AppState, SourceAddress};
use crate::ids::{constant_time_eq, now, random_token};
use crate::store::{AuditFilter, PendingLogin, StoreError};

/// How long a sign-in may take at the provider.
const LOGIN_TTL: i64 = 600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/", get(home))
        .route("/portal/assets/{file}", get(asset))
        .route("/portal/login", get(login))
        .route("/portal/callback", get(callback))
        .route("/portal/dev-login", post(dev_login))
        .route("/portal/logout", post(logout))
        .route("/portal/apis", get(apis).post(api_create))
        .route("/portal/apis/view", get(api_view))
        .route("/portal/apis/update", post(api_update))
        .route("/portal/apis/scopes/add", post(scope_add))
        .route("/portal/apis/scopes/remove", post(scope_remove))
        .route("/portal/apis/delete", post(api_delete))
        .route("/portal/clients", get(clients).post(client_create))
        .route("/portal/clients/view", get(client_view))
        .route("/portal/clients/update", post(client_update))
        .route("/portal/clients/rotate", post(client_rotate))
        .route("/portal/clients/revoke", post(client_revoke))
        .route("/portal/clients/delete", post(client_delete))
        .route("/portal/keys", get(keys))
        .route("/portal/keys/rotate", post(keys_rotate))
        .route("/portal/audit", get(audit))
        .layer(middleware::from_fn(guard))
}

/// Every portal response: a strict CSP (no inline script, forms only to ourselves), no
/// framing, referrers only to ourselves (a callback URL holds a code; `no-referrer` would
/// make browsers send `Origin: null` on our own forms), no caching of pages. A POST from
/// another origin is refused before any handler runs.
async fn guard(req: Request, next: Next) -> Response {
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

fn portal(state: &AppState) -> &Portal {
    &state.portal
}

fn ctx<'a>(state: &'a AppState, viewer: Option<&'a Viewer>, nav: Nav) -> Ctx<'a> {
    Ctx {
        portal: portal(state),
        viewer,
        nav,
    }
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The page for a store failure (503 when the database is unavailable).
pub(crate) fn store_error_page(state: &AppState, e: StoreError) -> Response {
    admin_error_page(state, None, AdminError::from(e))
}

fn admin_error_page(state: &AppState, viewer: Option<&Viewer>, e: AdminError) -> Response {
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
    let mut resp = html(status, pages::error_page(&c, title, &message));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(5));
    }
    resp
}

/// A refused form (CSRF token absent or wrong).
fn csrf_refused(state: &AppState, viewer: &Viewer) -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::error_page(
            &ctx(state, Some(viewer), Nav::None),
            "Form expired",
            "This form's security token is missing or out of date (CSRF protection). Reload the page and submit again.",
        ),
    )
}

/// The form of a POST, once its CSRF token is checked.
#[allow(clippy::result_large_err)] // the refusal is the response itself, as axum's rejections
fn checked_form(state: &AppState, viewer: &Viewer, body: &Bytes) -> Result<FormData, Response> {
    let form = FormData::parse(body);
    if viewer.csrf_ok(form.get("csrf")) {
        Ok(form)
    } else {
        Err(csrf_refused(state, viewer))
    }
}

/// A path under the portal to come back to, or the portal's home.
fn safe_return(portal: &Portal, to: Option<&str>) -> String {
    match to {
        Some(t) if t.starts_with(&portal.base) && !t.starts_with("//") && !t.contains('\\') => {
            t.to_owned()
        }
        _ => portal.base.clone(),
    }
}

/// Where a request without a session goes: the sign-in page, coming back afterwards.
pub(crate) fn sign_in_redirect(state: &AppState, parts: &Parts) -> Response {
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
    see_other(&format!("{}?return_to={}", p.base, pages::enc(&back)))
}

// ---- assets ------------------------------------------------------------------------

async fn asset(Path(file): Path<String>) -> Response {
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

// ---- sign-in -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct HomeQuery {
    return_to: Option<String>,
    signed_out: Option<String>,
}

async fn home(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let q: HomeQuery = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or(HomeQuery {
            return_to: None,
            signed_out: None,
        });
    let p = portal(&state);
    if !p.configured {
        return html(
            StatusCode::OK,
            pages::not_configured(&ctx(&state, None, Nav::None)),
        );
    }
    let viewer = match session::current(&state, &parts).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(viewer) = viewer else {
        let back = safe_return(p, q.return_to.as_deref());
        return html(
            StatusCode::OK,
            pages::sign_in(
                &ctx(&state, None, Nav::None),
                None,
                q.signed_out.is_some(),
                &back,
            ),
        );
    };
    let a = &state.authority;
    let me = &viewer.actor;
    let recent = AuditFilter {
        limit: 5,
        ..AuditFilter::default()
    };
    let (apis, clients, keys, recent) = match tokio::try_join!(
        a.list_resource_servers(me),
        a.list_clients(me),
        a.list_keys(me),
        a.list_audit(me, recent)
    ) {
        Ok(v) => v,
        Err(e) => return admin_error_page(&state, Some(&viewer), e),
    };
    html(
        StatusCode::OK,
        pages::home(
            &ctx(&state, Some(&viewer), Nav::Home),
            &pages::HomeData {
                apis: &apis,
                clients: &clients,
                keys: &keys,
                recent: &recent,
            },
        ),
    )
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

async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let p = portal(&state);
    let Some(oidc) = &p.oidc else {
        return see_other(&p.base);
    };
    let state_value = random_token(24);
    let nonce = random_token(24);
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = format!("{}/callback", p.url);
    let url = match oidc
        .authorization_url(&redirect_uri, &state_value, &nonce, &challenge)
        .await
    {
        Ok(u) => u,
        Err(e) => return sign_in_failed(&state, &e),
    };
    let pending = PendingLogin {
        state: state_value.clone(),
        nonce,
        code_verifier: verifier,
        return_to: safe_return(p, q.return_to.as_deref()),
        expires_at: now() + LOGIN_TTL,
    };
    if let Err(e) = state.authority.store().insert_login(&pending, now()).await {
        return store_error_page(&state, e);
    }
    let mut resp = see_other(&url);
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::cookie(p, LOGIN_COOKIE, &state_value, LOGIN_TTL as u64),
    );
    resp
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
) -> Response {
    let p = portal(&state);
    let Some(oidc) = &p.oidc else {
        return see_other(&p.base);
    };
    let result = finish_sign_in(&state, oidc, &headers, &q).await;
    let (role, claims, return_to) = match result {
        Ok(v) => v,
        Err(e) => {
            let mut resp = sign_in_failed(&state, &e);
            resp.headers_mut()
                .append(header::SET_COOKIE, session::cookie(p, LOGIN_COOKIE, "", 0));
            return resp;
        }
    };
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
    oidc: &super::oidc::OidcClient,
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
        .store()
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
    let groups = super::identity::groups(&claims, &p.settings.groups_claim);
    let role = super::role_for(&groups, &p.settings).ok_or_else(|| SignInError::NoRole {
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
) -> Response {
    let p = portal(state);
    let (id, record) = session::new_session(p, subject, name, email, &role);
    if let Err(e) = state.authority.store().insert_session(&record).await {
        return store_error_page(state, e);
    }
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
    resp
}

fn is_loopback(source: Option<&SourceAddress>) -> bool {
    source
        .and_then(|s| s.0.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

async fn dev_login(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let p = portal(&state);
    let source = parts.extensions.get::<SourceAddress>();
    if !p.dev_sign_in() || !is_loopback(source) {
        return sign_in_failed(&state, &SignInError::NotLoopback);
    }
    let Ok(body) = axum::body::to_bytes(body, crate::http::MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let form = FormData::parse(&body);
    let name = form.get("name").unwrap_or("dev@localhost").to_owned();
    let role = match form.get("role") {
        Some("admin") | None => Role::Admin,
        Some(r) => match r.strip_prefix("team:") {
            Some(t) if crate::admin::access::valid_team(t) => {
                Role::Member(BTreeSet::from([t.to_owned()]))
            }
            _ => {
                return sign_in_failed(
                    &state,
                    &SignInError::Refused(format!(
                        "`role`: expected `admin` or `team:NAME`, found `{r}`"
                    )),
                );
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

async fn logout(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Response {
    if let Err(resp) = checked_form(&state, &viewer, &body) {
        return resp;
    }
    let p = portal(&state);
    if let Err(e) = state
        .authority
        .store()
        .delete_session(&viewer.session.id_hash)
        .await
    {
        return store_error_page(&state, e);
    }
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
    resp
}

// ---- APIs --------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct IdQuery {
    id: String,
    done: Option<String>,
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// The flash text for a `done` code (codes only: nothing typed is reflected).
fn done_text(code: Option<&str>) -> Option<&'static str> {
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

fn draft_of(raw: &Bytes, e: &AdminError) -> Draft {
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
fn is_form_error(e: &AdminError) -> bool {
    matches!(
        e,
        AdminError::Invalid { .. } | AdminError::Conflict(_) | AdminError::Forbidden(_)
    )
}

fn form_status(e: &AdminError) -> StatusCode {
    match e {
        AdminError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    }
}

/// `name description…` per line.
fn parse_scopes(text: &str) -> Vec<ScopeInput> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, description) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            ScopeInput {
                name: name.to_owned(),
                description: description.trim().to_owned(),
            }
        })
        .collect()
}

async fn apis(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    render_apis(
        &state,
        &viewer,
        &Draft::default(),
        done_text(q.done.as_deref()),
        StatusCode::OK,
    )
    .await
}

async fn render_apis(
    state: &AppState,
    viewer: &Viewer,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    match state.authority.list_resource_servers(&viewer.actor).await {
        Ok(list) => html(
            status,
            pages::apis(&ctx(state, Some(viewer), Nav::Apis), &list, draft, done),
        ),
        Err(e) => admin_error_page(state, Some(viewer), e),
    }
}

async fn api_create(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Response {
    let form = match checked_form(&state, &viewer, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let input = ResourceServerInput {
        identifier: form.get("identifier").unwrap_or("").to_owned(),
        name: form.get("name").map(str::to_owned),
        scopes: parse_scopes(form.get("scopes").unwrap_or("")),
        team: form.get("team").map(str::to_owned),
    };
    match state
        .authority
        .create_resource_server(&viewer.actor, input)
        .await
    {
        Ok(r) => see_other(&format!(
            "{}&done=created",
            pages::api_href(&ctx(&state, None, Nav::None), &r.identifier)
        )),
        Err(e) if is_form_error(&e) => {
            render_apis(&state, &viewer, &draft_of(&body, &e), None, form_status(&e)).await
        }
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

async fn render_api(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let a = &state.authority;
    let r = match a.get_resource_server(&viewer.actor, id).await {
        Ok(r) => r,
        Err(e) => return admin_error_page(state, Some(viewer), e),
    };
    let names: Vec<String> = r.scopes.iter().map(|s| s.name.clone()).collect();
    let holders = match a.held_scopes(&names).await {
        Ok(h) => h,
        Err(e) => return admin_error_page(state, Some(viewer), e),
    };
    html(
        status,
        pages::api_view(
            &ctx(state, Some(viewer), Nav::Apis),
            &r,
            &holders,
            draft,
            done,
        ),
    )
}

async fn api_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
) -> Response {
    render_api(
        &state,
        &viewer,
        &q.id,
        &Draft::default(),
        done_text(q.done.as_deref()),
        StatusCode::OK,
    )
    .await
}

fn rs_input(r: &ResourceServer) -> ResourceServerInput {
    ResourceServerInput {
        identifier: r.identifier.clone(),
        name: Some(r.name.clone()),
        scopes: r.scopes.clone(),
        team: r.team.clone(),
    }
}

/// Change a resource server with `edit`, then back to its page (or the form with why not).
async fn change_api(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    body: &Bytes,
    done: &str,
    edit: impl FnOnce(&FormData, &mut ResourceServerInput),
) -> Response {
    let form = match checked_form(state, viewer, body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let a = &state.authority;
    let current = match a.get_resource_server(&viewer.actor, id).await {
        Ok(r) => r,
        Err(e) => return admin_error_page(state, Some(viewer), e),
    };
    let mut input = rs_input(&current);
    edit(&form, &mut input);
    let confirmed = form.get("confirm") == Some("yes");
    match a
        .put_resource_server(&viewer.actor, input, false, confirmed)
        .await
    {
        Ok(r) => see_other(&format!(
            "{}&done={done}",
            pages::api_href(&ctx(state, None, Nav::None), &r.identifier)
        )),
        Err(AdminError::ScopesHeld(held)) => html(
            StatusCode::CONFLICT,
            pages::confirm_scope_removal(&ctx(state, Some(viewer), Nav::Apis), &current, &held),
        ),
        Err(e) if is_form_error(&e) => {
            render_api(
                state,
                viewer,
                id,
                &draft_of(body, &e),
                None,
                form_status(&e),
            )
            .await
        }
        Err(e) => admin_error_page(state, Some(viewer), e),
    }
}

async fn api_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    change_api(&state, &viewer, &q.id, &body, "saved", |form, input| {
        input.name = form.get("name").map(str::to_owned);
        for s in &mut input.scopes {
            if let Some(d) = form.raw(&format!("description:{}", s.name)) {
                s.description = d;
            }
        }
        if let Some(t) = form.get("team") {
            input.team = Some(t.to_owned());
        }
    })
    .await
}

async fn scope_add(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    change_api(
        &state,
        &viewer,
        &q.id,
        &body,
        "scope-added",
        |form, input| {
            input.scopes.push(ScopeInput {
                name: form.get("scope").unwrap_or("").to_owned(),
                description: form.get("description").unwrap_or("").to_owned(),
            });
        },
    )
    .await
}

async fn scope_remove(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    change_api(
        &state,
        &viewer,
        &q.id,
        &body,
        "scope-removed",
        |form, input| {
            let gone = form.all("scope");
            input.scopes.retain(|s| !gone.contains(&s.name));
        },
    )
    .await
}

async fn api_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = checked_form(&state, &viewer, &body) {
        return r;
    }
    match state
        .authority
        .delete_resource_server(&viewer.actor, &q.id)
        .await
    {
        Ok(()) => see_other(&format!("{}?done=deleted", portal(&state).path("/apis"))),
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

// ---- clients -----------------------------------------------------------------------

/// The scopes the viewer may grant: every scope of the APIs they see.
async fn scope_choices(state: &AppState, viewer: &Viewer) -> Result<Vec<ScopeChoice>, AdminError> {
    Ok(state
        .authority
        .list_resource_servers(&viewer.actor)
        .await?
        .into_iter()
        .filter(|r| r.identifier != authdomain_api::ADMIN_AUDIENCE)
        .flat_map(|r| {
            let api = r.name.clone();
            r.scopes.into_iter().map(move |s| ScopeChoice {
                scope: s.name,
                description: s.description,
                api: api.clone(),
            })
        })
        .collect())
}

async fn render_clients(
    state: &AppState,
    viewer: &Viewer,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let a = &state.authority;
    match tokio::try_join!(a.list_clients(&viewer.actor), scope_choices(state, viewer)) {
        Ok((list, choices)) => html(
            status,
            pages::clients(
                &ctx(state, Some(viewer), Nav::Clients),
                &list,
                &choices,
                draft,
                done,
            ),
        ),
        Err(e) => admin_error_page(state, Some(viewer), e),
    }
}

async fn clients(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    render_clients(
        &state,
        &viewer,
        &Draft::default(),
        done_text(q.done.as_deref()),
        StatusCode::OK,
    )
    .await
}

/// The client fields of a form; a field that does not parse is a refusal naming it.
fn client_input(form: &FormData) -> Result<ClientInput, AdminError> {
    let ttl = match form.get("token_ttl_seconds") {
        Some(t) => Some(t.parse::<i64>().map_err(|_| AdminError::Invalid {
            field: "token_ttl_seconds".into(),
            message: "expected a whole number of seconds".into(),
        })?),
        None => None,
    };
    let method = form
        .get("token_endpoint_auth_method")
        .unwrap_or("client_secret_basic");
    let private_key = method == "private_key_jwt";
    let jwks = match form.get("jwks").filter(|_| private_key) {
        Some(text) => Some(serde_json::from_str(text).map_err(|e| AdminError::Invalid {
            field: "jwks".into(),
            message: format!("expected a JSON object: {e}"),
        })?),
        None => None,
    };
    Ok(ClientInput {
        name: form.get("name").unwrap_or("").to_owned(),
        scopes: form.all("scope"),
        token_ttl_seconds: ttl,
        token_endpoint_auth_method: Some(method.to_owned()),
        jwks,
        jwks_uri: form
            .get("jwks_uri")
            .filter(|_| private_key)
            .map(str::to_owned),
        team: form.get("team").map(str::to_owned),
        ..ClientInput::default()
    })
}

async fn client_create(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Response {
    let form = match checked_form(&state, &viewer, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = match client_input(&form) {
        Ok(input) => state.authority.create_client(&viewer.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => match &created.client_secret {
            Some(secret) => {
                let secret_id = created
                    .client
                    .secrets
                    .first()
                    .map(|s| s.secret_id.clone())
                    .unwrap_or_default();
                let token_endpoint = state.authority.settings().endpoint("/oauth2/token");
                html(
                    StatusCode::CREATED,
                    pages::secret_shown(
                        &ctx(&state, Some(&viewer), Nav::Clients),
                        &pages::ShownSecret {
                            client: &created.client,
                            secret_id: &secret_id,
                            secret,
                            token_endpoint: &token_endpoint,
                            rotated: false,
                        },
                    ),
                )
            }
            None => see_other(&format!(
                "{}&done=created",
                pages::client_href(&ctx(&state, None, Nav::None), &created.client.client_id)
            )),
        },
        Err(e) if is_form_error(&e) => {
            render_clients(&state, &viewer, &draft_of(&body, &e), None, form_status(&e)).await
        }
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

async fn render_client(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let a = &state.authority;
    let c = match a.get_client(&viewer.actor, id).await {
        Ok(c) => c,
        Err(e) => return admin_error_page(state, Some(viewer), e),
    };
    let choices = match scope_choices(state, viewer).await {
        Ok(c) => c,
        Err(e) => return admin_error_page(state, Some(viewer), e),
    };
    let can_change = viewer.actor.may_change_client(&c);
    html(
        status,
        pages::client_view(
            &ctx(state, Some(viewer), Nav::Clients),
            &c,
            &choices,
            draft,
            done,
            can_change,
        ),
    )
}

async fn client_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
) -> Response {
    render_client(
        &state,
        &viewer,
        &q.id,
        &Draft::default(),
        done_text(q.done.as_deref()),
        StatusCode::OK,
    )
    .await
}

async fn client_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    let form = match checked_form(&state, &viewer, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let a = &state.authority;
    let result = async {
        let current = a.get_client(&viewer.actor, &q.id).await?;
        let edited = client_input(&form)?;
        // The page edits name, scopes and lifetime; the rest stays as registered.
        let input = ClientInput {
            client_id: Some(current.client_id.clone()),
            name: edited.name,
            scopes: edited.scopes,
            default_scopes: None,
            token_ttl_seconds: edited.token_ttl_seconds,
            token_endpoint_auth_method: Some(current.token_endpoint_auth_method.clone()),
            jwks: current.jwks.clone(),
            jwks_uri: current.jwks_uri.clone(),
            grant_types: Some(current.grant_types.clone()),
            team: current.team.clone(),
            managed_by: current.managed_by.clone(),
        };
        a.update_client(&viewer.actor, &q.id, input).await
    }
    .await;
    match result {
        Ok(c) => see_other(&format!(
            "{}&done=saved",
            pages::client_href(&ctx(&state, None, Nav::None), &c.client_id)
        )),
        Err(e) if is_form_error(&e) => {
            render_client(
                &state,
                &viewer,
                &q.id,
                &draft_of(&body, &e),
                None,
                form_status(&e),
            )
            .await
        }
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

async fn client_rotate(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = checked_form(&state, &viewer, &body) {
        return r;
    }
    let a = &state.authority;
    let added = match a.add_client_secret(&viewer.actor, &q.id).await {
        Ok(s) => s,
        Err(e) if is_form_error(&e) => {
            let draft = Draft {
                values: Vec::new(),
                error: Some((None, e.to_string())),
            };
            return render_client(&state, &viewer, &q.id, &draft, None, form_status(&e)).await;
        }
        Err(e) => return admin_error_page(&state, Some(&viewer), e),
    };
    let client = match a.get_client(&viewer.actor, &q.id).await {
        Ok(c) => c,
        Err(e) => return admin_error_page(&state, Some(&viewer), e),
    };
    let token_endpoint = a.settings().endpoint("/oauth2/token");
    html(
        StatusCode::CREATED,
        pages::secret_shown(
            &ctx(&state, Some(&viewer), Nav::Clients),
            &pages::ShownSecret {
                client: &client,
                secret_id: &added.secret_id,
                secret: &added.client_secret,
                token_endpoint: &token_endpoint,
                rotated: true,
            },
        ),
    )
}

async fn client_revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = checked_form(&state, &viewer, &body) {
        return r;
    }
    let secret = q.secret.unwrap_or_default();
    match state
        .authority
        .revoke_client_secret(&viewer.actor, &q.id, &secret)
        .await
    {
        Ok(()) => see_other(&format!(
            "{}&done=revoked#secrets",
            pages::client_href(&ctx(&state, None, Nav::None), &q.id)
        )),
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

async fn client_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = checked_form(&state, &viewer, &body) {
        return r;
    }
    match state.authority.delete_client(&viewer.actor, &q.id).await {
        Ok(()) => see_other(&format!("{}?done=deleted", portal(&state).path("/clients"))),
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

// ---- keys and audit ----------------------------------------------------------------

async fn keys(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
    render_keys(
        &state,
        &viewer,
        done_text(q.done.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
}

async fn render_keys(
    state: &AppState,
    viewer: &Viewer,
    done: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    match state.authority.list_keys(&viewer.actor).await {
        Ok(keys) => html(
            status,
            pages::keys(&ctx(state, Some(viewer), Nav::Keys), &keys, done, error),
        ),
        Err(e) => admin_error_page(state, Some(viewer), e),
    }
}

async fn keys_rotate(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Response {
    let form = match checked_form(&state, &viewer, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let force = form.get("force") == Some("yes");
    match state
        .authority
        .rotate_signing_keys(&viewer.actor, force)
        .await
    {
        Ok(_) => see_other(&format!("{}?done=rotated", portal(&state).path("/keys"))),
        Err(e) if is_form_error(&e) => {
            render_keys(&state, &viewer, None, Some(&e.to_string()), form_status(&e)).await
        }
        Err(e) => admin_error_page(&state, Some(&viewer), e),
    }
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    before: Option<i64>,
}

const AUDIT_PAGE: i64 = 50;

async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let filter = AuditFilter {
        actor: non_empty(&q.actor),
        action: non_empty(&q.action),
        target: non_empty(&q.target),
        since: None,
        before_id: q.before,
        teams: None,
        limit: AUDIT_PAGE,
    };
    let events = match state.authority.list_audit(&viewer.actor, filter).await {
        Ok(e) => e,
        Err(e) => return admin_error_page(&state, Some(&viewer), e),
    };
    let c = ctx(&state, Some(&viewer), Nav::Audit);
    let older = (events.len() as i64 == AUDIT_PAGE).then(|| {
        format!(
            "{}?actor={}&action={}&target={}&before={}",
            portal(&state).path("/audit"),
            pages::enc(&q.actor),
            pages::enc(&q.action),
            pages::enc(&q.target),
            events.last().map(|e| e.id).unwrap_or(0)
        )
    });
    html(
        StatusCode::OK,
        pages::audit(
            &c,
            &events,
            &pages::AuditFilters {
                actor: &q.actor,
                action: &q.action,
                target: &q.target,
            },
            older,
        ),
    )
}
