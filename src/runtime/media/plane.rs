//! [`MediaPlane`], the handle the core task drives: it binds a party's sockets, hands its
//! stream to the least loaded pacer shard, spawns its receive task, and carries out what the
//! sans-IO [`Sessions`] decides for each start, re-negotiation, bridge and end (the negotiated
//! SDP converted into `rtp::session`'s terms here, at the edge).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::receive::{self, CallShared, Drops};
use super::shard::{self, Command, SendKeys, Shard};
use super::sockets::Sockets;
use super::{CallPrompts, MediaEvent, MediaPlaneConfig, Party};
use crate::b2bua::{CallHandle, LegHandle};
use crate::rtp::budget::SendBudget;
use crate::rtp::inbound::Inbound;
use crate::rtp::relay::{RelayBuffer, RelayQueue, Tap};
use crate::rtp::session::{Media, Sessions, Wiring};
use crate::rtp::srtp::{Keying, Protector, Suite, Unprotector};
use crate::rtp::stream::{Law, OutgoingStream, Playlist, Source};
use crate::runtime::clock::Clock;
use crate::sip::sdp::{Codec, CryptoSuite, MasterKey, NegotiatedMedia, SdesKeys};

/// The media plane's IO for one party.
struct CallEntry {
    shard: usize,
    prompts: CallPrompts,
    shared: Arc<CallShared>,
    receiver: JoinHandle<()>,
    /// While bridged: the queue this party's stream plays (the other side's media).
    inbox: Option<RelayBuffer>,
    /// The SRTP keys in force (`None`: plain RTP); a re-negotiation that keeps them keeps
    /// the contexts too, and with them the rollover counters (RFC 3711 §3.3.1).
    srtp: Option<SdesKeys>,
}

/// The handle to the media plane.
pub struct MediaPlane {
    config: MediaPlaneConfig,
    clock: Clock,
    shards: Vec<std::sync::mpsc::Sender<Command>>,
    load: Vec<usize>,
    calls: HashMap<Party, CallEntry>,
    sessions: Sessions<CallHandle, LegHandle>,
    events: mpsc::UnboundedSender<MediaEvent>,
    rng: SmallRng,
    /// RTP and RTCP packets strict RTP dropped for their source, and SRTP packets that
    /// failed authentication, every party together.
    drops: Arc<Drops>,
}

impl MediaPlane {
    /// Starts the shard threads (inside a tokio runtime) on a clock of its own and returns the
    /// handle and its events.
    pub fn start(config: MediaPlaneConfig) -> (MediaPlane, mpsc::UnboundedReceiver<MediaEvent>) {
        MediaPlane::start_on(config, Clock::start())
    }

