//! Semantic rules that the types cannot express: formats, cross-field constraints, AWS
//! limits. Every rule reports with the field path; all problems are returned together.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use authdomain_api::names;

use super::{
    API_VERSION, ApiType, AuthDomainManifest, AuthDomainSpec, ClientAuthMethod, KIND,
    ProtectionMode, SigningAlgorithm,
};

/// One problem with a manifest: the field path (as written in YAML) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: &str, message: impl Into<String>) -> Issue {
        Issue {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// Aurora PostgreSQL versions from which `minCapacity: 0` (auto-pause) is supported.
const SCALE_TO_ZERO_SINCE: [(u32, u32); 4] = [(13, 15), (14, 12), (15, 7), (16, 3)];

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_region(s: &str) -> bool {
    // e.g. eu-west-1, us-gov-west-1, ap-southeast-2
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_absolute_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && !s.contains('#')
                && !s.chars().any(char::is_whitespace)
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn is_ecr_repository(s: &str) -> bool {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
    };
    (2..=256).contains(&s.len()) && s.split('/').all(ok_part)
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > 32 {
        return None;
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & !mask == 0).then_some((ip, prefix))
}

fn half_step(v: f64) -> bool {
    (v * 2.0).fract() == 0.0
}

/// What converging a valid manifest on AWS (`plan`, `apply`, `bootstrap`, the operator)
/// needs beyond its validity; empty when it can be deployed. `authdomain dev` does not
/// ask this: what it reads from the local machine is fine there.
pub fn deploy_issues(m: &AuthDomainManifest) -> Vec<Issue> {
    let mut out = Vec::new();
    if let Some(p) = &m.spec.portal
        && p.client_secret.file.is_some()
    {
        out.push(Issue::new(
            "spec.portal.clientSecret.file",
            "a file is read by `authdomain dev` only; on AWS the function reads the portal's \
             client secret from Secrets Manager: expected `secretsManager` with the secret's ARN",
        ));
    }
    out
}

/// Check a parsed manifest; empty when valid. One rule family per function, each
/// reporting every problem it finds with its field path.
pub fn validate(m: &AuthDomainManifest) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut bad = |path: &str, msg: String| out.push(Issue::new(path, msg));
    identity(m, &mut bad);
    let s = &m.spec;
    network(s, &mut bad);
    database(s, &mut bad);
    image(s, &mut bad);
    api(s, &mut bad);
    let scopes = resource_servers(s, &mut bad);
    clients(s, &scopes, &mut bad);
    protected_apis(m, &mut bad);
    operator(s, &scopes, &mut bad);
    tags(s, &mut bad);
    if let Some(p) = &s.portal {
        validate_portal(p, s, &mut out);
    }
    out
}

/// `apiVersion`, `kind`, the domain's name and its region.
fn identity(m: &AuthDomainManifest, bad: &mut impl FnMut(&str, String)) {
    if m.api_version != API_VERSION {
        bad(
            "apiVersion",
            format!("expected `{API_VERSION}`, found `{}`", m.api_version),
        );
    }
    if m.kind != KIND {
        bad("kind", format!("expected `{KIND}`, found `{}`", m.kind));
    }
    if !is_dns_label(&m.metadata.name, 32) {
        bad(
            "metadata.name",
            "expected 1 to 32 lowercase letters, digits or `-`, starting with a letter and not ending with `-`".into(),
        );
    }

    let s = &m.spec;
    if !is_region(&s.region) {
        bad(
            "spec.region",
            format!(
                "expected an AWS region such as `eu-west-1`, found `{}`",
                s.region
            ),
        );
    }
}

