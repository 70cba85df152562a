//! The admin API (`/admin/v1`): resource servers, clients, secrets and keys. Authorised by
//! one of our access tokens carrying the `authdomain:admin` scope for the admin audience.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use authdomain_verifier::VerifyError;
use authdomain_verifier::http::{bearer_token, refusal_response};

use super::AppState;
use super::error::{bad_request, oauth_error_response};
use crate::admin::{Actor, AdminError, Role, Via};
use crate::authority::OwnTokenError;
use crate::store::AuditFilter;
use authdomain_api::{
    ADMIN_AUDIENCE, ADMIN_SCOPE, AuditEvent, Client, ClientInput, CreatedClient, KeyInfo,
    NewSecret, ResourceServer, ResourceServerInput, Revocation, RevocationInput, ScopeInput,
    SecretInfo, TEAM_SCOPE_PREFIX,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route(
            "/resource-servers",
            get(list_resource_servers).post(create_resource_server),
        )
        .route(
            "/resource-servers/{identifier}",
            get(get_resource_server)
                .put(put_resource_server)
                .delete(delete_resource_server),
        )
        .route("/clients", get(list_clients).post(create_client))
        .route(
            "/clients/{client_id}",
            get(get_client).put(update_client).delete(delete_client),
        )
        .route("/clients/{client_id}/secrets", post(add_secret))
        .route(
            "/clients/{client_id}/secrets/{secret_id}",
            delete(revoke_secret),
        )
        .route("/keys", get(list_keys))
        .route("/keys/rotate", post(rotate_keys))
        .route("/revocations", post(revoke_token))
        .route("/read-model", get(read_model))
        .route("/audit", get(list_audit))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AuthDomain admin API", description = "Manage the resource servers, clients, client secrets and signing keys of an AuthDomain auth server, and read its audit log. Authorise with a Bearer access token for the audience `urn:authdomain:admin` carrying `authdomain:admin` (everything) or `authdomain:team:NAME` (that team's resource servers and the clients of its scopes; 403 for anything else)."),
    paths(
        list_resource_servers, create_resource_server, get_resource_server, put_resource_server, delete_resource_server,
        list_clients, create_client, get_client, update_client, delete_client, add_secret, revoke_secret,
        list_keys, rotate_keys, revoke_token, read_model, list_audit
    ),
    components(schemas(ResourceServerInput, ResourceServer, ScopeInput, ClientInput, Client, CreatedClient, SecretInfo, NewSecret, KeyInfo, RevocationInput, Revocation, crate::authority::ReadModelStatus, AuditEvent, crate::admin::HeldScope, crate::admin::HeldBy)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// An authorised caller of the admin API: an admin (`authdomain:admin`) or a member of
/// the teams named by its `authdomain:team:NAME` scopes.
pub struct Caller(pub Actor);

const REALM: &str = "authdomain-admin";

/// An RFC 6750 refusal as an axum response.
fn refusal(e: &VerifyError) -> Response {
    refusal_response::<axum::body::Body>(e, Some(REALM))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    /// One of our tokens (verified by the workspace's verifier against our own key ring),
    /// not revoked, for the admin audience with the admin scope or a team scope. No token
    /// at all is a bare challenge (RFC 6750 §3.1); a token that is not valid is
    /// `invalid_token` (401); a valid token with neither scope is `insufficient_scope` (403).
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).map_err(|e| refusal(&e))?;
        let authority = &state.authority;
        let verified = match authority.verify_own_token(token).await {
            Ok(t) => t,
            Err(OwnTokenError::Invalid(e)) => return Err(refusal(&e)),
            Err(OwnTokenError::Store(e)) => {
                return Err(oauth_error_response(&e, &authority.settings().issuer));
            }
        };
        let for_admin_api = verified.audience.iter().any(|a| a == ADMIN_AUDIENCE);
        let teams: std::collections::BTreeSet<String> = verified
            .scopes
            .iter()
            .filter_map(|s| s.strip_prefix(TEAM_SCOPE_PREFIX))
            .map(str::to_owned)
            .collect();
        let role = if for_admin_api && verified.has_scope(ADMIN_SCOPE) {
            Role::Admin
        } else if for_admin_api && !teams.is_empty() {
            Role::Member(teams)
        } else {
            return Err(refusal(&VerifyError::InsufficientScope {
                missing: vec![ADMIN_SCOPE.to_owned()],
            }));
        };
        Ok(Caller(Actor {
            id: format!("client:{}", verified.client_id),
            role,
            via: Via::Api,
            source: parts
                .extensions
                .get::<super::SourceAddress>()
                .map(|a| a.0.clone()),
        }))
    }
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

/// 201 for a body that carries a secret shown once: never cached.
fn created_secret<T: serde::Serialize>(value: T) -> Response {
    let mut resp = created(value);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Unwrap a JSON body or return a 400 that says what is wrong with it (serde's message
/// names the field and position).
macro_rules! try_body {
    ($e:expr) => {
        match $e {
            Ok(Json(v)) => v,
            Err(rejection) => return bad_request(JsonRejection::body_text(&rejection)),
        }
    };
}

#[utoipa::path(get, path = "/admin/v1/resource-servers", tag = "resource servers",
    responses((status = 200, body = [ResourceServer])))]
async fn list_resource_servers(Caller(a): Caller, State(s): State<AppState>) -> Response {
    s.authority
        .list_resource_servers(&a)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(post, path = "/admin/v1/resource-servers", tag = "resource servers", request_body = ResourceServerInput,
    responses((status = 201, body = ResourceServer), (status = 409, description = "identifier or a scope name is taken"),
              (status = 422, description = "a field is invalid; `field` names it")))]
async fn create_resource_server(
    Caller(a): Caller,
    State(s): State<AppState>,
    input: Result<Json<ResourceServerInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    s.authority
        .create_resource_server(&a, input)
        .await
        .map(created)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers",
    params(("identifier" = String, Path, description = "percent-encoded identifier")),
    responses((status = 200, body = ResourceServer), (status = 404)))]
async fn get_resource_server(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
) -> Response {
    s.authority
        .get_resource_server(&a, &identifier)
        .await
        .map(Json)
        .into_response()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct PutQuery {
    /// Remove scopes that clients hold, taking them from those clients too. Without it, such
    /// a change is answered 409 `scopes_held` listing the clients.
    #[serde(default)]
    remove_held_scopes: bool,
}

#[utoipa::path(put, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers", request_body = ResourceServerInput,
    params(("identifier" = String, Path, description = "percent-encoded identifier"), PutQuery),
    responses((status = 200, body = ResourceServer), (status = 403, description = "another team's resource server"),
              (status = 409, description = "`scopes_held`: removed scopes are held by the clients in `held`; repeat with `remove_held_scopes=true`"),
              (status = 422)))]
