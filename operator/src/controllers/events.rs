//! Events for actions and failures, through the core/v1 Events API in its classic form
//! (first/last timestamps and a count, no `eventTime`): `kubectl describe` shows them,
//! and events about a cluster-scoped AuthDomain are accepted in `default` by every API
//! server version. Kubernetes 1.20 refuses those in the events.k8s.io/v1 form (which
//! kube's `Recorder` writes) and in the core/v1 form with `eventTime`. Events are published on transitions and actions, never per
//! periodic check, so they do not pile up.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    controller: String,
    instance: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Recorder {
        Recorder {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
        }
    }

    /// Publish an event about `obj`. Failing to publish is logged, never fatal.
    pub async fn publish<K>(&self, obj: &K, kind: Kind, reason: &str, action: &str, note: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let namespace = obj.namespace().unwrap_or_else(|| "default".to_owned());
        let now = k8s_openapi::jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", obj.name_any())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(K::api_version(&()).into_owned()),
                kind: Some(K::kind(&()).into_owned()),
                name: Some(obj.name_any()),
                namespace: obj.namespace(),
                uid: obj.uid(),
                resource_version: obj.resource_version(),
                field_path: None,
            },
            type_: Some(
                match kind {
                    Kind::Normal => "Normal",
                    Kind::Warning => "Warning",
                }
                .to_owned(),
            ),
            reason: Some(reason.to_owned()),
            action: Some(action.to_owned()),
            // The API server limits messages to 1 KiB.
            message: Some(note.chars().take(1000).collect()),
            reporting_component: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            source: Some(EventSource {
                component: Some(self.controller.clone()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }
}
