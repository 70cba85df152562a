//! Error paths no emulator produces, scripted with aws-smithy-mocks (every test here is a
//! mock, and its name says so): throttling retried with backoff, terminal errors failing
//! fast with the resource and AWS's code, DependencyViolation on delete retried.

use std::collections::BTreeMap;
use std::time::Instant;

use authdomain_core::plan::{Kind, Observed, ResourceId};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::delete_subnet::{DeleteSubnetError, DeleteSubnetOutput};
use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput;
use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::{DescribeVpcsError, DescribeVpcsOutput};
use aws_smithy_mocks::{Rule, mock};
use provisioner::aws::{Aws, ErrorClass, ec2};

use crate::mocked;

fn client(rules: &[&Rule]) -> Aws {
    mocked::client(rules)
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
        mock!(aws_sdk_ec2::Client::describe_vpc_endpoints).then_output(|| {
            aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput::builder()
                .build()
        }),
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
    // Equal jitter: at least half of each delay (200 ms, then 400 ms).
    assert!(
        started.elapsed().as_millis() >= 100 + 200,
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

fn function_desired() -> (authdomain_core::plan::Desired, ec2::Physical) {
    use authdomain_core::plan::{Desired, Ref};
    let sg = ResourceId::new(Kind::SecurityGroup, "function");
    let subnet = ResourceId::new(Kind::Subnet, "private-a");
    let d = Desired::new(ResourceId::new(Kind::Function, "main"))
        .prop("image", "1.dkr.ecr.eu-west-1.amazonaws.com/demo@sha256:abc")
        .prop("architecture", "arm64")
        .prop("memory", 512)
        .prop("timeout", 29)
        .prop("role", "arn:aws:iam::1:role/demo-authserver-function")
        .prop(
            "environment",
            serde_json::json!({"AUTHSERVER_KEK": "sha256:0011", "AUTHSERVER_ISSUER": "https://x"}),
        )
        .reference("subnets", Ref::Many(vec![subnet.clone()]), false)
        .reference("security-groups", Ref::Many(vec![sg.clone()]), false);
    let physical: ec2::Physical = [(sg, "sg-1".to_owned()), (subnet, "subnet-1".to_owned())]
        .into_iter()
        .collect();
    (d, physical)
}

fn kek_rule() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id() == Some("authdomain/demo/kek"))
        .then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string("a2VrLXZhbHVl")
                .build()
        })
}

fn lambda_error(
    code: &'static str,
    message: &'static str,
) -> impl Fn() -> aws_sdk_lambda::operation::create_function::CreateFunctionError + Send + Sync + 'static
{
    move || {
        aws_sdk_lambda::operation::create_function::CreateFunctionError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        )
    }
}

#[tokio::test(start_paused = true)]
async fn mocked_function_create_waits_for_a_new_role_to_become_assumable() {
    let create = mock!(aws_sdk_lambda::Client::create_function)
        .match_requests(|r| {
            // The KEK reaches the function itself, never its fingerprint.
            r.environment()
                .and_then(|e| e.variables())
                .and_then(|v| v.get("AUTHSERVER_KEK"))
                .map(String::as_str)
                == Some("a2VrLXZhbHVl")
                && r.code().and_then(|c| c.image_uri())
                    == Some("1.dkr.ecr.eu-west-1.amazonaws.com/demo@sha256:abc")
        })
        .sequence()
        .error(lambda_error(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        ))
        .times(2)
        .output(|| {
            aws_sdk_lambda::operation::create_function::CreateFunctionOutput::builder().build()
        })
        .build();
    let kek = kek_rule();
    let active = mock!(aws_sdk_lambda::Client::get_function_configuration).then_output(|| {
        aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput::builder()
            .state(aws_sdk_lambda::types::State::Active)
            .last_update_status(aws_sdk_lambda::types::LastUpdateStatus::Successful)
            .build()
    });
    let aws = client(&[&create, &kek, &active]);
    let (d, physical) = function_desired();
    let name = provisioner::aws::function::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .expect("created once IAM has caught up");
    assert_eq!(name, "demo-authserver");
    assert_eq!(
        create.num_calls(),
        3,
        "retried while the role was not assumable"
    );
}

#[tokio::test]
async fn mocked_function_create_with_a_bad_parameter_fails_fast() {
    let create = mock!(aws_sdk_lambda::Client::create_function).then_error(lambda_error(
        "InvalidParameterValueException",
        "Unsupported architecture",
    ));
    let kek = kek_rule();
    let aws = client(&[&create, &kek]);
    let (d, physical) = function_desired();
    let err = provisioner::aws::function::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .unwrap_err();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(
        err.to_string(),
        "create function/main: InvalidParameterValueException: Unsupported architecture"
    );
    assert!(
        !err.to_string().contains("a2VrLXZhbHVl"),
        "no secret in errors"
    );
}

#[tokio::test]
async fn mocked_stage_update_turns_auto_deploy_back_on() {
    // moto has no UpdateStage: the call is checked against a scripted API Gateway.
    use authdomain_core::plan::{Action, Change, Desired, FieldChange, Ref};
    let update = mock!(aws_sdk_apigatewayv2::Client::update_stage)
        .match_requests(|r| {
            r.api_id() == Some("api-1")
                && r.stage_name() == Some("$default")
                && r.auto_deploy() == Some(true)
        })
        .then_output(|| {
            aws_sdk_apigatewayv2::operation::update_stage::UpdateStageOutput::builder().build()
        });
    let aws = client(&[&update]);
    let id = ResourceId::new(Kind::ApiStage, "$default");
    let d = Desired::new(id.clone())
        .prop("auto-deploy", true)
        .reference("api", Ref::One(ResourceId::new(Kind::Api, "main")), true);
    let mut o = Observed {
        id: id.clone(),
        physical_id: "$default".into(),
        props: BTreeMap::new(),
        refs: BTreeMap::new(),
    };
    o.props
        .insert("auto-deploy".into(), serde_json::json!(false));
    o.refs.insert("api".into(), vec!["api-1".into()]);
    let change = Change {
        resource: id,
        action: Action::Update,
        physical_id: Some("$default".into()),
        fields: vec![FieldChange {
            field: "auto-deploy".into(),
            desired: serde_json::json!(true),
            actual: serde_json::json!(false),
        }],
        reason: "auto-deploy differs".into(),
    };
    provisioner::aws::api::update(&aws, &d, &o, &change, &ec2::Physical::new())
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 1);
}
