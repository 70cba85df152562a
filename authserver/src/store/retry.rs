//! Retrying a store operation while the database is unavailable (Aurora resuming from
//! pause): every read and write of the store goes through it, inside a request's deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use super::StoreError;

/// Run `op`, retrying while the database is unavailable with capped exponential backoff,
/// until `deadline` from now.
pub async fn retry_while_unavailable<T, F, Fut>(
    deadline: Duration,
    mut op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + deadline;
    let mut delay = Duration::from_millis(100);
    loop {
        match op().await {
            Err(e) if e.is_unavailable() && Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}
