//! Container images of our programs (the auth server, the Lambda authorizer, the
//! Kubernetes operator), assembled
//! in-process (no Docker): one gzip layer holding the static binary, which is the
//! entrypoint and its own Lambda runtime client; an OCI image config naming the
//! architecture; an OCI manifest. Pure and deterministic: the
//! same binary and architecture give the same bytes, so the same digest (fixed mtimes,
//! owners and modes in the tar, no timestamp in the gzip header or the config).
//!
//! [`registry`] pushes and reads images with the OCI distribution protocol.

pub mod registry;

use std::io::Write as _;

use serde::{Deserialize, Serialize};

use authdomain_core::spec::Architecture;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Index media types: Lambda refuses multi-architecture images.
pub const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
/// Where the auth server's binary lives in its image; the entrypoint (an absolute path,
/// not a link, as Lambda requires).
pub const ENTRYPOINT: &str = "/authserver";

/// A program we ship as an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    AuthServer,
    Authorizer,
    /// The Kubernetes operator: also a CA bundle (it calls AWS and the auth server over
    /// TLS), a passwd entry and a non-root user, and published as a multi-architecture
    /// index ([`assemble_index`]) for the nodes of any cluster.
    Operator,
}

/// The user the operator's image runs as (distroless's `nonroot`): the Deployment's
/// `runAsUser` matches.
pub const NONROOT: &str = "65532:65532";
/// Where the operator's image keeps its CA bundle (and `SSL_CERT_FILE` says so).
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Program {
    /// The cargo binary name (and the file in the image).
    pub fn binary_name(self) -> &'static str {
        match self {
            Program::AuthServer => "authserver",
            Program::Authorizer => "authorizer",
            Program::Operator => "authdomain-operator",
        }
    }

    /// The name `scripts/build-static.sh` builds it by.
    pub fn build_name(self) -> &'static str {
        match self {
            Program::Operator => "operator",
            other => other.binary_name(),
        }
    }

    /// The entrypoint: `/<binary name>`.
    pub fn entrypoint(self) -> String {
        format!("/{}", self.binary_name())
    }

    fn title(self) -> &'static str {
        match self {
            Program::AuthServer => "authdomain authserver",
            Program::Authorizer => "authdomain authorizer",
            Program::Operator => "authdomain operator",
        }
    }
}

/// An assembled image: the blobs and their digests.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub architecture: Architecture,
    /// The gzip-compressed layer tar.
    pub layer: Vec<u8>,
    pub layer_digest: String,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    /// The image's identity: what the function is deployed by.
    pub digest: String,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("architecture", &self.architecture)
            .field("digest", &self.digest)
            .field("layer_bytes", &self.layer.len())
            .finish()
    }
}

impl Image {
    /// Total bytes a pull transfers (manifest, config, layer).
    pub fn size(&self) -> usize {
        self.manifest.len() + self.config.len() + self.layer.len()
    }
}

/// The OCI/Docker name of a Lambda architecture (`x86_64` is `amd64` in image configs).
pub fn oci_architecture(a: Architecture) -> &'static str {
    match a {
        Architecture::Arm64 => "arm64",
        Architecture::X86_64 => "amd64",
    }
}

/// The Lambda architecture of an image config's `architecture`, if Lambda has one.
pub fn lambda_architecture(oci: &str) -> Option<Architecture> {
    match oci {
        "arm64" | "aarch64" => Some(Architecture::Arm64),
        "amd64" | "x86_64" => Some(Architecture::X86_64),
        _ => None,
    }
}

/// The architecture an ELF executable is built for (its `e_machine`), if it is one we
/// know: a binary for the wrong architecture would fail at every cold start with
/// `exec format error`, so the image refuses it up front.
pub fn elf_architecture(binary: &[u8]) -> Option<Architecture> {
    if binary.len() < 20 || &binary[..4] != b"\x7fELF" {
        return None;
    }
    let machine = match binary[5] {
        1 => u16::from_le_bytes([binary[18], binary[19]]),
        2 => u16::from_be_bytes([binary[18], binary[19]]),
        _ => return None,
    };
    match machine {
        0xB7 => Some(Architecture::Arm64),
        0x3E => Some(Architecture::X86_64),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the binary is not a Linux ELF executable for arm64 or x86_64")]
    NotAnExecutable,
    #[error(
        "the binary is built for {binary} but the image is for {wanted}: build it for {wanted} \
         (scripts/build-authserver.sh {wanted})"
    )]
    WrongBinary {
        binary: &'static str,
        wanted: &'static str,
    },
    #[error("assembling the image: {0}")]
    Io(#[from] std::io::Error),
}

