//! The self-serve portal's settings: how people sign in, which groups are admins and
//! which form teams, how long a session lasts. Plain data, checked by [`PortalSettings::validate`];
//! the portal (`crate::portal`) serves them.

use std::collections::BTreeMap;
use std::time::Duration;

/// The portal's client secret at the identity provider: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(REDACTED)")
    }
}

/// How people sign in.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// An OpenID Connect provider (Entra ID, Okta, Google Workspace, Keycloak, …).
    Oidc(OidcProvider),
    /// `authdomain dev` only: pick a name and a role, accepted from loopback addresses only
    /// and on a loopback issuer only. The page says so.
    Development,
}

#[derive(Debug, Clone)]
pub struct OidcProvider {
    /// The provider's issuer, exactly as its discovery document and ID tokens say it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Scopes to ask for (default `openid profile email`; add the one that releases the
    /// groups claim if the provider needs it).
    pub scopes: Vec<String>,
    /// The name on the sign-in button (default: the issuer's host).
    pub display_name: String,
}

impl OidcProvider {
    /// The sign-in button's default name: the issuer's host.
    pub fn default_display_name(issuer: &str) -> String {
        url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| issuer.to_owned())
    }
}

/// The portal's settings (see `authserver --help`, `AUTHSERVER_PORTAL_*`, and the spec's
/// `portal`).
#[derive(Debug, Clone)]
pub struct PortalSettings {
    pub sign_in: SignIn,
    /// The ID token claim that lists the person's groups (default `groups`).
    pub groups_claim: String,
    /// Members of any of these groups are admins.
    pub admin_groups: Vec<String>,
    /// Team → the groups whose members belong to it.
    pub teams: BTreeMap<String, Vec<String>>,
    /// How long a session lasts (default 8 hours); a sign-in starts a new one.
    pub session_ttl: Duration,
    /// Shown in the page header (the domain's name).
    pub domain_name: String,
}

impl PortalSettings {
    pub fn new(sign_in: SignIn) -> PortalSettings {
        PortalSettings {
            sign_in,
            groups_claim: "groups".into(),
            admin_groups: Vec::new(),
            teams: BTreeMap::new(),
            session_ttl: Duration::from_secs(8 * 3600),
            domain_name: "AuthDomain".into(),
        }
    }

    /// Check what a person cannot fix from the page: team names, a provider issuer.
    pub fn validate(&self) -> Result<(), String> {
        for t in self.teams.keys() {
            if !authdomain_api::names::is_team(t) {
                return Err(format!(
                    "portal team `{t}`: expected {}",
                    authdomain_api::names::TEAM_RULE
                ));
            }
        }
        if let SignIn::Oidc(p) = &self.sign_in {
            let u = url::Url::parse(&p.issuer)
                .map_err(|_| format!("portal issuer `{}` is not an absolute URL", p.issuer))?;
            let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
                return Err(format!(
                    "portal issuer `{}` must use https (http only on localhost)",
                    p.issuer
                ));
            }
            if p.client_id.is_empty() {
                return Err("the portal's client id is empty".into());
            }
            if p.client_secret.0.is_empty() {
                return Err("the portal's client secret is empty".into());
            }
        }
        if self.session_ttl < Duration::from_secs(300) {
            return Err("the portal's session lifetime must be at least 5 minutes".into());
        }
        Ok(())
    }
}
