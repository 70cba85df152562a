//! Integration tests of the auth server: real sockets, real SQLite and PostgreSQL, the real
//! binary, a real Lambda runtime emulator and third-party OAuth/JOSE libraries.

mod admin;
mod assertion;
mod availability;
mod cli;
mod interop;
mod introspection;
mod keys;
mod lambda;
mod layout;
mod portal;
mod portal_browser;
mod read_model;
mod schema;
mod ssrf;
mod support;
mod throttle;
mod token;
