//! The AWS edge: one module per service (observe / create / update / delete), plus what
//! they share: SDK configuration, call counting, error classification and our tags.

pub mod api;
pub mod ec2;
pub mod ecr;
pub mod function;
pub mod iam;
pub mod kms;
pub mod protection;
pub mod rds;
pub mod rdsdata;
pub mod secrets;
pub mod tagging;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use authdomain_core::plan::{Desired, Ref, ResourceId};

pub use authdomain_core::plan::names::{
    MANAGED_BY, TAG_DOMAIN, TAG_MANAGED_BY, TAG_RESOURCE, resource_id, tag_delta, tag_pairs,
    user_tags,
};

/// How to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Overrides every service endpoint (moto, LocalStack); `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
    /// Sent as `x-moto-account-id` on every request: isolates tests in one moto server.
    pub moto_account: Option<String>,
    /// Disable the SDK's own retries (tests: a missing operation fails fast).
    pub no_sdk_retries: bool,
    /// Fixed credentials (access key, secret) instead of the default chain: for emulators.
    pub static_credentials: Option<(String, String)>,
    /// With `static_credentials`: the session token of temporary credentials.
    pub session_token: Option<String>,
    /// Talk the OCI distribution protocol to this registry (`http://127.0.0.1:5000`)
    /// instead of the ECR repository's host: a registry on loopback in tests, a mirror.
    pub registry_url: Option<String>,
    /// Client-side rate limits per AWS service, shared by every `Aws` given the same
    /// value: the operator sets them so that many domains' drift checks never storm an
    /// account's API limits.
    pub rate_limits: Option<RateLimits>,
    /// Bounds of the long waits (default: [`Patience::default`]).
    pub patience: Option<Patience>,
}

/// How long the provisioner waits for what real AWS does slowly. Every wait polls, says
/// what it waits for with the time elapsed, and ends with [`ErrorClass::StillWaiting`]
/// at its bound: re-running the command continues from where it stopped.
#[derive(Debug, Clone)]
pub struct Patience {
    /// A new IAM role or KMS key becoming usable by Lambda, EC2 and IAM itself: AWS
    /// documents seconds, seen up to about two minutes.
    pub propagation: Duration,
    /// Lambda releasing a deleted function's VPC network interfaces, which keep its
    /// security group and subnets from being deleted: up to 20 to 40 minutes.
    pub network_interfaces: Duration,
    /// A function reaching `State: Active` and `LastUpdateStatus: Successful` (a function
    /// in a VPC is `Pending` while Lambda creates its network interfaces).
    pub function: Duration,
    /// An Aurora cluster or instance becoming `available` (5 to 10 minutes for the
    /// cluster, more for the instance).
    pub database: Duration,
    /// A NAT gateway becoming `available` or `deleted`.
    pub nat_gateway: Duration,
    /// Time between two polls of a state.
    pub poll: Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            propagation: Duration::from_secs(120),
            network_interfaces: Duration::from_secs(45 * 60),
            function: Duration::from_secs(15 * 60),
            database: Duration::from_secs(60 * 60),
            nat_gateway: Duration::from_secs(15 * 60),
            poll: Duration::from_secs(10),
        }
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Lines a long wait reports ("waiting for Lambda to release 2 network interfaces…
/// [4m10s elapsed]"): sent to the subscriber (the CLI's progress), logged, and the last
/// ones kept (tests read them).
#[derive(Clone, Default)]
pub struct Notices {
    inner: Arc<Mutex<NoticeState>>,
}

#[derive(Default)]
struct NoticeState {
    sink: Option<Sink>,
    lines: std::collections::VecDeque<String>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Notices {
    /// Send every later line to `sink` as well.
    pub fn subscribe(&self, sink: impl Fn(&str) + Send + Sync + 'static) {
        self.inner.lock().expect("notices").sink = Some(Arc::new(sink));
    }
    pub fn say(&self, line: &str) {
        tracing::info!(target: "authdomain::wait", "{line}");
        let sink = {
            let mut state = self.inner.lock().expect("notices");
            if state.lines.len() == 1000 {
                state.lines.pop_front();
            }
            state.lines.push_back(line.to_owned());
            state.sink.clone()
        };
        if let Some(sink) = sink {
            sink(line);
        }
    }
    /// The lines said so far (the last thousand).
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("notices")
            .lines
            .iter()
            .cloned()
            .collect()
    }
}

/// `4m10s`, `12s`, `1h02m`: how long a wait has taken, for people.
pub fn elapsed_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// One look at a state being waited for.
#[derive(Debug)]
pub enum Poll<T> {
    Done(T),
    /// Not yet: what is awaited, for the progress line.
    Waiting(String),
}

/// Poll `check` every [`Patience::poll`] until it is done, saying what it waits for with
/// the time elapsed; at `bound`, a [`ErrorClass::StillWaiting`] error for `resource`
/// whose message is `at_bound(last waiting text, elapsed)`. On tokio's clock, so tests
/// run hours of AWS time on a paused clock.
pub async fn wait_for<T, F, Fut>(
    aws: &Aws,
    resource: &str,
    bound: Duration,
    at_bound: impl Fn(&str, Duration) -> String,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Poll<T>, AwsError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        let what = match check().await? {
            Poll::Done(v) => return Ok(v),
            Poll::Waiting(what) => what,
        };
        let elapsed = started.elapsed();
        if elapsed >= bound {
            return Err(AwsError {
                action: "wait for",
                resource: resource.to_owned(),
                code: "StillWaiting".into(),
                message: at_bound(&what, elapsed),
                class: ErrorClass::StillWaiting,
            });
        }
        aws.notices.say(&format!(
            "{resource}: {what}… [{} elapsed]",
            elapsed_text(elapsed)
        ));
        tokio::time::sleep(aws.patience.poll.min(bound - elapsed)).await;
    }
}

