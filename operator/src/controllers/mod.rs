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
        let secret_name = provisioner::aws::secrets::admin_secret_name(&name);
        let kept = provisioner::aws::secrets::read_json(&aws, &secret_name)
            .await?
            .ok_or_else(|| {
                Error::NotReady(format!(
                    "the admin credentials of {name} ({secret_name}) do not exist yet"
                ))
            })?;
        let (Some(id), Some(secret)) = (kept["client_id"].as_str(), kept["client_secret"].as_str())
        else {
            return Err(Error::InvalidSpec(format!(
                "{secret_name} holds no client_id and client_secret"
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

/// `interval` plus up to 10% jitter, so domains created together are not checked together.
pub fn jittered(interval: Duration) -> Duration {
    interval + interval.mul_f64(0.1 * jitter_fraction())
}

/// Write a resource's status (a merge patch of `.status`).
pub async fn patch_status<K>(api: &Api<K>, obj: &K, status: &impl Serialize) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await?;
    Ok(())
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
