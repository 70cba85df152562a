//! Reading a desired resource's properties and references (physical ids of what it
//! refers to), and listings that come in pages.

use authdomain_core::plan::{Desired, Ref};

use super::ec2;
use super::error::{AwsError, missing};

/// A string property of a desired resource.
pub(crate) fn prop_str(d: &Desired, field: &str) -> Option<String> {
    d.props
        .get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Every page of a listing whose parent may not exist: `page(token)` fetches one page as
/// its items and the next token, or None when the parent is not found.
pub(crate) async fn all_pages<T, F, Fut>(mut page: F) -> Result<Option<Vec<T>>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(Vec<T>, Option<String>)>, AwsError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let Some((items, next)) = page(token.take()).await? else {
            return Ok(None);
        };
        let empty = items.is_empty();
        out.extend(items);
        match next {
            Some(t) if !empty => token = Some(t),
            _ => return Ok(Some(out)),
        }
    }
}

/// A JSON list of strings as a vector (absent or malformed: empty).
pub(crate) fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The physical id behind a single-target reference field of `d`.
pub(crate) fn one(d: &Desired, field: &str, physical: &ec2::Physical) -> Result<String, AwsError> {
    match d.refs.get(field) {
        Some(Ref::One(t)) => physical
            .get(t)
            .cloned()
            .ok_or_else(|| missing(&d.id, field)),
        _ => Err(missing(&d.id, field)),
    }
}

/// The physical ids behind a reference field of `d` (empty when `d` has no such field).
pub(crate) fn many(
    d: &Desired,
    field: &str,
    physical: &ec2::Physical,
) -> Result<Vec<String>, AwsError> {
    match d.refs.get(field) {
        Some(r) => r
            .targets()
            .into_iter()
            .map(|t| {
                physical
                    .get(t)
                    .cloned()
                    .ok_or_else(|| missing(&d.id, field))
            })
            .collect(),
        None => Ok(Vec::new()),
    }
}