/// The VPC's range and the zones it may not use.
fn network(s: &AuthDomainSpec, bad: &mut impl FnMut(&str, String)) {
    // Room for public, private and isolated subnets in every AZ (a /prefix+5 each).
    match parse_cidr(&s.network.cidr) {
        None => bad(
            "spec.network.cidr",
            format!(
                "expected an IPv4 network in CIDR notation such as `10.42.0.0/16` (host bits zero), found `{}`",
                s.network.cidr
            ),
        ),
        Some((ip, prefix)) => {
            if !(16..=20).contains(&prefix) {
                bad(
                    "spec.network.cidr",
                    format!(
                        "the prefix must be /16 to /20 (room for 3 subnets per zone), found /{prefix}"
                    ),
                );
            }
            let o = ip.octets();
            let private = o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168);
            if !private {
                bad("spec.network.cidr", "expected a private (RFC 1918) range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16".into());
            }
        }
    }

    for (i, z) in s.network.exclude_zone_ids.iter().enumerate() {
        let well_formed = z.split_once("-az").is_some_and(|(region, n)| {
            !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        });
        if !well_formed {
            bad(
                &format!("spec.network.excludeZoneIds[{i}]"),
                format!("expected an availability zone ID such as `use1-az3`, found `{z}`"),
            );
        }
    }
}

/// Aurora: capacities, storage, an engine version that can scale to zero.
fn database(s: &AuthDomainSpec, bad: &mut impl FnMut(&str, String)) {
    let db = &s.database;
    if !half_step(db.min_capacity) {
        bad(
            "spec.database.minCapacity",
            format!("expected a multiple of 0.5, found {}", db.min_capacity),
        );
    }
    if !half_step(db.max_capacity) {
        bad(
            "spec.database.maxCapacity",
            format!("expected a multiple of 0.5, found {}", db.max_capacity),
        );
    }
    if db.max_capacity < db.min_capacity {
        bad(
            "spec.database.maxCapacity",
            format!(
                "must be at least minCapacity ({}), found {}",
                db.min_capacity, db.max_capacity
            ),
        );
    }
    // Within Aurora's 128 TiB (YAML's `.nan` is a float too).
    let gib = db.expected_storage_gib;
    if gib.is_nan() || gib <= 0.0 || gib > 128_000.0 {
        bad(
            "spec.database.expectedStorageGiB",
            format!(
                "expected more than 0 and at most 128000 (GiB), found {}",
                db.expected_storage_gib
            ),
        );
    }
    match db
        .engine_version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
    {
        None => bad(
            "spec.database.engineVersion",
            format!(
                "expected an Aurora PostgreSQL version such as `16.4`, found `{}`",
                db.engine_version
            ),
        ),
        Some((major, minor)) => {
            if major < 13 {
                bad(
                    "spec.database.engineVersion",
                    format!("Aurora Serverless v2 needs PostgreSQL 13 or later, found {major}"),
                );
            } else if db.min_capacity == 0.0 {
                let since = SCALE_TO_ZERO_SINCE.iter().find(|(m, _)| *m == major);
                if let Some((m, n)) = since
                    && minor < *n
                {
                    bad(
                        "spec.database.engineVersion",
                        format!(
                            "minCapacity 0 (auto-pause) needs {m}.{n} or later for PostgreSQL {m}, found {}",
                            db.engine_version
                        ),
                    );
                }
            }
        }
    }
}

/// The image: repository, tag or digest, how many to keep.
fn image(s: &AuthDomainSpec, bad: &mut impl FnMut(&str, String)) {
    if !(1..=1000).contains(&s.image.keep_images) {
        bad(
            "spec.image.keepImages",
            format!(
                "expected 1 to 1000 images to keep, found {}",
                s.image.keep_images
            ),
        );
    }

    if let Some(repo) = &s.image.repository
        && !is_ecr_repository(repo)
    {
        bad(
            "spec.image.repository",
            format!(
                "expected an ECR repository name (lowercase, digits, `.`, `_`, `-`, `/`), found `{repo}`"
            ),
        );
    }
    if s.image.tag.is_some() && s.image.digest.is_some() {
        bad(
            "spec.image.digest",
            "give either `tag` or `digest`, not both".into(),
        );
    }
    if let Some(d) = &s.image.digest {
        let ok = d.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
        if !ok {
            bad(
                "spec.image.digest",
                format!("expected `sha256:` and 64 lowercase hex digits, found `{d}`"),
            );
        }
    }
    if let Some(t) = &s.image.tag {
        let ok = (1..=128).contains(&t.len())
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            bad(
                "spec.image.tag",
                format!(
                    "expected an image tag (letters, digits, `_`, `.`, `-`; at most 128), found `{t}`"
                ),
            );
        }
    }
}

