//! A pacer shard on its own thread: owns a [`Pacer`] for its share of the parties, sends their
//! RTP on each tick and their RTCP reports every ~5 s (RFC 3550 §6.2), and takes commands from
//! the [`super::MediaPlane`] handle and from the parties' receive tasks (symmetric RTP
//! latching).
//!
//! The thread sleeps until the pacer's next deadline (start times are on the tick grid, so
//! that is at most one wake-up per tick). Sends are plain non-blocking `send_to` calls on a
//! duplicate of each party's socket: no await and no allocation per packet; a full socket
//! buffer drops the packet (counted) rather than delaying every other stream. Not here:
//! deciding formats, destinations or what a bridged stream plays (`rtp::session` does).

use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::oneshot;

use super::receive::CallShared;
use super::sockets::Sockets;
use super::timing::Timing;
use super::Party;
use crate::rtp::budget::SendBudget;
use crate::rtp::pacer::{Pacer, StreamId};
use crate::rtp::relay::RelayBuffer;
use crate::rtp::rtcp::{self, NtpTime, Report, SenderInfo};
use crate::rtp::session::Target;
use crate::rtp::srtp::Protector;
use crate::rtp::stream::{Format, OutgoingStream, Source};
use crate::runtime::clock::{self, Clock};
use crate::runtime::sys;
use crate::time::Time;

/// A playlist's buffers in one law: the optional greeting and the music.
pub(super) type Buffers = (Option<Arc<[u8]>>, Arc<[u8]>);

/// What the shard is told.
pub(super) enum Command {
    Add {
        party: Party,
        stream: OutgoingStream,
        sockets: Sockets,
        shared: Arc<CallShared>,
        target: Target,
        /// How long it may send before its peer proves its address.
        budget: SendBudget,
        /// SRTP: protects its RTP and its RTCP (`None`: plain). Boxed: contexts are large
        /// and commands go through a channel.
        srtp: Option<Box<SendKeys>>,
    },
    /// New SRTP keys from a re-negotiation (or plain RTP from now on).
    Rekey {
        party: Party,
        srtp: Option<Box<SendKeys>>,
    },
    /// A new negotiation: format, destination and direction; `buffers` swaps the playlist to
    /// the other G.711 law.
    Update {
        party: Party,
        format: Format,
        buffers: Option<Buffers>,
        target: Target,
    },
    /// Symmetric RTP: the caller's RTP (or RTCP) comes from here.
    Latched {
        party: Party,
        rtp: Option<SocketAddr>,
        rtcp: Option<SocketAddr>,
    },
    /// The peer proved its address (its ACK came, or RTP from it was accepted).
    Proven { party: Party },
    /// The RTP timeout fired: stop sending now, not when the hang-up completes.
    Halt { party: Party },
    /// Play the bridged peer's media (`Some`), or the party's own prompts again (`None`),
    /// from the next packet on.
    Play {
        party: Party,
        relay: Option<RelayBuffer>,
    },
    /// Send RTCP BYE, drop the sockets, then answer.
    Remove {
        party: Party,
        done: oneshot::Sender<()>,
    },
}

/// A stream's SRTP protection: one context for its RTP, one for its RTCP (RFC 3711 keeps
/// separate indexes for the two, so the shard's two send paths need no shared state).
pub(super) struct SendKeys {
    pub rtp: Protector,
    pub rtcp: Protector,
}

/// Per-stream context inside the pacer.
struct Ctx {
    rtp: UdpSocket,
    dropped: u64,
    /// Protects each packet just before it is sent (the pacer's slices stay plain).
    srtp: Option<Protector>,
}

impl Ctx {
    /// Sends one paced packet, protected when the stream is SRTP.
    fn send(&mut self, packet: &[u8], dest: SocketAddr) -> std::io::Result<usize> {
        match &mut self.srtp {
            None => self.rtp.send_to(packet, dest),
            Some(srtp) => match srtp.rtp(packet) {
                Ok(sealed) => self.rtp.send_to(&sealed, dest),
                Err(err) => Err(std::io::Error::other(err)),
            },
        }
    }
}

