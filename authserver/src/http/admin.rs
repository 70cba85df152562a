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
use crate::admin::AdminError;
use crate::own_tokens::OwnTokenError;
use authdomain_api::{
    ADMIN_AUDIENCE, ADMIN_SCOPE, Client, ClientInput, CreatedClient, KeyInfo, NewSecret,
    ResourceServer, ResourceServerInput, ScopeInput, SecretInfo,
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
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AuthDomain admin API", description = "Manage the resource servers, clients, client secrets and signing keys of an AuthDomain auth server. Authorise with a Bearer access token carrying the `authdomain:admin` scope (audience `urn:authdomain:admin`)."),
    paths(
        list_resource_servers, create_resource_server, get_resource_server, put_resource_server, delete_resource_server,
        list_clients, create_client, get_client, update_client, delete_client, add_secret, revoke_secret,
        list_keys, rotate_keys
    ),
    components(schemas(ResourceServerInput, ResourceServer, ScopeInput, ClientInput, Client, CreatedClient, SecretInfo, NewSecret, KeyInfo)),
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

/// An authorised admin caller.
pub struct Admin {
    pub client_id: String,
}

const REALM: &str = "authdomain-admin";

/// An RFC 6750 refusal as an axum response.
fn refusal(e: &VerifyError) -> Response {
    refusal_response::<axum::body::Body>(e, Some(REALM))
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    /// One of our tokens (verified by the workspace's verifier against our own key ring),
    /// not revoked, for the admin audience with the admin scope. No token at all is a bare
    /// challenge (RFC 6750 §3.1); a token that is not valid is `invalid_token` (401); a
    /// valid token without the admin scope is `insufficient_scope` (403).
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
        if !verified.audience.iter().any(|a| a == ADMIN_AUDIENCE)
            || !verified.has_scope(ADMIN_SCOPE)
        {
            return Err(refusal(&VerifyError::InsufficientScope {
                missing: vec![ADMIN_SCOPE.to_owned()],
            }));
        }
        Ok(Admin {
            client_id: verified.client_id.clone(),
        })
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
async fn list_resource_servers(_: Admin, State(s): State<AppState>) -> Response {
    s.authority
        .list_resource_servers()
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(post, path = "/admin/v1/resource-servers", tag = "resource servers", request_body = ResourceServerInput,
    responses((status = 201, body = ResourceServer), (status = 409, description = "identifier or a scope name is taken"),
              (status = 422, description = "a field is invalid; `field` names it")))]
async fn create_resource_server(
    _: Admin,
    State(s): State<AppState>,
    input: Result<Json<ResourceServerInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    s.authority
        .create_resource_server(input)
        .await
        .map(created)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers",
    params(("identifier" = String, Path, description = "percent-encoded identifier")),
    responses((status = 200, body = ResourceServer), (status = 404)))]
async fn get_resource_server(
    _: Admin,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
) -> Response {
    s.authority
        .get_resource_server(&identifier)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(put, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers", request_body = ResourceServerInput,
    params(("identifier" = String, Path, description = "percent-encoded identifier")),
    responses((status = 200, body = ResourceServer), (status = 422)))]
async fn put_resource_server(
    _: Admin,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
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
        .put_resource_server(input, false)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/resource-servers/{identifier}", tag = "resource servers",
    params(("identifier" = String, Path, description = "percent-encoded identifier")),
    responses((status = 204), (status = 404)))]
async fn delete_resource_server(
    _: Admin,
    State(s): State<AppState>,
    Path(identifier): Path<String>,
) -> Response {
    s.authority
        .delete_resource_server(&identifier)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients", responses((status = 200, body = [Client])))]
async fn list_clients(_: Admin, State(s): State<AppState>) -> Response {
    s.authority.list_clients().await.map(Json).into_response()
}

#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients", request_body = ClientInput,
    responses((status = 201, body = CreatedClient, description = "the secret is shown once"), (status = 409), (status = 422)))]
async fn create_client(
    admin: Admin,
    State(s): State<AppState>,
    input: Result<Json<ClientInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    tracing::info!(by = %admin.client_id, "admin: create client");
    s.authority
        .create_client(input)
        .await
        .map(created_secret)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), responses((status = 200, body = Client), (status = 404)))]
async fn get_client(_: Admin, State(s): State<AppState>, Path(id): Path<String>) -> Response {
    s.authority.get_client(&id).await.map(Json).into_response()
}

#[utoipa::path(put, path = "/admin/v1/clients/{client_id}", tag = "clients", request_body = ClientInput,
    params(("client_id" = String, Path)), responses((status = 200, body = Client), (status = 404), (status = 422)))]
async fn update_client(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    input: Result<Json<ClientInput>, JsonRejection>,
) -> Response {
    let input = try_body!(input);
    s.authority
        .update_client(&id, input)
        .await
        .map(Json)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_client(_: Admin, State(s): State<AppState>, Path(id): Path<String>) -> Response {
    s.authority
        .delete_client(&id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(post, path = "/admin/v1/clients/{client_id}/secrets", tag = "clients",
    params(("client_id" = String, Path)),
    responses((status = 201, body = NewSecret, description = "a second active secret; shown once"),
              (status = 409, description = "the client already has two secrets")))]
async fn add_secret(_: Admin, State(s): State<AppState>, Path(id): Path<String>) -> Response {
    s.authority
        .add_client_secret(&id)
        .await
        .map(created_secret)
        .into_response()
}

#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}/secrets/{secret_id}", tag = "clients",
    params(("client_id" = String, Path), ("secret_id" = String, Path)), responses((status = 204), (status = 404)))]
async fn revoke_secret(
    _: Admin,
    State(s): State<AppState>,
    Path((id, secret_id)): Path<(String, String)>,
) -> Response {
    s.authority
        .revoke_client_secret(&id, &secret_id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[utoipa::path(get, path = "/admin/v1/keys", tag = "keys", responses((status = 200, body = [KeyInfo])))]
async fn list_keys(_: Admin, State(s): State<AppState>) -> Response {
    s.authority.list_keys().await.map(Json).into_response()
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
    _: Admin,
    State(s): State<AppState>,
    Query(q): Query<RotateQuery>,
) -> Response {
    s.authority
        .rotate_signing_keys(q.force)
        .await
        .map(Json)
        .into_response()
}