/// [`with_retries`], and while `op` fails with [`ErrorClass::Propagating`] keep trying
/// until [`Patience::propagation`] has passed since the first such answer, saying why.
/// At the bound the last error is returned as it came (terminal: it is no longer
/// propagation but a real refusal).
pub async fn with_propagation<T, F, Fut>(aws: &Aws, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut started: Option<tokio::time::Instant> = None;
    let mut delay = Duration::from_secs(1);
    loop {
        match with_retries(5, &mut op).await {
            Err(mut e) if e.class == ErrorClass::Propagating => {
                let first = *started.get_or_insert_with(tokio::time::Instant::now);
                let elapsed = first.elapsed();
                if elapsed >= aws.patience.propagation {
                    e.class = ErrorClass::Terminal;
                    e.message = format!(
                        "{} (still refused after {} of waiting for AWS to catch up)",
                        e.message,
                        elapsed_text(elapsed)
                    );
                    return Err(e);
                }
                aws.notices.say(&format!(
                    "{}: not usable yet, waiting for AWS to catch up ({}: {}) [{} elapsed]",
                    e.resource,
                    e.code,
                    e.message,
                    elapsed_text(elapsed)
                ));
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(15));
            }
            other => return other,
        }
    }
}

/// Calls made, per service and operation, counted by an interceptor on every client.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

/// Operation name prefixes that change state.
const MUTATING: [&str; 24] = [
    "Add",
    "Remove",
    "Enable",
    "Disable",
    "Schedule",
    "Cancel",
    "Publish",
    "Restore",
    "Create",
    "Delete",
    "Modify",
    "Put",
    "Update",
    "Attach",
    "Detach",
    "Associate",
    "Disassociate",
    "Authorize",
    "Revoke",
    "Allocate",
    "Release",
    "Replace",
    "Tag",
    "Untag",
];

impl CallCounter {
    pub fn total(&self) -> u64 {
        self.calls.lock().expect("counter").values().sum()
    }
    pub fn mutating(&self) -> u64 {
        self.calls
            .lock()
            .expect("counter")
            .iter()
            .filter(|((_, op), _)| MUTATING.iter().any(|p| op.starts_with(p)))
            .map(|(_, n)| n)
            .sum()
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .expect("counter")
            .iter()
            .map(|((s, o), n)| (format!("{s}:{o}"), *n))
            .collect()
    }
    pub fn reset(&self) {
        self.calls.lock().expect("counter").clear();
    }
}

#[derive(Debug)]
struct Edge {
    counter: CallCounter,
    moto_account: Option<String>,
}

impl Intercept for Edge {
    fn name(&self) -> &'static str {
        "authdomain-edge"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .counter
                .calls
                .lock()
                .expect("counter")
                .entry((m.service().to_owned(), m.name().to_owned()))
                .or_default() += 1;
        }
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(account) = &self.moto_account {
            context
                .request_mut()
                .headers_mut()
                .insert("x-moto-account-id", account.clone());
        }
        Ok(())
    }
}

