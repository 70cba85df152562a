//! The signing keys' page.

use authdomain_api::KeyInfo;
use maud::{Markup, html};

use crate::portal::layout::{Ctx, flash, layout, time};

pub(super) fn keys(ctx: &Ctx, keys: &[KeyInfo], done: Option<&str>, error: Option<&str>) -> Markup {
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
