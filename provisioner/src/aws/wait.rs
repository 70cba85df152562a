//! Waiting for what real AWS does slowly: a state polled until it is reached
//! ([`wait_for`]), a resource created moments ago not yet visible to the service that
//! uses it ([`with_propagation`]); both on tokio's clock, both saying what they wait for
//! through [`Notices`] and stopping at a bound from [`Patience`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Aws;
use super::error::{AwsError, ErrorClass};
use super::retry::{jittered, with_retries};

/// How long the provisioner waits for what real AWS does slowly. Every wait polls, says
/// what it waits for with the time elapsed, and ends with [`ErrorClass::StillWaiting`]
/// at its bound: re-running the command continues from where it stopped.
#[derive(Debug, Clone)]
pub struct Patience {
    /// A new IAM role or KMS key becoming usable by Lambda, EC2 and IAM itself: AWS
    /// documents seconds, seen up to about two minutes.
    pub propagation: Duration,
    /// Lambda releasing a deleted function's VPC network interfaces, which keep its
    /// security group and subnets from being deleted: up to 20 to 40 minutes.
    pub network_interfaces: Duration,
    /// A function reaching `State: Active` and `LastUpdateStatus: Successful` (a function
    /// in a VPC is `Pending` while Lambda creates its network interfaces).
    pub function: Duration,
    /// An Aurora cluster or instance becoming `available` (5 to 10 minutes for the
    /// cluster, more for the instance).
    pub database: Duration,
    /// A NAT gateway becoming `available` or `deleted`.
    pub nat_gateway: Duration,
    /// Time between two polls of a state.
    pub poll: Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            propagation: Duration::from_secs(120),
            network_interfaces: Duration::from_secs(45 * 60),
            function: Duration::from_secs(15 * 60),
            database: Duration::from_secs(60 * 60),
            nat_gateway: Duration::from_secs(15 * 60),
            poll: Duration::from_secs(10),
        }
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Lines a long wait reports ("waiting for Lambda to release 2 network interfaces…
/// [4m10s elapsed]"): sent to the subscriber (the CLI's progress), logged, and the last
/// ones kept (tests read them).
#[derive(Clone, Default)]
pub struct Notices {
    inner: Arc<Mutex<NoticeState>>,
}

#[derive(Default)]
struct NoticeState {
    sink: Option<Sink>,
    lines: std::collections::VecDeque<String>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Notices {
    /// Send every later line to `sink` as well.
    pub fn subscribe(&self, sink: impl Fn(&str) + Send + Sync + 'static) {
        self.inner.lock().expect("notices").sink = Some(Arc::new(sink));
    }
    pub fn say(&self, line: &str) {
        tracing::info!(target: "authdomain::wait", "{line}");
        let sink = {
            let mut state = self.inner.lock().expect("notices");
            if state.lines.len() == 1000 {
                state.lines.pop_front();
            }
            state.lines.push_back(line.to_owned());
            state.sink.clone()
        };
        if let Some(sink) = sink {
            sink(line);
        }
    }
    /// The lines said so far (the last thousand).
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("notices")
            .lines
            .iter()
            .cloned()
            .collect()
    }
}

/// `4m10s`, `12s`, `1h02m`: how long a wait has taken, for people.
pub fn elapsed_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// One look at a state being waited for.
#[derive(Debug)]
pub enum Poll<T> {
    Done(T),
    /// Not yet: what is awaited, for the progress line.
    Waiting(String),
}

/// Poll `check` every [`Patience::poll`] until it is done, saying what it waits for with
/// the time elapsed; at `bound`, a [`ErrorClass::StillWaiting`] error for `resource`
/// whose message is `at_bound(last waiting text, elapsed)`. On tokio's clock, so tests
/// run hours of AWS time on a paused clock.
pub async fn wait_for<T, F, Fut>(
    aws: &Aws,
    resource: &str,
    bound: Duration,
    at_bound: impl Fn(&str, Duration) -> String,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Poll<T>, AwsError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        let what = match check().await? {
            Poll::Done(v) => return Ok(v),
            Poll::Waiting(what) => what,
        };
        let elapsed = started.elapsed();
        if elapsed >= bound {
            return Err(AwsError {
                action: "wait for",
                resource: resource.to_owned(),
                code: "StillWaiting".into(),
                message: at_bound(&what, elapsed),
                class: ErrorClass::StillWaiting,
            });
        }
        aws.notices.say(&format!(
            "{resource}: {what}… [{} elapsed]",
            elapsed_text(elapsed)
        ));
        tokio::time::sleep(aws.patience.poll.min(bound - elapsed)).await;
    }
}

/// [`with_retries`], and while `op` fails with [`ErrorClass::Propagating`] keep trying
/// until [`Patience::propagation`] has passed since the first such answer, saying why.
/// At the bound the last error is returned as it came (terminal: it is no longer
/// propagation but a real refusal).
pub async fn with_propagation<T, F, Fut>(aws: &Aws, mut op: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut started: Option<tokio::time::Instant> = None;
    let mut delay = Duration::from_secs(1);
    loop {
        match with_retries(5, &mut op).await {
            Err(mut e) if e.class == ErrorClass::Propagating => {
                let first = *started.get_or_insert_with(tokio::time::Instant::now);
                let elapsed = first.elapsed();
                if elapsed >= aws.patience.propagation {
                    e.class = ErrorClass::Terminal;
                    e.message = format!(
                        "{} (still refused after {} of waiting for AWS to catch up)",
                        e.message,
                        elapsed_text(elapsed)
                    );
                    return Err(e);
                }
                aws.notices.say(&format!(
                    "{}: not usable yet, waiting for AWS to catch up ({}: {}) [{} elapsed]",
                    e.resource,
                    e.code,
                    e.message,
                    elapsed_text(elapsed)
                ));
                tokio::time::sleep(jittered(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(15));
            }
            other => return other,
        }
    }
}