    /// [`Self::start`] on the server's clock, so the pacers share the core's epoch.
    pub fn start_on(
        config: MediaPlaneConfig,
        clock: Clock,
    ) -> (MediaPlane, mpsc::UnboundedReceiver<MediaEvent>) {
        let count = match config.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let shards = (0..count)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                let shard = Shard::new(clock, config.tick, config.max_burst);
                shard::spawn(i, shard, rx, config.realtime);
                tx
            })
            .collect();
        let (events, events_rx) = mpsc::unbounded_channel();
        let plane = MediaPlane {
            config,
            clock,
            shards,
            load: vec![0; count],
            calls: HashMap::new(),
            sessions: Sessions::new(),
            events,
            rng: SmallRng::from_entropy(),
            drops: Arc::default(),
        };
        (plane, events_rx)
    }

    /// Binds the call's RTP port and the RTCP port above it and starts receiving; sends per
    /// `media` (nothing until it is known, for a late offer).
    pub fn start_call(
        &mut self,
        call: CallHandle,
        rtp_port: u16,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        self.start_binding(Party::Caller(call), rtp_port, media, prompts);
    }

    /// [`Self::start_call`] on RTP and RTCP sockets bound already (the runtime binds a call's
    /// ports when it allocates them, before they are advertised in SDP). They must be
    /// non-blocking.
    pub fn start_call_bound(
        &mut self,
        call: CallHandle,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        let sockets = Sockets { rtp, rtcp };
        self.start_party(Party::Caller(call), sockets, media, prompts);
    }

    /// An agent answered on `leg`: binds its port pair and starts its media (silence until it
    /// is bridged).
    pub fn start_leg(&mut self, leg: LegHandle, rtp_port: u16, media: NegotiatedMedia) {
        let silence = CallPrompts::silence();
        self.start_binding(Party::Agent(leg), rtp_port, Some(media), silence);
    }

    /// [`Self::start_leg`] on sockets bound already (non-blocking).
    pub fn start_leg_bound(
        &mut self,
        leg: LegHandle,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        media: NegotiatedMedia,
    ) {
        let sockets = Sockets { rtp, rtcp };
        let silence = CallPrompts::silence();
        self.start_party(Party::Agent(leg), sockets, Some(media), silence);
    }

    fn start_binding(
        &mut self,
        party: Party,
        rtp_port: u16,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        match Sockets::bind(self.config.bind_ip, rtp_port) {
            Ok(sockets) => self.start_party(party, sockets, media, prompts),
            Err((err, port)) => {
                tracing::warn!(%err, port, ?party, "could not bind media port");
                let _ = self.events.send(MediaEvent::bind_failed(party, port));
            }
        }
    }

    fn start_party(
        &mut self,
        party: Party,
        sockets: Sockets,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        if self.calls.contains_key(&party) {
            self.stop(party);
        }
        let rtp_port = sockets.port();
        let receivers = sockets
            .try_clone()
            .and_then(|send| Ok((send, sockets.into_receivers()?)));
        let (send, receivers) = match receivers {
            Ok(both) => both,
            Err(err) => {
                tracing::warn!(%err, ?party, "could not set up media sockets");
                let _ = self.events.send(MediaEvent::bind_failed(party, rtp_port));
                return;
            }
        };
        let setup = self.sessions.start(party, media.as_ref().map(media_of));
        let now = self.clock.now();
        let mut inbound = Inbound::new(now, self.config.inbound, setup.expect);
        inbound.signal(setup.target.rtp, setup.target.rtcp);
        // A caller's address is unproven until its ACK or its RTP; an agent answered the
        // INVITE we sent to its contact.
        let budget = match party {
            Party::Caller(_) => SendBudget::new(now, self.config.unproven_media),
            Party::Agent(_) => SendBudget::proven(),
        };
        let shared = Arc::new(CallShared::new(
            inbound,
            // RFC 7022 §4.2: a random CNAME per session, so calls cannot be linked.
            format!("{:016x}@holdline", self.rng.gen::<u64>()),
        ));
        let srtp_keys = media.as_ref().and_then(|m| m.srtp.clone());
        let (send_keys, receive_keys) = contexts(party, srtp_keys.as_ref());
        shared.set_srtp(receive_keys);
        let (greeting, music) = prompts.buffers(setup.format.law);
        let stream = OutgoingStream::new(
            &mut self.rng,
            setup.format,
            Source::Playlist(Playlist::new(greeting, music)),
        );
        let shard = self.pick_shard();
        let _ = self.shards[shard].send(Command::Add {
            party,
            stream,
            sockets: send,
            shared: shared.clone(),
            target: setup.target,
            budget,
            srtp: send_keys,
        });
        let receiver = tokio::spawn(receive::receive(
            party,
            receivers,
            shared.clone(),
            self.clock,
            self.shards[shard].clone(),
            self.events.clone(),
            self.drops.clone(),
        ));
        self.load[shard] += 1;
        let entry = CallEntry {
            shard,
            prompts,
            shared,
            receiver,
            inbox: None,
            srtp: srtp_keys,
        };
        self.calls.insert(party, entry);
        // A bridge that waited for this side's stream.
        self.wire();
    }

    /// A new offer/answer outcome: hold (`sendonly`/`inactive`/`c=0.0.0.0` from the caller
    /// pauses sending), resume, a new remote address, codec or packet time.
    pub fn update_media(&mut self, call: CallHandle, media: NegotiatedMedia) {
        self.update_party(Party::Caller(call), media);
    }

    /// The agent re-negotiated: a hold from the agent plays music to the caller again.
    pub fn update_leg_media(&mut self, leg: LegHandle, media: NegotiatedMedia) {
        self.update_party(Party::Agent(leg), media);
    }

    fn update_party(&mut self, party: Party, media: NegotiatedMedia) {
        let Some(mut setup) = self.sessions.update(party, media_of(&media)) else {
            return;
        };
        if let Some(entry) = self.calls.get_mut(&party) {
            if entry.srtp != media.srtp {
                // New keys (or SRTP starting or ending, a late offer's answer): new contexts,
                // before the format change so no packet goes out under the old keys after it.
                // A side whose key stayed keeps its context, and with it its rollover counter
                // and replay window (RFC 3711 §3.3.1: a fresh context after 65,536 packets
                // would guess the wrong index and every packet would fail).
                let (old, new) = (entry.srtp.as_ref(), media.srtp.as_ref());
                let send_changed = side(old, true) != side(new, true);
                let receive_changed = side(old, false) != side(new, false);
                let (send, receive) = contexts(party, media.srtp.as_ref());
                if receive_changed {
                    entry.shared.set_srtp(receive);
                }
                if send_changed {
                    let _ = self.shards[entry.shard].send(Command::Rekey { party, srtp: send });
                }
                entry.srtp = media.srtp.clone();
            }
        }
        if let Some(entry) = self.calls.get(&party) {
            let buffers = setup
                .law_changed
                .then(|| entry.prompts.buffers(setup.format.law));
            {
                let mut inbound = entry.shared.lock();
                inbound.set_expect(self.clock.now(), setup.expect);
                // Strict RTP decides whether the latch starts over (a first address after a
                // late offer too); the shard forgets its latch with it.
                if inbound.signal(setup.target.rtp, setup.target.rtcp) {
                    setup.target.reset_latch = true;
                } else if setup.target.reset_latch {
                    inbound.reset_latch();
                }
            }
            entry.shared.changed.notify_one();
            let _ = self.shards[entry.shard].send(Command::Update {
                party,
                format: setup.format,
                buffers,
                target: setup.target,
            });
        }
        self.wire();
    }

    /// The caller ACKed our 200: its address is proven, its media is no longer bounded.
    pub fn confirm(&mut self, call: CallHandle) {
        let party = Party::Caller(call);
        if let Some(entry) = self.calls.get(&party) {
            let _ = self.shards[entry.shard].send(Command::Proven { party });
        }
    }

    /// RTP and RTCP packets strict RTP dropped for their source since the start.
    pub fn dropped_foreign(&self) -> u64 {
        self.drops.foreign.load(Ordering::Relaxed)
    }

    /// SRTP and SRTCP packets dropped for failed authentication or replay since the start.
    pub fn srtp_refused(&self) -> u64 {
        self.drops.srtp.load(Ordering::Relaxed)
    }

    /// Connects the caller and the agent leg both ways (now, or as soon as both have media).
    pub fn bridge(&mut self, call: CallHandle, leg: LegHandle) {
        self.sessions.bridge(call, leg);
        self.wire();
    }

    /// Disconnects a bridge: the caller hears its music again.
    pub fn unbridge(&mut self, call: CallHandle) {
        self.sessions.unbridge(call);
        self.wire();
    }

    /// Stops the call's media: RTCP BYE, sockets closed. The returned task finishes once both
    /// ports are free again (await it to rebind them at once; dropping it is fine).
    pub fn end_call(&mut self, call: CallHandle) -> Option<JoinHandle<()>> {
        self.end(Party::Caller(call))
    }

    /// Stops an agent leg's media; a caller bridged to it hears music again.
    pub fn end_leg(&mut self, leg: LegHandle) -> Option<JoinHandle<()>> {
        self.end(Party::Agent(leg))
    }

    fn end(&mut self, party: Party) -> Option<JoinHandle<()>> {
        self.sessions.end(party);
        self.wire();
        self.stop(party)
    }

    /// Carries out the sessions' wiring decisions on the parties' queues, taps and streams.
    fn wire(&mut self) {
        while let Some(step) = self.sessions.poll_wiring() {
            match step {
                Wiring::Inbox {
                    party,
                    law,
                    dtmf_payload_type: dtmf,
                } => {
                    if let Some(entry) = self.calls.get_mut(&party) {
                        let new = || RelayBuffer::new(RelayQueue::new(law, dtmf));
                        entry
                            .inbox
                            .get_or_insert_with(new)
                            .lock()
                            .set_output(law, dtmf);
                    }
                }
                Wiring::Tap { party, into, read } => {
                    let to = into
                        .and_then(|p| self.calls.get(&p))
                        .and_then(|e| e.inbox.clone());
                    if let Some(entry) = self.calls.get(&party) {
                        *entry.shared.tap() = to.map(|to| Tap {
                            to,
                            payload_type: read.payload_type,
                            law: read.law,
                            dtmf_payload_type: read.dtmf_payload_type,
                        });
                    }
                }
                Wiring::Play { party, relay } => {
                    if let Some(entry) = self.calls.get(&party) {
                        let relay = entry.inbox.clone().filter(|_| relay);
                        let _ = self.shards[entry.shard].send(Command::Play { party, relay });
                    }
                }
                Wiring::DropInbox { party } => {
                    if let Some(entry) = self.calls.get_mut(&party) {
                        entry.inbox = None;
                    }
                }
            }
        }
    }

    fn stop(&mut self, party: Party) -> Option<JoinHandle<()>> {
        let entry = self.calls.remove(&party)?;
        self.load[entry.shard] = self.load[entry.shard].saturating_sub(1);
        let (done, removed) = oneshot::channel();
        let _ = self.shards[entry.shard].send(Command::Remove { party, done });
        entry.receiver.abort();
        Some(tokio::spawn(async move {
            let _ = removed.await;
            let _ = entry.receiver.await;
        }))
    }

    /// Callers with media.
    pub fn call_count(&self) -> usize {
        self.calls
            .keys()
            .filter(|p| matches!(p, Party::Caller(_)))
            .count()
    }

    /// Agent legs with media.
    pub fn leg_count(&self) -> usize {
        self.calls.len() - self.call_count()
    }

    fn pick_shard(&self) -> usize {
        (0..self.load.len())
            .min_by_key(|&i| self.load[i])
            .unwrap_or(0)
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        for entry in self.calls.values() {
            entry.receiver.abort();
        }
    }
}

