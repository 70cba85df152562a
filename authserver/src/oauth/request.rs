//! Turning an HTTP request's parts (Authorization header, form body) into a typed token,
//! introspection or revocation request. Pure: no I/O, no lookups.

use base64::Engine as _;

use super::error::OAuthError;
use super::form::{Form, decode_component, parse_form};

pub const CLIENT_ASSERTION_TYPE_JWT: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// What the client presented to authenticate itself (RFC 6749 §2.3, RFC 7523 §2.2).
#[derive(Clone, PartialEq, Eq)]
pub enum PresentedCredentials {
    /// `client_secret_basic`: HTTP Basic with form-encoded id and secret.
    Basic { client_id: String, secret: String },
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post { client_id: String, secret: String },
    /// `private_key_jwt`: a signed assertion; `client_id` in the body is optional.
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
}

// Never print a secret or an assertion, even in debug output.
impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(
                f,
                "Basic {{ client_id: {client_id:?}, secret: <redacted> }}"
            ),
            Self::Post { client_id, .. } => {
                write!(f, "Post {{ client_id: {client_id:?}, secret: <redacted> }}")
            }
            Self::Assertion { client_id, .. } => {
                write!(
                    f,
                    "Assertion {{ client_id: {client_id:?}, assertion: <redacted> }}"
                )
            }
        }
    }
}

impl PresentedCredentials {
    /// The method name as registered on a client (`token_endpoint_auth_method`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::Assertion { .. } => "private_key_jwt",
        }
    }

    /// The client id the request claims, when it is known before verification.
    pub fn claimed_client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } => Some(client_id),
            Self::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }

    pub fn used_authorization_header(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Extract the client's credentials from the Authorization header and the form. A claimed
/// client id longer than any registered one can be is refused here, before the throttle
/// keeps anything of it or a log line prints it.
pub fn client_credentials(
    authorization: Option<&[u8]>,
    form: &Form,
) -> Result<PresentedCredentials, OAuthError> {
    let presented = parse_credentials(authorization, form)?;
    let max = authdomain_api::names::MAX_CLIENT_ID_LEN;
    if presented
        .claimed_client_id()
        .is_some_and(|id| id.len() > max)
    {
        return Err(OAuthError::invalid_client(format!(
            "`client_id`: expected at most {max} characters"
        ))
        .with_header(presented.used_authorization_header()));
    }
    Ok(presented)
}

fn parse_credentials(
    authorization: Option<&[u8]>,
    form: &Form,
) -> Result<PresentedCredentials, OAuthError> {
    let body_secret = form.get("client_secret");
    let body_assertion = form.get("client_assertion");
    let body_assertion_type = form.get("client_assertion_type");
    let body_client_id = form.get("client_id");

    if let Some(header) = authorization {
        let (client_id, secret) = parse_basic(header).map_err(|e| e.with_header(true))?;
        if body_secret.is_some() || body_assertion.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method (Authorization header and credentials in the body); use exactly one (RFC 6749 §2.3)",
            )
            .with_header(true));
        }
        if let Some(id) = body_client_id
            && id != client_id
        {
            return Err(OAuthError::invalid_request(
                "`client_id` in the body differs from the client id in the Authorization header",
            )
            .with_header(true));
        }
        return Ok(PresentedCredentials::Basic { client_id, secret });
    }

    match (body_assertion, body_assertion_type) {
        (Some(assertion), Some(kind)) => {
            if kind != CLIENT_ASSERTION_TYPE_JWT {
                return Err(OAuthError::invalid_request(format!(
                    "`client_assertion_type` must be `{CLIENT_ASSERTION_TYPE_JWT}`"
                )));
            }
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "the client used more than one authentication method (`client_secret` and `client_assertion`); use exactly one",
                ));
            }
            return Ok(PresentedCredentials::Assertion {
                client_id: body_client_id.map(str::to_owned),
                assertion: assertion.to_owned(),
            });
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "`client_assertion` requires `client_assertion_type` (RFC 7523 §2.2)",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "`client_assertion_type` was given without `client_assertion`",
            ));
        }
        (None, None) => {}
    }

    match (body_client_id, body_secret) {
        (Some(id), Some(secret)) => Ok(PresentedCredentials::Post {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "`client_secret` was given without `client_id`",
        )),
        (Some(_), None) => Err(OAuthError::invalid_client(
            "client authentication is required: this server has no public clients (send client_secret_basic, client_secret_post or private_key_jwt)",
        )),
        (None, None) => Err(OAuthError::invalid_client(
            "client authentication is required (HTTP Basic, client_secret_post or private_key_jwt)",
        )),
    }
}

