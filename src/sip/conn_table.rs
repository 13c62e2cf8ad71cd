//! Which connection a stream message goes on (RFC 3261 §18, RFC 5923 §4): one connection per
//! destination, reused for every request and response, opened once, and closed when idle.
//!
//! The runtime asks [`ConnectionTable::route`] for every TCP (or TLS) message and does what it
//! says: write on an open connection, open one (the message waits for it), or wait behind a
//! connection attempt already in flight. Decisions only; no socket, task or clock lives here.
//!
//! - A message with a known, open [`ConnId`] (a response, §18.2.2; a request to a contact bound
//!   to the connection its REGISTER came on) goes on that connection.
//! - Otherwise it goes on a connection to its destination address: one we opened, or else one
//!   the peer opened to us from that address (the RFC 5923 alias, which lets a peer that
//!   connected from its listening port receive requests on it).
//! - Otherwise a connection is opened, and every message for that destination waits for it,
//!   so a burst (INVITE, CANCEL, ACK) never opens a second connection.
//! - A connection we opened is closed when no message has gone either way for
//!   `outbound_idle_timeout` (RFC 3261 §18.3 leaves closing to the implementation; a later
//!   in-dialog request opens a new one). Connections peers opened are theirs to keep: their
//!   idle timeout is [`super::connections::StreamDeadlines`]'s.
//!
//! TLS destinations are keyed apart from TCP ones (the transport is part of the key), so a
//! message for a TLS destination only ever goes on a TLS connection, never in plaintext on a
//! TCP connection to the same address (RFC 3261 §26.2.2). The runtime does the handshake.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::time::Time;

use super::connections::Direction;
use super::transport::{ConnId, Peer, Transport};

/// What to do with one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Write it on this open connection.
    Send(ConnId, Vec<u8>),
    /// Open a connection to this address; the message waits for it ([`ConnectionTable::opened`]).
    Connect(Transport, SocketAddr),
    /// A connection to the destination is being opened; the message waits for it.
    Queued,
    /// It cannot be sent: tell the transaction layer that `peer` is unreachable.
    Refused(Refusal),
}

/// Why a message cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many messages already wait for the connection to this destination.
    QueueFull,
}

/// Counters since start, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Connections we opened that are open now.
    pub outbound_open: u64,
    /// Connections we decided to open (one per destination at a time).
    pub outbound_opened: u64,
    /// Messages with no connection of their own sent on an open connection to their
    /// destination instead of a new one.
    pub reused: u64,
    /// Messages that waited for a connection being opened.
    pub queued: u64,
    /// Connections we opened and closed because nothing went either way for the idle timeout.
    pub closed_idle: u64,
}

/// The most messages kept for one destination while its connection is being opened; beyond
/// this the peer is reported unreachable rather than memory growing behind a connect that
/// hangs (the connect has its own timeout).
const MAX_QUEUED: usize = 256;

type Dest = (Transport, SocketAddr);

#[derive(Debug)]
struct Entry {
    dest: Dest,
    last_activity: Time,
    /// Told to close (idle); no message is routed to it any more.
    closing: bool,
}

/// Connections by destination, with the idle accounting of those we opened.
#[derive(Debug)]
pub struct ConnectionTable {
    idle_timeout: Duration,
    conns: HashMap<ConnId, Entry>,
    /// The connection we opened to each destination.
    by_dest: HashMap<Dest, ConnId>,
    /// A connection a peer opened from each address (RFC 5923 alias), used while we have none.
    aliases: HashMap<Dest, ConnId>,
    /// Connections we opened (the only ones closed for idleness), scanned for the next timeout:
    /// one per agent or trunk, so few.
    outbound: HashSet<ConnId>,
    /// Destinations being connected, with the messages (and their peers) waiting.
    connecting: HashMap<Dest, Vec<(Peer, Vec<u8>)>>,
    stats: ReuseStats,
}

impl ConnectionTable {
    /// `idle_timeout`: how long a connection we opened stays open with nothing sent or received.
    pub fn new(idle_timeout: Duration) -> ConnectionTable {
        ConnectionTable {
            idle_timeout,
            conns: HashMap::new(),
            by_dest: HashMap::new(),
            aliases: HashMap::new(),
            outbound: HashSet::new(),
            connecting: HashMap::new(),
            stats: ReuseStats::default(),
        }
    }