/// Configured clients for every service, sharing one call counter.
#[derive(Debug, Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub rdsdata: aws_sdk_rdsdata::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    /// API Gateway's REST APIs (v1): only the teams' APIs of `spec.protectedApis`.
    pub apigw_rest: aws_sdk_apigateway::Client,
    pub calls: CallCounter,
    pub region: String,
    /// See [`AwsOptions::registry_url`].
    pub registry_url: Option<String>,
    /// How long to wait for what AWS does slowly.
    pub patience: Patience,
    /// Where long waits say what they wait for (the CLI's progress lines, the logs).
    pub notices: Notices,
    /// The region's availability zones, read once (they do not change while we run).
    pub zones: Arc<tokio::sync::OnceCell<Vec<authdomain_core::plan::zones::Zone>>>,
}

impl Aws {
    pub async fn connect(options: &AwsOptions) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &options.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &options.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &options.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        if let Some((key, secret)) = &options.static_credentials {
            loader = loader.credentials_provider(aws_sdk_ec2::config::Credentials::new(
                key,
                secret,
                options.session_token.clone(),
                None,
                "static",
            ));
        }
        if options.no_sdk_retries {
            loader = loader.retry_config(aws_config::retry::RetryConfig::disabled());
        }
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
        let sdk: SdkConfig = loader.load().await;
        let calls = CallCounter::default();
        let edge = || Edge {
            counter: calls.clone(),
            moto_account: options.moto_account.clone(),
        };
        // Each service's client waits for its own turn (shared across `Aws` values).
        let limited = |service: &str| -> SdkConfig {
            match (&options.rate_limits, sdk.http_client()) {
                (Some(limits), Some(inner)) => sdk
                    .to_builder()
                    .http_client(limits.client(service, inner))
                    .build(),
                _ => sdk.clone(),
            }
        };
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&limited("ec2"))
                .interceptor(edge())
                .build(),
        );
        let rds = aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&limited("rds"))
                .interceptor(edge())
                .build(),
        );
        let rdsdata = aws_sdk_rdsdata::Client::from_conf(
            aws_sdk_rdsdata::config::Builder::from(&limited("rds-data"))
                .interceptor(edge())
                .build(),
        );
        let ecr = aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&limited("ecr"))
                .interceptor(edge())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&limited("iam"))
                .interceptor(edge())
                .build(),
        );
        let kms = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&limited("kms"))
                .interceptor(edge())
                .build(),
        );
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&limited("secretsmanager"))
                .interceptor(edge())
                .build(),
        );
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&limited("lambda"))
                .interceptor(edge())
                .build(),
        );
        let apigw = aws_sdk_apigatewayv2::Client::from_conf(
            aws_sdk_apigatewayv2::config::Builder::from(&limited("apigateway"))
                .interceptor(edge())
                .build(),
        );
        let apigw_rest = aws_sdk_apigateway::Client::from_conf(
            aws_sdk_apigateway::config::Builder::from(&limited("apigateway"))
                .interceptor(edge())
                .build(),
        );
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        Aws {
            ec2,
            rds,
            rdsdata,
            ecr,
            iam,
            kms,
            secrets,
            lambda,
            apigw,
            apigw_rest,
            calls,
            region,
            registry_url: options.registry_url.clone(),
            patience: options.patience.clone().unwrap_or_default(),
            notices: Notices::default(),
            zones: Default::default(),
        }
    }
}

pub use rate_limit::RateLimits;

mod rate_limit {
    //! A client-side rate limit as an HTTP client wrapper: every request of one service
    //! client waits for its turn (requests spaced at `1 / rate`), before signing retries
    //! and all. The SDK's own adaptive retry mode only slows down after being throttled.

    use std::sync::Arc;
    use std::time::Duration;

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use tokio::time::Instant;

    #[derive(Debug)]
    struct Spacing {
        interval: Duration,
        next: tokio::sync::Mutex<Instant>,
    }

    impl Spacing {
        async fn wait_turn(&self) {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = (*next).max(now) + self.interval;
        }
    }

    /// Per-service request spacing, shared by clones.
    #[derive(Debug, Clone)]
    pub struct RateLimits {
        interval: Duration,
        services: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Spacing>>>>,
    }

    impl RateLimits {
        /// At most `per_second` requests per second to each AWS service.
        pub fn new(per_second: f64) -> RateLimits {
            RateLimits {
                interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
                services: Default::default(),
            }
        }