/// Per-call state the shard keeps beside the pacer.
struct CallState {
    id: StreamId,
    rtcp: UdpSocket,
    shared: Arc<CallShared>,
    sdp: Target,
    latched_rtp: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    next_report: Time,
    packets_at_last_report: u32,
    /// The prompts put aside while the stream plays a bridged peer (resumed where they were).
    parked: Option<Source>,
    budget: SendBudget,
    /// SRTCP protection of our reports when the stream is SRTP.
    srtcp: Option<Protector>,
}

impl CallState {
    fn rtp_dest(&self) -> Option<SocketAddr> {
        self.latched_rtp.or(self.sdp.rtp)
    }

    fn rtcp_dest(&self) -> Option<SocketAddr> {
        self.latched_rtcp.or(self.sdp.rtcp)
    }

    /// Whether the stream sends: the negotiation allows it and the peer's proof does.
    fn sending(&self) -> bool {
        self.sdp.sending && self.budget.allows()
    }
}

pub(super) struct Shard {
    clock: Clock,
    pacer: Pacer<Ctx>,
    calls: HashMap<Party, CallState>,
    reports: BTreeSet<(Time, Party)>,
    /// When an unproven peer's budget runs out.
    budgets: BTreeSet<(Time, Party)>,
    rng: SmallRng,
    rtcp_buf: Vec<u8>,
    timing: Timing,
}

impl Shard {
    pub fn new(clock: Clock, tick: Duration, max_burst: u32) -> Shard {
        Shard {
            clock,
            pacer: Pacer::new(max_burst).with_grid(tick),
            calls: HashMap::new(),
            reports: BTreeSet::new(),
            budgets: BTreeSet::new(),
            rng: SmallRng::from_entropy(),
            rtcp_buf: Vec::with_capacity(128),
            timing: Timing::new(),
        }
    }

