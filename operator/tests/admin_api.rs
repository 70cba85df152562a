//! The admin API client against a scripted auth server on a real socket (a mock: no real
//! auth server answers 503 or 429 on demand): the token endpoint's overload answers are
//! transient `AuthServerUnavailable` / `AuthServerThrottled`, not refused credentials, and
//! only a 4xx is `AdminCredentialsRefused`.

use operator::admin_api::{AdminApi, AdminCredentials, AdminError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A server that answers every request with `status` and a JSON `body`, and counts them.
async fn scripted(status: u16, body: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                // Headers, then the body by its Content-Length.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let reason = match status {
                    429 => "Too Many Requests",
                    503 => "Service Unavailable",
                    401 => "Unauthorized",
                    _ => "Whatever",
                };
                let answer = format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, task)
}

fn session(base: &str) -> AdminApi {
    AdminApi::new(
        base,
        AdminCredentials {
            client_id: "admin".into(),
            client_secret: "s3cr3t-admin".into(),
        },
        reqwest::Client::new(),
    )
}

#[tokio::test]
async fn mocked_token_endpoint_503_is_auth_server_unavailable_and_transient() {
    let (base, _server) = scripted(
        503,
        r#"{"error":"temporarily_unavailable","error_description":"the database is unreachable"}"#,
    )
    .await;
    let e = session(&base).get_client("c").await.unwrap_err();
    assert!(
        matches!(&e, AdminError::Rejected { status: 503, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    let e = operator::Error::Admin(e);
    assert_eq!(e.reason(), "AuthServerUnavailable");
    assert!(e.is_transient());
    let text = e.to_string();
    assert!(text.contains("the database is unreachable"), "{text}");
    assert!(!text.contains("s3cr3t-admin"), "no secret in the message");
}

#[tokio::test]
async fn mocked_token_endpoint_429_is_auth_server_throttled_and_transient() {
    let (base, _server) = scripted(429, r#"{"error":"slow_down"}"#).await;
    let e = operator::Error::Admin(session(&base).get_client("c").await.unwrap_err());
    assert_eq!(e.reason(), "AuthServerThrottled");
    assert!(e.is_transient());
}

#[tokio::test]
async fn mocked_token_endpoint_401_is_admin_credentials_refused() {
    let (base, _server) = scripted(
        401,
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
    )
    .await;
    let e = session(&base).get_client("c").await.unwrap_err();
    assert!(
        matches!(&e, AdminError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert_eq!(
        operator::Error::Admin(e).reason(),
        "AdminCredentialsRefused"
    );
}

#[tokio::test]
async fn an_auth_server_that_is_not_there_is_unavailable() {
    // A port nothing listens on (bound, then closed).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let e = session(&base).get_client("c").await.unwrap_err();
    assert!(matches!(&e, AdminError::Unreachable { .. }), "{e:?}");
    let e = operator::Error::Admin(e);
    assert_eq!(e.reason(), "AuthServerUnavailable");
    assert!(e.to_string().contains(&base), "{e}");
}
