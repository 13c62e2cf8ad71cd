//! Shared helpers for the end-to-end tests: start the real `holdline` binary on loopback with
//! ephemeral ports, and run SIPp scenarios from `sip-fixtures/sipp/` against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A running `holdline serve` with its bound SIP port (UDP and TCP share it) and admin API.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The admin API's address (`127.0.0.1:PORT`: tests always pass `--api-listen
    /// 127.0.0.1:0`).
    pub api: String,
    /// The API token, when the server generated one on this start and printed it.
    pub token: Option<String>,
}

impl Server {
    /// Writes `config` (a TOML file whose listen addresses use port 0) into a fresh directory
    /// and starts the binary; returns once it has printed its bound ports.
    pub fn start(config: &str) -> Server {
        let dir = scratch_dir("server");
        let cfg = dir.join("holdline.toml");
        std::fs::write(&cfg, config).expect("write config");
        Server::spawn(dir, &["--config".as_ref(), cfg.as_os_str()])
    }

    /// Starts the binary again on the `holdline.toml` (and so the store) in `dir`, as after a
    /// restart.
    pub fn restart_in(dir: &Path) -> Server {
        let cfg = dir.join("holdline.toml");
        Server::spawn(dir.to_owned(), &["--config".as_ref(), cfg.as_os_str()])
    }

    /// Starts `holdline serve` on its embedded default configuration, only moved to ephemeral
    /// loopback ports so tests can run side by side.
    pub fn start_default() -> Server {
        let dir = scratch_dir("default");
        Server::spawn(
            dir,
            &[
                "--listen".as_ref(),
                "udp:127.0.0.1:0".as_ref(),
                "--listen".as_ref(),
                "tcp:127.0.0.1:0".as_ref(),
            ],
        )
    }

    fn spawn(dir: PathBuf, args: &[&std::ffi::OsStr]) -> Server {
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let log = dir.join(format!(
            "holdline{}.log",
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdline"))
            .arg("serve")
            .args(args)
            // The API on a free port, so tests run side by side (the default is 8080).
            .args(["--api-listen", "127.0.0.1:0"])
            .current_dir(&dir)
            .env("RUST_LOG", "holdline=debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start holdline");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut port = None;
        let mut api = None;
        let mut token = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    // "listening sip udp 127.0.0.1:40123"
                    if let Some(rest) = line.strip_prefix("listening sip udp ") {
                        port = rest.rsplit(':').next().and_then(|p| p.parse().ok());
                    }
                    if let Some(rest) = line.strip_prefix("listening api ") {
                        api = Some(rest.trim().to_owned());
                    }
                    if let Some(rest) = line.strip_prefix("api token ") {
                        token = Some(rest.trim().to_owned());
                    }
                    if line == "ready" {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!("holdline did not become ready; its log:\n{log}");
                }
            }
        }
        Server {
            child,
            port: port.expect("holdline printed no udp listener"),
            dir,
            log,
            api: api.expect("holdline printed no api listener"),
            token,
        }
    }

    /// Kills the process with SIGKILL (no shutdown step of any kind) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`libc::SIGHUP`, …) to the process.
    #[allow(unsafe_code)] // kill(2) has no safe std form for signals other than SIGKILL.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A unique scratch directory under the target dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The path of a SIPp scenario in `sip-fixtures/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sip-fixtures/sipp")
        .join(name)
}

/// The SIPp binary; the project's test command installs it (`apt-get install sip-tester`), so
/// a missing one is a failure, not a skip.
pub fn sipp_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("sipp"))
            .find(|p| p.is_file())
    });
    found.expect("sipp is not installed: run the README's test command (it installs sip-tester)")
}

/// One SIPp run's outcome.
pub struct SippRun {
    pub code: Option<i32>,
    pub output: String,
}

/// Runs `scenario` against the server with SIPp over `transport` ("u1" or "t1").
pub fn run_sipp(server: &Server, scenario_name: &str, transport: &str, extra: &[&str]) -> SippRun {
    run_sipp_port(server.port, scenario_name, transport, extra)
}

/// Runs `scenario` against a server listening on 127.0.0.1:`port`.
pub fn run_sipp_port(port: u16, scenario_name: &str, transport: &str, extra: &[&str]) -> SippRun {
    let dir = scratch_dir("sipp");
    let out = Command::new(sipp_path())
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(scenario(scenario_name))
        .args([
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_err",
        ])
        .args(extra)
        .current_dir(&dir)
        .output()
        .expect("run sipp");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if entry.path().to_string_lossy().ends_with("_errors.log") {
            output.push_str("\n--- sipp errors log ---\n");
            output.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    SippRun {
        code: out.status.code(),
        output,
    }
}

/// Asserts a SIPp run passed, printing SIPp's and the server's output when it did not.
pub fn assert_sipp_ok(run: &SippRun, server: &Server, what: &str) {
    assert_eq!(
        run.code,
        Some(0),
        "{what}: sipp failed\n--- sipp ---\n{}\n--- holdline log ---\n{}",
        tail(&run.output, 6000),
        tail(&server.log_text(), 8000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[start..]
}
