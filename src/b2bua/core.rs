//! [`Core`]: the sans-IO server. It takes datagrams, stream frames, timeouts and a shutdown
//! command, and gives back bytes to send, events for the media plane and its next deadline.
//!
//! ```text
//! core.handle_datagram(now, from, local, bytes);        // or handle_frame / handle_timeout
//! while let Some(t) = core.poll_transmit() { send(t) }
//! while let Some(e) = core.poll_event() { media(e) }
//! sleep_until(core.poll_timeout());
//! ```

mod direct;
mod outbound;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, QueueId, Target};
use crate::sip::message::Message;
use crate::sip::method::Method;
use crate::sip::parse::{parse_datagram, Limits, ParseError};
use crate::sip::sdp::NegotiatedMedia;
use crate::sip::transaction;
use crate::sip::transport::{Peer, Transmit, Transport};
use crate::time::Time;

pub use self::direct::{AgentRequest, SettingChange};
pub use self::outbound::OutboundStats;
use super::access_log::{AccessEvent, AccessLog, Cause};

use super::admission::{Admission, AdmissionStats, BanReason, BanView, Verdict};
use super::legs::call::CallHandle;
use super::legs::{Inbound, LegHandle, LegOutcome, Legs, RingRequest};
use super::locations::{Locations, RingTarget};
use super::ports::MediaPorts;
use super::provisioning::{AgentSettings, Applied, CallView, LoggedEvent};
use super::reachability::{Due, Prober};
use super::registrar::{Binding, Registrar, RegistrarStats};
use super::sbc_dns::{DnsChange, DnsLookup, SbcAddresses};
use super::sbc_health::{
    Change as SbcChange, Due as SbcDue, Health as SbcHealth, SbcState, SbcView,
};
use super::settings::Settings;
use super::switch::{Ctx, Switch};
use crate::queue::types::{AgentId, CallId as QueueCallId};
use crate::queue::Engine;