/// Parse `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &[u8]) -> Result<(String, String), OAuthError> {
    let header = std::str::from_utf8(header)
        .map_err(|_| OAuthError::invalid_client("the Authorization header is not valid UTF-8"))?;
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "the Authorization header must use the Basic scheme at this endpoint (client_secret_basic)",
        ));
    }
    let decoded = BASE64_LENIENT_PADDING.decode(rest.trim()).map_err(|_| {
        OAuthError::invalid_client(
            "the Basic credentials in the Authorization header are not valid base64",
        )
    })?;
    let decoded = String::from_utf8(decoded).map_err(|_| {
        OAuthError::invalid_client("the Basic credentials decode to bytes that are not UTF-8")
    })?;
    let (id, secret) = decoded.split_once(':').ok_or_else(|| {
        OAuthError::invalid_client(
            "the Basic credentials must be `client_id:client_secret` (no `:` found)",
        )
    })?;
    let id = decode_component(id.as_bytes()).map_err(|why| {
        OAuthError::invalid_client(format!(
            "the client id in the Basic credentials is malformed: {why}"
        ))
    })?;
    let secret = decode_component(secret.as_bytes()).map_err(|_| {
        OAuthError::invalid_client(
            "the client secret in the Basic credentials is not validly form-encoded",
        )
    })?;
    if id.is_empty() {
        return Err(OAuthError::invalid_client(
            "the client id in the Basic credentials is empty",
        ));
    }
    Ok((id.into_owned(), secret.into_owned()))
}

const BASE64_LENIENT_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A validated `client_credentials` token request (RFC 6749 §4.4.2, RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub credentials: PresentedCredentials,
    /// `None` when the client did not send `scope`: its default scopes apply.
    pub scopes: Option<Vec<String>>,
    pub resources: Vec<String>,
}

/// Parse a token endpoint request.
pub fn token_request(
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<TokenRequest, OAuthError> {
    let used_header = authorization.is_some();
    let form = parse_form(body, &["resource"]).map_err(|e| e.with_header(used_header))?;
    let grant_type = form.get("grant_type").ok_or_else(|| {
        OAuthError::invalid_request(
            "`grant_type` is required (this server supports `client_credentials`)",
        )
        .with_header(used_header)
    })?;
    if grant_type != GRANT_CLIENT_CREDENTIALS {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant type `{}` is not supported; this server supports `client_credentials`",
            grant_type
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        ))
        .with_header(used_header));
    }
    let credentials = client_credentials(authorization, &form)?;
    let scopes = match form.get("scope") {
        Some(s) => Some(parse_scope(s).map_err(|e| e.with_header(used_header))?),
        None => None,
    };
    let resources = form
        .get_all("resource")
        .map(|r| validate_resource(r).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.with_header(used_header))?;
    Ok(TokenRequest {
        credentials,
        scopes,
        resources,
    })
}

/// Split a `scope` value into tokens, checking RFC 6749 §3.3's character set.
pub fn parse_scope(value: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in value.split(' ').filter(|t| !t.is_empty()) {
        if let Some(bad) = token
            .chars()
            .find(|c| !authdomain_api::names::is_nqchar(*c))
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope contains the character {bad:?}, which RFC 6749 §3.3 does not allow (printable ASCII except `\"` and `\\`)"
            )));
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// RFC 8707 §2: a resource is an absolute URI without a fragment.
fn validate_resource(value: &str) -> Result<&str, OAuthError> {
    match url::Url::parse(value) {
        Ok(u) if u.fragment().is_none() => Ok(value),
        Ok(_) => Err(OAuthError::invalid_target(
            "`resource` must not contain a fragment (RFC 8707 §2)",
        )),
        Err(_) => Err(OAuthError::invalid_target(
            "`resource` must be an absolute URI (RFC 8707 §2)",
        )),
    }
}

/// An introspection (RFC 7662) or revocation (RFC 7009) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReference {
    pub credentials: PresentedCredentials,
    pub token: String,
    pub token_type_hint: Option<String>,
}

