//! The AWS Lambda adapter: API Gateway HTTP API (payload 2.0) events go through the same
//! axum router as the HTTP server; management events (see `admin::events`) are handled
//! directly.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, LambdaEvent, Service as _};
use serde_json::Value;

use crate::admin::events;
use crate::authority::Authority;
use crate::http::{SourceAddress, router};

/// True when the process runs inside Lambda (the runtime API address is set).
pub fn detected() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Copy API Gateway's `requestContext.http.sourceIp` into the request for throttling.
async fn source_ip(mut req: Request, next: Next) -> Response {
    let ip = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    if let Some(ip) = ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) {
        req.extensions_mut().insert(SourceAddress(ip.to_string()));
    }
    next.run(req).await
}

/// Serve Lambda invocations until the runtime stops. The read model and the signing keys
/// are loaded at start (the init phase); after an invocation that used the database, its
/// connections are closed before the answer goes back, so a frozen execution environment
/// holds none (Aurora pauses only without user connections) and never wakes up to a
/// connection or an IAM token that went stale while it slept.
pub async fn run(authority: Arc<Authority>) -> Result<(), lambda_runtime::Error> {
    authority.warm().await;
    let app = router(authority.clone(), None).layer(middleware::from_fn(source_ip));
    let handler = lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
        let authority = authority.clone();
        let mut adapter: Adapter<'static, _, _> = Adapter::from(app.clone());
        async move {
            let LambdaEvent { payload, context } = event;
            if let Some(command) = payload.get(authdomain_api::EVENT_KEY) {
                let answer = events::handle(&authority, command.clone()).await;
                authority.release_connections().await;
                return Ok::<Value, lambda_runtime::Error>(answer);
            }
            let request: LambdaRequest = serde_json::from_value(payload).map_err(|e| {
                format!("the event is neither an API Gateway request nor a management event: {e}")
            })?;
            let response = adapter.call(LambdaEvent::new(request, context)).await;
            authority.release_connections().await;
            Ok(serde_json::to_value(response?)?)
        }
    });
    lambda_runtime::run(handler).await
}
