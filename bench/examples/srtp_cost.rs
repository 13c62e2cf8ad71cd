//! What SRTP costs the pacer per packet: protecting a 20 ms PCMU packet (12-byte header, 160
//! bytes of μ-law, as the pacer cuts the prompts) with `holdline::rtp::srtp::Protector`, the
//! same call the pacer shard makes just before its send, set against that send itself (a
//! non-blocking `send_to` of the packet on a loopback UDP socket, the plain pacer's whole
//! per-packet IO). Also the receive side: `Unprotector::rtp` on a genuine packet and on a
//! tampered one (dropped). Rounds alternate; prints the median ns per packet of each.
//!
//! ```sh
//! cargo run --release -p holdline-bench --example srtp_cost [ROUNDS]
//! ```
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock: timing is the point.

use std::net::UdpSocket;
use std::time::Instant;

use holdline::rtp::srtp::{Keying, Protector, Suite, Unprotector};

/// Packets per round.
const PACKETS: u32 = 20_000;

fn packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend((0..160u8).map(|i| i.wrapping_mul(37)));
    p
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(11);
    let key = [7u8; 16];
    let salt = [9u8; 14];
    let keying = Keying {
        suite: Suite::AesCm128HmacSha1_80,
        key: &key,
        salt: &salt,
    };
    // A receiver that drains nothing: the kernel drops what overflows its buffer, as a
    // far-away peer's network would; the send cost is the syscall either way.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = sink.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let plain: Vec<Vec<u8>> = (0..PACKETS).map(|i| packet(i as u16)).collect();

    let (mut send, mut protect, mut protect_send, mut open, mut refuse) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        // The plain pacer: send the slice as it is.
        let start = Instant::now();
        for p in &plain {
            let _ = socket.send_to(p, dest);
        }
        send.push(start.elapsed().as_nanos() as f64 / f64::from(PACKETS));

        // Protect alone (a fresh context per round: the sequence numbers start over).
        let mut tx = Protector::new(keying).unwrap();
        let start = Instant::now();
        let mut sealed = Vec::with_capacity(plain.len());
        for p in &plain {
            sealed.push(tx.rtp(p).unwrap());
        }
        protect.push(start.elapsed().as_nanos() as f64 / f64::from(PACKETS));

        // Protect and send: the SRTP pacer's per-packet work.
        let mut tx = Protector::new(keying).unwrap();
        let start = Instant::now();
        for p in &plain {
            let s = tx.rtp(p).unwrap();
            let _ = socket.send_to(&s, dest);
        }
        protect_send.push(start.elapsed().as_nanos() as f64 / f64::from(PACKETS));

        // The receive side: authenticate and decrypt.
        let mut rx = Unprotector::new(keying).unwrap();
        let start = Instant::now();
        for s in &sealed {
            rx.rtp(s).unwrap();
        }
        open.push(start.elapsed().as_nanos() as f64 / f64::from(PACKETS));

        // Tampered packets: the tag check fails and the packet is dropped.
        let forged: Vec<Vec<u8>> = sealed
            .iter()
            .map(|s| {
                let mut f = s.to_vec();
                f[40] ^= 1;
                f
            })
            .collect();
        let mut rx = Unprotector::new(keying).unwrap();
        let start = Instant::now();
        for f in &forged {
            assert!(rx.rtp(f).is_err());
        }
        refuse.push(start.elapsed().as_nanos() as f64 / f64::from(PACKETS));
    }
    let (send, protect, protect_send) = (median(send), median(protect), median(protect_send));
    println!("packets per round: {PACKETS}, rounds: {rounds} (medians, ns per packet)");
    println!("plain send_to:          {send:8.0}");
    println!("protect alone:          {protect:8.0}");
    println!(
        "protect + send_to:      {protect_send:8.0}  ({:.2}x the plain send)",
        protect_send / send
    );
    println!("unprotect (genuine):    {:8.0}", median(open));
    println!("unprotect (tampered):   {:8.0}", median(refuse));
    println!(
        "one core's share at 2,000 SRTP streams (100,000 packets/s): {:.1} % for protect",
        protect * 100_000.0 / 1e9 * 100.0
    );
}
