//! [`Core`]: the sans-IO server. It takes datagrams, stream frames, timeouts and a shutdown
//! command, and gives back bytes to send, events for the media plane and its next deadline.
//!
//! ```text
//! core.handle_datagram(now, from, local, bytes);        // or handle_frame / handle_timeout
//! while let Some(t) = core.poll_transmit() { send(t) }
//! while let Some(e) = core.poll_event() { media(e) }
//! sleep_until(core.poll_timeout());
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, QueueId, ServiceDirectory};
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Request, Response};
use crate::sip::parse::{parse_datagram, Limits, ParseError};
use crate::sip::sdp::NegotiatedMedia;
use crate::sip::transaction::{
    self, response_destination, ClientTxId, RequestOutcome, ServerTxId, TransactionEvent,
    TransactionLayer, TxId,
};
use crate::sip::transport::{Peer, Transmit, Transport};
use crate::sip::uri::{Host, Uri};
use crate::time::Time;

use super::call::{Call, CallHandle};
use super::ports::{MediaPorts, PortPool};
use super::queueing::Rings;
use super::uac::{Leg, LegHandle, LegOutcome, LegState};
use crate::queue::types::CallId as QueueCallId;
use crate::queue::Engine;

/// What the core needs to know that is not in the configuration file.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// The bound SIP listeners (after port 0 was resolved).
    pub listeners: Vec<(Transport, SocketAddr)>,
    /// Seed for tags, branches and SDP session ids (the runtime passes OS randomness).
    pub seed: u64,
    pub limits: Limits,
    pub transactions: transaction::Config,
}

/// Per-queue settings the signalling layer uses.
#[derive(Clone, Debug)]
pub(crate) struct QueueSignalling {
    pub answer_delay: Duration,
    pub music: crate::config::Music,
}

/// What the media plane must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A caller was answered: receive on `rtp_port`, send per `media` (if negotiated yet).
    CallAnswered {
        call: CallHandle,
        call_id: String,
        queue: QueueId,
        rtp_port: u16,
        media: Option<NegotiatedMedia>,
    },
    /// An offer/answer exchange changed the media (hold, resume, late-offer answer).
    MediaUpdated {
        call: CallHandle,
        media: NegotiatedMedia,
    },
    /// An agent's phone rings (180/183).
    LegRinging { leg: LegHandle },
    /// An agent answered: media per `media`, received on `rtp_port`.
    LegAnswered {
        leg: LegHandle,
        call: CallHandle,
        rtp_port: u16,
        media: NegotiatedMedia,
    },
    /// The agent re-negotiated (put the caller on hold, resumed).
    LegMediaUpdated {
        leg: LegHandle,
        media: NegotiatedMedia,
    },
    /// An agent leg is over (refused, unanswered, cancelled or hung up); its port is free.
    LegEnded {
        leg: LegHandle,
        call: CallHandle,
        outcome: LegOutcome,
    },
    /// Play to the caller (greeting once, then music looped); report the greeting's length
    /// with [`Core::greeting_started`] (the core times its end).
    Play { call: CallHandle, what: Playback },
    /// Connect the caller's media to an answered agent leg (both ways; the caller stops
    /// hearing music).
    Bridge { call: CallHandle, leg: LegHandle },
    /// The caller leaves its agent (a transfer): music again until the next bridge.
    Unbridge { call: CallHandle },
    /// The call is over; its RTP port is free again.
    CallEnded {
        call: CallHandle,
        call_id: String,
        rtp_port: u16,
        reason: EndReason,
    },
}

/// What to play to a waiting caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playback {
    Greeting(std::path::PathBuf),
    Music(crate::config::Music),
}

/// Whose dialog a (Call-ID, our tag) pair names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialogRef {
    Caller(CallHandle),
    Agent(LegHandle),
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    CallerHungUp,
    CallerCancelled,
    /// We hung up (shutdown, no ACK, unusable SDP answer).
    ServerHungUp,
    /// The caller never answered our BYE or ACKed our 2xx.
    Timeout,
    /// Redirected elsewhere before answering (302).
    Forwarded,
}

/// Timers the core keeps for calls (the transaction layer keeps its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// End of the ring-before-answer delay.
    Answer,
    /// No final NOTIFY for our REFER to the caller's side in time: place the leg ourselves.
    Refer,
    /// The caller's greeting has played to its end: music, and offers to agents.
    GreetingEnd,
}

