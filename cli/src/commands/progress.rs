//! Progress of apply, destroy and bootstrap: on a terminal a bar with the elapsed time
//! and the steps printed above it (indicatif); otherwise (CI logs, pipes) one plain line
//! per step with the elapsed seconds. JSON output mode prints nothing here.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use provisioner::reconcile::Step;

pub struct Progress {
    started: Instant,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// `total` steps expected (0 when unknown); `quiet` for JSON output.
    pub fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = if total > 0 {
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
            } else {
                ProgressBar::new_spinner()
            };
            let template = if total > 0 {
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            started: Instant::now(),
            bar,
            quiet,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn line(&self, text: &str) {
        print_line(self.quiet, self.started, self.bar.as_ref(), text);
    }

    /// Where long waits report ("waiting for Lambda to release 2 network interfaces…
    /// [4m10s elapsed]"): printed like steps, and the bar's message shows the latest.
    pub fn sink(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let (quiet, started, bar) = (self.quiet, self.started, self.bar.clone());
        move |text: &str| {
            print_line(quiet, started, bar.as_ref(), text);
            if let Some(bar) = &bar {
                bar.set_message(text.to_owned());
            }
        }
    }

    /// A step of the plan done.
    pub fn step(&self, step: &Step) {
        self.line(&format!(
            "{:<8} {} ({})",
            step.action.as_str(),
            step.resource,
            step.physical_id
        ));
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(step.resource.to_string());
        }
    }

    /// A phase begins (bootstrap), or something outside the plan was done.
    pub fn note(&self, text: &str) {
        self.line(text);
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_owned());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn print_line(quiet: bool, started: Instant, bar: Option<&ProgressBar>, text: &str) {
    if quiet {
        return;
    }
    let line = format!("[{:>6.1}s] {text}", started.elapsed().as_secs_f64());
    match bar {
        Some(bar) => bar.println(line),
        None => println!("{line}"),
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
