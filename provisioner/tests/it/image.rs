//! The auth server image against a real OCI registry (Debian's docker-registry on
//! loopback), authenticated as ECR does it: HTTP Basic with the token from
//! `ecr:GetAuthorizationToken` (issued here by moto). Push, read back, digest and
//! architecture; the real cross-built arm64 and x86_64 binaries.

use authdomain_core::spec::Architecture;
use provisioner::image::registry::{Found, Registry, RegistryError};
use provisioner::image::{self, ImageConfig};

/// moto's ECR token for an account is `AWS:<account>-auth-token`.
fn ecr_password(account: &str) -> String {
    format!("{account}-auth-token")
}

#[tokio::test]
async fn the_real_binaries_push_read_back_with_their_digest_and_architecture() {
    let account = authdomain_tests::moto::server().new_account();
    let password = ecr_password(&account);
    let registry = authdomain_tests::registry::start(Some(("AWS", &password)));
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let session = Registry::connect(&aws, "1.dkr.ecr.eu-west-1.amazonaws.com/team/authserver")
        .await
        .unwrap();
    for arch in [Architecture::Arm64, Architecture::X86_64] {
        let binary = std::fs::read(authdomain_tests::cross::authserver(arch.as_str())).unwrap();
        let built = image::assemble(&binary, arch, env!("CARGO_PKG_VERSION")).unwrap();
        // Built twice from the same binary: the same bytes, so the same digest.
        assert_eq!(
            built,
            image::assemble(&binary, arch, env!("CARGO_PKG_VERSION")).unwrap()
        );
        let tag = format!("v1-{}", arch.as_str());
        let pushed = session
            .push("team/authserver", &built, Some(&tag))
            .await
            .unwrap();
        assert_eq!(pushed.digest, built.digest);
        assert!(!pushed.reused);
        // The registry computes the same digest from the bytes it stored.
        assert_eq!(
            session
                .manifest_digest("team/authserver", &tag)
                .await
                .unwrap(),
            Some(built.digest.clone())
        );
        let Found::Image(config) = session
            .inspect("team/authserver", &built.digest)
            .await
            .unwrap()
        else {
            panic!("an image, not an index")
        };
        let expected: ImageConfig = serde_json::from_slice(&built.config).unwrap();
        assert_eq!(config, expected);
        assert_eq!(config.architecture, image::oci_architecture(arch));
        assert_eq!(config.config.entrypoint, [image::ENTRYPOINT]);
        session
            .check_architecture("team/authserver", &built.digest, arch)
            .await
            .unwrap();
        // Pushing it again uploads nothing.
        let again = session
            .push("team/authserver", &built, Some(&tag))
            .await
            .unwrap();
        assert!(again.reused);
    }
    assert_eq!(
        session
            .manifest_digest("team/authserver", "never-pushed")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_authorizer_ships_as_its_own_image_for_both_architectures() {
    let account = authdomain_tests::moto::server().new_account();
    let password = ecr_password(&account);
    let registry = authdomain_tests::registry::start(Some(("AWS", &password)));
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let session = Registry::connect(&aws, "1.dkr.ecr.eu-west-1.amazonaws.com/team/authorizer")
        .await
        .unwrap();
    for arch in [Architecture::Arm64, Architecture::X86_64] {
        let binary = std::fs::read(authdomain_tests::cross::authorizer(arch.as_str())).unwrap();
        assert_eq!(image::elf_architecture(&binary), Some(arch));
        let built =
            image::assemble_program(image::Program::Authorizer, &binary, arch, "0.1.0").unwrap();
        assert!(
            built.size() < 6_000_000,
            "{} bytes: the authorizer image stays small",
            built.size()
        );
        let pushed = session.push("team/authorizer", &built, None).await.unwrap();
        assert_eq!(pushed.digest, built.digest);
        let Found::Image(config) = session
            .inspect("team/authorizer", &built.digest)
            .await
            .unwrap()
        else {
            panic!("an image, not an index")
        };
        assert_eq!(config.config.entrypoint, ["/authorizer"]);
        assert_eq!(config.architecture, image::oci_architecture(arch));
        session
            .check_architecture("team/authorizer", &built.digest, arch)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_image_for_another_architecture_or_an_index_is_refused_naming_both() {
    let account = authdomain_tests::moto::server().new_account();
    let registry = authdomain_tests::registry::start(None);
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let session = Registry::connect(&aws, "1.dkr.ecr.eu-west-1.amazonaws.com/svc")
        .await
        .unwrap();
    let binary = std::fs::read(authdomain_tests::cross::authserver("x86_64")).unwrap();
    let built = image::assemble(&binary, Architecture::X86_64, "test").unwrap();
    session.push("svc", &built, None).await.unwrap();
    let err = session
        .check_architecture("svc", &built.digest, Architecture::Arm64)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ArchitectureMismatch { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("linux/amd64") && message.contains("is arm64"),
        "{message}"
    );
    assert!(message.contains("Runtime.InvalidEntrypoint"), "{message}");

    // A multi-architecture index (what `docker buildx` pushes by default).
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": image::MANIFEST_MEDIA_TYPE,
            "digest": built.digest,
            "size": built.manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let digest = image::sha256(&body);
    let put = reqwest::Client::new()
        .put(format!("{}/v2/svc/manifests/{digest}", registry.url()))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let err = session
        .check_architecture("svc", &digest, Architecture::X86_64)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Index { .. }), "{err}");
    assert!(err.to_string().contains("single-architecture"), "{err}");

    // An image that is not there.
    let missing = format!("sha256:{}", "0".repeat(64));
    let err = session
        .check_architecture("svc", &missing, Architecture::X86_64)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn a_registry_that_refuses_the_token_is_an_error_naming_the_image() {
    let account = authdomain_tests::moto::server().new_account();
    let registry = authdomain_tests::registry::start(Some(("AWS", "another-password")));
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let session = Registry::connect(&aws, "1.dkr.ecr.eu-west-1.amazonaws.com/svc")
        .await
        .unwrap();
    let binary = std::fs::read(authdomain_tests::cross::authserver("arm64")).unwrap();
    let built = image::assemble(&binary, Architecture::Arm64, "test").unwrap();
    let err = session.push("svc", &built, None).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("svc"), "{message}");
    assert!(!message.contains(&ecr_password(&account)), "{message}");
}
