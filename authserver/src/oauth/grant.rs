//! Which scopes and audiences a client-credentials request is granted (pure).
//!
//! The model is Cognito's and Auth0's: a resource server (an API) has an identifier (the
//! token's `aud`) and owns scopes. Scope names are unique across the domain, so a scope
//! names its resource server unambiguously.

use std::collections::{BTreeMap, BTreeSet};

use super::error::OAuthError;

/// The domain's resource servers, flattened for lookups.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// scope name → resource server identifier
    scope_owner: BTreeMap<String, String>,
    identifiers: BTreeSet<String>,
}

impl Catalog {
    pub fn new<'a>(servers: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> Self {
        let mut c = Catalog::default();
        for (identifier, scopes) in servers {
            c.identifiers.insert(identifier.to_owned());
            for s in scopes {
                c.scope_owner.insert(s.to_owned(), identifier.to_owned());
            }
        }
        c
    }

    pub fn owner_of(&self, scope: &str) -> Option<&str> {
        self.scope_owner.get(scope).map(String::as_str)
    }

    pub fn has_resource(&self, identifier: &str) -> bool {
        self.identifiers.contains(identifier)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope_owner.keys().map(String::as_str)
    }
}

/// What a client may be granted.
#[derive(Debug, Clone, Copy)]
pub struct ClientPolicy<'a> {
    pub allowed_scopes: &'a [String],
    pub default_scopes: &'a [String],
}

/// The outcome: granted scopes (in request order) and the audiences they imply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
}

impl Grant {
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Decide the grant for `requested` scopes (None = the client's defaults) and RFC 8707
/// `resources` (empty = no restriction).
pub fn resolve(
    catalog: &Catalog,
    client: ClientPolicy<'_>,
    requested: Option<&[String]>,
    resources: &[String],
) -> Result<Grant, OAuthError> {
    for r in resources {
        if !catalog.has_resource(r) {
            return Err(OAuthError::invalid_target(format!(
                "`{r}` is not a resource server of this domain"
            )));
        }
    }
    let in_resources = |owner: &str| resources.is_empty() || resources.iter().any(|r| r == owner);

    let scopes: Vec<String> = match requested {
        Some(requested) => {
            for s in requested {
                let Some(owner) = catalog.owner_of(s) else {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope `{s}` is not defined by any resource server"
                    )));
                };
                if !client.allowed_scopes.iter().any(|a| a == s) {
                    return Err(OAuthError::invalid_scope(format!(
                        "the client is not allowed scope `{s}`"
                    )));
                }
                if !in_resources(owner) {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope `{s}` belongs to resource server `{owner}`, which is not among the requested resources"
                    )));
                }
            }
            requested.to_vec()
        }
        None => client
            .default_scopes
            .iter()
            .filter(|s| client.allowed_scopes.contains(s))
            .filter(|s| catalog.owner_of(s).is_some_and(in_resources))
            .cloned()
            .collect(),
    };

    // Every requested resource must end up in the audience: the client must hold a scope there.
    for r in resources {
        let holds_any = client
            .allowed_scopes
            .iter()
            .any(|s| catalog.owner_of(s) == Some(r.as_str()));
        if !holds_any {
            return Err(OAuthError::invalid_target(format!(
                "the client is not allowed any scope at resource `{r}`"
            )));
        }
    }
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(if requested.is_some() {
            "no scope was requested".to_owned()
        } else {
            "no scope was requested and the client has no default scopes for the requested resources".to_owned()
        }));
    }

    let mut audiences: Vec<String> = Vec::new();
    for s in &scopes {
        let owner = catalog.owner_of(s).expect("checked above").to_owned();
        if !audiences.contains(&owner) {
            audiences.push(owner);
        }
    }
    for r in resources {
        if !audiences.contains(r) {
            audiences.push(r.clone());
        }
    }
    Ok(Grant { scopes, audiences })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::error::ErrorCode;

    fn catalog() -> Catalog {
        Catalog::new([
            ("https://orders", vec!["orders:read", "orders:write"]),
            ("https://billing", vec!["billing:read"]),
            ("https://empty", vec![]),
        ])
    }
    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_when_no_scope_requested() {
        let allowed = v(&["orders:read", "orders:write", "billing:read"]);
        let defaults = v(&["orders:read", "billing:read"]);
        let g = resolve(
            &catalog(),
            ClientPolicy {
                allowed_scopes: &allowed,
                default_scopes: &defaults,
            },
            None,
            &[],
        )
        .unwrap();
        assert_eq!(g.scopes, v(&["orders:read", "billing:read"]));
        assert_eq!(g.audiences, v(&["https://orders", "https://billing"]));
    }

    #[test]
    fn requested_subset() {
        let allowed = v(&["orders:read", "orders:write"]);
        let g = resolve(
            &catalog(),
            ClientPolicy {
                allowed_scopes: &allowed,
                default_scopes: &allowed,
            },
            Some(&v(&["orders:write"])),
            &[],
        )
        .unwrap();
        assert_eq!(g.scope_string(), "orders:write");
        assert_eq!(g.audiences, v(&["https://orders"]));
    }

    #[test]
    fn resource_narrows_defaults() {
        let allowed = v(&["orders:read", "billing:read"]);
        let g = resolve(
            &catalog(),
            ClientPolicy {
                allowed_scopes: &allowed,
                default_scopes: &allowed,
            },
            None,
            &v(&["https://billing"]),
        )
        .unwrap();
        assert_eq!(g.scopes, v(&["billing:read"]));
        assert_eq!(g.audiences, v(&["https://billing"]));
    }

    #[test]
    fn rejections() {
        let allowed = v(&["orders:read"]);
        let p = ClientPolicy {
            allowed_scopes: &allowed,
            default_scopes: &allowed,
        };
        let c = catalog();
        let e = resolve(&c, p, Some(&v(&["orders:write"])), &[]).unwrap_err();
        assert_eq!(
            (
                e.code,
                e.description.contains("not allowed scope `orders:write`")
            ),
            (ErrorCode::InvalidScope, true)
        );
        let e = resolve(&c, p, Some(&v(&["nope"])), &[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        let e = resolve(&c, p, None, &v(&["https://unknown"])).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        let e = resolve(&c, p, None, &v(&["https://billing"])).unwrap_err();
        assert_eq!(
            (e.code, e.description.contains("not allowed any scope")),
            (ErrorCode::InvalidTarget, true)
        );
        let e = resolve(
            &c,
            p,
            Some(&v(&["orders:read"])),
            &v(&["https://orders", "https://empty"]),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        let none: Vec<String> = vec![];
        let e = resolve(
            &c,
            ClientPolicy {
                allowed_scopes: &allowed,
                default_scopes: &none,
            },
            None,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }
}
