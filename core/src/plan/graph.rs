//! The desired resource graph of a spec (pure): the network (VPC, subnets, internet
//! gateway, NAT, route tables, security groups), the database, and the application (KMS
//! key, KEK secret, image repository, role and policy, HTTP API, function, permission).

use std::net::Ipv4Addr;

use serde_json::json;

use super::names::{
    ASSERTION_MARKER_DAYS, AUTHORIZATION_HEADER, AUTHORIZER_CONFIG_VARIABLE, BASIC_EXECUTION,
    DATABASE_NAME, DATABASE_USER, ENGINE, KEK_VARIABLE, POLICY_NAME, POSTGRES_PORT,
    READ_MODEL_PREFIX, READ_MODEL_VARIABLE, ROUTES, VPC_ACCESS, cors_value, ec2_user_tags,
    tags_converge, trust_policy,
};
use super::{Desired, Facts, Kind, Ref, ResourceId, Service};
use crate::spec::{ApiType, AuthDomainManifest, NatGateway, ProtectionMode};

/// Subnet tiers: public (NAT gateways), private (the function), isolated (the database).
pub const TIERS: [&str; 3] = ["public", "private", "isolated"];

/// The subnet slots (`a`, `b`, …): one per availability zone. Which zone each slot is in
/// is the fact `zone.<slot>`, a zone ID chosen from what the account offers (see
/// [`super::zones`]).
fn zone_slots(count: u8) -> Vec<String> {
    super::zones::slots(count)
        .into_iter()
        .map(String::from)
        .collect()
}

/// The CIDR of subnet `slot` when the VPC's range is split into 32 equal subnets.
pub fn subnet_cidr(vpc_cidr: &str, slot: u32) -> Option<String> {
    let (ip, prefix) = vpc_cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let sub = prefix + 5;
    if sub > 28 || slot >= 32 {
        return None;
    }
    let base = u32::from(ip) + (slot << (32 - sub));
    Some(format!("{}/{sub}", Ipv4Addr::from(base)))
}

fn id(kind: Kind, name: impl Into<String>) -> ResourceId {
    ResourceId::new(kind, name)
}

/// Build the desired network for a validated manifest.
pub fn network(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let zones = zone_slots(s.network.availability_zones);
    let letter = |z: &str| z.to_owned();
    let vpc = id(Kind::Vpc, "main");
    let mut out = vec![
        // DNS support stays at AWS's default (on); reading it would cost two calls per plan.
        Desired::new(vpc.clone()).immutable_prop("cidr", s.network.cidr.as_str()),
    ];

    let mut subnets_of = |tier_index: usize| -> Vec<ResourceId> {
        let tier = TIERS[tier_index];
        zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let sid = id(Kind::Subnet, format!("{tier}-{}", letter(z)));
                let cidr =
                    subnet_cidr(&s.network.cidr, (tier_index * 8 + i) as u32).unwrap_or_default();
                out.push(
                    Desired::new(sid.clone())
                        .immutable_prop("cidr", cidr)
                        .immutable_prop("zone-id", format!("${{zone.{z}}}"))
                        .prop("tier", tier)
                        .reference("vpc", Ref::One(vpc.clone()), true),
                );
                sid
            })
            .collect()
    };
    let public = subnets_of(0);
    let private = subnets_of(1);
    let isolated = subnets_of(2);

    let igw = id(Kind::InternetGateway, "main");
    out.push(Desired::new(igw.clone()).reference("vpc", Ref::One(vpc.clone()), false));

    // NAT gateways: none (default), one in the first zone, or one per zone.
    let nat_zones: Vec<usize> = match s.network.nat_gateway {
        NatGateway::None => vec![],
        NatGateway::Single => vec![0],
        NatGateway::PerAz => (0..zones.len()).collect(),
    };
    let mut nats = Vec::new();
    for &i in &nat_zones {
        let l = letter(&zones[i]);
        let eip = id(Kind::ElasticIp, format!("nat-{l}"));
        let nat = id(Kind::NatGateway, l.clone());
        out.push(Desired::new(eip.clone()).immutable_prop("domain", "vpc"));
        out.push(
            Desired::new(nat.clone())
                .reference("subnet", Ref::One(public[i].clone()), true)
                .reference("allocation", Ref::One(eip), true),
        );
        nats.push(nat);
    }

    out.push(
        Desired::new(id(Kind::RouteTable, "public"))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("default-route", Ref::One(igw), false)
            .reference("subnets", Ref::Many(public.clone()), false),
    );
    for (i, z) in zones.iter().enumerate() {
        let mut rt = Desired::new(id(Kind::RouteTable, format!("private-{}", letter(z))))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("subnets", Ref::Many(vec![private[i].clone()]), false);
        let nat = match s.network.nat_gateway {
            NatGateway::None => None,
            NatGateway::Single => nats.first(),
            NatGateway::PerAz => nats.get(i),
        };
        if let Some(nat) = nat {
            rt = rt.reference("default-route", Ref::One(nat.clone()), false);
        }
        out.push(rt);
    }
    out.push(
        Desired::new(id(Kind::RouteTable, "isolated"))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("subnets", Ref::Many(isolated), false),
    );
    // The read model in S3, reached from the function's subnets through a gateway
    // endpoint: routes to S3's prefix list in their route tables, no hourly charge.
    let private_tables: Vec<ResourceId> = zones
        .iter()
        .map(|z| id(Kind::RouteTable, format!("private-{}", letter(z))))
        .collect();
    out.push(
        Desired::new(id(Kind::VpcEndpoint, "s3"))
            .immutable_prop("service", "s3")
            .immutable_prop("type", "Gateway")
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("route-tables", Ref::Many(private_tables), false),
    );

    // The function may reach PostgreSQL inside the VPC and HTTPS to S3 (the read model)
    // and nothing else; the database accepts PostgreSQL from the function's group only.
    let function_sg = id(Kind::SecurityGroup, "function");
    out.push(
        Desired::new(function_sg.clone())
            .immutable_prop(
                "description",
                format!("AuthDomain {}: auth server function", m.metadata.name),
            )
            .prop("ingress", json!([]))
            .prop("egress", json!(function_egress(m)))
            .reference("vpc", Ref::One(vpc.clone()), true),
    );
    out.push(
        Desired::new(id(Kind::SecurityGroup, "database"))
            .immutable_prop(
                "description",
                format!("AuthDomain {}: Aurora PostgreSQL", m.metadata.name),
            )
            .prop("ingress", json!([]))
            .prop("egress", json!([]))
            .reference("postgres-from", Ref::One(function_sg), false)
            .reference("vpc", Ref::One(vpc), true),
    );
    out
}

