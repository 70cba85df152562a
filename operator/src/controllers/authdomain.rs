//! The AuthDomain controller. One path with the CLI: a spec change (a new generation) or
//! `driftPolicy: Correct` runs `provisioner::bootstrap::run` (plan, apply, then the
//! day-one setup: database role, migrations, admin client, seeded clients), the same
//! function `authdomain bootstrap` calls; between changes a periodic drift check runs
//! `provisioner::reconcile::plan` and reports what differs. Deleting the resource runs
//! the destroy plan (per `deletionPolicy`) behind a finalizer.
//!
//! Reconciles run when the generation changes or when their own schedule (the drift
//! interval, a backoff) says so: the watch events of the controller's own status writes
//! are answered without work, so writing `status.lastDriftCheck` never starts another
//! plan.
//!
//! The operator cannot build images: a spec must name `image.digest` or `image.tag`.
//! Slow AWS states (a cluster still creating) are not waited for inside a reconcile:
//! the reconcile ends `Provisioning` and comes back in 30 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authdomain_core::plan::Plan;
use authdomain_core::spec;
use futures::StreamExt as _;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use provisioner::bootstrap::{self, BootstrapError};
use provisioner::reconcile;

use super::events::Kind as EventKind;
use super::{Context, jittered};
use crate::Error;
use crate::crd::{AuthDomain, AuthDomainStatus, FINALIZER_DOMAIN, Outputs};
use crate::status::{self, DRIFTED, READY, SYNCED, Wanted};

/// The provisioner's manifest for a custom resource.
pub fn manifest(ad: &AuthDomain) -> spec::AuthDomainManifest {
    spec::AuthDomainManifest {
        api_version: spec::API_VERSION.to_owned(),
        kind: spec::KIND.to_owned(),
        metadata: spec::Metadata {
            name: ad.name_any(),
            namespace: None,
            labels: Default::default(),
            annotations: Default::default(),
        },
        spec: ad.spec.0.clone(),
    }
}

