//! [`TransactionLayer`]: owns every transaction, routes messages and TU commands to them
//! (matching per RFC 3261 §17.1.3 / §17.2.3), and runs all their timers from one heap.
//!
//! Timers live in one binary heap of `(deadline, owner, timer)` with lazy deletion: an entry is
//! acted on only if the owner still has that timer armed at that deadline, so stopping a timer or
//! ending a transaction costs nothing, and every operation is O(log n) in live timers. A
//! transaction is removed (and [`TransactionEvent::Terminated`] queued) as soon as it reaches
//! Terminated, so nothing outlives its last timer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transport::{Peer, Transmit};
use crate::time::Time;

use super::client::{ClientState, ClientTx};
use super::key::{BranchKey, ClientKey, Rfc2543Id, ServerKey};
use super::server::{response_for, AckDisposition, ServerState, ServerTx};
use super::timer::Timer;
use super::uas_2xx::{Pending2xx, Uas2xxKey};
use super::via_route::{response_destination, stamp_received};
use super::{
    ClientTxId, Config, Outputs, RequestOutcome, ServerTxId, TransactionError, TransactionEvent,
    TxId,
};

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
    /// A layer with `config`; its timer bases are [`super::TimerConfig::clamped`].
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
    /// TU chose. For a CANCEL, see [`super::build_cancel`]; sending one also arms the INVITE's
    /// §9.1 give-up timer. Never for an ACK: see [`Self::send_ack`].
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
        if req.method == Method::Cancel {
            self.note_cancel(now, &key);
        }
        let id = ClientTxId(self.alloc_id());
        let tx = ClientTx::start(id, now, &self.config.timers, req, to, &mut self.out);
        self.client_index.insert(key.clone(), id);
        self.clients.insert(id, ClientEntry { tx, key });
        self.after_client(id);
        self.prune();
        Ok(id)
    }

    /// Arms the §9.1 give-up timer on the INVITE a CANCEL (with key `cancel`) refers to.
    fn note_cancel(&mut self, now: Time, cancel: &ClientKey) {
        let Some(&id) = self.client_index.get(&cancel.with_method(Method::Invite)) else {
            return;
        };
        if let Some(entry) = self.clients.get_mut(&id) {
            entry.tx.on_cancel_sent(now, &self.config.timers);
        }
        self.after_client(id);
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

    /// Stops every retransmission to `ip` (a source the TU no longer answers, e.g. one banned
    /// for abuse): server transactions answering it end at once without another transmission
    /// or event for the TU, and 2xx responses awaiting its ACK are no longer resent. Our own
    /// requests to it go on. Returns how many stopped. A linear scan: the TU calls this rarely.
    pub fn silence(&mut self, ip: std::net::IpAddr) -> usize {
        let servers: Vec<ServerTxId> = self
            .servers
            .iter()
            .filter(|(_, e)| e.tx.dest.addr.ip() == ip)
            .map(|(id, _)| *id)
            .collect();
        let mut stopped = 0;
        for id in servers {
            if self.terminate(TxId::Server(id)).is_ok() {
                stopped += 1;
            }
        }
        let pending: Vec<(u64, Uas2xxKey)> = self
            .pending_2xx
            .iter()
            .filter(|(_, p)| p.dest().addr.ip() == ip)
            .map(|(id, p)| (*id, p.key.clone()))
            .collect();
        for (id, key) in pending {
            self.pending_2xx.remove(&id);
            self.pending_2xx_index.remove(&key);
            stopped += 1;
        }
        stopped
    }

    /// The runtime failed to send to `peer` (connection refused or reset, ICMP unreachable):
    /// every transaction talking to it is told [`TransactionEvent::TransportError`] and ends.
    /// A stream peer is matched with its connection id, so one dead connection fails only the
    /// transactions that used it. Returns how many ended. Rare, so a linear scan.
    pub fn handle_transport_error(&mut self, peer: Peer) -> usize {
        let clients: Vec<ClientTxId> = self
            .clients
            .iter()
            .filter(|(_, e)| e.tx.destination() == peer)
            .map(|(id, _)| *id)
            .collect();
        let servers: Vec<ServerTxId> = self
            .servers
            .iter()
            .filter(|(_, e)| e.tx.dest == peer)
            .map(|(id, _)| *id)
            .collect();
        let mut failed = clients.len() + servers.len();
        let mut ids: Vec<TxId> = clients.into_iter().map(TxId::Client).collect();
        ids.extend(servers.into_iter().map(TxId::Server));
        // Deterministic event order whatever the hash map's iteration order.
        ids.sort_by_key(|id| match id {
            TxId::Client(c) => c.0,
            TxId::Server(s) => s.0,
        });
        for tx in ids {
            self.out
                .events
                .push_back(TransactionEvent::TransportError { tx });
            if self.terminate(tx).is_err() {
                failed -= 1;
            }
        }
        failed
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