/// One direction's suite and key: ours (what we send) or theirs.
fn side(keys: Option<&SdesKeys>, ours: bool) -> Option<(CryptoSuite, &MasterKey)> {
    keys.map(|k| (k.suite, if ours { &k.ours } else { &k.theirs }))
}

/// SDES keys in RTP's terms.
fn keying(suite: CryptoSuite, key: &MasterKey) -> Keying<'_> {
    Keying {
        suite: match suite {
            CryptoSuite::AesCm128HmacSha1_80 => Suite::AesCm128HmacSha1_80,
            CryptoSuite::AesCm128HmacSha1_32 => Suite::AesCm128HmacSha1_32,
        },
        key: key.key(),
        salt: key.salt(),
    }
}

/// The SRTP contexts for negotiated keys: ours protect what the shard sends, the peer's open
/// what the receive task gets. A key the library refuses leaves the stream without media
/// rather than sending it in the clear.
fn contexts(party: Party, keys: Option<&SdesKeys>) -> (Option<Box<SendKeys>>, Option<Unprotector>) {
    let Some(keys) = keys else {
        return (None, None);
    };
    let ours = keying(keys.suite, &keys.ours);
    let made = Protector::new(ours).and_then(|rtp| {
        Ok(SendKeys {
            rtp,
            rtcp: Protector::new(ours)?,
        })
    });
    let theirs = Unprotector::new(keying(keys.suite, &keys.theirs));
    match (made, theirs) {
        (Ok(send), Ok(receive)) => (Some(Box::new(send)), Some(receive)),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!(?party, %err, "SRTP keys refused; the stream stays silent");
            let send = SendKeys {
                rtp: Protector::refusing(),
                rtcp: Protector::refusing(),
            };
            (Some(Box::new(send)), Some(Unprotector::refusing()))
        }
    }
}

/// Negotiated SDP in RTP's terms.
fn media_of(m: &NegotiatedMedia) -> Media {
    Media {
        remote: m.remote,
        remote_rtcp: m.remote_rtcp,
        law: match m.codec {
            Codec::Pcmu => Law::Ulaw,
            Codec::Pcma => Law::Alaw,
        },
        payload_type: m.payload_type,
        dtmf_payload_type: m.dtmf_payload_type,
        ptime_ms: m.ptime_ms,
        send: m.direction.sends(),
        receive: m.direction.receives(),
        held: m.hold,
    }
}
