//! The OAuthClient controller: registers the client with its domain's auth server (admin
//! API), keeps a Secret it owns with the credentials, and rotates the secret on request:
//! a second secret is issued and written to the Secret while the first keeps working for
//! the grace period, then the first is revoked. Deleting the OAuthClient deletes the
//! registration (finalizer); the Secret goes with its owner.
//!
//! Access: a namespace may request a domain's scope only if the domain's
//! `spec.operator.clientAccess` grants it (nothing is granted by default). The check runs
//! on every reconcile, and the controller watches AuthDomains, so revoking a grant stops
//! future changes (it does not delete existing credentials: that is the namespace
//! owner's `kubectl delete`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authdomain_api::ClientInput;
use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::Context;
use super::events::Kind as EventKind;
use crate::Error;
use crate::admin_api::AdminError;
use crate::crd::{AuthDomain, FINALIZER_CLIENT, OAuthClient, OAuthClientStatus};
use crate::status::{self, READY, Wanted};

const MANAGER: &str = super::FIELD_MANAGER;
/// The label that marks the Secrets the operator writes (and watches).
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The scopes a client gets: its `scopes` plus every scope of its `resources`, sorted;
/// or the names that are not the domain's.
pub fn granted_scopes(
    spec: &crate::crd::OAuthClientSpec,
    domain: &authdomain_core::spec::AuthDomainSpec,
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let all: Vec<&str> = domain
        .resource_servers
        .iter()
        .flat_map(|r| r.scopes.iter().map(|s| s.name.as_str()))
        .collect();
    for s in &spec.scopes {
        if all.contains(&s.as_str()) {
            out.push(s.clone());
        } else {
            unknown.push(format!("scope `{s}`"));
        }
    }
    for r in &spec.resources {
        match domain
            .resource_servers
            .iter()
            .find(|rs| &rs.identifier == r)
        {
            Some(rs) => out.extend(rs.scopes.iter().map(|s| s.name.clone())),
            None => unknown.push(format!("resource `{r}`")),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "{} not defined by the domain's spec.resourceServers",
            unknown.join(", ")
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The client id: readable and unique (a re-created OAuthClient of the same name is a new
/// registration).
pub fn client_id(oc: &OAuthClient) -> String {
    let uid: String = oc
        .uid()
        .unwrap_or_default()
        .chars()
        .filter(|c| *c != '-')
        .take(8)
        .collect();
    format!(
        "k8s.{}.{}.{uid}",
        oc.namespace().unwrap_or_default(),
        oc.name_any()
    )
}

fn secret_name(oc: &OAuthClient) -> String {
    oc.spec.secret_name.clone().unwrap_or_else(|| oc.name_any())
}

/// The registration the spec asks for.
pub fn client_input(oc: &OAuthClient, scopes: &[String]) -> ClientInput {
    ClientInput {
        client_id: Some(client_id(oc)),
        name: oc
            .spec
            .display_name
            .clone()
            .unwrap_or_else(|| format!("{}/{}", oc.namespace().unwrap_or_default(), oc.name_any())),
        scopes: scopes.to_vec(),
        token_ttl_seconds: oc.spec.token_ttl.map(i64::from),
        token_endpoint_auth_method: Some(oc.spec.auth_method.as_str().to_owned()),
        // The portal shows the client as managed here, read-only.
        managed_by: Some(format!(
            "kubernetes:{}/{}",
            oc.namespace().unwrap_or_default(),
            oc.name_any()
        )),
        ..ClientInput::default()
    }
}

/// The Secret's data: what a workload needs to get a token.
pub fn secret_data(
    client_id: &str,
    client_secret: &str,
    issuer: &str,
    token_url: &str,
    scopes: &[String],
) -> BTreeMap<String, ByteString> {
    [
        ("client_id", client_id.to_owned()),
        ("client_secret", client_secret.to_owned()),
        ("issuer", issuer.to_owned()),
        ("token_url", token_url.to_owned()),
        ("scope", scopes.join(" ")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
    .collect()
}

/// The SHA-256 of a client secret (`sha256:<hex>`), kept in status to tell the secret the
/// operator issued from one edited into the Secret by hand. The secret is 256 random bits,
/// so its digest reveals nothing usable.
pub fn secret_digest(secret: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The value of `key` in a Secret's data.
fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// The annotation that leaves the client registered when its OAuthClient is deleted.
pub const DELETION_POLICY_ANNOTATION: &str = "authdomain.io/deletion-policy";

async fn patch_status(
    ctx: &Context,
    oc: &OAuthClient,
    st: &OAuthClientStatus,
) -> Result<(), Error> {
    let api: Api<OAuthClient> =
        Api::namespaced(ctx.client.clone(), &oc.namespace().unwrap_or_default());
    super::patch_status(&api, oc, st).await
}

/// Not ready, for a reason that waits for something to change: status, an event when it
/// is new, and the given requeue.
async fn not_ready(
    ctx: &Context,
    oc: &OAuthClient,
    mut st: OAuthClientStatus,
    reason: &str,
    message: String,
    then: Action,
) -> Result<Action, Error> {
    let flipped = status::set(
        &mut st.conditions,
        Wanted::no(READY, reason, message.clone()),
        oc.meta().generation,
        &status::now(),
    );
    let changed_reason = oc
        .status
        .as_ref()
        .and_then(|s| status::find(&s.conditions, READY))
        .is_none_or(|c| c.reason != reason);
    patch_status(ctx, oc, &st).await?;
    if flipped || changed_reason {
        ctx.recorder
            .publish(oc, EventKind::Warning, reason, "Register", &message)
            .await;
    }
    Ok(then)
}

async fn write_secret(
    ctx: &Context,
    oc: &OAuthClient,
    data: BTreeMap<String, ByteString>,
) -> Result<(), Error> {
    let ns = oc.namespace().unwrap_or_default();
    let owner = oc
        .controller_owner_ref(&())
        .expect("an OAuthClient from the API has a uid");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(oc)),
            namespace: Some(ns.clone()),
            owner_references: Some(vec![owner]),
            labels: Some(
                [
                    (MANAGED_BY.to_owned(), MANAGER.to_owned()),
                    ("authdomain.io/domain".to_owned(), oc.spec.domain.clone()),
                    ("authdomain.io/oauthclient".to_owned(), oc.name_any()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    api.patch(
        &secret_name(oc),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await?;
    Ok(())
}

/// A registration being reconciled: the client, its domain's answers, and the admin API.
struct Registration<'a> {
    ctx: &'a Context,
    oc: &'a OAuthClient,
    admin: Arc<crate::admin_api::AdminApi>,
    id: String,
    issuer: String,
    token_url: String,
    scopes: Vec<String>,
}

impl Registration<'_> {
    async fn event(&self, reason: &str, action: &str, note: &str) {
        self.ctx
            .recorder
            .publish(self.oc, EventKind::Normal, reason, action, note)
            .await;
    }

    fn secret_data(&self, secret: &str) -> BTreeMap<String, ByteString> {
        secret_data(
            &self.id,
            secret,
            &self.issuer,
            &self.token_url,
            &self.scopes,
        )
    }
}

/// Where a reconcile stands before it registers: ready to, or waiting (with the
/// action already decided and the status written).
enum Target {
    Ready {
        domain: Box<AuthDomain>,
        issuer: String,
        token_url: String,
        scopes: Vec<String>,
    },
    Waiting(Action),
}

async fn apply(oc: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = oc.namespace().unwrap_or_default();
    // The state machine (active and previous secret, the rotation carried out, the
    // Secret's digest) runs on the status as stored: the cached object can predate this
    // controller's last status write, whose watch event may come after the Secret's that
    // woke this reconcile, and a stale status would rotate a secret twice.
    let stored: Api<OAuthClient> = Api::namespaced(ctx.client.clone(), &ns);
    let mut st = stored
        .get_status(&oc.name_any())
        .await?
        .status
        .unwrap_or_default();
    let (domain, issuer, token_url, scopes) = match target(&ctx, &oc, &st).await? {
        Target::Ready {
            domain,
            issuer,
            token_url,
            scopes,
        } => (domain, issuer, token_url, scopes),
        Target::Waiting(action) => return Ok(action),
    };
    let r = Registration {
        ctx: &ctx,
        oc: &oc,
        admin: ctx.admin_for(&domain).await?,
        id: client_id(&oc),
        issuer,
        token_url,
        scopes,
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let existing_secret = secrets.get_opt(&secret_name(&oc)).await?;
    let registered = match r.admin.get_client(&r.id).await {
        Ok(c) => Some(c),
        Err(AdminError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    // The Registered event of a new registration says it all; no "ready again" after it.
    let announced = registered.is_none();
    match registered {
        None => register(&r, &mut st).await?,
        Some(client) => {
            update_registration(&r, &client).await?;
            keep_secret(&r, &client, existing_secret.as_ref(), &mut st).await?;
        }
    }
    let requeue = end_grace_period(&r, &mut st).await?;
    mark_ready(&r, st, announced).await?;
    // A success ends the backoff (OAuthClients keep no schedule of their own).
    ctx.forget(&key(&oc));
    Ok(Action::requeue(requeue))
}

/// The domain, its issuer and token URL, and the scopes the namespace may have; or why
/// not yet (the status says so).
async fn target(ctx: &Context, oc: &OAuthClient, st: &OAuthClientStatus) -> Result<Target, Error> {
    let ns = oc.namespace().unwrap_or_default();
    let waiting = |reason: &'static str, message: String, then: Action| async move {
        not_ready(ctx, oc, st.clone(), reason, message, then)
            .await
            .map(Target::Waiting)
    };
    let domains: Api<AuthDomain> = Api::all(ctx.client.clone());
    let Some(domain) = domains.get_opt(&oc.spec.domain).await? else {
        let m = format!("AuthDomain `{}` does not exist", oc.spec.domain);
        return waiting(
            "DomainNotFound",
            m,
            Action::requeue(Duration::from_secs(60)),
        )
        .await;
    };
    let outputs = domain
        .status
        .as_ref()
        .map(|s| s.outputs.clone())
        .unwrap_or_default();
    let (Some(issuer), Some(token_url)) = (outputs.issuer.clone(), outputs.token_url.clone())
    else {
        let m = format!("AuthDomain `{}` is not ready yet", oc.spec.domain);
        return waiting(
            "DomainNotReady",
            m,
            Action::requeue(Duration::from_secs(20)),
        )
        .await;
    };
    let scopes = match granted_scopes(&oc.spec, &domain.spec.0) {
        Ok(s) => s,
        Err(m) => return waiting("InvalidSpec", m, Action::await_change()).await,
    };
    let forbidden = domain.spec.0.forbidden_scopes(&ns, &scopes);
    if !forbidden.is_empty() {
        let m = format!(
            "namespace `{ns}` may not request {} of AuthDomain `{}` (its spec.operator.clientAccess does not grant them)",
            forbidden
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            oc.spec.domain
        );
        // Terminal until the OAuthClient or the domain's grants change (both are watched).
        return waiting("Forbidden", m, Action::await_change()).await;
    }
    Ok(Target::Ready {
        domain: Box::new(domain),
        issuer,
        token_url,
        scopes,
    })
}

/// A new registration: the client, its first secret into the Secret.
async fn register(r: &Registration<'_>, st: &mut OAuthClientStatus) -> Result<(), Error> {
    let created = r
        .admin
        .create_client(&client_input(r.oc, &r.scopes))
        .await?;
    let secret = created.client_secret.clone().unwrap_or_default();
    st.secret_digest = Some(secret_digest(&secret));
    write_secret(r.ctx, r.oc, r.secret_data(&secret)).await?;
    st.active_secret_id = created.client.secrets.first().map(|s| s.secret_id.clone());
    st.previous_secret_id = None;
    st.previous_secret_revoke_at = None;
    st.rotated_for = r.oc.spec.rotation.as_ref().map(|x| x.request.clone());
    r.event(
        "Registered",
        "Register",
        &format!(
            "client {} registered; credentials in Secret {}",
            r.id,
            secret_name(r.oc)
        ),
    )
    .await;
    Ok(())
}

/// The registration's fields as the OAuthClient says (scopes, lifetime, method).
async fn update_registration(
    r: &Registration<'_>,
    client: &authdomain_api::Client,
) -> Result<(), Error> {
    let input = client_input(r.oc, &r.scopes);
    if authdomain_core::registrations::client_differs(&input, client) {
        r.admin.update_client(&r.id, &input).await?;
        r.event(
            "Updated",
            "Register",
            &format!("client {}: scopes {}", r.id, r.scopes.join(" ")),
        )
        .await;
    }
    Ok(())
}

/// The Secret: a new secret when it is missing, edited by hand or a rotation is asked
/// for; otherwise its fields kept current.
async fn keep_secret(
    r: &Registration<'_>,
    client: &authdomain_api::Client,
    existing: Option<&Secret>,
    st: &mut OAuthClientStatus,
) -> Result<(), Error> {
    // The Secret's client_secret is not the one issued (edited by hand): the workload
    // reads a value that works nowhere, so a new secret is issued as if the Secret were
    // missing. (A status from before digests adopts the value.)
    let current = existing.and_then(|s| secret_value(s, "client_secret"));
    let current_digest = current.as_deref().map(secret_digest);
    if st.secret_digest.is_none() {
        st.secret_digest = current_digest.clone();
    }
    let tampered = current_digest.is_some() && current_digest != st.secret_digest;
    let secret_missing = existing.is_none() || tampered;
    let rotation_asked =
        r.oc.spec
            .rotation
            .as_ref()
            .is_some_and(|x| st.rotated_for.as_deref() != Some(x.request.as_str()));
    if secret_missing || rotation_asked {
        return renew_secret(r, client, st, secret_missing, tampered).await;
    }
    if let Some(secret) = existing {
        restore_secret(r, secret, &current.unwrap_or_default()).await?;
    }
    Ok(())
}

/// Issue a new secret and write it to the Secret. On a rotation the previous one stays
/// valid for the grace period; a secret whose Secret was lost is revoked at once.
async fn renew_secret(
    r: &Registration<'_>,
    client: &authdomain_api::Client,
    st: &mut OAuthClientStatus,
    secret_missing: bool,
    tampered: bool,
) -> Result<(), Error> {
    let (admin, id) = (&r.admin, &r.id);
    // Two secrets at most: a rotation still in its grace period ends now.
    if let Some(previous) = st.previous_secret_id.take() {
        admin.revoke_secret(id, &previous).await?;
    }
    if client.secrets.len() >= 2 {
        for s in client
            .secrets
            .iter()
            .filter(|s| Some(&s.secret_id) != st.active_secret_id.as_ref())
        {
            admin.revoke_secret(id, &s.secret_id).await?;
        }
    }
    let new = admin.add_secret(id).await?;
    st.secret_digest = Some(secret_digest(&new.client_secret));
    write_secret(r.ctx, r.oc, r.secret_data(&new.client_secret)).await?;
    let grace =
        r.oc.spec
            .rotation
            .as_ref()
            .map_or(0, |x| x.grace_period_seconds);
    match st.active_secret_id.replace(new.secret_id.clone()) {
        Some(old) if !secret_missing => {
            let revoke_at = k8s_openapi::jiff::Timestamp::now()
                + k8s_openapi::jiff::SignedDuration::from_secs(i64::from(grace));
            st.previous_secret_id = Some(old);
            st.previous_secret_revoke_at = Some(
                revoke_at
                    .round(k8s_openapi::jiff::Unit::Second)
                    .unwrap_or(revoke_at)
                    .to_string(),
            );
        }
        // The Secret was deleted: its secret is not in use anywhere we know of.
        Some(old) => admin.revoke_secret(id, &old).await?,
        None => {}
    }
    st.rotated_for = r.oc.spec.rotation.as_ref().map(|x| x.request.clone());
    let note = if tampered {
        format!(
            "Secret {}'s client_secret was edited: a new secret was issued",
            secret_name(r.oc)
        )
    } else if secret_missing {
        format!(
            "Secret {} was missing: a new secret was issued",
            secret_name(r.oc)
        )
    } else {
        format!("secret rotated; the previous one stays valid for {grace} s")
    };
    r.event("SecretRotated", "Rotate", &note).await;
    Ok(())
}

/// Keep the Secret's other fields current (a scope change, a new issuer, a field edited
/// or removed by hand). Keys others added are theirs and stay.
async fn restore_secret(r: &Registration<'_>, secret: &Secret, current: &str) -> Result<(), Error> {
    let want = r.secret_data(current);
    let ours_differ = want
        .iter()
        .any(|(k, v)| secret.data.as_ref().and_then(|d| d.get(k)) != Some(v));
    let labels_differ = secret
        .metadata
        .labels
        .as_ref()
        .is_none_or(|l| l.get(MANAGED_BY).map(String::as_str) != Some(MANAGER));
    if ours_differ || labels_differ {
        write_secret(r.ctx, r.oc, want).await?;
        r.event(
            "SecretRestored",
            "Register",
            &format!("Secret {} was edited: restored", secret_name(r.oc)),
        )
        .await;
    }
    Ok(())
}

/// The end of a rotation's grace period: the previous secret revoked when it is due;
/// otherwise when to come back for it (at most ten minutes).
async fn end_grace_period(
    r: &Registration<'_>,
    st: &mut OAuthClientStatus,
) -> Result<Duration, Error> {
    let mut requeue = Duration::from_secs(600);
    if let (Some(previous), Some(at)) = (
        st.previous_secret_id.clone(),
        st.previous_secret_revoke_at.clone(),
    ) {
        let at: k8s_openapi::jiff::Timestamp = at
            .parse()
            .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now());
        let left = at.duration_since(k8s_openapi::jiff::Timestamp::now());
        if left.is_negative() || left.is_zero() {
            r.admin.revoke_secret(&r.id, &previous).await?;
            st.previous_secret_id = None;
            st.previous_secret_revoke_at = None;
            r.event(
                "SecretRevoked",
                "Rotate",
                "the previous secret's grace period ended; it is revoked",
            )
            .await;
        } else {
            requeue = requeue
                .min(Duration::try_from(left).unwrap_or_default() + Duration::from_millis(200));
        }
    }
    Ok(requeue)
}

/// Ready: the status as registered, and "ready again" when it was not.
async fn mark_ready(
    r: &Registration<'_>,
    mut st: OAuthClientStatus,
    announced: bool,
) -> Result<(), Error> {
    let generation = r.oc.meta().generation;
    st.client_id = Some(r.id.clone());
    st.secret_name = Some(secret_name(r.oc));
    st.scopes = r.scopes.clone();
    st.observed_generation = generation;
    let before = status::find(&st.conditions, READY).map(|c| (c.status.clone(), c.reason.clone()));
    status::set(
        &mut st.conditions,
        Wanted::yes(
            READY,
            "Registered",
            format!("client {} at {}", r.id, r.issuer),
        ),
        generation,
        &status::now(),
    );
    patch_status(r.ctx, r.oc, &st).await?;
    if let Some((was, reason)) = before
        && was != "True"
        && !announced
    {
        r.event(
            "Registered",
            "Register",
            &format!(
                "ready again (was {reason}): client {} at {}",
                r.id, r.issuer
            ),
        )
        .await;
    }
    Ok(())
}

/// The key of an OAuthClient in the context's schedule.
fn key(oc: &OAuthClient) -> String {
    format!(
        "oauthclient/{}/{}",
        oc.namespace().unwrap_or_default(),
        oc.name_any()
    )
}

async fn cleanup(oc: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Action, Error> {
    let id = oc
        .status
        .as_ref()
        .and_then(|s| s.client_id.clone())
        .unwrap_or_else(|| client_id(&oc));
    let orphan = oc
        .annotations()
        .get(DELETION_POLICY_ANNOTATION)
        .is_some_and(|p| p.eq_ignore_ascii_case("orphan"));
    if orphan {
        ctx.recorder
            .publish(
                oc.as_ref(),
                EventKind::Normal,
                "Orphaned",
                "Delete",
                &format!(
                    "client {id} left registered at the auth server ({DELETION_POLICY_ANNOTATION}: Orphan)"
                ),
            )
            .await;
        ctx.forget(&key(&oc));
        return Ok(Action::await_change());
    }
    let domains: Api<AuthDomain> = Api::all(ctx.client.clone());
    // Without its domain (deleted first), the registration went with the domain's database.
    if let Some(domain) = domains.get_opt(&oc.spec.domain).await?
        && domain.meta().deletion_timestamp.is_none()
        && domain
            .status
            .as_ref()
            .is_some_and(|s| s.outputs.issuer.is_some())
    {
        let admin = ctx.admin_for(&domain).await?;
        match admin.delete_client(&id).await {
            Ok(()) | Err(AdminError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.recorder
            .publish(
                oc.as_ref(),
                EventKind::Normal,
                "Deregistered",
                "Delete",
                &format!("client {id} deleted from the auth server"),
            )
            .await;
    }
    ctx.forget(&key(&oc));
    Ok(Action::await_change())
}

/// One reconcile. Every failure ends in status (`Ready` False with the error's reason
/// and message: `AuthServerUnavailable`, `AdminCredentialsRefused`, …) and, when the
/// reason is new, an event; a deletion that cannot reach the auth server says so too and
/// names the annotation that lets it go.
pub async fn reconcile(oc: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Action, Error> {
    let domain = oc.spec.domain.clone();
    let api: Api<OAuthClient> =
        Api::namespaced(ctx.client.clone(), &oc.namespace().unwrap_or_default());
    let deleting = oc.meta().deletion_timestamp.is_some();
    let result = super::reconcile_with_finalizer(
        &api,
        FINALIZER_CLIENT,
        "OAuthClient",
        oc.clone(),
        &ctx,
        |oc| apply(oc, ctx.clone()),
        |oc| cleanup(oc, ctx.clone()),
    )
    .await;
    if let Err(e) = &result {
        if let Error::Admin(AdminError::Unauthorized { .. }) = e {
            // The admin credentials may have been replaced (a new bootstrap): read them again.
            ctx.forget_admin(&domain).await;
        }
        let blocked;
        let e = if deleting {
            blocked = Error::DeletionBlocked {
                client: oc
                    .status
                    .as_ref()
                    .and_then(|s| s.client_id.clone())
                    .unwrap_or_else(|| client_id(&oc)),
                reason: e.reason(),
                transient: e.is_transient(),
                message: e.to_string(),
            };
            &blocked
        } else {
            e
        };
        let action = if deleting { "Delete" } else { "Register" };
        super::report_failure(&ctx, &api, oc.as_ref(), e, action, |_| vec![READY]).await;
    }
    result
}

/// Transient failures (the auth server unreachable or answering 5xx/429, AWS throttling,
/// the Kubernetes API) back off exponentially with jitter (5 s doubling to 5 minutes);
/// terminal ones (a registration the server refuses) come back in 10 minutes or with an
/// edit.
pub fn error_policy(oc: Arc<OAuthClient>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(oauthclient = %format!("{}/{}", oc.namespace().unwrap_or_default(), oc.name_any()), error = %error, kind = error.metric_label(), "reconcile failed");
    ctx.failed(
        &key(&oc),
        oc.meta().generation,
        error.is_transient(),
        Duration::from_secs(600),
    )
}

/// Run the controller until `shutdown` completes: OAuthClients in every namespace,
/// AuthDomains (a domain becoming ready, changing its issuer or its grants re-reconciles
/// its clients; its other status writes do not), and the Secrets the operator writes,
/// selected by their `app.kubernetes.io/managed-by` label so that only those are listed
/// and cached: a Secret deleted or edited by hand wakes its OAuthClient, which restores it
/// within seconds.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let clients: Api<OAuthClient> = Api::all(ctx.client.clone());
    let domains: Api<AuthDomain> = Api::all(ctx.client.clone());
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    let controller = Controller::new(clients, watcher::Config::default()).owns(
        secrets,
        watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER}")),
    );
    let store = controller.store();
    // What of a domain its clients depend on: its spec (grants, by generation), whether
    // it is Ready, its issuer. The domain's other status writes (each drift check's
    // `lastDriftCheck`) wake no client.
    let seen: std::sync::Mutex<BTreeMap<String, u64>> = Default::default();
    controller
        .watches(domains, watcher::Config::default(), move |d: AuthDomain| {
            let name = d.name_any();
            let relevant = {
                use std::hash::{Hash as _, Hasher as _};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                d.metadata.generation.hash(&mut h);
                d.metadata.deletion_timestamp.is_some().hash(&mut h);
                let st = d.status.as_ref();
                st.map(|s| status::is_true(&s.conditions, status::READY))
                    .hash(&mut h);
                st.and_then(|s| s.outputs.issuer.clone()).hash(&mut h);
                h.finish()
            };
            if seen.lock().expect("seen").insert(name.clone(), relevant) == Some(relevant) {
                return Vec::new();
            }
            store
                .state()
                .into_iter()
                .filter(|c| c.spec.domain == name)
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::OAuthClientSpec;

    fn domain() -> authdomain_core::spec::AuthDomainSpec {
        authdomain_core::spec::load_str(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n  resourceServers:\n    - identifier: https://orders\n      scopes: [{name: 'orders:read'}, {name: 'orders:write'}]\n    - identifier: https://audit\n      scopes: [{name: audit}]\n",
            "d.yaml",
        )
        .unwrap()
        .spec
    }

    fn spec(scopes: &[&str], resources: &[&str]) -> OAuthClientSpec {
        OAuthClientSpec {
            domain: "d".into(),
            display_name: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            token_ttl: None,
            auth_method: Default::default(),
            secret_name: None,
            rotation: None,
        }
    }

    #[test]
    fn resources_expand_to_their_scopes_and_unknown_names_are_named() {
        assert_eq!(
            granted_scopes(&spec(&["audit"], &["https://orders"]), &domain()).unwrap(),
            ["audit", "orders:read", "orders:write"]
        );
        let e = granted_scopes(&spec(&["nope"], &["https://elsewhere"]), &domain()).unwrap_err();
        assert!(
            e.contains("scope `nope`") && e.contains("resource `https://elsewhere`"),
            "{e}"
        );
    }

    #[test]
    fn the_secret_holds_what_a_workload_needs() {
        let d = secret_data(
            "id",
            "s3cr3t",
            "https://i",
            "https://i/oauth2/token",
            &["a".into(), "b".into()],
        );
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["client_id", "client_secret", "issuer", "scope", "token_url"]
        );
        assert_eq!(d["scope"].0, b"a b");
    }
}
