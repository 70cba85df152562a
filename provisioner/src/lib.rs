//! The `authdomain` library: the AuthDomain spec and (in progress) the plan and the AWS
//! reconciler. `spec` is pure: it never touches AWS or the network.

pub mod plan;
pub mod spec;
