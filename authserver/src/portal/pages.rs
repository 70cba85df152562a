//! The pages, rendered on the server with maud (escaped by construction). Views take the
//! data a handler fetched and return markup; they do no I/O.

use authdomain_api::{AuditEvent, Client, ClientAuthMethod, KeyInfo, ResourceServer};
use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;
use super::{Portal, SignIn};
use crate::admin::{HeldScope, Role};

/// The stylesheet and the script, embedded in the binary (no asset is fetched at run time).
pub const CSS: &str = include_str!("assets/portal.css");
pub const JS: &str = include_str!("assets/portal.js");

/// The assets' version in their URLs: a digest of their content, computed once. They are
/// cached for a year (`immutable`), so a changed stylesheet or script must change its URL.
pub fn asset_version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| content_version(&[CSS, JS]));
    &VERSION
}

/// Twelve base64url characters of the SHA-256 of `parts` (as `session::hash_id` encodes).
fn content_version(parts: &[&str]) -> String {
    use base64::Engine as _;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&ctx.finish().as_ref()[..9])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Home,
    Apis,
    Clients,
    Keys,
    Audit,
    None,
}

pub struct Ctx<'a> {
    pub portal: &'a Portal,
    pub viewer: Option<&'a Viewer>,
    pub nav: Nav,
}

