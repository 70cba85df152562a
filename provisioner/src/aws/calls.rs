//! Every AWS call counted per service and operation by an interceptor on every client
//! (plans report their call budget; tests count mutating calls), and moto's account
//! header added on the way out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Calls made, per service and operation, counted by an interceptor on every client.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

/// Operation name prefixes that change state.
const MUTATING: [&str; 24] = [
    "Add",
    "Remove",
    "Enable",
    "Disable",
    "Schedule",
    "Cancel",
    "Publish",
    "Restore",
    "Create",
    "Delete",
    "Modify",
    "Put",
    "Update",
    "Attach",
    "Detach",
    "Associate",
    "Disassociate",
    "Authorize",
    "Revoke",
    "Allocate",
    "Release",
    "Replace",
    "Tag",
    "Untag",
];

impl CallCounter {
    pub fn total(&self) -> u64 {
        self.calls.lock().expect("counter").values().sum()
    }
    pub fn mutating(&self) -> u64 {
        self.calls
            .lock()
            .expect("counter")
            .iter()
            .filter(|((_, op), _)| MUTATING.iter().any(|p| op.starts_with(p)))
            .map(|(_, n)| n)
            .sum()
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .expect("counter")
            .iter()
            .map(|((s, o), n)| (format!("{s}:{o}"), *n))
            .collect()
    }
    pub fn reset(&self) {
        self.calls.lock().expect("counter").clear();
    }
}

#[derive(Debug)]
pub(super) struct Edge {
    pub(super) counter: CallCounter,
    pub(super) moto_account: Option<String>,
}

impl Intercept for Edge {
    fn name(&self) -> &'static str {
        "authdomain-edge"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .counter
                .calls
                .lock()
                .expect("counter")
                .entry((m.service().to_owned(), m.name().to_owned()))
                .or_default() += 1;
        }
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(account) = &self.moto_account {
            context
                .request_mut()
                .headers_mut()
                .insert("x-moto-account-id", account.clone());
        }
        Ok(())
    }
}
