//! [`Legs`]: every SIP dialog holdline keeps, callers' (it is their UAS) and agents' (it is
//! their UAC), with the transactions under them.
//!
//! Legs take commands (answer, ring, hang up, ring an agent, cancel, REFER, NOTIFY, redirect)
//! and report what the peers did as [`LegEvent`]s: a caller arrived or is gone, an agent leg
//! rang, answered or ended, an agent asked for a transfer, the caller's side answered our
//! REFER. They know nothing of queues: which service a caller dialled is the one thing they
//! look up (to answer 404 before anything else), and what happens next is the switch's call.
//!
//! # Layout
//! - this file: the inputs from the network, the transaction layer's output, ids and the
//!   addresses we advertise.
//! - [`call`]: one caller dialog's state; `caller`: requests in caller dialogs (RFC 3261 UAS).
//! - `agent`: agent legs (UAC): INVITE, CANCEL, ACK, BYE, forks; `auth`: answering a
//!   trunk's digest challenge.
//! - `offer`: offer/answer inside a caller's dialog (ACK with the answer, re-INVITE, UPDATE).
//! - `refer`: 302, REFER and NOTIFY: handing a call elsewhere, as SIP.
//! - `probe`: OPTIONS probes of static contacts (RFC 3261 §11).
//! - `register`: REGISTER handed to the registrar and its answer sent back.
//! - `direct`: INVITEs for no service, handed to the core (users' calls, feature codes).

mod agent;
mod auth;
pub mod call;
mod caller;
mod deadlines;
mod direct;
mod leg_timer;
mod offer;
mod probe;
mod refer;
mod register;
mod replaces;
pub mod session_timer;
mod srtp;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, QueueId, ServiceDirectory};
use crate::queue::types::CallerInfo;
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Request, Response};
use crate::sip::parse::ParseError;
use crate::sip::transaction::{
    self, ClientTxId, RequestOutcome, ServerTxId, TransactionEvent, TransactionLayer, TxId,
};
use crate::sip::transport::{Peer, Transmit, Transport};
use crate::sip::uri::{Host, Uri};
use crate::time::Time;

use self::call::{Call, CallHandle};
use super::core::{CoreSettings, EndReason, Event};
use super::ports::{MediaPorts, PortPool};

pub use self::agent::{peer_of, Leg, LegHandle, LegOutcome, LegState, RingRequest};
pub(crate) use self::direct::PendingInvite;
pub(crate) use self::register::PendingRegister;
pub(crate) use self::replaces::Replaced;

/// What a leg reports to the switch. (What the media plane must know of a dialog, that a
/// caller was answered or an agent's media changed, goes out as an [`Event`] at once, in the
/// order it happened: [`Legs::poll_media`].)
#[derive(Clone, Debug)]
pub(crate) enum LegEvent {
    /// A caller's INVITE for `queue` passed every check; it rings (no final response yet).
    CallerArrived {
        call: CallHandle,
        queue: QueueId,
        caller: CallerInfo,
    },
    /// The caller's dialog is over.
    CallerGone { call: CallHandle },
    /// A new caller's INVITE with Replaces (RFC 3891) takes the place of caller `replaced`:
    /// it passed every check of an INVITE to the same service and rings (no final response).
    CallerReplaces {
        call: CallHandle,
        replaced: CallHandle,
    },
    /// A NOTIFY in a caller's dialog (the progress of our REFER); unanswered until the
    /// switch says whether it belongs to a subscription ([`Legs::answer_notify`]).
    CallerNotify {
        tx: ServerTxId,
        call: CallHandle,
        req: Request,
    },
    /// The final response to our REFER to a caller's side; 408 when none came.
    ReferAnswered { call: CallHandle, status: u16 },
    /// An agent answered (the media plane has its [`Event::LegAnswered`]).
    LegAnswered { leg: LegHandle },
    /// A leg's far end sent early media (the media plane has its [`Event::LegEarlyMedia`]).
    LegEarlyMedia { leg: LegHandle },
    /// An agent leg is over (refused, unanswered, cancelled or hung up).
    LegEnded { leg: LegHandle, outcome: LegOutcome },
    /// An agent asked for a transfer (REFER on its leg); unanswered until the switch decides
    /// ([`Legs::refuse_refer`] or [`Legs::accept_refer`]).
    LegRefer {
        tx: ServerTxId,
        leg: LegHandle,
        req: Request,
    },
}