/// The function's egress rules, sorted as observation sorts them: PostgreSQL inside the
/// VPC, and HTTPS to the region's S3 prefix list (the fact `prefix-list.s3`).
pub fn function_egress(m: &AuthDomainManifest) -> Vec<String> {
    let mut rules = vec![
        format!("tcp:{POSTGRES_PORT}:{}", m.spec.network.cidr),
        "tcp:443:${prefix-list.s3}".to_owned(),
    ];
    rules.sort();
    rules
}

/// The desired database: subnet group over the isolated subnets, the Aurora Serverless v2
/// cluster, its writer and readers.
pub fn database(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let db = &s.database;
    let isolated: Vec<ResourceId> = zone_slots(s.network.availability_zones)
        .iter()
        .map(|z| id(Kind::Subnet, format!("isolated-{z}")))
        .collect();
    let group = id(Kind::DbSubnetGroup, "main");
    let cluster = id(Kind::DbCluster, "main");
    let mut c = Desired::new(cluster.clone())
        .immutable_prop("engine", ENGINE)
        .prop("engine-version", db.engine_version.as_str())
        .prop("min-capacity", db.min_capacity)
        .prop("max-capacity", db.max_capacity)
        .prop("deletion-protection", db.deletion_protection)
        .prop("iam-auth", true)
        .immutable_prop("storage-encrypted", true)
        .immutable_prop("managed-master-password", true)
        .reference("subnet-group", Ref::One(group.clone()), true)
        .reference(
            "security-groups",
            Ref::Many(vec![id(Kind::SecurityGroup, "database")]),
            false,
        );
    if db.min_capacity == 0.0 {
        c = c.prop("seconds-until-auto-pause", db.seconds_until_auto_pause);
    }
    let mut out = vec![
        Desired::new(group).reference("subnets", Ref::Many(isolated), false),
        c,
    ];
    let names =
        std::iter::once("writer".to_owned()).chain((1..=db.readers).map(|i| format!("reader-{i}")));
    for name in names {
        out.push(
            Desired::new(id(Kind::DbInstance, name))
                .prop("class", "db.serverless")
                .reference("cluster", Ref::One(cluster.clone()), true),
        );
    }
    out
}

/// The stage segment of execute-api ARNs and of the issuer URL.
fn stage_path(stage: &str) -> String {
    if stage == "$default" {
        String::new()
    } else {
        format!("/{stage}")
    }
}

