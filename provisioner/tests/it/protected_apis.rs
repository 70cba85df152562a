//! `spec.protectedApis` against a real moto server (with tests/moto_server.py's
//! GetAuthorizers and route-reset fixes): a team's own HTTP API, made here with its routes,
//! integration and an authorizer of its own, is protected with the built-in JWT authorizer
//! and with the Lambda authorizer; plan-time errors name the field; a route changed by hand
//! is drift; removing an API from the spec and destroying the domain detach only what the
//! domain made and leave the team's API whole.

use std::collections::BTreeMap;

use authdomain_core::plan::Action;
use authdomain_core::spec::{self, Architecture, AuthDomainManifest};
use aws_sdk_apigatewayv2::types::{
    AuthorizationType, AuthorizerType, IntegrationType, ProtocolType,
};
use provisioner::aws::Aws;
use provisioner::image::{self, Program, registry::Registry};
use provisioner::reconcile;

/// The smallest ELF header for arm64: these tests never run the functions.
fn stand_in_binary(tag: &str) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[18..20].copy_from_slice(&0xB7u16.to_le_bytes());
    b.extend_from_slice(tag.as_bytes());
    b
}

async fn push(aws: &Aws, repository: &str, program: Program) -> String {
    let binary = stand_in_binary(program.binary_name());
    let image = image::assemble_program(program, &binary, Architecture::Arm64, "test").unwrap();
    let registry = Registry::connect(aws, &format!("registry.test/{repository}"))
        .await
        .unwrap();
    registry
        .push(repository, &image, None)
        .await
        .unwrap()
        .digest
}

/// The team's API as a team would have made it: three routes to an HTTP integration, and
/// an authorizer of its own on one of them.
struct TeamApi {
    id: String,
    integration: String,
    own_authorizer: String,
}

