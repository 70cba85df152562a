//! A client-side rate limit as an HTTP client wrapper: every request of one service
//! client waits for its turn (requests spaced at `1 / rate`), before signing retries
//! and all. The SDK's own adaptive retry mode only slows down after being throttled.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

#[derive(Debug)]
struct Spacing {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Spacing {
    async fn wait_turn(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.interval;
    }
}

/// Per-service request spacing, shared by clones.
#[derive(Debug, Clone)]
pub struct RateLimits {
    interval: Duration,
    services: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Spacing>>>>,
}

impl RateLimits {
    /// At most `per_second` requests per second to each AWS service.
    pub fn new(per_second: f64) -> RateLimits {
        RateLimits {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            services: Default::default(),
        }
    }

    pub(super) fn client(&self, service: &str, inner: SharedHttpClient) -> RateLimited {
        let spacing = self
            .services
            .lock()
            .expect("rate limits")
            .entry(service.to_owned())
            .or_insert_with(|| {
                Arc::new(Spacing {
                    interval: self.interval,
                    next: tokio::sync::Mutex::new(Instant::now()),
                })
            })
            .clone();
        RateLimited { inner, spacing }
    }
}

#[derive(Debug, Clone)]
pub struct RateLimited {
    inner: SharedHttpClient,
    spacing: Arc<Spacing>,
}

impl HttpClient for RateLimited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            spacing: self.spacing.clone(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    spacing: Arc<Spacing>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, spacing) = (self.inner.clone(), self.spacing.clone());
        HttpConnectorFuture::new(async move {
            spacing.wait_turn().await;
            inner.call(request).await
        })
    }
}