/// The sans-IO SIP server.
pub struct Core {
    pub(crate) settings: CoreSettings,
    pub(crate) public_host: Option<String>,
    pub(crate) public_ip: Option<IpAddr>,
    pub(crate) user_agent: String,
    pub(crate) directory: ServiceDirectory,
    pub(crate) queues: HashMap<QueueId, QueueSignalling>,
    pub(crate) tx: TransactionLayer,
    pub(crate) calls: HashMap<CallHandle, Call>,
    /// (Call-ID, our tag) → caller call or agent leg: the dialog id of §12 from our side.
    pub(crate) dialogs: HashMap<(String, String), DialogRef>,
    /// Initial INVITE server transactions still ringing, for CANCEL.
    pub(crate) ringing: HashMap<ServerTxId, CallHandle>,
    /// Our BYEs in flight.
    pub(crate) byes: HashMap<ClientTxId, CallHandle>,
    /// Agent legs, their INVITE transactions and our BYEs on them.
    pub(crate) legs: HashMap<LegHandle, Leg>,
    pub(crate) leg_invites: HashMap<ClientTxId, LegHandle>,
    pub(crate) leg_byes: HashMap<ClientTxId, LegHandle>,
    /// The queue engine and how its calls map onto ours.
    pub(crate) engine: Engine,
    pub(crate) queue_calls: HashMap<QueueCallId, CallHandle>,
    pub(crate) queue_call_of: HashMap<CallHandle, QueueCallId>,
    pub(crate) rings: Rings,
    /// Forward legs and accepted REFERs.
    pub(crate) transfers: super::transfer::Transfers,
    /// Agent-leg outcomes and ended callers, for the engine (see `queueing`).
    pub(crate) leg_events: VecDeque<Event>,
    pub(crate) ended_calls: VecDeque<CallHandle>,
    pub(crate) timers: BTreeSet<(Time, CallHandle, CallTimer)>,
    pub(crate) ports: Box<dyn MediaPorts>,
    pub(crate) rng: StdRng,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    next_handle: u64,
    pub(crate) draining: bool,
    /// The configuration and agent settings applied last, and what the admin API reads.
    pub(crate) applied: super::provisioning::Applied,
}

impl Core {
    pub fn new(config: &Config, settings: CoreSettings) -> Core {
        let queues = super::provisioning::signalling(config);
        let public_host = config.sip.public_host.clone();
        let public_ip = public_host.as_deref().and_then(|h| h.parse().ok());
        Core {
            rng: StdRng::seed_from_u64(settings.seed),
            tx: TransactionLayer::new(settings.transactions),
            settings,
            public_host,
            public_ip,
            user_agent: config.sip.user_agent.clone(),
            directory: ServiceDirectory::new(config),
            queues,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            ringing: HashMap::new(),
            byes: HashMap::new(),
            legs: HashMap::new(),
            leg_invites: HashMap::new(),
            leg_byes: HashMap::new(),
            engine: Engine::new(config),
            queue_calls: HashMap::new(),
            queue_call_of: HashMap::new(),
            rings: Rings::default(),
            transfers: super::transfer::Transfers::new(config),
            leg_events: VecDeque::new(),
            ended_calls: VecDeque::new(),
            timers: BTreeSet::new(),
            ports: Box::new(PortPool::new(config.rtp.port_min, config.rtp.port_max)),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_handle: 1,
            draining: false,
            applied: super::provisioning::Applied::new(config),
        }
    }

    /// Takes RTP ports from `ports` instead of the plain pool over `[rtp] ports` (the runtime
    /// binds them as it hands them out).
    pub fn with_ports(mut self, ports: Box<dyn MediaPorts>) -> Core {
        self.ports = ports;
        self
    }

    /// A UDP datagram arrived from `from` on the socket bound to `local`.
    pub fn handle_datagram(&mut self, now: Time, from: Peer, local: SocketAddr, bytes: &[u8]) {
        // RFC 5626 §4.4.1 keepalives and stray whitespace are not messages.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        let parsed = parse_datagram(bytes, &self.settings.limits);
        self.handle_parsed(now, from, local, parsed);
    }

    /// A stream transport framed a message (or failed to) on a connection.
    pub fn handle_parsed(
        &mut self,
        now: Time,
        from: Peer,
        local: SocketAddr,
        parsed: Result<Message, ParseError>,
    ) {
        match parsed {
            Ok(Message::Request(req)) => self.handle_request(now, from, local, req),
            Ok(Message::Response(resp)) => self.handle_response(now, resp),
            Err(err) => self.reject_unparsable(from, &err),
        }
        self.settle(now);
    }

