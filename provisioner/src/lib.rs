//! The `authdomain` library: the AuthDomain spec, the plan, the AWS reconciler, drift
//! reports, and the local `dev` server. `spec`, `plan`, `drift` and `seed` are pure: they
//! never touch AWS or the network.

pub mod aws;
pub mod bootstrap;
pub mod dev;
pub mod drift;
pub mod image;
pub mod plan;
pub mod reconcile;
pub mod seed;
pub mod spec;
