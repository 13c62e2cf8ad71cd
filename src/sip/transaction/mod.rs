//! SIP transactions (RFC 3261 §17 with the RFC 6026 amendments), sans-IO on virtual time.
//!
//! [`TransactionLayer`] owns every client and server transaction and their timers. The driver
//! feeds it parsed messages with their source, commands from the TU (send a request, respond)
//! and the current [`Time`]; it then drains [`TransactionLayer::poll_transmit`],
//! [`TransactionLayer::poll_event`] and sleeps until [`TransactionLayer::poll_timeout`]:
//!
//! ```text
//! layer.handle_request(now, req, from)?  → RequestOutcome (new request, CANCEL, ACK for 2xx, absorbed)
//! layer.handle_response(now, resp)       → Some((tx, resp)) for the TU, None when absorbed/stray
//! layer.respond(now, tx, resp)?; layer.send_request(now, req, to)?; layer.handle_timeout(now)
//! while let Some(t) = layer.poll_transmit() { send(t) }   while let Some(e) = layer.poll_event() { .. }
//! ```
//!
//! Besides the four machines (see [`ClientState`], [`ServerState`]) it stamps `received`/`rport`
//! on arriving requests and routes responses by Via (§18.2, RFC 3581, [`via_route`]), sends the
//! INVITE server's 100 Trying (§17.2.1), and does the UAS core's 2xx retransmission until the ACK
//! (§13.3.1.4, [`uas_2xx`]). It does not build requests, pick branches (the TU does, with its
//! seeded RNG), resolve names (RFC 3263), check that a response's top Via is ours (§18.1.2), or
//! handle transport errors (the runtime reports those to the TU directly).
//!
//! Timers live in one binary heap of `(deadline, owner, timer)` with lazy deletion: an entry is
//! acted on only if the owner still has that timer armed at that deadline, so stopping a timer or
//! ending a transaction costs nothing, and every operation is O(log n) in live timers.

mod client;
mod key;
mod server;
mod timer;
mod uas_2xx;
mod via_route;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transport::{Peer, Transmit};
use crate::time::Time;

pub use client::{build_ack, build_cancel, ClientState};
pub use server::{response_for, ServerState};
pub use timer::{Timer, TimerConfig, TimerTable};
pub use uas_2xx::Uas2xxKey;
pub use via_route::{response_destination, stamp_received};

use client::ClientTx;
use key::{BranchKey, ClientKey, Rfc2543Id, ServerKey};
use server::{AckDisposition, ServerTx};
use uas_2xx::Pending2xx;

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

/// Whose timer a heap entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Client(ClientTxId),
    Server(ServerTxId),
    Uas2xx(u64),
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTx,
    key: ClientKey,
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    key: ServerKey,
    /// The To tag of our final response: an RFC 2543 ACK must carry it (§17.2.3).
    response_tag: Option<String>,
}

/// All transactions of one SIP endpoint, their timers and the UAS 2xx retransmissions.
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    next_id: u64,
    clients: HashMap<ClientTxId, ClientEntry>,
    client_index: HashMap<ClientKey, ClientTxId>,
    servers: HashMap<ServerTxId, ServerEntry>,
    branch_index: HashMap<BranchKey, ServerTxId>,
    /// RFC 2543 transactions by (Call-ID, CSeq number); the rest is compared per entry.
    rfc2543_index: HashMap<(String, u32), Vec<ServerTxId>>,
    pending_2xx: HashMap<u64, Pending2xx>,
    pending_2xx_index: HashMap<Uas2xxKey, u64>,
    heap: BinaryHeap<Reverse<(Time, Owner, Timer)>>,
    out: Outputs,
}