/// The application: KMS key and KEK secret, image repository, the function's role and
/// inline policy, the HTTP API and its parts, the function, and the invoke permission.
/// Values that exist only once other resources do (ARNs, endpoints, the image digest) are
/// `${fact}` placeholders; see [`facts`].
pub fn application(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let domain = &m.metadata.name;
    let mut policies = vec![BASIC_EXECUTION, VPC_ACCESS];
    policies.sort();
    let key = id(Kind::KmsKey, "main");
    let secret = id(Kind::Secret, "kek");
    let repo = id(Kind::EcrRepository, "main");
    let role = id(Kind::IamRole, "function");
    let policy = id(Kind::IamPolicy, POLICY_NAME);
    let cluster = id(Kind::DbCluster, "main");
    let api = id(Kind::Api, "main");
    let function = id(Kind::Function, "main");
    let integration = id(Kind::ApiIntegration, "function");
    let private: Vec<ResourceId> = zone_slots(s.network.availability_zones)
        .iter()
        .map(|z| id(Kind::Subnet, format!("private-{z}")))
        .collect();
    let cors = s
        .api
        .cors
        .as_ref()
        .map(|c| {
            cors_value(
                &c.allow_origins,
                &c.allow_methods,
                &c.allow_headers,
                c.max_age.and_then(|n| i32::try_from(n).ok()),
            )
        })
        .unwrap_or(serde_json::Value::Null);
    let environment = json!({
        "AUTHSERVER_DATABASE_URL": format!(
            "postgres://{DATABASE_USER}@${{db-cluster/main.endpoint}}:${{db-cluster/main.port}}/{DATABASE_NAME}"
        ),
        "AUTHSERVER_DATABASE_IAM_AUTH": "true",
        "AUTHSERVER_DB_MAX_CONNECTIONS": "2",
        "AUTHSERVER_ISSUER": format!("${{api/main.endpoint}}{}", stage_path(&s.api.stage)),
        "AUTHSERVER_SIGNING_ALG": format!("{:?}", s.tokens.algorithm),
        "AUTHSERVER_TOKEN_TTL": s.tokens.default_ttl.to_string(),
        KEK_VARIABLE: "${secret/kek.fingerprint}",
        READ_MODEL_VARIABLE: format!("s3://${{s3-bucket/read-model.id}}/{READ_MODEL_PREFIX}"),
    });
    // The portal's sign-in: its client secret is read from Secrets Manager at start with
    // the function's role (the environment holds only the ARN). A `file` secret is for
    // `authdomain dev`: `spec::deploy_issues` refuses it before a plan is made.
    let portal = s
        .portal
        .as_ref()
        .and_then(|p| p.client_secret.secrets_manager.as_ref().map(|arn| (p, arn)));
    let mut environment = environment;
    if let Some((p, arn)) = portal {
        let vars = environment.as_object_mut().expect("an object");
        let teams: Vec<String> = p
            .teams
            .iter()
            .map(|(t, groups)| format!("{t}={}", groups.join(",")))
            .collect();
        for (k, v) in [
            ("AUTHSERVER_PORTAL_ISSUER", p.issuer.clone()),
            ("AUTHSERVER_PORTAL_CLIENT_ID", p.client_id.clone()),
            ("AUTHSERVER_PORTAL_CLIENT_SECRET_ARN", arn.clone()),
            ("AUTHSERVER_PORTAL_GROUPS_CLAIM", p.groups_claim.clone()),
            ("AUTHSERVER_PORTAL_ADMIN_GROUPS", p.admin_groups.join(",")),
            ("AUTHSERVER_PORTAL_TEAMS", teams.join(";")),
            ("AUTHSERVER_PORTAL_DOMAIN_NAME", domain.to_owned()),
        ] {
            vars.insert(k.into(), json!(v));
        }
        if let Some(scopes) = &p.scopes {
            vars.insert("AUTHSERVER_PORTAL_SCOPES".into(), json!(scopes.join(" ")));
        }
        if let Some(m) = p.session_minutes {
            vars.insert(
                "AUTHSERVER_PORTAL_SESSION_MINUTES".into(),
                json!(m.to_string()),
            );
        }
        if let Some(n) = &p.provider_name {
            vars.insert("AUTHSERVER_PORTAL_PROVIDER_NAME".into(), json!(n));
        }
    }
    let mut statements = vec![
        json!({
            "Sid": "DatabaseLogin",
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": format!(
                "arn:aws:rds-db:${{region}}:${{account}}:dbuser:${{db-cluster/main.resource-id}}/{DATABASE_USER}"
            ),
        }),
        json!({
            "Sid": "DecryptEnvironment",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "${kms-key/main.arn}",
        }),
        // The read model: the snapshot read and published, a used assertion recorded.
        // Listing (only under the prefix) makes a missing object a 404, not a 403.
        json!({
            "Sid": "ReadModel",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                format!("arn:aws:s3:::${{s3-bucket/read-model.id}}/{READ_MODEL_PREFIX}/snapshot"),
                format!("arn:aws:s3:::${{s3-bucket/read-model.id}}/{READ_MODEL_PREFIX}/assertions/*"),
            ],
        }),
        json!({
            "Sid": "ReadModelList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::${s3-bucket/read-model.id}",
            "Condition": { "StringLike": { "s3:prefix": [format!("{READ_MODEL_PREFIX}/*")] } },
        }),
    ];
    if let Some((_, arn)) = portal {
        statements.push(json!({
            "Sid": "PortalClientSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arn,
        }));
    }
    let bucket = id(Kind::Bucket, "read-model");
    let mut out = vec![
        // The read model's bucket: private (Block Public Access, bucket owner enforced, as
        // S3 makes new buckets), SSE-S3 at rest, the used assertions expiring after a day.
        Desired::new(bucket.clone()).prop(
            "lifecycle",
            json!([{
                "id": "assertions",
                "prefix": format!("{READ_MODEL_PREFIX}/assertions/"),
                "expiration-days": ASSERTION_MARKER_DAYS,
            }]),
        ),
        Desired::new(key.clone())
            .immutable_prop("usage", "ENCRYPT_DECRYPT")
            .immutable_prop("spec", "SYMMETRIC_DEFAULT")
            // A key a destroy scheduled for deletion is the same key: an apply within the
            // waiting period cancels the deletion, enables it and names it again, so the
            // KEK secret encrypted under it (and every key the database holds) stays readable.
            .prop("state", "Enabled")
            .prop("alias", super::names::kms_alias(domain)),
        Desired::new(secret.clone())
            .prop("kms-key", "${kms-key/main.arn}")
            .after(key.clone()),
        Desired::new(repo.clone())
            .prop("tag-mutability", "IMMUTABLE")
            .prop("scan-on-push", true)
            .prop("keep-images", s.image.keep_images),
        Desired::new(role.clone())
            .prop("trust-policy", trust_policy())
            .prop("managed-policies", json!(policies)),
        Desired::new(policy.clone())
            .prop(
                "document",
                json!({
                    "Version": "2012-10-17",
                    "Statement": statements,
                }),
            )
            .reference("role", Ref::One(role.clone()), true)
            .after(cluster.clone())
            .after(key.clone())
            .after(bucket.clone()),
        Desired::new(api.clone())
            .immutable_prop("protocol", "HTTP")
            .prop("name", format!("{domain}-authserver"))
            .prop("cors", cors),
        Desired::new(function.clone())
            .immutable_prop("package-type", "Image")
            .prop("image", "${ecr-repository/main.uri}@${image.digest}")
            .prop(
                "image-tag",
                json!(s.image.tag.as_ref().filter(|_| s.image.digest.is_none())),
            )
            .prop("architecture", s.image.architecture.as_str())
            .prop("memory", s.function.memory)
            .prop("timeout", s.function.timeout)
            .prop(
                "reserved-concurrency",
                json!(s.function.reserved_concurrency),
            )
            .prop("role", "${iam-role/function.arn}")
            .prop("kms-key", "${kms-key/main.arn}")
            .prop("environment", environment)
            .reference("subnets", Ref::Many(private), false)
            .reference(
                "security-groups",
                Ref::Many(vec![id(Kind::SecurityGroup, "function")]),
                false,
            )
            .after(repo)
            .after(role)
            .after(policy)
            .after(secret)
            .after(cluster)
            .after(bucket)
            .after(id(Kind::VpcEndpoint, "s3"))
            .after(api.clone()),
        Desired::new(integration.clone())
            .immutable_prop("type", "AWS_PROXY")
            .prop("payload-format", "2.0")
            .prop("uri", "${function/main.arn}")
            .reference("api", Ref::One(api.clone()), true)
            .after(function.clone()),
    ];
    for key in ROUTES {
        out.push(
            Desired::new(id(Kind::ApiRoute, key))
                .reference("api", Ref::One(api.clone()), true)
                .reference("integration", Ref::One(integration.clone()), false),
        );
    }
    out.push(
        Desired::new(id(Kind::ApiStage, s.api.stage.as_str()))
            .prop("auto-deploy", true)
            .reference("api", Ref::One(api.clone()), true),
    );
    out.push(
        Desired::new(id(Kind::LambdaPermission, "api"))
            .prop("principal", "apigateway.amazonaws.com")
            .prop("action", "lambda:InvokeFunction")
            // The form AWS documents for HTTP APIs (`API_ID/*/*`: any stage, method and
            // route of this one API). A stage-scoped `API_ID/$default/*` is not the ARN
            // API Gateway presents for the `$default` stage.
            .prop(
                "source-arn",
                "arn:aws:execute-api:${region}:${account}:${api/main.id}/*/*",
            )
            .reference("function", Ref::One(function), true)
            .after(api),
    );
    out
}

