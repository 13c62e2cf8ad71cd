//! The media plane's IO: RTP/RTCP sockets per call, pacer shard tasks, receive tasks.
//!
//! [`MediaPlane`] is the handle the core task drives with answered, updated and ended calls
//! (`start_call`, `update_media`, `end_call`); it reports DTMF, RTP timeouts and bind failures
//! as [`MediaEvent`]s. Underneath (DESIGN.md §2 "Media plane"):
//!
//! - **Shards**: one thread per core, each owning a sans-IO [`crate::rtp::pacer::Pacer`] for its
//!   share of the calls. No timer per stream: a shard wakes at its next deadline (on a 2 ms
//!   grid) and sends every due packet. See [`shard`].
//! - **Per call**: an RTP socket on the call's even port and an RTCP socket on the next one
//!   (RFC 3550 §11), bound on the configured IP. A receive task drains both, feeds the sans-IO
//!   [`Inbound`] (symmetric-RTP latching, statistics, DTMF) and watches the RTP timeout. The
//!   shard sends on duplicates of the same sockets, so RTP leaves from the port the caller
//!   sends to (symmetric RTP, RFC 4961).
//! - **Ports are never leaked**: `end_call` removes the stream (sending the RTCP BYE), aborts
//!   the receive task and resolves once every descriptor of both sockets is closed.
//!
//! - **Bridges**: an answered agent leg is a second [`Party`] with its own ports, stream and
//!   receive task. Once bridged, each side's receive task pushes what it gets into a
//!   [`RelayQueue`] that the *other* side's stream plays from (see [`crate::rtp::relay`]):
//!   the caller keeps one SSRC and continuous seq/ts from greeting to music to the agent's
//!   voice, PCMU ⇄ PCMA is transcoded, telephone-events are relayed. When the agent holds the
//!   caller (its SDP says `sendonly`/`inactive`), the caller's stream goes back to its music,
//!   from where it left off, and to the agent's voice on resume.
//!
//! Not here: deciding what to play (the core passes [`CallPrompts`]) and whom to bridge,
//! turning an RTP timeout into a BYE (the core does, with a Reason header).
#![allow(clippy::disallowed_methods)] // The IO edge is where the clock is read.

mod shard;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::shard::{Buffers, Command, Shard, Sockets, Target};
use crate::b2bua::{CallHandle, LegHandle};
use crate::config::Config;
use crate::rtp::inbound::{Expect, Inbound, InboundConfig};
use crate::rtp::relay::{RelayBuffer, RelayQueue, Tap};
use crate::rtp::stream::{Format, Law, OutgoingStream, Playlist, Source};
use crate::sip::sdp::{Codec, NegotiatedMedia};
use crate::time::Time;

/// How the media plane runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPlaneConfig {
    /// The address RTP and RTCP sockets bind to.
    pub bind_ip: IpAddr,
    /// Symmetric RTP and the RTP timeout.
    pub inbound: InboundConfig,
    /// Pacer shards; 0: one per available core.
    pub shards: usize,
    /// The shards' tick: streams start on multiples of it. Must divide 10 ms to keep every
    /// packet time on the grid.
    pub tick: Duration,
    /// Packets a stream may send back to back after a stall.
    pub max_burst: u32,
    /// Real-time priority (SCHED_FIFO) for the pacer threads, where allowed.
    pub realtime: bool,
}

impl Default for MediaPlaneConfig {
    fn default() -> Self {
        MediaPlaneConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            inbound: InboundConfig::default(),
            shards: 0,
            tick: Duration::from_millis(2),
            max_burst: crate::rtp::pacer::DEFAULT_MAX_BURST,
            realtime: false,
        }
    }
}

impl MediaPlaneConfig {
    /// From `[rtp]`, binding where the first SIP listener binds.
    pub fn from_config(config: &Config) -> MediaPlaneConfig {
        MediaPlaneConfig {
            bind_ip: config
                .sip
                .listen
                .first()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |l| l.addr.ip()),
            inbound: InboundConfig {
                symmetric: config.rtp.symmetric,
                timeout: config.rtp.timeout,
            },
            realtime: config.rtp.realtime,
            ..MediaPlaneConfig::default()
        }
    }
}

