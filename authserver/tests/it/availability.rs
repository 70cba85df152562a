//! Database outages (Aurora resuming from pause): retry inside the request deadline, then
//! 503 with Retry-After, and recovery without a restart. A real PostgreSQL server sits
//! behind a loopback TCP proxy that the test can cut (refusing and dropping connections).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{FaultProxy, TestServer};
use authserver::keys::Algorithm;
use serde_json::Value;

async fn token(s: &TestServer, id: &str, secret: &str) -> (u16, Option<String>, Value) {
    let r = s
        .token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_503_then_recovers_without_restart() {
    let pg = authdomain_tests::postgres::server();
    let direct = pg.create_database("outage");
    let proxy = FaultProxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap()).await;
    let via_proxy = direct.replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port()));
    let s = TestServer::start_on(
        via_proxy,
        tempfile::tempdir().unwrap(),
        Algorithm::ES256,
        |st| {
            st.cache_ttl = Duration::ZERO; // every token request reads the database
            st.db_retry_deadline = Duration::from_millis(1500);
        },
    )
    .await;
    let (id, secret) = s.standard().await;
    assert_eq!(token(&s, &id, &secret).await.0, 200);

    // Outage longer than the deadline: 503, Retry-After, an OAuth JSON error, after retrying.
    proxy.set_up(false);
    let started = Instant::now();
    let (status, retry, body) = token(&s, &id, &secret).await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(retry.is_some());
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        waited >= Duration::from_millis(700),
        "retried before giving up ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(5),
        "bounded by the deadline ({waited:?})"
    );

    // The database comes back while a request is retrying: that request succeeds.
    let p = Arc::new(proxy);
    let p2 = p.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        p2.set_up(true);
    });
    let (status, _, body) = token(&s, &id, &secret).await;
    assert_eq!(status, 200, "{body}");
    // And from then on, without any restart.
    for _ in 0..5 {
        assert_eq!(token(&s, &id, &secret).await.0, 200);
    }
    let ready = s.http.get(s.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
