//! The failure throttle against a hostile caller: guesses with a victim's client id, a
//! flood behind the reverse proxy every https deployment has in server mode, and client ids
//! of 60 KB. Each reproduces a finding of the security review and failed before the fix
//! (the throttle keyed failures by client id alone and by the TCP peer, which is the proxy,
//! and kept whatever id was claimed).

use crate::support::{Backend, TestServer};

/// Server mode behind a reverse proxy on loopback (the test client connects from
/// 127.0.0.1, the proxy's address, and says who it forwards for).
async fn behind_proxy() -> TestServer {
    TestServer::start_with(Backend::Sqlite, authserver::keys::Algorithm::RS256, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

async fn token_from(s: &TestServer, from: &str, id: &str, secret: &str) -> (u16, String) {
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .header("x-forwarded-for", from)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn guesses_from_one_place_do_not_slow_down_the_client_elsewhere() {
    let s = behind_proxy().await;
    let (id, secret) = s.standard().await;
    let mut last = 0;
    for _ in 0..12 {
        last = token_from(&s, "203.0.113.7", &id, "guess").await.0;
    }
    assert_eq!(last, 429, "the guessing place is slowed down");
    // The victim, elsewhere: a mistake is answered as a mistake, a correct secret works.
    let (status, body) = token_from(&s, "198.51.100.9", &id, "typo").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = token_from(&s, "198.51.100.9", &id, &secret).await;
    assert_eq!(status, 200, "{body}");
    // And from the guessing place too: a correct credential always succeeds.
    let (status, body) = token_from(&s, "203.0.113.7", &id, &secret).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_bucket() {
    let s = behind_proxy().await;
    s.standard().await;
    let mut last = 0;
    for i in 0..31 {
        // A flood of ids from one address; the header's left part is the caller's own
        // claim and changes nothing.
        let from = format!("10.9.9.{i}, 203.0.113.7");
        last = token_from(&s, &from, &format!("flood-{i}"), "x").await.0;
    }
    assert_eq!(last, 429, "the flooding address is slowed down");
    let (status, body) = token_from(&s, "198.51.100.9", "someone", "x").await;
    assert_eq!(
        status, 401,
        "another address behind the same proxy is not: {body}"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: the TCP peer is the source, whatever the header says.
    let s = TestServer::start(Backend::Sqlite).await;
    s.standard().await;
    let mut last = 0;
    for i in 0..31 {
        last = token_from(&s, &format!("198.51.100.{i}"), &format!("flood-{i}"), "x")
            .await
            .0;
    }
    assert_eq!(
        last, 429,
        "a caller cannot escape by naming another address"
    );
}

#[tokio::test]
async fn an_overlong_client_id_is_refused_before_anything_keeps_it() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.standard().await;
    let long = "a".repeat(60_000);
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", long.as_str()),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(
        body["error_description"],
        "`client_id`: expected at most 128 characters"
    );
    assert_eq!(s.authority.throttled_keys(), 0, "nothing of it was kept");
}