pub fn token_reference(
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<TokenReference, OAuthError> {
    let used_header = authorization.is_some();
    let form = parse_form(body, &[]).map_err(|e| e.with_header(used_header))?;
    let credentials = client_credentials(authorization, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("`token` is required").with_header(used_header))?
        .to_owned();
    Ok(TokenReference {
        credentials,
        token,
        token_type_hint: form.get("token_type_hint").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::error::ErrorCode;
    use proptest::prelude::*;

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
        .into_bytes()
    }

    #[test]
    fn basic_credentials() {
        let r = token_request(
            Some(&basic("c1", "s%3A1")),
            b"grant_type=client_credentials&scope=read",
        )
        .unwrap();
        assert_eq!(
            r.credentials,
            PresentedCredentials::Basic {
                client_id: "c1".into(),
                secret: "s:1".into()
            }
        );
        assert_eq!(r.scopes, Some(vec!["read".to_owned()]));
    }

    #[test]
    fn post_credentials_and_resources() {
        let r = token_request(
            None,
            b"grant_type=client_credentials&client_id=c&client_secret=s&resource=https%3A%2F%2Fapi.example.com&resource=urn:x:y",
        )
        .unwrap();
        assert_eq!(r.credentials.method(), "client_secret_post");
        assert_eq!(r.resources, ["https://api.example.com", "urn:x:y"]);
        assert_eq!(r.scopes, None);
    }

    #[test]
    fn errors() {
        type Case<'a> = (Option<Vec<u8>>, &'a [u8], ErrorCode, &'a str);
        let cases: &[Case] = &[
            (
                None,
                b"client_id=a&client_secret=b",
                ErrorCode::InvalidRequest,
                "`grant_type` is required",
            ),
            (
                None,
                b"grant_type=password&client_id=a&client_secret=b",
                ErrorCode::UnsupportedGrantType,
                "`password`",
            ),
            (
                None,
                b"grant_type=client_credentials",
                ErrorCode::InvalidClient,
                "client authentication is required",
            ),
            (
                Some(b"Basic !!!".to_vec()),
                b"grant_type=client_credentials",
                ErrorCode::InvalidClient,
                "not valid base64",
            ),
            (
                Some(b"Bearer abc".to_vec()),
                b"grant_type=client_credentials",
                ErrorCode::InvalidClient,
                "Basic scheme",
            ),
            (
                Some(basic("a", "b")),
                b"grant_type=client_credentials&client_secret=x",
                ErrorCode::InvalidRequest,
                "more than one",
            ),
            (
                None,
                b"grant_type=client_credentials&client_id=a&client_secret=b&scope=a\"b",
                ErrorCode::InvalidScope,
                "RFC 6749",
            ),
            (
                None,
                b"grant_type=client_credentials&client_id=a&client_secret=b&resource=relative",
                ErrorCode::InvalidTarget,
                "absolute URI",
            ),
            (
                None,
                b"grant_type=client_credentials&client_assertion=x",
                ErrorCode::InvalidRequest,
                "client_assertion_type",
            ),
            (
                None,
                b"grant_type=client_credentials&grant_type=client_credentials",
                ErrorCode::InvalidRequest,
                "more than once",
            ),
        ];
        for (auth, body, code, needle) in cases {
            let err = token_request(auth.as_deref(), body).unwrap_err();
            assert_eq!(err.code, *code, "{}", String::from_utf8_lossy(body));
            assert!(
                err.description.contains(needle),
                "{:?} lacks {needle:?}",
                err.description
            );
            assert_eq!(err.used_authorization_header, auth.is_some());
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let c = PresentedCredentials::Post {
            client_id: "c".into(),
            secret: "very-secret".into(),
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    proptest! {
        /// The token endpoint's parsing never panics, and every rejection is a 4xx.
        #[test]
        fn token_request_parsing_total(
            auth in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80)),
            body in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            if let Err(e) = token_request(auth.as_deref(), &body) {
                prop_assert!((400..500).contains(&e.status()), "{e}");
            }
        }

        /// Structured but hostile bodies: known parameter names with arbitrary values.
        #[test]
        fn token_request_known_names(
            parts in proptest::collection::vec(
                (prop_oneof![Just("grant_type"), Just("scope"), Just("resource"), Just("client_id"),
                             Just("client_secret"), Just("client_assertion"), Just("client_assertion_type")],
                 "[ -~]{0,20}"),
                0..8)
        ) {
            let body = parts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            if let Err(e) = token_request(None, body.as_bytes()) {
                prop_assert!((400..500).contains(&e.status()), "{e}");
            }
        }
    }
}
