//! Clients: list, register (the secret shown once), view, edit, rotate and revoke
//! secrets, delete. Operator-managed clients are read-only here.

mod pages;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use authdomain_api::ClientInput;

use super::forms::FormData;
use super::layout::{Draft, Nav, client_href};
use super::respond::{
    DoneQuery, IdQuery, Page, checked_form, ctx, done_text, draft_of, fail, form_status, html,
    is_form_error, portal, see_other,
};
use super::viewer::Viewer;
use crate::admin::AdminError;
use crate::http::state::AppState;
use pages::ScopeChoice;

// ---- clients -----------------------------------------------------------------------

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/clients", get(clients).post(client_create))
        .route("/portal/clients/view", get(client_view))
        .route("/portal/clients/update", post(client_update))
        .route("/portal/clients/rotate", post(client_rotate))
        .route("/portal/clients/revoke", post(client_revoke))
        .route("/portal/clients/delete", post(client_delete))
}

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
) -> Page {
    let a = &state.authority;
    let (list, choices) =
        tokio::try_join!(a.list_clients(&viewer.actor), scope_choices(state, viewer))
            .map_err(fail(state, Some(viewer)))?;
    Ok(html(
        status,
        pages::clients(
            &ctx(state, Some(viewer), Nav::Clients),
            &list,
            &choices,
            draft,
            done,
        ),
    ))
}

async fn clients(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Page {
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

/// The page that shows a new secret, once.
fn secret_page(
    state: &AppState,
    viewer: &Viewer,
    client: &authdomain_api::Client,
    secret_id: &str,
    secret: &str,
    rotated: bool,
) -> axum::response::Response {
    let token_endpoint = state.authority.settings().endpoint("/oauth2/token");
    html(
        StatusCode::CREATED,
        pages::secret_shown(
            &ctx(state, Some(viewer), Nav::Clients),
            &pages::ShownSecret {
                client,
                secret_id,
                secret,
                token_endpoint: &token_endpoint,
                rotated,
            },
        ),
    )
}

async fn client_create(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Page {
    let form = checked_form(&state, &viewer, &body)?;
    let result = match client_input(&form) {
        Ok(input) => state.authority.create_client(&viewer.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => Ok(match &created.client_secret {
            Some(secret) => {
                let secret_id = created
                    .client
                    .secrets
                    .first()
                    .map(|s| s.secret_id.clone())
                    .unwrap_or_default();
                secret_page(&state, &viewer, &created.client, &secret_id, secret, false)
            }
            None => see_other(&format!(
                "{}&done=created",
                client_href(&ctx(&state, None, Nav::None), &created.client.client_id)
            )),
        }),
        Err(e) if is_form_error(&e) => {
            render_clients(&state, &viewer, &draft_of(&body, &e), None, form_status(&e)).await
        }
        Err(e) => Err(fail(&state, Some(&viewer))(e)),
    }
}

async fn render_client(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Page {
    let failed = fail(state, Some(viewer));
    let c = state
        .authority
        .get_client(&viewer.actor, id)
        .await
        .map_err(&failed)?;
    let choices = scope_choices(state, viewer).await.map_err(&failed)?;
    let can_change = viewer.actor.may_change_client(&c);
    Ok(html(
        status,
        pages::client_view(
            &ctx(state, Some(viewer), Nav::Clients),
            &c,
            &choices,
            draft,
            done,
            can_change,
        ),
    ))
}

async fn client_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
) -> Page {
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
) -> Page {
    let form = checked_form(&state, &viewer, &body)?;
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
        Ok(c) => Ok(see_other(&format!(
            "{}&done=saved",
            client_href(&ctx(&state, None, Nav::None), &c.client_id)
        ))),
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
        Err(e) => Err(fail(&state, Some(&viewer))(e)),
    }
}

async fn client_rotate(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Page {
    checked_form(&state, &viewer, &body)?;
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
        Err(e) => return Err(fail(&state, Some(&viewer))(e)),
    };
    let client = a
        .get_client(&viewer.actor, &q.id)
        .await
        .map_err(fail(&state, Some(&viewer)))?;
    Ok(secret_page(
        &state,
        &viewer,
        &client,
        &added.secret_id,
        &added.client_secret,
        true,
    ))
}

async fn client_revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Page {
    checked_form(&state, &viewer, &body)?;
    let secret = q.secret.unwrap_or_default();
    state
        .authority
        .revoke_client_secret(&viewer.actor, &q.id, &secret)
        .await
        .map_err(fail(&state, Some(&viewer)))?;
    Ok(see_other(&format!(
        "{}&done=revoked#secrets",
        client_href(&ctx(&state, None, Nav::None), &q.id)
    )))
}

async fn client_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Page {
    checked_form(&state, &viewer, &body)?;
    state
        .authority
        .delete_client(&viewer.actor, &q.id)
        .await
        .map_err(fail(&state, Some(&viewer)))?;
    Ok(see_other(&format!(
        "{}?done=deleted",
        portal(&state).path("/clients")
    )))
}
