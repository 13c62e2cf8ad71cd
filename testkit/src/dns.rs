//! A tiny authoritative DNS server on a loopback UDP port for tests (RFC 1035 §4 messages):
//! SRV and A records given by the test, NXDOMAIN for any other name, no answer (NODATA)
//! for another type of a known name. It counts the questions it was asked, by name and type,
//! so a test can show what the server under test looked up.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// RFC 1035 §3.2.2 / RFC 2782 record types.
const TYPE_A: u16 = 1;
const TYPE_SRV: u16 = 33;

/// One SRV record (RFC 2782).
#[derive(Clone, Debug)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The server; it stops when dropped.
pub struct DnsServer {
    pub port: u16,
    asked: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Zone {
    srv: HashMap<String, Vec<Srv>>,
    a: HashMap<String, Vec<Ipv4Addr>>,
}

/// Records to serve, built up before [`DnsZone::start`].
#[derive(Default)]
pub struct DnsZone {
    zone: Zone,
    ttl: u32,
}

impl DnsZone {
    pub fn new(ttl: u32) -> DnsZone {
        DnsZone {
            zone: Zone::default(),
            ttl,
        }
    }

    /// SRV records for `name` (`_sip._udp.carrier.test`).
    pub fn srv(mut self, name: &str, records: &[Srv]) -> DnsZone {
        self.zone.srv.insert(key(name), records.to_vec());
        self
    }

    /// A records for `name`.
    pub fn a(mut self, name: &str, addrs: &[Ipv4Addr]) -> DnsZone {
        self.zone.a.insert(key(name), addrs.to_vec());
        self
    }

    /// Serves the zone on 127.0.0.1 at an ephemeral port.
    pub fn start(self) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the test DNS server");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let port = socket.local_addr().expect("address").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (asked2, stop2) = (asked.clone(), stop.clone());
        let (zone, ttl) = (self.zone, self.ttl);
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some((reply, name, qtype)) = answer(&buf[..n], &zone, ttl) {
                    asked2.lock().expect("lock").push((name, qtype));
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        DnsServer { port, asked, stop }
    }
}

impl DnsServer {
    /// How many questions for `name` of type `qtype` (1: A, 33: SRV) were asked.
    pub fn asked(&self, name: &str, qtype: u16) -> usize {
        let name = key(name);
        self.asked
            .lock()
            .expect("lock")
            .iter()
            .filter(|(n, t)| *n == name && *t == qtype)
            .count()
    }

    /// `127.0.0.1:port`, as `[sip] dns_servers` takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The reply to one query, with the question's name and type; `None` for what is not a
/// one-question query.
fn answer(query: &[u8], zone: &Zone, ttl: u32) -> Option<(Vec<u8>, String, u16)> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    if qdcount != 1 {
        return None;
    }
    // The question: labels, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).into_owned());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    query.get(..question_end)?;
    let name = key(&labels.join("."));
    let mut answers: Vec<Vec<u8>> = Vec::new();
    let known = zone.srv.contains_key(&name) || zone.a.contains_key(&name);
    match qtype {
        TYPE_SRV => {
            for r in zone.srv.get(&name).into_iter().flatten() {
                let mut rdata = Vec::new();
                rdata.extend_from_slice(&r.priority.to_be_bytes());
                rdata.extend_from_slice(&r.weight.to_be_bytes());
                rdata.extend_from_slice(&r.port.to_be_bytes());
                rdata.extend_from_slice(&encode_name(&r.target));
                answers.push(rdata);
            }
        }
        TYPE_A => {
            for a in zone.a.get(&name).into_iter().flatten() {
                answers.push(a.octets().to_vec());
            }
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]); // ID
                                        // QR, AA, RD copied; RA; RCODE 3 (NXDOMAIN) for an unknown name.
    out.push(0x84 | (query[2] & 0x01));
    out.push(0x80 | if known { 0 } else { 3 });
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&query[12..question_end]);
    for rdata in answers {
        out.extend_from_slice(&[0xc0, 12]); // the question's name
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some((out, name, qtype))
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in key(name).split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}
