//! An API Gateway Lambda authorizer for AuthDomain access tokens. One binary answers HTTP
//! API authorizer events (payload 2.0, simple responses with a `client_id` and `scope`
//! context) and REST API TOKEN and REQUEST authorizer events (an IAM policy for the method
//! ARN, `principalId` the client id). Each API's routes map to the scopes they need; a
//! route not in the map is denied. Tokens are checked by `authdomain-verifier`, whose
//! JWKS cache lives as long as the Lambda instance (warm invocations fetch nothing).
//!
//! [`routes`] and [`events`] are pure; [`Authorizer::decide`] joins them to the verifier.
//! Logs never contain a token: a denial logs its reason and, when the token was valid,
//! the client id.

pub mod events;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use authdomain_verifier::{
    Algorithm, Config as VerifierConfig, RemoteKeys, RemoteSettings, Verifier, VerifyError,
};
use serde::Deserialize;
use serde_json::Value;

use events::{AuthRequest, Decision};
use routes::{RouteError, RouteTable};

/// The authorizer's configuration (`AUTHORIZER_CONFIG`, JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The AuthDomain issuer whose tokens are accepted.
    pub issuer: String,
    /// Accepted algorithms (default: RS256, ES256, EdDSA).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed, seconds (default 30).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    /// Per API id (`*` for any API not named): its resource server and routes.
    pub apis: BTreeMap<String, ApiConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The resource server identifier tokens must be for (`aud`).
    pub audience: String,
    /// Route key (`GET /orders/{id}`) → the scopes it needs.
    pub routes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("AUTHORIZER_CONFIG: {0}")]
    Json(String),
    #[error("AUTHORIZER_CONFIG: apis.{api}.routes: {error}")]
    Route { api: String, error: RouteError },
    #[error("AUTHORIZER_CONFIG: algorithms: {0}")]
    Algorithm(String),
    #[error("AUTHORIZER_CONFIG: issuer: {0}")]
    Issuer(String),
    #[error("AUTHORIZER_CONFIG: apis: at least one API is needed")]
    NoApis,
}

impl Config {
    /// Parse, naming the field of the first problem.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Json(if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            })
        })
    }
}

struct Api {
    verifier: Verifier<Arc<RemoteKeys>>,
    routes: RouteTable,
}

/// Verifies requests for the configured APIs.
pub struct Authorizer {
    apis: HashMap<String, Api>,
    keys: Arc<RemoteKeys>,
}

impl Authorizer {
    pub fn new(config: &Config, settings: RemoteSettings) -> Result<Authorizer, ConfigError> {
        if config.apis.is_empty() {
            return Err(ConfigError::NoApis);
        }
        let algorithms: Vec<Algorithm> = match &config.algorithms {
            Some(names) => names
                .iter()
                .map(|n| n.parse::<Algorithm>())
                .collect::<Result<_, _>>()
                .map_err(ConfigError::Algorithm)?,
            None => vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        };
        let keys = Arc::new(
            RemoteKeys::new(&config.issuer, &algorithms, settings)
                .map_err(|e| ConfigError::Issuer(e.to_string()))?,
        );
        let mut apis = HashMap::new();
        for (id, api) in &config.apis {
            let routes = RouteTable::new(&api.routes).map_err(|error| ConfigError::Route {
                api: id.clone(),
                error,
            })?;
            let verifier_config = VerifierConfig::new(config.issuer.clone(), api.audience.clone())
                .algorithms(algorithms.iter().copied())
                .leeway(Duration::from_secs(config.leeway_seconds.unwrap_or(30)));
            apis.insert(
                id.clone(),
                Api {
                    verifier: Verifier::with_keys(verifier_config, keys.clone()),
                    routes,
                },
            );
        }
        Ok(Authorizer { apis, keys })
    }

    /// The issuer's keys (fetch them at start-up with [`RemoteKeys::refresh`]).
    pub fn keys(&self) -> &RemoteKeys {
        &self.keys
    }

    /// Answer one event: the JSON API Gateway expects, or the function error to return
    /// (`Unauthorized` for a REST 401, any other for "cannot decide").
    pub async fn handle(&self, event: &Value) -> Result<Value, String> {
        let request = match events::parse(event) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "refused an event that is not an authorizer event");
                return Err(e.to_string());
            }
        };
        let decision = self.decide(&request).await;
        events::respond(&request, &decision)
    }

    /// The decision for a request (logged, without the token).
    pub async fn decide(&self, r: &AuthRequest) -> Decision {
        let Some(api) = self.apis.get(&r.api_id).or_else(|| self.apis.get("*")) else {
            tracing::info!(decision = "deny", reason = "API not configured", api_id = %r.api_id, method = %r.method, path = %r.path);
            return Decision::Deny { principal: None };
        };
        let route = r
            .route_key
            .as_deref()
            .and_then(|k| k.split_once(' '))
            .and_then(|(m, t)| api.routes.by_key(m, t))
            .or_else(|| api.routes.find(&r.method, &r.path));
        let Some(route) = route else {
            tracing::info!(decision = "deny", reason = "no route matches", api_id = %r.api_id, method = %r.method, path = %r.path);
            return Decision::Deny { principal: None };
        };
        let Some(token) = r.token.as_deref() else {
            tracing::info!(decision = "deny", reason = "no bearer token", route = %route.key);
            return Decision::Unauthorized;
        };
        let scopes: Vec<&str> = route.scopes.iter().map(String::as_str).collect();
        match api.verifier.verify_for(token, &scopes).await {
            Ok(t) => {
                tracing::info!(decision = "allow", client_id = %t.client_id, route = %route.key);
                Decision::Allow {
                    client_id: t.client_id.clone(),
                    scope: t.scopes.join(" "),
                }
            }
            Err(VerifyError::InsufficientScope { missing }) => {
                // The token verified: its client id is known and worth logging.
                let client = api
                    .verifier
                    .verify(token)
                    .await
                    .ok()
                    .map(|t| t.client_id.clone());
                tracing::info!(decision = "deny", reason = "insufficient scope", missing = %missing.join(" "), client_id = ?client, route = %route.key);
                Decision::Deny { principal: client }
            }
            Err(VerifyError::KeysUnavailable(why)) => {
                tracing::error!(decision = "error", reason = %why, route = %route.key, "the issuer's keys are unavailable");
                Decision::Unavailable(why)
            }
            Err(e) => {
                tracing::info!(decision = "deny", reason = %e, route = %route.key);
                Decision::Unauthorized
            }
        }
    }
}
