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

/// How a reconcile failure is handled and shown: computed once per error by
/// [`Error::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// For the `errors_total{error}` metric.
    pub label: &'static str,
    /// Whether retrying soon can help. Terminal errors (a wrong spec, a permission AWS
    /// refuses, a forbidden scope) wait for a change instead of looping.
    pub transient: bool,
    /// The condition reason: a CamelCase word that says what to do (`kubectl get` shows
    /// it in the Reason column; a program can match on it).
    pub reason: &'static str,
}

impl Class {
    const fn new(label: &'static str, transient: bool, reason: &'static str) -> Class {
        Class {
            label,
            transient,
            reason,
        }
    }
}

impl Error {
    /// The one classification of a failure: its metric label, retry policy and reason.
    pub fn classify(&self) -> Class {
        use admin_api::AdminError;
        use provisioner::bootstrap::BootstrapError;
        use provisioner::reconcile::ApplyFailure;
        let apply = |f: &ApplyFailure| match f {
            ApplyFailure::Aws(e) => aws_class(e),
            f if f.waits_for_image() => Class::new("image", true, "ImageNotPushed"),
            ApplyFailure::Image { error, .. } => registry_class(error),
            ApplyFailure::Refused(_) => Class::new("refused", false, "Refused"),
            ApplyFailure::Unresolved { .. } => Class::new("bootstrap", true, "Provisioning"),
        };
        match self {
            Error::Kube(_) => Class::new("kube", true, "KubernetesApiError"),
            Error::Aws(e) => aws_class(e),
            Error::Apply(e) | Error::Bootstrap(BootstrapError::Apply(e)) => apply(&e.failure),
            Error::Bootstrap(BootstrapError::Aws(e)) => aws_class(e),
            // An image tag not pushed yet: come back soon.
            Error::Bootstrap(BootstrapError::Deferred(d)) if d.waits_for_image() => {
                Class::new("image", true, "ImageNotPushed")
            }
            // An ARN AWS has not reported yet: come back soon.
            Error::Bootstrap(BootstrapError::Deferred(_)) => {
                Class::new("bootstrap", true, "Provisioning")
            }
            Error::Bootstrap(BootstrapError::Registry(e)) => registry_class(e),
            Error::Bootstrap(BootstrapError::Image(_) | BootstrapError::NoBinary(_)) => {
                Class::new("image", false, "ImageUnusable")
            }
            Error::Bootstrap(_) => Class::new("bootstrap", false, "BootstrapFailed"),
            Error::Admin(e) => {
                let reason = match e {
                    AdminError::Unreachable { .. } => "AuthServerUnavailable",
                    AdminError::Rejected { status: 429, .. } => "AuthServerThrottled",
                    AdminError::Rejected { status, .. } if *status >= 500 => {
                        "AuthServerUnavailable"
                    }
                    AdminError::Unauthorized { .. } => "AdminCredentialsRefused",
                    _ => "RegistrationRefused",
                };
                Class::new("admin_api", e.is_transient(), reason)
            }
            Error::InvalidSpec(_) => Class::new("invalid_spec", false, "InvalidSpec"),
            Error::NotReady(_) => Class::new("not_ready", true, "NotReady"),
            Error::Forbidden(_) => Class::new("forbidden", false, "Forbidden"),
            Error::Finalizer(_) => Class::new("finalizer", true, "FinalizerFailed"),
            Error::DeletionBlocked {
                reason, transient, ..
            } => Class::new("deletion_blocked", *transient, reason),
        }
    }

    /// For the `errors_total{kind}` metric.
    pub fn metric_label(&self) -> &'static str {
        self.classify().label
    }

    /// Whether retrying soon can help.
    pub fn is_transient(&self) -> bool {
        self.classify().transient
    }

    /// The condition reason for this failure.
    pub fn reason(&self) -> &'static str {
        self.classify().reason
    }
}

/// An image the registry cannot give: not pushed yet (transient), or unusable.
fn registry_class(e: &provisioner::image::registry::RegistryError) -> Class {
    use provisioner::image::registry::RegistryError;
    match e {
        RegistryError::NotFound { .. } => Class::new("image", true, "ImageNotPushed"),
        RegistryError::Aws(e) => aws_class(e),
        _ => Class::new("image", false, "ImageUnusable"),
    }
}

/// What an AWS failure asks of a person: wait (throttled, still creating), fix the
/// operator's permissions or credentials, or read AWS's message.
fn aws_class(e: &provisioner::aws::AwsError) -> Class {
    use provisioner::aws::ErrorClass;
    match e.class {
        ErrorClass::Throttled => Class::new("aws_throttled", true, "AwsThrottled"),
        ErrorClass::Retryable => Class::new("aws_retryable", true, "AwsUnavailable"),
        ErrorClass::StillWaiting | ErrorClass::Propagating => {
            Class::new("aws_waiting", true, "Provisioning")
        }
        _ if e.code.starts_with("AccessDenied") || e.code == "UnauthorizedOperation" => {
            Class::new("aws_terminal", false, "AwsAccessDenied")
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
            Class::new("aws_terminal", false, "AwsCredentialsInvalid")
        }
        _ => Class::new("aws_terminal", false, "AwsRefused"),
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
                Error::Bootstrap(provisioner::bootstrap::BootstrapError::Deferred(
                    authdomain_core::plan::Deferred {
                        changes: Vec::new(),
                        missing: vec!["image.digest".into()],
                    },
                )),
                "ImageNotPushed",
                true,
            ),
            (
                Error::Apply(provisioner::reconcile::ApplyError {
                    done: Vec::new(),
                    failure: authdomain_core::plan::Refusal::DeletionProtection {
                        resource: authdomain_core::plan::ResourceId::new(
                            authdomain_core::plan::Kind::DbCluster,
                            "main",
                        ),
                    }
                    .into(),
                }),
                "Refused",
                false,
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
