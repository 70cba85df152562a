//! Reconciles against a scripted API server (the controller-rs `fixtures.rs` style): a
//! `tower-test` mock stands in for kube-apiserver and the test checks every request the
//! reconciler makes, in order, and answers it. Exact calls for paths where the real
//! cluster test cannot see the wire: what is read, what status is written, which events.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use operator::controllers::{Config, Context};
use operator::crd::{AuthDomain, OAuthClient};
use operator::telemetry::Metrics;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn context(client: kube::Client) -> Arc<Context> {
    let config = Config {
        namespace: "authdomain-system".into(),
        drift_interval: Duration::from_secs(1800),
        aws_endpoint_url: None,
        moto_account: None,
        registry_url: None,
        rate_limits: provisioner::aws::RateLimits::new(5.0),
        auth_server_urls: Default::default(),
    };
    Arc::new(Context::new(client, config, Metrics::install(), "test"))
}

fn mocked() -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

async fn next(
    handle: &mut Handle,
    method: Method,
    path: &str,
) -> (Value, tower_test::mock::SendResponse<Response<Body>>) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("expected {method} {path}, but no request came"))
        .unwrap_or_else(|| panic!("expected {method} {path}, but the reconciler finished"));
    assert_eq!(request.method(), method, "for {}", request.uri());
    assert_eq!(request.uri().path(), path);
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (body, send)
}

fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

fn client(namespace: &str) -> OAuthClient {
    serde_json::from_value(json!({
        "apiVersion": "authdomain.io/v1alpha1",
        "kind": "OAuthClient",
        "metadata": {
            "name": "reader", "namespace": namespace, "uid": "0b7c2c8e-0000-4000-8000-000000000001",
            "generation": 3, "resourceVersion": "10",
            "finalizers": ["authdomain.io/client-registration"]
        },
        "spec": {"domain": "orders", "scopes": ["orders:read"]}
    }))
    .unwrap()
}

fn domain(ready: bool) -> Value {
    let mut d = json!({
        "apiVersion": "authdomain.io/v1alpha1",
        "kind": "AuthDomain",
        "metadata": {"name": "orders", "uid": "d", "generation": 1, "resourceVersion": "5"},
        "spec": {
            "region": "eu-west-1",
            "image": {"tag": "v1"},
            "resourceServers": [{"identifier": "https://orders", "scopes": [{"name": "orders:read"}]}],
            "operator": {"clientAccess": [{"namespaces": ["team-a"], "scopes": ["orders:read"]}]}
        }
    });
    if ready {
        d["status"] = json!({"outputs": {"issuer": "https://orders.example", "tokenUrl": "https://orders.example/oauth2/token"}});
    }
    d
}

#[tokio::test]
async fn scripted_a_forbidden_namespace_gets_a_forbidden_condition_and_one_warning_and_nothing_else()
 {
    let (kube, mut api) = mocked();
    let ctx = context(kube);
    let reconcile = tokio::spawn(operator::controllers::oauthclient::reconcile(
        Arc::new(client("team-b")),
        ctx,
    ));
    // The status the reconcile works from, read as stored.
    let (_, send) = next(
        &mut api,
        Method::GET,
        "/apis/authdomain.io/v1alpha1/namespaces/team-b/oauthclients/reader/status",
    )
    .await;
    respond(send, 200, serde_json::to_value(client("team-b")).unwrap());

    let (_, send) = next(
        &mut api,
        Method::GET,
        "/apis/authdomain.io/v1alpha1/authdomains/orders",
    )
    .await;
    respond(send, 200, domain(true));
    let (status, send) = next(
        &mut api,
        Method::PATCH,
        "/apis/authdomain.io/v1alpha1/namespaces/team-b/oauthclients/reader/status",
    )
    .await;
    let ready = &status["status"]["conditions"][0];
    assert_eq!(ready["type"], "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "Forbidden");
    assert_eq!(ready["observedGeneration"], 3);
    assert!(
        ready["message"].as_str().unwrap().contains("`orders:read`"),
        "{ready}"
    );
    respond(send, 200, serde_json::to_value(client("team-b")).unwrap());
    let (event, send) = next(&mut api, Method::POST, "/api/v1/namespaces/team-b/events").await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "Forbidden");
    assert_eq!(event["involvedObject"]["name"], "reader");
    respond(send, 201, event.clone());

    let action = reconcile.await.unwrap().unwrap();
    // Terminal: wait for a change to the OAuthClient or its domain, no timed retry.
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    let more = tokio::time::timeout(Duration::from_millis(200), api.next_request()).await;
    assert!(
        matches!(more, Err(_) | Ok(None)),
        "no other call (no admin API, no Secret)"
    );
}

#[tokio::test]
async fn scripted_a_domain_not_ready_yet_is_waited_for_with_a_requeue() {
    let (kube, mut api) = mocked();
    let ctx = context(kube);
    let reconcile = tokio::spawn(operator::controllers::oauthclient::reconcile(
        Arc::new(client("team-a")),
        ctx,
    ));
    // The status the reconcile works from, read as stored.
    let (_, send) = next(
        &mut api,
        Method::GET,
        "/apis/authdomain.io/v1alpha1/namespaces/team-a/oauthclients/reader/status",
    )
    .await;
    respond(send, 200, serde_json::to_value(client("team-a")).unwrap());
    let (_, send) = next(
        &mut api,
        Method::GET,
        "/apis/authdomain.io/v1alpha1/authdomains/orders",
    )
    .await;
    respond(send, 200, domain(false));
    let (status, send) = next(
        &mut api,
        Method::PATCH,
        "/apis/authdomain.io/v1alpha1/namespaces/team-a/oauthclients/reader/status",
    )
    .await;
    assert_eq!(
        status["status"]["conditions"][0]["reason"],
        "DomainNotReady"
    );
    respond(send, 200, serde_json::to_value(client("team-a")).unwrap());
    let (event, send) = next(&mut api, Method::POST, "/api/v1/namespaces/team-a/events").await;
    assert_eq!(event["reason"], "DomainNotReady");
    respond(send, 201, event.clone());
    let action = reconcile.await.unwrap().unwrap();
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(Duration::from_secs(20))
    );
}

#[tokio::test]
async fn scripted_a_new_oauthclient_gets_the_finalizer_before_anything_else() {
    let (kube, mut api) = mocked();
    let ctx = context(kube);
    let mut oc = client("team-a");
    oc.metadata.finalizers = None;
    let reconcile = tokio::spawn(operator::controllers::oauthclient::reconcile(
        Arc::new(oc),
        ctx,
    ));
    let (patch, send) = next(
        &mut api,
        Method::PATCH,
        "/apis/authdomain.io/v1alpha1/namespaces/team-a/oauthclients/reader",
    )
    .await;
    let text = patch.to_string();
    assert!(text.contains("authdomain.io/client-registration"), "{text}");
    let mut patched = serde_json::to_value(client("team-a")).unwrap();
    patched["metadata"]["resourceVersion"] = json!("11");
    respond(send, 200, patched);
    let action = reconcile.await.unwrap().unwrap();
    assert_eq!(action, kube::runtime::controller::Action::await_change());
}

#[test]
fn the_authdomain_crd_type_is_the_provisioners_spec() {
    let d: AuthDomain = serde_json::from_value(domain(true)).unwrap();
    assert_eq!(d.spec.0.region, "eu-west-1");
    assert_eq!(d.spec.0.operator.client_access[0].namespaces, ["team-a"]);
    // Defaults apply as in the CLI's file.
    assert_eq!(d.spec.0.function.timeout, 29);
}
