//! The authorizer end to end with real parts: the real auth server (in-process, on a
//! loopback socket) issues tokens from its token endpoint; the unchanged `authorizer`
//! binary runs under the real Lambda runtime emulator (`cargo lambda watch`) and answers
//! HTTP API and REST API events built as API Gateway sends them (tests/fixtures). Then a
//! key rotation on the server while requests flow, which must reject nothing.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use authdomain_tests::issuer::LocalIssuer;
use authdomain_tests::lambda_emulator::Emulator;
use authserver::keys::Algorithm;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authorizer");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const ORDERS: &str = "https://orders.example.com";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixture(name: &str, token: Option<&str>) -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let auth = token.map(|t| format!("Bearer {t}"));
    match (v.get_mut("headers"), &auth) {
        (Some(h), Some(a)) => {
            for key in ["authorization", "Authorization"] {
                if h.get(key).is_some() {
                    h[key] = json!(a);
                }
            }
        }
        (Some(h), None) => {
            let h = h.as_object_mut().unwrap();
            h.remove("authorization");
            h.remove("Authorization");
        }
        _ => {}
    }
    if v.get("identitySource").is_some() {
        v["identitySource"] = json!(auth.iter().collect::<Vec<_>>());
    }
    if v.get("authorizationToken").is_some() {
        v["authorizationToken"] = json!(auth.unwrap_or_default());
    }
    if let Some(mv) = v.get_mut("multiValueHeaders") {
        mv["Authorization"] = json!(
            token
                .map(|t| vec![format!("Bearer {t}")])
                .unwrap_or_default()
        );
    }
    v
}

/// The HTTP API event for `method path` (route key given, as API Gateway matched it).
fn http_event(token: Option<&str>, method: &str, route_key: &str, path: &str) -> Value {
    let mut e = fixture("http-api-request.json", token);
    e["routeKey"] = json!(route_key);
    e["requestContext"]["routeKey"] = json!(route_key);
    e["requestContext"]["http"]["method"] = json!(method);
    e["rawPath"] = json!(format!("/prod{path}"));
    e["requestContext"]["http"]["path"] = json!(format!("/prod{path}"));
    e["routeArn"] = json!(format!(
        "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{method}{path}"
    ));
    e
}

