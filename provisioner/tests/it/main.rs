//! Integration tests of the provisioner library: the AWS edge against scripted answers
//! (aws-smithy-mocks, where no emulator has AWS's behaviour), the image builder against a
//! real registry, and protecting teams' APIs against moto. One test binary, so the AWS SDK
//! is linked once; the `authdomain` binary's tests are the CLI package's.
// `mock!` expands to code containing todo!().
#![allow(clippy::todo)]

mod aws_errors;
mod aws_realism;
mod day_one_sql;
mod image;
mod mocked;
mod protected_apis;
