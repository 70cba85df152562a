//! Management events: the operations an operator runs by invoking the Lambda function
//! directly (`lambda:InvokeFunction` is IAM-protected and API Gateway never forwards such
//! events). The events are `authdomain_api::ManagementEvent`; this runs them.

use authdomain_api::ManagementEvent;
use serde_json::{Value, json};

use super::{Actor, AdminError, Via};
use crate::authority::Authority;

/// Run one management event; errors are returned as `{"ok": false, "error": …}` so the
/// invoker sees a structured answer.
pub async fn handle(authority: &Authority, event: Value) -> Value {
    let parsed: ManagementEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => return json!({ "ok": false, "error": format!("invalid management event: {e}") }),
    };
    // IAM limits who may invoke the function directly: the provisioner and the operator.
    let actor = &Actor::system(Via::Event, "management-event");
    let result: Result<Value, AdminError> = async {
        Ok(match parsed {
            ManagementEvent::Prepare => {
                authority.prepare().await?;
                json!({ "prepared": true })
            }
            ManagementEvent::CreateAdminClient { name } => serde_json::to_value(
                authority
                    .create_admin_client(actor, name.as_deref().unwrap_or("admin"))
                    .await?,
            )
            .expect("serialisable"),
            ManagementEvent::PutResourceServer {
                resource_server,
                remove_held_scopes,
            } => serde_json::to_value(
                authority
                    .put_resource_server(actor, resource_server, false, remove_held_scopes)
                    .await?,
            )
            .expect("serialisable"),
            ManagementEvent::DeleteResourceServer {
                identifier,
                remove_held_scopes,
            } => {
                authority
                    .delete_resource_server_held(actor, &identifier, remove_held_scopes)
                    .await?;
                json!({ "deleted": identifier })
            }
            ManagementEvent::DeleteClient { client_id } => {
                authority.delete_client(actor, &client_id).await?;
                json!({ "deleted": client_id })
            }
            ManagementEvent::CreateClient { client } => {
                serde_json::to_value(authority.create_client(actor, client).await?)
                    .expect("serialisable")
            }
            ManagementEvent::GetClient { client_id } => {
                serde_json::to_value(authority.get_client(actor, &client_id).await?)
                    .expect("serialisable")
            }
            ManagementEvent::UpdateClient { client_id, client } => {
                serde_json::to_value(authority.update_client(actor, &client_id, client).await?)
                    .expect("serialisable")
            }
            ManagementEvent::ListResourceServers => {
                serde_json::to_value(authority.list_resource_servers(actor).await?)
                    .expect("serialisable")
            }
            ManagementEvent::RotateKeys { force } => {
                serde_json::to_value(authority.rotate_signing_keys(actor, force).await?)
                    .expect("serialisable")
            }
            ManagementEvent::ListKeys => {
                serde_json::to_value(authority.list_keys(actor).await?).expect("serialisable")
            }
        })
    }
    .await;
    match result {
        Ok(v) => json!({ "ok": true, "result": v }),
        Err(e) => json!({
            "ok": false,
            "not_found": matches!(e, AdminError::NotFound(_)),
            "error": e.to_string(),
        }),
    }
}
