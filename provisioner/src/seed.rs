//! What the spec seeds on the auth server (resource servers and clients), in the auth
//! server's own input types (pure). `authdomain dev` registers them in-process; bootstrap
//! sends the same values as management events to the function.

use authserver::registry::{ClientInput, ResourceServerInput, ScopeInput};

use crate::spec::{AuthDomainSpec, ClientAuthMethod};

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
        })
        .collect()
}

pub fn auth_method(m: ClientAuthMethod) -> &'static str {
    match m {
        ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
        ClientAuthMethod::ClientSecretPost => "client_secret_post",
        ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
    }
}

pub fn clients(spec: &AuthDomainSpec) -> Vec<ClientInput> {
    spec.clients
        .iter()
        .map(|c| ClientInput {
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            token_ttl_seconds: c.token_ttl.map(i64::from),
            token_endpoint_auth_method: Some(auth_method(c.auth_method).to_owned()),
            jwks_uri: c.jwks_uri.clone(),
            ..ClientInput::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
