//! The operator's image, end to end: `authdomain image operator` assembles it from the
//! real cross-built arm64 and x86_64 operator binaries, pushes both images and their
//! multi-architecture index to a real OCI registry (Debian's docker-registry on loopback,
//! with HTTP Basic credentials), and sets it by digest in a kustomization overlay of
//! manifests/. `kubectl kustomize` renders the Deployment, and its image reference is
//! resolved in the registry: an index with linux/arm64 and linux/amd64, each image
//! non-root with the operator as its entrypoint and a CA bundle; both binaries start
//! (`--version`; arm64 under qemu).

use std::io::Read as _;
use std::process::Command;

use provisioner::image::registry::Registry;
use serde_json::Value;

const AUTHDOMAIN: &str = env!("CARGO_BIN_EXE_authdomain");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn kubectl() -> std::path::PathBuf {
    let out = Command::new(format!("{ROOT}/scripts/kube-apiserver.sh"))
        .output()
        .expect("scripts/kube-apiserver.sh");
    assert!(
        out.status.success(),
        "kubectl is built by scripts/kube-apiserver.sh (scripts/test-deps.sh runs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    std::path::Path::new(&bin).join("kubectl")
}

/// The files of a gzip layer, by path.
fn layer_files(layer: &[u8]) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    let mut out = std::collections::BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.insert(path, (mode, bytes));
    }
    out
}

#[tokio::test]
async fn the_operator_image_is_multi_arch_pushed_by_authdomain_and_set_by_digest_in_kustomize() {
    let started = std::time::Instant::now();
    let stage = |what: &str| eprintln!("[{:.1}s] {what}", started.elapsed().as_secs_f64());
    let arm64 = authdomain_tests::cross::operator("arm64");
    let x86_64 = authdomain_tests::cross::operator("x86_64");
    stage("cross-built");
    let registry = authdomain_tests::registry::start(Some(("pusher", "p4ss-w0rd")));
    let overlay = tempfile::tempdir().unwrap();
    // An overlay of manifests/, by a relative path as overlays are written. `bases:`
    // because Kubernetes 1.20's kubectl embeds kustomize 2.0, whose `resources:` takes
    // files only (later versions take a directory in `resources:`, as README shows).
    let manifests = std::fs::canonicalize(format!("{ROOT}/manifests")).unwrap();
    let up = "../".repeat(
        std::fs::canonicalize(overlay.path())
            .unwrap()
            .components()
            .count()
            - 1,
    );
    std::fs::write(
        overlay.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nbases:\n  - {up}{}\nimages:\n  - name: someone/else\n    newTag: \"2\"\n",
            manifests.display().to_string().trim_start_matches('/')
        ),
    )
    .unwrap();
    let to = format!("{}/platform/authdomain-operator:test", registry.host());
    let push = || {
        Command::new(AUTHDOMAIN)
            .args(["image", "operator", "--to", &to, "--plain-http"])
            .arg("--binary-arm64")
            .arg(&arm64)
            .arg("--binary-x86-64")
            .arg(&x86_64)
            .arg("--kustomize")
            .arg(overlay.path())
            .env("AUTHDOMAIN_REGISTRY_USERNAME", "pusher")
            .env("AUTHDOMAIN_REGISTRY_PASSWORD", "p4ss-w0rd")
            .output()
            .unwrap()
    };
    let out = push();
    stage("pushed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("pushed "), "{stdout}");
    assert!(!stdout.contains("p4ss-w0rd"), "no secret in the output");
    // Again: the same binaries give the same digest, and nothing is uploaded.
    let again = push();
    let again_out = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success() && again_out.starts_with("already there: "));
    let first_line = |s: &str| {
        s.lines()
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .map(str::to_owned)
    };
    assert_eq!(
        first_line(&stdout.replacen("pushed ", "x ", 1)),
        first_line(&again_out.replacen("already there: ", "x ", 1))
    );

    stage("pushed again");
    // kustomize renders the Deployment with the image by digest; other entries stay.
    let kustomization = std::fs::read_to_string(overlay.path().join("kustomization.yaml")).unwrap();
    assert!(kustomization.contains("someone/else"), "{kustomization}");
    let rendered = Command::new(kubectl())
        .arg("kustomize")
        .arg(overlay.path())
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let rendered = String::from_utf8(rendered.stdout).unwrap();
    let image_line = rendered
        .lines()
        .find(|l| l.trim_start().starts_with("image: "))
        .expect("the Deployment names an image");
    let reference = image_line.trim().trim_start_matches("image: ").to_owned();
    let prefix = format!("{}/platform/authdomain-operator@sha256:", registry.host());
    assert!(reference.starts_with(&prefix), "{reference}");
    let digest = reference.split('@').nth(1).unwrap().to_owned();
    assert!(rendered.contains("runAsUser: 65532"), "{rendered}");

    stage("rendered");
    // The reference resolves in the registry to an index of both platforms.
    let session = Registry::open(
        registry.host(),
        true,
        Some(("pusher".into(), "p4ss-w0rd".into())),
    );
    let repo = "platform/authdomain-operator";
    let index: Value =
        serde_json::from_slice(&session.manifest(repo, &digest).await.unwrap()).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/arm64", "linux/amd64"]);
    for (entry, binary) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&arm64, &x86_64])
    {
        let d = entry["digest"].as_str().unwrap();
        let manifest: Value =
            serde_json::from_slice(&session.manifest(repo, d).await.unwrap()).unwrap();
        let config: Value = serde_json::from_slice(
            &session
                .blob(repo, manifest["config"]["digest"].as_str().unwrap())
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        assert_eq!(config["config"]["User"], "65532:65532", "{config}");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/authdomain-operator"])
        );
        assert!(
            config["config"]["Env"]
                .to_string()
                .contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{config}"
        );
        let layer = session
            .blob(repo, manifest["layers"][0]["digest"].as_str().unwrap())
            .await
            .unwrap();
        let files = layer_files(&layer);
        let (mode, bytes) = &files["authdomain-operator"];
        assert_eq!(*mode, 0o755);
        assert!(
            *bytes == std::fs::read(binary).unwrap(),
            "the binary as built"
        );
        let bundle =
            String::from_utf8(files["etc/ssl/certs/ca-certificates.crt"].1.clone()).unwrap();
        assert!(
            bundle.matches("BEGIN CERTIFICATE").count() > 100,
            "Mozilla's roots"
        );
        assert!(String::from_utf8_lossy(&files["etc/passwd"].1).contains(":65532:"));

        // The binary in the image starts on its architecture (arm64 through qemu).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authdomain-operator");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut run = if entry["platform"]["architecture"] == "arm64"
            && std::env::consts::ARCH != "aarch64"
        {
            let mut c = Command::new("qemu-aarch64-static");
            c.arg(&path);
            c
        } else {
            Command::new(&path)
        };
        stage("layer read");
        let version = run.arg("--version").output().unwrap();
        stage("ran --version");
        assert!(
            version.status.success()
                && String::from_utf8_lossy(&version.stdout).contains(&format!(
                    "authdomain-operator {}",
                    env!("CARGO_PKG_VERSION")
                )),
            "{version:?}"
        );
    }
}
