//! What real AWS does and the emulator does not, scripted with aws-smithy-mocks (every
//! test here is a mock, and its name says so), with AWS's error codes and messages:
//! propagation of new roles and keys, Lambda's network interfaces on destroy, function
//! update states, availability zones by ID, NAT gateway states, Aurora ordering and the
//! Data API warming up, the KMS key's lifecycle across destroy and re-apply. Long waits
//! run on tokio's paused clock: half an hour of AWS time takes milliseconds.

use std::collections::BTreeMap;
use std::time::Duration;

use authdomain_core::plan::{
    Action, Change, Desired, FieldChange, Kind, Observed, Ref, ResourceId,
};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_smithy_mocks::{Rule, mock};
use provisioner::aws::{ErrorClass, ec2, function, iam, kms, rds, rdsdata};
use serde_json::json;
use tokio::time::Instant;

use crate::mocked;

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn observed(kind: Kind, name: &str, physical: &str) -> Observed {
    Observed {
        id: ResourceId::new(kind, name),
        physical_id: physical.into(),
        props: BTreeMap::new(),
        refs: BTreeMap::new(),
    }
}

// ---------------------------------------------------------------------------------------
// 1. IAM and KMS propagation

fn function_desired() -> (Desired, ec2::Physical) {
    let sg = ResourceId::new(Kind::SecurityGroup, "function");
    let subnet = ResourceId::new(Kind::Subnet, "private-a");
    let d = Desired::new(ResourceId::new(Kind::Function, "main"))
        .prop("image", "1.dkr.ecr.eu-west-1.amazonaws.com/demo@sha256:abc")
        .prop("architecture", "arm64")
        .prop("memory", 512)
        .prop("timeout", 29)
        .prop(
            "role",
            "arn:aws:iam::123456789012:role/demo-authserver-function",
        )
        .prop(
            "kms-key",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .prop("environment", json!({"AUTHSERVER_ISSUER": "https://x"}))
        .reference("subnets", Ref::Many(vec![subnet.clone()]), false)
        .reference("security-groups", Ref::Many(vec![sg.clone()]), false);
    let physical: ec2::Physical = [(sg, "sg-1".to_owned()), (subnet, "subnet-1".to_owned())]
        .into_iter()
        .collect();
    (d, physical)
}

fn create_function_error(
    message: &'static str,
) -> impl Fn() -> aws_sdk_lambda::operation::create_function::CreateFunctionError + Send + Sync + 'static
{
    move || {
        aws_sdk_lambda::operation::create_function::CreateFunctionError::generic(meta(
            "InvalidParameterValueException",
            message,
        ))
    }
}

fn function_state(
    state: aws_sdk_lambda::types::State,
    update: aws_sdk_lambda::types::LastUpdateStatus,
) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
    aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput::builder()
        .state(state)
        .last_update_status(update)
        .build()
}

const CNI: &str =
    "The provided execution role does not have permissions to call CreateNetworkInterface on EC2";
const CREATE_GRANT: &str = "Lambda was unable to configure access to your environment variables because the KMS key is \
     invalid for CreateGrant. Please check your KMS key settings. KMS Exception: InvalidArnException KMS Message: ARN \
     does not refer to a valid principal: arn:aws:iam::123456789012:role/demo-authserver-function";