/// The image config: only what Lambda reads (entrypoint, environment) and what the
/// architecture check needs. Field order is fixed by the struct, so the bytes are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub config: RuntimeConfig,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        rename = "Labels",
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: [Descriptor<'a>; 1],
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Assemble the auth server's image (see [`assemble_program`]).
pub fn assemble(
    binary: &[u8],
    architecture: Architecture,
    version: &str,
) -> Result<Image, ImageError> {
    assemble_program(Program::AuthServer, binary, architecture, version)
}

/// Assemble the image of `program` for `binary`, which must be an executable for
/// `architecture`. `version` becomes a label (what the image holds, for people reading
/// the registry).
pub fn assemble_program(
    program: Program,
    binary: &[u8],
    architecture: Architecture,
    version: &str,
) -> Result<Image, ImageError> {
    match elf_architecture(binary) {
        None => return Err(ImageError::NotAnExecutable),
        Some(a) if a != architecture => {
            return Err(ImageError::WrongBinary {
                binary: a.as_str(),
                wanted: architecture.as_str(),
            });
        }
        Some(_) => {}
    }
    let entrypoint = program.entrypoint();
    let mut env = vec!["PATH=/".to_owned()];
    let mut user = String::new();
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    if program == Program::Operator {
        files.push((
            "etc/passwd",
            b"root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n"
                .to_vec(),
        ));
        files.push(("etc/group", b"root:x:0:\nnonroot:x:65532:\n".to_vec()));
        files.push((CA_BUNDLE.trim_start_matches('/'), ca_bundle()));
        env.push(format!("SSL_CERT_FILE={CA_BUNDLE}"));
        user = NONROOT.to_owned();
    }
    let tar = layer_tar(&entrypoint, binary, &files)?;
    let diff_id = sha256(&tar);
    // Fixed header (no name, mtime 0) and level: the same tar gives the same bytes.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    let layer = gz.finish()?;
    let layer_digest = sha256(&layer);

    let config = ImageConfig {
        architecture: oci_architecture(architecture).to_owned(),
        os: "linux".to_owned(),
        config: RuntimeConfig {
            entrypoint: vec![entrypoint.clone()],
            env,
            working_dir: "/".to_owned(),
            user,
            labels: [
                (
                    "org.opencontainers.image.title".to_owned(),
                    program.title().to_owned(),
                ),
                (
                    "org.opencontainers.image.version".to_owned(),
                    version.to_owned(),
                ),
                ("io.authdomain.binary.sha256".to_owned(), sha256(binary)),
            ]
            .into(),
        },
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids: vec![diff_id.clone()],
        },
    };
    let config = serde_json::to_vec(&config).expect("serialisable");
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE,
            digest: &config_digest,
            size: config.len(),
        },
        layers: [Descriptor {
            media_type: LAYER_MEDIA_TYPE,
            digest: &layer_digest,
            size: layer.len(),
        }],
    })
    .expect("serialisable");
    let digest = sha256(&manifest);
    Ok(Image {
        architecture,
        layer,
        layer_digest,
        diff_id,
        config,
        config_digest,
        manifest,
        digest,
    })
}

/// A multi-architecture image: an OCI image index naming one image per platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub images: Vec<Image>,
    /// The index document (`application/vnd.oci.image.index.v1+json`).
    pub manifest: Vec<u8>,
    /// What a pod pulls by: the index's digest.
    pub digest: String,
}

