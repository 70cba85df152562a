//! The `authdomain` library: the AWS edge (observe, create, update, delete per service),
//! the reconciler that joins it to the pure core (`authdomain-core`: spec, plan, drift),
//! bootstrap, the image builder, and the local `dev` server.

pub mod aws;
pub mod bootstrap;
pub mod dev;
pub mod image;
pub mod reconcile;
