//! AWS calls and wall time of a no-op plan, for one domain and across many domains in one
//! account, against an AWS endpoint (normally moto: see bench/plan.sh). Prints figures.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run --release -p provisioner --example plan_calls -- [DOMAINS]`

use std::time::Instant;

use provisioner::aws::{Aws, AwsOptions};
use provisioner::{reconcile, spec};

fn manifest(name: &str) -> spec::AuthDomainManifest {
    let src = format!(
        "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: {name}\nspec:\n  region: eu-west-1\n  network:\n    availabilityZones: 3\n    natGateway: single\n  image:\n    digest: sha256:{}\n",
        "0".repeat(64)
    );
    spec::load_str(&src, name).expect("valid manifest")
}

#[tokio::main]
async fn main() {
    let domains: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("set AWS_ENDPOINT_URL (a moto server)");
    let aws = Aws::connect(&AwsOptions {
        region: Some("eu-west-1".into()),
        endpoint_url: Some(endpoint),
        moto_account: Some(format!("{:012}", std::process::id())),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let manifests: Vec<_> = (0..domains)
        .map(|i| manifest(&format!("bench{i:03}")))
        .collect();
    let started = Instant::now();
    for m in &manifests {
        let (plan, observed) = reconcile::plan(&aws, m).await.expect("plan");
        reconcile::apply(&aws, m, &plan, &observed, |_| {})
            .await
            .expect("apply");
    }
    let resources = reconcile::desired(&manifests[0]).len();
    println!(
        "setup: {domains} domains x {resources} resources applied in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    aws.calls.reset();
    let t = Instant::now();
    let (plan, _) = reconcile::plan(&aws, &manifests[0]).await.expect("plan");
    assert!(plan.is_empty());
    println!(
        "no-op plan, 1 domain ({resources} resources): calls={} mutating={} wall_ms={:.1}",
        aws.calls.total(),
        aws.calls.mutating(),
        t.elapsed().as_secs_f64() * 1e3
    );

    aws.calls.reset();
    let t = Instant::now();
    for m in &manifests {
        let (plan, _) = reconcile::plan(&aws, m).await.expect("plan");
        assert!(plan.is_empty());
    }
    println!(
        "drift, {domains} domains one by one ({} resources): calls={} mutating={} wall_ms={:.1} calls_per_domain={:.1}",
        domains * resources,
        aws.calls.total(),
        aws.calls.mutating(),
        t.elapsed().as_secs_f64() * 1e3,
        aws.calls.total() as f64 / domains as f64
    );

    aws.calls.reset();
    let t = Instant::now();
    let plans = reconcile::plan_many(&aws, &manifests).await.expect("plan");
    assert!(plans.iter().all(|p| p.is_empty()));
    println!(
        "drift, {domains} domains together ({} resources): calls={} mutating={} wall_ms={:.1} calls_per_domain={:.1}",
        domains * resources,
        aws.calls.total(),
        aws.calls.mutating(),
        t.elapsed().as_secs_f64() * 1e3,
        aws.calls.total() as f64 / domains as f64
    );
    println!("calls by operation (together): {:?}", aws.calls.snapshot());
}
