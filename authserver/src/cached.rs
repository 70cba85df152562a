//! A value with the moment it was loaded: the per-instance caches (clients, scope
//! catalogue, key ring, client JWKS, the provider's discovery) keep their entries in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct Cached<T> {
    pub(crate) at: Instant,
    pub(crate) value: Arc<T>,
}

impl<T> Cached<T> {
    pub(crate) fn new(value: Arc<T>) -> Cached<T> {
        Cached {
            at: Instant::now(),
            value,
        }
    }

    /// The value while it is younger than `max_age`.
    pub(crate) fn fresh(&self, max_age: Duration) -> Option<Arc<T>> {
        (self.at.elapsed() < max_age).then(|| self.value.clone())
    }
}
