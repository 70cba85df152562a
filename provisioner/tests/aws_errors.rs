//! Error paths no emulator produces, scripted with aws-smithy-mocks (every test here is a
//! mock, and its name says so): throttling retried with backoff, terminal errors failing
//! fast with the resource and AWS's code, DependencyViolation on delete retried.
#![allow(clippy::todo)] // `mock!` expands to code containing todo!()

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::delete_subnet::{DeleteSubnetError, DeleteSubnetOutput};
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput;
use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::{DescribeVpcsError, DescribeVpcsOutput};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
use provisioner::aws::{Aws, CallCounter, ErrorClass, ec2};
use provisioner::plan::{Kind, Observed, ResourceId};

fn client(rules: &[&Rule]) -> Aws {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    // The other services are not exercised here: clients with no rules (any call fails).
    let idle = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
            Credentials::new("a", "b", None, None, "test"),
        ))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .build();
    Aws {
        rds: aws_sdk_rds::Client::new(&idle),
        ecr: aws_sdk_ecr::Client::new(&idle),
        iam: aws_sdk_iam::Client::new(&idle),
        ec2: aws_sdk_ec2::Client::from_conf(conf),
        calls: CallCounter::default(),
        region: "eu-west-1".into(),
    }
}

/// Empty answers for every describe but VPCs.
fn other_describes() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_ec2::Client::describe_subnets)
            .then_output(|| DescribeSubnetsOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_internet_gateways)
            .then_output(|| DescribeInternetGatewaysOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_addresses)
            .then_output(|| DescribeAddressesOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_nat_gateways)
            .then_output(|| DescribeNatGatewaysOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| DescribeRouteTablesOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build()),
    ]
}

fn vpc_error(code: &'static str) -> impl Fn() -> DescribeVpcsError + Send + Sync + 'static {
    move || {
        DescribeVpcsError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("scripted by the test")
                .build(),
        )
    }
}

#[tokio::test]
async fn mocked_throttling_is_retried_with_backoff_then_succeeds() {
    let vpcs = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .sequence()
        .error(vpc_error("RequestLimitExceeded"))
        .times(2)
        .output(|| DescribeVpcsOutput::builder().build())
        .build();
    let others = other_describes();
    let mut rules: Vec<&Rule> = others.iter().collect();
    rules.push(&vpcs);
    let aws = client(&rules);
    let started = Instant::now();
    let observed = ec2::observe(&aws, "demo")
        .await
        .expect("succeeds after throttling");
    assert!(observed.is_empty());
    assert_eq!(vpcs.num_calls(), 3, "two throttled attempts, then success");
    assert!(
        started.elapsed().as_millis() >= 200 + 400,
        "backed off between attempts"
    );
}

#[tokio::test]
async fn mocked_terminal_error_fails_fast_naming_resource_and_code() {
    let vpcs =
        mock!(aws_sdk_ec2::Client::describe_vpcs).then_error(vpc_error("UnauthorizedOperation"));
    let others = other_describes();
    let mut rules: Vec<&Rule> = others.iter().collect();
    rules.push(&vpcs);
    let aws = client(&rules);
    let err = ec2::observe(&aws, "demo").await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(err.code, "UnauthorizedOperation");
    assert_eq!(vpcs.num_calls(), 1, "a terminal error is never retried");
    assert_eq!(
        err.to_string(),
        "describe VPCs: UnauthorizedOperation: scripted by the test"
    );
}

#[tokio::test]
async fn mocked_dependency_violation_on_delete_is_retried_until_it_clears() {
    let delete = mock!(aws_sdk_ec2::Client::delete_subnet)
        .sequence()
        .error(|| {
            DeleteSubnetError::generic(
                ErrorMetadata::builder()
                    .code("DependencyViolation")
                    .message("has ENIs")
                    .build(),
            )
        })
        .times(2)
        .output(|| DeleteSubnetOutput::builder().build())
        .build();
    let aws = client(&[&delete]);
    let o = Observed {
        id: ResourceId::new(Kind::Subnet, "private-a"),
        physical_id: "subnet-1".into(),
        props: BTreeMap::new(),
        refs: BTreeMap::new(),
    };
    ec2::delete(&aws, &o)
        .await
        .expect("deleted once the dependency is gone");
    assert_eq!(delete.num_calls(), 3);
}

#[tokio::test]
async fn mocked_missing_resource_on_delete_counts_as_deleted() {
    let delete = mock!(aws_sdk_ec2::Client::delete_subnet).then_error(|| {
        DeleteSubnetError::generic(
            ErrorMetadata::builder()
                .code("InvalidSubnetID.NotFound")
                .message("gone")
                .build(),
        )
    });
    let aws = client(&[&delete]);
    let o = Observed {
        id: ResourceId::new(Kind::Subnet, "private-a"),
        physical_id: "subnet-1".into(),
        props: BTreeMap::new(),
        refs: BTreeMap::new(),
    };
    ec2::delete(&aws, &o).await.expect("already gone is fine");
}
