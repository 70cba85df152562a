//! The read model: what the token path needs, published outside the database so that
//! issuing tokens, JWKS, discovery and introspection never touch it (on AWS: one object in
//! the domain's S3 bucket, reached through the VPC's gateway endpoint, which costs nothing
//! idle). Administration writes the database, then publishes a new version.
//!
//! - [`snapshot`] (PURE): the records as the auth server holds them, in the format of
//!   `authdomain_read_model` (shared with the provisioner), sealed under a key derived from
//!   the KEK.
//! - [`object`] (EDGE): S3 with conditional requests.
//! - [`published`] (EDGE): the reader: loaded at cold start, revalidated every few
//!   seconds with a conditional GET, never going back to a lower version.
//! - [`publish`]: the writer: a consistent read of the database, then S3's
//!   compare-and-swap, so a version once published is never replaced by a lower one.
//!
//! Replay protection of client assertions on this path is a create-only object per
//! assertion (see [`publish::Assertions`]).

pub mod object;
pub mod publish;
pub mod published;
pub mod snapshot;

pub use object::{ObjectError, ObjectStore};
pub use publish::{Assertions, PublishError, Published as PublishOutcome};
pub use published::{Published, ReadModelError};
pub use snapshot::{Snapshot, SnapshotError, View};

pub use crate::settings::ReadModelSettings;
