//! A party's receive task: drains its RTP and RTCP sockets into the sans-IO
//! [`Inbound`] (strict symmetric RTP, statistics, RFC 4733 DTMF), relays what it accepts to a
//! bridged peer's queue, tells the shard where to send once the source latches and when the
//! peer has proven its address, counts what strict RTP drops, and reports DTMF and the RTP
//! timeout to the core (and stops the shard sending at that moment).
//!
//! The task runs on the tokio runtime (one per party, mostly asleep on its sockets); the
//! state it shares with the party's shard thread (the receive statistics for RTCP report
//! blocks) sits behind a mutex in [`CallShared`]. Not here: sending, deciding what is relayed
//! where (the media plane sets the tap, per `rtp::session`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::shard::Command;
use super::sockets::RecvSocket;
use super::{MediaEvent, Party};
use crate::rtp::inbound::Inbound;
use crate::rtp::relay::Tap;
use crate::rtp::srtp::Unprotector;
use crate::runtime::clock::Clock;

/// Receive state shared by a party's receive task, its shard (RTCP report blocks) and the
/// media plane (expectations, taps).
pub(crate) struct CallShared {
    inbound: Mutex<Inbound>,
    /// While bridged: where the media this party sends us goes (the other side's queue).
    tap: Mutex<Option<Tap>>,
    /// Wakes the receive task when the expectations change (its timeout deadline moved).
    pub changed: Notify,
    pub cname: String,
    /// SRTP: authenticates and decrypts what the peer sends (`None`: plain RTP).
    srtp: Mutex<Option<Unprotector>>,
}

/// A received datagram after SRTP.
enum Opened {
    /// The stream is plain RTP: use the datagram as it is.
    Plain,
    /// Authenticated and decrypted.
    Clear(bytes::BytesMut),
    /// Failed authentication or a replay (RFC 3711 §3.3: discard).
    Refused,
}

impl CallShared {
    pub fn new(inbound: Inbound, cname: String) -> CallShared {
        CallShared {
            inbound: Mutex::new(inbound),
            tap: Mutex::new(None),
            changed: Notify::new(),
            cname,
            srtp: Mutex::new(None),
        }
    }

    /// Sets (or clears) the peer's SRTP keys: from the next datagram on.
    pub fn set_srtp(&self, srtp: Option<Unprotector>) {
        *self.srtp.lock().unwrap_or_else(|e| e.into_inner()) = srtp;
    }

    fn open(&self, datagram: &[u8], rtcp: bool) -> Opened {
        let mut srtp = self.srtp.lock().unwrap_or_else(|e| e.into_inner());
        let Some(srtp) = srtp.as_mut() else {
            return Opened::Plain;
        };
        let opened = match rtcp {
            false => srtp.rtp(datagram),
            true => srtp.rtcp(datagram),
        };
        match opened {
            Ok(clear) => Opened::Clear(clear),
            Err(_) => Opened::Refused,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inbound> {
        // A panic elsewhere must not take the media of every call down with it.
        self.inbound.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn tap(&self) -> MutexGuard<'_, Option<Tap>> {
        self.tap.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long to sleep when no RTP timeout is armed (the select still wakes for packets).
const IDLE: Duration = Duration::from_secs(3600);

/// What the receive tasks count for `/metrics`, every party together.
#[derive(Default)]
pub(crate) struct Drops {
    /// RTP and RTCP that strict RTP dropped for its source.
    pub foreign: AtomicU64,
    /// SRTP and SRTCP that failed authentication or replay checks.
    pub srtp: AtomicU64,
}

/// Runs until aborted: drains RTP and RTCP (SRTP: authenticated and decrypted first, before
/// latching, statistics, DTMF or the bridge see it), latches, relays to a bridged peer, reports
/// DTMF and the RTP timeout.
pub(crate) async fn receive(
    party: Party,
    (rtp, rtcp): (RecvSocket, RecvSocket),
    shared: Arc<CallShared>,
    clock: Clock,
    shard: std::sync::mpsc::Sender<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
    drops: Arc<Drops>,
) {
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut timed_out = false;
    loop {
        let deadline = match timed_out {
            true => None,
            false => shared.lock().timeout_at(),
        };
        let wake = deadline.unwrap_or_else(|| clock.now() + IDLE);
        tokio::select! {
            got = rtp.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                let clear;
                let packet = match shared.open(&buf[..n], false) {
                    Opened::Plain => &buf[..n],
                    Opened::Clear(c) => {
                        clear = c;
                        &clear[..]
                    }
                    Opened::Refused => {
                        drops.srtp.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let received = shared.lock().on_rtp(clock.now(), from, packet);
                if received.foreign {
                    // Only the dropping path pays for the count: one relaxed add.
                    drops.foreign.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if let Some(addr) = received.latched {
                    tracing::debug!(?party, %addr, "symmetric RTP latched");
                    let _ = shard.send(Command::Latched { party, rtp: Some(addr), rtcp: None });
                }
                if received.proved {
                    let _ = shard.send(Command::Proven { party });
                }
                if received.accepted {
                    if let Some(tap) = shared.tap().as_ref() {
                        tap.relay(packet);
                    }
                }
                if let (Some(press), Party::Caller(call)) = (received.dtmf, party) {
                    let _ = events.send(MediaEvent::Dtmf { call, digit: press.digit });
                }
            }
            got = rtcp.recv_from(&mut rtcp_buf) => {
                let Ok((n, from)) = got else { continue };
                let clear;
                let packet = match shared.open(&rtcp_buf[..n], true) {
                    Opened::Plain => &rtcp_buf[..n],
                    Opened::Clear(c) => {
                        clear = c;
                        &clear[..]
                    }
                    Opened::Refused => {
                        drops.srtp.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let (latched, dropped) = {
                    // RTCP comes every few seconds: comparing the count costs nothing.
                    let mut inbound = shared.lock();
                    let before = inbound.latch_counters().dropped_foreign;
                    let latched = inbound.on_rtcp(clock.now(), from, packet);
                    (latched, inbound.latch_counters().dropped_foreign != before)
                };
                if dropped {
                    drops.foreign.fetch_add(1, Ordering::Relaxed);
                }
                if latched.is_some() {
                    let _ = shard.send(Command::Latched { party, rtp: None, rtcp: latched });
                }
            }
            _ = shared.changed.notified() => {
                // Expectations changed (hold, resume): a reported timeout may be re-armed.
                timed_out = false;
            }
            _ = clock.sleep_until(wake), if deadline.is_some() => {
                if shared.lock().timed_out(clock.now()) {
                    tracing::info!(?party, "no RTP received: timing out");
                    timed_out = true;
                    let _ = shard.send(Command::Halt { party });
                    let _ = events.send(MediaEvent::timeout(party));
                }
            }
        }
    }
}
