//! `--spawn`: start `holdline serve --config FILE` for the run, read the UDP SIP address it
//! prints (`listening sip udp IP:PORT`, then `ready`), and kill it when the run is over.
//!
//! The server's stderr (its log) is discarded, and its stdout is read on a helper thread so a
//! server that never becomes ready costs a timeout, not a hang.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{BenchError, Spawn};

/// How long the server may take to print `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server; dropping it kills the process.
pub struct Spawned {
    child: Child,
    pub sip_udp: SocketAddr,
    pub pid: u32,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(spawn: &Spawn) -> Result<Spawned, BenchError> {
    let mut child = Command::new(&spawn.binary)
        .arg("serve")
        .arg("--config")
        .arg(&spawn.config)
        // The run needs no admin API on a fixed port (8080 may be taken): any free one.
        .args(["--api-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "holdline=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BenchError::SpawnFailed {
            binary: spawn.binary.clone(),
            source,
        })?;
    let pid = child.id();
    let not_ready = |reason: String| BenchError::SpawnNotReady { reason };
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        return Err(not_ready("no stdout pipe".into()));
    };
    let mut spawned = Spawned {
        child,
        sip_udp: SocketAddr::from(([127, 0, 0, 1], 0)),
        pid,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut udp = None;
    loop {
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line == "ready" => break,
            Ok(line) => {
                if let Some(addr) = parse_listening_udp(&line) {
                    udp.get_or_insert(addr);
                }
            }
            Err(_) => return Err(not_ready(format!("nothing within {READY_TIMEOUT:?}"))),
        }
    }
    spawned.sip_udp = udp.ok_or_else(|| not_ready("no UDP listener".into()))?;
    Ok(spawned)
}

/// `listening sip udp 127.0.0.1:40123` → the address.
pub fn parse_listening_udp(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("listening sip udp ")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_gives_the_udp_address() {
        assert_eq!(
            parse_listening_udp("listening sip udp 127.0.0.1:40123"),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(
            parse_listening_udp("listening sip udp [::1]:5060"),
            Some("[::1]:5060".parse().unwrap())
        );
        assert_eq!(parse_listening_udp("listening sip tcp 127.0.0.1:1"), None);
        assert_eq!(parse_listening_udp("ready"), None);
    }
}