impl TransactionLayer {
    /// A layer with `config`; its timer bases are [`TimerConfig::clamped`].
    pub fn new(mut config: Config) -> Self {
        config.timers = config.timers.clamped();
        TransactionLayer {
            config,
            next_id: 1,
            clients: HashMap::new(),
            client_index: HashMap::new(),
            servers: HashMap::new(),
            branch_index: HashMap::new(),
            rfc2543_index: HashMap::new(),
            pending_2xx: HashMap::new(),
            pending_2xx_index: HashMap::new(),
            heap: BinaryHeap::new(),
            out: Outputs::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A parsed request arrived from `from`. Its top Via is stamped with `received`/`rport`
    /// (§18.2.1, RFC 3581) before matching, so the TU's responses copy the stamped Via.
    pub fn handle_request(
        &mut self,
        now: Time,
        mut req: Request,
        from: Peer,
    ) -> Result<RequestOutcome, TransactionError> {
        stamp_received(&mut req, from.addr)?;
        let key = ServerKey::of_request(&req)?;
        let outcome = if req.method == Method::Ack {
            self.handle_ack(now, req, &key)
        } else if let Some(id) = self.find_server(&key, false) {
            if let Some(entry) = self.servers.get_mut(&id) {
                entry.tx.on_retransmission(&mut self.out);
            }
            RequestOutcome::Absorbed
        } else {
            self.new_server(now, req, key, from)?
        };
        self.prune();
        Ok(outcome)
    }

    fn handle_ack(&mut self, now: Time, req: Request, key: &ServerKey) -> RequestOutcome {
        if let Some(id) = self.find_server(key, true) {
            let disposition = match self.servers.get_mut(&id) {
                Some(entry) => entry.tx.on_ack(now, &self.config.timers),
                None => AckDisposition::ToTu,
            };
            self.after_server(id);
            if disposition == AckDisposition::Absorbed {
                return RequestOutcome::Absorbed;
            }
        }
        // §13.3.1.4: the ACK for a 2xx ends its retransmission, whatever its branch.
        let stopped_2xx = Uas2xxKey::of_ack(&req)
            .and_then(|k| self.pending_2xx_index.remove(&k))
            .and_then(|p| self.pending_2xx.remove(&p))
            .is_some();
        RequestOutcome::Ack { req, stopped_2xx }
    }

    fn new_server(
        &mut self,
        now: Time,
        req: Request,
        key: ServerKey,
        from: Peer,
    ) -> Result<RequestOutcome, TransactionError> {
        let via = req
            .headers
            .top_via()
            .ok_or(TransactionError::MissingHeader { name: "Via" })?;
        let id = ServerTxId(self.alloc_id());
        let invite = req.method == Method::Invite;
        let mut tx = ServerTx::new(id, invite, response_destination(&via, from));
        if invite && self.config.send_100_trying {
            let trying = response_for(&req, 100, None);
            tx.respond(now, &self.config.timers, &trying, &mut self.out)?;
        }
        match &key {
            ServerKey::Branch(b) => {
                self.branch_index.insert(b.clone(), id);
            }
            ServerKey::Rfc2543(r) => self
                .rfc2543_index
                .entry((r.call_id.clone(), r.cseq))
                .or_default()
                .push(id),
        }
        let cancelled = (req.method == Method::Cancel)
            .then(|| self.find_cancelled(&key))
            .flatten();
        self.servers.insert(
            id,
            ServerEntry {
                tx,
                key,
                response_tag: None,
            },
        );
        self.after_server(id);
        Ok(match req.method {
            Method::Cancel => RequestOutcome::Cancel {
                tx: id,
                invite: cancelled,
                req,
            },
            _ => RequestOutcome::New { tx: id, req },
        })
    }

    /// The live INVITE server transaction a CANCEL refers to (§9.2): same branch and sent-by
    /// for RFC 3261 requests, or the RFC 2543 identifiers with the method ignored.
    pub fn cancelled_invite(&self, cancel: &Request) -> Option<ServerTxId> {
        self.find_cancelled(&ServerKey::of_request(cancel).ok()?)
    }

    fn find_cancelled(&self, key: &ServerKey) -> Option<ServerTxId> {
        let id = match key {
            ServerKey::Branch(b) => *self.branch_index.get(&b.with_method(Method::Invite))?,
            ServerKey::Rfc2543(r) => {
                self.find_rfc2543(r, |entry, id| entry.tx.is_invite() && id.matches(r, true))?
            }
        };
        Some(id)
    }

    fn find_server(&self, key: &ServerKey, ack: bool) -> Option<ServerTxId> {
        match key {
            ServerKey::Branch(b) => self.branch_index.get(b).copied(),
            ServerKey::Rfc2543(r) => self.find_rfc2543(r, |entry, id| {
                if ack {
                    id.matches_ack(r, entry.response_tag.as_deref())
                } else {
                    id.matches(r, false)
                }
            }),
        }
    }

    fn find_rfc2543(
        &self,
        r: &Rfc2543Id,
        pred: impl Fn(&ServerEntry, &Rfc2543Id) -> bool,
    ) -> Option<ServerTxId> {
        let candidates = self.rfc2543_index.get(&(r.call_id.clone(), r.cseq))?;
        candidates.iter().copied().find(|id| {
            self.servers.get(id).is_some_and(|entry| match &entry.key {
                ServerKey::Rfc2543(stored) => pred(entry, stored),
                ServerKey::Branch(_) => false,
            })
        })
    }

    /// The TU responds on a server transaction. A 2xx to an INVITE also starts the UAS core's
    /// retransmission of it until the ACK (§13.3.1.4); it needs a To tag.
    pub fn respond(
        &mut self,
        now: Time,
        tx: ServerTxId,
        resp: Response,
    ) -> Result<(), TransactionError> {
        let entry = self
            .servers
            .get_mut(&tx)
            .ok_or(TransactionError::UnknownTransaction {
                tx: TxId::Server(tx),
            })?;
        let retransmit_key = if entry.tx.is_invite() && resp.is_success() {
            Some(Uas2xxKey::of_response(&resp)?)
        } else {
            None
        };
        entry
            .tx
            .respond(now, &self.config.timers, &resp, &mut self.out)?;
        if resp.status >= 200 {
            entry.response_tag = resp.headers.to().and_then(|t| t.tag().map(str::to_owned));
        }
        let dest = entry.tx.dest;
        if let Some(key) = retransmit_key {
            self.start_2xx(now, key, resp.to_bytes(), dest);
        }
        self.after_server(tx);
        self.prune();
        Ok(())
    }

    fn start_2xx(&mut self, now: Time, key: Uas2xxKey, bytes: Vec<u8>, dest: Peer) {
        if let Some(p) = self
            .pending_2xx_index
            .get(&key)
            .and_then(|id| self.pending_2xx.get_mut(id))
        {
            p.replace(bytes);
            return;
        }
        let retransmit = !dest.transport.is_reliable() || self.config.retransmit_2xx_on_reliable;
        let id = self.alloc_id();
        let mut pending = Pending2xx::start(
            now,
            &self.config.timers,
            key.clone(),
            bytes,
            dest,
            retransmit,
        );
        for (timer, at) in pending.timers.take_fresh() {
            self.heap.push(Reverse((at, Owner::Uas2xx(id), timer)));
        }
        self.pending_2xx.insert(id, pending);
        self.pending_2xx_index.insert(key, id);
    }

    /// Stops retransmitting a 2xx without an ACK (e.g. the dialog ended some other way).
    /// Returns whether one was pending.
    pub fn stop_2xx_retransmission(&mut self, key: &Uas2xxKey) -> bool {
        self.pending_2xx_index
            .remove(key)
            .and_then(|id| self.pending_2xx.remove(&id))
            .is_some()
    }

    /// Starts a client transaction for `req`, whose top Via must carry an RFC 3261 branch the
    /// TU chose. For a CANCEL, see [`build_cancel`]; never for an ACK (use [`Self::send_ack`]).
    pub fn send_request(
        &mut self,
        now: Time,
        req: Request,
        to: Peer,
    ) -> Result<ClientTxId, TransactionError> {
        if req.method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let key = ClientKey::of_request(&req)?;
        if self.client_index.contains_key(&key) {
            return Err(TransactionError::DuplicateTransaction);
        }
        let id = ClientTxId(self.alloc_id());
        let tx = ClientTx::start(id, now, &self.config.timers, req, to, &mut self.out);
        self.client_index.insert(key.clone(), id);
        self.clients.insert(id, ClientEntry { tx, key });
        self.after_client(id);
        self.prune();
        Ok(id)
    }

    /// Sends the ACK for a 2xx (§13.2.2.4): built and retransmitted by the UAC core, outside any
    /// transaction; this only queues it with the other transmits.
    pub fn send_ack(&mut self, ack: &Request, to: Peer) {
        self.out.send(to, ack.to_bytes());
    }

    /// A parsed response arrived. Returns it with its transaction when the TU should see it;
    /// `None` when a transaction absorbed it or it matches none (stray, dropped: §18.1.2 as
    /// amended by RFC 6026 §7.2).
    pub fn handle_response(&mut self, now: Time, resp: Response) -> Option<(ClientTxId, Response)> {
        let key = ClientKey::of_response(&resp)?;
        let id = *self.client_index.get(&key)?;
        let entry = self.clients.get_mut(&id)?;
        let passed = entry
            .tx
            .on_response(now, &self.config.timers, resp, &mut self.out);
        self.after_client(id);
        self.prune();
        passed.map(|r| (id, r))
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(&Reverse((at, owner, timer))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if !self.is_live(at, owner, timer) {
                continue;
            }
            let cfg = self.config.timers;
            match owner {
                Owner::Client(id) => {
                    if let Some(e) = self.clients.get_mut(&id) {
                        e.tx.timers.stop(timer);
                        e.tx.on_timer(now, &cfg, timer, &mut self.out);
                    }
                    self.after_client(id);
                }
                Owner::Server(id) => {
                    if let Some(e) = self.servers.get_mut(&id) {
                        e.tx.timers.stop(timer);
                        e.tx.on_timer(now, &cfg, timer, &mut self.out);
                    }
                    self.after_server(id);
                }
                Owner::Uas2xx(id) => self.fire_2xx(now, id, timer),
            }
        }
        self.prune();
    }

    fn fire_2xx(&mut self, now: Time, id: u64, timer: Timer) {
        let Some(p) = self.pending_2xx.get_mut(&id) else {
            return;
        };
        p.timers.stop(timer);
        p.on_timer(now, &self.config.timers, timer, &mut self.out);
        for (t, at) in p.timers.take_fresh() {
            self.heap.push(Reverse((at, Owner::Uas2xx(id), t)));
        }
        if p.is_done() {
            let key = p.key.clone();
            self.pending_2xx.remove(&id);
            self.pending_2xx_index.remove(&key);
        }
    }

    /// Ends a transaction at once, without further transmissions (e.g. the TU gives up on an
    /// INVITE stuck in Proceeding after its CANCEL went unanswered, §9.1).
    pub fn terminate(&mut self, tx: TxId) -> Result<(), TransactionError> {
        match tx {
            TxId::Client(id) => self
                .clients
                .get_mut(&id)
                .ok_or(TransactionError::UnknownTransaction { tx })?
                .tx
                .terminate(),
            TxId::Server(id) => self
                .servers
                .get_mut(&id)
                .ok_or(TransactionError::UnknownTransaction { tx })?
                .tx
                .terminate(),
        }
        match tx {
            TxId::Client(id) => self.after_client(id),
            TxId::Server(id) => self.after_server(id),
        }
        self.prune();
        Ok(())
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.out.events.pop_front()
    }

    /// The earliest armed deadline: call [`Self::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Live transactions (client + server), for leak checks and metrics.
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// 2xx responses still being retransmitted while awaiting their ACK.
    pub fn pending_2xx(&self) -> usize {
        self.pending_2xx.len()
    }

    pub fn client_state(&self, tx: ClientTxId) -> Option<ClientState> {
        self.clients.get(&tx).map(|e| e.tx.state)
    }

    pub fn server_state(&self, tx: ServerTxId) -> Option<ServerState> {
        self.servers.get(&tx).map(|e| e.tx.state)
    }

    /// The request a client transaction sent (to build a CANCEL or match its responses).
    pub fn client_request(&self, tx: ClientTxId) -> Option<&Request> {
        self.clients.get(&tx).map(|e| e.tx.request())
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Schedules the client's newly armed timers; removes it once Terminated.
    fn after_client(&mut self, id: ClientTxId) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        for (timer, at) in entry.tx.timers.take_fresh() {
            self.heap.push(Reverse((at, Owner::Client(id), timer)));
        }
        if entry.tx.state == ClientState::Terminated {
            if let Some(entry) = self.clients.remove(&id) {
                self.client_index.remove(&entry.key);
            }
            self.out.events.push_back(TransactionEvent::Terminated {
                tx: TxId::Client(id),
            });
        }
    }

    /// Schedules the server's newly armed timers; removes it once Terminated.
    fn after_server(&mut self, id: ServerTxId) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        for (timer, at) in entry.tx.timers.take_fresh() {
            self.heap.push(Reverse((at, Owner::Server(id), timer)));
        }
        if entry.tx.state != ServerState::Terminated {
            return;
        }
        if let Some(entry) = self.servers.remove(&id) {
            match entry.key {
                ServerKey::Branch(b) => {
                    self.branch_index.remove(&b);
                }
                ServerKey::Rfc2543(r) => {
                    let slot = (r.call_id, r.cseq);
                    if let Some(ids) = self.rfc2543_index.get_mut(&slot) {
                        ids.retain(|&other| other != id);
                        if ids.is_empty() {
                            self.rfc2543_index.remove(&slot);
                        }
                    }
                }
            }
        }
        self.out.events.push_back(TransactionEvent::Terminated {
            tx: TxId::Server(id),
        });
    }

    /// Whether a heap entry is still armed (lazy deletion).
    fn is_live(&self, at: Time, owner: Owner, timer: Timer) -> bool {
        let armed = match owner {
            Owner::Client(id) => self.clients.get(&id).and_then(|e| e.tx.timers.get(timer)),
            Owner::Server(id) => self.servers.get(&id).and_then(|e| e.tx.timers.get(timer)),
            Owner::Uas2xx(id) => self.pending_2xx.get(&id).and_then(|p| p.timers.get(timer)),
        };
        armed == Some(at)
    }

    /// Drops dead entries from the top of the heap so [`Self::poll_timeout`] is exact.
    fn prune(&mut self) {
        while let Some(&Reverse((at, owner, timer))) = self.heap.peek() {
            if self.is_live(at, owner, timer) {
                break;
            }
            self.heap.pop();
        }
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
