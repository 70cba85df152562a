//! Throttling of failed client authentications, per client id and per source address.
//!
//! State is per process: on Lambda each instance counts separately, which still bounds a
//! guessing attack by the instance count (and secrets have 256 bits, so throttling protects
//! availability and logs, not the secrets themselves).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures allowed per client id within `window`.
    pub per_client: u32,
    /// Failures allowed per source address within `window`.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            per_client: 10,
            per_address: 30,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

/// What a throttled caller is told: which key and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub subject: &'static str,
    pub retry_after: Duration,
}

#[derive(Debug, Default)]
pub struct Throttle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<String, Window>>,
}

const MAX_TRACKED: usize = 100_000;

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn key(kind: &str, value: &str) -> String {
        format!("{kind}\u{0}{value}")
    }

    /// Err when either the client or the address has used up its failures.
    pub fn check(
        &self,
        client_id: Option<&str>,
        address: Option<&str>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let windows = self.windows.lock().expect("throttle lock");
        let over = |kind: &'static str, value: &str, limit: u32| -> Result<(), Throttled> {
            if let Some(w) = windows.get(&Self::key(kind, value)) {
                let elapsed = now.saturating_duration_since(w.started);
                if elapsed < self.settings.window && w.failures >= limit {
                    return Err(Throttled {
                        subject: kind,
                        retry_after: self.settings.window - elapsed,
                    });
                }
            }
            Ok(())
        };
        if let Some(c) = client_id {
            over("client", c, self.settings.per_client)?;
        }
        if let Some(a) = address {
            over("address", a, self.settings.per_address)?;
        }
        Ok(())
    }

    pub fn record_failure(&self, client_id: Option<&str>, address: Option<&str>, now: Instant) {
        let mut windows = self.windows.lock().expect("throttle lock");
        if windows.len() >= MAX_TRACKED {
            let window = self.settings.window;
            windows.retain(|_, w| now.saturating_duration_since(w.started) < window);
        }
        for key in [
            client_id.map(|c| Self::key("client", c)),
            address.map(|a| Self::key("address", a)),
        ]
        .into_iter()
        .flatten()
        {
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.saturating_duration_since(w.started) >= self.settings.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_per_client_and_address_then_recovers() {
        let t = Throttle::new(ThrottleSettings {
            per_client: 2,
            per_address: 3,
            window: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        t.record_failure(Some("c"), Some("1.2.3.4"), t0);
        assert!(t.check(Some("c"), Some("1.2.3.4"), t0).is_ok());
        t.record_failure(Some("c"), Some("1.2.3.4"), t0);
        let err = t.check(Some("c"), Some("9.9.9.9"), t0).unwrap_err();
        assert_eq!(err.subject, "client");
        assert!(t.check(Some("other"), Some("9.9.9.9"), t0).is_ok());
        t.record_failure(Some("d"), Some("1.2.3.4"), t0);
        assert_eq!(
            t.check(Some("e"), Some("1.2.3.4"), t0).unwrap_err().subject,
            "address"
        );
        assert!(
            t.check(Some("c"), Some("1.2.3.4"), t0 + Duration::from_secs(11))
                .is_ok()
        );
    }
}
