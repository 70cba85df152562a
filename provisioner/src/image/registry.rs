//! The registry edge: push an [`Image`] and read images back with the OCI distribution
//! protocol (`oci-client`), authenticated with ECR's authorization token. The host is the
//! repository URI's (`<account>.dkr.ecr.<region>.amazonaws.com`), unless
//! `AwsOptions::registry_url` replaces it (a registry on loopback in tests, a mirror).

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::{
    INDEX_MEDIA_TYPES, Image, ImageConfig, Index, MANIFEST_MEDIA_TYPE, lambda_architecture,
};
use crate::aws::{Aws, AwsError};
use authdomain_core::spec::Architecture;

/// Docker's single-image manifest, which Lambda also accepts.
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("ECR returned no usable authorization token")]
    NoToken,
    #[error("repository URI `{0}` is not `host/name`")]
    BadRepositoryUri(String),
    #[error("{action} {reference}: {message}")]
    Protocol {
        action: &'static str,
        reference: String,
        message: String,
    },
    #[error("image {reference} does not exist in the registry")]
    NotFound { reference: String },
    #[error(
        "image {reference} is a multi-architecture index ({media_type}); Lambda runs \
         single-architecture images only: deploy the digest of the {function} image"
    )]
    Index {
        reference: String,
        media_type: String,
        function: &'static str,
    },
    #[error(
        "image {reference} is built for {image} but the function's architecture \
         (spec.image.architecture) is {function}; Lambda would fail every start with \
         `Runtime.InvalidEntrypoint` (exec format error): push an image for {function} or \
         change spec.image.architecture"
    )]
    ArchitectureMismatch {
        reference: String,
        image: String,
        function: &'static str,
    },
    #[error("image {reference} has an unreadable config: {message}")]
    BadConfig { reference: String, message: String },
}

impl RegistryError {
    /// As an [`AwsError`] of the apply that needed the image (registry failures are not
    /// retried: the protocol client has already retried transport errors).
    pub fn for_resource(self, action: &'static str, resource: String) -> AwsError {
        let code = match &self {
            RegistryError::Aws(e) => {
                return AwsError {
                    action,
                    resource,
                    ..e.clone()
                };
            }
            RegistryError::NoToken => "NoAuthorizationToken",
            RegistryError::BadRepositoryUri(_) => "BadRepositoryUri",
            RegistryError::Protocol { .. } => "RegistryError",
            RegistryError::NotFound { .. } => "ImageNotFound",
            RegistryError::Index { .. } => "ImageIndexNotSupported",
            RegistryError::ArchitectureMismatch { .. } => "ImageArchitectureMismatch",
            RegistryError::BadConfig { .. } => "BadImageConfig",
        };
        AwsError {
            action,
            resource,
            code: code.to_owned(),
            message: self.to_string(),
            class: crate::aws::ErrorClass::Terminal,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub digest: String,
    /// The manifest was already there: nothing was uploaded.
    pub reused: bool,
}

/// A registry session (one authorization token, reused for every request).
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    host: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// `host/name` → (host, name).
pub fn split_repository_uri(uri: &str) -> Result<(&str, &str), RegistryError> {
    uri.split_once('/')
        .filter(|(h, n)| !h.is_empty() && !n.is_empty())
        .ok_or_else(|| RegistryError::BadRepositoryUri(uri.to_owned()))
}

/// ECR's token is base64 of `AWS:<password>`.
pub fn decode_token(token: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn protocol_error(
    action: &'static str,
    reference: &Reference,
    e: OciDistributionError,
) -> RegistryError {
    let not_found = match &e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::BlobUnknown
            )
        }),
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    };
    if not_found {
        RegistryError::NotFound {
            reference: reference.whole(),
        }
    } else {
        RegistryError::Protocol {
            action,
            reference: reference.whole(),
            message: e.to_string(),
        }
    }
}