#[tokio::test(start_paused = true)]
async fn mocked_create_function_waits_out_create_network_interface_and_create_grant_propagation() {
    let create = mock!(aws_sdk_lambda::Client::create_function)
        .sequence()
        .error(create_function_error(CNI))
        .times(2)
        .error(create_function_error(CREATE_GRANT))
        .output(|| {
            aws_sdk_lambda::operation::create_function::CreateFunctionOutput::builder().build()
        })
        .build();
    // A function in a VPC is Pending while Lambda creates its network interfaces.
    let state = {
        use aws_sdk_lambda::types::{LastUpdateStatus, State};
        mock!(aws_sdk_lambda::Client::get_function_configuration)
            .sequence()
            .output(|| function_state(State::Pending, LastUpdateStatus::InProgress))
            .times(2)
            .output(|| function_state(State::Active, LastUpdateStatus::Successful))
            .build()
    };
    let aws = mocked::client(&[&create, &state]);
    let (d, physical) = function_desired();
    let started = Instant::now();
    function::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .expect("created once IAM and KMS have caught up");
    assert_eq!(
        create.num_calls(),
        4,
        "three propagation answers, then success"
    );
    assert_eq!(state.num_calls(), 3, "waited for State Active");
    let lines = aws.notices.lines();
    assert!(
        lines.iter().filter(|l| l.contains(CNI)).count() == 2
            && lines
                .iter()
                .any(|l| l.contains("ARN does not refer to a valid principal")),
        "the reason is in the progress lines: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("State Pending, LastUpdateStatus InProgress")),
        "{lines:#?}"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn mocked_propagation_is_retried_by_elapsed_time_then_reported_with_its_reason() {
    let create =
        mock!(aws_sdk_lambda::Client::create_function).then_error(create_function_error(CNI));
    let aws = mocked::client(&[&create]);
    let (d, physical) = function_desired();
    let started = Instant::now();
    let err = function::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(150),
        "bounded by time (about two minutes), not by a count: {waited:?}"
    );
    assert!(create.num_calls() > 5, "{} calls", create.num_calls());
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(err.code, "InvalidParameterValueException");
    assert!(
        err.message.starts_with(CNI) && err.message.contains("of waiting for AWS to catch up"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn mocked_attach_role_policy_right_after_create_role_waits_for_iam() {
    let create = mock!(aws_sdk_iam::Client::create_role)
        .then_output(|| aws_sdk_iam::operation::create_role::CreateRoleOutput::builder().build());
    let attach = mock!(aws_sdk_iam::Client::attach_role_policy)
        .sequence()
        .error(|| {
            aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyError::generic(meta(
                "NoSuchEntity",
                "The role with name demo-authserver-function cannot be found.",
            ))
        })
        .times(2)
        .output(|| {
            aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyOutput::builder().build()
        })
        .build();
    let aws = mocked::client(&[&create, &attach]);
    let d = Desired::new(ResourceId::new(Kind::IamRole, "function")).prop(
        "managed-policies",
        json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]),
    );
    iam::create(&aws, "demo", &BTreeMap::new(), &d)
        .await
        .expect("attached once the role is visible");
    assert_eq!(attach.num_calls(), 3);
    assert!(
        aws.notices.lines().iter().any(|l| l.contains(
            "NoSuchEntity: The role with name demo-authserver-function cannot be found."
        )),
        "{:#?}",
        aws.notices.lines()
    );
}

// ---------------------------------------------------------------------------------------
// 2. Lambda's network interfaces on destroy

fn two_lambda_enis()
-> aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput {
    use aws_sdk_ec2::types::{NetworkInterface, NetworkInterfaceType};
    let eni = |id: &str| {
        NetworkInterface::builder()
            .network_interface_id(id)
            .interface_type(NetworkInterfaceType::Lambda)
            .description("AWS Lambda VPC ENI-demo-authserver-0f1e2d3c")
            .requester_managed(true)
            .build()
    };
    aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput::builder()
        .network_interfaces(eni("eni-0a1b2c3d4e5f60718"))
        .network_interfaces(eni("eni-0f9e8d7c6b5a40312"))
        .build()
}

/// DeleteSecurityGroup answers DependencyViolation, and DescribeNetworkInterfaces shows
/// Lambda's two interfaces, until `release` of simulated time has passed.
fn held_for(release: Duration, started: Instant) -> (Rule, Rule) {
    let delete = mock!(aws_sdk_ec2::Client::delete_security_group)
        .match_requests(|r| r.group_id() == Some("sg-0123456789abcdef0"))
        .then_compute_response(move |_| {
            if started.elapsed() < release {
                aws_smithy_mocks::MockResponse::Error(
                    aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupError::generic(meta(
                        "DependencyViolation",
                        "resource sg-0123456789abcdef0 has a dependent object",
                    )),
                )
            } else {
                aws_smithy_mocks::MockResponse::Output(
                    aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput::builder()
                        .build(),
                )
            }
        });
    let enis = mock!(aws_sdk_ec2::Client::describe_network_interfaces)
        .match_requests(|r| {
            r.filters().iter().any(|f| {
                f.name() == Some("group-id") && f.values() == ["sg-0123456789abcdef0".to_owned()]
            })
        })
        .then_output(move || {
            if started.elapsed() < release {
                two_lambda_enis()
            } else {
                aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput::builder()
                    .build()
            }
        });
    (delete, enis)
}

#[tokio::test(start_paused = true)]
async fn mocked_destroy_waits_half_an_hour_for_lambda_to_release_its_network_interfaces() {
    let started = Instant::now();
    let (delete, enis) = held_for(Duration::from_secs(30 * 60), started);
    let aws = mocked::client(&[&delete, &enis]);
    let sg = observed(Kind::SecurityGroup, "function", "sg-0123456789abcdef0");
    ec2::delete(&aws, &sg)
        .await
        .expect("deleted once Lambda let go");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(30 * 60) && took < Duration::from_secs(32 * 60),
        "{took:?}"
    );
    let lines = aws.notices.lines();
    let waiting: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.starts_with(
                "security-group/function: waiting for Lambda to release 2 network interfaces \
                 (eni-0a1b2c3d4e5f60718, eni-0f9e8d7c6b5a40312)…",
            )
        })
        .collect();
    assert!(waiting.len() > 100, "a line per poll: {}", waiting.len());
    assert!(
        waiting.iter().any(|l| l.ends_with("[4m10s elapsed]")),
        "elapsed time shown: {:#?}",
        &waiting[..5]
    );
    assert!(
        waiting.iter().any(|l| l.contains("[29m")),
        "{:?}",
        waiting.last()
    );
}

