//! The overview: what the signed-in person manages, at a glance.

use authdomain_api::{AuditEvent, Client, KeyInfo, ResourceServer};
use maud::{Markup, html};

use crate::admin::Role;
use crate::portal::layout::{Ctx, layout, time};

pub(super) struct HomeData<'a> {
    pub(super) apis: &'a [ResourceServer],
    pub(super) clients: &'a [Client],
    pub(super) keys: &'a [KeyInfo],
    pub(super) recent: &'a [AuditEvent],
}

pub(super) fn home(ctx: &Ctx, d: &HomeData) -> Markup {
    let v = ctx.viewer.expect("signed in");
    let active = d.keys.iter().find(|k| k.state == "active");
    layout(
        ctx,
        "Overview",
        html! {
            div.page-head {
                h1 { "Welcome, " (v.session.name) }
            }
            p.lead {
                @match &v.actor.role {
                    Role::Admin => "You are an admin: you see and manage every API and client.",
                    Role::Member(_) => "You manage your teams' APIs, their scopes, and the clients that receive them.",
                }
            }
            div.grid-2 {
                section.card {
                    h2 { a href=(ctx.href("/apis")) { "APIs" } }
                    p { (d.apis.len()) " resource servers, " (d.apis.iter().map(|a| a.scopes.len()).sum::<usize>()) " scopes." }
                    a.btn href=(format!("{}#new", ctx.href("/apis"))) { "Add an API" }
                }
                section.card {
                    h2 { a href=(ctx.href("/clients")) { "Clients" } }
                    p { (d.clients.len()) " clients, " (d.clients.iter().filter(|c| c.managed_by.is_some()).count()) " of them managed by Kubernetes." }
                    a.btn href=(format!("{}#new", ctx.href("/clients"))) { "Register a client" }
                }
                section.card {
                    h2 { a href=(ctx.href("/keys")) { "Signing keys" } }
                    @if let Some(k) = active {
                        p { "Signing with " code { (k.kid) } " (" (k.alg) "), active since " (time(k.activated_at.unwrap_or(k.created_at))) "." }
                    } @else {
                        p { "No active key." }
                    }
                }
                section.card {
                    h2 { a href=(ctx.href("/audit")) { "Recent changes" } }
                    @if d.recent.is_empty() { p.muted { "Nothing yet." } }
                    ul {
                        @for e in d.recent {
                            li { (time(e.at)) " · " (e.actor) " · " code { (e.action) } " " span.mono { (e.target) } }
                        }
                    }
                }
            }
        },
    )
}
