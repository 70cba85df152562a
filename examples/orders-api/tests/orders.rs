//! The example resource server, run as its binary, with tokens from a real auth server.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authdomain_tests::issuer::LocalIssuer;
use authserver::keys::Algorithm;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_need_tokens_with_their_scopes() {
    let issuer = LocalIssuer::start(Algorithm::RS256, |_| {}).await;
    issuer
        .resource_server(
            "https://orders.example.com",
            &["orders:read", "orders:write"],
        )
        .await;
    let (id, secret) = issuer.client("shop", &["orders:read"]).await;
    let port = authdomain_tests::net::free_port();
    let _api = Running(
        Command::new(env!("CARGO_BIN_EXE_orders-api"))
            .env("ORDERS_ISSUER", &issuer.issuer)
            .env("ORDERS_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(authdomain_tests::net::wait_for_port(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(10)
    ));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let token = issuer.token(&http, &id, &secret, None).await;

    let r = http
        .get(format!("{base}/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["for"], id.as_str());
    let r = http.get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = http
        .post(format!("{base}/orders/new"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"orders:write\"")
    );
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
