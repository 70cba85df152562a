//! APIs (resource servers) and their scopes: list, add, view, edit, remove a scope (with
//! the clients that hold it named first), delete.

mod pages;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use authdomain_api::{ResourceServer, ResourceServerInput, ScopeInput};

use super::forms::FormData;
use super::layout::{Draft, Nav, api_href};
use super::respond::{
    DoneQuery, IdQuery, Page, checked_form, ctx, done_text, draft_of, fail, form_status, html,
    is_form_error, portal, see_other,
};
use super::viewer::Viewer;
use crate::admin::AdminError;
use crate::http::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/apis", get(apis).post(api_create))
        .route("/portal/apis/view", get(api_view))
        .route("/portal/apis/update", post(api_update))
        .route("/portal/apis/scopes/add", post(scope_add))
        .route("/portal/apis/scopes/remove", post(scope_remove))
        .route("/portal/apis/delete", post(api_delete))
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

async fn apis(State(state): State<AppState>, viewer: Viewer, Query(q): Query<DoneQuery>) -> Page {
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
) -> Page {
    let list = state
        .authority
        .list_resource_servers(&viewer.actor)
        .await
        .map_err(fail(state, Some(viewer)))?;
    Ok(html(
        status,
        pages::apis(&ctx(state, Some(viewer), Nav::Apis), &list, draft, done),
    ))
}

async fn api_create(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Page {
    let form = checked_form(&state, &viewer, &body)?;
    let input = ResourceServerInput {
        identifier: form.get("identifier").unwrap_or("").to_owned(),
        name: form.get("name").map(str::to_owned),
        scopes: parse_scopes(form.get("scopes").unwrap_or("")),
        team: form.get("team").map(str::to_owned),
        managed_by: None,
    };
    match state
        .authority
        .create_resource_server(&viewer.actor, input)
        .await
    {
        Ok(r) => Ok(see_other(&format!(
            "{}&done=created",
            api_href(&ctx(&state, None, Nav::None), &r.identifier)
        ))),
        Err(e) if is_form_error(&e) => {
            render_apis(&state, &viewer, &draft_of(&body, &e), None, form_status(&e)).await
        }
        Err(e) => Err(fail(&state, Some(&viewer))(e)),
    }
}

async fn render_api(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    draft: &Draft,
    done: Option<&str>,
    status: StatusCode,
) -> Page {
    let a = &state.authority;
    let r = a
        .get_resource_server(&viewer.actor, id)
        .await
        .map_err(fail(state, Some(viewer)))?;
    let names: Vec<String> = r.scopes.iter().map(|s| s.name.clone()).collect();
    let holders = a
        .held_scopes(&names)
        .await
        .map_err(fail(state, Some(viewer)))?;
    Ok(html(
        status,
        pages::api_view(
            &ctx(state, Some(viewer), Nav::Apis),
            &r,
            &holders,
            draft,
            done,
        ),
    ))
}

async fn api_view(State(state): State<AppState>, viewer: Viewer, Query(q): Query<IdQuery>) -> Page {
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
        managed_by: r.managed_by.clone(),
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
) -> Page {
    let form = checked_form(state, viewer, body)?;
    let a = &state.authority;
    let current = a
        .get_resource_server(&viewer.actor, id)
        .await
        .map_err(fail(state, Some(viewer)))?;
    let mut input = rs_input(&current);
    edit(&form, &mut input);
    let confirmed = form.get("confirm") == Some("yes");
    match a
        .put_resource_server(&viewer.actor, input, false, confirmed)
        .await
    {
        Ok(r) => Ok(see_other(&format!(
            "{}&done={done}",
            api_href(&ctx(state, None, Nav::None), &r.identifier)
        ))),
        Err(AdminError::ScopesHeld(held)) => Ok(html(
            StatusCode::CONFLICT,
            pages::confirm_scope_removal(&ctx(state, Some(viewer), Nav::Apis), &current, &held),
        )),
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
        Err(e) => Err(fail(state, Some(viewer))(e)),
    }
}

async fn api_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<IdQuery>,
    body: Bytes,
) -> Page {
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
) -> Page {
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
) -> Page {
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
) -> Page {
    checked_form(&state, &viewer, &body)?;
    state
        .authority
        .delete_resource_server(&viewer.actor, &q.id)
        .await
        .map_err(fail(&state, Some(&viewer)))?;
    Ok(see_other(&format!(
        "{}?done=deleted",
        portal(&state).path("/apis")
    )))
}