async fn put_resource_server(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<PutQuery>,
    input: Result<Json<ResourceServerInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    if input.identifier != identifier {
        return AdminError::Invalid {
            field: "identifier".into(),
            message: "must equal the identifier in the URL".into(),
        }
        .into_response();
    }
    s.authority
        .put_resource_server(&a, input, false, q.remove_held_scopes)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers",
    params(("identifier" = String, Path, description = "percent-encoded identifier")),
    responses((status = 204), (status = 404)))]
async fn delete_resource_server(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
) -> Response {
    s.authority
        .delete_resource_server(&a, &identifier)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients", responses((status = 200, body = [Client])))]
async fn list_clients(Caller(a): Caller, State(s): State<AppState>) -> Response {
    s.authority.list_clients(&a).await.map(Json).into_response()
}

#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients", request_body = ClientInput,
    responses((status = 201, body = CreatedClient, description = "the secret is shown once"), (status = 409), (status = 422)))]
async fn create_client(
    Caller(a): Caller,
    State(s): State<AppState>,
    input: Result<Json<ClientInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    tracing::info!(by = %a.id, "admin: create client");
    s.authority
        .create_client(&a, input)
        .await
        .map(created_secret)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), responses((status = 200, body = Client), (status = 404)))]
async fn get_client(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    s.authority
        .get_client(&a, &id)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(put, path = "/admin/v1/clients/{client_id}", tag = "clients", request_body = ClientInput,
    params(("client_id" = String, Path)), responses((status = 200, body = Client), (status = 404), (status = 422)))]
