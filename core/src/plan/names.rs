//! The AWS names and values the desired graph declares: our tag keys, the engine, the
//! managed policies, the API's routes, the environment variable holding the KEK. They
//! live in the plan because the graph states them; the AWS edge reads them from here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Kind, ResourceId, Service};

/// Tag keys every managed resource carries.
pub const TAG_DOMAIN: &str = "authdomain.io/domain";
pub const TAG_MANAGED_BY: &str = "authdomain.io/managed-by";
pub const TAG_RESOURCE: &str = "authdomain.io/resource";
pub const MANAGED_BY: &str = "authdomain";
/// On the domain's own HTTP API: the ids of the teams' APIs that carry one of the domain's
/// authorizers (space-separated), so that an API dropped from `spec.protectedApis` is
/// still found, detached and cleaned up.
pub const TAG_PROTECTS: &str = "authdomain.io/protects";
/// The identity source of every authorizer: the bearer token's header.
pub const AUTHORIZATION_HEADER: &str = "$request.header.Authorization";
/// The environment variable holding the Lambda authorizer's configuration (JSON).
pub const AUTHORIZER_CONFIG_VARIABLE: &str = "AUTHORIZER_CONFIG";

/// The name of the authorizer attached to a team's API (`spec.protectedApis[].name`):
/// `authdomain.<domain>.<name>`; the dots cannot occur in either name, so one domain's
/// prefix never matches another's.
pub fn authorizer_name(domain: &str, protected: &str) -> String {
    format!("authdomain.{domain}.{protected}")
}

/// The Aurora engine.
pub const ENGINE: &str = "aurora-postgresql";

/// PostgreSQL's port, the only path from the function to the database.
pub const POSTGRES_PORT: u16 = 5432;

/// The database role the function logs in as (IAM authentication), and its database.
pub const DATABASE_USER: &str = "authserver";
pub const DATABASE_NAME: &str = "authserver";

/// AWS managed policies of the function's role.
pub const BASIC_EXECUTION: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
pub const VPC_ACCESS: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

/// The role's one inline policy: database login as `authserver` through IAM, and
/// decryption with the domain's KMS key, each on exactly one resource.
pub const POLICY_NAME: &str = "authserver";

/// The function's environment variable that holds the key-encryption key.
pub const KEK_VARIABLE: &str = "AUTHSERVER_KEK";

/// The environment variable that points the auth server at its read model.
pub const READ_MODEL_VARIABLE: &str = "AUTHSERVER_READ_MODEL";

/// The key prefix of the read model in its bucket (the snapshot and used assertions).
pub const READ_MODEL_PREFIX: &str = "read-model";

/// How long a used client assertion's marker stays (longer than any assertion may live).
pub const ASSERTION_MARKER_DAYS: i64 = 1;

/// The start of the read model bucket's name; a random suffix follows (bucket names are
/// global), and the bucket is found again by this prefix and our tags.
pub fn read_model_bucket_prefix(domain: &str) -> String {
    format!("authdomain-{domain}-")
}

/// The S3 gateway endpoint's service name in a region.
pub fn s3_service_name(region: &str) -> String {
    format!("com.amazonaws.{region}.s3")
}

/// The route keys of the API, one per public endpoint of the auth server.
pub const ROUTES: [&str; 12] = [
    "POST /oauth2/token",
    "POST /connect/token",
    "POST /oauth2/introspect",
    "POST /oauth2/revoke",
    "GET /.well-known/openid-configuration",
    "GET /.well-known/oauth-authorization-server",
    "GET /.well-known/jwks.json",
    "GET /health",
    "GET /health/ready",
    "ANY /admin/v1/{proxy+}",
    "GET /portal",
    "ANY /portal/{proxy+}",
];

/// The trust policy: only the Lambda service may assume the role.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    })
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// CORS in canonical form (sorted lists; nothing set: null).
pub fn cors_value(
    origins: &[String],
    methods: &[String],
    headers: &[String],
    max_age: Option<i32>,
) -> Value {
    if origins.is_empty() && methods.is_empty() && headers.is_empty() && max_age.is_none() {
        return Value::Null;
    }
    json!({
        "allow-origins": sorted(origins),
        "allow-methods": sorted(methods),
        "allow-headers": sorted(headers),
        "max-age": max_age,
    })
}

