//! Verifications per second of `authdomain-verifier` on one thread, with warm keys: the
//! Rust side of `bench/verify.sh`, which runs `aws-jwt-verify` and `jose` (npm) on the
//! same tokens in the same run.
//!
//!   verify_bench gen DIR [N]   writes jwks.json, config.json and N tokens per algorithm
//!                              (RS256, ES256: distinct jti each) into DIR
//!   verify_bench run DIR [S]   verifies them for S seconds per case (default 2), printing
//!                              one JSON line per case
//!
//! Two workloads, the same for every library: `new` cycles through all N tokens with the
//! verified-token cache off (every verification is a signature check: the crypto-bound
//! case), `reused` cycles through the first 100 (a resource server's clients each
//! presenting their token many times; our verifier's cache answers them).

use std::time::{Duration, Instant};

use authdomain_verifier::{Algorithm, Config, KeySet, Verifier};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.example.test";
const AUDIENCE: &str = "https://api.example.test";
const SCOPE: &str = "read";
const REUSED: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => generate(
            &args[2],
            args.get(3).map_or(10_000, |n| n.parse().expect("N")),
        ),
        Some("run") => run(
            &args[2],
            args.get(3).map_or(2.0, |s| s.parse().expect("seconds")),
        ),
        _ => {
            eprintln!("usage: verify_bench gen DIR [N] | run DIR [SECONDS]");
            std::process::exit(2);
        }
    }
}

fn generate(dir: &str, n: usize) {
    std::fs::create_dir_all(dir).expect("dir");
    let rng = SystemRandom::new();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .unwrap();
    let p = ec.public_key().as_ref().to_vec();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
         "n": B64.encode(rsa.public_key().modulus().big_endian_without_leading_zero()),
         "e": B64.encode(rsa.public_key().exponent().big_endian_without_leading_zero())},
        {"kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256",
         "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..65])},
    ]});
    std::fs::write(format!("{dir}/jwks.json"), jwks.to_string()).unwrap();
    std::fs::write(
        format!("{dir}/config.json"),
        json!({"issuer": ISSUER, "audience": AUDIENCE, "scope": SCOPE, "reused": REUSED})
            .to_string(),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (alg, kid) in [("RS256", "rsa-1"), ("ES256", "ec-1")] {
        let mut lines = String::new();
        for i in 0..n {
            let header = B64.encode(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string());
            let claims = B64.encode(
                json!({
                    "iss": ISSUER, "sub": format!("client-{i}"), "aud": AUDIENCE,
                    "exp": now + 7200, "iat": now, "jti": format!("jti-{i:08}"),
                    "client_id": format!("client-{i}"), "scope": "openid read write",
                })
                .to_string(),
            );
            let input = format!("{header}.{claims}");
            let sig = if alg == "RS256" {
                let mut s = vec![0u8; rsa.public_modulus_len()];
                rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut s)
                    .unwrap();
                s
            } else {
                ec.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
            };
            lines.push_str(&format!("{input}.{}\n", B64.encode(sig)));
        }
        std::fs::write(format!("{dir}/tokens-{alg}.txt"), lines).unwrap();
    }
}

fn run(dir: &str, seconds: f64) {
    let jwks = std::fs::read(format!("{dir}/jwks.json")).expect("jwks.json (run gen first)");
    let (set, _) = KeySet::from_jwks(&jwks, &Algorithm::ALL).unwrap();
    let set = std::sync::Arc::new(set);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for alg in ["RS256", "ES256"] {
        let tokens: Vec<String> = std::fs::read_to_string(format!("{dir}/tokens-{alg}.txt"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        for (workload, cache, count) in [("new", 0, tokens.len()), ("reused", 10_000, REUSED)] {
            let config = Config::new(ISSUER, AUDIENCE)
                .algorithms([Algorithm::RS256, Algorithm::ES256])
                .cache_capacity(cache);
            let verifier = Verifier::with_keys(config, set.clone());
            let tokens = &tokens[..count];
            // Every token must verify, and a tampered one must not.
            for t in tokens.iter().take(3) {
                runtime
                    .block_on(verifier.verify_for(t, &[SCOPE]))
                    .expect("a valid token");
            }
            let mut forged = tokens[0].clone();
            forged.replace_range(forged.len() - 20..forged.len() - 19, "A");
            forged.replace_range(forged.len() - 21..forged.len() - 20, "B");
            assert!(
                runtime
                    .block_on(verifier.verify_for(&forged, &[SCOPE]))
                    .is_err()
            );
            let measure = |for_: Duration| -> (u64, Duration) {
                let started = Instant::now();
                let mut n = 0u64;
                let mut i = 0usize;
                while started.elapsed() < for_ {
                    for _ in 0..64 {
                        let t = &tokens[i % tokens.len()];
                        i += 1;
                        runtime
                            .block_on(verifier.verify_for(t, &[SCOPE]))
                            .expect("valid");
                        n += 1;
                    }
                }
                (n, started.elapsed())
            };
            measure(Duration::from_millis(500));
            let (n, took) = measure(Duration::from_secs_f64(seconds));
            let v: Value = json!({
                "library": "authdomain-verifier",
                "alg": alg,
                "workload": workload,
                "per_second": (n as f64 / took.as_secs_f64()).round(),
            });
            println!("{v}");
        }
    }
}