    /// Decides where `bytes` for `to` go.
    pub fn route(&mut self, now: Time, to: Peer, bytes: Vec<u8>) -> Route {
        // §18.2.2 (responses) and a registered flow (RFC 5626 §5.3): the connection named.
        if let Some(conn) = to.conn.filter(|c| self.is_usable(*c)) {
            self.touch(now, conn);
            return Route::Send(conn, bytes);
        }
        let dest = (to.transport, to.addr);
        let open = self.by_dest.get(&dest).or_else(|| self.aliases.get(&dest));
        if let Some(conn) = open.copied() {
            self.touch(now, conn);
            self.stats.reused += 1;
            return Route::Send(conn, bytes);
        }
        if let Some(waiting) = self.connecting.get_mut(&dest) {
            if waiting.len() >= MAX_QUEUED {
                return Route::Refused(Refusal::QueueFull);
            }
            waiting.push((to, bytes));
            self.stats.queued += 1;
            return Route::Queued;
        }
        self.connecting.insert(dest, vec![(to, bytes)]);
        self.stats.outbound_opened += 1;
        Route::Connect(to.transport, to.addr)
    }

    /// A connection is open: `remote` is the address we connected to (outbound) or the one the
    /// peer connected from (inbound). Returns the messages that waited for it, in order.
    pub fn opened(
        &mut self,
        now: Time,
        conn: ConnId,
        transport: Transport,
        remote: SocketAddr,
        direction: Direction,
    ) -> Vec<Vec<u8>> {
        let dest = (transport, remote);
        self.conns.insert(
            conn,
            Entry {
                dest,
                last_activity: now,
                closing: false,
            },
        );
        match direction {
            Direction::Outbound => {
                self.outbound.insert(conn);
                self.by_dest.insert(dest, conn);
                self.connecting
                    .remove(&dest)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, bytes)| bytes)
                    .collect()
            }
            Direction::Inbound => {
                // RFC 5923 §4: an alias, used only while no connection of ours serves the
                // address.
                self.aliases.entry(dest).or_insert(conn);
                Vec::new()
            }
        }
    }

    /// Connecting to a destination failed: the peers whose messages waited for it, each once,
    /// to be reported unreachable.
    pub fn connect_failed(&mut self, transport: Transport, addr: SocketAddr) -> Vec<Peer> {
        let mut peers: Vec<Peer> = Vec::new();
        for (peer, _) in self
            .connecting
            .remove(&(transport, addr))
            .unwrap_or_default()
        {
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        peers
    }

    /// Bytes arrived on `conn` (a message): it is in use.
    pub fn received(&mut self, now: Time, conn: ConnId) {
        self.touch(now, conn);
    }

    /// A connection is gone (closed by either side, or its writer failed): forgotten, so the
    /// next message to its destination opens a new one.
    pub fn closed(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.remove(&conn) else {
            return;
        };
        self.outbound.remove(&conn);
        // No scan for another connection to take over: a flood of closing inbound connections
        // costs constant time each. The next message opens one if needed.
        for map in [&mut self.by_dest, &mut self.aliases] {
            if map.get(&entry.dest) == Some(&conn) {
                map.remove(&entry.dest);
            }
        }
    }

    /// When the next connection we opened becomes idle, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.outbound
            .iter()
            .filter_map(|c| self.conns.get(c))
            .filter(|e| !e.closing)
            .map(|e| e.last_activity + self.idle_timeout)
            .min()
    }

    /// The connections we opened that have been idle for the timeout at `now`: close them.
    /// They take no more messages from now on; [`ConnectionTable::closed`] forgets them.
    pub fn expire(&mut self, now: Time) -> Vec<ConnId> {
        let mut idle: Vec<ConnId> = self
            .outbound
            .iter()
            .filter(|c| {
                self.conns.get(c).is_some_and(|e| {
                    !e.closing && now.saturating_since(e.last_activity) >= self.idle_timeout
                })
            })
            .copied()
            .collect();
        idle.sort();
        for conn in &idle {
            if let Some(e) = self.conns.get_mut(conn) {
                e.closing = true;
                if self.by_dest.get(&e.dest) == Some(conn) {
                    self.by_dest.remove(&e.dest);
                }
            }
            self.stats.closed_idle += 1;
        }
        idle
    }

    pub fn stats(&self) -> ReuseStats {
        ReuseStats {
            outbound_open: self.outbound.len() as u64,
            ..self.stats
        }
    }

    fn is_usable(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|e| !e.closing)
    }

    fn touch(&mut self, now: Time, conn: ConnId) {
        if let Some(e) = self.conns.get_mut(&conn) {
            if !e.closing {
                e.last_activity = e.last_activity.max(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(40);

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], port))
    }

    fn tcp(port: u16) -> Peer {
        Peer {
            transport: Transport::Tcp,
            addr: addr(port),
            conn: None,
        }
    }

    fn at(s: u64) -> Time {
        Time::from_millis(s * 1000)
    }

    fn msg(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn a_second_request_reuses_the_connection_we_opened() {
        let mut t = ConnectionTable::new(IDLE);
        assert_eq!(
            t.route(at(0), tcp(5062), msg("INVITE")),
            Route::Connect(Transport::Tcp, addr(5062))
        );
        let flushed = t.opened(
            at(0),
            ConnId(1),
            Transport::Tcp,
            addr(5062),
            Direction::Outbound,
        );
        assert_eq!(flushed, vec![msg("INVITE")]);
        for m in ["ACK", "BYE", "CANCEL", "OPTIONS"] {
            assert_eq!(
                t.route(at(1), tcp(5062), msg(m)),
                Route::Send(ConnId(1), msg(m))
            );
        }
        // Another address is another connection.
        assert_eq!(
            t.route(at(1), tcp(5070), msg("INVITE")),
            Route::Connect(Transport::Tcp, addr(5070))
        );
        let s = t.stats();
        assert_eq!((s.outbound_opened, s.reused, s.outbound_open), (2, 4, 1));
    }

    #[test]
    fn messages_wait_for_the_connect_in_flight_instead_of_opening_another() {
        let mut t = ConnectionTable::new(IDLE);
        assert!(matches!(
            t.route(at(0), tcp(5062), msg("INVITE 1")),
            Route::Connect(..)
        ));
        assert_eq!(t.route(at(0), tcp(5062), msg("INVITE 2")), Route::Queued);
        assert_eq!(t.route(at(0), tcp(5062), msg("CANCEL 1")), Route::Queued);
        let flushed = t.opened(
            at(1),
            ConnId(9),
            Transport::Tcp,
            addr(5062),
            Direction::Outbound,
        );
        assert_eq!(
            flushed,
            vec![msg("INVITE 1"), msg("INVITE 2"), msg("CANCEL 1")],
            "in the order they were sent"
        );
        assert_eq!(t.stats().outbound_opened, 1);
        assert_eq!(t.stats().queued, 2);
    }

    #[test]
    fn a_failed_connect_reports_each_waiting_peer_once_and_the_next_message_tries_again() {
        let mut t = ConnectionTable::new(IDLE);
        let response_peer = Peer {
            conn: Some(ConnId(3)),
            ..tcp(5062)
        };
        assert!(matches!(
            t.route(at(0), tcp(5062), msg("INVITE")),
            Route::Connect(..)
        ));
        assert_eq!(t.route(at(0), tcp(5062), msg("CANCEL")), Route::Queued);
        // A response whose connection (3) is gone falls back to the same address.
        assert_eq!(t.route(at(0), response_peer, msg("200")), Route::Queued);
        let peers = t.connect_failed(Transport::Tcp, addr(5062));
        assert_eq!(peers, vec![tcp(5062), response_peer]);
        assert!(matches!(
            t.route(at(1), tcp(5062), msg("BYE")),
            Route::Connect(..)
        ));
    }

    #[test]
    fn a_named_open_connection_is_used_whatever_the_address() {
        let mut t = ConnectionTable::new(IDLE);
        // A phone registered from 40000 over its own connection 4 (the registrar's flow).
        t.opened(
            at(0),
            ConnId(4),
            Transport::Tcp,
            addr(40000),
            Direction::Inbound,
        );
        let to = Peer {
            conn: Some(ConnId(4)),
            ..tcp(5062)
        };
        assert_eq!(
            t.route(at(1), to, msg("INVITE")),
            Route::Send(ConnId(4), msg("INVITE"))
        );
        assert_eq!(t.stats().reused, 0, "its own connection, not a reuse");
    }

    #[test]
    fn a_peer_connection_from_the_destination_serves_as_an_alias_until_ours_exists() {
        let mut t = ConnectionTable::new(IDLE);
        t.opened(
            at(0),
            ConnId(2),
            Transport::Tcp,
            addr(5062),
            Direction::Inbound,
        );
        assert_eq!(
            t.route(at(1), tcp(5062), msg("BYE")),
            Route::Send(ConnId(2), msg("BYE"))
        );
        // Ours is preferred once open; when ours closes, the peer's serves again.
        t.opened(
            at(2),
            ConnId(5),
            Transport::Tcp,
            addr(5062),
            Direction::Outbound,
        );
        assert_eq!(
            t.route(at(3), tcp(5062), msg("BYE")),
            Route::Send(ConnId(5), msg("BYE"))
        );
        t.closed(ConnId(5));
        assert_eq!(
            t.route(at(4), tcp(5062), msg("BYE")),
            Route::Send(ConnId(2), msg("BYE"))
        );
        // Inbound connections are never closed for idleness here.
        assert_eq!(t.poll_timeout(), None);
        assert!(t.expire(at(10_000)).is_empty());
    }

    #[test]
    fn an_idle_connection_we_opened_is_closed_after_the_timeout_either_way() {
        let mut t = ConnectionTable::new(IDLE);
        t.route(at(0), tcp(5062), msg("INVITE"));
        t.opened(
            at(0),
            ConnId(1),
            Transport::Tcp,
            addr(5062),
            Direction::Outbound,
        );
        assert_eq!(t.poll_timeout(), Some(at(40)));
        // A response received at 10 s and a request sent at 30 s each restart the clock.
        t.received(at(10), ConnId(1));
        assert_eq!(t.poll_timeout(), Some(at(50)));
        t.route(at(30), tcp(5062), msg("BYE"));
        assert_eq!(t.poll_timeout(), Some(at(70)));
        assert!(t.expire(at(69)).is_empty());
        assert_eq!(t.expire(at(70)), vec![ConnId(1)]);
        assert_eq!(t.poll_timeout(), None, "told once");
        assert!(t.expire(at(80)).is_empty());
        // While it closes, a new message opens a new connection rather than use it.
        assert!(matches!(
            t.route(at(71), tcp(5062), msg("INVITE")),
            Route::Connect(..)
        ));
        assert!(matches!(
            t.route(
                at(71),
                Peer {
                    conn: Some(ConnId(1)),
                    ..tcp(5062)
                },
                msg("200")
            ),
            Route::Queued
        ));
        assert_eq!(t.stats().closed_idle, 1);
    }

    #[test]
    fn a_closed_connection_is_forgotten() {
        let mut t = ConnectionTable::new(IDLE);
        t.route(at(0), tcp(5062), msg("INVITE"));
        t.opened(
            at(0),
            ConnId(1),
            Transport::Tcp,
            addr(5062),
            Direction::Outbound,
        );
        t.closed(ConnId(1));
        assert_eq!(t.stats().outbound_open, 0);
        assert_eq!(t.poll_timeout(), None);
        assert!(t.conns.is_empty() && t.by_dest.is_empty() && t.outbound.is_empty());
        // An inbound connection's alias goes with it too.
        t.opened(
            at(2),
            ConnId(2),
            Transport::Tcp,
            addr(40000),
            Direction::Inbound,
        );
        t.closed(ConnId(2));
        assert!(t.conns.is_empty() && t.aliases.is_empty());
        let named = Peer {
            conn: Some(ConnId(1)),
            ..tcp(5062)
        };
        assert_eq!(
            t.route(at(1), named, msg("200")),
            Route::Connect(Transport::Tcp, addr(5062)),
            "a response whose connection is gone opens one to its address"
        );
        // A second close (the runtime reports every close) changes nothing.
        t.closed(ConnId(1));
    }

    #[test]
    fn a_tls_destination_never_shares_a_plain_connection_to_the_same_address() {
        let mut t = ConnectionTable::new(IDLE);
        // A plain connection open to the address, ours and the peer's.
        t.route(at(0), tcp(5061), msg("INVITE"));
        t.opened(
            at(0),
            ConnId(1),
            Transport::Tcp,
            addr(5061),
            Direction::Outbound,
        );
        t.opened(
            at(0),
            ConnId(2),
            Transport::Tcp,
            addr(5061),
            Direction::Inbound,
        );
        let tls = Peer {
            transport: Transport::Tls,
            ..tcp(5061)
        };
        // A TLS connection of its own, never the plaintext one.
        assert_eq!(
            t.route(at(1), tls, msg("INVITE")),
            Route::Connect(Transport::Tls, addr(5061))
        );
        assert_eq!(
            t.opened(
                at(1),
                ConnId(3),
                Transport::Tls,
                addr(5061),
                Direction::Outbound
            ),
            vec![msg("INVITE")]
        );
        assert_eq!(
            t.route(at(2), tls, msg("BYE")),
            Route::Send(ConnId(3), msg("BYE"))
        );
    }

    #[test]
    fn the_queue_behind_a_connect_is_bounded() {
        let mut t = ConnectionTable::new(IDLE);
        t.route(at(0), tcp(5062), msg("first"));
        for _ in 1..MAX_QUEUED {
            assert_eq!(t.route(at(0), tcp(5062), msg("m")), Route::Queued);
        }
        assert_eq!(
            t.route(at(0), tcp(5062), msg("m")),
            Route::Refused(Refusal::QueueFull)
        );
    }
}
