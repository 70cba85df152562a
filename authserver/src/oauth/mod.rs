//! OAuth 2.0 rules with no I/O: request parsing, client credential extraction, scope and
//! audience resolution, token claims, and the RFC 6749 error vocabulary.

pub mod claims;
pub mod error;
pub mod form;
pub mod grant;
pub mod request;

pub use claims::{AccessTokenClaims, Audience};
pub use error::{ErrorCode, OAuthError};
