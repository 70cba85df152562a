//! What both controllers share: the operator's settings, AWS access per domain (the
//! pod's credentials or a referenced Secret, behind per-service rate limits), admin API
//! sessions, events, metrics, and the error policy.

pub mod authdomain;
pub mod events;
pub mod oauthclient;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt};
use provisioner::aws::{Aws, AwsOptions, RateLimits};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::Error;
use crate::admin_api::{AdminApi, AdminCredentials};
use crate::crd::AuthDomain;
use crate::telemetry::Metrics;

/// The operator's settings (its command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// The operator's namespace: AWS credentials Secrets and the leader Lease live here.
    pub namespace: String,
    /// Between drift checks of a domain (jittered by up to 10%), unless its spec says.
    pub drift_interval: Duration,
    /// Send every AWS call here (an emulator); else AWS's endpoints.
    pub aws_endpoint_url: Option<String>,
    /// moto only: the account to act in.
    pub moto_account: Option<String>,
    /// Push and read images here instead of the ECR host.
    pub registry_url: Option<String>,
    pub rate_limits: RateLimits,
    /// Reach a domain's auth server at this base URL instead of its issuer (a private
    /// route to the API, or a local server in tests).
    pub auth_server_urls: BTreeMap<String, String>,
}

/// What a reconcile gets.
pub struct Context {
    pub client: kube::Client,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub recorder: events::Recorder,
    pub http: reqwest::Client,
    admin: Mutex<HashMap<String, Arc<AdminApi>>>,
    /// When each object's next reconcile is due, and for which generation: a watch event
    /// that brings no new generation (our own status write, a label edit) before then is
    /// answered without work. This is what keeps a status write from triggering the
    /// next full AWS plan (a reconcile storm).
    schedule: std::sync::Mutex<HashMap<String, (Option<i64>, std::time::Instant)>>,
    /// Consecutive failed reconciles per object: the exponent of its backoff.
    failures: std::sync::Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: kube::Client,
        config: Config,
        metrics: Arc<Metrics>,
        instance: &str,
    ) -> Context {
        Context {
            recorder: events::Recorder::new(client.clone(), "authdomain-operator", instance),
            schedule: Default::default(),
            failures: Default::default(),
            client,
            config,
            metrics,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            admin: Mutex::new(HashMap::new()),
        }
    }

    /// AWS clients for a domain: its region, and the credentials its spec names (a Secret
    /// in the operator's namespace) or the operator's own.
    pub async fn aws_for(
        &self,
        spec: &authdomain_core::spec::AuthDomainSpec,
    ) -> Result<Aws, Error> {
        let (credentials, session_token) = match &spec.operator.aws_credentials_secret {
            Some(name) => {
                let secrets: Api<Secret> =
                    Api::namespaced(self.client.clone(), &self.config.namespace);
                let secret = secrets.get(name).await.map_err(|e| match e {
                    kube::Error::Api(ae) if ae.code == 404 => Error::InvalidSpec(format!(
                        "spec.operator.awsCredentialsSecret: Secret {}/{name} does not exist",
                        self.config.namespace
                    )),
                    other => Error::Kube(other),
                })?;
                let field = |k: &str| {
                    secret
                        .data
                        .as_ref()
                        .and_then(|d| d.get(k))
                        .and_then(|v| String::from_utf8(v.0.clone()).ok())
                };
                let (Some(key), Some(secret_key)) =
                    (field("AWS_ACCESS_KEY_ID"), field("AWS_SECRET_ACCESS_KEY"))
                else {
                    return Err(Error::InvalidSpec(format!(
                        "spec.operator.awsCredentialsSecret: Secret {}/{name} needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                        self.config.namespace
                    )));
                };
                (Some((key, secret_key)), field("AWS_SESSION_TOKEN"))
            }
            None => (None, None),
        };
        Ok(Aws::connect(&AwsOptions {
            region: Some(spec.region.clone()),
            profile: None,
            endpoint_url: self.config.aws_endpoint_url.clone(),
            moto_account: self.config.moto_account.clone(),
            no_sdk_retries: false,
            static_credentials: credentials,
            session_token,
            registry_url: self.config.registry_url.clone(),
            rate_limits: Some(self.config.rate_limits.clone()),
            patience: None,
        })
        .await)
    }

    /// The admin API session for a ready domain: its admin client's credentials from
    /// Secrets Manager (where bootstrap keeps them), the issuer from its status.
    pub async fn admin_for(&self, domain: &AuthDomain) -> Result<Arc<AdminApi>, Error> {
        let name = kube::ResourceExt::name_any(domain);
        if let Some(s) = self.admin.lock().await.get(&name) {
            return Ok(s.clone());
        }
        let issuer = domain
            .status
            .as_ref()
            .and_then(|s| s.outputs.issuer.clone())
            .ok_or_else(|| Error::NotReady(format!("AuthDomain {name} has no issuer yet")))?;
        let base = self
            .config
            .auth_server_urls
            .get(&name)
            .cloned()
            .unwrap_or(issuer);
        let aws = self.aws_for(&domain.spec.0).await?;
        let kept = provisioner::bootstrap::admin_credentials(&aws, &name)
            .await?
            .ok_or_else(|| {
                Error::NotReady(format!(
                    "the admin credentials of {name} do not exist yet (bootstrap creates them)"
                ))
            })?;
        let (Some(id), Some(secret)) = (kept["client_id"].as_str(), kept["client_secret"].as_str())
        else {
            return Err(Error::InvalidSpec(format!(
                "the admin credentials of {name} hold no client_id and client_secret"
            )));
        };
        let session = Arc::new(AdminApi::new(
            &base,
            AdminCredentials {
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
            },
            self.http.clone(),
        ));
        self.admin.lock().await.insert(name, session.clone());
        Ok(session)
    }

    /// Record that `key`'s next reconcile is due in `after` (for `generation`), and the
    /// action that says so.
    pub fn schedule(&self, key: &str, generation: Option<i64>, after: Duration) -> Action {
        self.failures.lock().expect("failures").remove(key);
        self.schedule.lock().expect("schedule").insert(
            key.to_owned(),
            (generation, std::time::Instant::now() + after),
        );
        Action::requeue(after)
    }

    /// After a failed reconcile of `key`: a transient error comes back with exponential
    /// backoff (5 s doubling to 5 minutes, jittered), a terminal one after `terminal`
    /// (or with a new generation, an edit of the spec).
    pub fn failed(
        &self,
        key: &str,
        generation: Option<i64>,
        transient: bool,
        terminal: Duration,
    ) -> Action {
        let after = if transient {
            let n = {
                let mut failures = self.failures.lock().expect("failures");
                let n = failures.entry(key.to_owned()).or_default();
                *n = n.saturating_add(1);
                *n
            };
            backoff(n)
        } else {
            terminal
        };
        self.schedule.lock().expect("schedule").insert(
            key.to_owned(),
            (generation, std::time::Instant::now() + after),
        );
        Action::requeue(after)
    }

    /// While `key` is not due and its generation is the one scheduled: how long until it
    /// is (the event that woke the reconcile changed nothing that matters).
    pub fn not_due(&self, key: &str, generation: Option<i64>) -> Option<Duration> {
        let schedule = self.schedule.lock().expect("schedule");
        let (scheduled, due) = schedule.get(key)?;
        let now = std::time::Instant::now();
        (*scheduled == generation && *due > now).then(|| *due - now)
    }

    /// Forget an object's schedule and failure count (it is gone).
    pub fn forget(&self, key: &str) {
        self.schedule.lock().expect("schedule").remove(key);
        self.failures.lock().expect("failures").remove(key);
    }

    /// Forget a domain's admin session (its credentials were refused or replaced).
    pub async fn forget_admin(&self, domain: &str) {
        self.admin.lock().await.remove(domain);
    }
}

