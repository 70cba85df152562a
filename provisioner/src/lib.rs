//! AuthDomain's reconciler: the AWS edge (observe, create, update, delete per service),
//! the reconciler that joins it to the pure core (`authdomain-core`: spec, plan, drift),
//! bootstrap and the image builder. The `authdomain` CLI (package `authdomain-cli`) and
//! the operator call it; it has no command line, no terminal output and no auth server of
//! its own.

pub mod aws;
pub mod bootstrap;
pub mod image;
pub mod reconcile;