/// The HTTP API: stage name and CORS origins.
fn api(s: &AuthDomainSpec, bad: &mut impl FnMut(&str, String)) {
    let stage_ok = s.api.stage == "$default"
        || ((1..=128).contains(&s.api.stage.len())
            && s.api
                .stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')));
    if !stage_ok {
        bad(
            "spec.api.stage",
            format!(
                "expected `$default` or letters, digits, `-` and `_`, found `{}`",
                s.api.stage
            ),
        );
    }
    if let Some(cors) = &s.api.cors {
        for (i, o) in cors.allow_origins.iter().enumerate() {
            let ok = o == "*"
                || ((o.starts_with("https://") || o.starts_with("http://")) && !o.ends_with('/'));
            if !ok {
                bad(
                    &format!("spec.api.cors.allowOrigins[{i}]"),
                    format!(
                        "expected `*` or an origin such as `https://app.example.com`, found `{o}`"
                    ),
                );
            }
        }
    }
}

/// Resource servers: identifiers absolute and unique, scope names unique in the domain.
/// Returns the domain's scope names.
fn resource_servers<'a>(
    s: &'a AuthDomainSpec,
    bad: &mut impl FnMut(&str, String),
) -> BTreeSet<&'a str> {
    // Resource servers and scopes: identifiers absolute, scope names unique in the domain.
    let mut identifiers = BTreeSet::new();
    let mut scopes = BTreeSet::new();
    for (i, rs) in s.resource_servers.iter().enumerate() {
        let base = format!("spec.resourceServers[{i}]");
        if !is_absolute_uri(&rs.identifier) {
            bad(
                &format!("{base}.identifier"),
                format!(
                    "expected an absolute URI without fragment, found `{}`",
                    rs.identifier
                ),
            );
        }
        if !identifiers.insert(rs.identifier.as_str()) {
            bad(
                &format!("{base}.identifier"),
                format!("`{}` is listed twice", rs.identifier),
            );
        }
        for (j, scope) in rs.scopes.iter().enumerate() {
            let path = format!("{base}.scopes[{j}].name");
            if !names::is_scope_name(&scope.name) {
                bad(
                    &path,
                    format!(
                        "expected {}, found `{}`",
                        names::SCOPE_NAME_RULE,
                        scope.name.escape_debug()
                    ),
                );
            } else if !scopes.insert(scope.name.as_str()) {
                bad(
                    &path,
                    format!(
                        "scope `{}` is already defined (scope names are unique in a domain)",
                        scope.name
                    ),
                );
            }
        }
    }

    scopes
}

/// Clients: names, scopes the domain defines, lifetimes, authentication methods.
fn clients(s: &AuthDomainSpec, scopes: &BTreeSet<&str>, bad: &mut impl FnMut(&str, String)) {
    let mut names = BTreeSet::new();
    for (i, c) in s.clients.iter().enumerate() {
        let base = format!("spec.clients[{i}]");
        if !is_dns_label(&c.name, 64) {
            bad(
                &format!("{base}.name"),
                format!(
                    "expected lowercase letters, digits or `-` (at most 64), found `{}`",
                    c.name
                ),
            );
        }
        if !names.insert(c.name.as_str()) {
            bad(
                &format!("{base}.name"),
                format!("client `{}` is listed twice", c.name),
            );
        }
        for (j, sc) in c.scopes.iter().enumerate() {
            if !scopes.contains(sc.as_str()) {
                bad(
                    &format!("{base}.scopes[{j}]"),
                    format!(
                        "scope `{sc}` is not defined by any resource server in spec.resourceServers"
                    ),
                );
            }
        }
        if let Some(ttl) = c.token_ttl
            && !(60..=86_400).contains(&ttl)
        {
            bad(
                &format!("{base}.tokenTtl"),
                format!("must be 60 to 86400 seconds, found {ttl}"),
            );
        }
        match (c.auth_method, &c.jwks_uri) {
            (ClientAuthMethod::PrivateKeyJwt, None) => {
                bad(
                    &format!("{base}.jwksUri"),
                    "private_key_jwt needs `jwksUri`".into(),
                );
            }
            (ClientAuthMethod::PrivateKeyJwt, Some(u)) if !u.starts_with("https://") => {
                bad(
                    &format!("{base}.jwksUri"),
                    format!("expected an https URL, found `{u}`"),
                );
            }
            (ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost, Some(_)) => {
                bad(
                    &format!("{base}.jwksUri"),
                    "only clients with authMethod private_key_jwt use `jwksUri`".into(),
                );
            }
            _ => {}
        }
    }
}

