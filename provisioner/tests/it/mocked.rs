//! An [`Aws`] whose every client answers from scripted rules (aws-smithy-mocks): for the
//! answers no emulator gives. Shared by the mocked test files.
#![allow(dead_code)]

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};
use provisioner::aws::{Aws, CallCounter, Notices, Patience};

/// Every AWS client of an [`Aws`] answering from `rules` (a call no rule matches fails),
/// with the SDK's own retries off and the default patience.
pub fn client(rules: &[&Rule]) -> Aws {
    // One interceptor per client, all answering from the same rules.
    let interceptor = || {
        let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            i = i.with_rule(r);
        }
        i
    };
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor())
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    // Every service answers from the same rules (a call no rule matches fails).
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            Credentials::new("a", "b", None, None, "test"),
        ))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    macro_rules! with_rules {
        ($krate:ident) => {
            $krate::Client::from_conf(
                $krate::config::Builder::from(&sdk)
                    .interceptor(interceptor())
                    .build(),
            )
        };
    }
    Aws {
        rds: with_rules!(aws_sdk_rds),
        rdsdata: with_rules!(aws_sdk_rdsdata),
        ecr: with_rules!(aws_sdk_ecr),
        iam: with_rules!(aws_sdk_iam),
        kms: with_rules!(aws_sdk_kms),
        secrets: with_rules!(aws_sdk_secretsmanager),
        lambda: with_rules!(aws_sdk_lambda),
        apigw: with_rules!(aws_sdk_apigatewayv2),
        apigw_rest: with_rules!(aws_sdk_apigateway),
        s3: with_rules!(aws_sdk_s3),
        ec2: aws_sdk_ec2::Client::from_conf(conf),
        calls: CallCounter::default(),
        region: "eu-west-1".into(),
        registry_url: None,
        patience: Patience::default(),
        notices: Notices::default(),
        zones: Default::default(),
        s3_prefix_list: Default::default(),
    }
}
