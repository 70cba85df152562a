//! Management events: what an operator sends by invoking the Lambda function directly
//! (`lambda:InvokeFunction` is IAM-protected and API Gateway never forwards such events).
//! An event is `{"authdomain": {"action": "...", ...}}`; the answer is `{"ok": true,
//! "result": …}` or `{"ok": false, "not_found": bool, "error": "…"}`.

use serde::{Deserialize, Serialize};

use crate::{ClientInput, ResourceServerInput};

/// The key that marks an event as a management event.
pub const EVENT_KEY: &str = "authdomain";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ManagementEvent {
    /// Run migrations, create missing signing keys and the admin resource server.
    Prepare,
    /// Create a client with the admin scope; the response carries its secret once.
    CreateAdminClient {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Create or replace a resource server. Removing scopes that clients hold is refused
    /// (naming them) unless `remove_held_scopes`; then they are taken from those clients.
    PutResourceServer {
        resource_server: ResourceServerInput,
        #[serde(default)]
        remove_held_scopes: bool,
    },
    /// Delete a resource server; as [`ManagementEvent::PutResourceServer`] for the scopes
    /// that clients hold.
    DeleteResourceServer {
        identifier: String,
        #[serde(default)]
        remove_held_scopes: bool,
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
    /// Delete a client: its secrets stop working at once.
    DeleteClient {
        client_id: String,
    },
    /// Every resource server and its scopes.
    ListResourceServers,
    RotateKeys {
        #[serde(default)]
        force: bool,
    },
    ListKeys,
}

impl ManagementEvent {
    /// The `action` name, for logs and error messages.
    pub fn action(&self) -> &'static str {
        match self {
            ManagementEvent::Prepare => "prepare",
            ManagementEvent::CreateAdminClient { .. } => "create-admin-client",
            ManagementEvent::PutResourceServer { .. } => "put-resource-server",
            ManagementEvent::DeleteResourceServer { .. } => "delete-resource-server",
            ManagementEvent::CreateClient { .. } => "create-client",
            ManagementEvent::GetClient { .. } => "get-client",
            ManagementEvent::UpdateClient { .. } => "update-client",
            ManagementEvent::DeleteClient { .. } => "delete-client",
            ManagementEvent::ListResourceServers => "list-resource-servers",
            ManagementEvent::RotateKeys { .. } => "rotate-keys",
            ManagementEvent::ListKeys => "list-keys",
        }
    }

    /// The whole invocation payload: `{"authdomain": <this event>}`.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({ EVENT_KEY: self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_wire_form_the_function_reads() {
        let e = ManagementEvent::GetClient {
            client_id: "abc".into(),
        };
        assert_eq!(
            e.payload(),
            serde_json::json!({"authdomain": {"action": "get-client", "client_id": "abc"}})
        );
        assert_eq!(e.action(), "get-client");
        let back: ManagementEvent = serde_json::from_value(e.payload()[EVENT_KEY].clone()).unwrap();
        assert!(matches!(back, ManagementEvent::GetClient { client_id } if client_id == "abc"));
        let prepare: ManagementEvent =
            serde_json::from_value(serde_json::json!({"action": "prepare"})).unwrap();
        assert_eq!(prepare.action(), "prepare");
        assert!(
            serde_json::from_value::<ManagementEvent>(serde_json::json!({"action": "nope"}))
                .is_err()
        );
    }
}