#[tokio::test(start_paused = true)]
async fn mocked_network_interface_wait_stops_at_its_bound_and_says_to_run_again() {
    let started = Instant::now();
    let (delete, enis) = held_for(Duration::from_secs(3 * 3600), started);
    let mut aws = mocked::client(&[&delete, &enis]);
    aws.patience.network_interfaces = Duration::from_secs(10 * 60);
    let sg = observed(Kind::SecurityGroup, "function", "sg-0123456789abcdef0");
    let err = ec2::delete(&aws, &sg).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::StillWaiting);
    let text = err.to_string();
    assert!(
        text.starts_with(
            "wait for security-group/function: StillWaiting: waiting for Lambda to release 2 network interfaces"
        ) && text.contains("after 10m00s")
            && text.contains("run destroy again to continue"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(12 * 60));
}

#[tokio::test(start_paused = true)]
async fn mocked_dependency_violation_without_interfaces_is_not_waited_for() {
    let delete = mock!(aws_sdk_ec2::Client::delete_subnet).then_error(|| {
        aws_sdk_ec2::operation::delete_subnet::DeleteSubnetError::generic(meta(
            "DependencyViolation",
            "The subnet 'subnet-0123' has dependencies and cannot be deleted.",
        ))
    });
    let enis = mock!(aws_sdk_ec2::Client::describe_network_interfaces).then_output(|| {
        aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput::builder().build()
    });
    let aws = mocked::client(&[&delete, &enis]);
    let err = ec2::delete(&aws, &observed(Kind::Subnet, "private-a", "subnet-0123"))
        .await
        .unwrap_err();
    assert_eq!(err.code, "DependencyViolation");
    assert_eq!(
        enis.num_calls(),
        1,
        "looked once, found nothing to wait for"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Lambda update states

#[tokio::test(start_paused = true)]
async fn mocked_code_update_waits_for_successful_and_reports_failed_with_aws_reason() {
    use aws_sdk_lambda::types::{LastUpdateStatus, LastUpdateStatusReasonCode, State};
    let update = mock!(aws_sdk_lambda::Client::update_function_code).then_output(|| {
        aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeOutput::builder().build()
    });
    let state = mock!(aws_sdk_lambda::Client::get_function_configuration)
        .sequence()
        .output(|| function_state(State::Active, LastUpdateStatus::InProgress))
        .times(3)
        .output(|| {
            aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput::builder()
                .state(State::Active)
                .last_update_status(LastUpdateStatus::Failed)
                .last_update_status_reason_code(LastUpdateStatusReasonCode::ImageAccessDenied)
                .last_update_status_reason(
                    "Lambda does not have permission to access the ECR image. Check the ECR permissions.",
                )
                .build()
        })
        .build();
    let aws = mocked::client(&[&update, &state]);
    let (d, physical) = function_desired();
    let o = observed(Kind::Function, "main", "demo-authserver");
    let change = Change {
        resource: d.id.clone(),
        action: Action::Update,
        physical_id: Some("demo-authserver".into()),
        fields: vec![FieldChange {
            field: "image".into(),
            desired: json!("new"),
            actual: json!("old"),
        }],
        reason: "image differs".into(),
    };
    let err = function::update(&aws, "demo", &d, &o, &change, &physical)
        .await
        .unwrap_err();
    assert_eq!(state.num_calls(), 4, "polled while InProgress");
    assert_eq!(err.class, ErrorClass::Terminal);
    assert_eq!(
        err.to_string(),
        "wait for function/main: ImageAccessDenied: Lambda does not have permission to access the ECR image. \
         Check the ECR permissions."
    );
}

/// AWS's documented answer to invoking an Inactive function
/// (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html): the invocation
/// fails with ResourceNotReadyException, the function is Pending while Lambda re-creates
/// its network interfaces, then Active. A management event waits for that and is answered.
#[tokio::test(start_paused = true)]
async fn mocked_a_management_event_to_an_inactive_function_waits_until_it_is_active() {
    use aws_sdk_lambda::types::{LastUpdateStatus, State};
    let not_ready = || {
        aws_sdk_lambda::operation::invoke::InvokeError::generic(
            aws_sdk_lambda::error::ErrorMetadata::builder()
                .code("ResourceNotReadyException")
                .message("The function is currently in the following state: Inactive")
                .build(),
        )
    };
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .error(not_ready)
        .times(8)
        .output(|| {
            aws_sdk_lambda::operation::invoke::InvokeOutput::builder()
                .status_code(200)
                .payload(aws_smithy_types::Blob::new(
                    br#"{"ok": true, "result": ["done"]}"#.to_vec(),
                ))
                .build()
        })
        .build();
    let state = mock!(aws_sdk_lambda::Client::get_function_configuration)
        .sequence()
        .output(|| function_state(State::Pending, LastUpdateStatus::Successful))
        .times(3)
        .output(|| function_state(State::Active, LastUpdateStatus::Successful))
        .build();
    let aws = mocked::client(&[&invoke, &state]);
    let answer =
        function::invoke_management(&aws, "demo", &authdomain_api::ManagementEvent::ListKeys)
            .await
            .unwrap();
    assert_eq!(answer, json!(["done"]));
    assert_eq!(state.num_calls(), 4, "polled while Pending");
    assert!(
        aws.notices
            .lines()
            .iter()
            .any(|l| l.contains("Inactive") && l.contains("waiting for Lambda")),
        "{:?}",
        aws.notices.lines()
    );
}

// ---------------------------------------------------------------------------------------
// 4. Availability zones

fn zones_rule() -> Rule {
    use aws_sdk_ec2::types::{
        AvailabilityZone, AvailabilityZoneOptInStatus, AvailabilityZoneState,
    };
    mock!(aws_sdk_ec2::Client::describe_availability_zones)
        .match_requests(|r| r.all_availability_zones() == Some(true))
        .then_output(|| {
            let zone = |name: &str, id: &str| {
                AvailabilityZone::builder()
                    .zone_name(name)
                    .zone_id(id)
                    .state(AvailabilityZoneState::Available)
                    .opt_in_status(AvailabilityZoneOptInStatus::OptInNotRequired)
                    .zone_type("availability-zone")
                    .build()
            };
            aws_sdk_ec2::operation::describe_availability_zones::DescribeAvailabilityZonesOutput::builder()
                // This account's names do not follow the IDs.
                .availability_zones(zone("us-east-1a", "use1-az3"))
                .availability_zones(zone("us-east-1b", "use1-az6"))
                .availability_zones(zone("us-east-1c", "use1-az1"))
                .availability_zones(
                    AvailabilityZone::builder()
                        .zone_name("us-east-1-bos-1a")
                        .zone_id("use1-bos1-az1")
                        .state(AvailabilityZoneState::Available)
                        .opt_in_status(AvailabilityZoneOptInStatus::NotOptedIn)
                        .zone_type("local-zone")
                        .build(),
                )
                .build()
        })
}

fn manifest(zones: u8) -> authdomain_core::spec::AuthDomainManifest {
    authdomain_core::spec::load_str(
        &format!(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: us-east-1\n  \
             network:\n    availabilityZones: {zones}\n"
        ),
        "demo.yaml",
    )
    .unwrap()
}

#[tokio::test]
async fn mocked_zones_are_chosen_by_id_skipping_use1_az3_and_created_by_id() {
    let zones = zones_rule();
    let create = mock!(aws_sdk_ec2::Client::create_subnet)
        .match_requests(|r| {
            r.availability_zone_id() == Some("use1-az6")
                && r.availability_zone().is_none()
                && r.tag_specifications().iter().any(|s| {
                    s.tags()
                        .iter()
                        .any(|t| t.key() == Some(ec2::TAG_ZONE_ID) && t.value() == Some("use1-az6"))
                })
        })
        .then_output(|| {
            aws_sdk_ec2::operation::create_subnet::CreateSubnetOutput::builder()
                .subnet(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-b")
                        .build(),
                )
                .build()
        });
    let aws = mocked::client(&[&zones, &create]);
    let m = manifest(2);
    let chosen = ec2::zone_assignment(&aws, &m, &[]).await.unwrap();
    assert_eq!(
        chosen.values().collect::<Vec<_>>(),
        ["use1-az1", "use1-az6"],
        "by ID, without use1-az3 (no Lambda in a VPC there) and the local zone"
    );
    // The plan's subnets get those zones as facts; slot b is use1-az6.
    let facts = provisioner::reconcile::facts(&aws, &m, &[]);
    assert_eq!(facts.get("zone.a"), Some("use1-az1"));
    assert_eq!(facts.get("zone.b"), Some("use1-az6"));
    let subnet = authdomain_core::plan::desired(&m)
        .into_iter()
        .find(|d| d.id == ResourceId::new(Kind::Subnet, "private-b"))
        .unwrap()
        .resolved(&facts)
        .unwrap();
    let physical: ec2::Physical = [(ResourceId::new(Kind::Vpc, "main"), "vpc-1".to_owned())]
        .into_iter()
        .collect();
    let id = ec2::create(&aws, "demo", &BTreeMap::new(), &subnet, &physical)
        .await
        .expect("created in use1-az6, by ID, tagged with it");
    assert_eq!(id, "subnet-b");
    assert_eq!(zones.num_calls(), 1, "zones are read once");
}

#[tokio::test]
async fn mocked_more_zones_than_the_region_offers_is_an_error_naming_the_usable_ones() {
    let zones = zones_rule();
    let aws = mocked::client(&[&zones]);
    let err = ec2::zone_assignment(&aws, &manifest(3), &[])
        .await
        .unwrap_err();
    assert_eq!(err.code, "InvalidSpec");
    assert_eq!(
        err.message,
        "spec.network.availabilityZones: 3 zones asked for, but the region offers 2 usable for this domain: \
         us-east-1c (use1-az1), us-east-1b (use1-az6) (skipped: us-east-1a (use1-az3): Lambda does not run VPC \
         functions there; us-east-1-bos-1a (use1-bos1-az1): not an availability zone (a Local or Wavelength zone))"
    );
}

// ---------------------------------------------------------------------------------------
// 5. The KMS key across destroy and re-apply

#[tokio::test]
async fn mocked_reapply_within_the_waiting_period_cancels_the_deletion_and_enables_the_same_key() {
    use aws_sdk_kms::types::{KeyMetadata, KeyState};
    const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let describe = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/authdomain/demo"))
        .then_output(|| {
            aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
                .key_metadata(
                    KeyMetadata::builder()
                        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                        .arn(ARN)
                        .key_state(KeyState::PendingDeletion)
                        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
                        .key_spec(aws_sdk_kms::types::KeySpec::SymmetricDefault)
                        .enabled(false)
                        .build()
                        .unwrap_or_else(|_| unreachable!()),
                )
                .build()
        });
    let cancel = mock!(aws_sdk_kms::Client::cancel_key_deletion)
        .match_requests(|r| r.key_id() == Some("1234abcd-12ab-34cd-56ef-1234567890ab"))
        .then_output(|| {
            aws_sdk_kms::operation::cancel_key_deletion::CancelKeyDeletionOutput::builder().build()
        });
    let enable = mock!(aws_sdk_kms::Client::enable_key)
        .match_requests(|r| r.key_id() == Some("1234abcd-12ab-34cd-56ef-1234567890ab"))
        .then_output(|| aws_sdk_kms::operation::enable_key::EnableKeyOutput::builder().build());
    let aws = mocked::client(&[&describe, &cancel, &enable]);
    let seen = kms::observe(&aws, "demo").await.unwrap();
    assert_eq!(
        seen.len(),
        1,
        "a key pending deletion is still the domain's"
    );
    assert_eq!(seen[0].physical_id, ARN);
    let m = manifest(2);
    let plan = authdomain_core::plan::diff_with(
        &authdomain_core::plan::desired(&m)
            .into_iter()
            .filter(|d| d.id.kind == Kind::KmsKey)
            .collect::<Vec<_>>(),
        &seen,
        &Default::default(),
    );
    assert_eq!(plan.changes.len(), 1);
    let change = &plan.changes[0];
    assert_eq!(change.action, Action::Update, "the same key, not a new one");
    assert!(change.touches("state"), "{change:?}");
    let d = authdomain_core::plan::desired(&m)
        .into_iter()
        .find(|d| d.id.kind == Kind::KmsKey)
        .unwrap();
    kms::update(&aws, "demo", &d, &seen[0], change)
        .await
        .unwrap();
    assert_eq!(cancel.num_calls(), 1);
    assert_eq!(
        enable.num_calls(),
        1,
        "CancelKeyDeletion leaves the key Disabled"
    );
}

#[tokio::test]
async fn mocked_a_key_whose_alias_is_gone_is_found_through_the_kek_secret_and_named_again() {
    use aws_sdk_kms::types::{KeyMetadata, KeyState};
    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let by_alias = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/authdomain/demo"))
        .then_error(|| {
            aws_sdk_kms::operation::describe_key::DescribeKeyError::generic(meta(
                "NotFoundException",
                "Alias arn:aws:kms:eu-west-1:123456789012:alias/authdomain/demo is not found.",
            ))
        });
    let by_id = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(|| {
            aws_sdk_kms::operation::describe_key::DescribeKeyOutput::builder()
                .key_metadata(
                    KeyMetadata::builder()
                        .key_id(KEY)
                        .arn(format!("arn:aws:kms:eu-west-1:123456789012:key/{KEY}"))
                        .key_state(KeyState::PendingDeletion)
                        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
                        .key_spec(aws_sdk_kms::types::KeySpec::SymmetricDefault)
                        .build()
                        .unwrap_or_else(|_| unreachable!()),
                )
                .build()
        });
    let tags = mock!(aws_sdk_kms::Client::list_resource_tags).then_output(|| {
        aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput::builder()
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("authdomain.io/domain")
                    .tag_value("demo")
                    .build()
                    .unwrap_or_else(|_| unreachable!()),
            )
            .build()
    });
    // Destroyed: the secret is scheduled for deletion, and names its key.
    let secret = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(|| {
        aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
            .name("authdomain/demo/kek")
            .kms_key_id(KEY)
            .deleted_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("authdomain.io/domain")
                    .value("demo")
                    .build(),
            )
            .build()
    });
    let alias = mock!(aws_sdk_kms::Client::create_alias)
        .match_requests(|r| {
            r.alias_name() == Some("alias/authdomain/demo") && r.target_key_id() == Some(KEY)
        })
        .then_output(|| aws_sdk_kms::operation::create_alias::CreateAliasOutput::builder().build());
    let cancel = mock!(aws_sdk_kms::Client::cancel_key_deletion).then_output(|| {
        aws_sdk_kms::operation::cancel_key_deletion::CancelKeyDeletionOutput::builder().build()
    });
    let enable = mock!(aws_sdk_kms::Client::enable_key)
        .then_output(|| aws_sdk_kms::operation::enable_key::EnableKeyOutput::builder().build());
    let aws = mocked::client(&[&by_alias, &by_id, &tags, &secret, &alias, &cancel, &enable]);
    let seen = kms::observe(&aws, "demo").await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].props["alias"], json!(null));
    let m = manifest(2);
    let d = authdomain_core::plan::desired(&m)
        .into_iter()
        .find(|d| d.id.kind == Kind::KmsKey)
        .unwrap();
    let plan =
        authdomain_core::plan::diff_with(std::slice::from_ref(&d), &seen, &Default::default());
    let change = &plan.changes[0];
    assert_eq!(change.action, Action::Update, "the same key, not a new one");
    assert!(
        change.touches("alias") && change.touches("state"),
        "{change:?}"
    );
    kms::update(&aws, "demo", &d, &seen[0], change)
        .await
        .unwrap();
    assert_eq!(
        (cancel.num_calls(), enable.num_calls(), alias.num_calls()),
        (1, 1, 1)
    );
}

