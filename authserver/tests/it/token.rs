//! The token endpoint over a real socket: RFC 6749 §4.4 / §5, RFC 9068 tokens, RFC 8707.

use authdomain_api::ClientInput;
use authserver::keys::Algorithm;
use serde_json::Value;

use crate::support::{Backend, TestServer, jwt_parts, on_both_backends, verify_with_jwks};

on_both_backends!(
    issues_rfc9068_tokens_for_every_algorithm,
    client_secret_post_and_connect_alias,
    scopes_defaults_and_resources,
    errors_follow_rfc6749,
    per_client_ttl,
    issuing_performs_no_database_write,
    failed_authentications_are_throttled,
    client_without_grant_is_unauthorized,
);

async fn issues_rfc9068_tokens_for_every_algorithm(backend: Backend) {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let s = TestServer::start_with(backend, alg, |_| {}).await;
        let (id, secret) = s.standard().await;
        let resp = s
            .token_basic(
                &id,
                &secret,
                &[("grant_type", "client_credentials"), ("scope", "read")],
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["pragma"], "no-cache");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read");
        let token = body["access_token"].as_str().unwrap();
        let (header, claims) = jwt_parts(token);
        assert_eq!(header["typ"], "at+jwt", "{alg}");
        assert_eq!(header["alg"], alg.as_str());
        assert!(header["kid"].is_string());
        for claim in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
        ] {
            assert!(
                claims.get(claim).is_some(),
                "{alg}: claim {claim} missing in {claims}"
            );
        }
        assert_eq!(claims["iss"], s.base);
        assert_eq!(claims["sub"], id);
        assert_eq!(claims["client_id"], id);
        assert_eq!(claims["aud"], "https://api.example.com");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
        // Verified by an independent JOSE implementation against the published JWKS.
        let verified = verify_with_jwks(token, &s.jwks().await, &s.base, "https://api.example.com");
        assert_eq!(verified["scope"], "read");
        // Every token has its own jti.
        let other = s
            .access_token(
                &id,
                &secret,
                &[("grant_type", "client_credentials"), ("scope", "read")],
            )
            .await;
        assert_ne!(jwt_parts(&other).1["jti"], claims["jti"]);
    }
}

async fn client_secret_post_and_connect_alias(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let (id, secret) = s
        .client(ClientInput {
            name: "poster".into(),
            scopes: vec!["read".into()],
            token_endpoint_auth_method: Some("client_secret_post".into()),
            ..Default::default()
        })
        .await;
    for path in ["/oauth2/token", "/connect/token"] {
        let resp = s
            .http
            .post(s.url(path))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // Registered for post: Basic is refused, naming the registered method.
    let resp = s
        .token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client_secret_post"),
        "{body}"
    );
}

async fn scopes_defaults_and_resources(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.resource_server(
        "https://orders.example.com",
        &["orders:read", "orders:write"],
    )
    .await;
    s.resource_server("https://billing.example.com", &["billing:read"])
        .await;
    let (id, secret) = s
        .client(ClientInput {
            name: "multi".into(),
            scopes: vec![
                "orders:read".into(),
                "orders:write".into(),
                "billing:read".into(),
            ],
            default_scopes: Some(vec!["orders:read".into(), "billing:read".into()]),
            ..Default::default()
        })
        .await;
    let cc = ("grant_type", "client_credentials");

    // No scope: the defaults, with the audiences they imply.
    let t = s.access_token(&id, &secret, &[cc]).await;
    let (_, c) = jwt_parts(&t);
    assert_eq!(c["scope"], "orders:read billing:read");
    assert_eq!(
        c["aud"],
        serde_json::json!(["https://orders.example.com", "https://billing.example.com"])
    );

    // Two APIs: aud is an array of both.
    let t = s
        .access_token(&id, &secret, &[cc, ("scope", "orders:write billing:read")])
        .await;
    let (_, c) = jwt_parts(&t);
    assert_eq!(
        c["aud"],
        serde_json::json!(["https://orders.example.com", "https://billing.example.com"])
    );

    // RFC 8707 resource narrows the defaults' audience; repeated resource is allowed.
    let t = s
        .access_token(
            &id,
            &secret,
            &[cc, ("resource", "https://billing.example.com")],
        )
        .await;
    let (_, c) = jwt_parts(&t);
    assert_eq!(
        (c["scope"].as_str(), c["aud"].as_str()),
        (Some("billing:read"), Some("https://billing.example.com"))
    );
    let t = s
        .access_token(
            &id,
            &secret,
            &[
                cc,
                ("resource", "https://billing.example.com"),
                ("resource", "https://orders.example.com"),
            ],
        )
        .await;
    assert_eq!(jwt_parts(&t).1["aud"].as_array().unwrap().len(), 2);

    let expect = |status: u16, error: &'static str| {
        move |resp: (u16, Value)| {
            assert_eq!(resp.0, status, "{}", resp.1);
            assert_eq!(resp.1["error"], error, "{}", resp.1);
        }
    };
    async fn call(s: &TestServer, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = s.token_basic(id, secret, form).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }
    expect(400, "invalid_scope")(call(&s, &id, &secret, &[cc, ("scope", "admin")]).await);
    expect(400, "invalid_target")(
        call(
            &s,
            &id,
            &secret,
            &[cc, ("resource", "https://unknown.example.com")],
        )
        .await,
    );
    expect(400, "invalid_target")(
        call(&s, &id, &secret, &[cc, ("resource", "not-absolute")]).await,
    );
    expect(400, "invalid_scope")(
        call(
            &s,
            &id,
            &secret,
            &[
                cc,
                ("scope", "orders:read"),
                ("resource", "https://billing.example.com"),
            ],
        )
        .await,
    );
}