/// What the core needs to know that is not in the configuration file.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// The bound SIP listeners (after port 0 was resolved).
    pub listeners: Vec<(Transport, SocketAddr)>,
    /// Seed for tags, branches and SDP session ids (the runtime passes OS randomness).
    pub seed: u64,
    /// Seed for SDES master keys (RFC 4568): 256 bits of OS randomness from the runtime, so a
    /// key cannot be derived from anything else the core sends.
    pub key_seed: [u8; 32],
    pub limits: Limits,
    pub transactions: transaction::Config,
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
    /// The caller ACKed our 200 (RFC 3261 §13.3.1.4): its SIP address is proven, so the bound
    /// on media sent to an unproven peer is lifted.
    CallConfirmed { call: CallHandle },
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
    /// A ringing leg's far end sent an SDP answer in a provisional response (early media):
    /// receive on `rtp_port`, media per `media`. [`Event::LegAnswered`] may follow with the
    /// same port (the stream is updated, not started again).
    LegEarlyMedia {
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

/// The sans-IO SIP server: a router between the legs (SIP dialogs), the switch (queues,
/// rings, transfers) and the settings derived from the configuration.
pub struct Core {
    /// What the configuration says; replaced whole by [`Core::reconfigure`].
    settings: Arc<Settings>,
    /// Where users are rung.
    locations: Locations,
    legs: Legs,
    switch: Switch,
    /// The configuration and agent settings applied last, and what the admin API reads.
    applied: Applied,
    /// Commands for the media plane, in order.
    media: VecDeque<Event>,
    /// Per-source limits and bans, in front of everything else.
    admission: Admission,
    /// Off only in benchmarks that measure admission control's own cost.
    admission_on: bool,
    /// When each static contact is probed with OPTIONS next.
    prober: Prober,
    /// REGISTER and digest authentication for users with a password.
    registrar: Registrar,
    /// Users whose bindings changed since [`Core::poll_registration_change`] (the runtime
    /// stores them).
    registration_changes: std::collections::BTreeSet<crate::config::UserId>,
    /// Registration and ban events for the event log.
    access: AccessLog,
    /// Agents' settings changed by feature codes, for the runtime to store.
    agent_requests: VecDeque<AgentRequest>,
    /// Trunk SBCs' health from OPTIONS (`sbc_health`), and its changes for the event log.
    sbc_health: SbcHealth,
    sbc_changes: VecDeque<SbcChange>,
    /// Users' outbound calls placed and refused (`core::outbound`).
    outbound_stats: self::outbound::OutboundStats,
    /// What DNS gave for SBCs named by host (`sbc_dns`); the runtime reports look-ups.
    sbc_addresses: SbcAddresses,
}

impl Core {
    pub fn new(config: &Config, settings: CoreSettings) -> Core {
        let refer_timeout = settings.transactions.timers.t1 * 64;
        let locations = Locations::new(config);
        // Until the runtime gives the stored secret, nonces are keyed from the seed (which the
        // runtime draws from the OS).
        let secret = settings.seed.to_le_bytes();
        let mut registrar = Registrar::new(config, &secret);
        registrar.set_boot(settings.seed);
        Core {
            registrar,
            registration_changes: Default::default(),
            access: AccessLog::default(),
            agent_requests: VecDeque::new(),
            settings: Arc::new(Settings::new(config)),
            legs: Legs::new(config, settings),
            switch: Switch::new(config, &locations, refer_timeout),
            locations,
            applied: Applied::new(config),
            media: VecDeque::new(),
            admission: Admission::new(config),
            admission_on: true,
            // The runtime's clock starts at Time::ZERO as the core is built (tests likewise).
            prober: Prober::new(Time::ZERO, config),
            sbc_health: {
                let mut h = SbcHealth::default();
                h.reconfigure(Time::ZERO, config);
                h
            },
            sbc_changes: VecDeque::new(),
            outbound_stats: Default::default(),
            sbc_addresses: SbcAddresses::default(),
        }
    }

    /// Takes RTP ports from `ports` instead of the plain pool over `[rtp] ports` (the runtime
    /// binds them as it hands them out).
    pub fn with_ports(mut self, ports: Box<dyn MediaPorts>) -> Core {
        self.legs.set_ports(ports);
        self
    }

    /// Runs without admission control: every datagram passes, no source is limited or
    /// banned. For benchmarks that measure what admission control costs, never for a server.
    pub fn without_admission(mut self) -> Core {
        self.admission_on = false;
        self
    }

    /// A UDP datagram arrived from `from` on the socket bound to `local`.
    pub fn handle_datagram(&mut self, now: Time, from: Peer, local: SocketAddr, bytes: &[u8]) {
        // RFC 5626 §4.4.1 keepalives and stray whitespace are not messages.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        // Admission before the parser, so a banned source or a flood costs one lookup. A
        // status line starts with the version (RFC 3261 §7.2); anything else is a request or
        // garbage, and counts as a request.
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let request = !bytes[start..].starts_with(b"SIP/");
        if !self.admit(now, from, request) {
            return;
        }
        let parsed = parse_datagram(bytes, self.legs.limits());
        self.dispatch(now, from, local, parsed);
    }

    /// A stream transport framed a message (or failed to) on a connection.
    pub fn handle_parsed(
        &mut self,
        now: Time,
        from: Peer,
        local: SocketAddr,
        parsed: Result<Message, ParseError>,
    ) {
        let request = !matches!(parsed, Ok(Message::Response(_)));
        if !self.admit(now, from, request) {
            return;
        }
        self.dispatch(now, from, local, parsed);
    }

    /// Admission control's word on a message from `from`: false when it is dropped (a banned
    /// source, a request over its rate), and then a source banned by it is silenced.
    fn admit(&mut self, now: Time, from: Peer, request: bool) -> bool {
        if self.admission_on && self.admission.admit(now, from.addr.ip(), request) == Verdict::Drop
        {
            self.silence_banned(now);
            return false;
        }
        true
    }

    /// An admitted message to the legs; a source that asked for a call over its quota of
    /// unconfirmed calls is banned.
    fn dispatch(
        &mut self,
        now: Time,
        from: Peer,
        local: SocketAddr,
        parsed: Result<Message, ParseError>,
    ) {
        let quota = match &parsed {
            Ok(Message::Request(r)) if self.admission_on && r.method == Method::Invite => {
                self.admission.unconfirmed_quota(from.addr.ip())
            }
            _ => u32::MAX,
        };
        let inbound = Inbound {
            directory: &self.settings.directory,
            unconfirmed_quota: quota,
        };
        self.legs.handle_message(now, from, local, parsed, inbound);
        while let Some(reg) = self.legs.poll_register() {
            self.on_register(now, reg);
        }
        self.on_invites(now);
        while let Some(source) = self.legs.poll_over_quota() {
            self.admission.over_quota(now, source);
        }
        self.silence_banned(now);
        self.settle(now);
    }

    /// Sources banned by the last input get nothing more from us: retransmissions to them
    /// stop and their calls not ACKed yet end (their places in the queues are free at once).
    /// (A dropped datagram costs nothing more unless it led to a ban.)
    fn silence_banned(&mut self, now: Time) {
        let mut banned = false;
        while let Some(source) = self.admission.poll_banned() {
            if let Some(ban) = self.admission.bans(now).iter().find(|b| b.addr == source) {
                self.access.banned(now, ban);
            }
            self.legs.silence_source(source);
            banned = true;
        }
        if banned {
            self.settle(now);
        }
    }

    /// Drives timers due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.admission.expire(now);
        let admission = &self.admission;
        self.access.expire_bans(now, |addr| {
            let ban = admission.bans(now).into_iter().find(|b| b.addr == addr);
            ban.map(|b| b.until)
        });
        for user in self.registrar.expire(now) {
            self.log_bindings(now, &user, Cause::Expiry);
            self.sync_registered(now, &user);
        }
        self.legs.handle_timeout(now);
        self.run_probes(now);
        self.run_sbc_probes(now);
        let (switch, mut cx) = self.parts(now);
        switch.handle_timeout(&mut cx);
        self.settle(now);
    }

    /// Sends the OPTIONS probes due at `now` (RFC 3261 §11) and takes the unanswered ones
    /// past their deadline as unreachable. A contact with an agent leg to it (ringing, in a
    /// call with us) is not probed: its INVITE dialog already says it is there, and a phone
    /// busy with a call should not be disturbed.
    fn run_probes(&mut self, now: Time) {
        for due in self.prober.due(now) {
            match due {
                Due::Probe(contact) if self.legs.has_leg_to(&contact) => {}
                Due::Probe(contact) => {
                    if self.legs.send_probe(now, &contact) {
                        self.prober.sent(now, &contact);
                    }
                }
                Due::Expired(contact) => self.contact_probed(now, &contact, false),
            }
        }
    }

    /// The OPTIONS to trunks' SBCs due at `now`, and the unanswered ones past their deadline.
    fn run_sbc_probes(&mut self, now: Time) {
        for due in self.sbc_health.due(now) {
            match due {
                SbcDue::Probe(sbc) => {
                    // A name not resolved yet is not probed: there is nowhere to send it, and
                    // failover skips it anyway (`sbc_dns`).
                    let dest = match &sbc {
                        crate::sip::uri::Uri::Sip(u) => self.sbc_addresses.probe_destination(u),
                        _ => None,
                    };
                    if let Some(dest) = dest {
                        if self.legs.send_sbc_probe(now, &sbc, dest) {
                            self.sbc_health.sent(now, &sbc);
                        }
                    }
                }
                SbcDue::Expired(sbc) => self.sbc_probed(now, &sbc, None, None),
            }
        }
    }

    fn take_sbc_probe_results(&mut self, now: Time) {
        while let Some(p) = self.legs.poll_sbc_probe() {
            self.sbc_probed(now, &p.sbc, p.status, p.retry_after);
        }
    }

    fn sbc_probed(
        &mut self,
        now: Time,
        sbc: &crate::sip::uri::Uri,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) {
        for change in self.sbc_health.outcome(now, sbc, status, retry_after) {
            match change.state {
                SbcState::Down => {
                    tracing::warn!(trunk = %change.trunk, sbc = %change.uri, "trunk SBC down")
                }
                _ => {
                    tracing::info!(trunk = %change.trunk, sbc = %change.uri, state = change.state.as_str(), "trunk SBC state changed")
                }
            }
            self.sbc_changes.push_back(change);
        }
    }

    /// A DNS look-up of a trunk SBC's host name finished (the runtime resolves them, RFC 3263
    /// §4). New addresses are used by the next forward; a failure keeps the last good ones.
    pub fn sbc_resolved(
        &mut self,
        now: Time,
        sbc: &crate::sip::uri::SipUri,
        lookup: DnsLookup,
    ) -> DnsChange {
        let change = self.sbc_addresses.update(sbc, lookup);
        self.admission
            .add_trunk_addresses(self.sbc_addresses.addresses());
        match &change {
            DnsChange::Updated {
                count,
                changed: true,
            } => {
                tracing::info!(%sbc, addresses = count, "trunk SBC resolved")
            }
            DnsChange::Updated { .. } => {}
            DnsChange::KeptLastGood { count, reason } => {
                tracing::warn!(%sbc, %reason, kept = count, "trunk SBC look-up failed; keeping its last addresses")
            }
            DnsChange::Unresolved { reason } => {
                tracing::warn!(%sbc, %reason, "trunk SBC look-up failed; it is skipped until it resolves")
            }
        }
        self.settle(now);
        change
    }

    /// Every health-checked SBC of every trunk: state, round-trip time, Retry-After.
    pub fn trunk_health(&self, now: Time) -> Vec<SbcView> {
        self.sbc_health.view(now)
    }

    /// The next SBC state change (down, up), for the event log.
    pub fn poll_sbc_change(&mut self) -> Option<SbcChange> {
        self.sbc_changes.pop_front()
    }

    /// The probes' outcomes the legs have seen (and INVITEs that got no response at all).
    fn take_probe_results(&mut self, now: Time) {
        while let Some((contact, reachable)) = self.legs.poll_probe_result() {
            // A silent INVITE counts only for a contact that is probed: without probes
            // nothing would ever mark it reachable again.
            if !self.prober.watches(&contact) {
                continue;
            }
            self.prober.resolved(&contact);
            self.contact_probed(now, &contact, reachable);
        }
    }

    /// What a probe found out about `contact`: the engine hears of every agent it brings
    /// online or takes offline.
    fn contact_probed(&mut self, now: Time, contact: &crate::sip::uri::Uri, reachable: bool) {
        for (user, online) in self.locations.set_reachable(contact, reachable) {
            tracing::info!(user = %user, online, "agent reachability changed");
            self.switch
                .engine_mut()
                .set_agent_online(now, &AgentId::from(&user), online);
        }
    }

    /// The runtime could not deliver to `peer` (TCP connect refused, connection reset): every
    /// transaction talking to it fails (RFC 3261 §17.1.1.2 "Transport Err.").
    pub fn handle_transport_error(&mut self, now: Time, peer: Peer) {
        self.legs.handle_transport_error(peer);
        self.settle(now);
    }

    /// Stops taking calls and hangs up every call (graceful shutdown, SIGTERM).
    pub fn shutdown(&mut self, now: Time) {
        // No new probes while draining (those in flight end by themselves, by Timer F at most).
        self.prober = Prober::default();
        self.sbc_health = SbcHealth::default();
        self.legs.shutdown(now);
        self.settle(now);
    }

    /// Whether no call is left (after [`Core::shutdown`], the runtime may exit).
    pub fn is_idle(&self) -> bool {
        self.legs.call_count() == 0
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.legs.poll_transmit()
    }

    /// The next command for the media plane.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.media.pop_front()
    }

    /// The earliest time [`Core::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.legs.poll_timeout(),
            self.switch.poll_timeout(),
            self.prober.poll_timeout(),
            self.sbc_health.poll_timeout(),
            self.registrar.poll_timeout(),
            self.access.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Active calls (for status and leak tests).
    pub fn call_count(&self) -> usize {
        self.legs.call_count()
    }

    /// Agent and forward legs alive (leak tests).
    pub fn leg_count(&self) -> usize {
        self.legs.leg_count()
    }

    /// Live transactions (leak tests).
    pub fn transaction_count(&self) -> usize {
        self.legs.transaction_count()
    }

    /// RTP ports in use (leak tests).
    pub fn ports_in_use(&self) -> usize {
        self.legs.ports_in_use()
    }

    /// Sends an INVITE with our SDP offer to an agent, outside any queue's offer. Returns
    /// `None` (and reports nothing) when the target cannot be reached without DNS or no RTP
    /// port is free.
    pub fn ring_agent(&mut self, now: Time, ring: RingRequest) -> Option<LegHandle> {
        let leg = self.legs.ring_agent(now, ring);
        self.settle(now);
        leg
    }

    /// Stops ringing an agent (§9.1): CANCEL now if it has rung, else as soon as it does.
    /// Ends an answered leg with BYE.
    pub fn cancel_leg(&mut self, now: Time, leg: LegHandle) {
        self.legs.cancel_leg(now, leg);
        self.settle(now);
    }

    /// The media plane gave up on an answered leg (no RTP for the configured time): BYE, and
    /// the bridged caller is hung up when the leg has ended.
    pub fn hang_up_leg(&mut self, now: Time, leg: LegHandle) {
        self.cancel_leg(now, leg);
    }

    /// Hangs up a caller from our side (RTP timeout, queue timeout, an admin): a final
    /// `status` to a ringing INVITE, else BYE. Either carries `Reason: SIP;cause=status` with
    /// `why` (RFC 3326).
    pub fn hang_up_call(&mut self, now: Time, call: CallHandle, status: u16, why: &str) {
        self.legs.hang_up(now, call, status, why);
        self.settle(now);
    }

    /// The media plane started playing a call's greeting, `length` long (zero: it skipped it):
    /// its end is a timer of the core, so it runs on the core's time like every other.
    pub fn greeting_started(&mut self, now: Time, call: CallHandle, length: Duration) {
        self.switch.greeting_started(now, call, length);
        self.settle(now);
    }

    /// Brings everything to rest after an input: the legs' events go to the switch, whose
    /// commands may start new transactions and so new events, until nothing moves.
    fn settle(&mut self, now: Time) {
        // What the legs learnt of the contacts (probe outcomes, silent INVITEs) may take
        // agents offline or bring them back, which moves the engine again.
        loop {
            self.take_probe_results(now);
            self.take_sbc_probe_results(now);
            self.settle_calls(now);
            if !self.legs.has_probe_results() {
                break;
            }
        }
    }

    /// [`Core::settle`] for the calls: legs ⇄ switch until nothing moves.
    fn settle_calls(&mut self, now: Time) {
        let (switch, mut cx) = self.parts(now);
        loop {
            cx.legs.drain_transactions(now);
            let mut busy = false;
            while let Some(event) = cx.legs.poll_event() {
                busy = true;
                switch.on_leg_event(&mut cx, event);
                cx.legs.drain_transactions(now);
            }
            busy |= switch.pump(&mut cx);
            if !busy {
                break;
            }
        }
        cx.flush_media();
    }

    /// The switch, and what a switch step works with (the parts are disjoint fields).
    fn parts(&mut self, now: Time) -> (&mut Switch, Ctx<'_>) {
        let cx = Ctx {
            now,
            legs: &mut self.legs,
            settings: &self.settings,
            locations: &self.locations,
            media: &mut self.media,
            health: &self.sbc_health,
            addresses: &self.sbc_addresses,
        };
        (&mut self.switch, cx)
    }

    /// Applies a new effective configuration for new calls (see `provisioning`): the settings
    /// are swapped whole and the engine's queues and agents updated. Nothing in flight is
    /// rebuilt: calls, legs, rings, forwards and REFERs carry on as they were.
    pub fn reconfigure(&mut self, now: Time, config: &Config) {
        self.settings = Arc::new(Settings::new(config));
        self.legs.reconfigure_transports(config);
        self.legs.reconfigure_srtp(config);
        self.admission.reconfigure(config);
        self.legs.set_session_timer(config.sip.session_timer);
        let dropped = self.registrar.reconfigure(config);
        let engine = self.switch.engine_mut();
        // Agents first, so a new queue's members are known online or not. A removed user is
        // never rung again; the engine keeps the record, offline.
        for (user, online) in self.locations.reconfigure(config) {
            engine.set_agent_online(now, &AgentId::from(&user), online);
        }
        if config.probe.interval.is_none() {
            // Probing turned off: no probe would ever find a silent contact again, so every
            // static contact counts as reachable, as without probes.
            for (user, online) in self.locations.forget_reachability() {
                engine.set_agent_online(now, &AgentId::from(&user), online);
            }
        }
        self.prober.reconfigure(now, config);
        self.sbc_health.reconfigure(now, config);
        self.sbc_addresses.reconfigure(config);
        self.admission
            .add_trunk_addresses(self.sbc_addresses.addresses());
        self.applied.reconfigure(now, config, engine);
        for user in dropped {
            self.log_bindings(now, &user, Cause::Config);
            self.sync_registered(now, &user);
        }
        self.settle(now);
    }

    /// Applies agents' do-not-disturb and opt-outs (at start-up from the store, then whenever
    /// an agent changes them). An agent who can no longer take the call ringing them stops
    /// ringing; calls in progress go on.
    pub fn set_agent_settings(&mut self, now: Time, settings: &AgentSettings) {
        self.applied
            .set_agent_settings(now, settings, self.switch.engine_mut());
        self.settle(now);
    }

    /// The next queue event, with the caller's SIP Call-ID. The runtime drains these into the
    /// event log; a core nobody drains keeps them (tests read them this way).
    pub fn poll_queue_event(&mut self) -> Option<LoggedEvent> {
        self.switch.poll_logged()
    }

    /// The SIP Call-ID of the caller behind an engine call, while the core knows it.
    pub fn queue_call_id(&self, call: QueueCallId) -> Option<&str> {
        let handle = self.switch.call_of(call)?;
        self.legs.call_id(handle)
    }

    /// The queue engine, for status queries.
    pub fn engine(&self) -> &Engine<Target> {
        self.switch.engine()
    }

    /// Final responses sent, by (method, class such as `2xx`). Extension methods count as
    /// `OTHER`, so a peer cannot grow the table without bound.
    pub fn answers(&self) -> &BTreeMap<(String, String), u64> {
        self.legs.answers()
    }

    /// Every caller dialog in progress.
    pub fn calls_view(&self, now: Time) -> Vec<CallView> {
        self.switch.calls_view(now, &self.legs)
    }

    /// The sources banned at `now` (admission control).
    pub fn bans(&self, now: Time) -> Vec<BanView> {
        self.admission.bans(now)
    }

    /// Lifts the ban on `addr`; whether there was one in force.
    pub fn lift_ban(&mut self, now: Time, addr: std::net::IpAddr) -> bool {
        let lifted = self.admission.lift(now, addr);
        if lifted {
            self.access.lifted(now, addr);
        }
        lifted
    }

    /// Bans `addr` for `[limits] ban` (an admin, or a later part that spots abuse).
    pub fn ban(&mut self, now: Time, addr: std::net::IpAddr, reason: BanReason) {
        self.admission.ban(now, addr, reason);
        self.silence_banned(now);
    }

    /// Admission control's counters (bans, dropped datagrams).
    pub fn admission_stats(&self) -> AdmissionStats {
        self.admission.stats()
    }
}