// ---------------------------------------------------------------------------------------
// 6. NAT gateways

fn nat_state(
    state: aws_sdk_ec2::types::NatGatewayState,
) -> aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput {
    aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput::builder()
        .nat_gateways(
            aws_sdk_ec2::types::NatGateway::builder()
                .nat_gateway_id("nat-0123")
                .state(state)
                .build(),
        )
        .build()
}

#[tokio::test(start_paused = true)]
async fn mocked_nat_gateway_is_available_before_create_returns_and_deleted_before_delete_does() {
    use aws_sdk_ec2::types::NatGatewayState;
    let create = mock!(aws_sdk_ec2::Client::create_nat_gateway).then_output(|| {
        aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput::builder()
            .nat_gateway(
                aws_sdk_ec2::types::NatGateway::builder()
                    .nat_gateway_id("nat-0123")
                    .state(NatGatewayState::Pending)
                    .build(),
            )
            .build()
    });
    let states = mock!(aws_sdk_ec2::Client::describe_nat_gateways)
        .sequence()
        .output(|| nat_state(NatGatewayState::Pending))
        .times(3)
        .output(|| nat_state(NatGatewayState::Available))
        .output(|| nat_state(NatGatewayState::Deleting))
        .times(2)
        .output(|| nat_state(NatGatewayState::Deleted))
        .build();
    let delete = mock!(aws_sdk_ec2::Client::delete_nat_gateway).then_output(|| {
        aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayOutput::builder().build()
    });
    let aws = mocked::client(&[&create, &states, &delete]);
    let subnet = ResourceId::new(Kind::Subnet, "public-a");
    let eip = ResourceId::new(Kind::ElasticIp, "nat-a");
    let d = Desired::new(ResourceId::new(Kind::NatGateway, "a"))
        .reference("subnet", Ref::One(subnet.clone()), true)
        .reference("allocation", Ref::One(eip.clone()), true);
    let physical: ec2::Physical = [
        (subnet, "subnet-1".to_owned()),
        (eip, "eipalloc-1".to_owned()),
    ]
    .into_iter()
    .collect();
    let id = ec2::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .unwrap();
    assert_eq!(id, "nat-0123");
    assert_eq!(states.num_calls(), 4, "pending three times, then available");
    ec2::delete(&aws, &observed(Kind::NatGateway, "a", "nat-0123"))
        .await
        .unwrap();
    assert_eq!(states.num_calls(), 7, "deleting twice, then deleted");
    assert!(
        aws.notices
            .lines()
            .iter()
            .any(|l| l
                .contains("waiting for the NAT gateway nat-0123 to be deleted (it is deleting)")),
        "{:#?}",
        aws.notices.lines()
    );
}