async fn errors_follow_rfc6749(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let token_url = s.url("/oauth2/token");

    // Wrong secret with Basic: 401 + WWW-Authenticate.
    let r = s
        .token_basic(
            &id,
            "Zx9-presented-secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        !body.to_string().contains("Zx9-presented"),
        "the presented secret is never echoed"
    );

    // Wrong secret in the body: 401 without a Basic challenge.
    let r = s
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_none());

    let raw = |body: &'static str, content_type: Option<&'static str>, auth: Option<String>| {
        let mut req = s.http.post(&token_url).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("every error is JSON");
            (status, body)
        }
    };
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    );
    let form = Some("application/x-www-form-urlencoded");
    let cases: Vec<(u16, &str, &str, (u16, Value))> = vec![
        (
            400,
            "unsupported_grant_type",
            "password",
            raw("grant_type=password", form, Some(basic.clone())).await,
        ),
        (
            400,
            "invalid_request",
            "`grant_type` is required",
            raw("scope=read", form, Some(basic.clone())).await,
        ),
        (
            400,
            "invalid_request",
            "Content-Type",
            raw(
                "grant_type=client_credentials",
                Some("application/json"),
                Some(basic.clone()),
            )
            .await,
        ),
        (
            400,
            "invalid_request",
            "Content-Type",
            raw("grant_type=client_credentials", None, Some(basic.clone())).await,
        ),
        (
            400,
            "invalid_request",
            "more than once",
            raw(
                "grant_type=client_credentials&scope=read&scope=write",
                form,
                Some(basic.clone()),
            )
            .await,
        ),
        (
            400,
            "invalid_request",
            "hexadecimal",
            raw(
                "grant_type=client_credentials&scope=%zz",
                form,
                Some(basic.clone()),
            )
            .await,
        ),
        (
            401,
            "invalid_client",
            "base64",
            raw(
                "grant_type=client_credentials",
                form,
                Some("Basic ***".into()),
            )
            .await,
        ),
        (
            401,
            "invalid_client",
            "Basic scheme",
            raw(
                "grant_type=client_credentials",
                form,
                Some("Bearer x".into()),
            )
            .await,
        ),
        (
            401,
            "invalid_client",
            "authentication is required",
            raw("grant_type=client_credentials", form, None).await,
        ),
        (
            400,
            "invalid_request",
            "more than one authentication method",
            raw(
                "grant_type=client_credentials&client_secret=x",
                form,
                Some(basic.clone()),
            )
            .await,
        ),
    ];
    for (status, error, needle, (got_status, body)) in cases {
        assert_eq!(got_status, status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{body} lacks {needle:?}"
        );
    }

    // Oversized body: 413 with an OAuth JSON error, not a bare text page.
    let big = format!("grant_type=client_credentials&pad={}", "a".repeat(100_000));
    let r = s
        .http
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // Wrong method and unknown paths answer JSON 4xx.
    let r = s.http.get(&token_url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = s.http.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

async fn per_client_ttl(backend: Backend) {
    let s =
        TestServer::start_with(backend, Algorithm::ES256, |st| st.default_token_ttl = 600).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let (short, short_secret) = s
        .client(ClientInput {
            name: "short".into(),
            scopes: vec!["read".into()],
            token_ttl_seconds: Some(120),
            ..Default::default()
        })
        .await;
    let (dflt, dflt_secret) = s
        .client(ClientInput {
            name: "default".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await;
    let r: Value = s
        .token_basic(
            &short,
            &short_secret,
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["expires_in"], 120);
    let (_, c) = jwt_parts(r["access_token"].as_str().unwrap());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    let r: Value = s
        .token_basic(&dflt, &dflt_secret, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["expires_in"], 600);
}

/// Issuing reads only: a server whose database connection refuses every write still
/// issues tokens (SQLite opened read-only; PostgreSQL with read-only transactions).
async fn issuing_performs_no_database_write(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let ro_url = match backend {
        Backend::Sqlite => format!("{}?mode=ro", s.database_url),
        Backend::Postgres => format!(
            "{}?options=-c%20default_transaction_read_only%3Don",
            s.database_url
        ),
    };
    let store = authserver::store::Store::open(&ro_url, &Default::default())
        .await
        .unwrap();
    // Prove the connection is really read-only.
    assert!(
        store.revoke_token("x", "y", i64::MAX, 0).await.is_err(),
        "read-only store accepted a write"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let kek = authserver::keys::Kek::from_base64(&s.kek).unwrap();
    let ro = std::sync::Arc::new(authserver::Authority::new(
        store,
        kek,
        crate::support::settings(&base, Algorithm::RS256),
    ));
    crate::support::spawn_server(listener, ro);
    for _ in 0..20 {
        let r = s
            .http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

async fn failed_authentications_are_throttled(backend: Backend) {
    let s = TestServer::start_with(backend, Algorithm::ES256, |st| {
        st.throttle.per_client = 3;
        st.throttle.per_address = 1000;
    })
    .await;
    let (id, secret) = s.standard().await;
    for _ in 0..3 {
        assert_eq!(
            s.token_basic(&id, "guess", &[("grant_type", "client_credentials")])
                .await
                .status(),
            401
        );
    }
    // Another guess is refused as throttled, with a clear reason and Retry-After.
    let r = s
        .token_basic(&id, "guess again", &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many failed client authentications"),
        "{body}"
    );
    // The right secret always succeeds: guesses with a victim's client id cannot lock it
    // out.
    let r = s
        .token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Another client from the same address is unaffected.
    let (other, other_secret) = s
        .client(ClientInput {
            name: "other".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await;
    assert_eq!(
        s.token_basic(
            &other,
            &other_secret,
            &[("grant_type", "client_credentials")]
        )
        .await
        .status(),
        200
    );
}

async fn client_without_grant_is_unauthorized(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let (id, secret) = s
        .client(ClientInput {
            name: "introspector".into(),
            grant_types: Some(vec![]),
            ..Default::default()
        })
        .await;
    let r = s
        .token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

/// Hostile bytes at the socket: every answer is a 4xx JSON error, never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_never_cause_server_errors() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let s = TestServer::start_with(Backend::Sqlite, Algorithm::ES256, |st| {
        st.throttle.per_address = 1_000_000
    })
    .await;
    let (id, secret) = s.standard().await;
    let mut runner = TestRunner::deterministic();
    let bodies = proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300);
    let auths = proptest::option::of("[ -~]{0,40}");
    for i in 0..300 {
        let body = bodies.new_tree(&mut runner).unwrap().current();
        let mut req = s
            .http
            .post(s.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded");
        if i % 3 == 0 {
            req = req.basic_auth(&id, Some(&secret));
        } else if let Some(a) = auths.new_tree(&mut runner).unwrap().current() {
            req = req.header("authorization", a);
        }
        let r = req.body(body.clone()).send().await.unwrap();
        let status = r.status().as_u16();
        assert!(
            status == 200 || (400..500).contains(&status),
            "{status} for {:?}",
            String::from_utf8_lossy(&body)
        );
        let json: Value = r.json().await.expect("JSON answer");
        assert!(status == 200 || json["error"].is_string());
    }
}
