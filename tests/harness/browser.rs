//! The server-rendered pages in a real browser: headless Chromium driven over
//! the DevTools protocol by `tests/browser/drive.py` (Python, websocket-client),
//! so a test opens the link from an email, fills the form, clicks submit with
//! the mouse and reads the page that comes back, under the page's real
//! Content-Security-Policy (never bypassed: its violations land in
//! [`Run::console`]).
//!
//! ```ignore
//! let run = drive(&[
//!     Step::phone(),
//!     Step::open(link),
//!     Step::fill("input[name=password]", "correct horse battery"),
//!     Step::click("button[type=submit]"),
//!     Step::Text,
//! ])
//! .await;
//! assert_eq!(run.page(3).status, 200);
//! assert!(run.text(4).contains("Password changed"));
//! run.assert_no_csp_violations();
//! ```
//!
//! Each [`drive`] is one Chromium with a fresh profile (no cookies from other
//! runs), one tab, the steps in order; it panics if a step fails (no element
//! for a selector, a page that does not load, a script error in `Eval`).

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use serde::Deserialize;
use serde_json::{json, Value};

/// What `drive.py` gets the whole run, Chromium's start included, before it
/// gives up; the harness waits a little longer for its answer.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(60);
const HARNESS_DEADLINE: Duration = Duration::from_secs(120);

/// One thing to do in the tab; the result of step `i` is [`Run::results`]`[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Emulates a screen of this size (CSS pixels, device scale factor 2);
    /// `mobile` honours `<meta name=viewport>` as a phone does. Result: null.
    Viewport {
        width: u32,
        height: u32,
        mobile: bool,
    },
    /// Navigates and waits for the load event. Result: a [`Page`].
    Open(String),
    /// Focuses the element, selects what it holds and types `text` over it.
    /// Result: `{"value": the field's value afterwards}` (see [`Run::value`]).
    Fill { selector: String, text: String },
    /// A mouse click at the element's centre (scrolled into view; panics if
    /// another element covers it), then waits for the navigation it starts, if
    /// one starts within 10 s. Result: a [`Page`], or `{"navigated": false}`.
    Click(String),
    /// `document.body.innerText`.
    Text,
    /// `document.documentElement.outerHTML`.
    Html,
    /// A JavaScript expression's value (promises awaited), e.g.
    /// `document.documentElement.scrollWidth <= window.innerWidth`.
    Eval(String),
    /// The tab's cookies, as `Network.getCookies` gives them (`name`,
    /// `value`, `httpOnly`, `secure`, `sameSite`, `expires`, `session`, ...).
    Cookies,
}

impl Step {
    pub fn open(url: impl Into<String>) -> Self {
        Self::Open(url.into())
    }

    pub fn fill(selector: impl Into<String>, text: impl Into<String>) -> Self {
        Self::Fill {
            selector: selector.into(),
            text: text.into(),
        }
    }

    pub fn click(selector: impl Into<String>) -> Self {
        Self::Click(selector.into())
    }

    pub fn eval(expression: impl Into<String>) -> Self {
        Self::Eval(expression.into())
    }

    /// A small phone: 375 × 740, mobile.
    pub fn phone() -> Self {
        Self::Viewport {
            width: 375,
            height: 740,
            mobile: true,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Viewport {
                width,
                height,
                mobile,
            } => json!({"viewport": {"width": width, "height": height, "mobile": mobile}}),
            Self::Open(url) => json!({ "open": url }),
            Self::Fill { selector, text } => {
                json!({"fill": {"selector": selector, "text": text}})
            }
            Self::Click(selector) => json!({ "click": selector }),
            Self::Text => json!({ "text": null }),
            Self::Html => json!({ "html": null }),
            Self::Eval(expression) => json!({ "eval": expression }),
            Self::Cookies => json!({ "cookies": null }),
        }
    }
}

/// The main document an `Open` or a navigating `Click` ended on.
#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    /// After redirects.
    pub url: String,
    pub status: u16,
    /// Names lowercased; a repeated header's values joined by `\n`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The redirects followed on the way, in order.
    #[serde(default)]
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Redirect {
    pub url: String,
    pub status: u16,
}

impl Page {
    /// The header `name` (any case), or "" if the response had none.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

/// What a [`drive`] gave: one result per step, and the console.
#[derive(Debug, Clone)]
pub struct Run {
    pub results: Vec<Value>,
    /// The page's console calls, uncaught exceptions and the browser's log,
    /// CSP violations included, as `"<level> [<source>] <text> (<url>:<line>)"`
    /// (CSP violations are `error [security] ...`).
    pub console: Vec<String>,
}

impl Run {
    fn result(&self, i: usize) -> &Value {
        self.results
            .get(i)
            .unwrap_or_else(|| panic!("no step {i}: the run had {}", self.results.len()))
    }

