//! What every handler shares: the application state, the client's address, the body
//! limit. Its own module so the portal's handlers can name it without depending on the
//! router that assembles them.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::authority::Authority;
use crate::portal::site::Portal;

/// Request bodies above this size are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The client's IP address, put into request extensions by the server (the peer, or
/// behind a trusted proxy the address it forwarded) or the Lambda adapter (API Gateway's
/// `sourceIp`). The throttle keys it by [`crate::throttle::source_key`].
#[derive(Debug, Clone)]
pub struct SourceAddress(pub String);

#[derive(Clone)]
pub struct AppState {
    pub authority: Arc<Authority>,
    pub metrics: Option<PrometheusHandle>,
    pub portal: Arc<Portal>,
    pub(super) discovery: bytes::Bytes,
}