/// Kinds whose `spec.tags` are compared and converged: those whose observer already reads
/// the tags in the one call it makes (so comparing them costs no call).
pub fn tags_converge(kind: Kind) -> bool {
    kind.service() == Service::Ec2
        || matches!(
            kind,
            Kind::DbCluster
                | Kind::DbInstance
                | Kind::Secret
                | Kind::EcrRepository
                | Kind::IamRole
                | Kind::Api
                | Kind::Function
                | Kind::Bucket
        )
}

/// The spec's tags of an EC2 resource: `spec.tags` and a readable `Name` the console
/// shows, unless `spec.tags` sets one. What the plan compares and what creation sets.
pub fn ec2_user_tags(
    domain: &str,
    id: &ResourceId,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = extra.clone();
    all.entry("Name".to_owned())
        .or_insert_with(|| format!("{domain}-{}-{}", id.kind.as_str(), id.name));
    all
}

/// The tags every resource we create carries, before service-specific ones: the domain,
/// the manager, our resource id, then the spec's extra tags.
pub fn tag_pairs(
    domain: &str,
    id: &ResourceId,
    extra: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out = vec![
        (TAG_DOMAIN.to_owned(), domain.to_owned()),
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_RESOURCE.to_owned(), id.to_string()),
    ];
    out.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The user's tags of a resource, as the plan's `tags` prop: every tag but ours
/// (`authdomain.io/…`) and AWS's (`aws:…`), which are not the spec's to manage.
pub fn user_tags<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let map: BTreeMap<String, String> = pairs
        .into_iter()
        .filter(|(k, _)| {
            !k.starts_with("authdomain.io/") && !k.to_ascii_lowercase().starts_with("aws:")
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    json!(map)
}

/// Tags to add or change, and keys to remove, to go from `have` to `want` (`tags` props).
pub fn tag_delta(
    want: Option<&Value>,
    have: Option<&Value>,
) -> (Vec<(String, String)>, Vec<String>) {
    let as_map = |v: Option<&Value>| -> BTreeMap<String, String> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (want, have) = (as_map(want), as_map(have));
    let set = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// The resource id recorded in our `authdomain.io/resource` tag; a resource tagged for the
/// domain without it (or with another kind) is reported under its physical id, so drift
/// and destroy still see it.
pub fn resource_id(resource_tag: Option<&str>, kind: Kind, physical: &str) -> ResourceId {
    resource_tag
        .and_then(|r| r.split_once('/'))
        .filter(|(k, _)| *k == kind.as_str())
        .map(|(_, n)| ResourceId::new(kind, n))
        .unwrap_or_else(|| ResourceId::new(kind, physical))
}

/// The KMS key's alias: our namespace, and the record that the key is the domain's.
pub fn kms_alias(domain: &str) -> String {
    format!("alias/authdomain/{domain}")
}

/// Where the admin client's credentials are kept (Secrets Manager).
pub fn admin_credentials_secret(domain: &str) -> String {
    format!("authdomain/{domain}/admin")
}

/// Where the credentials of the spec's client `client` are kept (Secrets Manager).
pub fn client_credentials_secret(domain: &str, client: &str) -> String {
    format!("authdomain/{domain}/clients/{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_tags_and_aws_tags_are_not_the_users() {
        let v = user_tags([
            ("team", "a"),
            ("authdomain.io/domain", "d"),
            ("aws:cloudformation:stack-name", "x"),
        ]);
        assert_eq!(v, json!({"team": "a"}));
        let (set, remove) = tag_delta(
            Some(&json!({"team": "b", "cost": "1"})),
            Some(&json!({"team": "a", "old": "x"})),
        );
        assert_eq!(
            set,
            [
                ("cost".to_owned(), "1".to_owned()),
                ("team".into(), "b".into())
            ]
        );
        assert_eq!(remove, ["old"]);
    }

    #[test]
    fn resource_ids_come_from_our_tag_or_the_physical_id() {
        assert_eq!(
            resource_id(Some("subnet/private-a"), Kind::Subnet, "subnet-1").name,
            "private-a"
        );
        assert_eq!(
            resource_id(Some("vpc/main"), Kind::Subnet, "subnet-1").name,
            "subnet-1"
        );
        assert_eq!(resource_id(None, Kind::Subnet, "subnet-1").name, "subnet-1");
    }
}