impl Registry {
    /// A session for the registry holding `repository_uri`, with a fresh ECR token.
    pub async fn connect(aws: &Aws, repository_uri: &str) -> Result<Registry, RegistryError> {
        let (uri_host, _) = split_repository_uri(repository_uri)?;
        let out = crate::aws::with_retries(5, || async {
            aws.ecr
                .get_authorization_token()
                .send()
                .await
                .map_err(|e| crate::aws::aws_error("get an authorization token for", "ECR", e))
        })
        .await?;
        let (user, password) = out
            .authorization_data()
            .first()
            .and_then(|d| d.authorization_token())
            .and_then(decode_token)
            .ok_or(RegistryError::NoToken)?;
        let (host, protocol) = match aws.registry_url.as_deref() {
            Some(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                let host = rest.trim_end_matches('/').to_owned();
                let protocol = if scheme == "http" {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                };
                (host, protocol)
            }
            None => (uri_host.to_owned(), ClientProtocol::Https),
        };
        let client = Client::new(ClientConfig {
            protocol,
            // ECR refuses chunks under 5 MB except the last; oci-client's chunks are 4 MiB.
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        });
        Ok(Registry {
            client,
            auth: RegistryAuth::Basic(user, password),
            host,
        })
    }

    /// A session with any OCI registry at `host` (`registry.example.com`,
    /// `127.0.0.1:5000`), over plain HTTP when `plain_http` (loopback registries only
    /// should be), with HTTP Basic credentials or anonymously.
    pub fn open(host: &str, plain_http: bool, credentials: Option<(String, String)>) -> Registry {
        let client = Client::new(ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        });
        Registry {
            client,
            auth: match credentials {
                Some((user, password)) => RegistryAuth::Basic(user, password),
                None => RegistryAuth::Anonymous,
            },
            host: host.to_owned(),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The session's HTTP Basic credentials, if any (ECR's token, decoded).
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.auth {
            RegistryAuth::Basic(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        }
    }

    /// Push a multi-architecture `index`: each image by digest, then the index under `tag`
    /// (and by its digest). Returns the index's digest.
    pub async fn push_index(
        &self,
        repository: &str,
        index: &Index,
        tag: &str,
    ) -> Result<Pushed, RegistryError> {
        let target = self.by_digest(repository, &index.digest);
        let reused = match self.client.fetch_manifest_digest(&target, &self.auth).await {
            Ok(_) => self.manifest_digest(repository, tag).await? == Some(index.digest.clone()),
            Err(e) => match protocol_error("read", &target, e) {
                RegistryError::NotFound { .. } => false,
                other => return Err(other),
            },
        };
        if reused {
            return Ok(Pushed {
                digest: index.digest.clone(),
                reused: true,
            });
        }
        for image in &index.images {
            self.push(repository, image, None).await?;
        }
        let destination =
            Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned());
        self.put_manifest(&destination, &index.manifest, INDEX_MEDIA_TYPES[0])
            .await?;
        Ok(Pushed {
            digest: index.digest.clone(),
            reused: false,
        })
    }

    /// The raw manifest (image or index) `digest` in `repository`, for readers that check
    /// what was pushed.
    pub async fn manifest(&self, repository: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let r = self.by_digest(repository, digest);
        let mut accepted = vec![MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE];
        accepted.extend(INDEX_MEDIA_TYPES);
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&r, &self.auth, &accepted)
            .await
            .map_err(|e| protocol_error("read", &r, e))?;
        Ok(bytes.to_vec())
    }

    /// The blob `digest` of `repository`.
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let r = self.by_digest(repository, digest);
        let mut out = Vec::new();
        self.client
            .pull_blob(&r, digest, &mut out)
            .await
            .map_err(|e| protocol_error("read a blob of", &r, e))?;
        Ok(out)
    }

    fn by_digest(&self, repository: &str, digest: &str) -> Reference {
        Reference::with_digest(self.host.clone(), repository.to_owned(), digest.to_owned())
    }

    /// The digest `reference` (a tag or a digest) names, or None when it does not exist.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, RegistryError> {
        let r = Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned());
        match self.client.fetch_manifest_digest(&r, &self.auth).await {
            Ok(d) => Ok(Some(d)),
            Err(e) => match protocol_error("read", &r, e) {
                RegistryError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Push `image` (blobs first, then the manifest, optionally under `tag`). An image whose
    /// manifest is already there is not uploaded again.
    pub async fn push(
        &self,
        repository: &str,
        image: &Image,
        tag: Option<&str>,
    ) -> Result<Pushed, RegistryError> {
        let target = self.by_digest(repository, &image.digest);
        self.client
            .auth(&target, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| protocol_error("authenticate for", &target, e))?;
        let existing = match self.client.fetch_manifest_digest(&target, &self.auth).await {
            Ok(_) => true,
            Err(e) => match protocol_error("read", &target, e) {
                RegistryError::NotFound { .. } => false,
                other => return Err(other),
            },
        };
        let tagged_already = match tag {
            Some(t) => self.manifest_digest(repository, t).await? == Some(image.digest.clone()),
            None => true,
        };
        if existing && tagged_already {
            return Ok(Pushed {
                digest: image.digest.clone(),
                reused: true,
            });
        }
        for (digest, data) in [
            (&image.layer_digest, &image.layer),
            (&image.config_digest, &image.config),
        ] {
            let present = self
                .client
                .blob_exists(&target, digest)
                .await
                .map_err(|e| protocol_error("check", &target, e))?;
            if !present {
                self.client
                    .push_blob(&target, data.clone(), digest)
                    .await
                    .map_err(|e| protocol_error("upload a blob to", &target, e))?;
            }
        }
        let destination = match tag {
            Some(t) => Reference::with_tag(self.host.clone(), repository.to_owned(), t.to_owned()),
            None => target.clone(),
        };
        self.put_manifest(&destination, &image.manifest, MANIFEST_MEDIA_TYPE)
            .await?;
        Ok(Pushed {
            digest: image.digest.clone(),
            reused: existing,
        })
    }

    /// Upload a manifest (an image's or an index's, by `media_type`) to `destination`.
    async fn put_manifest(
        &self,
        destination: &Reference,
        manifest: &[u8],
        media_type: &'static str,
    ) -> Result<(), RegistryError> {
        self.client
            .push_manifest_raw(
                destination,
                manifest.to_vec(),
                http::HeaderValue::from_static(media_type),
            )
            .await
            .map_err(|e| protocol_error("push the manifest of", destination, e))?;
        Ok(())
    }
}

/// What a manifest reference names.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A multi-architecture index (its media type).
    Index(String),
    /// One image and its config.
    Image(ImageConfig),
}

