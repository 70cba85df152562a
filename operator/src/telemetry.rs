//! Metrics (Prometheus text at `/metrics`) and health (`/healthz`: the process runs;
//! `/readyz`: it reaches the API server and either leads or stands by).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::Error;

/// The operator's metrics. Names: `authdomain_operator_reconciles_total{kind}`,
/// `..._reconcile_duration_seconds{kind}`, `..._reconcile_errors_total{kind,error}`,
/// `..._aws_calls_total{service,operation}`, `..._drift_detected_total`, `..._leader`.
pub struct Metrics {
    handle: Option<PrometheusHandle>,
    ready: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Install the process-wide Prometheus recorder (once; later calls get a recorder-less
    /// `Metrics`, as tests starting several operators in one process do).
    pub fn install() -> Arc<Metrics> {
        const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .ok()
            .and_then(|b| b.install_recorder().ok());
        if let Some(h) = handle.clone() {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    h.run_upkeep();
                }
            });
        }
        Arc::new(Metrics {
            handle,
            ready: AtomicBool::new(false),
        })
    }

    pub fn reconciled(&self, kind: &'static str, took: Duration, error: Option<&Error>) {
        metrics::counter!("authdomain_operator_reconciles_total", "kind" => kind).increment(1);
        metrics::histogram!("authdomain_operator_reconcile_duration_seconds", "kind" => kind)
            .record(took.as_secs_f64());
        if let Some(e) = error {
            metrics::counter!("authdomain_operator_reconcile_errors_total", "kind" => kind, "error" => e.metric_label())
                .increment(1);
        }
    }

    pub fn aws_calls(&self, calls: &provisioner::aws::CallCounter) {
        for (op, n) in calls.snapshot() {
            let (service, operation) = op.split_once(':').unwrap_or(("aws", op.as_str()));
            metrics::counter!(
                "authdomain_operator_aws_calls_total",
                "service" => service.to_owned(),
                "operation" => operation.to_owned()
            )
            .increment(n);
        }
        calls.reset();
    }

    pub fn drift_detected(&self) {
        metrics::counter!("authdomain_operator_drift_detected_total").increment(1);
    }

    pub fn set_leader(&self, leader: bool) {
        metrics::gauge!("authdomain_operator_leader").set(if leader { 1.0 } else { 0.0 });
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

async fn metrics_text(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    match &m.handle {
        Some(h) => (StatusCode::OK, h.render()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are served by another instance in this process",
        )
            .into_response(),
    }
}

async fn ready(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    if m.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