/// A pseudo-random fraction in [0, 1) for jitter.
pub fn jitter_fraction() -> f64 {
    let mut b = [0u8; 8];
    let r = aws_lc_rs::rand::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    (r >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait after `failures` consecutive transient failures: 5 s doubling, capped at 5
/// minutes, with equal jitter (half fixed, half random) so objects failing together do
/// not retry together.
pub fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(5)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(6))
        .min(Duration::from_secs(300));
    base / 2 + (base / 2).mul_f64(jitter_fraction())
}

/// `interval` plus up to 10% jitter, so domains created together are not checked together.
pub fn jittered(interval: Duration) -> Duration {
    interval + interval.mul_f64(0.1 * jitter_fraction())
}

/// The field manager of everything the operator writes.
pub const FIELD_MANAGER: &str = "authdomain-operator";

/// Write a resource's status by server-side apply, as [`FIELD_MANAGER`]: the fields
/// the operator sets are its own, a field another manager set is left alone, and a field
/// the operator stops setting is removed.
pub async fn patch_status<K>(api: &Api<K>, obj: &K, status: &impl Serialize) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let dt = K::DynamicType::default();
    let mut status = serde_json::to_value(status).expect("a status serialises");
    // Only our conditions: the status we start from was read whole, and applying another
    // manager's condition would make it ours too (and bring it back once they drop it).
    if let Some(conditions) = status
        .get_mut("conditions")
        .and_then(serde_json::Value::as_array_mut)
    {
        conditions.retain(|c| crate::status::OURS.iter().any(|k| c["type"] == *k));
    }
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(serde_json::json!({
            "apiVersion": K::api_version(&dt),
            "kind": K::kind(&dt),
            "status": status,
        })),
    )
    .await?;
    Ok(())
}