impl Ctx<'_> {
    fn href(&self, path: &str) -> String {
        self.portal.path(path)
    }

    fn csrf(&self) -> Markup {
        html! {
            @if let Some(v) = self.viewer {
                input type="hidden" name="csrf" value=(v.session.csrf);
            }
        }
    }

    fn is_admin(&self) -> bool {
        self.viewer.is_some_and(|v| v.actor.is_admin())
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian; H. Hinnant's civil date).
pub fn when(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn time(t: i64) -> Markup {
    html! { time datetime=(t) { (when(t)) } }
}

/// The `href` of a resource server's page (identifiers are URLs: a query parameter).
pub fn api_href(ctx: &Ctx, identifier: &str) -> String {
    format!("{}?id={}", ctx.href("/apis/view"), enc(identifier))
}

pub fn client_href(ctx: &Ctx, client_id: &str) -> String {
    format!("{}?id={}", ctx.href("/clients/view"), enc(client_id))
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let link = |nav: Nav, path: &str, label: &str| {
        html! {
            a href=(ctx.href(path)) aria-current=[(ctx.nav == nav).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.portal.settings.domain_name) " · AuthDomain" }
                link rel="stylesheet" href=(format!("{}?v={}", ctx.href("/assets/portal.css"), asset_version()));
                script src=(format!("{}?v={}", ctx.href("/assets/portal.js"), asset_version())) defer {}
            }
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.topbar {
                    a.brand href=(ctx.href("")) {
                        "AuthDomain"
                        @if ctx.portal.settings.domain_name != "AuthDomain" {
                            span.brand-domain { (ctx.portal.settings.domain_name) }
                        }
                    }
                    @if let Some(v) = ctx.viewer {
                        nav.nav aria-label="Main" {
                            (link(Nav::Home, "", "Overview"))
                            (link(Nav::Apis, "/apis", "APIs"))
                            (link(Nav::Clients, "/clients", "Clients"))
                            (link(Nav::Keys, "/keys", "Keys"))
                            (link(Nav::Audit, "/audit", "Audit log"))
                        }
                        div.user {
                            span { (v.session.name) }
                            (role_badges(&v.actor.role))
                            form.inline method="post" action=(ctx.href("/logout")) {
                                (ctx.csrf())
                                button.btn.btn-small type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                @if ctx.portal.dev_sign_in() {
                    div.dev-banner role="note" {
                        "Development sign-in: loopback only. Anyone on this machine can sign in as anyone; never expose this server."
                    }
                }
                main.page #main tabindex="-1" { (body) }
                footer.foot {
                    "AuthDomain " (env!("CARGO_PKG_VERSION")) " · "
                    a href=(ctx.portal.settings_issuer_hint()) { "discovery document" }
                }
            }
        }
    }
}

impl Portal {
    fn settings_issuer_hint(&self) -> String {
        let issuer_path = self.base.trim_end_matches("/portal");
        format!("{issuer_path}/.well-known/openid-configuration")
    }
}

fn role_badges(role: &Role) -> Markup {
    html! {
        @match role {
            Role::Admin => span.badge.badge-admin { "admin" },
            Role::Member(teams) => {
                @for t in teams { span.badge.badge-team { (t) } " " }
            }
        }
    }
}

pub fn flash(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class=(format!("flash flash-{kind}")) role=(role) { (text) } }
}

pub fn error_page(ctx: &Ctx, title: &str, message: &str) -> Markup {
    layout(
        ctx,
        title,
        html! {
            h1 { (title) }
            (flash("error", message))
            p { a href=(ctx.href("")) { "Back to the overview" } }
        },
    )
}

pub fn not_configured(ctx: &Ctx) -> Markup {
    layout(
        ctx,
        "Portal not configured",
        html! {
            div.signin {
                h1 { "The portal is not configured" }
                p { "This auth server has no sign-in for people yet. Give it an OpenID Connect provider:" }
                ul {
                    li { "in an AuthDomain spec: " code { "spec.portal" } " (issuer, clientId, clientSecret, groupsClaim, adminGroups, teams);" }
                    li { "for " code { "authserver serve" } ": " code { "AUTHSERVER_PORTAL_ISSUER" } ", " code { "AUTHSERVER_PORTAL_CLIENT_ID" } ", " code { "AUTHSERVER_PORTAL_CLIENT_SECRET_FILE" } ", " code { "AUTHSERVER_PORTAL_ADMIN_GROUPS" } " and " code { "AUTHSERVER_PORTAL_TEAMS" } "." }
                }
                p.muted { "The redirect URI to register at the provider is " code { (ctx.portal.url) "/callback" } "." }
            }
        },
    )
}

pub fn sign_in(ctx: &Ctx, error: Option<&str>, signed_out: bool, return_to: &str) -> Markup {
    let portal = ctx.portal;
    layout(
        ctx,
        "Sign in",
        html! {
            div.signin {
                h1 { "Sign in to " (portal.settings.domain_name) }
                @if signed_out { (flash("ok", "You are signed out.")) }
                @if let Some(e) = error { (flash("error", e)) }
                p.lead { "Manage your team's APIs, their scopes and the clients that may call them." }
                @match &portal.settings.sign_in {
                    SignIn::Oidc(p) => {
                        a.btn.btn-primary.btn-block href=(format!("{}?return_to={}", ctx.href("/login"), enc(return_to))) {
                            "Sign in with " (p.display_name)
                        }
                    }
                    SignIn::Development => {
                        form.stack.dev-signin method="post" action=(ctx.href("/dev-login")) {
                            input type="hidden" name="return_to" value=(return_to);
                            div.field {
                                label for="dev-name" { "Your name or email" }
                                input #dev-name name="name" required autocomplete="email" value="dev@localhost";
                            }
                            div.field {
                                label for="dev-role" { "Sign in as" }
                                select #dev-role name="role" {
                                    option value="admin" { "Admin (everything)" }
                                    @for t in portal.settings.teams.keys() {
                                        option value=(format!("team:{t}")) { "Member of team " (t) }
                                    }
                                }
                                p.hint { "Teams come from the spec's " code { "portal.teams" } "." }
                            }
                            div.form-actions { button.btn.btn-primary type="submit" { "Sign in (development)" } }
                        }
                    }
                }
            }
        },
    )
}

pub struct HomeData<'a> {
    pub apis: &'a [ResourceServer],
    pub clients: &'a [Client],
    pub keys: &'a [KeyInfo],
    pub recent: &'a [AuditEvent],
}

pub fn home(ctx: &Ctx, d: &HomeData) -> Markup {
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

/// Values of a form being filled in, kept when it is refused so nothing typed is lost.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    pub values: Vec<(String, String)>,
    pub error: Option<(Option<String>, String)>,
}

impl Draft {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str, value: &str) -> bool {
        self.values.iter().any(|(k, v)| k == name && v == value)
    }

    /// The error for `field` (and whether the input is invalid).
    fn field_error(&self, field: &str) -> Option<&str> {
        match &self.error {
            Some((Some(f), m)) if f == field || f.starts_with(&format!("{field}[")) => {
                Some(m.as_str())
            }
            _ => None,
        }
    }

    fn general_error(&self) -> Option<&str> {
        match &self.error {
            Some((None, m)) => Some(m),
            Some((Some(f), m)) if !KNOWN_FIELDS.iter().any(|k| f.starts_with(k)) => Some(m),
            _ => None,
        }
    }
}