async fn update_client(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    input: Result<Json<ClientInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    s.authority
        .update_client(&a, &id, input)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_client(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    s.authority
        .delete_client(&a, &id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(post, path = "/admin/v1/clients/{client_id}/secrets", tag = "clients",
    params(("client_id" = String, Path)),
    responses((status = 201, body = NewSecret, description = "a second active secret; shown once"),
              (status = 409, description = "the client already has two secrets")))]
async fn add_secret(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    s.authority
        .add_client_secret(&a, &id)
        .await
        .map(created_secret)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}/secrets/{secret_id}", tag = "clients",
    params(("client_id" = String, Path), ("secret_id" = String, Path)), responses((status = 204), (status = 404)))]
async fn revoke_secret(
    Caller(a): Caller,
    State(s): State<AppState>,
    Path((id, secret_id)): Path<(String, String)>,
) -> Response {
    s.authority
        .revoke_client_secret(&a, &id, &secret_id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/keys", tag = "keys", responses((status = 200, body = [KeyInfo])))]
async fn list_keys(Caller(a): Caller, State(s): State<AppState>) -> Response {
    s.authority.list_keys(&a).await.map(Json).into_response()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct RotateQuery {
    /// Rotate even if the next key was published less than the JWKS cache lifetime ago.
    #[serde(default)]
    force: bool,
}

#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "keys", params(RotateQuery),
    responses((status = 200, body = KeyInfo, description = "the new active key (it was published as `next` before)"),
              (status = 409, description = "the next key is too recently published; retry later or force")))]
async fn rotate_keys(
    Caller(a): Caller,
    State(s): State<AppState>,
    Query(q): Query<RotateQuery>,
) -> Response {
    s.authority
        .rotate_signing_keys(&a, q.force)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(post, path = "/admin/v1/revocations", tag = "tokens", request_body = RevocationInput,
    responses((status = 200, body = Revocation, description = "introspection reports the token inactive until it expires"),
              (status = 422, description = "not a valid, unexpired access token of this server")))]
async fn revoke_token(
    Caller(a): Caller,
    State(s): State<AppState>,
    input: Result<Json<RevocationInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    s.authority
        .revoke_token_as_admin(&a, input)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/read-model", tag = "read-model",
    responses((status = 200, body = crate::authority::ReadModelStatus,
               description = "the published read model's version against the database's, and the last publication failure")))]
async fn read_model(Caller(a): Caller, State(s): State<AppState>) -> Response {
    s.authority.read_model(&a).await.map(Json).into_response()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct AuditQuery {
    /// Only this actor (`alice@example.com`, `client:ID`).
    actor: Option<String>,
    /// Actions starting with this (`client`, `client.secret`, `resource-server.update`).
    action: Option<String>,
    /// Only this object (client id, resource server identifier, key id).
    target: Option<String>,
    /// Only events at or after this Unix time.
    since: Option<i64>,
    /// Page backwards: only events with a smaller id.
    before: Option<i64>,
    /// At most this many (1 to 500, default 100).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = [AuditEvent], description = "newest first; team members see their teams' objects only")))]
async fn list_audit(
    Caller(a): Caller,
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = AuditFilter {
        actor: q.actor.filter(|v| !v.is_empty()),
        action: q.action.filter(|v| !v.is_empty()),
        target: q.target.filter(|v| !v.is_empty()),
        since: q.since,
        before_id: q.before,
        teams: None,
        limit: q.limit.unwrap_or(100),
    };
    s.authority
        .list_audit(&a, filter)
        .await
        .map(Json)
        .into_response()
}
