//! The read model with real parts: PostgreSQL (behind a proxy the test cuts to stop it),
//! S3 of the moto emulator (its conditional writes and conditional GETs), several
//! instances of one domain in this process, over real sockets.
//!
//! The bound a change takes to reach another instance's token path is the cache lifetime
//! (`cache_ttl`: an instance looks for a newer read model when its copy is that old); the
//! tests set it to 1 s and allow a little more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authdomain_api::{ClientInput, RevocationInput};
use authserver::keys::{Algorithm, Kek};
use authserver::read_model::{ObjectStore, publish};
use serde_json::{Value, json};

use crate::support::{FaultProxy, TestServer, read_model, read_model_bucket};

const BOUND: Duration = Duration::from_secs(1);

/// Every instance of a domain has the domain's issuer (the read model is sealed for it).
const ISSUER: &str = "https://auth.example.test";

/// An instance of a domain whose token path reads the read model at `location`.
async fn instance(url: &str, kek: &str, location: &str, prepare: bool) -> TestServer {
    let location = location.to_owned();
    TestServer::instance(
        url.to_owned(),
        tempfile::tempdir().unwrap(),
        kek.to_owned(),
        Algorithm::RS256,
        prepare,
        move |s| {
            s.issuer = ISSUER.into();
            s.read_model = Some(read_model(&location));
            s.cache_ttl = BOUND;
            s.db_retry_deadline = Duration::from_millis(500);
        },
    )
    .await
}

