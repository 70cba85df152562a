//! The `authdomain` library: the AuthDomain spec and (in progress) the plan and the AWS
//! reconciler. `spec` is pure: it never touches AWS or the network.

pub mod aws;
pub mod drift;
pub mod plan;
pub mod reconcile;
pub mod spec;