/// The registrar's side of the core: REGISTER, bindings into locations, flows that closed.
impl Core {
    /// Keys the registrar's nonces with `secret` (the runtime keeps one in the store, so
    /// nonces stay good across a restart; tests inject their own).
    pub fn set_registrar_secret(&mut self, secret: &[u8]) {
        self.registrar.set_secret(secret);
    }

    fn on_register(&mut self, now: Time, reg: crate::b2bua::legs::PendingRegister) {
        let answer = self.registrar.handle(now, &reg.req, reg.from);
        self.legs
            .answer_register(now, reg.tx, &reg.req, answer.status, answer.headers);
        if let Some(addr) = answer.authenticated {
            if self.admission_on {
                self.admission.mark_authenticated(now, addr);
            }
        }
        if let Some((addr, period)) = answer.ban {
            self.admission
                .ban_for(now, addr, BanReason::AuthFailures, period);
            self.silence_banned(now);
        }
        if let Some(user) = answer.changed {
            self.log_bindings(now, &user, Cause::Register);
            self.sync_registered(now, &user);
        }
    }

    /// Tells locations (and through them the engine) where `user` is registered now.
    fn sync_registered(&mut self, now: Time, user: &crate::config::UserId) {
        let targets = self
            .registrar
            .bindings(user, now)
            .into_iter()
            .map(|b| RingTarget {
                uri: b.contact.uri.clone(),
                dest: Some(b.source),
                route: b.path.clone(),
            })
            .collect();
        self.registration_changes.insert(user.clone());
        if let Some(online) = self.locations.set_registered(user, targets) {
            tracing::info!(user = %user, online, "agent presence from registrations");
            self.switch
                .engine_mut()
                .set_agent_online(now, &AgentId::from(user), online);
            self.settle(now);
        }
    }