/// The semantic rules the API server's schema cannot check (capacity order, scope
/// references, …), as one message naming every field.
pub fn semantic_problems(m: &spec::AuthDomainManifest) -> Option<String> {
    // A file secret is for `authdomain dev`; the operator converges AWS.
    let mut issues = spec::validate(m);
    issues.extend(spec::deploy_issues(m));
    if m.spec.image.digest.is_none() && m.spec.image.tag.is_none() {
        return Some(
            "spec.image: the operator deploys an image it is given: set spec.image.digest (or \
             spec.image.tag); `authdomain image push` builds and pushes one"
                .to_owned(),
        );
    }
    (!issues.is_empty()).then(|| {
        issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// The drift of a plan as status lines (`resource field: desired → actual`).
pub fn drift_lines(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for c in &plan.changes {
        if c.fields.is_empty() {
            out.push(format!(
                "{} {}: {}",
                c.action.as_str(),
                c.resource,
                c.reason
            ));
        }
        for f in &c.fields {
            out.push(format!(
                "{} {}: {} → {}",
                c.resource, f.field, f.desired, f.actual
            ));
        }
    }
    out
}

fn outputs(values: &serde_json::Value, admin_secret: Option<String>) -> Outputs {
    let s = |k: &str| values[k].as_str().map(str::to_owned);
    Outputs {
        issuer: s("issuer"),
        token_url: s("tokenEndpoint"),
        api_id: s("apiId"),
        function_arn: s("functionArn"),
        cluster_endpoint: s("clusterEndpoint"),
        admin_secret,
    }
}

async fn patch_status(
    ctx: &Context,
    ad: &AuthDomain,
    status: &AuthDomainStatus,
) -> Result<(), Error> {
    let api: Api<AuthDomain> = Api::all(ctx.client.clone());
    super::patch_status(&api, ad, status).await
}

fn check_interval(ctx: &Context, ad: &AuthDomain) -> Duration {
    ad.spec
        .0
        .operator
        .drift_check_minutes
        .map(|m| Duration::from_secs(u64::from(m) * 60))
        .unwrap_or(ctx.config.drift_interval)
}

/// Converge (spec changed, or drift to correct) or check for drift.
/// The key of a domain in the context's schedule.
fn key(ad: &AuthDomain) -> String {
    format!("authdomain/{}", ad.name_any())
}

/// What the registrations' apply may do beyond the default, from the AuthDomain's
/// annotations (`authdomain.io/adopt-registrations: "true"`,
/// `authdomain.io/remove-held-scopes: "true"`): the CLI's `--adopt` and
/// `--remove-held-scopes`.
fn allowed(ad: &AuthDomain) -> authdomain_core::plan::Allow {
    let on = |k: &str| ad.annotations().get(k).map(String::as_str) == Some("true");
    authdomain_core::plan::Allow {
        adopt: on("authdomain.io/adopt-registrations"),
        remove_held_scopes: on("authdomain.io/remove-held-scopes"),
    }
}

async fn apply(ad: Arc<AuthDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let generation = ad.meta().generation;
    // Woken by something other than a new generation (our own status write) before the
    // next drift check is due: nothing to do. A spec edit always passes.
    if let Some(wait) = ctx.not_due(&key(&ad), generation) {
        return Ok(Action::requeue(wait));
    }
    let mut st = ad.status.clone().unwrap_or_default();
    let now = status::now();
    let m = manifest(&ad);
    if let Some(problem) = semantic_problems(&m) {
        let flipped = status::set(
            &mut st.conditions,
            Wanted::no(SYNCED, "InvalidSpec", problem.clone()),
            generation,
            &now,
        );
        status::set(
            &mut st.conditions,
            Wanted::no(READY, "InvalidSpec", problem.clone()),
            generation,
            &now,
        );
        st.observed_generation = generation;
        patch_status(&ctx, &ad, &st).await?;
        if flipped {
            ctx.recorder
                .publish(
                    ad.as_ref(),
                    EventKind::Warning,
                    "InvalidSpec",
                    "Validate",
                    &problem,
                )
                .await;
        }
        // Terminal: a new generation (an edit) triggers the next reconcile.
        ctx.schedule(&key(&ad), generation, Duration::from_secs(24 * 3600));
        return Ok(Action::await_change());
    }
    let aws = ctx.aws_for(&m.spec).await?;
    let spec_changed =
        st.observed_generation != generation || !status::is_true(&st.conditions, READY);
    let (plan, _) = reconcile::plan(&aws, &m).await?;
    let correct = m.spec.operator.drift_policy == spec::DriftPolicy::Correct;
    st.last_drift_check = Some(now.clone());
    if spec_changed || (correct && !plan.is_empty()) {
        let started = Instant::now();
        let options = bootstrap::Options {
            binary: None,
            // In a cluster the spec names the authorizer's image (spec.authorizer.digest).
            authorizer_binary: None,
            version: env!("CARGO_PKG_VERSION"),
            // Never block a reconcile on Aurora or Lambda: come back instead.
            timeouts: bootstrap::Timeouts {
                database: Duration::ZERO,
                function: Duration::ZERO,
            },
            allow: allowed(&ad),
        };
        let result = bootstrap::run(&aws, &m, &options, |_| {}).await;
        ctx.metrics.aws_calls(&aws.calls);
        match result {
            Ok(outcome) => {
                let observed = reconcile::observe(&aws, &m).await?;
                st.outputs = outputs(
                    &authdomain_core::plan::outputs(&m, &observed),
                    Some(outcome.admin_secret.clone()),
                );
                st.drift.clear();
                st.observed_generation = generation;
                let message = format!(
                    "{} infrastructure change(s), {} client(s) created, {} updated in {:.1}s",
                    outcome.applied.len(),
                    outcome.clients_created.len(),
                    outcome.clients_updated.len(),
                    started.elapsed().as_secs_f64()
                );
                let recovered = status::set(
                    &mut st.conditions,
                    Wanted::yes(SYNCED, "Applied", message.clone()),
                    generation,
                    &now,
                );
                status::set(
                    &mut st.conditions,
                    Wanted::yes(
                        READY,
                        "Ready",
                        format!("issuer {}", st.outputs.issuer.clone().unwrap_or_default()),
                    ),
                    generation,
                    &now,
                );
                let was_drifted = status::is_true(&st.conditions, DRIFTED);
                status::set(
                    &mut st.conditions,
                    Wanted::no(DRIFTED, "InSync", "AWS matches the spec"),
                    generation,
                    &now,
                );
                patch_status(&ctx, &ad, &st).await?;
                if outcome.changed() || recovered {
                    let reason = if was_drifted {
                        "DriftCorrected"
                    } else {
                        "Applied"
                    };
                    ctx.recorder
                        .publish(ad.as_ref(), EventKind::Normal, reason, "Apply", &message)
                        .await;
                }
                Ok(ctx.schedule(&key(&ad), generation, jittered(check_interval(&ctx, &ad))))
            }
            Err(e) if waiting(&e) => {
                let message = e.to_string();
                let was = status::find(&st.conditions, SYNCED).map(|c| c.reason.clone());
                status::set(
                    &mut st.conditions,
                    Wanted::no(READY, "Provisioning", message.clone()),
                    generation,
                    &now,
                );
                status::set(
                    &mut st.conditions,
                    Wanted::no(SYNCED, "Provisioning", message.clone()),
                    generation,
                    &now,
                );
                patch_status(&ctx, &ad, &st).await?;
                // An event on the transition, not on each 30 s look.
                if was.as_deref() != Some("Provisioning") {
                    ctx.recorder
                        .publish(
                            ad.as_ref(),
                            EventKind::Normal,
                            "Provisioning",
                            "Apply",
                            &message,
                        )
                        .await;
                }
                // Back in 30 s (sooner when the drift interval is shorter).
                let again = Duration::from_secs(30).min(check_interval(&ctx, &ad));
                Ok(ctx.schedule(&key(&ad), generation, again))
            }
            // Written to status by `reconcile` (one path for every failure).
            Err(e) => Err(Error::from(e)),
        }
    } else {
        // A drift check: report, do not act.
        ctx.metrics.aws_calls(&aws.calls);
        let lines = drift_lines(&plan);
        let flipped = if lines.is_empty() {
            status::set(
                &mut st.conditions,
                Wanted::no(DRIFTED, "InSync", "AWS matches the spec"),
                generation,
                &now,
            )
        } else {
            status::set(
                &mut st.conditions,
                Wanted::yes(
                    DRIFTED,
                    "DriftDetected",
                    format!("{} difference(s): {}", lines.len(), lines.join("; ")),
                ),
                generation,
                &now,
            )
        };
        let drifted = !lines.is_empty();
        st.drift = lines.clone();
        patch_status(&ctx, &ad, &st).await?;
        if flipped && drifted {
            ctx.metrics.drift_detected();
            ctx.recorder
                .publish(
                    ad.as_ref(),
                    EventKind::Warning,
                    "DriftDetected",
                    "CheckDrift",
                    &format!(
                        "AWS differs from the spec (driftPolicy Report): {}",
                        lines.join("; ")
                    ),
                )
                .await;
        }
        Ok(ctx.schedule(&key(&ad), generation, jittered(check_interval(&ctx, &ad))))
    }
}

/// A bootstrap that stopped because AWS is still creating something.
fn waiting(e: &BootstrapError) -> bool {
    matches!(e, BootstrapError::Aws(a) if a.class == provisioner::aws::ErrorClass::StillWaiting)
}

/// The finalizer: destroy per `deletionPolicy` (Retain keeps the data).
async fn cleanup(ad: Arc<AuthDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let m = manifest(&ad);
    let aws = ctx.aws_for(&m.spec).await?;
    let (plan, observed) = reconcile::destroy_plan(&aws, &m).await?;
    if plan.is_empty() {
        ctx.recorder
            .publish(
                ad.as_ref(),
                EventKind::Normal,
                "Deleted",
                "Destroy",
                "nothing left to delete in AWS",
            )
            .await;
        return Ok(Action::await_change());
    }
    match reconcile::apply(&aws, &m, &plan, &observed, |_| {}).await {
        Ok(steps) => {
            let note = format!(
                "deleted {} AWS resource(s) (deletionPolicy {:?})",
                steps.len(),
                m.spec.deletion_policy
            );
            ctx.recorder
                .publish(ad.as_ref(), EventKind::Normal, "Deleted", "Destroy", &note)
                .await;
            ctx.forget_admin(&ad.name_any()).await;
            Ok(Action::await_change())
        }
        // Reported in status and as an event by `reconcile`.
        Err(e) => Err(Error::Apply(e)),
    }
}

/// One reconcile. Every failure, wherever it happens (reading the credentials Secret,
/// the plan, the apply, the day-one setup, the destroy), ends in status: `Synced` False
/// with the error's reason, and `Ready` False too unless the domain is serving (a failed
/// drift check or correction of a Ready domain does not make it stop serving), plus an
/// event when the reason is new. `error_policy` then decides when to come back.
pub async fn reconcile(ad: Arc<AuthDomain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<AuthDomain> = Api::all(ctx.client.clone());
    let deleting = ad.meta().deletion_timestamp.is_some();
    let result = super::reconcile_with_finalizer(
        &api,
        FINALIZER_DOMAIN,
        "AuthDomain",
        ad.clone(),
        &ctx,
        |ad| apply(ad, ctx.clone()),
        |ad| cleanup(ad, ctx.clone()),
    )
    .await;
    match &result {
        Err(e) => {
            let action = if deleting { "Destroy" } else { "Apply" };
            super::report_failure(&ctx, &api, ad.as_ref(), e, action, |c| {
                if deleting || !status::is_true(c, READY) {
                    vec![SYNCED, READY]
                } else {
                    vec![SYNCED]
                }
            })
            .await;
        }
        Ok(_) if deleting => ctx.forget(&key(&ad)),
        Ok(_) => {}
    }
    result
}

/// Transient errors come back with exponential backoff (jittered, capped at 5 minutes);
/// terminal ones at the drift interval (an edit of the spec triggers a reconcile anyway).
pub fn error_policy(ad: Arc<AuthDomain>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(authdomain = %ad.name_any(), error = %error, kind = error.metric_label(), "reconcile failed");
    ctx.failed(
        &key(&ad),
        ad.meta().generation,
        error.is_transient(),
        jittered(check_interval(&ctx, &ad)),
    )
}

/// Run the controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<AuthDomain> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use authdomain_core::plan::{Action as PlanAction, Change, FieldChange, Kind, ResourceId};
    use serde_json::json;

    #[test]
    fn drift_is_listed_per_field_with_desired_and_actual() {
        let plan = Plan {
            changes: vec![
                Change {
                    resource: ResourceId::new(Kind::DbCluster, "main"),
                    action: PlanAction::Update,
                    physical_id: Some("d".into()),
                    fields: vec![FieldChange {
                        field: "max-capacity".into(),
                        desired: json!(2.0),
                        actual: json!(8.0),
                    }],
                    reason: "max-capacity differs".into(),
                },
                Change {
                    resource: ResourceId::new(Kind::ApiRoute, "GET /health"),
                    action: PlanAction::Create,
                    physical_id: None,
                    fields: vec![],
                    reason: "does not exist".into(),
                },
            ],
        };
        assert_eq!(
            drift_lines(&plan),
            [
                "db-cluster/main max-capacity: 2.0 → 8.0",
                "create api-route/GET /health: does not exist"
            ]
        );
    }

    #[test]
    fn the_operator_refuses_a_spec_without_an_image_and_names_semantic_errors() {
        let m = spec::load_str(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n",
            "d.yaml",
        )
        .unwrap();
        assert!(semantic_problems(&m).unwrap().contains("spec.image"));
        let mut m2 = m.clone();
        m2.spec.image.tag = Some("v1".into());
        assert_eq!(semantic_problems(&m2), None);
        m2.spec.database.min_capacity = 4.0;
        m2.spec.database.max_capacity = 2.0;
        let p = semantic_problems(&m2).unwrap();
        assert!(p.contains("spec.database"), "{p}");
        // A portal secret in a file is valid for `authdomain dev`, not for a deploy.
        let m3 = spec::load_str(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n  image:\n    tag: v1\n  portal:\n    issuer: https://login.example.com\n    clientId: portal\n    clientSecret:\n      file: s.txt\n    adminGroups: [platform]\n",
            "d.yaml",
        )
        .unwrap();
        let p = semantic_problems(&m3).unwrap();
        assert!(p.contains("spec.portal.clientSecret.file"), "{p}");
    }
}