const KNOWN_FIELDS: [&str; 9] = [
    "identifier",
    "name",
    "team",
    "scopes",
    "token_ttl_seconds",
    "token_endpoint_auth_method",
    "jwks",
    "jwks_uri",
    "description",
];

fn field(
    draft: &Draft,
    id: &str,
    name: &str,
    label: &str,
    hint: Option<&str>,
    input: Markup,
) -> Markup {
    let error = draft.field_error(name);
    html! {
        div.field {
            label for=(id) { (label) }
            (input)
            @if let Some(h) = hint { p.hint id=(format!("{id}-hint")) { (h) } }
            @if let Some(e) = error { p.field-error id=(format!("{id}-error")) role="alert" { (e) } }
        }
    }
}

fn team_select(ctx: &Ctx, draft: &Draft, id: &str, current: Option<&str>) -> Markup {
    let v = ctx.viewer.expect("signed in");
    let chosen = draft.value("team").or(current);
    let teams: Vec<String> = match &v.actor.role {
        Role::Admin => ctx.portal.settings.teams.keys().cloned().collect(),
        Role::Member(t) => t.iter().cloned().collect(),
    };
    field(
        draft,
        id,
        "team",
        "Owning team",
        Some("Its members manage it here."),
        html! {
            select id=(id) name="team" aria-invalid=[draft.field_error("team").map(|_| "true")] {
                @if ctx.is_admin() { option value="" selected[chosen.is_none()] { "No team (admins only)" } }
                @for t in &teams { option value=(t) selected[chosen == Some(t.as_str())] { (t) } }
            }
        },
    )
}

