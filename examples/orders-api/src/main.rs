//! An example resource server: the "orders" API of a team, protected by AuthDomain access
//! tokens. Each route names the scopes it needs; `authdomain-verifier` checks the token
//! (keys from the issuer's metadata, cached) and hands the handler the verified claims.
//!
//! ```sh
//! ORDERS_ISSUER=https://abc123.execute-api.eu-west-1.amazonaws.com \
//! ORDERS_AUDIENCE=https://orders.example.com cargo run -p orders-api
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/orders
//! ```

use authdomain_verifier::http::{Bearer, RequireToken};
use authdomain_verifier::{Config, Verifier};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

async fn list(Bearer(token): Bearer) -> Json<Value> {
    Json(json!({ "orders": [], "for": token.client_id }))
}

async fn create(Bearer(token): Bearer) -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::CREATED,
        Json(json!({ "created_by": token.client_id })),
    )
}

fn env(name: &str, default: Option<&str>) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .or(default.map(str::to_owned))
        .ok_or_else(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    tracing_subscriber::fmt().init();
    let issuer = env("ORDERS_ISSUER", None)?;
    let audience = env("ORDERS_AUDIENCE", Some("https://orders.example.com"))?;
    let listen = env("ORDERS_LISTEN", Some("127.0.0.1:3000"))?;
    let verifier = Verifier::remote(Config::new(issuer, audience)).map_err(|e| e.to_string())?;
    let app = Router::new()
        .route(
            "/orders",
            get(list).route_layer(RequireToken::new(verifier.clone()).scopes(["orders:read"])),
        )
        .route(
            "/orders/new",
            axum::routing::post(create)
                .route_layer(RequireToken::new(verifier).scopes(["orders:write"])),
        )
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("binding {listen}: {e}"))?;
    println!("orders-api listening on http://{listen}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
