//! Signing cost per access token, the bound on token throughput: prints the time to sign
//! one token's JWS with each algorithm (single thread, aws-lc-rs as the server uses it) and
//! the resulting ceiling in tokens per second on `--cores` cores (default: all).
//!
//! `cargo run --release -p authserver --example sign_ceiling [-- --cores 2 --seconds 2]`

use std::time::{Duration, Instant};

use authserver::keys::{Algorithm, SigningKey};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let cores = arg("--cores").unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0)
    });
    let seconds = arg("--seconds").unwrap_or(2.0);
    // A payload of the size the token endpoint signs.
    // First use of the random generator in a process (DRBG seeding).
    let seeded = Instant::now();
    let _ = authserver::authority::random_token(16);
    println!(
        "random first_use_us={:.0}",
        seeded.elapsed().as_secs_f64() * 1e6
    );
    let claims = br#"{"iss":"http://127.0.0.1:8080","sub":"n32ACfO9016n2-HMYVNxDg","aud":"https://api.example.com","exp":1795314248,"iat":1795310648,"jti":"Hq2eEoqpu4Z0hkB7eNQu1A","client_id":"n32ACfO9016n2-HMYVNxDg","scope":"read"}"#;
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (generated, der) = SigningKey::generate(alg).expect("key");
        drop(generated);
        // As a server loads it: from PKCS#8, then a first signature (one-time setup cost).
        let loaded = Instant::now();
        let key = SigningKey::from_pkcs8(None, alg, &der).expect("load");
        let load_us = loaded.elapsed().as_secs_f64() * 1e6;
        let first = Instant::now();
        key.sign_jwt(claims).expect("sign");
        let first_us = first.elapsed().as_secs_f64() * 1e6;
        println!("load {alg} from_pkcs8_us={load_us:.0} first_sign_us={first_us:.0}");
        for _ in 0..200 {
            key.sign_jwt(claims).expect("sign");
        }
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs_f64(seconds) {
            for _ in 0..50 {
                std::hint::black_box(key.sign_jwt(std::hint::black_box(claims)).expect("sign"));
            }
            n += 50;
        }
        let per_token_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        let ceiling = cores * 1e6 / per_token_us;
        println!(
            "sign {alg} per_token_us={per_token_us:.1} ceiling_tokens_per_s={ceiling:.0} cores={cores}"
        );
    }
}
