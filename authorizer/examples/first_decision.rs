//! The authorizer's cold start: process start → first decision, against a local Lambda
//! Runtime API (`authdomain_tests::lambda::FakeLambda`, which starts the function on the
//! first invocation, as Lambda does) and a real auth server on loopback (the JWKS fetch
//! during init is part of the figure). Prints one JSON line with min, p50 and max.
//!
//!   first_decision BINARY [RUNS]    BINARY: the static release build
//!                                   (scripts/build-static.sh authorizer x86_64)

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authdomain_tests::issuer::LocalIssuer;
use authdomain_tests::lambda::FakeLambda;
use authserver::keys::Algorithm;
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .expect("usage: first_decision BINARY [RUNS]")
        .clone();
    let runs: usize = args.get(2).map_or(20, |r| r.parse().expect("RUNS"));
    let issuer = LocalIssuer::start(Algorithm::RS256, |_| {}).await;
    issuer
        .resource_server("https://orders.example.com", &["orders/read"])
        .await;
    let (id, secret) = issuer.client("shop", &["orders/read"]).await;
    let http = reqwest::Client::new();
    let token = issuer.token(&http, &id, &secret, None).await;
    let config = json!({
        "issuer": issuer.issuer,
        "apis": {"*": {"audience": "https://orders.example.com", "routes": {"GET /orders": ["orders/read"]}}},
    })
    .to_string();
    let event = json!({
        "version": "2.0", "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/GET/orders",
        "routeKey": "GET /orders", "rawPath": "/orders",
        "headers": {"authorization": format!("Bearer {token}")},
        "requestContext": {"apiId": "abc123", "stage": "$default", "http": {"method": "GET", "path": "/orders"}},
    });
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (binary, config) = (binary.clone(), config.clone());
        let lambda = FakeLambda::start(Arc::new(move |name: &str, api: &str| {
            Command::new(&binary)
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", api)
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AUTHORIZER_CONFIG", &config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting the authorizer")
        }))
        .await;
        let started = Instant::now();
        let answer: serde_json::Value = http
            .post(lambda.invoke_url("authorizer"))
            .json(&event)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("invoke")
            .json()
            .await
            .expect("JSON answer");
        let took = started.elapsed();
        assert_eq!(answer["isAuthorized"], true, "{answer}");
        times.push(took.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "runs": runs,
            "min_ms": (times[0] * 100.0).round() / 100.0,
            "p50_ms": (times[runs / 2] * 100.0).round() / 100.0,
            "max_ms": (times[runs - 1] * 100.0).round() / 100.0,
        })
    );
}
