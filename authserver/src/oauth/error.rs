//! The RFC 6749 §5.2 error vocabulary (plus RFC 8707 `invalid_target` and RFC 7009
//! `unsupported_token_type`). Pure data: the HTTP layer turns it into a response.

use std::fmt;

/// The `error` code of an OAuth error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    UnsupportedTokenType,
    /// Not an RFC 6749 code: failed authentications were throttled (HTTP 429).
    TooManyAttempts,
    /// The request body exceeded the size limit (`invalid_request` with HTTP 413).
    RequestTooLarge,
    /// The backing store is unavailable (HTTP 503 with `Retry-After`).
    TemporarilyUnavailable,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            // RFC 6749 has no code for throttling; `invalid_client` keeps clients that only
            // know the standard codes on the right path, the 429 status says why.
            ErrorCode::TooManyAttempts => "invalid_client",
            ErrorCode::RequestTooLarge => "invalid_request",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
        }
    }

    /// HTTP status per RFC 6749 §5.2 (401 for `invalid_client` is decided by the caller,
    /// because it depends on whether the Authorization header was used).
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::TooManyAttempts => 429,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }
}

/// An OAuth error with a human-readable description that never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Set when the client authenticated (or tried to) with the Authorization header:
    /// the response is then 401 with `WWW-Authenticate` (RFC 6749 §5.2).
    pub used_authorization_header: bool,
    /// Seconds for a `Retry-After` header (throttling, store unavailable).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            used_authorization_header: false,
            retry_after: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, d)
    }
    pub fn server_error(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerError, d)
    }
    pub fn unavailable(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the token store is temporarily unavailable (the database may be resuming); retry shortly",
            )
        }
    }
    pub fn with_header(mut self, used: bool) -> Self {
        self.used_authorization_header = used;
        self
    }

    /// The HTTP status of this error as it will be sent.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}
