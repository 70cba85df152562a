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
    /// An OAuthClient's deletion waits for its auth server to delete the client.
    #[error(
        "deleting client {client} at the auth server failed: {message}; retrying with backoff \
         (to delete the OAuthClient and leave the client registered, annotate it \
         authdomain.io/deletion-policy=Orphan)"
    )]
    DeletionBlocked {
        client: String,
        reason: &'static str,
        transient: bool,
        message: String,
    },
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
            Error::DeletionBlocked { .. } => "deletion_blocked",
        }
    }

    /// Whether retrying soon can help. Terminal errors (a wrong spec, a permission AWS
    /// refuses, a forbidden scope) wait for a change instead of looping.
    pub fn is_transient(&self) -> bool {
        use provisioner::aws::ErrorClass;
        use provisioner::bootstrap::BootstrapError;
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
            Error::Bootstrap(BootstrapError::Aws(e)) => aws(e),
            Error::Bootstrap(BootstrapError::Apply(e)) => aws(&e.error),
            // An image tag not pushed yet, an ARN AWS has not reported yet: come back soon.
            Error::Bootstrap(BootstrapError::Deferred { .. }) => true,
            Error::Bootstrap(BootstrapError::Registry(
                provisioner::image::registry::RegistryError::NotFound { .. },
            )) => true,
            Error::Bootstrap(_) => false,
            Error::Admin(e) => e.is_transient(),
            Error::InvalidSpec(_) | Error::Forbidden(_) => false,
            Error::DeletionBlocked { transient, .. } => *transient,
        }
    }

    /// The condition reason for this failure: a CamelCase word that says what to do
    /// (`kubectl get` shows it in the Reason column; a program can match on it).
    pub fn reason(&self) -> &'static str {
        use admin_api::AdminError;
        use provisioner::bootstrap::BootstrapError;
        use provisioner::image::registry::RegistryError;
        match self {
            Error::Kube(_) => "KubernetesApiError",
            Error::Aws(e) => aws_reason(e),
            Error::Apply(e) => aws_reason(&e.error),
            Error::Bootstrap(BootstrapError::Aws(e)) => aws_reason(e),
            Error::Bootstrap(BootstrapError::Apply(e)) => aws_reason(&e.error),
            Error::Bootstrap(BootstrapError::Deferred { missing, .. })
                if missing.contains("image.digest") =>
            {
                "ImageNotPushed"
            }
            Error::Bootstrap(BootstrapError::Registry(RegistryError::NotFound { .. })) => {
                "ImageNotPushed"
            }
            Error::Bootstrap(BootstrapError::Registry(RegistryError::Aws(e))) => aws_reason(e),
            Error::Bootstrap(
                BootstrapError::Registry(_)
                | BootstrapError::Image(_)
                | BootstrapError::NoBinary(_),
            ) => "ImageUnusable",
            Error::Bootstrap(BootstrapError::Deferred { .. }) => "Provisioning",
            Error::Bootstrap(_) => "BootstrapFailed",
            Error::Admin(AdminError::Unreachable { .. }) => "AuthServerUnavailable",
            Error::Admin(AdminError::Rejected { status: 429, .. }) => "AuthServerThrottled",
            Error::Admin(AdminError::Rejected { status, .. }) if *status >= 500 => {
                "AuthServerUnavailable"
            }
            Error::Admin(AdminError::Unauthorized { .. }) => "AdminCredentialsRefused",
            Error::Admin(_) => "RegistrationRefused",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::NotReady(_) => "NotReady",
            Error::Forbidden(_) => "Forbidden",
            Error::Finalizer(_) => "FinalizerFailed",
            Error::DeletionBlocked { reason, .. } => reason,
        }
    }
}

/// What an AWS failure asks of a person: wait (throttled, still creating), fix the
/// operator's permissions or credentials, or read AWS's message.
fn aws_reason(e: &provisioner::aws::AwsError) -> &'static str {
    use provisioner::aws::ErrorClass;
    match e.class {
        ErrorClass::Throttled => "AwsThrottled",
        ErrorClass::Retryable => "AwsUnavailable",
        ErrorClass::StillWaiting | ErrorClass::Propagating => "Provisioning",
        _ if e.code.starts_with("AccessDenied") || e.code == "UnauthorizedOperation" => {
            "AwsAccessDenied"
        }
        _ if matches!(
            e.code.as_str(),
            "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "AuthFailure"
                | "SignatureDoesNotMatch"
                | "InvalidSignatureException"
        ) =>
        {
            "AwsCredentialsInvalid"
        }
        _ => "AwsRefused",
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

#[cfg(test)]
mod tests {
    use super::*;
    use provisioner::aws::{AwsError, ErrorClass};

    fn aws(code: &str) -> Error {
        Error::Aws(AwsError {
            action: "describe",
            resource: "vpc/main".into(),
            code: code.into(),
            message: "AWS said so".into(),
            class: provisioner::aws::classify(code),
        })
    }

    #[test]
    fn each_failure_has_a_reason_a_person_can_act_on_and_a_retry_policy() {
        for (e, reason, transient) in [
            (aws("ThrottlingException"), "AwsThrottled", true),
            (aws("RequestLimitExceeded"), "AwsThrottled", true),
            (aws("InternalFailure"), "AwsUnavailable", true),
            (aws("AccessDeniedException"), "AwsAccessDenied", false),
            (aws("UnauthorizedOperation"), "AwsAccessDenied", false),
            (aws("InvalidClientTokenId"), "AwsCredentialsInvalid", false),
            (aws("ValidationException"), "AwsRefused", false),
            (
                Error::Bootstrap(provisioner::bootstrap::BootstrapError::Deferred {
                    count: 3,
                    missing: "image.digest".into(),
                    resources: "function/main".into(),
                }),
                "ImageNotPushed",
                true,
            ),
            (
                Error::Admin(admin_api::AdminError::Unreachable {
                    base: "https://auth".into(),
                    message: "connection refused".into(),
                }),
                "AuthServerUnavailable",
                true,
            ),
            (
                Error::Admin(admin_api::AdminError::Rejected {
                    what: "x".into(),
                    status: 502,
                    message: "bad gateway".into(),
                }),
                "AuthServerUnavailable",
                true,
            ),
            (
                Error::Admin(admin_api::AdminError::Conflict {
                    what: "x".into(),
                    message: "taken".into(),
                }),
                "RegistrationRefused",
                false,
            ),
            (Error::InvalidSpec("spec.x".into()), "InvalidSpec", false),
        ] {
            assert_eq!(e.reason(), reason, "{e}");
            assert_eq!(e.is_transient(), transient, "{e}");
        }
        let mut still = aws("x");
        if let Error::Aws(a) = &mut still {
            a.class = ErrorClass::StillWaiting;
        }
        assert_eq!(still.reason(), "Provisioning");
    }
}