    /// Whether step `i` (`Open` or `Click`) led to a new document.
    pub fn navigated(&self, i: usize) -> bool {
        self.result(i)["navigated"].as_bool() == Some(true)
    }

    /// The document step `i` (`Open` or `Click`) led to; panics if it led to none.
    pub fn page(&self, i: usize) -> Page {
        let result = self.result(i);
        assert!(
            self.navigated(i),
            "step {i} led to no new page: {result}\nconsole: {:#?}",
            self.console
        );
        serde_json::from_value(result.clone())
            .unwrap_or_else(|e| panic!("step {i} is not a page ({e}): {result}"))
    }

    /// The text step `i` (`Text`, `Html`, or an `Eval` of a string) gave.
    pub fn text(&self, i: usize) -> &str {
        let result = self.result(i);
        result
            .as_str()
            .unwrap_or_else(|| panic!("step {i} gave no text: {result}"))
    }

    /// What step `i` gave, as JSON (an `Eval`'s value, `Cookies`' array).
    pub fn json(&self, i: usize) -> &Value {
        self.result(i)
    }

    /// The `Eval` at step `i`, which must have given a boolean.
    pub fn bool(&self, i: usize) -> bool {
        let result = self.result(i);
        result
            .as_bool()
            .unwrap_or_else(|| panic!("step {i} gave no boolean: {result}"))
    }

    /// The field's value after the `Fill` at step `i` (`maxlength` may cut it).
    pub fn value(&self, i: usize) -> &str {
        let result = self.result(i);
        result["value"]
            .as_str()
            .unwrap_or_else(|| panic!("step {i} is not a fill: {result}"))
    }

    /// The cookie `name` in the `Cookies` at step `i`, if the tab has it.
    pub fn cookie(&self, i: usize, name: &str) -> Option<&Value> {
        let result = self.result(i);
        result
            .as_array()
            .unwrap_or_else(|| panic!("step {i} is not a cookie list: {result}"))
            .iter()
            .find(|cookie| cookie["name"] == name)
    }

    /// The console lines that report a Content-Security-Policy violation.
    pub fn csp_violations(&self) -> Vec<&str> {
        self.console
            .iter()
            .map(String::as_str)
            .filter(|line| line.contains("Content Security Policy"))
            .collect()
    }

    #[track_caller]
    pub fn assert_no_csp_violations(&self) {
        let violations = self.csp_violations();
        assert!(
            violations.is_empty(),
            "the pages broke their Content-Security-Policy:\n{}",
            violations.join("\n")
        );
    }
}

#[derive(Deserialize)]
struct Output {
    ok: bool,
    #[serde(default)]
    results: Vec<Value>,
    #[serde(default)]
    console: Vec<String>,
    error: Option<String>,
    missing: Option<String>,
}

fn script() -> PathBuf {
    // CARGO_MANIFEST_DIR is tests/, where this crate's Cargo.toml is.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/drive.py")
}

/// Runs `steps` in one tab of a fresh headless Chromium; panics with the
/// reason (and the script's stderr, Chromium's log) if one fails.
pub async fn drive(steps: &[Step]) -> Run {
    let input = Value::Array(steps.iter().map(Step::to_json).collect());
    // The steps go in on stdin from a file (this crate's tokio has no
    // io-util to write a pipe), unlinked at once: the open handle suffices.
    let path =
        std::env::temp_dir().join(format!("e2e-browser-steps-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, input.to_string())
        .expect("cannot write the browser steps to a temp file");
    let stdin = std::fs::File::open(&path).expect("cannot reopen the browser steps");
    std::fs::remove_file(&path).ok();
    let run = tokio::process::Command::new("python3")
        .arg(script())
        .arg(SCRIPT_DEADLINE.as_secs().to_string())
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(HARNESS_DEADLINE, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("python3 is not installed: the browser tests run tests/browser/drive.py with it")
        }
        Ok(Err(e)) => panic!("cannot run {}: {e}", script().display()),
        Err(_) => panic!(
            "{} gave no answer within {HARNESS_DEADLINE:?}",
            script().display()
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let out: Output = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{} ({}) did not answer in JSON ({e}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            script().display(),
            output.status
        )
    });
    let error = out.error.unwrap_or_default();
    match out.missing.as_deref() {
        Some("chromium") => panic!(
            "chromium is not installed: the browser tests need it. \
             Install it with scripts/install-chromium (apt-get install chromium). ({error})"
        ),
        Some("websocket-client") => panic!(
            "the Python package websocket-client is missing: the browser tests need it. \
             pip install websocket-client (scripts/test does). ({error})"
        ),
        _ => {}
    }
    assert!(
        out.ok,
        "the browser run failed: {error}\nsteps: {input}\nresults so far: {:#?}\nconsole: {:#?}\n{stderr}",
        out.results, out.console
    );
    Run {
        results: out.results,
        console: out.console,
    }
}