pub fn apis(ctx: &Ctx, list: &[ResourceServer], draft: &Draft, done: Option<&str>) -> Markup {
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

pub fn api_view(
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
    layout(
        ctx,
        &r.name,
        html! {
            div.page-head {
                h1 { (r.name) }
                form.inline method="post" action=(format!("{}?id={}", ctx.href("/apis/delete"), enc(id)))
                    data-confirm=(format!("Delete the API {}? Its scopes go with it.", r.name)) {
                    (ctx.csrf())
                    button.btn.btn-danger.btn-small type="submit" { "Delete API" }
                }
            }
            @if let Some(d) = done { (flash("ok", d)) }
            @if let Some(e) = draft.general_error() { (flash("error", e)) }
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
        },
    )
}

pub fn confirm_scope_removal(ctx: &Ctx, r: &ResourceServer, held: &[HeldScope]) -> Markup {
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

/// The scopes the viewer may grant, with their API's name.
pub struct ScopeChoice {
    pub scope: String,
    pub description: String,
    pub api: String,
}

fn scope_picker(draft: &Draft, choices: &[ScopeChoice], chosen: &[String]) -> Markup {
    html! {
        fieldset aria-invalid=[draft.field_error("scopes").map(|_| "true")] {
            legend { "Scopes" }
            @if choices.is_empty() { p.muted { "No scopes to grant yet: add an API with scopes first." } }
            div.checks {
                @for c in choices {
                    label.check {
                        input type="checkbox" name="scope" value=(c.scope)
                            checked[draft.has("scope", &c.scope) || chosen.contains(&c.scope)];
                        span { code { (c.scope) } " " span.muted { (c.api) @if !c.description.is_empty() { " · " (c.description) } } }
                    }
                }
            }
            @if let Some(e) = draft.field_error("scopes") { p.field-error role="alert" { (e) } }
        }
    }
}

pub fn clients(
    ctx: &Ctx,
    list: &[Client],
    choices: &[ScopeChoice],
    draft: &Draft,
    done: Option<&str>,
) -> Markup {
    let method = draft
        .value("token_endpoint_auth_method")
        .unwrap_or("client_secret_basic");
    layout(
        ctx,
        "Clients",
        html! {
            div.page-head { h1 { "Clients" } }
            @if let Some(d) = done { (flash("ok", d)) }
            p.lead { "Applications that get tokens with the client credentials grant." }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Name" } th { "Client id" } th { "Team" } th { "Scopes" } th { "Secrets" } } }
                    tbody {
                        @if list.is_empty() { tr.empty { td colspan="5" { "No clients yet: register one below." } } }
                        @for c in list {
                            tr {
                                td data-label="Name" {
                                    a href=(client_href(ctx, &c.client_id)) { (c.name) }
                                    @if c.managed_by.is_some() { " " span.badge.badge-managed { "managed by Kubernetes" } }
                                }
                                td.mono data-label="Client id" { (c.client_id) }
                                td data-label="Team" { @if let Some(t) = &c.team { span.badge.badge-team { (t) } } @else { span.muted { "none" } } }
                                td data-label="Scopes" { @for s in &c.scopes { code { (s) } " " } }
                                td data-label="Secrets" { (c.secrets.len()) }
                            }
                        }
                    }
                }
            }
            section.card #new {
                h2 { "Register a client" }
                @if let Some(e) = draft.general_error() { (flash("error", e)) }
                form.stack method="post" action=(ctx.href("/clients")) {
                    (ctx.csrf())
                    (field(draft, "c-name", "name", "Name", Some("Who calls your API, e.g. Acme billing sync."),
                        html! { input #c-name name="name" required maxlength="200" value=[draft.value("name")] aria-invalid=[draft.field_error("name").map(|_| "true")] aria-describedby="c-name-hint"; }))
                    (team_select(ctx, draft, "c-team", None))
                    (scope_picker(draft, choices, &[]))
                    (field(draft, "c-ttl", "token_ttl_seconds", "Token lifetime (seconds)", Some("Empty: the domain's default. 60 to the domain's maximum."),
                        html! { input #c-ttl name="token_ttl_seconds" type="number" min="60" inputmode="numeric" value=[draft.value("token_ttl_seconds")] aria-invalid=[draft.field_error("token_ttl_seconds").map(|_| "true")] aria-describedby="c-ttl-hint"; }))
                    (field(draft, "c-method", "token_endpoint_auth_method", "Authentication", None, html! {
                        select #c-method name="token_endpoint_auth_method" data-toggles {
                            @for m in ClientAuthMethod::ALL {
                                option value=(m.as_str()) selected[method == m.as_str()] { (auth_label(m.as_str())) }
                            }
                        }
                    }))
                    div data-when-auth="private_key_jwt" hidden[method != "private_key_jwt"] {
                        (field(draft, "c-jwks-uri", "jwks_uri", "JWKS URI", Some("Where the client publishes its public keys (https)."),
                            html! { input #c-jwks-uri name="jwks_uri" type="url" value=[draft.value("jwks_uri")] aria-invalid=[draft.field_error("jwks_uri").map(|_| "true")]; }))
                        (field(draft, "c-jwks", "jwks", "Or the JWKS itself", Some("A JSON object with a keys array of public keys."),
                            html! { textarea #c-jwks name="jwks" rows="4" aria-invalid=[draft.field_error("jwks").map(|_| "true")] { (draft.value("jwks").unwrap_or("")) } }))
                    }
                    div.form-actions { button.btn.btn-primary type="submit" { "Register client" } }
                }
            }
        },
    )
}

fn auth_label(method: &str) -> &'static str {
    match method {
        "client_secret_post" => "Client secret in the form (client_secret_post)",
        "private_key_jwt" => "Signed assertion with its own keys (private_key_jwt)",
        _ => "Client secret with HTTP Basic (client_secret_basic)",
    }
}

pub fn client_view(
    ctx: &Ctx,
    c: &Client,
    choices: &[ScopeChoice],
    draft: &Draft,
    done: Option<&str>,
    can_change: bool,
) -> Markup {
    let id = &c.client_id;
    let action = |path: &str| format!("{}?id={}", ctx.href(path), enc(id));
    layout(
        ctx,
        &c.name,
        html! {
            div.page-head {
                h1 { (c.name) }
                @if can_change {
                    form.inline method="post" action=(action("/clients/delete"))
                        data-confirm=(format!("Delete the client {}? Its tokens stop being issued at once.", c.name)) {
                        (ctx.csrf())
                        button.btn.btn-danger.btn-small type="submit" { "Delete client" }
                    }
                }
            }
            @if let Some(d) = done { (flash("ok", d)) }
            @if let Some(e) = draft.general_error() { (flash("error", e)) }
            @if let Some(m) = &c.managed_by {
                (flash("warn", &format!("Managed by {m}: read-only here. Change the OAuthClient resource instead.")))
            }
            dl.meta {
                dt { "Client id" } dd.mono { (id) }
                dt { "Team" } dd { @if let Some(t) = &c.team { span.badge.badge-team { (t) } } @else { "none (admins only)" } }
                dt { "Authentication" } dd { (auth_label(&c.token_endpoint_auth_method)) }
                dt { "Scopes" } dd { @for s in &c.scopes { code { (s) } " " } }
                dt { "Token lifetime" } dd { @if let Some(t) = c.token_ttl_seconds { (t) " s" } @else { "the domain's default" } }
                dt { "Created" } dd { (time(c.created_at)) }
                dt { "Updated" } dd { (time(c.updated_at)) }
            }
            @if c.token_endpoint_auth_method != "private_key_jwt" {
                section.card #secrets {
                    h2 { "Secrets" }
                    p.muted { "A client has at most two secrets: rotate adds a second, both work until you revoke the old one." }
                    div.table-wrap {
                        table.list {
                            thead { tr { th { "Secret id" } th { "Created" } th { "State" } th { span.sr-only { "Actions" } } } }
                            tbody {
                                @if c.secrets.is_empty() { tr.empty { td colspan="4" { "No secret: this client cannot get tokens. Rotate to add one." } } }
                                @for (i, s) in c.secrets.iter().enumerate() {
                                    tr {
                                        td.mono data-label="Secret id" { (s.secret_id) }
                                        td data-label="Created" { (time(s.created_at)) }
                                        td data-label="State" {
                                            @if c.secrets.len() == 2 && i == 0 { span.badge.badge-retired { "old: revoke when switched" } }
                                            @else if c.secrets.len() == 2 { span.badge.badge-next { "new" } }
                                            @else { span.badge.badge-active { "in use" } }
                                        }
                                        td.actions {
                                            @if can_change {
                                                form.inline method="post" action=(format!("{}&secret={}", action("/clients/revoke"), enc(&s.secret_id)))
                                                    data-confirm=(format!("Revoke secret {}? Requests with it are refused at once.", s.secret_id)) {
                                                    (ctx.csrf())
                                                    button.btn.btn-small.btn-danger type="submit" aria-label=(format!("Revoke secret {}", s.secret_id)) { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if can_change {
                        form method="post" action=(action("/clients/rotate")) {
                            (ctx.csrf())
                            button.btn.btn-primary type="submit" disabled[c.secrets.len() >= 2] { "Rotate: add a new secret" }
                            @if c.secrets.len() >= 2 { p.hint { "Revoke the old secret before rotating again." } }
                        }
                    }
                }
            }
            @if can_change {
                section.card {
                    h2 { "Settings" }
                    form.stack method="post" action=(action("/clients/update")) {
                        (ctx.csrf())
                        (field(draft, "c-name", "name", "Name", None,
                            html! { input #c-name name="name" required maxlength="200" value=(draft.value("name").unwrap_or(&c.name)); }))
                        (scope_picker(draft, choices, if draft.values.is_empty() { &c.scopes } else { &[] }))
                        (field(draft, "c-ttl", "token_ttl_seconds", "Token lifetime (seconds)", Some("Empty: the domain's default."),
                            html! { input #c-ttl name="token_ttl_seconds" type="number" min="60" value=[draft.value("token_ttl_seconds").map(str::to_owned).or(c.token_ttl_seconds.map(|t| t.to_string()))]; }))
                        div.form-actions { button.btn.btn-primary type="submit" { "Save" } }
                    }
                }
            }
        },
    )
}

/// A secret shown once, with its copy button and a curl that gets a token with it.
pub struct ShownSecret<'a> {
    pub client: &'a Client,
    pub secret_id: &'a str,
    pub secret: &'a str,
    pub token_endpoint: &'a str,
    pub rotated: bool,
}

pub fn secret_shown(ctx: &Ctx, s: &ShownSecret) -> Markup {
    let c = s.client;
    let scope = if c.scopes.is_empty() {
        String::new()
    } else {
        format!(" -d scope='{}'", c.scopes.join(" "))
    };
    let curl = if c.token_endpoint_auth_method == "client_secret_post" {
        format!(
            "curl -s {} -d grant_type=client_credentials -d client_id='{}' -d client_secret='{}'{scope}",
            s.token_endpoint, c.client_id, s.secret
        )
    } else {
        format!(
            "curl -s -u '{}:{}' {} -d grant_type=client_credentials{scope}",
            c.client_id, s.secret, s.token_endpoint
        )
    };
    let title = if s.rotated {
        "New secret"
    } else {
        "Client registered"
    };
    layout(
        ctx,
        title,
        html! {
            h1 { (title) ": " (c.name) }
            div.secret {
                p.secret-warning { strong { "Copy the secret now." } " It is shown once: only a hash is kept. Anyone with it can get tokens as this client." }
                dl.meta {
                    dt { "Client id" } dd.mono #client-id { (c.client_id) }
                    dt { "Secret id" } dd.mono { (s.secret_id) }
                }
                div.copy-row {
                    code #client-secret.secret-value { (s.secret) }
                    button.btn.btn-small type="button" data-copy="client-secret" { "Copy" }
                }
                h2 { "Get a token" }
                div.copy-row {
                    pre.curl { code #curl-token { (curl) } }
                    button.btn.btn-small type="button" data-copy="curl-token" { "Copy" }
                }
            }
            @if s.rotated {
                section.card {
                    h2 { "Both secrets work now" }
                    p { "Give the new secret to the client's owners, then revoke the old one." }
                    ul {
                        @for x in &c.secrets {
                            li { code { (x.secret_id) } " made " (time(x.created_at)) @if x.secret_id == s.secret_id { " (new)" } }
                        }
                    }
                }
            }
            p { a.btn href=(client_href(ctx, &c.client_id)) { "Done: back to the client" } }
        },
    )
}

pub fn keys(ctx: &Ctx, keys: &[KeyInfo], done: Option<&str>, error: Option<&str>) -> Markup {
    let badge = |state: &str| match state {
        "next" => "badge badge-next",
        "active" => "badge badge-active",
        _ => "badge badge-retired",
    };
    layout(
        ctx,
        "Signing keys",
        html! {
            div.page-head {
                h1 { "Signing keys" }
                @if ctx.is_admin() {
                    form.inline method="post" action=(ctx.href("/keys/rotate"))
                        data-confirm="Rotate the signing keys? The next key starts signing; the active one stays published until its tokens expire." {
                        (ctx.csrf())
                        button.btn.btn-primary type="submit" { "Rotate keys" }
                    }
                }
            }
            @if let Some(d) = done { (flash("ok", d)) }
            @if let Some(e) = error {
                (flash("error", e))
                @if ctx.is_admin() {
                    form.inline method="post" action=(ctx.href("/keys/rotate"))
                        data-confirm="Rotate now? Verifiers that cached the key set before the next key was published may refuse new tokens until they refetch it." {
                        (ctx.csrf())
                        input type="hidden" name="force" value="yes";
                        button.btn.btn-danger type="submit" { "Rotate anyway" }
                    }
                }
            }
            p.lead { "Tokens are signed with the active key. The next key is published ahead so verifiers know it; retired keys stay published until the tokens they signed expire." }
            div.table-wrap {
                table.list {
                    thead { tr { th { "Key id" } th { "Algorithm" } th { "State" } th { "Created" } th { "Active since" } th { "Published until" } } }
                    tbody {
                        @for k in keys {
                            tr {
                                td.mono data-label="Key id" { (k.kid) }
                                td data-label="Algorithm" { (k.alg) }
                                td data-label="State" { span class=(badge(&k.state)) { (k.state) } }
                                td data-label="Created" { (time(k.created_at)) }
                                td data-label="Active since" { @if let Some(t) = k.activated_at { (time(t)) } @else { "—" } }
                                td data-label="Published until" { @if let Some(t) = k.expires_at { (time(t)) } @else { "—" } }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub struct AuditFilters<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
}

pub fn audit(ctx: &Ctx, events: &[AuditEvent], f: &AuditFilters, older: Option<String>) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_798_502_400), "2026-12-29 00:00 UTC");
        assert_eq!(when(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
    }

    #[test]
    fn the_asset_version_changes_with_the_assets() {
        let v = asset_version();
        assert_eq!(v.len(), 12);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "safe in a URL: {v}"
        );
        assert_eq!(v, content_version(&[CSS, JS]), "stable");
        // One byte more in the stylesheet or the script gives another URL.
        let css = format!("{CSS} ");
        let js = format!("{JS};");
        assert_ne!(content_version(&[&css, JS]), v);
        assert_ne!(content_version(&[CSS, &js]), v);
    }
}
