//! A real browser for the pages people see: Debian's headless `chromium` driven through
//! `chromedriver` (W3C WebDriver) with fantoccini. Each [`Browser`] is a fresh profile (its
//! own cookies), so two people can be signed in at once. Screenshots go to
//! `$AUTHDOMAIN_SCREENSHOTS` (default `<target dir>/portal-screenshots`) and stay after the
//! run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub use fantoccini;

/// The running chromedriver, shared by the browsers of one test.
pub struct Driver {
    port: u16,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub fn start() -> Driver {
        let port = crate::net::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver is required (apt install chromium chromium-driver; scripts/test-deps.sh installs them): {e}")
            });
        assert!(
            crate::net::wait_for_port(
                format!("127.0.0.1:{port}").parse().expect("address"),
                Duration::from_secs(20)
            ),
            "chromedriver did not start"
        );
        Driver { port, child }
    }

    /// A new headless Chromium with its own profile, `width` × `height` pixels.
    pub async fn browser(&self, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-features=Translate",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let client = ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session through chromedriver");
        Browser {
            client,
            _profile: profile,
        }
    }
}

fn chromium() -> String {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(c).exists() {
            return c.to_owned();
        }
    }
    panic!(
        "chromium is required (apt install chromium chromium-driver; scripts/test-deps.sh installs them)"
    )
}

pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

/// Where screenshots are kept.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("AUTHDOMAIN_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| crate::lambda_emulator::workspace_path("target"));
            target.join("portal-screenshots")
        });
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .to_string()
    }

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no `{selector}` on {}: {e}", self.url().await),
        }
    }

    /// Whether the page has `selector` now (no waiting: call it once the page is there).
    pub async fn has(&self, selector: &str) -> bool {
        self.client.find(Locator::Css(selector)).await.is_ok()
    }

    /// The attribute `name` of `selector` (waiting for the element like [`Browser::css`]).
    pub async fn attr(&self, selector: &str, name: &str) -> String {
        self.css(selector)
            .await
            .attr(name)
            .await
            .expect("reading an attribute")
            .unwrap_or_else(|| panic!("`{selector}` has no `{name}`"))
    }

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.expect("text")
    }

    pub async fn fill(&self, selector: &str, value: &str) {
        let e = self.css(selector).await;
        e.clear().await.ok();
        e.send_keys(value).await.expect("typing");
    }

    pub async fn click(&self, selector: &str) {
        self.css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
    }

    /// Click a button whose `window.confirm` dialog is then accepted.
    pub async fn click_and_confirm(&self, selector: &str) {
        self.click(selector).await;
        for _ in 0..50 {
            if self.client.get_alert_text().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.client
            .accept_alert()
            .await
            .expect("a confirmation dialog");
    }

    /// The page's whole text (read by script, so a page being replaced is no error).
    pub async fn body(&self) -> String {
        for _ in 0..50 {
            if let Ok(v) = self
                .client
                .execute(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                )
                .await
                && let Some(t) = v.as_str()
            {
                return t.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not read the page at {}", self.url().await)
    }

    /// Wait until the page's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        for _ in 0..100 {
            if self.body().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "`{needle}` never appeared on {}:\n{}",
            self.url().await,
            self.body().await
        );
    }

    /// Whether the page scrolls sideways (it must not).
    pub async fn scrolls_sideways(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await
            .expect("script")
            .as_bool()
            .unwrap_or(true)
    }

    /// Save a PNG of the viewport as `name.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