async fn token(s: &TestServer, id: &str, secret: &str) -> (u16, Value) {
    let r = s
        .token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn introspect(s: &TestServer, id: &str, secret: &str, t: &str) -> Value {
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", t)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Poll `check` until it holds or `within` has passed; the time it took.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not within {within:?} ({:?})",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_flow_with_the_database_stopped_even_from_a_new_instance() {
    let (proxy, via_proxy, _) = FaultProxy::postgres("rm_stopped").await;
    let location = read_model_bucket().await;
    let kek = Kek::generate_base64();
    let a = instance(&via_proxy, &kek, &location, true).await;
    let (id, secret) = a.standard().await;
    let status = a.authority.read_model_status().await.unwrap();
    assert!(!status.behind && status.last_error.is_none(), "{status:?}");
    let admin = a.admin_token().await;
    assert_eq!(token(&a, &id, &secret).await.0, 200);

    // PostgreSQL stops.
    proxy.set_up(false);
    let (status, body) = token(&a, &id, &secret).await;
    assert_eq!(status, 200, "{body}");

    // A new instance starts while it is stopped: it loads the read model and serves.
    let b = instance(&via_proxy, &kek, &location, false).await;
    b.authority.warm().await;
    let (status, body) = token(&b, &id, &secret).await;
    assert_eq!(status, 200, "{body}");
    let t = body["access_token"].as_str().unwrap().to_owned();
    let claims =
        crate::support::verify_with_jwks(&t, &b.jwks().await, ISSUER, "https://api.example.com");
    assert_eq!(claims["client_id"], id);
    assert_eq!(introspect(&b, &id, &secret, &t).await["active"], true);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/health/ready",
    ] {
        let r = b.http.get(b.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // An unknown client is refused from the read model, without a query.
    assert_eq!(token(&b, "nobody", "nothing").await.0, 401);
    // Reading registrations through the admin API needs no database either.
    let r = b
        .http
        .get(b.url(&format!("/admin/v1/clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A change does: 503, and nothing was published.
    let r = b
        .http
        .post(b.url("/admin/v1/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "later", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(b.authority.open_connections(), 0);
    proxy.set_up(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishers_never_put_back_a_lower_version() {
    let (_proxy, url, _) = FaultProxy::postgres("rm_race").await;
    let location = read_model_bucket().await;
    let kek = Kek::generate_base64();
    let a = Arc::new(instance(&url, &kek, &location, true).await);
    let b = Arc::new(instance(&url, &kek, &location, false).await);
    a.resource_server("https://api.example.com", &["read"])
        .await;
    let store = ObjectStore::new(&read_model(&location)).unwrap();

    // A watcher reads the published version as fast as it can while both instances change
    // and publish: the versions it sees never go down.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Some((_, Some(v)))) = store.head("snapshot").await {
                    seen.push(v);
                }
            }
            seen
        })
    };
    let changes = |s: Arc<TestServer>, tag: &'static str| async move {
        for i in 0..8 {
            s.client(ClientInput {
                name: format!("{tag}-{i}"),
                scopes: vec!["read".into()],
                ..Default::default()
            })
            .await;
        }
    };
    tokio::join!(changes(a.clone(), "a"), changes(b.clone(), "b"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.await.unwrap();
    assert!(seen.len() > 3, "the watcher saw publications: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the published version went back: {seen:?}"
    );

    // What is published is the database's latest, with every change.
    let status = a.authority.read_model_status().await.unwrap();
    let (_, Some(published)) = store.head("snapshot").await.unwrap().unwrap() else {
        panic!("no version on the snapshot")
    };
    assert_eq!(published, status.version);
    assert!(!status.behind, "{status:?}");
    // Another instance sees it within the read model's bound (it revalidates its copy
    // every 5 s; the last publication may have been the other instance's).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(7);
    let count = loop {
        let view = b.authority.published_view().await.unwrap();
        let n = view.clients.values().filter(|c| c.name.len() == 3).count();
        if n == 16 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(count, 16, "both instances' clients are in it");

    // A publisher holding an older version than S3's finds the newer one and stops.
    let kek = Kek::from_base64(&kek).unwrap();
    let records = authserver::store::read_model::ReadModelRecords {
        version: published - 5,
        clients: Vec::new(),
        resource_servers: Vec::new(),
        keys: Vec::new(),
        revoked: Vec::new(),
    };
    let (outcome, view) = publish::publish(&store, &kek, ISSUER, &records, 0)
        .await
        .unwrap();
    assert_eq!(outcome, publish::Published::Current { published });
    assert!(view.is_none());
    assert_eq!(
        store.head("snapshot").await.unwrap().unwrap().1,
        Some(published)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_through_the_admin_api_is_inactive_on_every_instance() {
    let (proxy, url, _) = FaultProxy::postgres("rm_revoke").await;
    let location = read_model_bucket().await;
    let kek = Kek::generate_base64();
    let a = instance(&url, &kek, &location, true).await;
    let b = instance(&url, &kek, &location, false).await;
    let (id, secret) = a.standard().await;
    let admin = a.admin_token().await;
    let (_, body) = token(&a, &id, &secret).await;
    let t = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&b, &id, &secret, &t).await["active"], true);

    let r = a
        .http
        .post(a.url("/admin/v1/revocations"))
        .bearer_auth(&admin)
        .json(&RevocationInput { token: t.clone() })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked: Value = r.json().await.unwrap();
    assert_eq!(revoked["client_id"], id);

    // Introspection on the other instance, with PostgreSQL stopped: served from the read
    // model, inactive within the bound.
    proxy.set_up(false);
    let took = eventually(BOUND + Duration::from_secs(2), || async {
        introspect(&b, &id, &secret, &t).await["active"] == false
    })
    .await;
    assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");
    // A token that is not one of ours is refused with the field named.
    proxy.set_up(true);
    let r = a
        .http
        .post(a.url("/admin/v1/revocations"))
        .bearer_auth(&admin)
        .json(&json!({"token": "eyJhbGciOiJub25lIn0.e30."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_or_revoked_in_the_portal_takes_effect_on_the_token_path_within_the_bound()
{
    let (_proxy, url, _) = FaultProxy::postgres("rm_portal").await;
    let location = read_model_bucket().await;
    let kek = Kek::generate_base64();
    let portal_instance = |prepare: bool, issuer: Option<String>| {
        let (url, kek, location) = (url.clone(), kek.clone(), location.clone());
        async move {
            TestServer::instance(
                url,
                tempfile::tempdir().unwrap(),
                kek,
                Algorithm::RS256,
                prepare,
                move |s| {
                    crate::portal::with_teams(s);
                    if let Some(i) = issuer {
                        s.issuer = i;
                    }
                    s.read_model = Some(read_model(&location));
                    s.cache_ttl = BOUND;
                    // The test polls with a secret before it reaches this instance: those
                    // failures are not what it measures.
                    s.throttle.per_client = 10_000;
                    s.throttle.per_address = 10_000;
                },
            )
            .await
        }
    };
    // A's portal signs people in at A's loopback address, which is the domain's issuer.
    let a = portal_instance(true, None).await;
    let b = portal_instance(false, Some(a.base.clone())).await;
    let (id, old) = a.standard().await;
    assert_eq!(token(&b, &id, &old).await.0, 200);

    // Signed in to the portal of instance A as an admin (development sign-in, loopback).
    let mut browser = crate::portal::Browser::new();
    let r = browser
        .post(
            &a.url("/portal/dev-login"),
            &[("name", "ops@example.com"), ("role", "admin")],
            None,
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = browser
        .get(&a.url(&format!("/portal/clients/view?id={id}")))
        .await
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Rotate: the new secret works on instance B within the bound.
    let r = browser
        .post(
            &a.url(&format!("/portal/clients/rotate?id={id}")),
            &[("csrf", &csrf)],
            Some(&a.base),
        )
        .await;
    assert_eq!(r.status(), 201);
    let shown = r.text().await.unwrap();
    let new = shown
        .split("id=\"client-secret\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .expect("the new secret on the page")
        .to_owned();
    assert_eq!(new.len(), 43, "a 256-bit secret: {new}");

    let took = eventually(BOUND + Duration::from_secs(2), || async {
        token(&b, &id, &new).await.0 == 200
    })
    .await;
    assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");

    // Revoke the old one: refused on instance B within the bound.
    let client = a
        .authority
        .get_client(&authdomain_tests::issuer::test_actor(), &id)
        .await
        .unwrap();
    let old_id = client.secrets[0].secret_id.clone();
    let r = browser
        .post(
            &a.url(&format!("/portal/clients/revoke?id={id}&secret={old_id}")),
            &[("csrf", &csrf)],
            Some(&a.base),
        )
        .await;
    assert_eq!(r.status(), 303);
    let took = eventually(BOUND + Duration::from_secs(2), || async {
        token(&b, &id, &old).await.0 == 401
    })
    .await;
    assert!(took <= BOUND + Duration::from_millis(500), "{took:?}");
    assert_eq!(token(&b, &id, &new).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertions_are_one_time_across_instances_without_a_database_write() {
    let (proxy, url, direct) = FaultProxy::postgres("rm_assertion").await;
    let location = read_model_bucket().await;
    let kek = Kek::generate_base64();
    let a = instance(&url, &kek, &location, true).await;
    let b = instance(&url, &kek, &location, false).await;
    a.resource_server("https://api.example.com", &["read"])
        .await;
    let key = crate::assertion::ClientKey::es256();
    let (id, _) = a
        .client(ClientInput {
            name: "signer".into(),
            scopes: vec!["read".into()],
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(key.jwks()),
            ..Default::default()
        })
        .await;
    // PostgreSQL stops: the assertion is recorded in S3, not in the database.
    proxy.set_up(false);
    let assertion = key.assertion(&id, ISSUER);
    let call = |s: &TestServer| {
        s.http
            .post(s.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    eventually(BOUND + Duration::from_secs(2), || async {
        b.authority
            .published_view()
            .await
            .is_ok_and(|v| v.clients.contains_key(&id))
    })
    .await;
    let first = call(&a).await.unwrap();
    assert_eq!(first.status(), 200);
    // The same assertion at another instance: a replay.
    let again = call(&b).await.unwrap();
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("replay"),
        "{body}"
    );
    proxy.set_up(true);
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM used_assertions")
        .fetch_one(&sqlx::PgPool::connect(&direct).await.unwrap())
        .await
        .unwrap();
    assert_eq!(used, 0, "no database write on the token path");
}
