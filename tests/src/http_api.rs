//! An API Gateway HTTP API in miniature: a loopback HTTP server that turns each request
//! into the payload format 2.0 event the real service sends a Lambda integration
//! (`$default` route and stage, cookies in `cookies`, the body base64-encoded, the peer as
//! `requestContext.http.sourceIp`), invokes the function through the Lambda runtime
//! emulator, and turns its answer back into an HTTP response (`cookies` as `Set-Cookie`
//! headers). With it a browser can use a function as it would behind the real API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::lambda_emulator::Emulator;

struct Gateway {
    emulator: Arc<Emulator>,
    function: String,
    http: reqwest::Client,
}

/// The payload 2.0 event for one request.
pub fn event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
) -> Value {
    let mut h = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = value.to_str().unwrap_or_default();
        if name == "cookie" {
            cookies.extend(v.split(';').map(|c| json!(c.trim())));
            continue;
        }
        let key = name.as_str().to_owned();
        let joined = match h.get(&key).and_then(Value::as_str) {
            Some(prev) => format!("{prev},{v}"),
            None => v.to_owned(),
        };
        h.insert(key, json!(joined));
    }
    let path = uri.path();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let host = h
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();
    let mut e = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": format!("local-{now}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Dec/2026:00:00:00 +0000",
            "timeEpoch": now,
        },
        "isBase64Encoded": !body.is_empty(),
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !body.is_empty() {
        e["body"] = json!(B64.encode(body));
    }
    e
}

/// The HTTP response for a function's payload 2.0 answer.
pub fn response(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match answer["body"].as_str() {
        Some(b) if answer["isBase64Encoded"].as_bool() == Some(true) => {
            B64.decode(b).unwrap_or_default()
        }
        Some(b) => b.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Some(headers) = answer["headers"].as_object() {
        for (k, v) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                h.append(name, value);
            }
        }
    }
    for c in answer["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(v)) = c.as_str().map(HeaderValue::from_str) {
            h.append("set-cookie", v);
        }
    }
    resp
}

async fn forward(
    State(g): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let e = event(&method, &uri, &headers, &body, &peer.ip().to_string());
    let invoked = g.emulator.invoke(&g.http, &g.function, &e).await;
    if invoked.function_error.is_some() {
        let mut r = Response::new(Body::from("Internal Server Error"));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return r;
    }
    response(&invoked.payload)
}

/// Serve `function` (running under `emulator`) on `listener` as an HTTP API would.
pub fn serve(listener: tokio::net::TcpListener, emulator: Arc<Emulator>, function: &str) {
    let g = Arc::new(Gateway {
        emulator,
        function: function.to_owned(),
        http: reqwest::Client::new(),
    });
    let app = Router::new().fallback(forward).with_state(g);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("the HTTP API adapter");
    });
}