/// The index of `images` (one per architecture, in the order given): deterministic, so
/// the same binaries give the same digest.
pub fn assemble_index(images: Vec<Image>) -> Index {
    // Structs, not `json!`: their field order is fixed whatever serde_json's features.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Platform<'a> {
        architecture: &'a str,
        os: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry<'a> {
        media_type: &'a str,
        digest: &'a str,
        size: usize,
        platform: Platform<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct IndexDoc<'a> {
        schema_version: u32,
        media_type: &'a str,
        manifests: Vec<Entry<'a>>,
    }
    let manifest = serde_json::to_vec(&IndexDoc {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPES[0],
        manifests: images
            .iter()
            .map(|i| Entry {
                media_type: MANIFEST_MEDIA_TYPE,
                digest: &i.digest,
                size: i.manifest.len(),
                platform: Platform {
                    architecture: oci_architecture(i.architecture),
                    os: "linux",
                },
            })
            .collect(),
    })
    .expect("serialisable");
    Index {
        digest: sha256(&manifest),
        images,
        manifest,
    }
}

/// Write `image` as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), the
/// on-disk form skopeo, umoci and crane read.
pub fn write_oci_layout(image: &Image, dir: &std::path::Path) -> std::io::Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)?;
    for (digest, bytes) in [
        (&image.digest, &image.manifest),
        (&image.config_digest, &image.config),
        (&image.layer_digest, &image.layer),
    ] {
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": image.digest,
            "size": image.manifest.len(),
            "platform": {"architecture": oci_architecture(image.architecture), "os": "linux"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string())
}

