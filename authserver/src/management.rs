//! Management events: the operations an operator runs by invoking the Lambda function
//! directly (`lambda:InvokeFunction` is IAM-protected and API Gateway never forwards such
//! events). An event is `{"authdomain": {"action": "...", ...}}`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::authority::Authority;
use crate::registry::{ClientInput, RegistryError, ResourceServerInput};

/// The key that marks an event as a management event.
pub const EVENT_KEY: &str = "authdomain";

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ManagementEvent {
    /// Run migrations, create missing signing keys and the admin resource server.
    Prepare,
    /// Create a client with the admin scope; the response carries its secret once.
    CreateAdminClient {
        #[serde(default)]
        name: Option<String>,
    },
    /// Create or replace a resource server.
    PutResourceServer {
        resource_server: ResourceServerInput,
    },
    /// Create a client.
    CreateClient {
        client: ClientInput,
    },
    /// One client (no secrets), or `not-found`.
    GetClient {
        client_id: String,
    },
    /// Replace a client's settings; its id and secrets stay.
    UpdateClient {
        client_id: String,
        client: ClientInput,
    },
    /// Every resource server and its scopes.
    ListResourceServers,
    RotateKeys {
        #[serde(default)]
        force: bool,
    },
    ListKeys,
}

/// Run one management event; errors are returned as `{"ok": false, "error": …}` so the
/// invoker sees a structured answer.
pub async fn handle(authority: &Authority, event: Value) -> Value {
    let parsed: ManagementEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => return json!({ "ok": false, "error": format!("invalid management event: {e}") }),
    };
    let result: Result<Value, RegistryError> = async {
        Ok(match parsed {
            ManagementEvent::Prepare => {
                authority.prepare().await?;
                json!({ "prepared": true })
            }
            ManagementEvent::CreateAdminClient { name } => serde_json::to_value(
                authority
                    .create_admin_client(name.as_deref().unwrap_or("admin"))
                    .await?,
            )
            .expect("serialisable"),
            ManagementEvent::PutResourceServer { resource_server } => serde_json::to_value(
                authority
                    .put_resource_server(resource_server, false)
                    .await?,
            )
            .expect("serialisable"),
            ManagementEvent::CreateClient { client } => {
                serde_json::to_value(authority.create_client(client).await?).expect("serialisable")
            }
            ManagementEvent::GetClient { client_id } => {
                serde_json::to_value(authority.get_client(&client_id).await?).expect("serialisable")
            }
            ManagementEvent::UpdateClient { client_id, client } => {
                serde_json::to_value(authority.update_client(&client_id, client).await?)
                    .expect("serialisable")
            }
            ManagementEvent::ListResourceServers => {
                serde_json::to_value(authority.list_resource_servers().await?)
                    .expect("serialisable")
            }
            ManagementEvent::RotateKeys { force } => {
                serde_json::to_value(authority.rotate_signing_keys(force).await?)
                    .expect("serialisable")
            }
            ManagementEvent::ListKeys => {
                serde_json::to_value(authority.list_keys().await?).expect("serialisable")
            }
        })
    }
    .await;
    match result {
        Ok(v) => json!({ "ok": true, "result": v }),
        Err(e) => json!({
            "ok": false,
            "not_found": matches!(e, RegistryError::NotFound(_)),
            "error": e.to_string(),
        }),
    }
}