    /// Drives timers due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.tx.handle_timeout(now);
        while let Some(&(at, call, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.on_call_timer(now, call, timer);
        }
        self.settle(now);
    }

    /// The runtime could not deliver to `peer` (TCP connect refused, connection reset): every
    /// transaction talking to it fails (RFC 3261 §17.1.1.2 "Transport Err.").
    pub fn handle_transport_error(&mut self, now: Time, peer: Peer) {
        self.tx.handle_transport_error(peer);
        self.settle(now);
    }

    /// Stops taking calls and hangs up every call (graceful shutdown, SIGTERM).
    pub fn shutdown(&mut self, now: Time) {
        self.draining = true;
        let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
        for handle in handles {
            self.hang_up(now, handle, 503, "holdline is shutting down");
        }
        self.settle(now);
    }

    /// Whether no call is left (after [`Core::shutdown`], the runtime may exit).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest time [`Core::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.timers.first().map(|(at, _, _)| *at),
            self.tx.poll_timeout(),
            self.engine.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Active calls (for status and leak tests).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Live transactions (leak tests).
    pub fn transaction_count(&self) -> usize {
        self.tx.len()
    }

    /// RTP ports in use (leak tests).
    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    fn handle_request(&mut self, now: Time, from: Peer, local: SocketAddr, req: Request) {
        match self.tx.handle_request(now, req, from) {
            Ok(RequestOutcome::New { tx, req }) => self.on_request(now, tx, req, from, local),
            Ok(RequestOutcome::Cancel { tx, invite, req }) => self.on_cancel(now, tx, invite, &req),
            Ok(RequestOutcome::Ack { req, .. }) => self.on_ack(now, &req),
            Ok(RequestOutcome::Absorbed) => {}
            Err(err) => {
                // The transaction layer could not key the request (no usable Via, CSeq …); the
                // parser lets few such through. Answer statelessly when we can (§8.2.6).
                tracing::debug!(%err, "request refused by the transaction layer");
            }
        }
    }

    fn handle_response(&mut self, now: Time, resp: Response) {
        let Some((tx, resp)) = self.tx.handle_response(now, resp) else {
            return;
        };
        if let Some(&leg) = self.leg_invites.get(&tx) {
            return self.on_leg_response(now, leg, resp);
        }
        if resp.is_provisional() {
            return;
        }
        if let Some(handle) = self.byes.remove(&tx) {
            self.finish(handle, EndReason::ServerHungUp);
        }
        if let Some(handle) = self.transfers.refer_txs.remove(&tx) {
            self.on_caller_refer_response(now, handle, resp.status);
        }
        if let Some(leg) = self.leg_byes.remove(&tx) {
            self.finish_leg(leg, LegOutcome::HungUp);
        }
    }

    /// §8.2.6 / RFC 4475: a request that failed to parse gets the status the parser chose, sent
    /// statelessly to its Via (or its source), when the headers a response needs could be
    /// recovered; anything else (every malformed response, garbage) is dropped.
    fn reject_unparsable(&mut self, from: Peer, err: &ParseError) {
        tracing::debug!(peer = %from.addr, %err, "unparsable message");
        let (Some(status), Some(headers)) = (err.status(), err.partial_headers()) else {
            return;
        };
        let tag = self.new_tag();
        let mut resp = crate::sip::transaction::response_from_headers(headers, status, Some(&tag));
        resp.reason = format!("{} ({})", resp.reason, sanitize_reason(&err.to_string()));
        self.add_server_header(&mut resp);
        // A Via too broken to parse (RFC 4475 badinv01, badvers) leaves only the packet's
        // source to answer to: the symmetric response of RFC 3581 §4.
        let to = match headers.top_via() {
            Some(via) => response_destination(&via, from),
            None => from,
        };
        self.transmits.push_back(Transmit {
            to,
            bytes: resp.to_bytes(),
        });
    }

    /// Brings everything to rest after an input: transaction output and events, agent-leg
    /// outcomes and the queue engine's actions, which may start new transactions in turn.
    pub(crate) fn settle(&mut self, now: Time) {
        loop {
            self.drain_transactions(now);
            if !self.pump_engine(now) {
                break;
            }
        }
    }

