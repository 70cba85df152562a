//! The audit log's page.

use authdomain_api::AuditEvent;
use maud::{Markup, html};

use crate::portal::layout::{Ctx, layout, time};

pub(super) struct AuditFilters<'a> {
    pub(super) actor: &'a str,
    pub(super) action: &'a str,
    pub(super) target: &'a str,
}

pub(super) fn audit(
    ctx: &Ctx,
    events: &[AuditEvent],
    f: &AuditFilters,
    older: Option<String>,
) -> Markup {
    layout(
        ctx,
        "Audit log",
        html! {
            div.page-head { h1 { "Audit log" } }
            p.lead { "Every change: who, when, what and from where. Secrets never appear here, only their ids." }
            form.filters method="get" action=(ctx.href("/audit")) role="search" {
                div.field { label for="f-actor" { "Who" } input #f-actor name="actor" value=(f.actor) placeholder="alice@example.com"; }
                div.field { label for="f-action" { "Action" }
                    select #f-action name="action" {
                        @for (v, l) in [("", "Any"), ("resource-server", "APIs"), ("client", "Clients"), ("client.secret", "Secrets"), ("key", "Keys")] {
                            option value=(v) selected[f.action == v] { (l) }
                        }
                    }
                }
                div.field { label for="f-target" { "Object" } input #f-target name="target" value=(f.target) placeholder="client id or API identifier"; }
                button.btn type="submit" { "Filter" }
            }
            div.table-wrap {
                table.list {
                    thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Object" } th { "From" } th { "Details" } } }
                    tbody {
                        @if events.is_empty() { tr.empty { td colspan="6" { "No matching events." } } }
                        @for e in events {
                            tr {
                                td data-label="When" { (time(e.at)) }
                                td data-label="Who" { (e.actor) " " span.muted { "(" (e.role) ", " (e.via) ")" } }
                                td data-label="Action" { code.action { (e.action) } }
                                td.mono data-label="Object" { (e.target) @if let Some(t) = &e.team { " " span.badge.badge-team { (t) } } }
                                td data-label="From" { (e.source.as_deref().unwrap_or("—")) }
                                td.mono data-label="Details" { (detail_text(&e.detail)) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = older { p { a.btn href=(href) { "Older events" } } }
        },
    )
}

fn detail_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
