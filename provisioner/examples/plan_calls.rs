//! AWS calls and wall time of a no-op plan, for one domain and across many domains in one
//! account, against a moto server and an OCI registry on loopback that this starts (the
//! test harness's: tests/moto_server.py and Debian's docker-registry). Prints figures.
//!
//! `cargo run -p provisioner --example plan_calls -- [DOMAINS]` (bench/plan.sh runs it)

use std::time::Instant;

use authdomain_core::plan::Service;
use authdomain_core::spec::{self, Architecture};
use provisioner::aws::{Aws, AwsOptions};
use provisioner::image::{self, registry::Registry};
use provisioner::reconcile;

fn manifest(name: &str, digest: &str) -> spec::AuthDomainManifest {
    let src = format!(
        "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: {name}\nspec:\n  region: eu-west-1\n  network:\n    availabilityZones: 3\n    natGateway: single\n  database:\n    finalSnapshot: false\n  image:\n    digest: {digest}\n  tags:\n    team: platform\n"
    );
    spec::load_str(&src, name).expect("valid manifest")
}

/// The smallest arm64 ELF header, padded: the image check reads the image, never runs it.
fn stand_in_binary() -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[18..20].copy_from_slice(&0xB7u16.to_le_bytes());
    b
}

fn line(what: &str, domains: usize, resources: usize, aws: &Aws, t: Instant) {
    println!(
        "{what}: domains={domains} resources={resources} calls={} mutating={} calls_per_domain={:.1} wall_ms={:.1}",
        aws.calls.total(),
        aws.calls.mutating(),
        aws.calls.total() as f64 / domains as f64,
        t.elapsed().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let domains: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let moto = authdomain_tests::moto::server();
    let registry = authdomain_tests::registry::shared();
    let aws = Aws::connect(&AwsOptions {
        region: Some("eu-west-1".into()),
        endpoint_url: Some(moto.endpoint().to_owned()),
        moto_account: Some(moto.new_account()),
        static_credentials: Some(("testing".into(), "testing".into())),
        registry_url: Some(registry.url().to_owned()),
        ..Default::default()
    })
    .await;
    let image = image::assemble(&stand_in_binary(), Architecture::Arm64, "bench").expect("image");
    // Each domain's repository holds the image (as `authdomain image push` leaves it).
    let mut manifests = Vec::new();
    for i in 0..domains {
        let name = format!("bench{i:03}");
        let repository = format!("{name}-authserver");
        let digest = Registry::connect(&aws, &format!("registry.bench/{repository}"))
            .await
            .expect("registry")
            .push(&repository, &image, None)
            .await
            .expect("push")
            .digest;
        manifests.push(manifest(&name, &digest));
    }
    let started = Instant::now();
    for m in &manifests {
        let (plan, observed) = reconcile::plan(&aws, m).await.expect("plan");
        reconcile::apply(&aws, m, &plan, &observed, |_| {})
            .await
            .expect("apply");
    }
    let desired = authdomain_core::plan::desired(&manifests[0]);
    let resources = desired.len();
    let ec2 = desired
        .iter()
        .filter(|d| d.id.kind.service() == Service::Ec2)
        .count();
    println!(
        "setup: {domains} domains applied in {:.1} s; per domain {resources} resources ({ec2} of them EC2)",
        started.elapsed().as_secs_f64()
    );

    // Warm: one plan first (connections, moto's first-request costs).
    reconcile::plan(&aws, &manifests[0]).await.expect("plan");
    aws.calls.reset();
    let t = Instant::now();
    let (plan, _) = reconcile::plan(&aws, &manifests[0]).await.expect("plan");
    assert!(plan.is_empty(), "no-op plan not empty: {plan:#?}");
    line("no-op plan, one domain", 1, resources, &aws, t);
    println!("  by operation: {:?}", aws.calls.snapshot());

    aws.calls.reset();
    let t = Instant::now();
    for m in &manifests {
        let (plan, _) = reconcile::plan(&aws, m).await.expect("plan");
        assert!(plan.is_empty());
    }
    line(
        "drift, domains one by one",
        domains,
        domains * resources,
        &aws,
        t,
    );

    aws.calls.reset();
    let t = Instant::now();
    let plans = reconcile::plan_many(&aws, &manifests).await.expect("plan");
    assert!(plans.iter().all(|p| p.is_empty()));
    line(
        "drift, domains together (plan_many)",
        domains,
        domains * resources,
        &aws,
        t,
    );
    println!("  by operation: {:?}", aws.calls.snapshot());
}
