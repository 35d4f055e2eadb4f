//! A small W3C WebDriver client for the console's browser tests: chromedriver drives Debian's
//! headless Chromium, and these are the few commands the tests need (open a page, find, click,
//! type, run a script, drag, take a screenshot).
//!
//! Why not a crate: fantoccini (the usual WebDriver client) brings the `webdriver` protocol
//! crate with `icu_segmenter`, `cookie`, an old `http` and, by default, OpenSSL through
//! hyper-tls; CDP clients (chromiumoxide, headless_chrome) generate bindings for the whole
//! DevTools protocol, a long compile. WebDriver is JSON over HTTP, and `reqwest`, which the
//! workspace already builds, speaks that: this file adds no dependency at all.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How the browser starts.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The browser's preferred languages, as Accept-Language sends them (`en-US,en`).
    pub languages: String,
    /// Window width in CSS pixels.
    pub width: u32,
    /// Window height in CSS pixels.
    pub height: u32,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self {
            languages: "en-US,en".into(),
            width: 1280,
            height: 900,
        }
    }
}

/// An element on the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A headless Chromium driven through chromedriver; ends both when dropped.
pub struct Browser {
    http: reqwest::Client,
    driver: Child,
    port: u16,
    session: String,
    closed: bool,
    _profile: tempfile::TempDir,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium (a new profile folder each time).
    /// `Ok(None)` when either is not installed, unless `MILLWRIGHT_REQUIRE_BROWSER` is set
    /// (as `.ci/run` does), in which case that is an error.
    pub async fn start(options: &BrowserOptions) -> Result<Option<Self>> {
        let (Some(driver), Some(chromium)) = (on_path("chromedriver"), on_path("chromium")) else {
            if std::env::var_os("MILLWRIGHT_REQUIRE_BROWSER").is_some() {
                bail!("chromium and chromium-driver are required (apt-get install chromium chromium-driver)");
            }
            eprintln!(
                "skipped: chromium or chromedriver is not installed \
                 (apt-get install chromium chromium-driver)"
            );
            return Ok(None);
        };
        let port = free_port()?;
        // Its own process group, which Chromium's processes join: ending the group ends
        // everything this browser started, even if the session could not be closed.
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                let status: Value = r.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::Builder::new()
            .prefix("millwright-chromium-")
            .tempdir()?;
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={},{}", options.width, options.height),
            format!(
                "--lang={}",
                options.languages.split(',').next().unwrap_or("en")
            ),
            format!("--accept-lang={}", options.languages),
        ];
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": args,
                    "prefs": {"intl.accept_languages": options.languages},
                },
                "goog:loggingPrefs": {"browser": "ALL"},
            }}
        });
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await?;
        let session = created["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("chromedriver refused the session: {created}"))?
            .to_string();
        Ok(Some(Self {
            http,
            driver: child,
            port,
            session,
            closed: false,
            _profile: profile,
        }))
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        );
        let mut request = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            // chromedriver wants a JSON object even for commands without parameters.
            let body = if body.is_null() { json!({}) } else { body };
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        let value = answer["value"].clone();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            bail!(
                "WebDriver {method} {path}: {error}: {}",
                value["message"].as_str().unwrap_or_default()
            );
        }
        Ok(value)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.command(reqwest::Method::POST, path, body).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.command(reqwest::Method::GET, path, Value::Null).await
    }

    /// Opens a URL and waits for the document to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    /// Reloads the page.
    pub async fn refresh(&self) -> Result<()> {
        self.post("/refresh", json!({})).await.map(drop)
    }

    /// The first element matching a CSS selector, now.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await?;
        element(&v)
    }

    /// Every element matching a CSS selector, now.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let v = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await?;
        v.as_array()
            .ok_or_else(|| anyhow!("not a list: {v}"))?
            .iter()
            .map(element)
            .collect()
    }

    /// Waits until an element matching a CSS selector exists.
    pub async fn wait(&self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(css).await {
                Ok(e) => return Ok(e),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("waiting {timeout:?} for {css}")))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until a script (the body of a function) returns something truthy; returns it.
    pub async fn wait_until(&self, script: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.script(script, vec![]).await?;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("waited {timeout:?} for: {script} (last {v})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script (the body of a function; `arguments` holds `args`) and returns its value.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Clicks an element.
    pub async fn click(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .map(drop)
    }

    /// Types into an element.
    pub async fn type_into(&self, e: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await
            .map(drop)
    }

    /// An element's rendered text.
    pub async fn text(&self, e: &Element) -> Result<String> {
        let v = self.get(&format!("/element/{}/text", e.0)).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// An element reference as a script argument.
    pub fn arg(e: &Element) -> Value {
        json!({ ELEMENT_KEY: e.0 })
    }

    /// Drags the mouse across an element, from one offset to another (CSS pixels from its
    /// centre), button held.
    pub async fn drag(&self, e: &Element, from: (i64, i64), to: (i64, i64)) -> Result<()> {
        let origin = json!({ ELEMENT_KEY: e.0 });
        let actions = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "origin": origin, "x": from.0, "y": from.1},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "duration": 150, "origin": origin, "x": (from.0 + to.0) / 2, "y": (from.1 + to.1) / 2},
                {"type": "pointerMove", "duration": 150, "origin": origin, "x": to.0, "y": to.1},
                {"type": "pointerUp", "button": 0},
            ]
        }]});
        self.post("/actions", actions).await?;
        self.command(reqwest::Method::DELETE, "/actions", Value::Null)
            .await
            .map(drop)
    }

    /// Presses keys in the focused element (WebDriver key codes such as `\u{E012}` for ←).
    pub async fn keys(&self, keys: &str) -> Result<()> {
        let mut strokes = Vec::new();
        for c in keys.chars() {
            strokes.push(json!({"type": "keyDown", "value": c.to_string()}));
            strokes.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": strokes}]}),
        )
        .await
        .map(drop)
    }

    /// Saves a PNG screenshot of the window.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.get("/screenshot").await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().ok_or_else(|| anyhow!("no screenshot"))?)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// The browser console's messages since the last call (level and text).
    pub async fn console_log(&self) -> Result<Vec<(String, String)>> {
        let v = self.post("/se/log", json!({"type": "browser"})).await?;
        Ok(v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_string(),
                            e["message"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Ends the session (closing Chromium) and chromedriver.
    pub async fn quit(mut self) -> Result<()> {
        self.closed = true;
        // Deleting the session waits for Chromium to exit; only if that fails is the group
        // killed (killing it after a clean exit would orphan Chromium's last helpers).
        if self
            .command(reqwest::Method::DELETE, "", Value::Null)
            .await
            .is_err()
        {
            self.end_group();
        }
        let _ = self.driver.kill().await;
        Ok(())
    }

    /// Kills what is left of chromedriver's process group (Chromium's helpers included).
    fn end_group(&self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn element(v: &Value) -> Result<Element> {
    v[ELEMENT_KEY]
        .as_str()
        .map(|id| Element(id.to_string()))
        .ok_or_else(|| anyhow!("not an element: {v}"))
}

impl Drop for Browser {
    /// A test that failed half way still closes Chromium: the session is deleted with a plain
    /// blocking request (no runtime may be left to await on), then chromedriver is killed.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                // The answer comes once Chromium has exited.
                let mut answer = [0u8; 512];
                let _ = stream.read(&mut answer);
            }
        }
        self.end_group();
        let _ = self.driver.start_kill();
    }
}
