//! What a failed AWS call means: [`AwsError`] names the resource, AWS's code and message,
//! and its [`ErrorClass`] (terminal, retryable, throttled, already exists, not found,
//! still waiting, propagating) from the code alone.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use authdomain_core::plan::ResourceId;

/// What a failed AWS call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Wrong input, missing permission, limits: retrying cannot help.
    Terminal,
    /// Transient or eventual consistency (DependencyViolation while a dependent goes away,
    /// a role not yet assumable, a 5xx): retry with backoff.
    Retryable,
    Throttled,
    AlreadyExists,
    NotFound,
    /// AWS is still changing the resource and the wait's bound was reached: nothing
    /// failed, the caller comes back later (a reconcile requeues; the CLI says re-run).
    StillWaiting,
    /// Something created seconds ago is not visible yet to the service that uses it (a new
    /// IAM role to Lambda, EC2 or KMS; a role to AttachRolePolicy): retried by elapsed
    /// time ([`Patience::propagation`]), not by a count, the reason shown meanwhile.
    Propagating,
}

/// A failed AWS call, naming the resource and AWS's code and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} {resource}: {code}: {message}")]
pub struct AwsError {
    pub action: &'static str,
    pub resource: String,
    pub code: String,
    pub message: String,
    pub class: ErrorClass,
}

/// Classify by AWS error code (and transport failures as retryable).
pub fn classify(code: &str) -> ErrorClass {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "SlowDown"
        | "PriorRequestNotComplete" => ErrorClass::Throttled,
        "DependencyViolation"
        | "IncorrectState"
        | "InvalidParameterValue.EventualConsistency"
        | "ServiceUnavailable"
        | "InternalError"
        | "InternalFailure"
        | "ResourceConflictException"
        | "InvalidDBClusterStateFault"
        | "InvalidDBInstanceState"
        | "ResourceNotReadyException"
        | "DatabaseResumingException"
        | "transport" => ErrorClass::Retryable,
        c if c.ends_with(".Duplicate")
            || c.ends_with("AlreadyExists")
            || c.ends_with("AlreadyExistsFault")
            || c == "EntityAlreadyExists"
            || c == "ResourceAlreadyExistsException" =>
        {
            ErrorClass::AlreadyExists
        }
        c if c.ends_with(".NotFound")
            || c.ends_with("NotFound")
            || c.ends_with("NotFoundFault")
            || c == "NoSuchEntity"
            || c.ends_with("NotFoundException") =>
        {
            ErrorClass::NotFound
        }
        _ => ErrorClass::Terminal,
    }
}

/// Convert an SDK error into an [`AwsError`] for `action` on `resource`.
pub fn aws_error<E, R>(
    action: &'static str,
    resource: impl Into<String>,
    e: aws_sdk_ec2::error::SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ec2::error::SdkError;
    let (code, message) = match &e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("Unknown").to_owned(),
            s.err().message().unwrap_or("(no message)").to_owned(),
        ),
        SdkError::TimeoutError(_) => ("transport".to_owned(), "the request timed out".to_owned()),
        SdkError::DispatchFailure(d) => (
            "transport".to_owned(),
            format!("could not reach AWS: {d:?}"),
        ),
        other => ("Unknown".to_owned(), format!("{other}")),
    };
    let class = classify(&code);
    AwsError {
        action,
        resource: resource.into(),
        code,
        message,
        class,
    }
}

/// "Not found" as an answer rather than a failure: a read of something that does not
/// exist gives `None`, a delete of something already gone has done its job.
pub(crate) trait NotFoundAsNone<T> {
    fn found(self) -> Result<Option<T>, AwsError>;
}

impl<T> NotFoundAsNone<T> for Result<T, AwsError> {
    fn found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A delete or detach whose target is already gone has done its job.
pub(crate) fn already_gone(result: Result<(), AwsError>) -> Result<(), AwsError> {
    result.found().map(|_| ())
}

/// The error for a reference to a resource that has no physical id yet.
pub(crate) fn missing(d: &ResourceId, field: &str) -> AwsError {
    AwsError {
        action: "resolve",
        resource: d.to_string(),
        code: "MissingDependency".into(),
        message: format!("`{field}` refers to a resource that does not exist yet"),
        class: ErrorClass::Terminal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_classified() {
        assert_eq!(classify("RequestLimitExceeded"), ErrorClass::Throttled);
        assert_eq!(classify("DependencyViolation"), ErrorClass::Retryable);
        assert_eq!(
            classify("InvalidGroup.Duplicate"),
            ErrorClass::AlreadyExists
        );
        assert_eq!(classify("InvalidVpcID.NotFound"), ErrorClass::NotFound);
        assert_eq!(
            classify("RepositoryNotFoundException"),
            ErrorClass::NotFound
        );
        assert_eq!(classify("UnauthorizedOperation"), ErrorClass::Terminal);
        assert_eq!(classify("InvalidParameterValue"), ErrorClass::Terminal);
    }
}