    /// Runs until every command sender is gone. Between deadlines the thread waits on its
    /// command channel with a timeout: a futex on a high-resolution timer (with no timer slack
    /// for a real-time thread), so it wakes at the deadline to within microseconds, and at
    /// once for a command.
    pub fn run(mut self, commands: mpsc::Receiver<Command>) {
        loop {
            let now = self.clock.now();
            self.send_due(now);
            // Pending commands before sleeping: a new stream may be due at once.
            loop {
                match commands.try_recv() {
                    Ok(command) => self.handle(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let next = [
                self.pacer.next_deadline(),
                self.reports.first().map(|r| r.0),
                self.budgets.first().map(|b| b.0),
            ]
            .into_iter()
            .flatten()
            .min();
            let command = match next {
                None => match commands.recv() {
                    Ok(command) => command,
                    Err(_) => return,
                },
                Some(at) => {
                    let wait = self.clock.until(at);
                    if wait.is_zero() {
                        continue;
                    }
                    match commands.recv_timeout(wait) {
                        Ok(command) => command,
                        Err(RecvTimeoutError::Timeout) => {
                            let late = self.clock.now().saturating_since(at);
                            self.timing.wakes.record(late);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            self.handle(command);
        }
    }

    fn send_due(&mut self, now: Time) {
        let (clock, timing) = (self.clock, &mut self.timing);
        let sent = self.pacer.poll(now, |ctx, out| {
            timing.packets.record(clock.now().saturating_since(out.due));
            if let Err(err) = ctx.send(out.packet, out.dest) {
                ctx.dropped += 1;
                if ctx.dropped.is_power_of_two() {
                    tracing::debug!(%err, dest = %out.dest, dropped = ctx.dropped, "RTP send failed");
                }
            }
        });
        if sent > 0 {
            self.timing
                .batches
                .record(self.clock.now().saturating_since(now));
        }
        self.timing.report(now, self.calls.len());
        while let Some(&(at, party)) = self.budgets.first() {
            if at > now {
                break;
            }
            self.budgets.pop_first();
            if let Some(state) = self.calls.get_mut(&party) {
                if state.budget.expire(now) {
                    tracing::info!(
                        ?party,
                        "peer never proved its media address: sending stopped"
                    );
                    self.pacer.set_sending(state.id, now, false);
                }
            }
        }
        while let Some(&(at, party)) = self.reports.first() {
            if at > now {
                break;
            }
            self.reports.pop_first();
            self.send_report(party, now, false);
            if let Some(state) = self.calls.get_mut(&party) {
                state.next_report = rtcp::next_report(now, &mut self.rng);
                self.reports.insert((state.next_report, party));
            }
        }
    }

    /// An SR if we sent RTP since the last report, else an RR (RFC 3550 §6.4), to wherever
    /// the caller's RTCP goes.
    fn send_report(&mut self, party: Party, now: Time, bye: bool) {
        let Some(state) = self.calls.get_mut(&party) else {
            return;
        };
        // RTCP obeys the same bound as RTP: nothing to a peer that never proved its address,
        // nor after the RTP timeout.
        if !state.budget.allows() {
            return;
        }
        let Some(stream) = self.pacer.stream(state.id) else {
            return;
        };
        let (packets, octets, ssrc) = (stream.packets_sent(), stream.octets_sent(), stream.ssrc());
        let sender = (packets != state.packets_at_last_report).then(|| SenderInfo {
            ntp: NtpTime::from_unix(clock::wall_now()),
            rtp_timestamp: self.pacer.rtp_timestamp_at(state.id, now).unwrap_or(0),
            packet_count: packets,
            octet_count: octets,
        });
        state.packets_at_last_report = packets;
        let Some(dest) = state.rtcp_dest() else {
            return;
        };
        let block = state.shared.lock().report_block(now);
        Report {
            ssrc,
            sender,
            block,
            cname: &state.shared.cname,
            bye,
        }
        .write(&mut self.rtcp_buf);
        let sent = match &mut state.srtcp {
            None => state.rtcp.send_to(&self.rtcp_buf, dest),
            // RFC 3711 §3.4: SRTCP when the stream is SRTP; never a plain report beside it.
            Some(srtcp) => match srtcp.rtcp(&self.rtcp_buf) {
                Ok(sealed) => state.rtcp.send_to(&sealed, dest),
                Err(err) => Err(std::io::Error::other(err)),
            },
        };
        if let Err(err) = sent {
            tracing::debug!(%err, %dest, "RTCP send failed");
        }
    }

    fn handle(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Add {
                party,
                stream,
                sockets,
                shared,
                target,
                budget,
                srtp,
            } => {
                if let Some(old) = self.calls.remove(&party) {
                    self.pacer.remove(old.id);
                    self.forget_timers(party, &old);
                }
                let (srtp, srtcp) = match srtp.map(|k| *k) {
                    Some(keys) => (Some(keys.rtp), Some(keys.rtcp)),
                    None => (None, None),
                };
                let ctx = Ctx {
                    rtp: sockets.rtp,
                    dropped: 0,
                    srtp,
                };
                let sending = target.sending && budget.allows();
                let id = self.pacer.add(now, stream, ctx, target.rtp, sending);
                let next_report = rtcp::next_report(now, &mut self.rng);
                self.reports.insert((next_report, party));
                if let Some(at) = budget.deadline() {
                    self.budgets.insert((at, party));
                }
                self.calls.insert(
                    party,
                    CallState {
                        id,
                        rtcp: sockets.rtcp,
                        shared,
                        sdp: target,
                        latched_rtp: None,
                        latched_rtcp: None,
                        next_report,
                        packets_at_last_report: 0,
                        parked: None,
                        budget,
                        srtcp,
                    },
                );
            }
            Command::Rekey { party, srtp } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                let (rtp, rtcp) = match srtp.map(|k| *k) {
                    Some(keys) => (Some(keys.rtp), Some(keys.rtcp)),
                    None => (None, None),
                };
                state.srtcp = rtcp;
                if let Some(ctx) = self.pacer.ctx_mut(state.id) {
                    ctx.srtp = rtp;
                }
            }
            Command::Update {
                party,
                format,
                buffers,
                target,
            } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                if target.reset_latch {
                    state.latched_rtp = None;
                    state.latched_rtcp = None;
                }
                state.sdp = target;
                state.budget.renegotiated();
                self.pacer.set_format(state.id, format);
                if let Some((greeting, music)) = buffers {
                    // The prompts are on the stream, or parked while it plays a bridged peer.
                    let playing = self.pacer.stream_mut(state.id).map(|s| s.source_mut());
                    for source in playing.into_iter().chain(state.parked.as_mut()) {
                        if let Source::Playlist(p) = source {
                            p.replace_buffers(greeting.clone(), music.clone());
                        }
                    }
                }
                self.pacer.set_dest(state.id, now, state.rtp_dest());
                self.pacer.set_sending(state.id, now, state.sending());
            }
            Command::Proven { party } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                if let Some(at) = state.budget.deadline() {
                    self.budgets.remove(&(at, party));
                }
                if state.budget.prove() {
                    tracing::info!(?party, "peer proved its media address: sending again");
                }
                self.pacer.set_sending(state.id, now, state.sending());
            }
            Command::Halt { party } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                if state.budget.halt() {
                    self.pacer.set_sending(state.id, now, false);
                }
            }
            Command::Play { party, relay } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                let Some(stream) = self.pacer.stream_mut(state.id) else {
                    return;
                };
                match relay {
                    Some(relay) => {
                        if matches!(stream.source(), Source::Relay(r) if r.same(&relay)) {
                            return;
                        }
                        // A new talkspurt from a new origin (RFC 3551 §4.1): marker set.
                        let old = stream.replace_source(Source::Relay(relay), true);
                        if !matches!(old, Source::Relay(_)) {
                            state.parked = Some(old);
                        }
                    }
                    None => {
                        if let Some(prompts) = state.parked.take() {
                            stream.replace_source(prompts, true);
                        }
                    }
                }
            }
            Command::Latched { party, rtp, rtcp } => {
                let Some(state) = self.calls.get_mut(&party) else {
                    return;
                };
                if rtp.is_some() {
                    state.latched_rtp = rtp;
                    self.pacer.set_dest(state.id, now, state.rtp_dest());
                }
                if rtcp.is_some() {
                    state.latched_rtcp = rtcp;
                }
            }
            Command::Remove { party, done } => {
                if self.calls.contains_key(&party) {
                    // RFC 3550 §6.6: say goodbye in a compound packet.
                    self.send_report(party, now, true);
                }
                if let Some(state) = self.calls.remove(&party) {
                    self.forget_timers(party, &state);
                    if let Some((_, ctx)) = self.pacer.remove(state.id) {
                        if ctx.dropped > 0 {
                            tracing::info!(
                                ?party,
                                dropped = ctx.dropped,
                                "RTP packets dropped on send"
                            );
                        }
                    }
                }
                let _ = done.send(());
            }
        }
    }
}

impl Shard {
    /// Drops a removed party's report and budget deadlines.
    fn forget_timers(&mut self, party: Party, state: &CallState) {
        self.reports.remove(&(state.next_report, party));
        if let Some(at) = state.budget.deadline() {
            self.budgets.remove(&(at, party));
        }
    }
}

/// Runs `shard` on its own thread, so a burst of SIP work on the runtime's workers cannot
/// delay packets. The thread needs no async runtime: it sends on plain non-blocking sockets and
/// sleeps on its command channel until the next deadline (see [`Shard::run`]).
pub(super) fn spawn(index: usize, shard: Shard, commands: mpsc::Receiver<Command>, realtime: bool) {
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
fn raise_priority(index: usize) {
    const PRIORITY: libc::c_int = 10;
    match sys::raise_thread_priority(PRIORITY) {
        Ok(()) => tracing::debug!(shard = index, "pacer thread at real-time priority"),
        Err(err) if index == 0 => tracing::info!(
            %err,
            "pacer threads run at normal priority (real-time priority needs CAP_SYS_NICE)"
        ),
        Err(_) => {}
    }
}