impl Registry {
    /// What the manifest `digest` in `repository` is: an index, or an image with its config.
    pub async fn inspect(&self, repository: &str, digest: &str) -> Result<Found, RegistryError> {
        let r = self.by_digest(repository, digest);
        let bytes = self.manifest(repository, digest).await?;
        let bad = |message: String| RegistryError::BadConfig {
            reference: r.whole(),
            message,
        };
        let manifest: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("manifest is not JSON: {e}")))?;
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(MANIFEST_MEDIA_TYPE);
        if INDEX_MEDIA_TYPES.contains(&media_type) || manifest.get("manifests").is_some() {
            return Ok(Found::Index(media_type.to_owned()));
        }
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| bad("the manifest names no config".into()))?;
        let mut config = Vec::new();
        self.client
            .pull_blob(&r, config_digest, &mut config)
            .await
            .map_err(|e| protocol_error("read the config of", &r, e))?;
        serde_json::from_slice(&config)
            .map(Found::Image)
            .map_err(|e| bad(e.to_string()))
    }

    /// Refuse an image that Lambda could not start as a function of `function`
    /// architecture: an index, or a config for another architecture (or OS).
    pub async fn check_architecture(
        &self,
        repository: &str,
        digest: &str,
        function: Architecture,
    ) -> Result<(), RegistryError> {
        let reference = format!("{repository}@{digest}");
        match self.inspect(repository, digest).await? {
            Found::Index(media_type) => Err(RegistryError::Index {
                reference,
                media_type,
                function: function.as_str(),
            }),
            Found::Image(config)
                if config.os == "linux"
                    && lambda_architecture(&config.architecture) == Some(function) =>
            {
                Ok(())
            }
            Found::Image(config) => Err(RegistryError::ArchitectureMismatch {
                reference,
                image: format!("{}/{}", config.os, config.architecture),
                function: function.as_str(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_tokens_decode_to_user_and_password() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:s3cr3t:with:colons");
        assert_eq!(
            decode_token(&token),
            Some(("AWS".to_owned(), "s3cr3t:with:colons".to_owned()))
        );
        assert_eq!(decode_token("not base64!"), None);
    }

    #[test]
    fn repository_uris_split_into_host_and_name() {
        assert_eq!(
            split_repository_uri("1.dkr.ecr.eu-west-1.amazonaws.com/team/authserver").unwrap(),
            ("1.dkr.ecr.eu-west-1.amazonaws.com", "team/authserver")
        );
        assert!(split_repository_uri("no-slash").is_err());
    }
}