/// One prompt, G.711-encoded in both laws (the same samples, so positions match).
pub use crate::audio::Prompt;

/// What a caller hears: the greeting once, then music looped.
#[derive(Clone, Debug)]
pub struct CallPrompts {
    pub greeting: Option<Prompt>,
    pub music: Prompt,
}

impl CallPrompts {
    /// Silence only (no prompt loaded): empty music plays G.711 silence.
    pub fn silence() -> CallPrompts {
        let empty: Arc<[u8]> = Arc::from([]);
        CallPrompts {
            greeting: None,
            music: Prompt {
                ulaw: empty.clone(),
                alaw: empty,
                duration: Duration::ZERO,
            },
        }
    }

    fn buffers(&self, law: Law) -> Buffers {
        (
            self.greeting.as_ref().map(|g| g.samples(law).clone()),
            self.music.samples(law).clone(),
        )
    }
}

/// Whose media a stream and its ports carry: a caller's, or an agent leg's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    Caller(CallHandle),
    Agent(LegHandle),
}

/// What the media plane tells the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller pressed a key (RFC 4733).
    Dtmf { call: CallHandle, digit: char },
    /// No media from the caller for the configured time: hang up (BYE with a Reason header).
    RtpTimeout { call: CallHandle },
    /// The call's RTP or RTCP port could not be bound; it has no media.
    BindFailed { call: CallHandle, port: u16 },
    /// No media from an answered agent leg for the configured time: hang the leg up.
    LegRtpTimeout { leg: LegHandle },
    /// An agent leg's port could not be bound; it has no media.
    LegBindFailed { leg: LegHandle, port: u16 },
}

impl MediaEvent {
    fn timeout(party: Party) -> MediaEvent {
        match party {
            Party::Caller(call) => MediaEvent::RtpTimeout { call },
            Party::Agent(leg) => MediaEvent::LegRtpTimeout { leg },
        }
    }

    fn bind_failed(party: Party, port: u16) -> MediaEvent {
        match party {
            Party::Caller(call) => MediaEvent::BindFailed { call, port },
            Party::Agent(leg) => MediaEvent::LegBindFailed { leg, port },
        }
    }
}

/// Maps the tokio clock onto the cores' [`Time`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    fn now(&self) -> Time {
        Time::from_epoch(Instant::now().saturating_duration_since(self.epoch))
    }

    fn instant(&self, t: Time) -> Instant {
        self.epoch + t.since_epoch()
    }
}

/// Receive state shared by a call's receive task and its shard (for RTCP report blocks).
pub(crate) struct CallShared {
    inbound: Mutex<Inbound>,
    /// While bridged: where the media this party sends us goes (the other side's queue).
    tap: Mutex<Option<Tap>>,
    /// Wakes the receive task when the expectations change (its timeout deadline moved).
    changed: Notify,
    cname: String,
}

impl CallShared {
    fn lock(&self) -> MutexGuard<'_, Inbound> {
        // A panic elsewhere must not take the media of every call down with it.
        self.inbound.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tap(&self) -> MutexGuard<'_, Option<Tap>> {
        self.tap.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct CallEntry {
    shard: usize,
    prompts: CallPrompts,
    media: Option<NegotiatedMedia>,
    /// The last SDP address we were given (a hold with `c=0.0.0.0` does not forget it).
    last_remote: Option<SocketAddr>,
    shared: Arc<CallShared>,
    receiver: JoinHandle<()>,
    /// While bridged: the queue this party's stream plays (the other side's media).
    inbox: Option<RelayBuffer>,
}

/// The handle to the media plane.
pub struct MediaPlane {
    config: MediaPlaneConfig,
    clock: Clock,
    shards: Vec<std::sync::mpsc::Sender<Command>>,
    load: Vec<usize>,
    calls: HashMap<Party, CallEntry>,
    /// Callers bridged to an agent leg (both ends may not have media yet).
    bridges: HashMap<CallHandle, LegHandle>,
    events: mpsc::UnboundedSender<MediaEvent>,
    rng: SmallRng,
}

impl MediaPlane {
    /// Starts the shard tasks (inside a tokio runtime) and returns the handle and its events.
    pub fn start(config: MediaPlaneConfig) -> (MediaPlane, mpsc::UnboundedReceiver<MediaEvent>) {
        let clock = Clock {
            epoch: Instant::now(),
        };
        let count = match config.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let shards = (0..count)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                let shard = Shard::new(clock, config.tick, config.max_burst);
                spawn_shard(i, shard, rx, config.realtime);
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
            bridges: HashMap::new(),
            events,
            rng: SmallRng::from_entropy(),
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
        self.start_party(Party::Caller(call), rtp, rtcp, media, prompts);
    }

