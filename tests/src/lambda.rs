//! A Lambda service in miniature for tests: the Runtime API that an unchanged function
//! binary polls (`AWS_LAMBDA_RUNTIME_API`), and the Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`) that hands it events, so a test can
//! run the real auth server (the arm64 build under qemu included) as a Lambda function.
//! moto cannot invoke functions; tests/moto_server.py forwards Invoke here when asked.
//!
//! The function process is started on the first invocation by the test's `launcher`, so
//! that it can read the environment the provisioner gave the function.

use std::collections::{HashMap, VecDeque};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

/// Starts the function's process for a function name, given the Runtime API address
/// (`127.0.0.1:PORT`, for `AWS_LAMBDA_RUNTIME_API`). Called on the first invocation (and
/// again if the process has exited), on a blocking thread.
pub type Launcher = Arc<dyn Fn(&str, &str) -> Child + Send + Sync>;

struct Invocation {
    id: String,
    payload: Bytes,
}

struct Outcome {
    payload: Bytes,
    error: bool,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Invocation>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    process: Option<Child>,
    next_id: u64,
    invocations: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    ready: Notify,
    launcher: Launcher,
    address: String,
}

/// A running fake Lambda service; the function process is killed when it is dropped.
pub struct FakeLambda {
    address: String,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeLambda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLambda")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl FakeLambda {
    /// Listen on a free loopback port (inside the current tokio runtime).
    pub async fn start(launcher: Launcher) -> FakeLambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Lambda service");
        let address = listener.local_addr().expect("address").to_string();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            launcher,
            address: address.clone(),
        });
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeLambda {
            address,
            shared,
            _server: server,
        }
    }

    /// The Invoke URL of function `name` (for the moto hook).
    pub fn invoke_url(&self, name: &str) -> String {
        format!(
            "http://{}/2015-03-31/functions/{name}/invocations",
            self.address
        )
    }

    /// How many invocations were answered.
    pub fn invocations(&self) -> u64 {
        self.shared.inner.lock().expect("state").invocations
    }
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        if let Some(mut p) = self.shared.inner.lock().expect("state").process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

async fn invoke(State(s): State<Arc<Shared>>, Path(name): Path<String>, body: Bytes) -> Response {
    let (tx, rx) = oneshot::channel();
    let running = s
        .inner
        .lock()
        .expect("state")
        .process
        .as_mut()
        .is_some_and(|p| p.try_wait().ok().flatten().is_none());
    if !running {
        // The launcher may block (it reads the function's configuration): off the runtime.
        let (launcher, address) = (s.launcher.clone(), s.address.clone());
        let child = tokio::task::spawn_blocking(move || launcher(&name, &address))
            .await
            .expect("the launcher panicked");
        s.inner.lock().expect("state").process = Some(child);
    }
    {
        let mut inner = s.inner.lock().expect("state");
        inner.next_id += 1;
        let id = format!("req-{}", inner.next_id);
        inner.waiting.insert(id.clone(), tx);
        inner.queue.push_back(Invocation { id, payload: body });
    }
    s.ready.notify_one();
    match tokio::time::timeout(Duration::from_secs(120), rx).await {
        Ok(Ok(outcome)) => {
            let mut r = (StatusCode::OK, outcome.payload).into_response();
            if outcome.error {
                r.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            r
        }
        _ => (
            StatusCode::GATEWAY_TIMEOUT,
            r#"{"errorType":"Timeout","errorMessage":"the function did not answer within 120 s"}"#,
        )
            .into_response(),
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    loop {
        let notified = s.ready.notified();
        if let Some(inv) = s.inner.lock().expect("state").queue.pop_front() {
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&inv.id).expect("id"),
            );
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 60_000;
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_str(&deadline.to_string()).expect("deadline"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:eu-west-1:000000000000:function:test"),
            );
            return (StatusCode::OK, headers, inv.payload).into_response();
        }
        notified.await;
    }
}

fn complete(s: &Shared, id: &str, payload: Bytes, error: bool) -> StatusCode {
    let mut inner = s.inner.lock().expect("state");
    match inner.waiting.remove(id) {
        Some(tx) => {
            inner.invocations += 1;
            let _ = tx.send(Outcome { payload, error });
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    complete(&s, &id, body, false)
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    complete(&s, &id, body, true)
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!(
        "fake Lambda: the function failed to initialise: {}",
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}