/// The operator's settings: grants name the domain's scopes (or prefixes of them).
fn operator(s: &AuthDomainSpec, scopes: &BTreeSet<&str>, bad: &mut impl FnMut(&str, String)) {
    // Operator settings: grants name the domain's scopes (or prefixes of them).
    for (i, a) in s.operator.client_access.iter().enumerate() {
        let base = format!("spec.operator.clientAccess[{i}]");
        if a.namespaces.is_empty() {
            bad(
                &format!("{base}.namespaces"),
                "expected at least one namespace (or `*`)".into(),
            );
        }
        for (j, n) in a.namespaces.iter().enumerate() {
            if n != "*" && !is_dns_label(n, 63) {
                bad(
                    &format!("{base}.namespaces[{j}]"),
                    format!("expected a namespace name or `*`, found `{n}`"),
                );
            }
        }
        for (j, sc) in a.scopes.iter().enumerate() {
            let known = match sc.strip_suffix('*') {
                Some(prefix) => scopes.iter().any(|s| s.starts_with(prefix)),
                None => scopes.contains(sc.as_str()),
            };
            if !known {
                bad(
                    &format!("{base}.scopes[{j}]"),
                    format!("`{sc}` matches no scope of spec.resourceServers"),
                );
            }
        }
    }
    if let Some(n) = s.operator.drift_check_minutes
        && !(5..=1440).contains(&n)
    {
        bad(
            "spec.operator.driftCheckMinutes",
            format!("must be 5 to 1440 minutes, found {n}"),
        );
    }
}

/// Tags: AWS limits (50 per resource, of which we use 2), reserved prefixes.
fn tags(s: &AuthDomainSpec, bad: &mut impl FnMut(&str, String)) {
    // Tags: AWS limits (50 per resource, of which we use 2), reserved prefixes.
    if s.tags.len() > 40 {
        bad(
            "spec.tags",
            format!("at most 40 extra tags, found {}", s.tags.len()),
        );
    }
    for (k, v) in &s.tags {
        let path = format!("spec.tags.{k}");
        if k.starts_with("authdomain.io/") {
            bad(
                &path,
                "the `authdomain.io/` prefix is reserved for AuthDomain's own tags".into(),
            );
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            bad(&path, "the `aws:` prefix is reserved by AWS".into());
        }
        if k.is_empty() || k.chars().count() > 128 {
            bad(&path, "tag keys are 1 to 128 characters".into());
        }
        if v.chars().count() > 256 {
            bad(&path, "tag values are at most 256 characters".into());
        }
    }
}

/// HTTP methods of API Gateway route keys.
const ROUTE_METHODS: [&str; 8] = [
    "ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
];

/// Whether `key` is an HTTP API route key: `$default`, or a method and a path of segments
/// that are literal, `{param}`, or a last `{proxy+}`.
pub fn is_route_key(key: &str) -> bool {
    if key == "$default" {
        return true;
    }
    let Some((method, path)) = key.split_once(' ') else {
        return false;
    };
    if !ROUTE_METHODS.contains(&method) || !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    segments.iter().enumerate().all(|(i, seg)| {
        let greedy = seg.starts_with('{') && seg.ends_with("+}");
        let param = seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2;
        !seg.is_empty()
            && (!greedy || i + 1 == segments.len())
            && (param || !seg.contains(['{', '}', ' ']))
    })
}