    /// An agent answered on `leg`: binds its port pair and starts its media (silence until it
    /// is bridged).
    pub fn start_leg(&mut self, leg: LegHandle, rtp_port: u16, media: NegotiatedMedia) {
        self.start_binding(
            Party::Agent(leg),
            rtp_port,
            Some(media),
            CallPrompts::silence(),
        );
    }

    /// [`Self::start_leg`] on sockets bound already (non-blocking).
    pub fn start_leg_bound(
        &mut self,
        leg: LegHandle,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        media: NegotiatedMedia,
    ) {
        self.start_party(
            Party::Agent(leg),
            rtp,
            rtcp,
            Some(media),
            CallPrompts::silence(),
        );
    }

    fn start_binding(
        &mut self,
        party: Party,
        rtp_port: u16,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        let ip = self.config.bind_ip;
        let bound =
            bind(ip, rtp_port).and_then(|rtp| Ok((rtp, bind(ip, rtp_port.wrapping_add(1))?)));
        let (rtp, rtcp) = match bound {
            Ok(pair) => pair,
            Err((err, port)) => {
                tracing::warn!(%err, port, ?party, "could not bind media port");
                let _ = self.events.send(MediaEvent::bind_failed(party, port));
                return;
            }
        };
        self.start_party(party, rtp, rtcp, media, prompts);
    }