fn config(issuer: &str) -> String {
    json!({
        "issuer": issuer,
        "apis": {
            "abc123": {
                "audience": ORDERS,
                "routes": {
                    "GET /orders": ["orders/read"],
                    "GET /orders/{id}": ["orders/read"],
                    "POST /orders": ["orders/write"],
                    "ANY /admin/{proxy+}": ["orders/admin"],
                },
            },
            "def456": {
                "audience": ORDERS,
                "routes": {
                    "GET /orders": ["orders/read"],
                    "GET /orders/{id}": ["orders/read"],
                },
            },
        },
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_allows_and_denies_per_route_and_scope_and_survives_a_rotation() {
    // JWKS cached for 2 s by API Gateway-facing clients: rotations can be tried in seconds.
    let issuer = LocalIssuer::start(Algorithm::RS256, |s| {
        s.jwks_max_age = 2;
        s.key_refresh = Duration::from_millis(200);
    })
    .await;
    issuer
        .resource_server(ORDERS, &["orders/read", "orders/write", "orders/admin"])
        .await;
    issuer
        .resource_server("https://billing.example.com", &["billing/read"])
        .await;
    let (reader, reader_secret) = issuer.client("reader", &["orders/read"]).await;
    let (writer, writer_secret) = issuer
        .client("writer", &["orders/read", "orders/write"])
        .await;
    let (biller, biller_secret) = issuer.client("biller", &["billing/read"]).await;
    let http = reqwest::Client::new();
    let read_token = issuer.token(&http, &reader, &reader_secret, None).await;
    let write_token = issuer.token(&http, &writer, &writer_secret, None).await;
    let billing_token = issuer.token(&http, &biller, &biller_secret, None).await;

    let emulator = Emulator::start("authorizer");
    let function = emulator
        .function_command(Path::new(BIN), "authorizer")
        .env("AUTHORIZER_CONFIG", config(&issuer.issuer))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut function = Running(function);
    // Drained while the test runs: a full pipe would block the function's logging.
    let stderr = function.0.stderr.take().unwrap();
    let drained = std::thread::spawn(move || {
        let mut logs = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut logs).unwrap();
        logs
    });
    let invoke = |event: Value| {
        let (emulator, http) = (&emulator, &http);
        async move { emulator.invoke(http, "authorizer", &event).await }
    };

    // HTTP API (payload 2.0, simple responses).
    let allowed = invoke(http_event(
        Some(&read_token),
        "GET",
        "GET /orders",
        "/orders",
    ))
    .await;
    assert_eq!(allowed.function_error, None, "{:?}", allowed.payload);
    assert_eq!(
        allowed.payload,
        json!({"isAuthorized": true, "context": {"client_id": reader, "scope": "orders/read"}})
    );
    let path_param = invoke(http_event(
        Some(&read_token),
        "GET",
        "GET /orders/{id}",
        "/orders/42",
    ))
    .await;
    assert_eq!(path_param.payload["isAuthorized"], true);
    for (token, method, key, path, why) in [
        (
            Some(read_token.as_str()),
            "POST",
            "POST /orders",
            "/orders",
            "missing orders/write",
        ),
        (
            Some(write_token.as_str()),
            "DELETE",
            "DELETE /orders/{id}",
            "/orders/42",
            "no such route",
        ),
        (
            Some(billing_token.as_str()),
            "GET",
            "GET /orders",
            "/orders",
            "another audience",
        ),
        (None, "GET", "GET /orders", "/orders", "no token"),
        (
            Some("eyJhbGciOiJub25lIn0.e30."),
            "GET",
            "GET /orders",
            "/orders",
            "forged",
        ),
    ] {
        let r = invoke(http_event(token, method, key, path)).await;
        assert_eq!(
            r.payload,
            json!({"isAuthorized": false, "context": {}}),
            "{why}"
        );
    }
    let allowed = invoke(http_event(
        Some(&write_token),
        "POST",
        "POST /orders",
        "/orders",
    ))
    .await;
    assert_eq!(allowed.payload["isAuthorized"], true);
    // The $default route: matched on the path ({proxy+}).
    let admin = invoke(http_event(
        Some(&write_token),
        "PUT",
        "$default",
        "/admin/users/7",
    ))
    .await;
    assert_eq!(
        admin.payload["isAuthorized"], false,
        "writer lacks orders/admin"
    );

    // REST API TOKEN authorizer: a policy for the method ARN, or `Unauthorized` (401).
    let token_event = fixture("rest-token.json", Some(&read_token));
    let r = invoke(token_event.clone()).await;
    assert_eq!(r.payload["principalId"], json!(reader));
    let statement = &r.payload["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "execute-api:Invoke");
    assert_eq!(statement["Resource"], token_event["methodArn"]);
    assert_eq!(
        r.payload["context"],
        json!({"client_id": reader, "scope": "orders/read"})
    );
    let r = invoke(fixture("rest-token.json", Some("not-a-jwt"))).await;
    assert_eq!(
        r.payload,
        json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"})
    );
    let mut post = fixture("rest-token.json", Some(&read_token));
    post["methodArn"] = json!("arn:aws:execute-api:eu-west-1:123456789012:def456/prod/POST/orders");
    let r = invoke(post).await;
    assert_eq!(
        r.payload["policyDocument"]["Statement"][0]["Effect"], "Deny",
        "no POST route on def456"
    );

    // REST API REQUEST authorizer: the resource template picks the route.
    let r = invoke(fixture("rest-request.json", Some(&read_token))).await;
    assert_eq!(
        r.payload["policyDocument"]["Statement"][0]["Effect"],
        "Allow"
    );
    let r = invoke(fixture("rest-request.json", Some(&billing_token))).await;
    assert_eq!(r.payload["errorMessage"], "Unauthorized");

    // A key rotation while requests flow: fresh tokens every few milliseconds, two
    // rotations (each after the next key was published for the JWKS max-age), nothing
    // refused.
    let started = Instant::now();
    let mut rotations = 0;
    let mut checked = 0;
    let mut kids = std::collections::BTreeSet::new();
    while started.elapsed() < Duration::from_secs(9) {
        if (rotations == 0 && started.elapsed() > Duration::from_secs(3))
            || (rotations == 1 && started.elapsed() > Duration::from_secs(6))
        {
            issuer
                .authority
                .rotate_signing_keys(&authdomain_tests::issuer::test_actor(), false)
                .await
                .unwrap();
            rotations += 1;
        }
        let token = issuer.token(&http, &reader, &reader_secret, None).await;
        let kid = token.split('.').next().unwrap().to_owned();
        kids.insert(kid);
        let r = invoke(http_event(Some(&token), "GET", "GET /orders", "/orders")).await;
        assert_eq!(
            r.payload["isAuthorized"], true,
            "refused during the rotation: {:?}",
            r.payload
        );
        // The token issued before the rotations still verifies (its key is published).
        let old = invoke(http_event(
            Some(&read_token),
            "GET",
            "GET /orders",
            "/orders",
        ))
        .await;
        assert_eq!(old.payload["isAuthorized"], true);
        checked += 2;
    }
    assert_eq!(rotations, 2);
    assert_eq!(kids.len(), 3, "tokens were signed by three keys in turn");
    assert!(checked > 40, "{checked} decisions");

    // Logs: JSON lines; no token ever; a denial names its reason and the client id.
    drop(function);
    let logs = drained.join().unwrap();
    for token in [&read_token, &write_token, &billing_token] {
        assert!(!logs.contains(token.as_str()));
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature));
    }
    let denial = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["reason"] == "insufficient scope")
        .expect("a denial for a missing scope is logged");
    assert!(
        denial["fields"]["client_id"]
            .as_str()
            .unwrap()
            .contains(&reader)
    );
    assert_eq!(denial["fields"]["missing"], "orders/write");
}
