//! `authserver serve`: the HTTP server, with Prometheus metrics and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use authserver::store::redact_url;

use super::{Global, config};

pub async fn serve(g: &Global, listen: SocketAddr, no_migrate: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let authority = config::authority(g, format!("http://{listen}")).await?;
    if !no_migrate {
        authority.prepare().await?;
    }
    // Load keys now so the first request does not pay for it (non-fatal: the database may be resuming).
    if let Err(e) = authority.keyring().await {
        tracing::warn!(error = %e, "signing keys not loaded yet; will retry on first request");
    }
    let metrics = install_metrics();
    let app = authserver::http::router(authority.clone(), metrics);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        issuer = %authority.settings().issuer,
        database = %redact_url(&g.database_url),
        alg = %authority.settings().signing_alg,
        startup_ms = started.elapsed().as_millis() as u64,
        "authserver listening"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    authority.close().await;
    tracing::info!("authserver stopped");
    Ok(())
}

/// Prometheus recorder with fixed histogram buckets (cheap counters, no per-sample
/// storage) and a periodic upkeep task.
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    const BUCKETS: [f64; 12] = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
