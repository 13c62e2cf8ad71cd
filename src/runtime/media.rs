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
//! Not here: deciding what to play (the core passes [`CallPrompts`]), turning an RTP timeout
//! into a BYE (the core does, with a Reason header), relaying agent audio (a later source).
#![allow(clippy::disallowed_methods)] // The IO edge is where the clock is read.

mod shard;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::shard::{Buffers, Command, Shard, Sockets, Target};
use crate::b2bua::CallHandle;
use crate::config::Config;
use crate::rtp::inbound::{Expect, Inbound, InboundConfig};
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
}

impl Default for MediaPlaneConfig {
    fn default() -> Self {
        MediaPlaneConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            inbound: InboundConfig::default(),
            shards: 0,
            tick: Duration::from_millis(2),
            max_burst: crate::rtp::pacer::DEFAULT_MAX_BURST,
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

/// What the media plane tells the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller pressed a key (RFC 4733).
    Dtmf { call: CallHandle, digit: char },
    /// No media from the caller for the configured time: hang up (BYE with a Reason header).
    RtpTimeout { call: CallHandle },
    /// The call's RTP or RTCP port could not be bound; it has no media.
    BindFailed { call: CallHandle, port: u16 },
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
    /// Wakes the receive task when the expectations change (its timeout deadline moved).
    changed: Notify,
    cname: String,
}

impl CallShared {
    fn lock(&self) -> MutexGuard<'_, Inbound> {
        // A panic elsewhere must not take the media of every call down with it.
        self.inbound.lock().unwrap_or_else(|e| e.into_inner())
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
}

/// The handle to the media plane.
pub struct MediaPlane {
    config: MediaPlaneConfig,
    clock: Clock,
    shards: Vec<mpsc::UnboundedSender<Command>>,
    load: Vec<usize>,
    calls: HashMap<CallHandle, CallEntry>,
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
                let (tx, rx) = mpsc::unbounded_channel();
                let shard = Shard::new(clock, config.tick, config.max_burst);
                spawn_shard(i, shard, rx);
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
        let ip = self.config.bind_ip;
        let bound =
            bind(ip, rtp_port).and_then(|rtp| Ok((rtp, bind(ip, rtp_port.wrapping_add(1))?)));
        let (rtp, rtcp) = match bound {
            Ok(pair) => pair,
            Err((err, port)) => {
                tracing::warn!(%err, port, call = call.0, "could not bind media port");
                let _ = self.events.send(MediaEvent::BindFailed { call, port });
                return;
            }
        };
        self.start_call_bound(call, rtp, rtcp, media, prompts);
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
        if self.calls.contains_key(&call) {
            self.stop(call);
        }
        let rtp_port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let sockets = match dup_pair(&rtp, &rtcp) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%err, call = call.0, "could not set up media sockets");
                let _ = self.events.send(MediaEvent::BindFailed {
                    call,
                    port: rtp_port,
                });
                return;
            }
        };
        let (rtp, rtcp) = match (UdpSocket::from_std(rtp), UdpSocket::from_std(rtcp)) {
            (Ok(a), Ok(b)) => (Arc::new(a), Arc::new(b)),
            _ => {
                let _ = self.events.send(MediaEvent::BindFailed {
                    call,
                    port: rtp_port,
                });
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
            call,
            stream,
            sockets,
            shared: shared.clone(),
            target,
        });
        let receiver = tokio::spawn(receive(
            call,
            rtp,
            rtcp,
            shared.clone(),
            self.clock,
            self.shards[shard].clone(),
            self.events.clone(),
        ));
        self.load[shard] += 1;
        self.calls.insert(
            call,
            CallEntry {
                shard,
                prompts,
                last_remote: media.as_ref().and_then(|m| m.remote),
                media,
                shared,
                receiver,
            },
        );
    }

    /// A new offer/answer outcome: hold (`sendonly`/`inactive`/`c=0.0.0.0` from the caller
    /// pauses sending), resume, a new remote address, codec or packet time.
    pub fn update_media(&mut self, call: CallHandle, media: NegotiatedMedia) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let now = self.clock.now();
        let old_law = format_of(entry.media.as_ref()).law;
        // A new SDP address means the caller moved (a transfer, a new SBC leg): the latched
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
            call,
            format,
            buffers,
            target: target_of(Some(&media), moved),
        });
        entry.media = Some(media);
    }

    /// Stops the call's media: RTCP BYE, sockets closed. The returned task finishes once both
    /// ports are free again (await it to rebind them at once; dropping it is fine).
    pub fn end_call(&mut self, call: CallHandle) -> Option<JoinHandle<()>> {
        self.stop(call)
    }

    fn stop(&mut self, call: CallHandle) -> Option<JoinHandle<()>> {
        let entry = self.calls.remove(&call)?;
        self.load[entry.shard] = self.load[entry.shard].saturating_sub(1);
        let (done, removed) = oneshot::channel();
        let _ = self.shards[entry.shard].send(Command::Remove { call, done });
        entry.receiver.abort();
        Some(tokio::spawn(async move {
            let _ = removed.await;
            let _ = entry.receiver.await;
        }))
    }

    /// Calls with media.
    pub fn call_count(&self) -> usize {
        self.calls.len()
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

/// Runs a shard on its own thread with its own single-threaded runtime, so a burst of SIP work
/// on the main runtime's workers cannot delay packets (the shard sends on plain non-blocking
/// std sockets and needs only tokio's timer and channels). Falls back to a task.
fn spawn_shard(index: usize, shard: Shard, commands: mpsc::UnboundedReceiver<Command>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    let Ok(runtime) = runtime else {
        tokio::spawn(shard.run(commands));
        return;
    };
    let thread = std::thread::Builder::new()
        .name(format!("holdline-pacer-{index}"))
        .spawn(move || runtime.block_on(shard.run(commands)));
    if let Err(err) = thread {
        tracing::error!(%err, "could not start a pacer thread");
    }
}

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

/// A call's receive task: drains RTP and RTCP, latches, reports DTMF and the RTP timeout.
async fn receive(
    call: CallHandle,
    rtp: Arc<UdpSocket>,
    rtcp: Arc<UdpSocket>,
    shared: Arc<CallShared>,
    clock: Clock,
    shard: mpsc::UnboundedSender<Command>,
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
                    tracing::debug!(call = call.0, %addr, "symmetric RTP latched");
                    let _ = shard.send(Command::Latched { call, rtp: Some(addr), rtcp: None });
                }
                if let Some(press) = received.dtmf {
                    let _ = events.send(MediaEvent::Dtmf { call, digit: press.digit });
                }
            }
            got = rtcp.recv_from(&mut rtcp_buf) => {
                let Ok((n, from)) = got else { continue };
                let latched = shared.lock().on_rtcp(clock.now(), from, &rtcp_buf[..n]);
                if latched.is_some() {
                    let _ = shard.send(Command::Latched { call, rtp: None, rtcp: latched });
                }
            }
            _ = shared.changed.notified() => {
                // Expectations changed (hold, resume): a reported timeout may be re-armed.
                timed_out = false;
            }
            _ = tokio::time::sleep_until(wake), if deadline.is_some() => {
                if shared.lock().timed_out(clock.now()) {
                    tracing::info!(call = call.0, "no RTP from the caller: timing out");
                    timed_out = true;
                    let _ = events.send(MediaEvent::RtpTimeout { call });
                }
            }
        }
    }
}
