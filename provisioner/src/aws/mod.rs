//! The AWS edge: one module per service (observe / create / update / delete), plus what
//! they share, one concern per module: the SDK clients ([`client`]), call counting
//! ([`calls`]), rate limits ([`rate_limit`]), error classification ([`error`]), retries
//! ([`retry`]), waiting for slow states and propagation ([`wait`]), and reading desired
//! values ([`values`]).

pub mod api;
mod calls;
mod client;
pub mod ec2;
pub mod ecr;
mod error;
pub mod function;
pub mod iam;
pub mod kms;
pub mod protection;
mod rate_limit;
pub mod rds;
pub mod rdsdata;
pub mod registrations;
mod retry;
pub mod s3;
pub mod secrets;
pub mod tagging;
mod values;
mod wait;

pub use calls::CallCounter;
pub use client::{Aws, AwsOptions};
pub use error::{AwsError, ErrorClass, aws_error, classify};
pub(crate) use error::{NotFoundAsNone, already_gone, missing};
pub use rate_limit::RateLimits;
pub use retry::{jittered, with_retries};
pub(crate) use values::{all_pages, many, one, prop_str, strings};
pub use wait::{Notices, Patience, Poll, elapsed_text, wait_for, with_propagation};

pub use authdomain_core::plan::names::{
    MANAGED_BY, TAG_DOMAIN, TAG_MANAGED_BY, TAG_RESOURCE, resource_id, tag_delta, tag_pairs,
    user_tags,
};
