//! What every page shares, rendered on the server with maud (escaped by construction):
//! the layout with its navigation, flashes and the error page, form fields that keep what
//! was typed, dates, links, and the embedded assets. Views do no I/O.

use maud::{DOCTYPE, Markup, html};

use super::Portal;
use super::viewer::Viewer;
use crate::admin::Role;

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
pub(super) fn content_version(parts: &[&str]) -> String {
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
    pub(super) fn href(&self, path: &str) -> String {
        self.portal.path(path)
    }

    pub(super) fn csrf(&self) -> Markup {
        html! {
            @if let Some(v) = self.viewer {
                input type="hidden" name="csrf" value=(v.session.csrf);
            }
        }
    }

    pub(super) fn is_admin(&self) -> bool {
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

pub(super) fn time(t: i64) -> Markup {
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
    pub(super) fn settings_issuer_hint(&self) -> String {
        let issuer_path = self.base.trim_end_matches("/portal");
        format!("{issuer_path}/.well-known/openid-configuration")
    }
}

pub(super) fn role_badges(role: &Role) -> Markup {
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
    pub(super) fn field_error(&self, field: &str) -> Option<&str> {
        match &self.error {
            Some((Some(f), m)) if f == field || f.starts_with(&format!("{field}[")) => {
                Some(m.as_str())
            }
            _ => None,
        }
    }

    pub(super) fn general_error(&self) -> Option<&str> {
        match &self.error {
            Some((None, m)) => Some(m),
            Some((Some(f), m)) if !KNOWN_FIELDS.iter().any(|k| f.starts_with(k)) => Some(m),
            _ => None,
        }
    }
}

pub(super) const KNOWN_FIELDS: [&str; 9] = [
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

pub(super) fn field(
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

pub(super) fn team_select(ctx: &Ctx, draft: &Draft, id: &str, current: Option<&str>) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_798_502_400), "2026-12-29 00:00 UTC");
        assert_eq!(when(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
    }

    #[test]
    pub(super) fn the_asset_version_changes_with_the_assets() {
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