        pub(super) fn client(&self, service: &str, inner: SharedHttpClient) -> RateLimited {
            let spacing = self
                .services
                .lock()
                .expect("rate limits")
                .entry(service.to_owned())
                .or_insert_with(|| {
                    Arc::new(Spacing {
                        interval: self.interval,
                        next: tokio::sync::Mutex::new(Instant::now()),
                    })
                })
                .clone();
            RateLimited { inner, spacing }
        }
    }

    #[derive(Debug, Clone)]
    pub struct RateLimited {
        inner: SharedHttpClient,
        spacing: Arc<Spacing>,
    }

    impl HttpClient for RateLimited {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(Connector {
                inner: self.inner.http_connector(settings, components),
                spacing: self.spacing.clone(),
            })
        }
    }

    #[derive(Debug)]
    struct Connector {
        inner: SharedHttpConnector,
        spacing: Arc<Spacing>,
    }

    impl HttpConnector for Connector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let (inner, spacing) = (self.inner.clone(), self.spacing.clone());
            HttpConnectorFuture::new(async move {
                spacing.wait_turn().await;
                inner.call(request).await
            })
        }
    }
}

/// What a failed AWS call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Wrong input, missing permission, limits: retrying cannot help.
    Terminal,
    /// Transient or eventual consistency (DependencyViolation while a dependent goes away,
    /// a role not yet assumable, a 5xx): retry with backoff.
    Retryable,
    Throttled,
    AlreadyExists,
    NotFound,
    /// AWS is still changing the resource and the wait's bound was reached: nothing
    /// failed, the caller comes back later (a reconcile requeues; the CLI says re-run).
    StillWaiting,
    /// Something created seconds ago is not visible yet to the service that uses it (a new
    /// IAM role to Lambda, EC2 or KMS; a role to AttachRolePolicy): retried by elapsed
    /// time ([`Patience::propagation`]), not by a count, the reason shown meanwhile.
    Propagating,
}

/// A failed AWS call, naming the resource and AWS's code and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} {resource}: {code}: {message}")]
pub struct AwsError {
    pub action: &'static str,
    pub resource: String,
    pub code: String,
    pub message: String,
    pub class: ErrorClass,
}

/// Classify by AWS error code (and transport failures as retryable).
pub fn classify(code: &str) -> ErrorClass {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "SlowDown"
        | "PriorRequestNotComplete" => ErrorClass::Throttled,
        "DependencyViolation"
        | "IncorrectState"
        | "InvalidParameterValue.EventualConsistency"
        | "ServiceUnavailable"
        | "InternalError"
        | "InternalFailure"
        | "ResourceConflictException"
        | "InvalidDBClusterStateFault"
        | "InvalidDBInstanceState"
        | "ResourceNotReadyException"
        | "DatabaseResumingException"
        | "transport" => ErrorClass::Retryable,
        c if c.ends_with(".Duplicate")
            || c.ends_with("AlreadyExists")
            || c.ends_with("AlreadyExistsFault")
            || c == "EntityAlreadyExists"
            || c == "ResourceAlreadyExistsException" =>
        {
            ErrorClass::AlreadyExists
        }
        c if c.ends_with(".NotFound")
            || c.ends_with("NotFound")
            || c.ends_with("NotFoundFault")
            || c == "NoSuchEntity"
            || c.ends_with("NotFoundException") =>
        {
            ErrorClass::NotFound
        }
        _ => ErrorClass::Terminal,
    }
}

/// Convert an SDK error into an [`AwsError`] for `action` on `resource`.
pub fn aws_error<E, R>(
    action: &'static str,
    resource: impl Into<String>,
    e: aws_sdk_ec2::error::SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ec2::error::SdkError;
    let (code, message) = match &e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("Unknown").to_owned(),
            s.err().message().unwrap_or("(no message)").to_owned(),
        ),
        SdkError::TimeoutError(_) => ("transport".to_owned(), "the request timed out".to_owned()),
        SdkError::DispatchFailure(d) => (
            "transport".to_owned(),
            format!("could not reach AWS: {d:?}"),
        ),
        other => ("Unknown".to_owned(), format!("{other}")),
    };
    let class = classify(&code);
    AwsError {
        action,
        resource: resource.into(),
        code,
        message,
        class,
    }
}

/// "Not found" as an answer rather than a failure: a read of something that does not
/// exist gives `None`, a delete of something already gone has done its job.
pub(crate) trait NotFoundAsNone<T> {
    fn found(self) -> Result<Option<T>, AwsError>;
}

