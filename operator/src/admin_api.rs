//! A client of the auth server's admin API (`/admin/v1`), as any other program would use
//! it: an access token from the token endpoint with the domain's admin client
//! (`client_credentials`, scope `authdomain:admin`), cached until shortly before it
//! expires, then plain JSON over HTTPS. Secrets in answers are never logged.

use std::time::{Duration, Instant};

use authdomain_api::{Client, ClientInput, CreatedClient, NewSecret};
use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the auth server at {base} is unreachable: {message}")]
    Unreachable { base: String, message: String },
    #[error("the auth server refused the admin client's credentials ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: conflict: {message}")]
    Conflict { what: String, message: String },
    #[error("{what}: the auth server answered {status}: {message}")]
    Rejected {
        what: String,
        status: u16,
        message: String,
    },
}

impl AdminError {
    /// Whether trying again later may help (the server or network, not the request).
    pub fn is_transient(&self) -> bool {
        match self {
            AdminError::Unreachable { .. } => true,
            AdminError::Rejected { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The admin client's credentials (as `authdomain bootstrap` keeps them).
#[derive(Clone)]
pub struct AdminCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// A session with one domain's auth server.
pub struct AdminApi {
    base: String,
    credentials: AdminCredentials,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

async fn message(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => v["error_description"]
            .as_str()
            .or(v["message"].as_str())
            .or(v["error"].as_str())
            .map(str::to_owned)
            .unwrap_or(text),
        Err(_) if text.is_empty() => status.to_string(),
        Err(_) => text.chars().take(300).collect(),
    }
}

impl AdminApi {
    /// `base` is the issuer (the server's public base URL).
    pub fn new(base: &str, credentials: AdminCredentials, http: reqwest::Client) -> AdminApi {
        AdminApi {
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            http,
            token: Mutex::new(None),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> AdminError {
        AdminError::Unreachable {
            base: self.base.clone(),
            message: e.without_url().to_string(),
        }
    }

    async fn token(&self) -> Result<String, AdminError> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(
                &self.credentials.client_id,
                Some(&self.credentials.client_secret),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "authdomain:admin"),
            ])
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            // The server is there and refuses these credentials (invalid_client,
            // invalid_scope): the admin client was replaced or lost its scope.
            400..=499 if status != 429 => {
                return Err(AdminError::Unauthorized {
                    status,
                    message: message(resp).await,
                });
            }
            // Overloaded, throttling, its database away, a gateway's 502/504: the
            // server's trouble, not the credentials'. Transient.
            _ => {
                return Err(AdminError::Rejected {
                    what: "getting the admin token".to_owned(),
                    status,
                    message: message(resp).await,
                });
            }
        }
        let body: Value = resp.json().await.map_err(|e| self.unreachable(e))?;
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        // Renewed a minute before it expires (or at half its life if it is short).
        let margin = (lifetime / 2).min(60);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime - margin),
        ));
        Ok(token)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        what: String,
        body: Option<&Value>,
    ) -> Result<Option<Value>, AdminError> {
        let token = self.token().await?;
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        match status {
            204 => Ok(None),
            200..=299 => resp.json().await.map(Some).map_err(|e| self.unreachable(e)),
            401 | 403 => {
                // A token revoked or expired early: forget it, the next call gets a new one.
                *self.token.lock().await = None;
                Err(AdminError::Unauthorized {
                    status,
                    message: message(resp).await,
                })
            }
            404 => Err(AdminError::NotFound { what }),
            409 => Err(AdminError::Conflict {
                what,
                message: message(resp).await,
            }),
            _ => Err(AdminError::Rejected {
                what,
                status,
                message: message(resp).await,
            }),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        what: &str,
        v: Option<Value>,
    ) -> Result<T, AdminError> {
        serde_json::from_value(v.unwrap_or(Value::Null)).map_err(|e| AdminError::Rejected {
            what: what.to_owned(),
            status: 200,
            message: format!("unexpected answer: {e}"),
        })
    }

    pub async fn create_client(&self, input: &ClientInput) -> Result<CreatedClient, AdminError> {
        let what = format!(
            "creating client {}",
            input.client_id.as_deref().unwrap_or(&input.name)
        );
        let v = self
            .call(
                reqwest::Method::POST,
                "/clients",
                what.clone(),
                Some(&serde_json::to_value(input).expect("JSON")),
            )
            .await?;
        Self::parse(&what, v)
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client, AdminError> {
        let what = format!("client {client_id}");
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/clients/{client_id}"),
                what.clone(),
                None,
            )
            .await?;
        Self::parse(&what, v)
    }

    pub async fn update_client(
        &self,
        client_id: &str,
        input: &ClientInput,
    ) -> Result<Client, AdminError> {
        let what = format!("updating client {client_id}");
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("/clients/{client_id}"),
                what.clone(),
                Some(&serde_json::to_value(input).expect("JSON")),
            )
            .await?;
        Self::parse(&what, v)
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/clients/{client_id}"),
            format!("deleting client {client_id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    pub async fn add_secret(&self, client_id: &str) -> Result<NewSecret, AdminError> {
        let what = format!("adding a secret to client {client_id}");
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/clients/{client_id}/secrets"),
                what.clone(),
                None,
            )
            .await?;
        Self::parse(&what, v)
    }

    pub async fn revoke_secret(&self, client_id: &str, secret_id: &str) -> Result<(), AdminError> {
        match self
            .call(
                reqwest::Method::DELETE,
                &format!("/clients/{client_id}/secrets/{secret_id}"),
                format!("revoking secret {secret_id} of client {client_id}"),
                None,
            )
            .await
        {
            Ok(_) | Err(AdminError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
