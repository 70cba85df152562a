//! The portal's home: the sign-in page without a session, the overview with one.

mod pages;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::layout::Nav;
use super::respond::{Page, ctx, fail, html, portal, safe_return};
use super::{session, sign_in};
use crate::http::state::AppState;
use crate::store::AuditFilter;

// ---- sign-in -----------------------------------------------------------------------

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/", get(home))
}

#[derive(Debug, Default, Deserialize)]
struct HomeQuery {
    return_to: Option<String>,
    signed_out: Option<String>,
}

/// Without a session, the sign-in page; with one, the overview.
async fn home(State(state): State<AppState>, req: Request) -> Page {
    let (parts, _) = req.into_parts();
    let q: HomeQuery = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let p = portal(&state);
    if !p.configured {
        return Ok(html(
            StatusCode::OK,
            sign_in::not_configured(&ctx(&state, None, Nav::None)),
        ));
    }
    let Some(viewer) = session::current(&state, &parts).await? else {
        let back = safe_return(p, q.return_to.as_deref());
        return Ok(html(
            StatusCode::OK,
            sign_in::sign_in(
                &ctx(&state, None, Nav::None),
                None,
                q.signed_out.is_some(),
                &back,
            ),
        ));
    };
    let a = &state.authority;
    let me = &viewer.actor;
    let recent = AuditFilter {
        limit: 5,
        ..AuditFilter::default()
    };
    let (apis, clients, keys, recent) = tokio::try_join!(
        a.list_resource_servers(me),
        a.list_clients(me),
        a.list_keys(me),
        a.list_audit(me, recent)
    )
    .map_err(fail(&state, Some(&viewer)))?;
    Ok(html(
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
    ))
}
