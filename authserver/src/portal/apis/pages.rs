//! The APIs' pages.

use authdomain_api::ResourceServer;
use maud::{Markup, html};

use crate::admin::HeldScope;
use crate::portal::layout::{
    Ctx, Draft, api_href, client_href, enc, field, flash, layout, team_select, time,
};

pub(super) fn apis(
    ctx: &Ctx,
    list: &[ResourceServer],
    draft: &Draft,
    done: Option<&str>,
) -> Markup {
    layout(
        ctx,
        "APIs",
        html! {
            div.page-head { h1 { "APIs" } }
            @if let Some(d) = done { (flash("ok", d)) }
            p.lead { "Each API (resource server) is the audience of the tokens that carry its scopes." }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Name" } th { "Identifier" } th { "Team" } th { "Scopes" } th { "Updated" } } }
                    tbody {
                        @if list.is_empty() { tr.empty { td colspan="5" { "No APIs yet: add one below." } } }
                        @for r in list {
                            tr {
                                td data-label="Name" { a href=(api_href(ctx, &r.identifier)) { (r.name) } }
                                td.mono data-label="Identifier" { (r.identifier) }
                                td data-label="Team" { @if let Some(t) = &r.team { span.badge.badge-team { (t) } } @else { span.muted { "none" } } }
                                td data-label="Scopes" { @for s in &r.scopes { code { (s.name) } " " } }
                                td data-label="Updated" { (time(r.updated_at)) }
                            }
                        }
                    }
                }
            }
            section.card #new {
                h2 { "Add an API" }
                @if let Some(e) = draft.general_error() { (flash("error", e)) }
                form.stack method="post" action=(ctx.href("/apis")) {
                    (ctx.csrf())
                    (field(draft, "rs-identifier", "identifier", "Identifier", Some("An absolute URI, e.g. https://orders.example.com: the tokens' audience."),
                        html! { input #rs-identifier name="identifier" required type="url" value=[draft.value("identifier")] aria-invalid=[draft.field_error("identifier").map(|_| "true")] aria-describedby="rs-identifier-hint"; }))
                    (field(draft, "rs-name", "name", "Name", None,
                        html! { input #rs-name name="name" value=[draft.value("name")]; }))
                    (team_select(ctx, draft, "rs-team", None))
                    (field(draft, "rs-scopes", "scopes", "Scopes", Some("One per line: name, then optionally a space and a description (orders:read Read orders)."),
                        html! { textarea #rs-scopes name="scopes" rows="4" aria-invalid=[draft.field_error("scopes").map(|_| "true")] aria-describedby="rs-scopes-hint" { (draft.value("scopes").unwrap_or("")) } }))
                    div.form-actions { button.btn.btn-primary type="submit" { "Add API" } }
                }
            }
        },
    )
}

pub(super) fn api_view(
    ctx: &Ctx,
    r: &ResourceServer,
    holders: &[HeldScope],
    draft: &Draft,
    done: Option<&str>,
) -> Markup {
    let held_by = |scope: &str| {
        holders
            .iter()
            .find(|h| h.scope == scope)
            .map(|h| h.clients.len())
            .unwrap_or(0)
    };
    let id = &r.identifier;
    // Registrations the manifest manages change there (apply converges them back).
    let editable = r.managed_by.is_none();
    layout(
        ctx,
        &r.name,
        html! {
            div.page-head {
                h1 { (r.name) }
                @if editable {
                    form.inline method="post" action=(format!("{}?id={}", ctx.href("/apis/delete"), enc(id)))
                        data-confirm=(format!("Delete the API {}? Its scopes go with it.", r.name)) {
                        (ctx.csrf())
                        button.btn.btn-danger.btn-small type="submit" { "Delete API" }
                    }
                }
            }
            @if let Some(d) = done { (flash("ok", d)) }
            @if let Some(e) = draft.general_error() { (flash("error", e)) }
            @if let Some(m) = &r.managed_by {
                (flash("warn", &format!("Managed by {}: read-only here. Change the AuthDomain manifest (spec.resourceServers) and apply it instead.", if m == "spec" { "the AuthDomain manifest" } else { m.as_str() })))
            }
            dl.meta {
                dt { "Identifier (audience)" } dd.mono { (id) }
                dt { "Team" } dd { @if let Some(t) = &r.team { span.badge.badge-team { (t) } } @else { "none (admins only)" } }
                dt { "Created" } dd { (time(r.created_at)) }
                dt { "Updated" } dd { (time(r.updated_at)) }
            }
            section.card {
                h2 { "Scopes" }
                div.table-wrap {
                    table.list {
                        thead { tr { th { "Scope" } th { "Description" } th { "Held by" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @if r.scopes.is_empty() { tr.empty { td colspan="4" { "No scopes yet." } } }
                            @for s in &r.scopes {
                                tr {
                                    td.mono data-label="Scope" { (s.name) }
                                    td data-label="Description" { (s.description) }
                                    td data-label="Held by" { (held_by(&s.name)) " clients" }
                                    td.actions {
                                        @if editable {
                                            form.inline method="post" action=(format!("{}?id={}", ctx.href("/apis/scopes/remove"), enc(id))) {
                                                (ctx.csrf())
                                                input type="hidden" name="scope" value=(s.name);
                                                button.btn.btn-small type="submit" aria-label=(format!("Remove scope {}", s.name)) { "Remove" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if editable {
                h3 { "Add a scope" }
                form method="post" action=(format!("{}?id={}", ctx.href("/apis/scopes/add"), enc(id))) {
                    (ctx.csrf())
                    div.row {
                        div.field {
                            label for="scope-name" { "Name" }
                            input #scope-name name="scope" required value=[draft.value("scope")] aria-invalid=[draft.field_error("scopes").map(|_| "true")];
                        }
                        div.field {
                            label for="scope-description" { "Description" }
                            input #scope-description name="description" value=[draft.value("description")];
                        }
                        button.btn.btn-primary type="submit" { "Add scope" }
                    }
                    @if let Some(e) = draft.field_error("scopes") { p.field-error role="alert" { (e) } }
                }
                }
            }
            @if editable {
            section.card {
                h2 { "Details" }
                form.stack method="post" action=(format!("{}?id={}", ctx.href("/apis/update"), enc(id))) {
                    (ctx.csrf())
                    (field(draft, "rs-name", "name", "Name", None, html! { input #rs-name name="name" value=(draft.value("name").unwrap_or(&r.name)); }))
                    @for (i, s) in r.scopes.iter().enumerate() {
                        (field(draft, &format!("desc-{i}"), "description", &format!("Description of {}", s.name), None,
                            html! { input id=(format!("desc-{i}")) name=(format!("description:{}", s.name)) value=(s.description); }))
                    }
                    (team_select(ctx, draft, "rs-team", r.team.as_deref()))
                    div.form-actions { button.btn.btn-primary type="submit" { "Save" } }
                }
            }
            }
        },
    )
}

pub(super) fn confirm_scope_removal(ctx: &Ctx, r: &ResourceServer, held: &[HeldScope]) -> Markup {
    layout(
        ctx,
        "Remove a held scope?",
        html! {
            h1 { "Remove a scope that clients hold?" }
            div.confirm role="alert" {
                @for h in held {
                    p { "The scope " code { (h.scope) } " of " strong { (r.name) } " is held by:" }
                    ul {
                        @for c in &h.clients {
                            li { a href=(client_href(ctx, &c.client_id)) { (c.name) } " (" code { (c.client_id) } ")" }
                        }
                    }
                }
                p { "Removing it takes it from these clients too: their token requests for it will be refused." }
                form.inline method="post" action=(format!("{}?id={}", ctx.href("/apis/scopes/remove"), enc(&r.identifier))) {
                    (ctx.csrf())
                    @for h in held { input type="hidden" name="scope" value=(h.scope); }
                    input type="hidden" name="confirm" value="yes";
                    button.btn.btn-danger type="submit" { "Remove from the API and these clients" }
                }
                " "
                a.btn href=(api_href(ctx, &r.identifier)) { "Cancel" }
            }
        },
    )
}
