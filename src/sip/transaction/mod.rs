//! SIP transactions (RFC 3261 §17 with the RFC 6026 amendments), sans-IO on virtual time.
//!
//! [`TransactionLayer`] owns every client and server transaction and their timers. The driver
//! feeds it parsed messages with their source, commands from the TU (send a request, respond)
//! and the current [`Time`](crate::time::Time); it then drains
//! [`TransactionLayer::poll_transmit`], [`TransactionLayer::poll_event`] and sleeps until
//! [`TransactionLayer::poll_timeout`]:
//!
//! ```text
//! layer.handle_request(now, req, from)? → RequestOutcome: New, Cancel, Ack (for a 2xx), Absorbed
//! layer.handle_response(now, resp)      → Some((tx, resp)) for the TU; None: absorbed or stray
//! layer.respond(now, tx, resp)?    layer.send_request(now, req, to)?    layer.handle_timeout(now)
//! while let Some(t) = layer.poll_transmit() { send(t) }
//! while let Some(e) = layer.poll_event() { tu.on(e) }
//! ```
//!
//! Besides the four machines (see [`ClientState`], [`ServerState`]) it stamps `received` and
//! `rport` on arriving requests and routes responses by Via (§18.2, RFC 3581:
//! [`stamp_received`], [`response_destination`]), sends the INVITE server's 100 Trying
//! (§17.2.1), and does the UAS core's 2xx retransmission until the ACK (§13.3.1.4,
//! [`Uas2xxKey`]). It does not build requests, pick branches (the TU does, with its seeded RNG),
//! resolve names (RFC 3263), or check that a response's top Via is ours (§18.1.2). Transport
//! failures come in from the runtime per peer ([`TransactionLayer::handle_transport_error`]).
//!
//! The timer heap and the per-transaction bookkeeping are described in `layer.rs`.

mod client;
mod key;
mod layer;
mod server;
mod timer;
mod uas_2xx;
mod via_route;

use std::collections::VecDeque;

use crate::sip::message::Request;
use crate::sip::transport::{Peer, Transmit};

pub use client::{build_ack, build_cancel, ClientState};
pub use layer::TransactionLayer;
pub use server::{response_for, response_from_headers, ServerState};
pub use timer::{Timer, TimerConfig, TimerTable};
pub use uas_2xx::Uas2xxKey;
pub use via_route::{response_destination, stamp_received, stamp_top_via};

/// A client transaction, unique for the layer's lifetime (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u64);

/// A server transaction, unique for the layer's lifetime (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

/// Either kind of transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxId {
    Client(ClientTxId),
    Server(ServerTxId),
}

/// Layer configuration: timer bases and the behaviours the RFC leaves to the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub timers: TimerConfig,
    /// Send 100 Trying as soon as an INVITE creates a server transaction (§17.2.1: MUST unless
    /// the TU answers within 200 ms; sending at once is always allowed).
    pub send_100_trying: bool,
    /// Retransmit a 2xx to INVITE over reliable transports too (§13.3.1.4 says to, since later
    /// hops may be UDP). Turn off only where every hop is known to be reliable.
    pub retransmit_2xx_on_reliable: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timers: TimerConfig::default(),
            send_100_trying: true,
            retransmit_2xx_on_reliable: true,
        }
    }
}

/// What an arriving request turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new request with its new server transaction; the TU answers it with
    /// [`TransactionLayer::respond`].
    New { tx: ServerTxId, req: Request },
    /// A CANCEL (§9.2): its own server transaction (answer it 200, or 481 when `invite` is
    /// `None`) and the INVITE server transaction it cancels, if that is still alive.
    Cancel {
        tx: ServerTxId,
        invite: Option<ServerTxId>,
        req: Request,
    },
    /// An ACK that is not a transaction's business: the ACK for a 2xx (§13.3.1.4, RFC 6026
    /// §7.1), or one matching nothing, which the dialog layer checks. `stopped_2xx` tells that
    /// it ended our 2xx retransmission.
    Ack { req: Request, stopped_2xx: bool },
    /// A retransmitted request, or the ACK for a non-2xx final: absorbed by its transaction
    /// (any response resend is queued for [`TransactionLayer::poll_transmit`]).
    Absorbed,
}

/// What the layer tells the TU on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A timeout the TU must act on: Timer B or F (no final response: treat as 408, §8.1.3.1)
    /// on a client transaction, Timer H (no ACK for our non-2xx final) on a server one.
    Timeout { tx: TxId, timer: Timer },
    /// §13.3.1.4: our 2xx got no ACK within 64·T1. The dialog is confirmed, but the session
    /// should end: send BYE.
    NoAckFor2xx { key: Uas2xxKey },
    /// The runtime could not deliver to the transaction's peer (§17.1.1.2, §17.1.2.2, §17.2.1,
    /// §17.2.2 "Transport Err."): a client treats it like a 503 (§8.1.3.1). It is Terminated.
    TransportError { tx: TxId },
    /// The transaction is gone; its id is no longer valid.
    Terminated { tx: TxId },
}

/// Why the layer refused a message or command.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransactionError {
    #[error("the message lacks a usable {name} header")]
    MissingHeader { name: &'static str },
    #[error("the request's top Via has no RFC 3261 branch (z9hG4bK + identifier)")]
    NoRfc3261Branch,
    #[error("a client transaction with this branch and method already exists")]
    DuplicateTransaction,
    #[error("ACK is sent by the TU, not in a client transaction (RFC 3261 §17.1)")]
    AckIsNotATransaction,
    #[error("transaction {tx:?} does not exist (terminated or never created)")]
    UnknownTransaction { tx: TxId },
    #[error("transaction {tx:?} in state {state:?} cannot send a {status} response")]
    FinalResponseAlreadySent {
        tx: TxId,
        state: ServerState,
        status: u16,
    },
    #[error("status {status} is not in 100..=699")]
    InvalidStatus { status: u16 },
}

/// Transmits and events queued by the transactions for the driver.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<TransactionEvent>,
}

impl Outputs {
    pub fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, bytes });
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    //! Messages for the unit tests, built from struct literals.
    use std::net::SocketAddr;

    use crate::sip::header::HeaderName;
    use crate::sip::message::{Request, Response};
    use crate::sip::method::Method;
    use crate::sip::transport::Peer;
    use crate::sip::uri::{Host, Params, Scheme, SipUri, Uri};

    use super::response_for;

    /// An INVITE from alice at 192.0.2.10:5060 over UDP with the given branch.
    pub fn invite(branch: &str) -> Request {
        let uri = Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some("bob".into()),
            password: None,
            host: Host::Name("example.com".into()),
            port: None,
            params: Params::default(),
            headers: None,
        });
        let mut req = Request::new(Method::Invite, uri);
        let h = &mut req.headers;
        h.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::Route, "<sip:proxy.example.com;lr>");
        h.push(HeaderName::From, "<sip:alice@example.com>;tag=a1");
        h.push(HeaderName::To, "<sip:bob@example.com>");
        h.push(HeaderName::CallId, "call-1@192.0.2.10");
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push(HeaderName::Contact, "<sip:alice@192.0.2.10>");
        req
    }

    /// A response to `req` with To tag `b1` (none on a 100).
    pub fn ok_status(req: &Request, status: u16) -> Response {
        response_for(req, status, Some("b1"))
    }

    pub fn udp_peer() -> Peer {
        Peer::udp(SocketAddr::from(([192, 0, 2, 10], 5060)))
    }
}
