//! The media plane's IO: RTP/RTCP sockets per party, pacer shard threads, receive tasks.
//!
//! [`MediaPlane`] is the handle the core task drives with answered, updated and ended calls
//! and agent legs and with bridges (`start_call`, `update_media`, `bridge`, `end_call`, …); it
//! reports DTMF, RTP timeouts and bind failures as [`MediaEvent`]s. What each of those means
//! for the streams (formats, destinations, what a bridged stream plays, whose media is relayed
//! where) is decided by the sans-IO [`session::Sessions`]; this module converts the negotiated
//! SDP into its terms and carries its decisions out (DESIGN.md §2 "Media plane"):
//!
//! - `plane`: the [`MediaPlane`] handle itself.
//! - `shard`: one thread per core, each owning a sans-IO [`crate::rtp::pacer::Pacer`] for its
//!   share of the parties. No timer per stream: a shard wakes at its next deadline (on a 2 ms
//!   grid) and sends every due packet. `timing`: its lateness histograms.
//! - `sockets`: per party, an RTP socket on its even port and an RTCP socket on the next one
//!   (RFC 3550 §11); the shard sends on duplicates of them, so RTP leaves from the port the
//!   peer sends to (symmetric RTP, RFC 4961).
//! - `receive`: per party, a task that drains both sockets into the sans-IO
//!   [`crate::rtp::inbound::Inbound`] (latching, statistics, DTMF), relays to a bridged peer,
//!   and watches the RTP timeout.
//! - Ports are never leaked: `end_call` removes the stream (sending the RTCP BYE), aborts the
//!   receive task and resolves once every descriptor of both sockets is closed.
//!
//! A bridge relays through [`crate::rtp::relay::RelayQueue`]s: the caller keeps one SSRC and
//! continuous seq/ts from greeting to music to the agent's voice, PCMU ⇄ PCMA is transcoded,
//! telephone-events are relayed.
//!
//! Not here: deciding what to play (the runtime's call glue passes [`CallPrompts`]) and whom
//! to bridge, turning an RTP timeout into a BYE (the core does, with a Reason header).

mod plane;
mod receive;
mod shard;
mod sockets;
mod timing;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use self::shard::Buffers;
use crate::b2bua::{CallHandle, LegHandle};
use crate::config::Config;
use crate::rtp::inbound::InboundConfig;
use crate::rtp::session;
use crate::rtp::stream::Law;

pub use self::plane::MediaPlane;

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
    /// How long a caller's stream sends before its ACK or RTP proves its address; `None`:
    /// no bound.
    pub unproven_media: Option<Duration>,
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
            unproven_media: Some(Duration::from_secs(5)),
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
                latch_packets: config.rtp.latch_packets,
            },
            realtime: config.rtp.realtime,
            unproven_media: config.rtp.unproven_media,
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
pub type Party = session::Party<CallHandle, LegHandle>;

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