/// The issuer URL of the domain, as a `${fact}` template.
fn issuer(m: &AuthDomainManifest) -> String {
    format!("${{api/main.endpoint}}{}", stage_path(&m.spec.api.stage))
}

/// The teams' APIs of `spec.protectedApis`: per API one authorizer and the authorization
/// of each listed route; with any `mode: lambda` API, the authorizer function, its role and
/// one invoke permission per API (scoped to that API's authorizer).
pub fn protection(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let mut out = Vec::new();
    let api = id(Kind::Api, "main");
    let function = id(Kind::Function, "authorizer");
    for p in &s.protected_apis {
        let authorizer = id(Kind::ApiAuthorizer, p.name.as_str());
        let base = Desired::new(authorizer.clone())
            .immutable_prop("api-id", p.api_id.as_str())
            .immutable_prop("api-type", p.api_type.as_str())
            .after(api.clone());
        let invocation = "arn:aws:apigateway:${region}:lambda:path/2015-03-31/functions/${function/authorizer.arn}/invocations";
        out.push(match (p.api_type, p.mode) {
            // A TOKEN authorizer's cache is keyed by the token alone and its answer is a
            // policy for one method: not cached, or an allow (or deny) for one method would
            // answer another.
            (ApiType::Rest, _) => base
                .immutable_prop("type", "TOKEN")
                .prop("identity-source", "method.request.header.Authorization")
                .prop("uri", invocation)
                .prop("ttl", 0)
                .prop("stage", p.stage.clone().unwrap_or_default())
                .after(function.clone()),
            (ApiType::Http, ProtectionMode::Jwt) => base
                .immutable_prop("type", "JWT")
                .prop("identity-source", json!([AUTHORIZATION_HEADER]))
                .prop("issuer", issuer(m))
                .prop("audience", json!([p.identifier])),
            // Decisions are cached per token *and route* (a token allowed on one route is
            // not thereby allowed on another), for at most 5 minutes.
            (ApiType::Http, ProtectionMode::Lambda) => base
                .immutable_prop("type", "REQUEST")
                .prop(
                    "identity-source",
                    json!([AUTHORIZATION_HEADER, "$context.routeKey"]),
                )
                .prop("uri", invocation)
                .prop("payload-format", "2.0")
                .prop("simple-responses", true)
                .prop("ttl", 300)
                .after(function.clone()),
        });
        for r in &p.routes {
            let mut scopes = r.scopes.clone();
            scopes.sort();
            scopes.dedup();
            let (kind, scopes) = match (p.api_type, p.mode) {
                (ApiType::Http, ProtectionMode::Jwt) => ("JWT", scopes),
                // The function checks the scopes; API Gateway takes route scopes only
                // from JWT authorizers.
                _ => ("CUSTOM", Vec::new()),
            };
            out.push(
                Desired::new(id(
                    Kind::RouteAuthorization,
                    format!("{}/{}", p.name, r.route),
                ))
                .prop("api-id", p.api_id.as_str())
                .prop("api-type", p.api_type.as_str())
                .prop("route", r.route.as_str())
                .prop("authorization-type", kind)
                .prop("scopes", json!(scopes))
                .reference("authorizer", Ref::One(authorizer.clone()), false),
            );
        }
        if p.mode == ProtectionMode::Lambda {
            out.push(
                Desired::new(id(Kind::LambdaPermission, format!("authorizer-{}", p.name)))
                    .prop("principal", "apigateway.amazonaws.com")
                    .prop("action", "lambda:InvokeFunction")
                    .prop(
                        "source-arn",
                        format!(
                            "arn:aws:execute-api:${{region}}:${{account}}:{}/authorizers/${{api-authorizer/{}.id}}",
                            p.api_id, p.name
                        ),
                    )
                    .reference("function", Ref::One(function.clone()), true)
                    .after(authorizer),
            );
        }
    }
    if s.wants_authorizer() {
        let role = id(Kind::IamRole, "authorizer");
        let apis: serde_json::Map<String, serde_json::Value> = s
            .protected_apis
            .iter()
            .filter(|p| p.mode == ProtectionMode::Lambda)
            .map(|p| {
                let routes: serde_json::Map<String, serde_json::Value> = p
                    .routes
                    .iter()
                    .map(|r| (r.route.clone(), json!(r.scopes)))
                    .collect();
                (
                    p.api_id.clone(),
                    json!({"audience": p.identifier, "routes": routes}),
                )
            })
            .collect();
        let config = json!({
            "issuer": issuer(m),
            "algorithms": [format!("{:?}", s.tokens.algorithm)],
            "apis": apis,
        });
        out.push(
            Desired::new(role.clone())
                .prop("trust-policy", trust_policy())
                .prop("managed-policies", json!([BASIC_EXECUTION])),
        );
        out.push(
            Desired::new(function)
                .immutable_prop("package-type", "Image")
                .prop("image", "${ecr-repository/main.uri}@${authorizer.digest}")
                .prop("architecture", s.image.architecture.as_str())
                .prop("memory", s.authorizer.memory)
                .prop("timeout", 10)
                .prop("role", "${iam-role/authorizer.arn}")
                .prop(
                    "environment",
                    json!({ AUTHORIZER_CONFIG_VARIABLE: config.to_string() }),
                )
                .after(id(Kind::EcrRepository, "main"))
                .after(role)
                .after(api),
        );
    }
    out
}

