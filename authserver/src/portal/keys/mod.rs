//! The signing keys: their states, and rotation (admins only).

mod pages;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::layout::Nav;
use super::respond::{
    DoneQuery, Page, checked_form, ctx, done_text, fail, form_status, html, is_form_error, portal,
    see_other,
};
use super::viewer::Viewer;
use crate::http::state::AppState;

// ---- keys and audit ----------------------------------------------------------------

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/keys", get(keys))
        .route("/portal/keys/rotate", post(keys_rotate))
}

async fn keys(State(state): State<AppState>, viewer: Viewer, Query(q): Query<DoneQuery>) -> Page {
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
) -> Page {
    let keys = state
        .authority
        .list_keys(&viewer.actor)
        .await
        .map_err(fail(state, Some(viewer)))?;
    Ok(html(
        status,
        pages::keys(&ctx(state, Some(viewer), Nav::Keys), &keys, done, error),
    ))
}

async fn keys_rotate(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> Page {
    let form = checked_form(&state, &viewer, &body)?;
    let force = form.get("force") == Some("yes");
    match state
        .authority
        .rotate_signing_keys(&viewer.actor, force)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}?done=rotated",
            portal(&state).path("/keys")
        ))),
        Err(e) if is_form_error(&e) => {
            render_keys(&state, &viewer, None, Some(&e.to_string()), form_status(&e)).await
        }
        Err(e) => Err(fail(&state, Some(&viewer))(e)),
    }
}