/// A custom resource whose status carries conditions (both of ours).
pub trait Conditioned:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
    type Status: Default + Clone + Serialize;
    fn status(&self) -> Option<&Self::Status>;
    fn conditions(status: &mut Self::Status) -> &mut Vec<crate::crd::Condition>;
}

impl Conditioned for AuthDomain {
    type Status = crate::crd::AuthDomainStatus;
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<crate::crd::Condition> {
        &mut status.conditions
    }
}

impl Conditioned for crate::crd::OAuthClient {
    type Status = crate::crd::OAuthClientStatus;
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn conditions(status: &mut Self::Status) -> &mut Vec<crate::crd::Condition> {
        &mut status.conditions
    }
}

/// Make a failed reconcile visible: the conditions `kinds` (chosen from the current
/// conditions) become False with the error's reason and message and the generation they
/// describe, on the object as it is now (read again: the reconcile may have written its
/// status meanwhile), and a Warning event is published when a condition flips or its
/// reason changes (not on every retry). The message carries no secret: errors name
/// resources, codes and AWS's or the auth server's message only.
pub async fn report_failure<K: Conditioned>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    error: &Error,
    action: &str,
    kinds: impl FnOnce(&[crate::crd::Condition]) -> Vec<&'static str>,
) {
    let name = obj.name_any();
    let latest = match api.get_status(&name).await {
        Ok(o) => o,
        // Gone (deleted meanwhile): nothing to report on.
        Err(kube::Error::Api(ae)) if ae.code == 404 => return,
        Err(_) => obj.clone(),
    };
    let mut st = latest.status().cloned().unwrap_or_default();
    let reason = error.reason();
    let message = error.to_string();
    let generation = latest.meta().generation;
    let now = crate::status::now();
    let conditions = K::conditions(&mut st);
    let mut changed = false;
    for kind in kinds(conditions) {
        let before = crate::status::find(conditions, kind).map(|c| c.reason.clone());
        let flipped = crate::status::set(
            conditions,
            crate::status::Wanted::no(kind, reason, message.clone()),
            generation,
            &now,
        );
        changed |= flipped || before.as_deref() != Some(reason);
    }
    if let Err(e) = patch_status(api, &latest, &st).await {
        tracing::warn!(error = %e, object = %name, "could not write the failure to status");
    }
    if changed {
        ctx.recorder
            .publish(&latest, events::Kind::Warning, reason, action, &message)
            .await;
    }
}

/// Run a reconcile behind the finalizer `name`: `apply` while the resource lives,
/// `cleanup` once it is being deleted (the finalizer is removed when it succeeds), and
/// count it in the metrics as `kind`.
pub async fn reconcile_with_finalizer<K, A, AF, C, CF>(
    api: &Api<K>,
    name: &str,
    kind: &'static str,
    obj: Arc<K>,
    ctx: &Context,
    apply: A,
    cleanup: C,
) -> Result<Action, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    K::DynamicType: Default,
    A: FnOnce(Arc<K>) -> AF,
    AF: std::future::Future<Output = Result<Action, Error>>,
    C: FnOnce(Arc<K>) -> CF,
    CF: std::future::Future<Output = Result<Action, Error>>,
{
    let started = std::time::Instant::now();
    let result = finalizer(api, name, obj, |event| async move {
        match event {
            Finalizer::Apply(obj) => apply(obj).await,
            Finalizer::Cleanup(obj) => cleanup(obj).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .reconciled(kind, started.elapsed(), result.as_ref().err());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_back_off_exponentially_with_jitter_up_to_five_minutes() {
        for (n, max) in [(1, 5), (2, 10), (3, 20), (4, 40), (7, 300), (50, 300)] {
            for _ in 0..20 {
                let d = backoff(n);
                assert!(
                    d >= Duration::from_secs(max) / 2 && d <= Duration::from_secs(max),
                    "failure {n}: {d:?}"
                );
            }
        }
    }
}
