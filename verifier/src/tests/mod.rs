//! Every refusal, with tokens signed here (aws-lc-rs) and forged the ways attackers forge
//! them: `alg: none`, HS256 keyed with the RSA public key, an unknown `kid` with a
//! valid-looking signature, another issuer, an ID-token-shaped JWT, expired, not yet
//! valid, the wrong audience, a missing scope.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::*;

#[cfg(feature = "axum")]
mod layer;
#[cfg(feature = "remote")]
mod remote;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://orders.example.com";

enum Signer {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub(crate) struct TestKey {
    kid: String,
    alg: &'static str,
    signer: Signer,
    jwk: Value,
}

impl TestKey {
    pub(crate) fn rsa(kid: &str) -> TestKey {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let public = kp.public_key();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        });
        TestKey {
            kid: kid.into(),
            alg: "RS256",
            signer: Signer::Rsa(kp),
            jwk,
        }
    }

    pub(crate) fn ec(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap();
        let p = kp.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..65]),
        });
        TestKey {
            kid: kid.into(),
            alg: "ES256",
            signer: Signer::Ec(kp),
            jwk,
        }
    }

    pub(crate) fn ed(kid: &str) -> TestKey {
        let kp = Ed25519KeyPair::generate().unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": B64.encode(kp.public_key().as_ref()),
        });
        TestKey {
            kid: kid.into(),
            alg: "EdDSA",
            signer: Signer::Ed(kp),
            jwk,
        }
    }

    fn sign_raw(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .unwrap();
                sig
            }
            Signer::Ec(kp) => kp.sign(&rng, input).unwrap().as_ref().to_vec(),
            Signer::Ed(kp) => kp.sign(input).as_ref().to_vec(),
        }
    }

    /// A token with this header and these claims, signed by this key.
    pub(crate) fn sign(&self, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    pub(crate) fn header(&self) -> Value {
        json!({ "alg": self.alg, "typ": "at+jwt", "kid": self.kid })
    }

    pub(crate) fn token(&self, claims: Value) -> String {
        self.sign(self.header(), claims)
    }
}

pub(crate) fn now() -> i64 {
    super::now()
}