    /// A stream connection closed (the runtime's `Closed`): bindings registered over it are
    /// dropped, as nothing can reach them any more (RFC 5626 §5.3).
    pub fn connection_closed(&mut self, now: Time, conn: crate::sip::transport::ConnId) {
        for user in self.registrar.flow_closed(conn) {
            self.log_bindings(now, &user, Cause::FlowClosed);
            self.sync_registered(now, &user);
        }
    }

    /// The live bindings of `user`, in order (the admin API's registrations).
    pub fn registrations(&self, now: Time, user: &crate::config::UserId) -> Vec<Binding> {
        self.registrar
            .bindings(user, now)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Removes binding `index` of `user` (the admin API); whether there was one.
    pub fn remove_registration(
        &mut self,
        now: Time,
        user: &crate::config::UserId,
        index: usize,
    ) -> bool {
        let removed = self.registrar.remove(now, user, index);
        if removed {
            self.log_bindings(now, user, Cause::Admin);
            self.sync_registered(now, user);
        }
        removed
    }

    /// Puts back bindings stored before a restart (expired ones are left out).
    pub fn restore_registrations(
        &mut self,
        now: Time,
        user: &crate::config::UserId,
        bindings: Vec<Binding>,
    ) {
        if self.registrar.restore(now, user, bindings) {
            self.log_bindings(now, user, Cause::Restore);
            self.sync_registered(now, user);
            self.registration_changes.remove(user);
        } else {
            // A user who can no longer register (or whose bindings all expired): the store
            // forgets them too.
            self.registration_changes.insert(user.clone());
        }
    }

    /// A user whose bindings changed since the last call, for the store.
    pub fn poll_registration_change(&mut self) -> Option<crate::config::UserId> {
        self.registration_changes.pop_first()
    }

    /// Users registered and bindings in all (gauges), and the registrar's counters.
    pub fn registrar_stats(&self) -> (usize, usize, RegistrarStats) {
        let (users, bindings) = self.registrar.counts();
        (users, bindings, self.registrar.stats())
    }
}

/// The registration and ban events of the event log (see `access_log`).
impl Core {
    /// Logs what changed in `user`'s bindings for `cause` (before locations hear of it).
    fn log_bindings(&mut self, now: Time, user: &crate::config::UserId, cause: Cause) {
        let current = self.registrar.bindings(user, now);
        self.access.bindings(now, user, &current, cause);
    }

    /// The next registration or ban event. The runtime drains these into the event log; a
    /// core nobody drains keeps the latest ones (tests read them this way).
    pub fn poll_access_event(&mut self) -> Option<AccessEvent> {
        self.access.poll()
    }
}
