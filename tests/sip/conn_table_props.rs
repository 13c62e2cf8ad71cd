//! Property tests of the connection table: under any order of messages, connects that succeed
//! or fail, peers' connections, closes and idle time, it never has two connects in flight for
//! one destination, never routes a message to a connection that is closed or closing, and
//! accounts for every message: written, flushed when its connection opened, or reported.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use holdline::sip::conn_table::{ConnectionTable, Route};
use holdline::sip::connections::Direction;
use holdline::sip::{ConnId, Peer, Transport};
use holdline::time::Time;
use proptest::prelude::*;

const IDLE: Duration = Duration::from_secs(40);

#[derive(Clone, Debug)]
enum Op {
    /// A message to destination `d`, naming connection `c` (an index into those seen) or none.
    Send(u8, Option<u8>),
    /// The connect in flight to `d` succeeds.
    ConnectOk(u8),
    /// The connect in flight to `d` fails.
    ConnectFail(u8),
    /// A peer connects to us from `d`.
    Inbound(u8),
    /// Connection `c` closes (either side).
    Close(u8),
    /// A message arrives on connection `c`.
    Received(u8),
    /// Time passes; idle connections we opened are closed.
    Advance(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, proptest::option::of(0..8u8)).prop_map(|(d, c)| Op::Send(d, c)),
        2 => (0..3u8).prop_map(Op::ConnectOk),
        1 => (0..3u8).prop_map(Op::ConnectFail),
        1 => (0..3u8).prop_map(Op::Inbound),
        1 => (0..8u8).prop_map(Op::Close),
        1 => (0..8u8).prop_map(Op::Received),
        1 => (0..60u8).prop_map(Op::Advance),
    ]
}

fn dest(d: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 5060 + u16::from(d)))
}

proptest! {
    #[test]
    fn one_connect_per_destination_and_every_message_accounted(ops in proptest::collection::vec(op(), 1..120)) {
        let mut t = ConnectionTable::new(IDLE);
        let mut now = Time::ZERO;
        let mut next_conn = 1u64;
        // Every connection ever opened, in order (what `c` indexes).
        let mut seen: Vec<ConnId> = Vec::new();
        let mut open: HashSet<ConnId> = HashSet::new();
        let mut in_flight: HashSet<SocketAddr> = HashSet::new();
        let mut waiting: HashMap<SocketAddr, usize> = HashMap::new();
        let (mut sent, mut flushed, mut reported, mut total) = (0usize, 0usize, 0usize, 0usize);
        for op in ops {
            match op {
                Op::Send(d, c) => {
                    total += 1;
                    let conn = c.and_then(|i| seen.get(usize::from(i)).copied());
                    let to = Peer { transport: Transport::Tcp, addr: dest(d), conn };
                    match t.route(now, to, b"m".to_vec()) {
                        Route::Send(conn, _) => {
                            prop_assert!(open.contains(&conn), "routed to {conn:?}, not open");
                            sent += 1;
                        }
                        Route::Connect(_, addr) => {
                            prop_assert_eq!(addr, dest(d));
                            prop_assert!(in_flight.insert(addr), "a second connect to {}", addr);
                            *waiting.entry(addr).or_default() += 1;
                        }
                        Route::Queued => {
                            prop_assert!(in_flight.contains(&dest(d)));
                            *waiting.entry(dest(d)).or_default() += 1;
                        }
                        Route::Refused(_) => reported += 1,
                    }
                }
                Op::ConnectOk(d) => {
                    if in_flight.remove(&dest(d)) {
                        let conn = ConnId(next_conn);
                        next_conn += 1;
                        seen.push(conn);
                        open.insert(conn);
                        let out = t.opened(now, conn, Transport::Tcp, dest(d), Direction::Outbound);
                        prop_assert_eq!(out.len(), waiting.remove(&dest(d)).unwrap_or(0));
                        flushed += out.len();
                    }
                }
                Op::ConnectFail(d) => {
                    if in_flight.remove(&dest(d)) {
                        let peers = t.connect_failed(Transport::Tcp, dest(d));
                        prop_assert!(!peers.is_empty());
                        reported += waiting.remove(&dest(d)).unwrap_or(0);
                    }
                }
                Op::Inbound(d) => {
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    seen.push(conn);
                    open.insert(conn);
                    let out = t.opened(now, conn, Transport::Tcp, dest(d), Direction::Inbound);
                    prop_assert!(out.is_empty());
                }
                Op::Close(i) => {
                    if let Some(conn) = seen.get(usize::from(i)).copied() {
                        open.remove(&conn);
                        t.closed(conn);
                    }
                }
                Op::Received(i) => {
                    if let Some(conn) = seen.get(usize::from(i)).copied() {
                        t.received(now, conn);
                    }
                }
                Op::Advance(s) => {
                    now += Duration::from_secs(u64::from(s));
                    if let Some(at) = t.poll_timeout() {
                        prop_assert!(at > Time::ZERO);
                    }
                    for conn in t.expire(now) {
                        // Closing: takes no more messages from now on.
                        prop_assert!(open.remove(&conn), "expired {conn:?}, not open");
                    }
                    if let Some(at) = t.poll_timeout() {
                        prop_assert!(at > now, "asks to be woken in the past");
                    }
                }
            }
        }
        // Fail what is still connecting: then every message is accounted for.
        for addr in in_flight.drain() {
            let _ = t.connect_failed(Transport::Tcp, addr);
            reported += waiting.remove(&addr).unwrap_or(0);
        }
        prop_assert_eq!(sent + flushed + reported, total);
    }
}
