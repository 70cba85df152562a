//! Keys from a real issuer over a real socket (an axum server on loopback that serves
//! metadata and a JWKS the test controls and counts).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use super::{TestKey, claims};
use crate::{Config, RemoteKeys, RemoteSettings, Verifier, VerifyError};

const AUD: &str = "https://orders.example.com";

#[derive(Default)]
struct Issuer {
    jwks: Mutex<Value>,
    cache_control: Mutex<String>,
    metadata_issuer: Mutex<Option<String>>,
    down: std::sync::atomic::AtomicBool,
    fetches: AtomicUsize,
    delay_ms: std::sync::atomic::AtomicU64,
}

struct Served {
    issuer: String,
    state: Arc<Issuer>,
}

async fn serve() -> Served {
    let state = Arc::new(Issuer::default());
    *state.cache_control.lock().unwrap() = "public, max-age=300".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let iss = issuer.clone();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move |State(s): State<Arc<Issuer>>| {
                let iss = iss.clone();
                async move {
                    if s.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let named = s
                        .metadata_issuer
                        .lock()
                        .unwrap()
                        .clone()
                        .unwrap_or(iss.clone());
                    axum::Json(json!({"issuer": named, "jwks_uri": format!("{iss}/jwks")}))
                        .into_response()
                }
            }),
        )
        .route(
            "/jwks",
            get(|State(s): State<Arc<Issuer>>| async move {
                s.fetches.fetch_add(1, Ordering::SeqCst);
                let delay = s.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                if s.down.load(Ordering::SeqCst) {
                    return StatusCode::BAD_GATEWAY.into_response();
                }
                let mut h = HeaderMap::new();
                h.insert(
                    header::CACHE_CONTROL,
                    s.cache_control.lock().unwrap().parse().unwrap(),
                );
                (h, axum::Json(s.jwks.lock().unwrap().clone())).into_response()
            }),
        )
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served { issuer, state }
}

fn publish(s: &Served, keys: &[&TestKey]) {
    *s.state.jwks.lock().unwrap() =
        json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
}

fn settings() -> RemoteSettings {
    RemoteSettings {
        min_refetch: Duration::from_millis(300),
        max_age_bounds: (Duration::ZERO, Duration::from_secs(86_400)),
        stale_grace: Duration::from_millis(600),
        ..RemoteSettings::default()
    }
}

fn verifier(s: &Served, settings: RemoteSettings) -> Verifier<RemoteKeys> {
    let config = Config::new(&s.issuer, AUD).cache_capacity(0);
    let keys = RemoteKeys::new(&s.issuer, &config.algorithms, settings).unwrap();
    Verifier::with_keys(config, keys)
}

fn token(key: &TestKey, issuer: &str) -> String {
    let mut c = claims();
    c["iss"] = json!(issuer);
    key.token(c)
}

#[tokio::test]
async fn keys_are_discovered_and_fetched_once_for_their_max_age() {
    let s = serve().await;
    let k = TestKey::rsa("k1");
    publish(&s, &[&k]);
    let v = verifier(&s, settings());
    for _ in 0..20 {
        v.verify(&token(&k, &s.issuer)).await.unwrap();
    }
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), 1);
    // A short max-age is honoured: after it the JWKS is fetched again.
    *s.state.cache_control.lock().unwrap() = "max-age=1".into();
    let v = verifier(&s, settings());
    v.verify(&token(&k, &s.issuer)).await.unwrap();
    let before = s.state.fetches.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&token(&k, &s.issuer)).await.unwrap();
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_one_fetch_per_interval() {
    let s = serve().await;
    let k = TestKey::rsa("k1");
    publish(&s, &[&k]);
    s.state.delay_ms.store(50, Ordering::SeqCst);
    let v = verifier(&s, settings());
    v.verify(&token(&k, &s.issuer)).await.unwrap();
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    // 200 tokens with random kids at once, each correctly signed by a stranger's key.
    let strangers: Vec<String> = (0..200)
        .map(|i| {
            let stranger = TestKey::ec(&format!("random-{i}"));
            token(&stranger, &s.issuer)
        })
        .collect();
    let results = futures::future::join_all(strangers.iter().map(|t| v.verify(t))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(VerifyError::UnknownKey(_))))
    );
    assert_eq!(
        s.state.fetches.load(Ordering::SeqCst),
        2,
        "one refetch for the whole flood (single flight, rate-limited)"
    );
    // More unknown kids inside the interval: no fetch at all.
    for t in strangers.iter().take(20) {
        assert!(matches!(v.verify(t).await, Err(VerifyError::UnknownKey(_))));
    }
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), 2);
    // The issuer's own tokens still verify from the cache meanwhile.
    v.verify(&token(&k, &s.issuer)).await.unwrap();
}

#[tokio::test]
async fn a_rotation_causes_no_rejection() {
    let s = serve().await;
    let (old, next) = (TestKey::rsa("old"), TestKey::rsa("next"));
    // The issuer publishes the next key before signing with it (AuthDomain does).
    publish(&s, &[&old, &next]);
    let v = verifier(&s, settings());
    v.verify(&token(&old, &s.issuer)).await.unwrap();
    v.verify(&token(&next, &s.issuer)).await.unwrap();
    assert_eq!(
        s.state.fetches.load(Ordering::SeqCst),
        1,
        "the next key was cached already"
    );
    // An issuer that does not pre-publish: the unknown kid is refetched and found.
    let surprise = TestKey::ec("surprise");
    publish(&s, &[&old, &next, &surprise]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    v.verify(&token(&surprise, &s.issuer)).await.unwrap();
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_keys_is_unavailable_never_an_allow_and_stale_keys_serve_within_the_grace() {
    let s = serve().await;
    let k = TestKey::rsa("k1");
    publish(&s, &[&k]);
    s.state.down.store(true, Ordering::SeqCst);
    let v = verifier(&s, settings());
    let e = v.verify(&token(&k, &s.issuer)).await.unwrap_err();
    assert!(matches!(e, VerifyError::KeysUnavailable(_)), "{e:?}");
    assert_eq!(e.status(), ::http::StatusCode::SERVICE_UNAVAILABLE);
    // Within the refetch interval the failure is not retried.
    let fetches = s.state.fetches.load(Ordering::SeqCst);
    assert!(matches!(
        v.verify(&token(&k, &s.issuer)).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
    assert_eq!(s.state.fetches.load(Ordering::SeqCst), fetches);

    // Up, keys cached with max-age 1 s; then down again.
    s.state.down.store(false, Ordering::SeqCst);
    *s.state.cache_control.lock().unwrap() = "max-age=1".into();
    tokio::time::sleep(Duration::from_millis(350)).await;
    v.verify(&token(&k, &s.issuer)).await.unwrap();
    s.state.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past the max-age but within the grace: the cached key still verifies.
    v.verify(&token(&k, &s.issuer)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(matches!(
        v.verify(&token(&k, &s.issuer)).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
}

#[tokio::test]
async fn metadata_of_another_issuer_is_refused() {
    let s = serve().await;
    let k = TestKey::rsa("k1");
    publish(&s, &[&k]);
    *s.state.metadata_issuer.lock().unwrap() = Some("https://impostor.example.com".into());
    let v = verifier(&s, settings());
    let e = v.verify(&token(&k, &s.issuer)).await.unwrap_err();
    match e {
        VerifyError::KeysUnavailable(why) => assert!(why.contains("impostor"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(RemoteKeys::new("http://auth.example.com", &[], RemoteSettings::default()).is_err());
}