/// What the core says about an inbound message besides the message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inbound<'a> {
    /// Which service a new INVITE reaches.
    pub directory: &'a ServiceDirectory,
    /// Admission control: how many calls from the message's source may be ringing or
    /// answered but not ACKed at once.
    pub unconfirmed_quota: u32,
}

/// Whose dialog a (Call-ID, our tag) pair names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogRef {
    Caller(CallHandle),
    Agent(LegHandle),
}

/// Who a caller is, as agents are shown it.
#[derive(Clone, Debug)]
pub(crate) struct CallerIdentity {
    /// The caller's display name and URI (From, or P-Asserted-Identity from a trusted trunk
    /// later).
    pub display: Option<String>,
    pub uri: Option<Uri>,
    /// The Request-URI the caller dialled (for History-Info to agents).
    pub dialled: Uri,
    /// When the INVITE arrived.
    pub started: Time,
    pub call_id: String,
}

/// Where we are on the network and how we name ourselves there.
#[derive(Debug)]
struct Endpoint {
    /// The bound SIP listeners (after port 0 was resolved).
    listeners: Vec<(Transport, SocketAddr)>,
    limits: crate::sip::parse::Limits,
    public_host: Option<String>,
    public_ip: Option<IpAddr>,
    user_agent: String,
    /// `[sip] session_expires` / `min_se` (RFC 4028).
    session_timer: crate::config::SessionTimerConfig,
    /// UDP destinations that take TCP too (trunk proxies whose URI does not pin
    /// `transport=udp`): a large request to one goes over TCP (RFC 3261 §18.1.1).
    stream_capable: std::collections::HashSet<SocketAddr>,
}

/// Caller dialogs and the transactions that belong to them.
#[derive(Debug, Default)]
struct Callers {
    calls: HashMap<CallHandle, Call>,
    /// Initial INVITE server transactions still ringing, for CANCEL.
    ringing: HashMap<ServerTxId, CallHandle>,
    /// Our BYEs in flight.
    byes: HashMap<ClientTxId, CallHandle>,
    /// Our REFERs to callers' sides in flight.
    refers: HashMap<ClientTxId, CallHandle>,
    /// Our session refreshes (RFC 4028), kept until the call ends so a retransmitted 2xx
    /// to a re-INVITE is ACKed again.
    refreshes: HashMap<ClientTxId, CallHandle>,
}

/// Agent legs and the client transactions on them.
#[derive(Debug, Default)]
struct Agents {
    legs: HashMap<LegHandle, Leg>,
    invites: HashMap<ClientTxId, LegHandle>,
    byes: HashMap<ClientTxId, LegHandle>,
    /// Our session refreshes on legs (RFC 4028), kept until the leg ends.
    refreshes: HashMap<ClientTxId, LegHandle>,
}

/// What legs hand back: bytes to send, events, and the count of final responses sent.
#[derive(Debug, Default)]
struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<LegEvent>,
    /// For the media plane, in the order things happened.
    media: VecDeque<Event>,
    /// Final responses we sent, by (method, class `2xx` …).
    answers: std::collections::BTreeMap<(String, String), u64>,
    /// REGISTERs for the registrar, in order.
    registers: VecDeque<register::PendingRegister>,
    /// INVITEs for no service, for the core, in order.
    invites: VecDeque<direct::PendingInvite>,
}

