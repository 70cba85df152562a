//! Integration tests of the `authdomain` binary: the reconciler against moto end to end,
//! `bootstrap` with the real auth server under the Lambda emulator, `dev`, `token`, the
//! operator's image, and the examples. One test binary, so the AWS SDK is linked once.

mod bootstrap;
mod cli;
mod dev;
mod layout;
mod moto;
mod operator_image;
mod token;