pub(crate) fn claims() -> Value {
    let t = now();
    json!({
        "iss": ISS, "sub": "svc", "aud": AUD, "exp": t + 300, "iat": t, "jti": "j1",
        "client_id": "svc", "scope": "orders:read orders:list",
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn set(keys: &[&TestKey]) -> KeySet {
    let jwks = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    KeySet::from_jwks(jwks.to_string().as_bytes(), &Algorithm::ALL)
        .unwrap()
        .0
}

fn verifier(keys: &[&TestKey]) -> Verifier<KeySet> {
    Verifier::with_keys(Config::new(ISS, AUD), set(keys))
}

#[tokio::test]
async fn accepts_rs256_es256_and_eddsa_tokens_and_gives_the_claims() {
    let (r, e, d) = (TestKey::rsa("r"), TestKey::ec("e"), TestKey::ed("d"));
    let v = verifier(&[&r, &e, &d]);
    for key in [&r, &e, &d] {
        let t = v.verify(&key.token(claims())).await.unwrap();
        assert_eq!(t.client_id, "svc");
        assert_eq!(t.audience, [AUD]);
        assert_eq!(t.scopes, ["orders:read", "orders:list"]);
        assert_eq!(t.key_id, key.kid);
        assert_eq!(t.algorithm.as_str(), key.alg);
    }
    // `aud` as an array, the full media type in `typ`, a fractional NumericDate.
    let t = r.sign(
        json!({"alg": "RS256", "typ": "application/AT+JWT", "kid": "r"}),
        with(
            claims(),
            json!({"aud": ["https://other", AUD], "exp": now() as f64 + 60.5}),
        ),
    );
    v.verify(&t).await.unwrap();
}

#[tokio::test]
async fn refuses_alg_none() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    let header = B64.encode(json!({"alg": "none", "typ": "at+jwt", "kid": "r"}).to_string());
    let body = B64.encode(claims().to_string());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        let e = v.verify(&token).await.unwrap_err();
        assert!(
            matches!(e, VerifyError::Algorithm(ref a) if a == "none")
                || matches!(e, VerifyError::Malformed(_)),
            "{e:?}"
        );
        assert_eq!(e.status(), ::http::StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn refuses_hs256_keyed_with_the_rsa_public_key() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    // The classic confusion attack: HMAC with the public key (its JWK and DER forms) as
    // the secret, hoping the verifier uses the key bytes it has as an HMAC key.
    let Signer::Rsa(kp) = &r.signer else {
        unreachable!()
    };
    let der = kp.public_key().as_der().unwrap();
    for secret in [der.as_ref().to_vec(), r.jwk.to_string().into_bytes()] {
        let input = format!(
            "{}.{}",
            B64.encode(json!({"alg": "HS256", "typ": "at+jwt", "kid": "r"}).to_string()),
            B64.encode(claims().to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let forged = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_eq!(
            v.verify(&forged).await.unwrap_err(),
            VerifyError::Algorithm("HS256".into())
        );
    }
    // An `oct` key in the JWKS is never taken.
    let jwks = json!({"keys": [{"kty": "oct", "kid": "h", "k": B64.encode(b"secret")}]});
    let (set, skipped) = KeySet::from_jwks(jwks.to_string().as_bytes(), &Algorithm::ALL).unwrap();
    assert!(set.is_empty());
    assert_eq!(skipped[0].kid.as_deref(), Some("h"));
}

#[tokio::test]
async fn refuses_a_kid_it_does_not_know_even_with_a_valid_looking_signature() {
    let (r, stranger) = (TestKey::rsa("r"), TestKey::rsa("r2"));
    let v = verifier(&[&r]);
    // Correctly signed, by a key the issuer never published.
    let e = v.verify(&stranger.token(claims())).await.unwrap_err();
    assert_eq!(e, VerifyError::UnknownKey("r2".into()));
    assert_eq!(e.error_code(), Some("invalid_token"));
    // Naming the issuer's kid does not help a stranger's signature.
    let forged = stranger.sign(r.header(), claims());
    assert_eq!(
        v.verify(&forged).await.unwrap_err(),
        VerifyError::BadSignature
    );
    // Nor does a signature from another message.
    let good = r.token(claims());
    let other = r.token(with(claims(), json!({"scope": "orders:admin"})));
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert_eq!(
        v.verify(&spliced).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn refuses_a_key_of_the_wrong_type_for_the_algorithm() {
    let (r, e) = (TestKey::rsa("r"), TestKey::ec("e"));
    let v = verifier(&[&r, &e]);
    // ES256 claimed, the RSA key's kid named.
    let forged = e.sign(
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "r"}),
        claims(),
    );
    assert!(matches!(
        v.verify(&forged).await.unwrap_err(),
        VerifyError::KeyMismatch { ref kid, key_type: "RSA", .. } if kid == "r"
    ));
}

#[tokio::test]
async fn refuses_a_token_of_another_issuer() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    for iss in [
        "https://evil.example.com",
        "https://auth.example.com/",
        "https://AUTH.example.com",
    ] {
        let t = r.token(with(claims(), json!({ "iss": iss })));
        assert_eq!(
            v.verify(&t).await.unwrap_err(),
            VerifyError::Issuer(iss.into())
        );
    }
}

#[tokio::test]
async fn refuses_an_id_token_shaped_jwt() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    for typ in [json!("JWT"), json!("jwt"), Value::Null] {
        let mut header = r.header();
        if typ.is_null() {
            header.as_object_mut().unwrap().remove("typ");
        } else {
            header["typ"] = typ.clone();
        }
        let t = r.sign(
            header,
            with(claims(), json!({"nonce": "n", "auth_time": now()})),
        );
        assert!(matches!(
            v.verify(&t).await.unwrap_err(),
            VerifyError::TokenType(_)
        ));
    }
}

#[tokio::test]
async fn refuses_expired_not_yet_valid_and_future_tokens_within_the_leeway() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    let t = now();
    let expired = r.token(with(claims(), json!({"exp": t - 31, "iat": t - 400})));
    assert!(matches!(
        v.verify(&expired).await.unwrap_err(),
        VerifyError::Expired { .. }
    ));
    // Within the 30 s leeway it is still accepted.
    let just = r.token(with(claims(), json!({"exp": t - 10, "iat": t - 400})));
    v.verify(&just).await.unwrap();
    let early = r.token(with(claims(), json!({"nbf": t + 120})));
    assert!(matches!(
        v.verify(&early).await.unwrap_err(),
        VerifyError::NotYetValid { .. }
    ));
    let future = r.token(with(claims(), json!({"iat": t + 120})));
    assert!(matches!(
        v.verify(&future).await.unwrap_err(),
        VerifyError::IssuedInFuture { .. }
    ));
    // A verifier with no leeway refuses what the default one allows.
    let strict = Verifier::with_keys(
        Config::new(ISS, AUD).leeway(std::time::Duration::ZERO),
        set(&[&r]),
    );
    assert!(matches!(
        strict.verify(&just).await.unwrap_err(),
        VerifyError::Expired { .. }
    ));
}

#[tokio::test]
async fn refuses_the_wrong_audience() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    let t = r.token(with(
        claims(),
        json!({"aud": ["https://billing.example.com"]}),
    ));
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::Audience(vec!["https://billing.example.com".into()])
    );
    // Any audience only when asked for (the issuer introspecting its own tokens).
    let mut config = Config::new(ISS, AUD);
    config.audience = AudiencePolicy::Any;
    Verifier::with_keys(config, set(&[&r]))
        .verify(&t)
        .await
        .unwrap();
}