/// Every SIP dialog of the server (see the module doc).
pub(crate) struct Legs {
    endpoint: Endpoint,
    tx: TransactionLayer,
    callers: Callers,
    agents: Agents,
    /// (Call-ID, our tag) → caller call or agent leg: the dialog id of §12 from our side.
    dialogs: HashMap<(String, String), DialogRef>,
    ports: Box<dyn MediaPorts>,
    rng: StdRng,
    next_handle: u64,
    out: Outbox,
    draining: bool,
    /// Calls ringing or answered but not ACKed, by the address their INVITE came from
    /// (admission control's quota; entries at zero are removed).
    unconfirmed: HashMap<IpAddr, u32>,
    /// Sources that asked for a call over their unconfirmed quota since the last
    /// [`Legs::poll_over_quota`].
    over_quota: Vec<IpAddr>,
    /// OPTIONS probes of static contacts in flight, and their outcomes.
    probes: probe::Probes,
    /// Session timers (RFC 4028) by when they fire; an entry whose call's timer moved on
    /// is stale and skipped.
    session_due: deadlines::Deadlines<CallHandle>,
    /// The same for agent and forward legs.
    leg_session_due: deadlines::Deadlines<LegHandle>,
    /// SRTP policies by peer, and the generator of SDES master keys (seeded with OS
    /// randomness by the runtime: keys must not be guessable from the tag generator's seed).
    srtp: srtp::SrtpPolicies,
    keys: StdRng,
}

impl Legs {
    pub fn new(config: &Config, settings: CoreSettings) -> Legs {
        let public_host = config.sip.public_host.clone();
        Legs {
            endpoint: Endpoint {
                public_ip: public_host.as_deref().and_then(|h| h.parse().ok()),
                public_host,
                user_agent: config.sip.user_agent.clone(),
                listeners: settings.listeners,
                limits: settings.limits,
                session_timer: config.sip.session_timer,
                stream_capable: agent::stream_capable(config),
            },
            tx: TransactionLayer::new(settings.transactions),
            callers: Callers::default(),
            agents: Agents::default(),
            dialogs: HashMap::new(),
            ports: Box::new(PortPool::new(config.rtp.port_min, config.rtp.port_max)),
            rng: StdRng::seed_from_u64(settings.seed),
            next_handle: 1,
            out: Outbox::default(),
            draining: false,
            unconfirmed: HashMap::new(),
            over_quota: Vec::new(),
            probes: probe::Probes::default(),
            session_due: deadlines::Deadlines::new(),
            leg_session_due: deadlines::Deadlines::new(),
            srtp: srtp::SrtpPolicies::from_config(config),
            keys: StdRng::from_seed(settings.key_seed),
        }
    }

    /// The trunks of a new configuration, for RFC 3261 §18.1.1's switch to TCP.
    pub fn reconfigure_transports(&mut self, config: &Config) {
        self.endpoint.stream_capable = agent::stream_capable(config);
    }

    pub fn set_ports(&mut self, ports: Box<dyn MediaPorts>) {
        self.ports = ports;
    }

    pub fn limits(&self) -> &crate::sip::parse::Limits {
        &self.endpoint.limits
    }

    /// A message from the network: a request or response, or what failed to parse.
    pub fn handle_message(
        &mut self,
        now: Time,
        from: Peer,
        local: SocketAddr,
        parsed: Result<Message, ParseError>,
        inbound: Inbound<'_>,
    ) {
        match parsed {
            Ok(Message::Request(req)) => self.handle_request(now, from, local, req, inbound),
            Ok(Message::Response(resp)) => self.handle_response(now, resp),
            Err(err) => self.reject_unparsable(from, &err),
        }
    }

    /// Drives the transactions' timers.
    pub fn handle_timeout(&mut self, now: Time) {
        self.tx.handle_timeout(now);
        self.fire_session_timers(now);
        self.fire_leg_timers(now);
    }

    /// The runtime could not deliver to `peer` (TCP connect refused, connection reset): every
    /// transaction talking to it fails (RFC 3261 §17.1.1.2 "Transport Err.").
    pub fn handle_transport_error(&mut self, peer: Peer) {
        self.tx.handle_transport_error(peer);
    }

