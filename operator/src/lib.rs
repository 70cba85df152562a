//! AuthDomain's Kubernetes operator. Two controllers (kube-rs `Controller`s):
//!
//! - `AuthDomain` ([`controllers::authdomain`]): converges the AWS side through the
//!   provisioner's library, the same path as `authdomain bootstrap` (plan, apply, day-one
//!   setup), reports drift periodically, and destroys or retains the AWS side when the
//!   resource is deleted (finalizer).
//! - `OAuthClient` ([`controllers::oauthclient`]): registers the client with the domain's
//!   auth server through its admin API, writes the credentials into a Secret it owns, and
//!   rotates the secret on request with two secrets active during the handover.
//!
//! [`status`] and the access rules are pure; [`admin_api`] and the provisioner's `aws`
//! module are the edges. [`leader`] makes several replicas safe; [`telemetry`] serves
//! metrics and health.
// The reconcile future nests the provisioner's waits (apply → service → poll): its
// layout is deeper than rustc's default query depth of 128.
#![recursion_limit = "256"]

pub mod admin_api;
pub mod controllers;
pub mod crd;
pub mod leader;
pub mod status;
pub mod telemetry;

/// Errors of a reconcile, each with a label for metrics and a retry policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Aws(#[from] provisioner::aws::AwsError),
    #[error(transparent)]
    Bootstrap(#[from] provisioner::bootstrap::BootstrapError),
    #[error(transparent)]
    Apply(#[from] provisioner::reconcile::ApplyError),
    #[error(transparent)]
    Admin(#[from] admin_api::AdminError),
    /// The spec is wrong in a way the API server's schema cannot tell (a semantic rule).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// Waiting for something else (the domain, the database): not a failure.
    #[error("{0}")]
    NotReady(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// For the `errors_total{kind}` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Aws(e) => aws_label(e),
            Error::Bootstrap(provisioner::bootstrap::BootstrapError::Aws(e)) => aws_label(e),
            Error::Bootstrap(provisioner::bootstrap::BootstrapError::Apply(e)) => {
                aws_label(&e.error)
            }
            Error::Apply(e) => aws_label(&e.error),
            Error::Bootstrap(_) => "bootstrap",
            Error::Admin(_) => "admin_api",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::NotReady(_) => "not_ready",
            Error::Forbidden(_) => "forbidden",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// Whether retrying soon can help. Terminal errors (a wrong spec, a permission AWS
    /// refuses, a forbidden scope) wait for a change instead of looping.
    pub fn is_transient(&self) -> bool {
        use provisioner::aws::ErrorClass;
        let aws = |e: &provisioner::aws::AwsError| {
            matches!(
                e.class,
                ErrorClass::Retryable
                    | ErrorClass::Throttled
                    | ErrorClass::StillWaiting
                    | ErrorClass::Propagating
            )
        };
        match self {
            Error::Kube(_) | Error::NotReady(_) | Error::Finalizer(_) => true,
            Error::Aws(e) => aws(e),
            Error::Apply(e) => aws(&e.error),
            Error::Bootstrap(provisioner::bootstrap::BootstrapError::Aws(e)) => aws(e),
            Error::Bootstrap(provisioner::bootstrap::BootstrapError::Apply(e)) => aws(&e.error),
            Error::Bootstrap(_) => false,
            Error::Admin(e) => e.is_transient(),
            Error::InvalidSpec(_) | Error::Forbidden(_) => false,
        }
    }
}

fn aws_label(e: &provisioner::aws::AwsError) -> &'static str {
    use provisioner::aws::ErrorClass;
    match e.class {
        ErrorClass::Throttled => "aws_throttled",
        ErrorClass::Retryable => "aws_retryable",
        ErrorClass::StillWaiting | ErrorClass::Propagating => "aws_waiting",
        _ => "aws_terminal",
    }
}