    fn start_party(
        &mut self,
        party: Party,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        media: Option<NegotiatedMedia>,
        prompts: CallPrompts,
    ) {
        if self.calls.contains_key(&party) {
            self.stop(party);
        }
        let rtp_port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let sockets = match dup_pair(&rtp, &rtcp) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%err, ?party, "could not set up media sockets");
                let _ = self.events.send(MediaEvent::bind_failed(party, rtp_port));
                return;
            }
        };
        let (rtp, rtcp) = match (RecvSocket::new(rtp), RecvSocket::new(rtcp)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                let _ = self.events.send(MediaEvent::bind_failed(party, rtp_port));
                return;
            }
        };

        let now = self.clock.now();
        let format = format_of(media.as_ref());
        let shared = Arc::new(CallShared {
            inbound: Mutex::new(Inbound::new(
                now,
                self.config.inbound,
                expect_of(media.as_ref()),
            )),
            tap: Mutex::new(None),
            changed: Notify::new(),
            // RFC 7022 §4.2: a random CNAME per session, so calls cannot be linked.
            cname: format!("{:016x}@holdline", self.rng.gen::<u64>()),
        });
        let (greeting, music) = prompts.buffers(format.law);
        let stream = OutgoingStream::new(
            &mut self.rng,
            format,
            Source::Playlist(Playlist::new(greeting, music)),
        );
        let shard = self.pick_shard();
        let target = target_of(media.as_ref(), false);
        let _ = self.shards[shard].send(Command::Add {
            party,
            stream,
            sockets,
            shared: shared.clone(),
            target,
        });
        let receiver = tokio::spawn(receive(
            party,
            rtp,
            rtcp,
            shared.clone(),
            self.clock,
            self.shards[shard].clone(),
            self.events.clone(),
        ));
        self.load[shard] += 1;
        self.calls.insert(
            party,
            CallEntry {
                shard,
                prompts,
                last_remote: media.as_ref().and_then(|m| m.remote),
                media,
                shared,
                receiver,
                inbox: None,
            },
        );
        if let Some(call) = self.bridged_call(party) {
            self.refresh_bridge(call);
        }
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
        let Some(entry) = self.calls.get_mut(&party) else {
            return;
        };
        let now = self.clock.now();
        let old_law = format_of(entry.media.as_ref()).law;
        // A new SDP address means the peer moved (a transfer, a new SBC leg): the latched
        // source belongs to the old one, so latch afresh.
        let moved = match (entry.last_remote, media.remote) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        };
        entry.last_remote = media.remote.or(entry.last_remote);
        let format = format_of(Some(&media));
        let buffers = (format.law != old_law).then(|| entry.prompts.buffers(format.law));
        {
            let mut inbound = entry.shared.lock();
            inbound.set_expect(now, expect_of(Some(&media)));
            if moved {
                inbound.reset_latch();
            }
        }
        entry.shared.changed.notify_one();
        let _ = self.shards[entry.shard].send(Command::Update {
            party,
            format,
            buffers,
            target: target_of(Some(&media), moved),
        });
        entry.media = Some(media);
        if let Some(call) = self.bridged_call(party) {
            self.refresh_bridge(call);
        }
    }

    /// Connects the caller and the agent leg both ways (now, or as soon as both have media).
    pub fn bridge(&mut self, call: CallHandle, leg: LegHandle) {
        if let Some(old) = self.bridges.insert(call, leg) {
            if old != leg {
                self.detach(Party::Agent(old));
            }
        }
        self.refresh_bridge(call);
    }

    /// Disconnects a bridge: the caller hears its music again.
    pub fn unbridge(&mut self, call: CallHandle) {
        let Some(leg) = self.bridges.remove(&call) else {
            return;
        };
        self.detach(Party::Caller(call));
        self.detach(Party::Agent(leg));
    }

    /// Stops the call's media: RTCP BYE, sockets closed. The returned task finishes once both
    /// ports are free again (await it to rebind them at once; dropping it is fine).
    pub fn end_call(&mut self, call: CallHandle) -> Option<JoinHandle<()>> {
        self.unbridge(call);
        self.stop(Party::Caller(call))
    }

    /// Stops an agent leg's media; a caller bridged to it hears music again.
    pub fn end_leg(&mut self, leg: LegHandle) -> Option<JoinHandle<()>> {
        if let Some(call) = self.bridged_call(Party::Agent(leg)) {
            self.unbridge(call);
        }
        self.stop(Party::Agent(leg))
    }

    /// The caller of the bridge `party` belongs to.
    fn bridged_call(&self, party: Party) -> Option<CallHandle> {
        match party {
            Party::Caller(call) => self.bridges.contains_key(&call).then_some(call),
            Party::Agent(leg) => self
                .bridges
                .iter()
                .find(|(_, l)| **l == leg)
                .map(|(c, _)| *c),
        }
    }

    /// (Re)wires a bridge from both sides' current media: each side's queue in its own law,
    /// each side's tap reading its own payload types, and the caller's source (the agent's
    /// voice, or music while the agent holds the caller).
    fn refresh_bridge(&mut self, call: CallHandle) {
        let Some(&leg) = self.bridges.get(&call) else {
            return;
        };
        let (caller, agent) = (Party::Caller(call), Party::Agent(leg));
        if !self.calls.contains_key(&caller) || !self.calls.contains_key(&agent) {
            return;
        }
        let (Some(to_caller), Some(to_agent)) = (self.inbox(caller), self.inbox(agent)) else {
            return;
        };
        let agent_holds = self
            .calls
            .get(&agent)
            .and_then(|e| e.media.as_ref())
            .is_some_and(|m| m.hold);
        // While the agent holds, whatever its phone sends (its own music) is not relayed.
        let to_caller = (!agent_holds).then_some(to_caller);
        self.set_tap(agent, to_caller.clone());
        self.set_tap(caller, Some(to_agent.clone()));
        self.play(caller, to_caller);
        self.play(agent, Some(to_agent));
    }

    /// The queue `party`'s stream plays while bridged, in its current law.
    fn inbox(&mut self, party: Party) -> Option<RelayBuffer> {
        let entry = self.calls.get_mut(&party)?;
        let format = format_of(entry.media.as_ref());
        let dtmf = entry.media.as_ref().and_then(|m| m.dtmf_payload_type);
        let inbox = entry
            .inbox
            .get_or_insert_with(|| RelayBuffer::new(RelayQueue::new(format.law, dtmf)));
        inbox.lock().set_output(format.law, dtmf);
        Some(inbox.clone())
    }

    /// Points `party`'s received media at `to` (`None`: nowhere).
    fn set_tap(&mut self, party: Party, to: Option<RelayBuffer>) {
        let Some(entry) = self.calls.get(&party) else {
            return;
        };
        let tap = to.map(|to| {
            let format = format_of(entry.media.as_ref());
            Tap {
                to,
                payload_type: format.payload_type,
                law: format.law,
                dtmf_payload_type: entry.media.as_ref().and_then(|m| m.dtmf_payload_type),
            }
        });
        *entry.shared.tap() = tap;
    }

    /// `party`'s stream plays `relay`, or its own prompts again with `None`.
    fn play(&mut self, party: Party, relay: Option<RelayBuffer>) {
        let Some(entry) = self.calls.get(&party) else {
            return;
        };
        let _ = self.shards[entry.shard].send(Command::Play { party, relay });
    }

    /// Takes `party` out of its bridge: no taps, its own prompts again, a fresh queue next time.
    fn detach(&mut self, party: Party) {
        self.set_tap(party, None);
        self.play(party, None);
        if let Some(entry) = self.calls.get_mut(&party) {
            entry.inbox = None;
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

/// Runs a shard on its own thread, so a burst of SIP work on the runtime's workers cannot
/// delay packets. The thread needs no async runtime: it sends on plain non-blocking sockets and
/// sleeps on its command channel until the next deadline (see [`Shard::run`]).
fn spawn_shard(
    index: usize,
    shard: Shard,
    commands: std::sync::mpsc::Receiver<Command>,
    realtime: bool,
) {
    let thread = std::thread::Builder::new()
        .name(format!("holdline-pacer-{index}"))
        .spawn(move || {
            if realtime {
                raise_priority(index);
            }
            shard.run(commands)
        });
    if let Err(err) = thread {
        tracing::error!(%err, "could not start a pacer thread: its calls get no media");
    }
}

/// Real-time priority for this pacer thread: SCHED_FIFO at a low real-time level, so it
/// preempts every normal thread (SIP work, other processes) the moment a packet is due, yet
/// yields to the kernel's own real-time threads. A shard sleeps between ticks and sends for well
/// under a tick, and the kernel's RT throttling caps any runaway, so other work still runs.
/// Needs CAP_SYS_NICE; without it the pacer runs at normal priority, as before.
#[cfg(target_os = "linux")]
fn raise_priority(index: usize) {
    const PRIORITY: libc::c_int = 10;
    let param = libc::sched_param {
        sched_priority: PRIORITY,
    };
    // SAFETY: sched_setscheduler reads `param` only during the call; pid 0 is this thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        tracing::debug!(shard = index, "pacer thread at real-time priority");
    } else if index == 0 {
        let err = io::Error::last_os_error();
        tracing::info!(%err, "pacer threads run at normal priority (real-time priority needs CAP_SYS_NICE)");
    }
}

#[cfg(not(target_os = "linux"))]
fn raise_priority(_index: usize) {}

fn bind(ip: IpAddr, port: u16) -> Result<std::net::UdpSocket, (io::Error, u16)> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port)).map_err(|e| (e, port))?;
    socket.set_nonblocking(true).map_err(|e| (e, port))?;
    Ok(socket)
}