impl<T> NotFoundAsNone<T> for Result<T, AwsError> {
    fn found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A delete or detach whose target is already gone has done its job.
pub(crate) fn already_gone(result: Result<(), AwsError>) -> Result<(), AwsError> {
    result.found().map(|_| ())
}

/// A string property of a desired resource.
pub(crate) fn prop_str(d: &Desired, field: &str) -> Option<String> {
    d.props
        .get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Every page of a listing whose parent may not exist: `page(token)` fetches one page as
/// its items and the next token, or None when the parent is not found.
pub(crate) async fn all_pages<T, F, Fut>(mut page: F) -> Result<Option<Vec<T>>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(Vec<T>, Option<String>)>, AwsError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let Some((items, next)) = page(token.take()).await? else {
            return Ok(None);
        };
        let empty = items.is_empty();
        out.extend(items);
        match next {
            Some(t) if !empty => token = Some(t),
            _ => return Ok(Some(out)),
        }
    }
}

/// A JSON list of strings as a vector (absent or malformed: empty).
pub(crate) fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The error for a reference to a resource that has no physical id yet.
pub(crate) fn missing(d: &ResourceId, field: &str) -> AwsError {
    AwsError {
        action: "resolve",
        resource: d.to_string(),
        code: "MissingDependency".into(),
        message: format!("`{field}` refers to a resource that does not exist yet"),
        class: ErrorClass::Terminal,
    }
}

/// The physical id behind a single-target reference field of `d`.
pub(crate) fn one(d: &Desired, field: &str, physical: &ec2::Physical) -> Result<String, AwsError> {
    match d.refs.get(field) {
        Some(Ref::One(t)) => physical
            .get(t)
            .cloned()
            .ok_or_else(|| missing(&d.id, field)),
        _ => Err(missing(&d.id, field)),
    }
}

/// The physical ids behind a reference field of `d` (empty when `d` has no such field).
pub(crate) fn many(
    d: &Desired,
    field: &str,
    physical: &ec2::Physical,
) -> Result<Vec<String>, AwsError> {
    match d.refs.get(field) {
        Some(r) => r
            .targets()
            .into_iter()
            .map(|t| {
                physical
                    .get(t)
                    .cloned()
                    .ok_or_else(|| missing(&d.id, field))
            })
            .collect(),
        None => Ok(Vec::new()),
    }
}

/// Retry `op` while it fails with a retryable or throttling error: jittered exponential
/// backoff from 200 ms, at most `attempts` tries. Terminal errors return at once.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    // On tokio's clock (a paused clock in tests).
    loop {
        tries += 1;
        match op().await {
            Err(e)
                if tries < attempts
                    && matches!(e.class, ErrorClass::Retryable | ErrorClass::Throttled) =>
            {
                let wait = jittered(delay);
                tracing::debug!(error = %e, retry_in_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// "Equal jitter": half of `delay` plus a random part of the other half, so that clients
/// throttled together do not retry together.
pub fn jittered(delay: Duration) -> Duration {
    let mut b = [0u8; 8];
    // The OS random source does not fail in practice; if it did, the wait is the bare half.
    let r = aws_lc_rs::rand::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    let half = delay.as_millis() as u64 / 2;
    Duration::from_millis(half + r % (half + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay() {
        let waits: std::collections::BTreeSet<u128> = (0..64)
            .map(|_| jittered(Duration::from_millis(1000)).as_millis())
            .collect();
        assert!(waits.iter().all(|w| (500..=1000).contains(w)), "{waits:?}");
        assert!(waits.len() > 8, "not random: {waits:?}");
    }

    #[test]
    fn error_codes_are_classified() {
        assert_eq!(classify("RequestLimitExceeded"), ErrorClass::Throttled);
        assert_eq!(classify("DependencyViolation"), ErrorClass::Retryable);
        assert_eq!(
            classify("InvalidGroup.Duplicate"),
            ErrorClass::AlreadyExists
        );
        assert_eq!(classify("InvalidVpcID.NotFound"), ErrorClass::NotFound);
        assert_eq!(
            classify("RepositoryNotFoundException"),
            ErrorClass::NotFound
        );
        assert_eq!(classify("UnauthorizedOperation"), ErrorClass::Terminal);
        assert_eq!(classify("InvalidParameterValue"), ErrorClass::Terminal);
    }
}
