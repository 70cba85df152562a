//! Registrations on an auth server: what the spec seeds (its resource servers and clients,
//! in the admin API's input types) and whether what a server holds differs from what is
//! wanted. `authdomain dev` registers the seeds in-process, bootstrap sends them as
//! management events, and the operator compares its `OAuthClient`s with the same
//! [`client_differs`].

use authdomain_api::{Client, ClientInput, ResourceServer, ResourceServerInput, ScopeInput};

use crate::spec::AuthDomainSpec;

/// The spec's resource servers.
pub fn resource_servers(spec: &AuthDomainSpec) -> Vec<ResourceServerInput> {
    spec.resource_servers
        .iter()
        .map(|r| ResourceServerInput {
            identifier: r.identifier.clone(),
            name: r.name.clone(),
            scopes: r
                .scopes
                .iter()
                .map(|s| ScopeInput {
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            team: r.team.clone(),
            managed_by: None,
        })
        .collect()
}

/// The spec's clients.
pub fn clients(spec: &AuthDomainSpec) -> Vec<ClientInput> {
    spec.clients
        .iter()
        .map(|c| ClientInput {
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            token_ttl_seconds: c.token_ttl.map(i64::from),
            token_endpoint_auth_method: Some(c.auth_method.as_str().to_owned()),
            jwks_uri: c.jwks_uri.clone(),
            team: c.team.clone(),
            ..ClientInput::default()
        })
        .collect()
}

/// Whether the server's resource server differs from what the spec seeds (its name
/// defaults to the identifier, as the server does).
pub fn resource_server_differs(want: &ResourceServerInput, have: &ResourceServer) -> bool {
    let name = want.name.as_deref().unwrap_or(&want.identifier);
    let scopes = |s: &[ScopeInput]| {
        let mut v: Vec<(String, String)> = s
            .iter()
            .map(|x| (x.name.clone(), x.description.clone()))
            .collect();
        v.sort();
        v
    };
    have.identifier != want.identifier
        || have.name != name
        || scopes(&have.scopes) != scopes(&want.scopes)
        || (want.team.is_some() && have.team != want.team)
}

/// Whether the server's client differs from what the spec seeds, in the fields the spec
/// sets (scopes, token lifetime, authentication method, JWKS URI, and the owning team and
/// managing tool when it names them).
pub fn client_differs(want: &ClientInput, have: &Client) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let method = want
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    have.name != want.name
        || sorted(&have.scopes) != sorted(&want.scopes)
        || have.token_ttl_seconds != want.token_ttl_seconds
        || have.token_endpoint_auth_method != method
        || have.jwks_uri != want.jwks_uri
        || (want.team.is_some() && have.team != want.team)
        || (want.managed_by.is_some() && have.managed_by != want.managed_by)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str], ttl: Option<i64>) -> Client {
        Client {
            client_id: "id".into(),
            name: "svc".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            default_scopes: Vec::new(),
            token_ttl_seconds: ttl,
            token_endpoint_auth_method: "client_secret_basic".into(),
            grant_types: vec!["client_credentials".into()],
            jwks: None,
            jwks_uri: None,
            secrets: Vec::new(),
            team: None,
            managed_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_seeded_client_differs_only_in_the_fields_the_spec_sets() {
        let want = ClientInput {
            name: "svc".into(),
            scopes: vec!["b".into(), "a".into()],
            token_ttl_seconds: Some(300),
            ..ClientInput::default()
        };
        assert!(!client_differs(&want, &client(&["a", "b"], Some(300))));
        assert!(client_differs(&want, &client(&["a"], Some(300))));
        assert!(client_differs(&want, &client(&["a", "b"], None)));
    }

    #[test]
    fn a_seeded_resource_server_compares_name_by_default_and_scopes_in_any_order() {
        let want = ResourceServerInput {
            identifier: "https://api".into(),
            name: None,
            scopes: vec![
                ScopeInput {
                    name: "w".into(),
                    description: String::new(),
                },
                ScopeInput {
                    name: "r".into(),
                    description: "read".into(),
                },
            ],
            team: None,
            managed_by: None,
        };
        let mut have = ResourceServer {
            identifier: "https://api".into(),
            name: "https://api".into(),
            team: None,
            managed_by: None,
            scopes: vec![
                ScopeInput {
                    name: "r".into(),
                    description: "read".into(),
                },
                ScopeInput {
                    name: "w".into(),
                    description: String::new(),
                },
            ],
            created_at: 0,
            updated_at: 0,
        };
        assert!(!resource_server_differs(&want, &have));
        have.scopes[0].description = "Read".into();
        assert!(resource_server_differs(&want, &have));
    }

    #[test]
    fn the_spec_seeds_its_resource_servers_and_clients() {
        let m = crate::spec::load_str(
            include_str!("../../examples/production.yaml"),
            "production.yaml",
        )
        .unwrap();
        let rs = resource_servers(&m.spec);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].identifier, "https://payments.example.com");
        assert_eq!(rs[0].scopes[1].name, "payments:write");
        let cs = clients(&m.spec);
        assert_eq!(cs[0].token_ttl_seconds, Some(300));
        assert_eq!(
            cs[1].token_endpoint_auth_method.as_deref(),
            Some("private_key_jwt")
        );
        assert!(cs[1].jwks_uri.is_some());
    }
}