/// Send-side duplicates (the same non-blocking socket, another descriptor) for the shard.
fn dup_pair(rtp: &std::net::UdpSocket, rtcp: &std::net::UdpSocket) -> io::Result<Sockets> {
    Ok(Sockets {
        rtp: rtp.try_clone()?,
        rtcp: rtcp.try_clone()?,
    })
}

fn format_of(media: Option<&NegotiatedMedia>) -> Format {
    match media {
        Some(m) => Format {
            payload_type: m.payload_type,
            ptime_ms: m.ptime_ms,
            law: match m.codec {
                Codec::Pcmu => Law::Ulaw,
                Codec::Pcma => Law::Alaw,
            },
        },
        None => Format {
            payload_type: 0,
            ptime_ms: 20,
            law: Law::Ulaw,
        },
    }
}

fn expect_of(media: Option<&NegotiatedMedia>) -> Expect {
    match media {
        Some(m) => Expect {
            payload_type: m.payload_type,
            dtmf_payload_type: m.dtmf_payload_type,
            receiving: m.we_receive(),
        },
        // Late offer: we receive on our offer's terms, the answer will tell the rest.
        None => Expect {
            payload_type: 0,
            dtmf_payload_type: None,
            receiving: true,
        },
    }
}

fn target_of(media: Option<&NegotiatedMedia>, reset_latch: bool) -> Target {
    match media {
        Some(m) => Target {
            rtp: m.remote,
            rtcp: m.remote_rtcp,
            sending: m.we_send(),
            reset_latch,
        },
        None => Target::default(),
    }
}