    /// Stops taking calls (OPTIONS and INVITE get 503) and hangs up every caller.
    pub fn shutdown(&mut self, now: Time) {
        self.draining = true;
        let handles: Vec<CallHandle> = self.callers.calls.keys().copied().collect();
        for handle in handles {
            self.hang_up(now, handle, 503, "holdline is shutting down");
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.out.events.pop_front()
    }

    /// What the media plane must know of the dialogs (answered, media changed, ended).
    pub fn poll_media(&mut self) -> Option<Event> {
        self.out.media.pop_front()
    }

    /// When the transactions next need [`Legs::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.tx.poll_timeout(),
            self.poll_session_timeout(),
            self.poll_leg_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn call_count(&self) -> usize {
        self.callers.calls.len()
    }

    /// Calls from `addr` ringing or answered but not ACKed yet.
    pub fn unconfirmed_from(&self, addr: IpAddr) -> u32 {
        self.unconfirmed.get(&addr).copied().unwrap_or(0)
    }

    /// A source was banned: nothing more is sent to it (retransmissions of our answers stop)
    /// and its calls not ACKed yet end at once, without BYE, freeing their places in the
    /// queues. Calls from it that were ACKed go on (their media, their BYE).
    pub fn silence_source(&mut self, addr: IpAddr) {
        let stopped = self.tx.silence(addr);
        let calls: Vec<CallHandle> = self
            .callers
            .calls
            .values()
            .filter(|c| c.unconfirmed_from == Some(addr))
            .map(|c| c.handle)
            .collect();
        tracing::info!(%addr, transactions = stopped, calls = calls.len(), "banned source silenced");
        for handle in calls {
            self.finish(handle, EndReason::ServerHungUp);
        }
    }

    /// A source that asked for a call over its unconfirmed quota (the call was refused).
    pub fn poll_over_quota(&mut self) -> Option<IpAddr> {
        self.over_quota.pop()
    }

    /// `call` no longer counts against its source's unconfirmed quota (ACKed, or gone).
    fn settle_unconfirmed(&mut self, call: CallHandle) {
        let Some(addr) = self
            .callers
            .calls
            .get_mut(&call)
            .and_then(|c| c.unconfirmed_from.take())
        else {
            return;
        };
        self.release_unconfirmed(addr);
    }

    fn release_unconfirmed(&mut self, addr: IpAddr) {
        if let Some(n) = self.unconfirmed.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.unconfirmed.remove(&addr);
            }
        }
    }

    pub fn leg_count(&self) -> usize {
        self.agents.legs.len()
    }

    pub fn transaction_count(&self) -> usize {
        self.tx.len()
    }

    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    /// Final responses sent, by (method, class such as `2xx`).
    pub fn answers(&self) -> &std::collections::BTreeMap<(String, String), u64> {
        &self.out.answers
    }

    /// Who the caller of `call` is, while its dialog lasts.
    pub fn caller(&self, call: CallHandle) -> Option<CallerIdentity> {
        self.callers.calls.get(&call).map(|c| CallerIdentity {
            display: c.caller.display.clone(),
            uri: c.caller.uri.clone(),
            dialled: c.caller.dialled.clone(),
            started: c.started,
            call_id: c.dialog.call_id.clone(),
        })
    }

    /// Whether `call`'s dialog still lasts.
    pub fn has_call(&self, call: CallHandle) -> bool {
        self.callers.calls.contains_key(&call)
    }

    /// The SIP Call-ID of `call`, while its dialog lasts.
    pub fn call_id(&self, call: CallHandle) -> Option<&str> {
        self.callers
            .calls
            .get(&call)
            .map(|c| c.dialog.call_id.as_str())
    }

    /// Every caller dialog: its handle, the service it dialled and where it is.
    pub fn calls(&self) -> impl Iterator<Item = (CallHandle, &QueueId, call::Phase)> {
        self.callers
            .calls
            .values()
            .map(|c| (c.handle, &c.queue, c.phase()))
    }

    fn handle_request(
        &mut self,
        now: Time,
        from: Peer,
        local: SocketAddr,
        req: Request,
        inbound: Inbound<'_>,
    ) {
        match self.tx.handle_request(now, req, from) {
            Ok(RequestOutcome::New { tx, req }) => {
                self.on_request(now, tx, req, from, local, inbound)
            }
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
        if let Some(&leg) = self.agents.invites.get(&tx) {
            return self.on_leg_response(now, leg, resp);
        }
        if self.on_probe_response(tx, &resp) {
            return;
        }
        if let Some(&leg) = self.agents.refreshes.get(&tx) {
            return self.on_leg_refresh_response(now, tx, leg, &resp);
        }
        if let Some(&call) = self.callers.refreshes.get(&tx) {
            return self.on_refresh_response(now, tx, call, &resp);
        }
        if resp.is_provisional() {
            return;
        }
        if let Some(handle) = self.callers.byes.remove(&tx) {
            self.finish(handle, EndReason::ServerHungUp);
        }
        if let Some(call) = self.callers.refers.remove(&tx) {
            let status = resp.status;
            self.out
                .events
                .push_back(LegEvent::ReferAnswered { call, status });
        }
        if let Some(leg) = self.agents.byes.remove(&tx) {
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
        let mut resp = transaction::response_from_headers(headers, status, Some(&tag));
        resp.reason = format!("{} ({})", resp.reason, sanitize_reason(&err.to_string()));
        self.add_server_header(&mut resp);
        // A Via too broken to parse (RFC 4475 badinv01, badvers) leaves only the packet's
        // source to answer to: the symmetric response of RFC 3581 §4. A parsed one was never
        // stamped with received / rport (the request never reached the transaction layer):
        // stamp the response's copy (§18.2.1, RFC 3581 §4), so a bare rport answers the
        // source, not the sent-by host at the source's port.
        let to = match transaction::stamp_top_via(&mut resp.headers, from.addr) {
            Some(via) => transaction::response_destination(&via, from),
            None => from,
        };
        self.out.transmits.push_back(Transmit {
            to,
            bytes: resp.to_bytes(),
        });
    }

    /// Moves the transaction layer's output into ours and acts on its events.
    pub fn drain_transactions(&mut self, now: Time) {
        loop {
            while let Some(t) = self.tx.poll_transmit() {
                self.out.transmits.push_back(t);
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
                        // The BYE goes on by itself; the call (its queue slot, its port)
                        // ends now rather than when a caller that never ACKed fails to
                        // answer the BYE too, 64·T1 later.
                        self.finish(handle, EndReason::Timeout);
                    }
                }
                TransactionEvent::Timeout { tx, .. } | TransactionEvent::TransportError { tx } => {
                    if let TxId::Client(id) = tx {
                        self.client_failed(now, id);
                    }
                }
                TransactionEvent::Terminated { tx } => {
                    if let TxId::Server(id) = tx {
                        self.callers.ringing.remove(&id);
                    }
                }
            }
        }
    }

    /// A client transaction of ours got no final response (Timer B / F, or the transport).
    fn client_failed(&mut self, now: Time, id: ClientTxId) {
        self.on_probe_failed(id);
        self.refresh_failed(now, id);
        self.leg_refresh_failed(now, id);
        if let Some(handle) = self.callers.byes.remove(&id) {
            self.finish(handle, EndReason::Timeout);
        }
        if let Some(call) = self.callers.refers.remove(&id) {
            // No answer to our REFER: the switch places the forward itself.
            self.out
                .events
                .push_back(LegEvent::ReferAnswered { call, status: 408 });
        }
        if let Some(leg) = self.agents.byes.remove(&id) {
            self.finish_leg(leg, LegOutcome::HungUp);
        }
        if let Some(leg) = self.agents.invites.remove(&id) {
            // Timer B or an unreachable phone: no final response will come.
            let cancelled = self
                .agents
                .legs
                .get(&leg)
                .is_some_and(|l| matches!(l.state, LegState::Cancelling { .. }));
            let outcome = if cancelled {
                LegOutcome::Cancelled
            } else {
                LegOutcome::NoResponse
            };
            if outcome == LegOutcome::NoResponse {
                self.device_silent(leg);
            }
            self.finish_leg(leg, outcome);
        }
    }

    fn new_handle(&mut self) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        h
    }

    /// A random token for tags (§19.3: at least 32 bits of randomness).
    fn new_tag(&mut self) -> String {
        format!("{:016x}", self.rng.gen::<u64>())
    }

    /// A draw of the core's seeded RNG, for choices outside the legs (an SBC's turn).
    pub fn random_u32(&mut self) -> u32 {
        self.rng.gen()
    }

    /// Whether `leg` is still waiting for its first response (no provisional yet).
    pub fn leg_unanswered_yet(&self, leg: super::LegHandle) -> bool {
        self.agents
            .legs
            .get(&leg)
            .is_some_and(|l| matches!(l.state, LegState::Calling))
    }

    fn rng_u32(&mut self) -> u32 {
        self.rng.gen()
    }

    fn rng_u64(&mut self) -> u64 {
        self.rng.gen()
    }

    /// A Via for a request of ours on `flow`, with a fresh RFC 3261 branch (§8.1.1.7).
    fn new_via(&mut self, flow: &Peer, local: SocketAddr) -> String {
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
    fn advertised(
        &self,
        transport: Transport,
        local: SocketAddr,
        request_uri: Option<&Uri>,
    ) -> (String, u16) {
        let port = self
            .endpoint
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| a.port())
            .unwrap_or(local.port());
        if let Some(host) = &self.endpoint.public_host {
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
    fn media_ip(&self, local: SocketAddr, request_uri: Option<&Uri>) -> IpAddr {
        if let Some(ip) = self.endpoint.public_ip {
            return ip;
        }
        if !local.ip().is_unspecified() {
            return local.ip();
        }
        if let Some(Uri::Sip(u)) = request_uri {
            match u.host {
                Host::V4(a) => return IpAddr::V4(a),
                Host::V6(a) => return IpAddr::V6(a),
                Host::Name(_) => {}
            }
        }
        IpAddr::from([127, 0, 0, 1])
    }

    /// The local address of our listener for `transport`.
    fn listener(&self, transport: Transport) -> SocketAddr {
        self.endpoint
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)
            .or_else(|| self.endpoint.listeners.first())
            .map(|(_, a)| *a)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)))
    }

    /// `<sip:host:port;transport=…>` for a dialog on `transport` reached at `local`.
    fn contact(
        &self,
        transport: Transport,
        local: SocketAddr,
        request_uri: Option<&Uri>,
    ) -> String {
        let (host, port) = self.advertised(transport, local, request_uri);
        // RFC 3261 §12.1.1: a dialog a SIPS Request-URI set up gets a SIPS Contact (RFC 5630
        // §3.1.3: `sips:` alone says TLS; `transport=tls` is deprecated beside it).
        if transport == Transport::Tls && request_uri.is_some_and(is_sips) {
            return format!("<sips:{host}:{port}>");
        }
        let param = match transport {
            Transport::Udp => String::new(),
            t => format!(";transport={}", t.as_via_str().to_ascii_lowercase()),
        };
        format!("<sip:{host}:{port}{param}>")
    }

    fn add_server_header(&self, resp: &mut Response) {
        if !self.endpoint.user_agent.is_empty() {
            resp.headers
                .push(HeaderName::Server, self.endpoint.user_agent.clone());
        }
    }

    /// A response to `req` with the §8.2.6 headers, our To tag (a fresh one when `tag` is
    /// `None` and the request has none) and Server.
    fn response(&mut self, req: &Request, status: u16, tag: Option<&str>) -> Response {
        let fresh;
        let tag = match tag {
            Some(t) => t,
            None => {
                fresh = self.new_tag();
                &fresh
            }
        };
        let mut resp = transaction::response_for(req, status, Some(tag));
        self.add_server_header(&mut resp);
        resp
    }

    fn respond(&mut self, now: Time, tx: ServerTxId, resp: Response) {
        let answer = answer_key(&resp);
        match self.tx.respond(now, tx, resp) {
            Ok(()) => {
                if let Some(key) = answer {
                    *self.out.answers.entry(key).or_insert(0) += 1;
                }
            }
            Err(err) => tracing::warn!(%err, "could not send a response"),
        }
    }
}

/// (method, class) of a final response, for [`Legs::answers`]; `None` for a provisional one.
/// Extension methods count as `OTHER`, so a peer cannot grow the table without bound.
fn answer_key(resp: &Response) -> Option<(String, String)> {
    if resp.status < 200 {
        return None;
    }
    let method = match resp.headers.cseq()?.method {
        crate::sip::method::Method::Extension(_) => "OTHER".to_owned(),
        m => m.as_str().to_owned(),
    };
    Some((method, format!("{}xx", resp.status / 100)))
}

/// Whether `uri` is a `sips:` URI.
fn is_sips(uri: &Uri) -> bool {
    matches!(uri, Uri::Sip(u) if u.scheme == crate::sip::uri::Scheme::Sips)
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
