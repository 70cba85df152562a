//! Leader election with a `coordination.k8s.io/v1` Lease, so that several replicas are
//! safe: one holds the Lease and runs the controllers, the others wait to take over.
//! kube-rs has no built-in elector; this is the client-go algorithm in brief: acquire a
//! free or expired Lease, renew it well inside its duration, compare-and-swap every write
//! on `resourceVersion`, and step down (the process exits) if a renewal fails for longer
//! than the lease: another replica may hold it by then.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Settings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a Lease holds without renewal (15 s, as client-go's default).
    pub lease_duration: Duration,
    /// How often the holder renews (5 s) and others retry (jittered).
    pub retry_period: Duration,
}

impl Settings {
    pub fn new(namespace: &str, identity: &str) -> Settings {
        Settings {
            namespace: namespace.to_owned(),
            name: "authdomain-operator".to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
    }
}

/// Whether `lease` may be taken by `identity` at `now`: free, expired, or already ours.
pub fn can_take(lease: &Lease, identity: &str, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else {
        return true;
    };
    match spec.holder_identity.as_deref() {
        None | Some("") => true,
        Some(h) if h == identity => true,
        Some(_) => {
            let renewed = spec
                .renew_time
                .as_ref()
                .or(spec.acquire_time.as_ref())
                .map(|t| t.0);
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            match renewed {
                Some(t) => now > t + SignedDuration::from_secs(duration),
                None => true,
            }
        }
    }
}

fn spec_for(s: &Settings, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
    let ours = previous.and_then(|p| p.holder_identity.as_deref()) == Some(s.identity.as_str());
    LeaseSpec {
        holder_identity: Some(s.identity.clone()),
        lease_duration_seconds: Some(s.lease_duration.as_secs() as i32),
        acquire_time: if ours {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(
            previous.and_then(|p| p.lease_transitions).unwrap_or(0)
                + i32::from(!ours && previous.is_some()),
        ),
        ..LeaseSpec::default()
    }
}

/// One attempt to acquire or renew: Ok(true) when we hold the Lease afterwards.
pub async fn try_acquire(api: &Api<Lease>, s: &Settings) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    match api.get_opt(&s.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    namespace: Some(s.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec_for(s, None, now)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(lease) if can_take(&lease, &s.identity, now) => {
            let mut next = lease.clone();
            next.spec = Some(spec_for(s, lease.spec.as_ref(), now));
            // `replace` carries the resourceVersion we read: a concurrent writer makes it fail.
            match api.replace(&s.name, &PostParams::default(), &next).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(_) => Ok(false),
    }
}

/// Give the Lease up (on shutdown) so another replica takes over at once.
pub async fn release(api: &Api<Lease>, s: &Settings) {
    if let Ok(Some(mut lease)) = api.get_opt(&s.name).await
        && let Some(spec) = lease.spec.as_mut()
        && spec.holder_identity.as_deref() == Some(s.identity.as_str())
    {
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = api.replace(&s.name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "could not release the leader Lease");
        }
    }
}

/// Keep trying to lead; the receiver says whether we lead now. Once leading, a renewal
/// failing for longer than the lease duration ends the task with `false` sent.
pub fn spawn(client: kube::Client, s: Settings) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, &s.namespace);
        let mut last_held: Option<std::time::Instant> = None;
        loop {
            match try_acquire(&api, &s).await {
                Ok(true) => {
                    if last_held.is_none() {
                        tracing::info!(identity = %s.identity, lease = %s.name, "became the leader");
                    }
                    last_held = Some(std::time::Instant::now());
                    tx.send_replace(true);
                }
                Ok(false) => {
                    if last_held.is_some() {
                        tracing::error!("lost the leader Lease to another replica");
                        tx.send_replace(false);
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: the API server did not answer");
                    if let Some(t) = last_held
                        && t.elapsed() > s.lease_duration
                    {
                        tracing::error!("could not renew the leader Lease in time; stepping down");
                        tx.send_replace(false);
                        return;
                    }
                }
            }
            let wait = if last_held.is_some() {
                s.retry_period
            } else {
                crate::controllers::jittered(s.retry_period)
            };
            tokio::time::sleep(wait).await;
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed_secs_ago: i64) -> Lease {
        let now = Timestamp::now();
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn a_lease_is_taken_when_free_expired_or_ours_only() {
        let now = Timestamp::now();
        assert!(can_take(&lease(None, 0), "a", now));
        assert!(can_take(&lease(Some("a"), 1), "a", now));
        assert!(!can_take(&lease(Some("b"), 1), "a", now));
        assert!(can_take(&lease(Some("b"), 20), "a", now));
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_keeps_the_acquire_time() {
        let s = Settings::new("ns", "a");
        let now = Timestamp::now();
        let theirs = lease(Some("b"), 30).spec.unwrap();
        let taken = spec_for(&s, Some(&theirs), now);
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(1));
        let renewed = spec_for(&s, Some(&taken), now + SignedDuration::from_secs(5));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
        assert_eq!(renewed.lease_transitions, Some(1));
    }
}
