//! SIPp against the real server: a caller scenario run to its end ([`run_sipp`]), and an
//! agent's phone, a UAS scenario running one call in the background ([`AgentPhone`]). The
//! scenarios are the XML files in `sip-fixtures/sipp/`.
//!
//! SIPp is not optional: the project's test command installs it (`apt-get install
//! sip-tester`), so a missing one is a failure, not a skip.
#![allow(clippy::disallowed_methods)] // Real processes in real time: waiting is the point.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths::{repo_root, scratch_dir};
use crate::server::Server;

/// The path of a SIPp scenario in `sip-fixtures/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    repo_root().join("sip-fixtures/sipp").join(name)
}

/// The SIPp binary on PATH.
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
    run_sipp_from_port("127.0.0.1", port, scenario_name, transport, extra)
}

/// [`run_sipp`] from another loopback address (`127.0.0.2`): a source the server does not
/// know, for its inbound policy.
pub fn run_sipp_from(
    local_ip: &str,
    server: &Server,
    scenario_name: &str,
    transport: &str,
    extra: &[&str],
) -> SippRun {
    run_sipp_from_port(local_ip, server.port, scenario_name, transport, extra)
}

fn run_sipp_from_port(
    local_ip: &str,
    port: u16,
    scenario_name: &str,
    transport: &str,
    extra: &[&str],
) -> SippRun {
    let dir = scratch_dir("sipp");
    let out = Command::new(sipp_path())
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(scenario(scenario_name))
        .args(["-t", transport, "-i", local_ip, "-mi", local_ip, "-p", "0"])
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

/// The last `n` bytes of `s` (or a little fewer, on a character boundary).
fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[start..]
}

/// A free UDP port on loopback for a SIPp agent: bind port 0, read it, let it go.
pub fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a free port");
    socket.local_addr().expect("local address").port()
}

/// Polls `f` every 50 ms until it returns `Some`, for up to `within`.
pub fn eventually<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An agent's phone: a SIPp UAS running one call of a scenario in the background; killed when
/// dropped before [`AgentPhone::finish`].
pub struct AgentPhone {
    scenario: &'static str,
    port: u16,
    child: Option<Child>,
    dir: PathBuf,
    timeout: Duration,
}

impl AgentPhone {
    /// Starts SIPp on 127.0.0.1:`port` (UDP) with `scenario` for one call (`-m 1`) and returns
    /// once it listens, so holdline's INVITE cannot arrive before it. SIPp gives up after
    /// `timeout_s` seconds (a failure).
    pub fn start(scenario_name: &'static str, port: u16, timeout_s: u64, extra: &[&str]) -> Self {
        let dir = scratch_dir("agent");
        let stdout = std::fs::File::create(dir.join("stdout.txt")).expect("stdout file");
        let stderr = std::fs::File::create(dir.join("stderr.txt")).expect("stderr file");
        let child = Command::new(sipp_path())
            .arg("-sf")
            .arg(scenario(scenario_name))
            .args(["-t", "u1", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-m", "1"])
            .args(["-nostdin", "-timeout", &format!("{timeout_s}s")])
            .args(["-timeout_error", "-trace_err"])
            .args(extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start sipp agent");
        let mut phone = AgentPhone {
            scenario: scenario_name,
            port,
            child: Some(child),
            dir,
            timeout: Duration::from_secs(timeout_s),
        };
        phone.wait_listening();
        phone
    }

    /// An answering scenario (`uas_agent_answer.xml` and its kin take the keys `queue`, the
    /// queue name expected in the INVITE's From, and `rtp_port`, the port of their SDP answer)
    /// with the RTP socket of that answer, bound here and to be held for the test's length so
    /// the port in the answer is really the test's.
    pub fn answering(
        scenario_name: &'static str,
        port: u16,
        queue_name: &str,
        timeout_s: u64,
        extra: &[&str],
    ) -> (AgentPhone, UdpSocket) {
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind agent RTP socket");
        let rtp_port = rtp.local_addr().expect("rtp address").port().to_string();
        let mut args = vec!["-key", "queue", queue_name, "-key", "rtp_port", &rtp_port];
        args.extend_from_slice(extra);
        let phone = AgentPhone::start(scenario_name, port, timeout_s, &args);
        (phone, rtp)
    }

    /// Waits until a UDP socket is bound on the agent's port (read from /proc, so the check
    /// never takes the port itself), or SIPp has exited.
    fn wait_listening(&mut self) {
        let needle = format!("0100007F:{:04X} ", self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
            if table.lines().any(|l| l.contains(&needle)) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return; // Exited already: `finish` reports why.
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "sipp agent {} never listened on {}",
            self.scenario, self.port
        );
    }

    /// Waits for SIPp to end (its own timeout, plus a margin) and collects its output.
    pub fn finish(mut self) -> SippRun {
        let mut child = self.child.take().expect("agent running");
        let deadline = Instant::now() + self.timeout + Duration::from_secs(10);
        let code = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut output = format!("agent {} on port {}\n", self.scenario, self.port);
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = path.to_string_lossy();
            if name.ends_with("stderr.txt") || name.ends_with("_errors.log") {
                output.push_str(&format!(
                    "--- {} ---\n",
                    entry.file_name().to_string_lossy()
                ));
                output.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
        SippRun { code, output }
    }
}

impl Drop for AgentPhone {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
