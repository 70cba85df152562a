//! AuthDomain's pure core, the part every other crate builds on and that touches nothing:
//! no AWS SDK, no async runtime, no network, no files (callers hand in text and get values
//! back). The compiler holds that line, since this crate has none of those dependencies.
//!
//! - [`spec`]: the `AuthDomain` types (served as the operator's CRD too), defaults,
//!   YAML loading with every problem located, semantic validation.
//! - [`plan`]: the desired resource graph of a spec, `diff(desired, observed)`, the order
//!   and waves to act in, facts and placeholders, and the AWS names and values the graph
//!   declares (so the AWS edge takes them from here, never the other way round).
//! - [`drift`]: a plan rendered as a table, JSON or Markdown.
//! - [`registrations`]: the spec's resource servers and clients in the admin API's types,
//!   and whether what a server holds differs (bootstrap's and the operator's one comparison).
//! - [`cost`]: what a spec's domain costs idle, per million tokens and per option, from a
//!   committed price table.

pub mod cost;
pub mod drift;
pub mod plan;
pub mod registrations;
pub mod spec;
