//! The clients' pages, and the page that shows a new secret once.

use authdomain_api::{Client, ClientAuthMethod};
use maud::{Markup, html};

use crate::portal::layout::{
    Ctx, Draft, client_href, enc, field, flash, layout, team_select, time,
};

/// The scopes the viewer may grant, with their API's name.
pub(super) struct ScopeChoice {
    pub(super) scope: String,
    pub(super) description: String,
    pub(super) api: String,
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

pub(super) fn clients(
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
                                    @if let Some(m) = &c.managed_by { " " span.badge.badge-managed { (managed_label(m)) } }
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

pub(super) fn client_view(
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
                (flash("warn", &if m == "spec" {
                    "Managed by the AuthDomain manifest (spec.clients): read-only here. Change the manifest and apply it instead.".to_owned()
                } else {
                    format!("Managed by {m}: read-only here. Change the OAuthClient resource instead.")
                }))
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
pub(super) struct ShownSecret<'a> {
    pub(super) client: &'a Client,
    pub(super) secret_id: &'a str,
    pub(super) secret: &'a str,
    pub(super) token_endpoint: &'a str,
    pub(super) rotated: bool,
}

/// `s` as one POSIX shell word: single-quoted, with each `'` written as `'\''`. Every
/// value in a command the page offers to paste goes through it, whatever the naming
/// rules let in (scopes registered before they were narrowed, say).
fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The curl that gets a token with a client's secret.
fn curl_command(c: &Client, secret: &str, token_endpoint: &str) -> String {
    let scope = if c.scopes.is_empty() {
        String::new()
    } else {
        format!(
            " -d {}",
            shell_word(&format!("scope={}", c.scopes.join(" ")))
        )
    };
    if c.token_endpoint_auth_method == "client_secret_post" {
        format!(
            "curl -s {} -d grant_type=client_credentials -d {} -d {}{scope}",
            shell_word(token_endpoint),
            shell_word(&format!("client_id={}", c.client_id)),
            shell_word(&format!("client_secret={secret}")),
        )
    } else {
        format!(
            "curl -s -u {} {} -d grant_type=client_credentials{scope}",
            shell_word(&format!("{}:{secret}", c.client_id)),
            shell_word(token_endpoint),
        )
    }
}

pub(super) fn secret_shown(ctx: &Ctx, s: &ShownSecret) -> Markup {
    let c = s.client;
    let curl = curl_command(c, s.secret, s.token_endpoint);
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

/// The badge of a client a tool manages.
fn managed_label(managed_by: &str) -> &'static str {
    if managed_by == "spec" {
        "managed by the manifest"
    } else {
        "managed by Kubernetes"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's curl, run by a real shell with `curl` replaced by a function that prints
    /// its arguments: a hostile scope name comes back as one argument, and runs nothing.
    #[test]
    fn the_pasted_curl_runs_nothing_but_curl() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let hostile = format!(
            "read';touch {}';'$(touch {})",
            marker.display(),
            marker.display()
        );
        for method in ["client_secret_basic", "client_secret_post"] {
            let client = Client {
                client_id: "svc".into(),
                name: "svc".into(),
                scopes: vec![hostile.clone(), "write".into()],
                default_scopes: Vec::new(),
                token_ttl_seconds: None,
                token_endpoint_auth_method: method.into(),
                grant_types: vec!["client_credentials".into()],
                jwks: None,
                jwks_uri: None,
                secrets: Vec::new(),
                team: None,
                managed_by: None,
                created_at: 0,
                updated_at: 0,
            };
            let command = curl_command(&client, "s3cr'et", "http://127.0.0.1:1/oauth2/token");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("curl() {{ printf '%s\\n' \"$@\"; }}; {command}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let args = String::from_utf8(out.stdout).unwrap();
            assert!(
                args.lines().any(|l| l == format!("scope={hostile} write")),
                "{method}: {args}"
            );
            assert!(
                args.contains("svc:s3cr'et") || args.contains("client_secret=s3cr'et"),
                "{method}: {args}"
            );
            assert!(
                !marker.exists(),
                "{method}: the pasted command ran something"
            );
        }
    }
}
