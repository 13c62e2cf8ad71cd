//! The real `holdline serve` on loopback: written a configuration into a scratch directory,
//! started with ephemeral ports, waited for until it prints `ready`, killed when dropped.
//!
//! Its stderr (the log, at debug level) goes to a file in that directory, printed when a start
//! fails and readable with [`Server::log_text`]; its stdout gives the bound addresses.
#![allow(clippy::disallowed_methods)] // A real process in real time: waiting is the point.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::paths::{holdline_bin, scratch_dir};

/// How long the server may take to print `ready` (a debug build on a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `holdline serve` with its bound SIP port (UDP and TCP share it) and admin API.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The admin API's address (`127.0.0.1:PORT`: the server always gets `--api-listen
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
        let mut child = Command::new(holdline_bin())
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
        // A helper thread reads stdout, so a server that never becomes ready costs a timeout,
        // not a hang.
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
            match rx.recv_timeout(READY_TIMEOUT) {
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
    // kill(2) has no safe wrapper in std; calling it on our own child's pid touches no memory.
    #[allow(unsafe_code)]
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
