//! The sign-in page, and the page of a portal with no sign-in configured.

use maud::{Markup, html};

use crate::portal::SignIn;
use crate::portal::layout::{Ctx, enc, flash, layout};

pub(in crate::portal) fn not_configured(ctx: &Ctx) -> Markup {
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

pub(in crate::portal) fn sign_in(
    ctx: &Ctx,
    error: Option<&str>,
    signed_out: bool,
    return_to: &str,
) -> Markup {
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