/// What the spec wants: network, database and application, with the spec's extra tags
/// on every kind whose tags converge.
pub fn desired(m: &AuthDomainManifest) -> Vec<Desired> {
    let mut all = network(m);
    all.extend(database(m));
    all.extend(application(m));
    all.extend(protection(m));
    all.extend(super::registrations::desired(m));
    for d in all.iter_mut().filter(|d| tags_converge(d.id.kind)) {
        let tags = match d.id.kind.service() {
            Service::Ec2 => ec2_user_tags(&m.metadata.name, &d.id, &m.spec.tags),
            _ => m.spec.tags.clone(),
        };
        d.props.insert("tags".into(), json!(tags));
    }
    all
}

/// Kinds `deletionPolicy: Retain` keeps: the data and what reading it needs (network,
/// database, KMS key, secrets, images).
pub fn retained(kind: Kind) -> bool {
    matches!(
        kind.service(),
        Service::Ec2 | Service::Rds | Service::Kms | Service::Secrets | Service::Ecr
    )
}

/// The facts a set of observed resources establishes: `<resource>.<name>` for every
/// informational (`_`-prefixed) property, `<resource>.id` for every physical id, the
/// region, the account (from any ARN), and `image.digest`.
pub fn facts(m: &AuthDomainManifest, region: &str, observed: &[super::Observed]) -> Facts {
    let mut f = Facts::default();
    f.insert("region", region);
    for o in observed {
        f.insert(format!("{}.id", o.id), o.physical_id.as_str());
        for (k, v) in &o.props {
            if let Some(name) = k.strip_prefix('_') {
                match v {
                    serde_json::Value::String(s) => {
                        f.insert(format!("{}.{name}", o.id), s.as_str())
                    }
                    serde_json::Value::Number(n) => {
                        f.insert(format!("{}.{name}", o.id), n.to_string())
                    }
                    _ => {}
                }
                if name == "arn"
                    && f.get("account").is_none()
                    && let Some(account) = v
                        .as_str()
                        .and_then(|a| a.split(':').nth(4))
                        .filter(|a| !a.is_empty())
                {
                    f.insert("account", account);
                }
            }
        }
    }
    // The registrations can be read and written once the function has published its read
    // model (the provisioner records the issuer it was read for on the function).
    if let Some(issuer) = f.get("function/main.read-model-issuer").map(str::to_owned) {
        f.insert(super::registrations::ISSUER_FACT, issuer);
    }
    // The spec's digest; else, while the function still runs the spec's tag, the digest it
    // runs (tags are immutable); else what the repository says the tag points at. A spec
    // with neither leaves the image to `authdomain bootstrap`: whatever it deployed stays.
    let image = &m.spec.image;
    let unpinned = image.tag.is_none() && image.digest.is_none();
    let running = observed
        .iter()
        .find(|o| o.id == ResourceId::new(Kind::Function, "main"))
        .filter(|o| unpinned || o.props.get("image-tag") == Some(&json!(image.tag)))
        .and_then(|o| o.props.get("image").and_then(serde_json::Value::as_str))
        .and_then(|uri| uri.split_once('@'))
        .map(|(_, digest)| digest.to_owned());
    let digest = image
        .digest
        .clone()
        .or(running)
        .or_else(|| f.get("ecr-repository/main.image-digest").map(str::to_owned));
    if let Some(d) = digest {
        f.insert("image.digest", d);
    }
    // The authorizer's image: the spec's digest, else what the function runs (deployed by
    // `authdomain bootstrap`).
    let authorizer = m.spec.authorizer.digest.clone().or_else(|| {
        observed
            .iter()
            .find(|o| o.id == ResourceId::new(Kind::Function, "authorizer"))
            .and_then(|o| o.props.get("image").and_then(serde_json::Value::as_str))
            .and_then(|uri| uri.split_once('@'))
            .map(|(_, digest)| digest.to_owned())
    });
    if let Some(d) = authorizer {
        f.insert("authorizer.digest", d);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, diff};
    use crate::spec::load_str;

    fn manifest(extra: &str) -> AuthDomainManifest {
        load_str(
            &format!("apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n{extra}"),
            "t.yaml",
        )
        .unwrap()
    }

    #[test]
    fn subnet_cidrs_split_the_vpc_range() {
        assert_eq!(subnet_cidr("10.42.0.0/16", 0).unwrap(), "10.42.0.0/21");
        assert_eq!(subnet_cidr("10.42.0.0/16", 9).unwrap(), "10.42.72.0/21");
        assert_eq!(subnet_cidr("10.60.16.0/20", 1).unwrap(), "10.60.16.128/25");
        assert_eq!(zone_slots(3), ["a", "b", "c"]);
    }

    #[test]
    fn default_network_has_no_nat_and_three_tiers() {
        let g = network(&manifest(""));
        let count = |k: Kind| g.iter().filter(|d| d.id.kind == k).count();
        assert_eq!(count(Kind::Vpc), 1);
        assert_eq!(count(Kind::Subnet), 6);
        assert_eq!(count(Kind::NatGateway), 0);
        assert_eq!(count(Kind::ElasticIp), 0);
        assert_eq!(
            count(Kind::RouteTable),
            4,
            "public, private per zone, isolated"
        );
        assert_eq!(count(Kind::SecurityGroup), 2);
        let private_rt = g.iter().find(|d| d.id.name == "private-a").unwrap();
        assert!(
            !private_rt.refs.contains_key("default-route"),
            "no route to the internet without NAT"
        );
        // Subnet CIDRs do not overlap.
        let mut cidrs: Vec<&str> = g
            .iter()
            .filter_map(|d| d.props.get("cidr").and_then(|v| v.as_str()))
            .collect();
        cidrs.sort();
        cidrs.dedup();
        assert_eq!(cidrs.len(), 7);
    }

    #[test]
    fn database_graph() {
        let g = database(&manifest(
            "  database:\n    readers: 2\n    minCapacity: 0.5\n",
        ));
        let names: Vec<String> = g.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(
            names,
            [
                "db-subnet-group/main",
                "db-cluster/main",
                "db-instance/writer",
                "db-instance/reader-1",
                "db-instance/reader-2"
            ]
        );
        let cluster = &g[1];
        assert!(
            !cluster.props.contains_key("seconds-until-auto-pause"),
            "auto-pause only with minCapacity 0"
        );
        let g = database(&manifest(""));
        assert_eq!(
            g[1].props["seconds-until-auto-pause"],
            serde_json::json!(300)
        );
        assert_eq!(g[1].props["min-capacity"], serde_json::json!(0.0));
    }

    #[test]
    fn nat_options() {
        let single = network(&manifest(
            "  network:\n    availabilityZones: 3\n    natGateway: single\n",
        ));
        assert_eq!(
            single
                .iter()
                .filter(|d| d.id.kind == Kind::NatGateway)
                .count(),
            1
        );
        let routes: Vec<_> = single
            .iter()
            .filter(|d| d.id.kind == Kind::RouteTable && d.id.name.starts_with("private-"))
            .map(|d| d.refs["default-route"].clone())
            .collect();
        assert!(
            routes
                .iter()
                .all(|r| *r == Ref::One(ResourceId::new(Kind::NatGateway, "a")))
        );
        let per_az = network(&manifest(
            "  network:\n    availabilityZones: 3\n    natGateway: perAz\n",
        ));
        assert_eq!(
            per_az
                .iter()
                .filter(|d| d.id.kind == Kind::NatGateway)
                .count(),
            3
        );
    }

    #[test]
    fn fresh_account_plan_creates_everything_in_order() {
        let g = network(&manifest(""));
        let plan = diff(&g, &[]);
        assert_eq!(plan.count(Action::Create), g.len());
        let pos = |name: &str| {
            plan.changes
                .iter()
                .position(|c| c.resource.to_string() == name)
                .unwrap()
        };
        assert!(pos("vpc/main") < pos("subnet/public-a"));
        assert!(pos("security-group/function") < pos("security-group/database"));
        assert!(pos("internet-gateway/main") < pos("route-table/public"));
    }

    #[test]
    fn application_graph_holds_no_secret_and_no_wildcard_action() {
        let m = manifest("  image:\n    tag: v1\n");
        let g = application(&m);
        let function = g.iter().find(|d| d.id.kind == Kind::Function).unwrap();
        let env = &function.props["environment"];
        assert_eq!(env["AUTHSERVER_KEK"], "${secret/kek.fingerprint}");
        assert_eq!(env["AUTHSERVER_DATABASE_IAM_AUTH"], "true");
        assert!(!env.to_string().to_lowercase().contains("password"));
        let policy = g.iter().find(|d| d.id.kind == Kind::IamPolicy).unwrap();
        let list = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().unwrap().to_owned()).collect()
                }
                other => vec![other.as_str().unwrap().to_owned()],
            }
        };
        for st in policy.props["document"]["Statement"].as_array().unwrap() {
            assert!(list(&st["Action"]).iter().all(|a| !a.contains('*')), "{st}");
            // The one wildcard: the used-assertion markers, named by a hash, under the
            // read model's prefix of the domain's own bucket.
            for r in list(&st["Resource"]) {
                assert!(
                    !r.ends_with('*') || r.ends_with("/read-model/assertions/*"),
                    "{st}"
                );
            }
        }
        assert_eq!(
            g.iter().filter(|d| d.id.kind == Kind::ApiRoute).count(),
            ROUTES.len()
        );
        // The function comes after everything whose values it holds.
        let plan = diff(&[network(&m), database(&m), g.clone()].concat(), &[]);
        let pos = |n: &str| {
            plan.changes
                .iter()
                .position(|c| c.resource.to_string() == n)
                .unwrap()
        };
        assert!(pos("api/main") < pos("function/main"));
        assert!(pos("iam-policy/authserver") < pos("function/main"));
        assert!(pos("function/main") < pos("api-integration/function"));
        assert!(pos("api-integration/function") < pos("api-route/POST /oauth2/token"));
    }

    const PROTECTED: &str = "  resourceServers:\n    - identifier: https://orders.example.com\n      scopes: [{name: 'orders:read'}, {name: 'orders:write'}]\n  protectedApis:\n    - name: orders\n      apiId: abc123defg\n      identifier: https://orders.example.com\n      routes:\n        - route: GET /orders\n          scopes: ['orders:read']\n        - route: POST /orders\n          scopes: ['orders:write', 'orders:read']\n";

    #[test]
    fn a_jwt_protected_api_is_one_authorizer_and_the_listed_routes_only() {
        let m = manifest(PROTECTED);
        let g = protection(&m);
        assert_eq!(g.len(), 3, "{g:#?}");
        let authorizer = &g[0];
        assert_eq!(authorizer.id.to_string(), "api-authorizer/orders");
        assert_eq!(authorizer.props["type"], "JWT");
        assert_eq!(authorizer.props["api-id"], "abc123defg");
        assert_eq!(authorizer.props["issuer"], "${api/main.endpoint}");
        assert_eq!(
            authorizer.props["audience"],
            json!(["https://orders.example.com"])
        );
        let post = g
            .iter()
            .find(|d| d.id.to_string() == "route-authorization/orders/POST /orders")
            .unwrap();
        assert_eq!(post.props["authorization-type"], "JWT");
        assert_eq!(
            post.props["scopes"],
            json!(["orders:read", "orders:write"]),
            "sorted, as observed"
        );
        assert!(post.immutable.is_empty(), "a route is never replaced");
        // No function, no role, no permission: the built-in authorizer costs nothing.
        assert!(!g.iter().any(|d| d.id.kind == Kind::Function));
        // The authorizer comes after the domain's API (its issuer), the routes after it.
        let plan = diff(&desired(&m), &[]);
        let pos = |n: &str| {
            plan.changes
                .iter()
                .position(|c| c.resource.to_string() == n)
                .unwrap()
        };
        assert!(pos("api/main") < pos("api-authorizer/orders"));
        assert!(pos("api-authorizer/orders") < pos("route-authorization/orders/GET /orders"));
    }

    #[test]
    fn a_lambda_protected_api_deploys_the_authorizer_with_its_routes_and_a_scoped_permission() {
        let m = manifest(&format!(
            "{}      mode: lambda\n  api:\n    stage: prod\n",
            PROTECTED
        ));
        let g = protection(&m);
        let find = |n: &str| g.iter().find(|d| d.id.to_string() == n).unwrap();
        let authorizer = find("api-authorizer/orders");
        assert_eq!(authorizer.props["type"], "REQUEST");
        assert_eq!(authorizer.props["simple-responses"], true);
        assert_eq!(
            authorizer.props["identity-source"],
            json!(["$request.header.Authorization", "$context.routeKey"]),
            "decisions are cached per token and route"
        );
        let route = find("route-authorization/orders/GET /orders");
        assert_eq!(route.props["authorization-type"], "CUSTOM");
        assert_eq!(route.props["scopes"], json!([]));
        let permission = find("lambda-permission/authorizer-orders");
        assert_eq!(
            permission.props["source-arn"],
            "arn:aws:execute-api:${region}:${account}:abc123defg/authorizers/${api-authorizer/orders.id}"
        );
        let function = find("function/authorizer");
        assert!(!function.refs.contains_key("subnets"), "not in the VPC");
        assert_eq!(
            function.props["image"],
            "${ecr-repository/main.uri}@${authorizer.digest}"
        );
        let config: serde_json::Value = serde_json::from_str(
            function.props["environment"]["AUTHORIZER_CONFIG"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config["issuer"], "${api/main.endpoint}/prod");
        assert_eq!(
            config["apis"]["abc123defg"]["routes"]["POST /orders"],
            json!(["orders:write", "orders:read"])
        );
        assert_eq!(
            config["apis"]["abc123defg"]["audience"],
            "https://orders.example.com"
        );
        let role = find("iam-role/authorizer");
        assert_eq!(role.props["managed-policies"], json!([BASIC_EXECUTION]));
        // The outputs and facts of the auth server ignore the authorizer's function.
        let plan = diff(&desired(&m), &[]);
        let pos = |n: &str| {
            plan.changes
                .iter()
                .position(|c| c.resource.to_string() == n)
                .unwrap()
        };
        assert!(pos("function/authorizer") < pos("api-authorizer/orders"));
        assert!(pos("api-authorizer/orders") < pos("lambda-permission/authorizer-orders"));
    }

    #[test]
    fn facts_come_from_observed_values_and_the_image_from_spec_function_or_registry() {
        use crate::plan::Observed;
        let obs = |kind: Kind, name: &str, props: serde_json::Value| Observed {
            id: ResourceId::new(kind, name),
            physical_id: format!("{name}-id"),
            props: props.as_object().unwrap().clone().into_iter().collect(),
            refs: Default::default(),
        };
        let repo = obs(
            Kind::EcrRepository,
            "main",
            json!({"_uri": "1.dkr/r", "_image-digest": "sha256:reg"}),
        );
        let role = obs(
            Kind::IamRole,
            "function",
            json!({"_arn": "arn:aws:iam::123456789012:role/x"}),
        );
        let m = manifest("  image:\n    tag: v1\n");
        let f = facts(&m, "eu-west-1", &[repo.clone(), role.clone()]);
        assert_eq!(f.get("account"), Some("123456789012"));
        assert_eq!(f.get("ecr-repository/main.uri"), Some("1.dkr/r"));
        assert_eq!(f.get("iam-role/function.id"), Some("function-id"));
        assert_eq!(f.get("image.digest"), Some("sha256:reg"));
        // A function still running the spec's tag gives its digest (tags are immutable).
        let func = obs(
            Kind::Function,
            "main",
            json!({"image-tag": "v1", "image": "1.dkr/r@sha256:run"}),
        );
        let f = facts(&m, "eu-west-1", &[role.clone(), func.clone()]);
        assert_eq!(f.get("image.digest"), Some("sha256:run"));
        // The spec's digest wins.
        let m = manifest(
            "  image:\n    digest: sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
        );
        assert_eq!(
            facts(&m, "eu-west-1", &[repo, func]).get("image.digest"),
            Some("sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        );
        // Neither: no digest is known until bootstrap deploys one, which then stays.
        let m = manifest("");
        assert_eq!(
            facts(&m, "eu-west-1", std::slice::from_ref(&role)).get("image.digest"),
            None
        );
        let deployed = obs(
            Kind::Function,
            "main",
            json!({"image": "1.dkr/r@sha256:boot"}),
        );
        assert_eq!(
            facts(&m, "eu-west-1", &[role, deployed]).get("image.digest"),
            Some("sha256:boot")
        );
    }

    #[test]
    fn the_portal_reads_its_secret_with_the_role_and_gets_its_routes() {
        let m = manifest(
            "  network:\n    natGateway: single\n  portal:\n    issuer: https://login.example.com\n    clientId: portal\n    clientSecret:\n      secretsManager: arn:aws:secretsmanager:eu-west-1:123456789012:secret:portal-AbCdEf\n    adminGroups: [platform]\n    teams:\n      payments: [payments-devs, payments-ops]\n      search: [search-devs]\n",
        );
        let app = application(&m);
        let function = app
            .iter()
            .find(|d| d.id.kind == Kind::Function && d.id.name == "main")
            .unwrap();
        let env = &function.props["environment"];
        assert_eq!(env["AUTHSERVER_PORTAL_ISSUER"], "https://login.example.com");
        assert_eq!(
            env["AUTHSERVER_PORTAL_TEAMS"],
            "payments=payments-devs,payments-ops;search=search-devs"
        );
        assert_eq!(
            env["AUTHSERVER_PORTAL_CLIENT_SECRET_ARN"],
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:portal-AbCdEf"
        );
        assert!(
            env.as_object()
                .unwrap()
                .keys()
                .all(|k| !k.contains("SECRET") || k.ends_with("_ARN")),
            "no secret value in the environment: {env}"
        );
        let policy = app.iter().find(|d| d.id.kind == Kind::IamPolicy).unwrap();
        let statements = policy.props["document"]["Statement"].as_array().unwrap();
        let sm = statements
            .iter()
            .find(|s| s["Sid"] == "PortalClientSecret")
            .expect("a statement for the portal secret");
        assert_eq!(sm["Action"], "secretsmanager:GetSecretValue");
        assert_eq!(sm["Resource"], env["AUTHSERVER_PORTAL_CLIENT_SECRET_ARN"]);
        assert!(ROUTES.contains(&"GET /portal") && ROUTES.contains(&"ANY /portal/{proxy+}"));
        // Without a portal: no portal variables, no Secrets Manager grant.
        let plain = application(&manifest(""));
        let f = plain.iter().find(|d| d.id.kind == Kind::Function).unwrap();
        assert!(
            f.props["environment"]
                .get("AUTHSERVER_PORTAL_ISSUER")
                .is_none()
        );
        let p = plain.iter().find(|d| d.id.kind == Kind::IamPolicy).unwrap();
        let sids: Vec<&str> = p.props["document"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            sids,
            [
                "DatabaseLogin",
                "DecryptEnvironment",
                "ReadModel",
                "ReadModelList"
            ]
        );
    }
}