/// `a, b, c`, or `none`.
fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// `spec.protectedApis`: names, the resource server and its scopes, route keys, and what
/// API Gateway's JWT authorizer can verify.
fn protected_apis(m: &AuthDomainManifest, bad: &mut impl FnMut(&str, String)) {
    let s = &m.spec;
    let mut names = BTreeSet::new();
    let mut apis = BTreeSet::new();
    for (i, p) in s.protected_apis.iter().enumerate() {
        let base = format!("spec.protectedApis[{i}]");
        if !is_dns_label(&p.name, 32) {
            bad(
                &format!("{base}.name"),
                format!(
                    "expected 1 to 32 lowercase letters, digits or `-`, starting with a letter, found `{}`",
                    p.name
                ),
            );
        }
        if !names.insert(p.name.as_str()) {
            bad(
                &format!("{base}.name"),
                format!("`{}` is listed twice", p.name),
            );
        }
        if p.api_id.is_empty()
            || p.api_id.len() > 32
            || !p
                .api_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            bad(
                &format!("{base}.apiId"),
                format!(
                    "expected an API Gateway API id (lowercase letters and digits, such as `a1b2c3d4e5`), found `{}`",
                    p.api_id
                ),
            );
        } else if !apis.insert(p.api_id.as_str()) {
            bad(
                &format!("{base}.apiId"),
                format!(
                    "API `{}` is already protected by another entry: list all its routes in one",
                    p.api_id
                ),
            );
        }
        let rest = p.api_type == ApiType::Rest;
        if rest && p.mode == ProtectionMode::Jwt {
            bad(
                &format!("{base}.mode"),
                "API Gateway's JWT authorizer exists for HTTP APIs only: a REST API is protected with `mode: lambda`".into(),
            );
        }
        match (&p.stage, rest) {
            (None, true) => bad(
                &format!("{base}.stage"),
                "a REST API's changes are live only once deployed: name the stage to redeploy".into(),
            ),
            (Some(_), false) => bad(
                &format!("{base}.stage"),
                "only REST APIs are redeployed by AuthDomain; an HTTP API's routes reach stages with automatic deployment".into(),
            ),
            (Some(st), true)
                if st.is_empty()
                    || st.len() > 128
                    || !st
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                bad(
                    &format!("{base}.stage"),
                    format!("expected a REST API stage name (letters, digits, `-`, `_`), found `{st}`"),
                )
            }
            _ => {}
        }
        if !rest && p.mode == ProtectionMode::Jwt && s.tokens.algorithm != SigningAlgorithm::RS256 {
            bad(
                &format!("{base}.mode"),
                format!(
                    "API Gateway's JWT authorizer verifies RSA signatures only, and this domain signs with {:?} (spec.tokens.algorithm): use `mode: lambda`, or `tokens.algorithm: RS256`",
                    s.tokens.algorithm
                ),
            );
        }
        let server = s
            .resource_servers
            .iter()
            .find(|rs| rs.identifier == p.identifier);
        if server.is_none() {
            let known: Vec<&str> = s
                .resource_servers
                .iter()
                .map(|rs| rs.identifier.as_str())
                .collect();
            bad(
                &format!("{base}.identifier"),
                format!(
                    "`{}` is not the identifier of any of spec.resourceServers (defined: {})",
                    p.identifier,
                    list_or_none(&known)
                ),
            );
        }
        if p.routes.is_empty() {
            bad(
                &format!("{base}.routes"),
                "expected at least one route to protect".into(),
            );
        }
        let mut keys = BTreeSet::new();
        for (j, r) in p.routes.iter().enumerate() {
            let rbase = format!("{base}.routes[{j}]");
            if rest && r.route == "$default" {
                bad(
                    &format!("{rbase}.route"),
                    "REST APIs have no `$default` route: name a method and resource path".into(),
                );
            } else if !is_route_key(&r.route) {
                bad(
                    &format!("{rbase}.route"),
                    format!(
                        "expected a route key such as `GET /orders/{{id}}`, `ANY /{{proxy+}}` or `$default`, found `{}`",
                        r.route
                    ),
                );
            } else if !keys.insert(r.route.as_str()) {
                bad(
                    &format!("{rbase}.route"),
                    format!("route `{}` is listed twice", r.route),
                );
            }
            let Some(server) = server else { continue };
            for (k, sc) in r.scopes.iter().enumerate() {
                if !server.scopes.iter().any(|x| &x.name == sc) {
                    let defined: Vec<&str> =
                        server.scopes.iter().map(|x| x.name.as_str()).collect();
                    bad(
                        &format!("{rbase}.scopes[{k}]"),
                        format!(
                            "scope `{sc}` is not defined by resource server `{}` (its scopes: {})",
                            p.identifier,
                            list_or_none(&defined)
                        ),
                    );
                }
            }
        }
    }
    if let Some(d) = &s.authorizer.digest
        && !(d.len() == 71
            && d.starts_with("sha256:")
            && d[7..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    {
        bad(
            "spec.authorizer.digest",
            format!("expected `sha256:` and 64 lowercase hex digits, found `{d}`"),
        );
    }
    if !(128..=10_240).contains(&s.authorizer.memory) {
        bad(
            "spec.authorizer.memory",
            format!("must be 128 to 10240 MB, found {}", s.authorizer.memory),
        );
    }
}

fn validate_portal(p: &super::Portal, s: &super::AuthDomainSpec, out: &mut Vec<Issue>) {
    let mut bad = |path: &str, msg: String| out.push(Issue::new(path, msg));
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    if !(p.issuer.starts_with("https://") || loopback.iter().any(|l| p.issuer.starts_with(l)))
        || !is_absolute_uri(&p.issuer)
    {
        bad(
            "spec.portal.issuer",
            format!(
                "expected the provider's https issuer URL, found `{}`",
                p.issuer
            ),
        );
    }
    if p.client_id.trim().is_empty() {
        bad(
            "spec.portal.clientId",
            "expected the portal's client id at the provider".into(),
        );
    }
    match (&p.client_secret.secrets_manager, &p.client_secret.file) {
        (Some(arn), None) => {
            if s.network.nat_gateway == super::NatGateway::None {
                bad(
                    "spec.network.natGateway",
                    "the portal's sign-in needs the function to reach the identity provider and Secrets Manager: expected `single` or `perAz`, found `none`".into(),
                );
            }
            let parts: Vec<&str> = arn.splitn(7, ':').collect();
            if parts.len() < 7
                || parts[0] != "arn"
                || parts[2] != "secretsmanager"
                || parts[5] != "secret"
                || parts[6].is_empty()
            {
                bad(
                    "spec.portal.clientSecret.secretsManager",
                    format!(
                        "expected a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), found `{arn}`"
                    ),
                );
            }
        }
        (None, Some(f)) if f.trim().is_empty() => bad(
            "spec.portal.clientSecret.file",
            "expected a file path".into(),
        ),
        (None, Some(_)) => {}
        _ => bad(
            "spec.portal.clientSecret",
            "expected exactly one of `secretsManager` (AWS) and `file` (authdomain dev)".into(),
        ),
    }
    if p.groups_claim.trim().is_empty() {
        bad("spec.portal.groupsClaim", "expected a claim name".into());
    }
    for (team, groups) in &p.teams {
        if !names::is_team(team) {
            bad(
                &format!("spec.portal.teams.{team}"),
                format!("expected a team name of {}", names::TEAM_RULE),
            );
        }
        if groups.iter().all(|g| g.trim().is_empty()) {
            bad(
                &format!("spec.portal.teams.{team}"),
                "expected at least one group".into(),
            );
        }
    }
    if p.admin_groups.is_empty() && p.teams.is_empty() {
        bad(
            "spec.portal",
            "name `adminGroups` or `teams`: otherwise nobody can sign in".into(),
        );
    }
    if let Some(m) = p.session_minutes
        && !(5..=1440).contains(&m)
    {
        bad(
            "spec.portal.sessionMinutes",
            format!("expected 5 to 1440, found {m}"),
        );
    }
    for (i, r) in s.resource_servers.iter().enumerate() {
        if let Some(t) = &r.team
            && !p.teams.contains_key(t)
        {
            bad(
                &format!("spec.resourceServers[{i}].team"),
                format!("team `{t}` is not in `spec.portal.teams`"),
            );
        }
    }
    for (i, c) in s.clients.iter().enumerate() {
        if let Some(t) = &c.team
            && !p.teams.contains_key(t)
        {
            bad(
                &format!("spec.clients[{i}].team"),
                format!("team `{t}` is not in `spec.portal.teams`"),
            );
        }
    }
}