/// The layer: `/authserver` (0755, root, mtime 0) and `/tmp` (Lambda mounts its one
/// writable directory there; the entry keeps the image usable outside Lambda too).
/// Directories come before their files, as Lambda requires.
/// Mozilla's root CAs (the `webpki-root-certs` crate, pinned in Cargo.lock) as a PEM
/// bundle: the image has no distribution to take them from.
pub fn ca_bundle() -> Vec<u8> {
    use base64::Engine as _;
    let mut out = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

fn layer_tar(
    entrypoint: &str,
    binary: &[u8],
    files: &[(&str, Vec<u8>)],
) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs: Vec<&str> = vec!["tmp/"];
    if !files.is_empty() {
        dirs.extend(["etc/", "etc/ssl/", "etc/ssl/certs/"]);
    }
    // Root-owned, mtime 0: the same inputs give the same bytes.
    let header = |kind: tar::EntryType, mode: u32, size: usize| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size as u64);
        h
    };
    for d in dirs {
        let mode = if d == "tmp/" { 0o1777 } else { 0o755 };
        let mut h = header(tar::EntryType::Directory, mode, 0);
        tar.append_data(&mut h, d, std::io::empty())?;
    }
    for (path, bytes) in files {
        let mut h = header(tar::EntryType::Regular, 0o644, bytes.len());
        tar.append_data(&mut h, path, bytes.as_slice())?;
    }
    let mut h = header(tar::EntryType::Regular, 0o755, binary.len());
    tar.append_data(&mut h, entrypoint.trim_start_matches('/'), binary)?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest ELF header that names a machine: enough for the checks here.
    fn elf(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little endian
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b.extend(std::iter::repeat_n(7u8, 4096));
        b
    }

    #[test]
    fn each_program_is_its_own_entrypoint() {
        let a = assemble_program(
            Program::Authorizer,
            &elf(0x3E),
            Architecture::X86_64,
            "0.1.0",
        )
        .unwrap();
        let config: ImageConfig = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(config.config.entrypoint, ["/authorizer"]);
        assert_eq!(config.architecture, "amd64");
        let b = assemble(&elf(0x3E), Architecture::X86_64, "0.1.0").unwrap();
        assert_ne!(a.digest, b.digest);
        let config: ImageConfig = serde_json::from_slice(&b.config).unwrap();
        assert_eq!(config.config.entrypoint, [ENTRYPOINT]);
    }

    #[test]
    fn the_operator_runs_as_nonroot_with_a_ca_bundle_and_both_architectures_index() {
        let arm =
            assemble_program(Program::Operator, &elf(0xB7), Architecture::Arm64, "0.1.0").unwrap();
        let x86 =
            assemble_program(Program::Operator, &elf(0x3E), Architecture::X86_64, "0.1.0").unwrap();
        let config: ImageConfig = serde_json::from_slice(&arm.config).unwrap();
        assert_eq!(config.config.user, NONROOT);
        assert_eq!(config.config.entrypoint, ["/authdomain-operator"]);
        assert!(
            config
                .config
                .env
                .contains(&format!("SSL_CERT_FILE={CA_BUNDLE}"))
        );
        // The Lambda images stay as they were: no user, no extra files.
        let lambda: ImageConfig = serde_json::from_slice(
            &assemble(&elf(0xB7), Architecture::Arm64, "0.1.0")
                .unwrap()
                .config,
        )
        .unwrap();
        assert_eq!(lambda.config.user, "");
        assert!(!String::from_utf8_lossy(&lambda_config_bytes()).contains("User"));
        let index = assemble_index(vec![arm.clone(), x86.clone()]);
        let again = assemble_index(vec![arm.clone(), x86.clone()]);
        assert_eq!(index.digest, again.digest);
        assert_eq!(index.digest, sha256(&index.manifest));
        let doc: serde_json::Value = serde_json::from_slice(&index.manifest).unwrap();
        assert_eq!(doc["mediaType"], INDEX_MEDIA_TYPES[0]);
        assert_eq!(doc["manifests"][0]["digest"], arm.digest);
        assert_eq!(doc["manifests"][0]["platform"]["architecture"], "arm64");
        assert_eq!(doc["manifests"][1]["platform"]["architecture"], "amd64");
        assert_eq!(doc["manifests"][1]["size"], x86.manifest.len());
        let pem = String::from_utf8(ca_bundle()).unwrap();
        assert_eq!(
            pem.matches("-----BEGIN CERTIFICATE-----").count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
    }

    fn lambda_config_bytes() -> Vec<u8> {
        assemble(&elf(0x3E), Architecture::X86_64, "0.1.0")
            .unwrap()
            .config
    }

    #[test]
    fn the_same_binary_gives_the_same_digest_and_another_binary_another() {
        let a = assemble(&elf(0xB7), Architecture::Arm64, "0.1.0").unwrap();
        let b = assemble(&elf(0xB7), Architecture::Arm64, "0.1.0").unwrap();
        assert_eq!(a, b);
        let mut other = elf(0xB7);
        other.push(1);
        let c = assemble(&other, Architecture::Arm64, "0.1.0").unwrap();
        assert_ne!(a.digest, c.digest);
        assert_eq!(a.digest, sha256(&a.manifest));
    }

    #[test]
    fn the_config_names_the_architecture_and_the_entrypoint() {
        for (machine, arch, oci) in [
            (0xB7, Architecture::Arm64, "arm64"),
            (0x3E, Architecture::X86_64, "amd64"),
        ] {
            let image = assemble(&elf(machine), arch, "1.2.3").unwrap();
            let config: ImageConfig = serde_json::from_slice(&image.config).unwrap();
            assert_eq!(config.architecture, oci);
            assert_eq!(config.os, "linux");
            assert_eq!(config.config.entrypoint, [ENTRYPOINT]);
            assert_eq!(config.rootfs.diff_ids, std::slice::from_ref(&image.diff_id));
            assert_eq!(lambda_architecture(&config.architecture), Some(arch));
            let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
            assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
            assert_eq!(manifest["config"]["digest"], image.config_digest);
            assert_eq!(manifest["config"]["size"], image.config.len());
            assert_eq!(manifest["layers"][0]["digest"], image.layer_digest);
            assert_eq!(manifest["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        }
    }

    #[test]
    fn the_layer_holds_the_binary_as_an_executable_with_fixed_metadata() {
        let binary = elf(0x3E);
        let image = assemble(&binary, Architecture::X86_64, "0").unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&image.layer[..]),
            &mut tar,
        )
        .unwrap();
        assert_eq!(sha256(&tar), image.diff_id);
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, u32, u64, Vec<u8>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut body).unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    body,
                )
            })
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "tmp/");
        assert_eq!(
            entries[1],
            ("authserver".to_owned(), 0o755, 0, binary.clone())
        );
    }

    #[test]
    fn a_binary_for_another_architecture_or_no_binary_is_refused() {
        let e = assemble(&elf(0x3E), Architecture::Arm64, "0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the binary is built for x86_64 but the image is for arm64: build it for arm64 \
             (scripts/build-authserver.sh arm64)"
        );
        assert!(matches!(
            assemble(b"#!/bin/sh\necho hi\n", Architecture::Arm64, "0"),
            Err(ImageError::NotAnExecutable)
        ));
    }
}
