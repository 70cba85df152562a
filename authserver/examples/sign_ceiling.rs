//! Signing cost per access token, the bound on token throughput. Prints, per algorithm:
//! one-time costs in a new process (first random number, key load, first signature), the
//! single-thread time per token, and the ceiling: tokens per second when `--cores` threads
//! (default: all cores) do nothing but sign, as the server's workers would.
//!
//! `cargo run --release -p authserver --example sign_ceiling [-- --cores 2 --seconds 3]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use authserver::keys::{Algorithm, SigningKey};

/// A payload of the size the token endpoint signs.
const CLAIMS: &[u8] = br#"{"iss":"http://127.0.0.1:8080","sub":"n32ACfO9016n2-HMYVNxDg","aud":"https://api.example.com","exp":1795314248,"iat":1795310648,"jti":"Hq2eEoqpu4Z0hkB7eNQu1A","client_id":"n32ACfO9016n2-HMYVNxDg","scope":"read"}"#;

/// Sign for `duration` on one thread; returns the number of tokens signed.
fn sign_for(key: &SigningKey, duration: Duration) -> u64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        for _ in 0..20 {
            std::hint::black_box(key.sign_jwt(std::hint::black_box(CLAIMS)).expect("sign"));
        }
        n += 20;
    }
    n
}

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
    }) as usize;
    let seconds = Duration::from_secs_f64(arg("--seconds").unwrap_or(3.0));

    // First use of the random generator in a process (DRBG seeding).
    let seeded = Instant::now();
    let _ = authserver::ids::random_token(16);
    println!(
        "random first_use_us={:.0}",
        seeded.elapsed().as_secs_f64() * 1e6
    );

    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (_, der) = SigningKey::generate(alg).expect("key");
        // As a server loads it: from PKCS#8, then a first signature (one-time setup).
        let loaded = Instant::now();
        let key = Arc::new(SigningKey::from_pkcs8(None, alg, &der).expect("load"));
        let load_us = loaded.elapsed().as_secs_f64() * 1e6;
        let first = Instant::now();
        key.sign_jwt(CLAIMS).expect("sign");
        let first_us = first.elapsed().as_secs_f64() * 1e6;
        println!("load {alg} from_pkcs8_us={load_us:.0} first_sign_us={first_us:.0}");

        let one = sign_for(&key, seconds);
        let per_token_us = seconds.as_secs_f64() * 1e6 / one as f64;
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                let key = key.clone();
                std::thread::spawn(move || sign_for(&key, seconds))
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        let ceiling = total as f64 / seconds.as_secs_f64();
        println!(
            "sign {alg} per_token_us={per_token_us:.1} ceiling_tokens_per_s={ceiling:.0} cores={cores}"
        );
    }
}
