//! The audit log, filtered by who, what and which object, newest first, a page at a time.

mod pages;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::layout::{Nav, enc};
use super::respond::{Page, ctx, fail, html, portal};
use super::viewer::Viewer;
use crate::http::state::AppState;
use crate::store::AuditFilter;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/portal/audit", get(audit))
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

async fn audit(State(state): State<AppState>, viewer: Viewer, Query(q): Query<AuditQuery>) -> Page {
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
    let events = state
        .authority
        .list_audit(&viewer.actor, filter)
        .await
        .map_err(fail(&state, Some(&viewer)))?;
    let c = ctx(&state, Some(&viewer), Nav::Audit);
    let older = (events.len() as i64 == AUDIT_PAGE).then(|| {
        format!(
            "{}?actor={}&action={}&target={}&before={}",
            portal(&state).path("/audit"),
            enc(&q.actor),
            enc(&q.action),
            enc(&q.target),
            events.last().map(|e| e.id).unwrap_or(0)
        )
    });
    Ok(html(
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
    ))
}