// ---------------------------------------------------------------------------------------
// 7. Aurora ordering and the Data API

fn cluster_status(
    status: &str,
) -> aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput {
    aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput::builder()
        .db_clusters(
            aws_sdk_rds::types::DbCluster::builder()
                .db_cluster_identifier("demo-authserver")
                .status(status)
                .build(),
        )
        .build()
}

fn instance_status(
    status: &str,
) -> aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput {
    aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput::builder()
        .db_instances(
            aws_sdk_rds::types::DbInstance::builder()
                .db_instance_identifier("demo-writer")
                .db_instance_status(status)
                .build(),
        )
        .build()
}

#[tokio::test(start_paused = true)]
async fn mocked_writer_is_created_once_the_cluster_is_available_and_waited_for_with_its_phases() {
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .sequence()
        .output(|| cluster_status("creating"))
        .times(30)
        .output(|| cluster_status("backing-up"))
        .output(|| cluster_status("available"))
        .build();
    let create = mock!(aws_sdk_rds::Client::create_db_instance)
        .sequence()
        .error(|| {
            aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError::generic(meta(
                "InvalidDBClusterStateFault",
                "Cluster demo-authserver is not in the available state.",
            ))
        })
        .output(|| {
            aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput::builder().build()
        })
        .build();
    let instances = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .output(|| instance_status("creating"))
        .times(40)
        .output(|| instance_status("configuring-enhanced-monitoring"))
        .output(|| instance_status("available"))
        .build();
    let aws = mocked::client(&[&clusters, &create, &instances]);
    let cluster = ResourceId::new(Kind::DbCluster, "main");
    let d = Desired::new(ResourceId::new(Kind::DbInstance, "writer"))
        .prop("class", "db.serverless")
        .reference("cluster", Ref::One(cluster.clone()), true);
    let physical: ec2::Physical = [(cluster, "demo-authserver".to_owned())]
        .into_iter()
        .collect();
    let started = Instant::now();
    let id = rds::create(&aws, "demo", &BTreeMap::new(), &d, &physical)
        .await
        .unwrap();
    assert_eq!(id, "demo-writer");
    assert_eq!(clusters.num_calls(), 32);
    assert_eq!(
        create.num_calls(),
        2,
        "InvalidDBClusterStateFault is retried"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(12 * 60),
        "{:?}",
        started.elapsed()
    );
    let lines = aws.notices.lines();
    for phase in [
        "db-cluster/main: Aurora is creating… [4m10s elapsed]",
        "db-cluster/main: Aurora is backing-up…",
        "db-instance/writer: Aurora is creating…",
        "db-instance/writer: Aurora is configuring-enhanced-monitoring…",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(phase)),
            "no `{phase}` in {lines:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn mocked_data_api_bad_request_while_the_http_endpoint_is_enabled_is_retried() {
    const CLUSTER: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:demo-authserver";
    let execute = mock!(aws_sdk_rdsdata::Client::execute_statement)
        .sequence()
        .error(|| {
            aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementError::generic(meta(
                "BadRequestException",
                "HttpEndpoint is not enabled for cluster arn:aws:rds:eu-west-1:123456789012:cluster:demo-authserver. \
                 Please refer to https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.html#data-api.troubleshooting",
            ))
        })
        .times(3)
        .output(|| aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput::builder().build())
        .times(7)
        .build();
    let aws = mocked::client(&[&execute]);
    let done = rdsdata::setup(
        &aws,
        CLUSTER,
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster",
    )
    .await
    .expect("runs once the Data API answers");
    assert!(done.created_role && done.created_database);
    assert_eq!(
        execute.num_calls(),
        3 + 7,
        "three refusals, then the seven statements (two lookups, create role, grant to the master, create database, revoke from the master, grant rds_iam)"
    );
}
