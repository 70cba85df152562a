//! One SDK configuration for every service client: region, profile, endpoint (an
//! emulator), credentials, timeouts, the call-counting interceptor and optional
//! per-service rate limits.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use super::calls::{CallCounter, Edge};
use super::rate_limit::RateLimits;
use super::wait::{Notices, Patience};

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
    /// The read model's bucket.
    pub s3: aws_sdk_s3::Client,
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
    /// The region's S3 prefix list (the gateway endpoint's destinations), read once.
    pub s3_prefix_list: Arc<tokio::sync::OnceCell<String>>,
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
        // Path-style addressing against an emulator (moto serves one host); AWS gets the
        // virtual-hosted style it prefers.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&limited("s3"))
                .force_path_style(options.endpoint_url.is_some())
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
            s3,
            calls,
            region,
            registry_url: options.registry_url.clone(),
            patience: options.patience.clone().unwrap_or_default(),
            notices: Notices::default(),
            zones: Default::default(),
            s3_prefix_list: Default::default(),
        }
    }
}
