//! Retrying a call that failed for a reason that passes (a 5xx, throttling, a dependency
//! going away): jittered exponential backoff, a bounded number of tries.

use std::time::Duration;

use super::error::{AwsError, ErrorClass};

/// Retry `op` while it fails with a retryable or throttling error: jittered exponential
/// backoff from 200 ms, at most `attempts` tries. Terminal errors return at once.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    // On tokio's clock (a paused clock in tests).
    loop {
        tries += 1;
        match op().await {
            Err(e)
                if tries < attempts
                    && matches!(e.class, ErrorClass::Retryable | ErrorClass::Throttled) =>
            {
                let wait = jittered(delay);
                tracing::debug!(error = %e, retry_in_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// "Equal jitter": half of `delay` plus a random part of the other half, so that clients
/// throttled together do not retry together.
pub fn jittered(delay: Duration) -> Duration {
    let mut b = [0u8; 8];
    // The OS random source does not fail in practice; if it did, the wait is the bare half.
    let r = aws_lc_rs::rand::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    let half = delay.as_millis() as u64 / 2;
    Duration::from_millis(half + r % (half + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay() {
        let waits: std::collections::BTreeSet<u128> = (0..64)
            .map(|_| jittered(Duration::from_millis(1000)).as_millis())
            .collect();
        assert!(waits.iter().all(|w| (500..=1000).contains(w)), "{waits:?}");
        assert!(waits.len() > 8, "not random: {waits:?}");
    }
}