#[tokio::test]
async fn refuses_a_missing_scope_naming_the_missing_ones() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    let t = r.token(claims());
    v.verify_for(&t, &["orders:read"]).await.unwrap();
    let e = v
        .verify_for(&t, &["orders:read", "orders:write", "admin"])
        .await
        .unwrap_err();
    assert_eq!(
        e,
        VerifyError::InsufficientScope {
            missing: vec!["orders:write".into(), "admin".into()]
        }
    );
    assert_eq!(e.status(), ::http::StatusCode::FORBIDDEN);
    // Scopes the configuration requires apply to every call.
    let v = Verifier::with_keys(
        Config::new(ISS, AUD).require_scopes(["orders:write"]),
        set(&[&r]),
    );
    assert!(matches!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::InsufficientScope { .. }
    ));
}

#[tokio::test]
async fn refuses_missing_claims_and_malformed_tokens() {
    let r = TestKey::rsa("r");
    let v = verifier(&[&r]);
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        let t = r.token(with(claims(), json!({ claim: null })));
        assert_eq!(
            v.verify(&t).await.unwrap_err(),
            VerifyError::MissingClaim(claim),
            "{claim}"
        );
    }
    let t = r.token(with(claims(), json!({"exp": "tomorrow"})));
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::MissingClaim("exp")
    );
    let good = r.token(claims());
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        &format!("{good}="),
        &good.replacen('.', ".!", 1),
        &"x".repeat(9000),
    ] {
        assert!(
            matches!(v.verify(bad).await.unwrap_err(), VerifyError::Malformed(_)),
            "{bad:.40}"
        );
    }
    // A `crit` header this verifier does not understand.
    let crit = r.sign(
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "r", "crit": ["exp"], "exp": 1}),
        claims(),
    );
    assert!(matches!(
        v.verify(&crit).await.unwrap_err(),
        VerifyError::Malformed(_)
    ));
    // Algorithms can be narrowed: RS256 only refuses EdDSA even with the key present.
    let d = TestKey::ed("d");
    let narrow = Verifier::with_keys(
        Config::new(ISS, AUD).algorithms([Algorithm::RS256]),
        set(&[&r, &d]),
    );
    assert_eq!(
        narrow.verify(&d.token(claims())).await.unwrap_err(),
        VerifyError::Algorithm("EdDSA".into())
    );
}

#[tokio::test]
async fn a_cached_token_is_still_checked_for_time_scope_and_its_key() {
    let r = TestKey::rsa("r");
    let keys = Arc::new(std::sync::RwLock::new(set(&[&r])));
    struct Swappable(Arc<std::sync::RwLock<KeySet>>);
    impl KeySource for Swappable {
        async fn key(&self, kid: Option<&str>) -> Result<Option<Arc<PublicKey>>, VerifyError> {
            let set = self.0.read().unwrap();
            Ok(kid.and_then(|k| set.get(k)))
        }
    }
    let v = Verifier::with_keys(Config::new(ISS, AUD), Swappable(keys.clone()));
    let t = r.token(claims());
    v.verify(&t).await.unwrap();
    v.verify(&t).await.unwrap();
    assert!(matches!(
        v.verify_for(&t, &["orders:write"]).await.unwrap_err(),
        VerifyError::InsufficientScope { .. }
    ));
    // The key withdrawn from the JWKS: the cached verification no longer counts.
    *keys.write().unwrap() = KeySet::default();
    assert_eq!(
        v.verify(&t).await.unwrap_err(),
        VerifyError::UnknownKey("r".into())
    );
}

#[test]
fn jwks_keys_that_cannot_be_used_are_skipped_and_named() {
    let r = TestKey::rsa("r");
    let mut private = r.jwk.clone();
    private["kid"] = json!("p");
    private["d"] = json!("AQAB");
    let mut enc = r.jwk.clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let jwks =
        json!({"keys": [r.jwk, private, enc, {"kty": "EC", "crv": "P-521", "kid": "big"}, 7]});
    let (set, skipped) = KeySet::from_jwks(jwks.to_string().as_bytes(), &Algorithm::ALL).unwrap();
    assert_eq!(set.kids().collect::<Vec<_>>(), ["r"]);
    let names: Vec<Option<&str>> = skipped.iter().map(|s| s.kid.as_deref()).collect();
    assert_eq!(names, [Some("p"), Some("enc"), Some("big"), None]);
    assert!(KeySet::from_jwks(b"{}", &Algorithm::ALL).is_err());
}
