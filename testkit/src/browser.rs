//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! which `tests/run.sh` installs): `chromedriver` on a free loopback port, one browser session,
//! both ended when dropped. The protocol is plain JSON over HTTP, spoken by the few lines of
//! [`Driver`], so no browser is ever downloaded and no crate is added for it.
#![allow(clippy::disallowed_methods)] // A real browser in real time: waiting is the point.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use crate::paths::scratch_dir;

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    client: Driver,
    session: String,
    _profile: PathBuf,
}

/// Where the browser and its driver are: `chromium` and `chromedriver` on PATH (Debian puts
/// them in /usr/bin).
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts chromedriver and a headless browser with a `width`×`height` window. Panics with
    /// the reason when either is missing (`apt-get install chromium chromium-driver`).
    pub fn start(width: u32, height: u32) -> Browser {
        let driver_bin = which("chromedriver")
            .expect("chromedriver not found: apt-get install -y chromium chromium-driver");
        let chromium = which("chromium")
            .expect("chromium not found: apt-get install -y chromium chromium-driver");
        let profile = scratch_dir("chromium");
        let port = free_tcp_port();
        let log = std::fs::File::create(profile.join("chromedriver.log")).expect("driver log");
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let client = Driver {
            addr: format!("127.0.0.1:{port}"),
        };
        let mut browser = Browser {
            driver,
            client,
            session: String::new(),
            _profile: profile.clone(),
        };
        let ready = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((_, body)) = browser.client.request("GET", "/status", None) {
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < ready, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--mute-audio",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.join("profile").display()),
                ],
            },
            "timeouts": { "pageLoad": 20000, "script": 10000 },
        }}});
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; its `value`. Panics on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        // POSTs need a body, even an empty object.
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, body) = self
            .client
            .request(method, path, body.as_ref())
            .map_err(|e| e.to_string())?;
        if status >= 400 {
            return Err(format!("{status} {body}"));
        }
        Ok(body.get("value").cloned().unwrap_or(Value::Null))
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Navigates and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The element `css` selects now, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let v = self
            .try_call(
                "POST",
                &self.s("/element"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .ok()?;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits up to `within` for `css` to select an element; panics with the page otherwise.
    pub fn wait_for(&self, css: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() > end {
                panic!(
                    "no {css:?} within {within:?} on {}:\n{}",
                    self.url(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` into the element `css` selects (for a file input: uploads that file).
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait_for(css, Duration::from_secs(5));
        self.call("POST", &self.s(&format!("/element/{e}/clear")), None);
        self.send_keys(&e, text);
    }

    /// Chooses `path` in the file input `css` selects.
    pub fn choose_file(&self, css: &str, path: &Path) {
        let e = self.wait_for(css, Duration::from_secs(5));
        self.send_keys(&e, &path.to_string_lossy());
    }

    fn send_keys(&self, element: &str, text: &str) {
        self.call(
            "POST",
            &self.s(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element `css` selects.
    pub fn click(&self, css: &str) {
        let e = self.wait_for(css, Duration::from_secs(5));
        self.call("POST", &self.s(&format!("/element/{e}/click")), None);
    }

    /// The visible text of the element `css` selects ("" when there is none).
    pub fn text(&self, css: &str) -> String {
        let Some(e) = self.find(css) else {
            return String::new();
        };
        self.try_call("GET", &self.s(&format!("/element/{e}/text")), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Sets the value of the `<select>` (or other input) with id `id`.
    pub fn set_value(&self, id: &str, value: &str) {
        self.script(
            "document.getElementById(arguments[0]).value = arguments[1];",
            json!([id, value]),
        );
    }

    /// Waits up to `within` until the element `css` selects has text `want`; how long it took,
    /// or `None`.
    pub fn wait_text(&self, css: &str, want: &str, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if self.text(css).trim() == want {
                return Some(start.elapsed());
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Writes a PNG of the viewport to `path` (`Page.captureScreenshot` behind WebDriver).
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64_decode(b64.as_str().unwrap_or("")).expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's HTTP: one request per connection, the answer read to its Content-Length
/// (chromedriver keeps the connection open even when asked to close it).
struct Driver {
    addr: String,
}

impl Driver {
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{payload}",
            self.addr,
            payload.len()
        )?;
        let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let (head_end, length) = loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(bad("connection closed before the headers ended"));
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_string();
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while raw.len() < head_end + length {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(bad("connection closed before the body ended"));
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let status = String::from_utf8_lossy(&raw[..head_end])
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("no status code"))?;
        let body = serde_json::from_slice(&raw[head_end..head_end + length]).unwrap_or(Value::Null);
        Ok((status, body))
    }
}

/// A free TCP port on loopback: bind port 0, read it, let it go.
pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert!(base64_decode("Zm9v*").is_none());
    }
}
