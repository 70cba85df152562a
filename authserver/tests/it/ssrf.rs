//! A hostile team member registers a `jwks_uri` (or an anonymous caller presents an
//! assertion for a client that has one) to make the server fetch what only it can reach.
//! Each test reproduces one attack of the security review; each failed before the fix
//! (the URL check looked at the scheme only; the fetch had no size cap, no single flight
//! and no failure cache, and told the caller why it failed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authdomain_api::ClientInput;
use authserver::admin::AdminError;
use serde_json::Value;

use crate::assertion::{ClientKey, token_with};
use crate::support::{Backend, TestServer};

fn remote_keys(uri: &str) -> ClientInput {
    ClientInput {
        name: "remote-keys".into(),
        scopes: vec!["read".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks_uri: Some(uri.into()),
        ..Default::default()
    }
}

/// A name /etc/hosts maps to loopback other than `localhost` (Debian's `ip6-localhost`).
fn loopback_name() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    hosts
        .lines()
        .filter_map(|l| {
            let mut w = l.split('#').next()?.split_whitespace();
            let ip: std::net::IpAddr = w.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| w.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .find(|n| n != "localhost")
        .expect("/etc/hosts names loopback under another name")
}

#[tokio::test]
async fn a_jwks_uri_into_the_network_is_refused_at_registration() {
    // A deployed domain: its issuer is not loopback.
    let s = TestServer::start_with(
        Backend::Sqlite,
        authserver::keys::Algorithm::RS256,
        |settings| settings.issuer = "https://auth.example.com".into(),
    )
    .await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let actor = authdomain_tests::issuer::test_actor();
    for uri in [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "https://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "https://10.0.0.12/jwks.json".to_owned(),
        "https://192.168.1.1/jwks.json".to_owned(),
        "https://[::ffff:127.0.0.1]:8443/".to_owned(),
        "http://127.0.0.1:5432/".to_owned(),
        "https://localhost:9000/".to_owned(),
        format!("https://{}:9000/jwks.json", loopback_name()),
    ] {
        match s.authority.create_client(&actor, remote_keys(&uri)).await {
            Err(AdminError::Invalid { field, message }) => {
                assert_eq!(field, "jwks_uri", "{uri}");
                assert!(
                    message.contains("special-purpose") || message.contains("https"),
                    "{uri}: {message}"
                );
            }
            other => panic!("{uri} was not refused: {other:?}"),
        }
    }
    // A public name is accepted (it need not resolve yet).
    s.authority
        .create_client(&actor, remote_keys("https://keys.example.com/jwks.json"))
        .await
        .unwrap();
}

/// A JWKS endpoint on loopback (allowed: the test server's issuer is loopback, as under
/// `authdomain dev`) that counts its requests and answers as `answer` says.
async fn endpoint(
    answer: impl Fn() -> (u16, Vec<u8>) + Send + Sync + 'static,
    delay: Duration,
) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let answer = Arc::new(answer);
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let hits = counted.clone();
            let answer = answer.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let (status, body) = answer();
                (axum::http::StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "http://127.0.0.1:{}/jwks.json",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (uri, hits)
}

/// A server on loopback (its issuer too, as under `authdomain dev`) with one API.
async fn server_with_api() -> TestServer {
    let s = TestServer::start(Backend::Sqlite).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    s
}

/// A `private_key_jwt` client whose keys are at `uri`; its id.
async fn register(s: &TestServer, uri: &str) -> String {
    s.authority
        .create_client(&authdomain_tests::issuer::test_actor(), remote_keys(uri))
        .await
        .unwrap()
        .client
        .client_id
}

async fn present(s: &TestServer, uri: &str) -> (u16, Value) {
    let client_id = register(s, uri).await;
    let key = ClientKey::es256();
    token_with(s, &key.assertion(&client_id, &s.url("/oauth2/token"))).await
}

#[tokio::test]
async fn the_caller_learns_nothing_about_why_a_fetch_failed() {
    let s = server_with_api().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/jwks.json",
            l.local_addr().unwrap().port()
        )
    };
    let (not_found, _) = endpoint(|| (404, b"no".to_vec()), Duration::ZERO).await;
    let (not_jwks, _) = endpoint(|| (200, b"<html>".to_vec()), Duration::ZERO).await;
    let mut descriptions = Vec::new();
    for uri in [closed, not_found, not_jwks] {
        let (status, body) = present(&s, &uri).await;
        assert_eq!(status, 401, "{uri}: {body}");
        assert_eq!(body["error"], "invalid_client");
        descriptions.push(body["error_description"].as_str().unwrap().to_owned());
    }
    assert!(
        descriptions.iter().all(|d| *d == descriptions[0]),
        "a closed port, a 404 and a non-JWKS must look alike: {descriptions:?}"
    );
}

/// An endless JWKS: the server stops reading at its cap (256 KiB), where it read until
/// its timeout before, holding everything it read (a 400 MB JWKS took it to 800 MB).
#[tokio::test]
async fn an_endless_jwks_is_not_read_past_the_cap() {
    let s = server_with_api().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let sent = counted.clone();
            async move {
                let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
                let head = futures::stream::once(async {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"keys\":["))
                });
                let rest = futures::stream::repeat_with(move || {
                    sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    Ok(chunk.clone())
                });
                axum::body::Body::from_stream(futures::StreamExt::chain(head, rest))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "http://127.0.0.1:{}/jwks.json",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (status, body) = present(&s, &uri).await;
    assert_eq!(status, 401, "{body}");
    // What loopback's socket buffers hold beyond the cap, at most: not the gigabytes
    // five seconds of reading would take.
    let read = sent.load(Ordering::SeqCst);
    assert!(
        read < 64 << 20,
        "{read} bytes were sent before the server stopped"
    );
}

#[tokio::test]
async fn a_failing_jwks_uri_is_fetched_once_for_a_burst_and_not_again_for_a_while() {
    let s = server_with_api().await;
    let (uri, hits) = endpoint(|| (500, Vec::new()), Duration::from_millis(300)).await;
    let client_id = register(&s, &uri).await;
    let key = ClientKey::es256();
    let aud = s.url("/oauth2/token");
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let a = key.assertion(&client_id, &aud);
            let s = &s;
            async move { token_with(s, &a).await }
        })
        .collect();
    for (status, body) in futures::future::join_all(burst).await {
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one fetch in flight per URI"
    );
    // Within the failure cache's 30 s: no new fetch.
    let (status, _) = token_with(&s, &key.assertion(&client_id, &aud)).await;
    assert_eq!(status, 401);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "failures are remembered");
}

/// Callers that give up (disconnect) do not cancel the fetch they started: its failure is
/// recorded, so a stream of abandoned assertions costs the victim's JWKS host one fetch,
/// not one each.
#[tokio::test]
async fn abandoned_requests_still_cost_one_fetch() {
    let s = server_with_api().await;
    let (uri, hits) = endpoint(|| (500, Vec::new()), Duration::from_millis(400)).await;
    let client_id = register(&s, &uri).await;
    let key = ClientKey::es256();
    let aud = s.url("/oauth2/token");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    for i in 0..10 {
        let a = key.assertion(&client_id, &aud);
        let r = impatient
            .post(&aud)
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a.as_str()),
            ])
            .send()
            .await;
        // The first gives up before the fetch (400 ms) ends; later ones may find its
        // failure recorded and get their answer at once.
        if i == 0 {
            assert!(r.is_err(), "the caller gave up before the answer");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch for all of them");
}