/// A media socket as the receive task sees it: registered with the reactor for readability
/// only. The shard sends on a duplicate of the same socket, and every send frees buffer space,
/// which the kernel reports as an EPOLLOUT edge to whoever registered for it. Tokio's own
/// `UdpSocket` always registers for writability too, so each of the shard's 50,000 packets a
/// second per 1,000 calls would wake a runtime worker for nothing; here the epoll callback
/// filters those edges out before any wake-up.
struct RecvSocket(AsyncFd<std::net::UdpSocket>);

impl RecvSocket {
    fn new(socket: std::net::UdpSocket) -> io::Result<RecvSocket> {
        // SAFETY: the AsyncFd owns the socket, so its descriptor stays open and the same for
        // as long as it is registered.
        unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map(RecvSocket)
            .map_err(|err| err.into_parts().1)
    }

    /// Cancel-safe: nothing is read until the socket is readable and `recv_from` succeeds.
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(got) = ready.try_io(|socket| socket.get_ref().recv_from(buf)) {
                return got;
            }
        }
    }
}

/// A party's receive task: drains RTP and RTCP, latches, relays to a bridged peer, reports
/// DTMF and the RTP timeout.
async fn receive(
    party: Party,
    rtp: RecvSocket,
    rtcp: RecvSocket,
    shared: Arc<CallShared>,
    clock: Clock,
    shard: std::sync::mpsc::Sender<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut timed_out = false;
    loop {
        let deadline = match timed_out {
            true => None,
            false => shared.lock().timeout_at(),
        };
        let wake = deadline.map_or_else(
            || Instant::now() + Duration::from_secs(3600),
            |t| clock.instant(t),
        );
        tokio::select! {
            got = rtp.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                let received = shared.lock().on_rtp(clock.now(), from, &buf[..n]);
                if let Some(addr) = received.latched {
                    tracing::debug!(?party, %addr, "symmetric RTP latched");
                    let _ = shard.send(Command::Latched { party, rtp: Some(addr), rtcp: None });
                }
                if received.accepted {
                    if let Some(tap) = shared.tap().as_ref() {
                        tap.relay(&buf[..n]);
                    }
                }
                if let (Some(press), Party::Caller(call)) = (received.dtmf, party) {
                    let _ = events.send(MediaEvent::Dtmf { call, digit: press.digit });
                }
            }
            got = rtcp.recv_from(&mut rtcp_buf) => {
                let Ok((n, from)) = got else { continue };
                let latched = shared.lock().on_rtcp(clock.now(), from, &rtcp_buf[..n]);
                if latched.is_some() {
                    let _ = shard.send(Command::Latched { party, rtp: None, rtcp: latched });
                }
            }
            _ = shared.changed.notified() => {
                // Expectations changed (hold, resume): a reported timeout may be re-armed.
                timed_out = false;
            }
            _ = tokio::time::sleep_until(wake), if deadline.is_some() => {
                if shared.lock().timed_out(clock.now()) {
                    tracing::info!(?party, "no RTP received: timing out");
                    timed_out = true;
                    let _ = events.send(MediaEvent::timeout(party));
                }
            }
        }
    }
}