    /// Moves the transaction layer's output into ours and acts on its events.
    pub(crate) fn drain_transactions(&mut self, now: Time) {
        loop {
            while let Some(t) = self.tx.poll_transmit() {
                self.transmits.push_back(t);
            }
            let Some(event) = self.tx.poll_event() else {
                break;
            };
            match event {
                TransactionEvent::NoAckFor2xx { key } => {
                    // §13.3.1.4: no ACK for our 2xx within 64·T1: confirm, then end with BYE.
                    let dialog = (key.call_id, key.local_tag);
                    if let Some(&DialogRef::Caller(handle)) = self.dialogs.get(&dialog) {
                        tracing::info!("no ACK for our 200 OK; hanging up");
                        self.send_bye(now, handle, 408, "no ACK received");
                    }
                }
                TransactionEvent::Timeout { tx, .. } | TransactionEvent::TransportError { tx } => {
                    if let TxId::Client(id) = tx {
                        if let Some(handle) = self.byes.remove(&id) {
                            self.finish(handle, EndReason::Timeout);
                        }
                        if let Some(handle) = self.transfers.refer_txs.remove(&id) {
                            // No answer to our REFER: place the forward ourselves.
                            self.on_caller_refer_response(now, handle, 408);
                        }
                        if let Some(leg) = self.leg_byes.remove(&id) {
                            self.finish_leg(leg, LegOutcome::HungUp);
                        }
                        if let Some(leg) = self.leg_invites.remove(&id) {
                            // Timer B or an unreachable phone: no final response will come.
                            let cancelled = self
                                .legs
                                .get(&leg)
                                .is_some_and(|l| matches!(l.state, LegState::Cancelling { .. }));
                            let outcome = if cancelled {
                                LegOutcome::Cancelled
                            } else {
                                LegOutcome::NoResponse
                            };
                            self.finish_leg(leg, outcome);
                        }
                    }
                }
                TransactionEvent::Terminated { tx } => {
                    if let TxId::Server(id) = tx {
                        self.ringing.remove(&id);
                    }
                }
            }
        }
    }

    pub(crate) fn new_handle(&mut self) -> CallHandle {
        let h = CallHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    /// A random token for tags (§19.3: at least 32 bits of randomness).
    pub(crate) fn new_tag(&mut self) -> String {
        format!("{:016x}", self.rng.gen::<u64>())
    }

    /// A Via for a request of ours on `flow`, with a fresh RFC 3261 branch (§8.1.1.7).
    pub(crate) fn new_via(&mut self, flow: &Peer, local: SocketAddr) -> String {
        let branch = format!(
            "{}{:016x}",
            crate::sip::typed::BRANCH_MAGIC,
            self.rng.gen::<u64>()
        );
        let (host, port) = self.advertised(flow.transport, local, None);
        format!(
            "SIP/2.0/{} {}:{};branch={branch};rport",
            flow.transport.as_via_str(),
            host,
            port
        )
    }

    /// The host and port we advertise in Contact and Via for `transport`: `public_host` when
    /// configured, else the address the request reached us on, else the Request-URI's host.
    pub(crate) fn advertised(
        &self,
        transport: Transport,
        local: SocketAddr,
        request_uri: Option<&Uri>,
    ) -> (String, u16) {
        let port = self
            .settings
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| a.port())
            .unwrap_or(local.port());
        if let Some(host) = &self.public_host {
            return (host.clone(), port);
        }
        if !local.ip().is_unspecified() {
            return (host_text(local.ip()), port);
        }
        if let Some(Uri::Sip(u)) = request_uri {
            if let Host::V4(_) | Host::V6(_) = u.host {
                return (u.host.to_string(), port);
            }
        }
        ("127.0.0.1".to_owned(), port)
    }

    /// The IP for our SDP `c=` line.
    pub(crate) fn media_ip(&self, local: SocketAddr, request_uri: &Uri) -> IpAddr {
        if let Some(ip) = self.public_ip {
            return ip;
        }
        if !local.ip().is_unspecified() {
            return local.ip();
        }
        if let Uri::Sip(u) = request_uri {
            match u.host {
                Host::V4(a) => return IpAddr::V4(a),
                Host::V6(a) => return IpAddr::V6(a),
                Host::Name(_) => {}
            }
        }
        IpAddr::from([127, 0, 0, 1])
    }

    pub(crate) fn add_server_header(&self, resp: &mut Response) {
        if !self.user_agent.is_empty() {
            resp.headers
                .push(HeaderName::Server, self.user_agent.clone());
        }
    }
}

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// A parse error as reason-phrase text: printable ASCII only, bounded.
fn sanitize_reason(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(120)
        .collect()
}
