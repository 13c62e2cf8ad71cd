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
    /// The port of the first `tls:` listener, when there is one.
    pub tls_port: Option<u16>,
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

    /// [`Server::start`] with the process's descriptor limit (`RLIMIT_NOFILE`, soft and hard)
    /// set to `nofile` before it runs: a server that must live within a small budget.
    pub fn start_with_fd_limit(config: &str, nofile: u64) -> Server {
        let dir = scratch_dir("server");
        let cfg = dir.join("holdline.toml");
        std::fs::write(&cfg, config).expect("write config");
        Server::spawn_with(dir, &["--config".as_ref(), cfg.as_os_str()], Some(nofile))
    }

    /// The server's process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(dir: PathBuf, args: &[&std::ffi::OsStr]) -> Server {
        Server::spawn_with(dir, args, None)
    }

    fn spawn_with(dir: PathBuf, args: &[&std::ffi::OsStr], nofile: Option<u64>) -> Server {
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let log = dir.join(format!(
            "holdline{}.log",
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let mut command = Command::new(holdline_bin());
        command
            .arg("serve")
            .args(args)
            // The API on a free port, so tests run side by side (the default is 8080).
            .args(["--api-listen", "127.0.0.1:0"])
            .current_dir(&dir)
            // HOLDLINE_LOG: a benchmark's quieter log (the tests read the debug one).
            .env(
                "RUST_LOG",
                std::env::var("HOLDLINE_LOG").unwrap_or_else(|_| "holdline=debug".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(n) = nofile {
            limit_descriptors(&mut command, n);
        }
        let mut child = command.spawn().expect("start holdline");
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
        let mut tls_port = None;
        loop {
            match rx.recv_timeout(READY_TIMEOUT) {
                Ok(line) => {
                    // "listening sip udp 127.0.0.1:40123"
                    if let Some(rest) = line.strip_prefix("listening sip udp ") {
                        port = rest.rsplit(':').next().and_then(|p| p.parse().ok());
                    }
                    if let Some(rest) = line.strip_prefix("listening sip tls ") {
                        tls_port =
                            tls_port.or(rest.rsplit(':').next().and_then(|p| p.parse().ok()));
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
            tls_port,
        }
    }

    /// Kills the process with SIGKILL (no shutdown step of any kind) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET /metrics` from the admin API (the whole HTTP response; the series are its lines),
    /// with `token`, or the token the server printed when `None`.
    pub fn metrics(&self, token: Option<&str>) -> String {
        use std::io::{Read, Write};
        let token = token.or(self.token.as_deref()).unwrap_or_default();
        let mut s = std::net::TcpStream::connect(&self.api).expect("connect to the API");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            self.api
        )
        .unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
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

/// Sets `RLIMIT_NOFILE` (soft and hard) to `nofile` in the child before it runs.
// `pre_exec` is unsafe: the closure runs between fork and exec, where only async-signal-safe
// calls are allowed; setrlimit(2) is one, and the closure allocates nothing.
#[allow(unsafe_code)]
fn limit_descriptors(command: &mut Command, nofile: u64) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: nofile,
        rlim_max: nofile,
    };
    // SAFETY: the closure only calls setrlimit on a copied local and builds an io::Error from
    // errno, both async-signal-safe; it touches no lock or allocator.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Raises this (test) process's soft `RLIMIT_NOFILE` to its hard limit and returns the limit
/// now in force: a test that holds thousands of sockets asks for the most it may have.
// getrlimit/setrlimit have no safe wrapper in std; both only read or write a local struct.
#[allow(unsafe_code)]
pub fn raise_own_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `limit`, a live local, during the call only.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads `raised`, a live local, during the call only.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        raised.rlim_cur
    } else {
        limit.rlim_cur
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The value of one series in `/metrics` text: its name with its labels, as exported
/// (`holdline_bans_total`, `holdline_sip_connections_refused_total{reason="max_per_source"}`).
pub fn metric_value(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