async fn team_api(aws: &Aws, name: &str) -> TeamApi {
    let gw = &aws.apigw;
    let api = gw
        .create_api()
        .name(name)
        .protocol_type(ProtocolType::Http)
        .send()
        .await
        .unwrap();
    let id = api.api_id().unwrap().to_owned();
    let integration = gw
        .create_integration()
        .api_id(&id)
        .integration_type(IntegrationType::HttpProxy)
        .integration_method("ANY")
        .integration_uri("https://orders.internal.example.com")
        .payload_format_version("1.0")
        .send()
        .await
        .unwrap()
        .integration_id()
        .unwrap()
        .to_owned();
    let own_authorizer = gw
        .create_authorizer()
        .api_id(&id)
        .name("team-own")
        .authorizer_type(AuthorizerType::Jwt)
        .identity_source("$request.header.Authorization")
        .jwt_configuration(
            aws_sdk_apigatewayv2::types::JwtConfiguration::builder()
                .issuer("https://login.example.com")
                .audience("team")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .authorizer_id()
        .unwrap()
        .to_owned();
    for key in ["GET /orders", "POST /orders", "GET /health", "GET /team"] {
        let mut route = gw
            .create_route()
            .api_id(&id)
            .route_key(key)
            .target(format!("integrations/{integration}"));
        if key == "GET /team" {
            route = route
                .authorization_type(AuthorizationType::Jwt)
                .authorizer_id(&own_authorizer);
        }
        route.send().await.unwrap();
    }
    TeamApi {
        id,
        integration,
        own_authorizer,
    }
}

/// Each route of the team's API: (authorization type, authorizer id, scopes, target).
async fn routes(aws: &Aws, api: &str) -> BTreeMap<String, (String, String, Vec<String>, String)> {
    aws.apigw
        .get_routes()
        .api_id(api)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|r| {
            let mut scopes = r.authorization_scopes().to_vec();
            scopes.sort();
            (
                r.route_key().unwrap().to_owned(),
                (
                    r.authorization_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_else(|| "NONE".into()),
                    r.authorizer_id().unwrap_or_default().to_owned(),
                    scopes,
                    r.target().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

async fn authorizers(aws: &Aws, api: &str) -> Vec<(String, String)> {
    let all = aws
        .apigw
        .get_authorizers()
        .api_id(api)
        .send()
        .await
        .unwrap();
    let mut v: Vec<(String, String)> = all
        .items()
        .iter()
        .map(|a| {
            (
                a.name().unwrap_or_default().to_owned(),
                a.authorizer_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn manifest(name: &str, digest: &str, extra: &str) -> AuthDomainManifest {
    spec::load_str(
        &format!(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: {name}\nspec:\n  region: eu-west-1\n  database:\n    deletionProtection: false\n    finalSnapshot: false\n  image:\n    digest: {digest}\n  resourceServers:\n    - identifier: https://orders.example.com\n      scopes: [{{name: 'orders:read'}}, {{name: 'orders:write'}}]\n{extra}"
        ),
        "test.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn protecting(api: &str, mode: &str, routes: &[(&str, &str)]) -> String {
    let mut s = format!(
        "  protectedApis:\n    - name: orders\n      apiId: {api}\n      mode: {mode}\n      identifier: https://orders.example.com\n      routes:\n"
    );
    for (route, scope) in routes {
        s.push_str(&format!(
            "        - route: {route}\n          scopes: ['{scope}']\n"
        ));
    }
    s
}

/// The plan of the AWS resources: the spec's registrations (resource servers, clients)
/// wait for a read model that only a running function publishes, which these tests never
/// start.
async fn aws_plan(
    aws: &Aws,
    m: &AuthDomainManifest,
) -> (
    authdomain_core::plan::Plan,
    Vec<authdomain_core::plan::Observed>,
) {
    let (plan, observed) = reconcile::plan(aws, m).await.unwrap();
    let plan = authdomain_core::plan::Plan {
        changes: plan
            .changes
            .into_iter()
            .filter(|c| c.resource.kind.service() != authdomain_core::plan::Service::Registrations)
            .collect(),
    };
    (plan, observed)
}

async fn converge(aws: &Aws, m: &AuthDomainManifest) -> authdomain_core::plan::Plan {
    let (plan, observed) = aws_plan(aws, m).await;
    reconcile::apply(aws, m, &plan, &observed, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plan
}

fn find<'a>(
    plan: &'a authdomain_core::plan::Plan,
    id: &str,
) -> Option<&'a authdomain_core::plan::Change> {
    plan.changes.iter().find(|c| c.resource.to_string() == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_mode_protects_the_listed_routes_reports_drift_and_detaches_only_its_own() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = authdomain_tests::aws::moto(
        &account,
        "eu-west-1",
        authdomain_tests::registry::shared().url(),
    )
    .await;
    let team = team_api(&aws, "orders-team").await;
    let digest = push(&aws, "jwtdemo-authserver", Program::AuthServer).await;
    let routes_jwt = [
        ("GET /orders", "orders:read"),
        ("POST /orders", "orders:write"),
    ];
    let m = manifest(
        "jwtdemo",
        &digest,
        &protecting(&team.id, "jwt", &routes_jwt),
    );

    // Plan-time errors name the field: an API that does not exist, a route it lacks.
    let err = reconcile::plan(
        &aws,
        &manifest(
            "jwtdemo",
            &digest,
            &protecting("nosuchapi1", "jwt", &routes_jwt),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.resource, "spec.protectedApis[0].apiId", "{err}");
    assert!(err.message.contains("no HTTP API `nosuchapi1`"), "{err}");
    let err = reconcile::plan(
        &aws,
        &manifest(
            "jwtdemo",
            &digest,
            &protecting(
                &team.id,
                "jwt",
                &[
                    ("GET /orders", "orders:read"),
                    ("DELETE /orders", "orders:write"),
                ],
            ),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.resource, "spec.protectedApis[0].routes[1].route",
        "{err}"
    );
    assert!(
        err.message.contains("has no route `DELETE /orders`")
            && err
                .message
                .contains("GET /health, GET /orders, GET /team, POST /orders"),
        "{err}"
    );

    // 1. The plan creates the authorizer and sets the two routes' authorization (they are
    //    the team's: an update, never a create or delete of the route).
    let plan = converge(&aws, &m).await;
    let auth = find(&plan, "api-authorizer/orders").expect("authorizer planned");
    assert_eq!(auth.action, Action::Create);
    let get = find(&plan, "route-authorization/orders/GET /orders").unwrap();
    assert_eq!(get.action, Action::Update);
    assert!(
        get.touches("authorization-type") && get.touches("scopes"),
        "{get:?}"
    );
    assert!(find(&plan, "route-authorization/orders/GET /health").is_none());

    let after = routes(&aws, &team.id).await;
    let ours = authorizers(&aws, &team.id).await;
    let ours_id = ours
        .iter()
        .find(|(n, _)| n == "authdomain.jwtdemo.orders")
        .map(|(_, id)| id.clone())
        .expect("our authorizer, by name");
    let target = format!("integrations/{}", team.integration);
    assert_eq!(
        after["GET /orders"],
        (
            "JWT".into(),
            ours_id.clone(),
            vec!["orders:read".into()],
            target.clone()
        )
    );
    assert_eq!(
        after["POST /orders"],
        (
            "JWT".into(),
            ours_id.clone(),
            vec!["orders:write".into()],
            target.clone()
        )
    );
    assert_eq!(
        after["GET /health"],
        ("NONE".into(), String::new(), vec![], target.clone())
    );
    assert_eq!(
        after["GET /team"].1, team.own_authorizer,
        "the team's authorizer stays"
    );
    // Issuer and audience are the domain's.
    let a = aws
        .apigw
        .get_authorizer()
        .api_id(&team.id)
        .authorizer_id(&ours_id)
        .send()
        .await
        .unwrap();
    let observed = reconcile::observe(&aws, &m).await.unwrap();
    let issuer = authdomain_core::plan::outputs(&m, &observed)["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt = a.jwt_configuration().unwrap();
    assert_eq!(jwt.issuer(), Some(issuer.as_str()));
    assert_eq!(jwt.audience(), ["https://orders.example.com"]);
    assert_eq!(a.identity_source(), ["$request.header.Authorization"]);

    // 2. Converged: nothing to do, no mutating call.
    aws.calls.reset();
    let (plan, _) = aws_plan(&aws, &m).await;
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(aws.calls.mutating(), 0);

    // 3. Someone removes the authorization of a route by hand: drift, repaired by apply.
    let get_id = aws
        .apigw
        .get_routes()
        .api_id(&team.id)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .find(|r| r.route_key() == Some("GET /orders"))
        .and_then(|r| r.route_id().map(str::to_owned))
        .unwrap();
    aws.apigw
        .update_route()
        .api_id(&team.id)
        .route_id(&get_id)
        .authorization_type(AuthorizationType::None)
        .authorizer_id("")
        .set_authorization_scopes(Some(Vec::new()))
        .send()
        .await
        .unwrap();
    let (plan, _) = aws_plan(&aws, &m).await;
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    let drift = authdomain_core::drift::table("jwtdemo", &plan);
    assert!(
        drift.contains("route-authorization/orders/GET /orders")
            && drift.contains("authorization-type"),
        "{drift}"
    );
    converge(&aws, &m).await;
    assert_eq!(routes(&aws, &team.id).await["GET /orders"].0, "JWT");

    // 4. The API leaves the spec: found through the record on the domain's API, detached,
    //    its authorizer deleted; the team's routes, integration and authorizer stay.
    let without = manifest("jwtdemo", &digest, "");
    let plan = converge(&aws, &without).await;
    assert_eq!(
        find(&plan, "route-authorization/orders/GET /orders").map(|c| c.action),
        Some(Action::Delete)
    );
    assert_eq!(
        find(&plan, "api-authorizer/orders").map(|c| c.action),
        Some(Action::Delete)
    );
    let after = routes(&aws, &team.id).await;
    assert_eq!(
        after["GET /orders"],
        ("NONE".into(), String::new(), vec![], target.clone())
    );
    assert_eq!(after["GET /team"].1, team.own_authorizer);
    assert_eq!(after.len(), 4);
    assert_eq!(
        authorizers(&aws, &team.id).await,
        [("team-own".to_owned(), team.own_authorizer.clone())]
    );
    let (plan, _) = aws_plan(&aws, &without).await;
    assert!(plan.is_empty(), "{plan:#?}");

    // 5. Protected again, then the whole domain destroyed: the team's API is whole.
    converge(&aws, &m).await;
    let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    assert!(
        destroy.changes.iter().all(|c| c.action == Action::Delete),
        "{destroy:#?}"
    );
    reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = routes(&aws, &team.id).await;
    assert_eq!(after.len(), 4);
    for key in ["GET /orders", "POST /orders", "GET /health"] {
        assert_eq!(
            after[key],
            ("NONE".into(), String::new(), vec![], target.clone()),
            "{key}"
        );
    }
    assert_eq!(after["GET /team"].1, team.own_authorizer);
    assert_eq!(authorizers(&aws, &team.id).await.len(), 1);
    let integrations = aws
        .apigw
        .get_integrations()
        .api_id(&team.id)
        .send()
        .await
        .unwrap();
    assert_eq!(integrations.items().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_mode_deploys_the_authorizer_function_with_a_permission_for_that_authorizer_only() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = authdomain_tests::aws::moto(
        &account,
        "eu-west-1",
        authdomain_tests::registry::shared().url(),
    )
    .await;
    let team = team_api(&aws, "orders-team").await;
    let digest = push(&aws, "lamdemo-authserver", Program::AuthServer).await;
    let authorizer_digest = push(&aws, "lamdemo-authserver", Program::Authorizer).await;
    let extra = format!(
        "  tokens:\n    algorithm: ES256\n  authorizer:\n    digest: {authorizer_digest}\n{}",
        protecting(&team.id, "lambda", &[("GET /orders", "orders:read")])
    );
    let m = manifest("lamdemo", &digest, &extra);
    converge(&aws, &m).await;

    let function = aws
        .lambda
        .get_function()
        .function_name("lamdemo-authorizer")
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    assert!(
        config
            .vpc_config()
            .is_none_or(|v| v.subnet_ids().is_empty())
    );
    assert!(
        function
            .code()
            .and_then(|c| c.image_uri())
            .unwrap()
            .ends_with(&authorizer_digest)
    );
    let env = config.environment().unwrap().variables().unwrap();
    let authorizer_config: serde_json::Value =
        serde_json::from_str(&env["AUTHORIZER_CONFIG"]).unwrap();
    assert_eq!(
        authorizer_config["algorithms"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        authorizer_config["apis"][&team.id]["routes"]["GET /orders"],
        serde_json::json!(["orders:read"])
    );
    // The configuration is one the authorizer itself accepts.
    let parsed = authdomain_authorizer::Config::from_json(&env["AUTHORIZER_CONFIG"])
        .unwrap_or_else(|e| panic!("{e}"));
    for api in parsed.apis.values() {
        authdomain_authorizer::routes::RouteTable::new(&api.routes).unwrap();
    }

    let ours = authorizers(&aws, &team.id).await;
    let (_, ours_id) = ours
        .iter()
        .find(|(n, _)| n == "authdomain.lamdemo.orders")
        .unwrap();
    let a = aws
        .apigw
        .get_authorizer()
        .api_id(&team.id)
        .authorizer_id(ours_id)
        .send()
        .await
        .unwrap();
    assert_eq!(a.authorizer_type(), Some(&AuthorizerType::Request));
    assert_eq!(a.enable_simple_responses(), Some(true));
    assert!(
        a.authorizer_uri()
            .unwrap()
            .contains(config.function_arn().unwrap())
    );
    let route = &routes(&aws, &team.id).await["GET /orders"];
    assert_eq!(
        (route.0.as_str(), route.1.as_str()),
        ("CUSTOM", ours_id.as_str())
    );

    // API Gateway may invoke the function for this authorizer only.
    let policy = aws
        .lambda
        .get_policy()
        .function_name("lamdemo-authorizer")
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Sid"], "authdomain-authorizer-orders");
    assert!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{}/authorizers/{ours_id}", team.id)),
        "{statement}"
    );
    let (plan, _) = aws_plan(&aws, &m).await;
    assert!(plan.is_empty(), "{plan:#?}");

    // Destroy removes the function, its role and the authorizer; the team's API stays.
    let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    for id in [
        "function/authorizer",
        "iam-role/authorizer",
        "api-authorizer/orders",
    ] {
        assert!(find(&destroy, id).is_some(), "{id} not in {destroy:#?}");
    }
    reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        aws.lambda
            .get_function()
            .function_name("lamdemo-authorizer")
            .send()
            .await
            .is_err()
    );
    assert_eq!(routes(&aws, &team.id).await["GET /orders"].0, "NONE");
    assert_eq!(authorizers(&aws, &team.id).await.len(), 1);
}

/// A team's REST API: `/orders` (GET, POST) and `/orders/{id}` (GET), mock integrations,
/// deployed to `prod`.
async fn team_rest_api(aws: &Aws) -> (String, BTreeMap<String, String>) {
    let gw = &aws.apigw_rest;
    let api = gw
        .create_rest_api()
        .name("orders-rest")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let root = gw
        .get_resources()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap()
        .items()[0]
        .id()
        .unwrap()
        .to_owned();
    let mut ids = BTreeMap::new();
    let orders = gw
        .create_resource()
        .rest_api_id(&api)
        .parent_id(&root)
        .path_part("orders")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let one = gw
        .create_resource()
        .rest_api_id(&api)
        .parent_id(&orders)
        .path_part("{id}")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    for (resource, path, verb) in [
        (&orders, "/orders", "GET"),
        (&orders, "/orders", "POST"),
        (&one, "/orders/{id}", "GET"),
    ] {
        gw.put_method()
            .rest_api_id(&api)
            .resource_id(resource)
            .http_method(verb)
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        gw.put_integration()
            .rest_api_id(&api)
            .resource_id(resource)
            .http_method(verb)
            .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
            .send()
            .await
            .unwrap();
        ids.insert(format!("{verb} {path}"), resource.clone());
    }
    gw.create_deployment()
        .rest_api_id(&api)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    (api, ids)
}

async fn method(aws: &Aws, api: &str, resource: &str, verb: &str) -> (String, Option<String>) {
    let m = aws
        .apigw_rest
        .get_method()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(verb)
        .send()
        .await
        .unwrap();
    (
        m.authorization_type().unwrap_or("NONE").to_owned(),
        m.authorizer_id().map(str::to_owned),
    )
}

async fn deployments(aws: &Aws, api: &str) -> usize {
    aws.apigw_rest
        .get_deployments()
        .rest_api_id(api)
        .send()
        .await
        .unwrap()
        .items()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_api_gets_a_token_authorizer_on_the_listed_methods_and_one_deployment_per_apply() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = authdomain_tests::aws::moto(
        &account,
        "eu-west-1",
        authdomain_tests::registry::shared().url(),
    )
    .await;
    let (api, resources) = team_rest_api(&aws).await;
    let digest = push(&aws, "restdemo-authserver", Program::AuthServer).await;
    let authorizer_digest = push(&aws, "restdemo-authserver", Program::Authorizer).await;
    let extra = |routes: &str| {
        format!(
            "  authorizer:\n    digest: {authorizer_digest}\n  protectedApis:\n    - name: orders\n      apiId: {api}\n      apiType: rest\n      stage: prod\n      mode: lambda\n      identifier: https://orders.example.com\n      routes:\n{routes}"
        )
    };
    let listed = "        - route: GET /orders\n          scopes: ['orders:read']\n        - route: GET /orders/{id}\n          scopes: ['orders:read']\n";
    let m = manifest("restdemo", &digest, &extra(listed));

    // A method the API does not have is an error naming the field and listing the methods.
    let err = reconcile::plan(
        &aws,
        &manifest(
            "restdemo",
            &digest,
            &extra("        - route: DELETE /orders\n"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.resource, "spec.protectedApis[0].routes[0].route",
        "{err}"
    );
    assert!(
        err.message
            .contains("GET /orders, GET /orders/{id}, POST /orders"),
        "{err}"
    );

    let before = deployments(&aws, &api).await;
    converge(&aws, &m).await;
    assert_eq!(
        deployments(&aws, &api).await,
        before + 1,
        "two methods changed, one deployment"
    );
    let all = aws
        .apigw_rest
        .get_authorizers()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    let ours = all
        .items()
        .iter()
        .find(|a| a.name() == Some("authdomain.restdemo.orders"))
        .expect("our authorizer");
    assert_eq!(
        ours.r#type(),
        Some(&aws_sdk_apigateway::types::AuthorizerType::Token)
    );
    assert_eq!(
        ours.identity_source(),
        Some("method.request.header.Authorization")
    );
    assert_eq!(
        ours.authorizer_result_ttl_in_seconds(),
        Some(0),
        "not cached"
    );
    let ours_id = ours.id().unwrap().to_owned();
    for key in ["GET /orders", "GET /orders/{id}"] {
        let (verb, _) = key.split_once(' ').unwrap();
        assert_eq!(
            method(&aws, &api, &resources[key], verb).await,
            ("CUSTOM".into(), Some(ours_id.clone())),
            "{key}"
        );
    }
    assert_eq!(
        method(&aws, &api, &resources["POST /orders"], "POST").await,
        ("NONE".into(), None),
        "not listed: untouched"
    );
    // The authorizer function's configuration names the REST API.
    let env = aws
        .lambda
        .get_function()
        .function_name("restdemo-authorizer")
        .send()
        .await
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &env.configuration()
            .unwrap()
            .environment()
            .unwrap()
            .variables()
            .unwrap()["AUTHORIZER_CONFIG"],
    )
    .unwrap();
    assert_eq!(
        config["apis"][&api]["routes"]["GET /orders/{id}"],
        serde_json::json!(["orders:read"])
    );

    // Converged: no change, no deployment.
    let (plan, _) = aws_plan(&aws, &m).await;
    assert!(plan.is_empty(), "{plan:#?}");

    // Removed from the spec: the methods are detached, the authorizer deleted, and the
    // stage redeployed once more, from the stage recorded on the domain's API.
    let without = manifest("restdemo", &digest, "");
    converge(&aws, &without).await;
    assert_eq!(deployments(&aws, &api).await, before + 2);
    for key in ["GET /orders", "GET /orders/{id}"] {
        let (verb, _) = key.split_once(' ').unwrap();
        assert_eq!(
            method(&aws, &api, &resources[key], verb).await.0,
            "NONE",
            "{key}"
        );
    }
    let left = aws
        .apigw_rest
        .get_authorizers()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    assert!(left.items().is_empty());
    let (plan, _) = aws_plan(&aws, &without).await;
    assert!(plan.is_empty(), "{plan:#?}");
}
