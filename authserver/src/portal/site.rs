//! The portal as served: its settings, the provider client, where it lives and whether
//! its cookies are `Secure`.

use super::oidc;
use crate::settings::portal::{PortalSettings, SignIn};

/// The portal as served: its settings (None: not configured; the page says how), the
/// provider client, and where it lives.
pub struct Portal {
    pub settings: PortalSettings,
    pub configured: bool,
    pub oidc: Option<oidc::OidcClient>,
    /// The path of `/portal` as the browser sees it (with an API stage's prefix).
    pub base: String,
    /// The absolute URL of `/portal`.
    pub url: String,
    /// Cookies are `Secure` unless the issuer is plain http (allowed on loopback only).
    pub secure: bool,
    /// The issuer is a loopback address (development sign-in is possible only then).
    pub loopback: bool,
}

impl Portal {
    pub fn new(settings: &crate::Settings) -> Portal {
        let url = settings.endpoint("/portal");
        let parsed = url::Url::parse(&url).ok();
        let base = parsed
            .as_ref()
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|| "/portal".into());
        let loopback = parsed
            .as_ref()
            .is_some_and(|u| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")));
        let secure = parsed.as_ref().is_none_or(|u| u.scheme() == "https");
        let (portal_settings, configured) = match &settings.portal {
            Some(p) => (p.clone(), true),
            None => (PortalSettings::new(SignIn::Development), false),
        };
        let oidc = match &portal_settings.sign_in {
            SignIn::Oidc(p) if configured => Some(oidc::OidcClient::new(
                p.clone(),
                crate::outbound::Outbound::for_issuer(&settings.issuer),
            )),
            _ => None,
        };
        Portal {
            settings: portal_settings,
            configured,
            oidc,
            base,
            url,
            secure,
            loopback,
        }
    }

    /// `base` + `path`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Development sign-in is on (configured, and the issuer is loopback).
    pub fn dev_sign_in(&self) -> bool {
        self.configured && matches!(self.settings.sign_in, SignIn::Development) && self.loopback
    }
}
