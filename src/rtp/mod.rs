//! RTP media, sans-IO: packets, RTCP, RFC 4733 DTMF, outgoing streams and their pacing, and
//! per-call receive state. Knows nothing of SIP; every function takes `now` (and wall time or an
//! RNG where it needs them) as input, so all of it runs on virtual time in tests.
//!
//! # Layout
//! - [`budget`]: bounded media toward a peer that has not proven its address (reflection).
//! - [`packet`]: RFC 3550 §5.1 header parse (with §A.1 checks) and the in-place writer.
//! - [`rtcp`]: RFC 3550 §6 SR/RR + SDES CNAME + BYE writer, tolerant compound parser.
//! - [`dtmf`]: RFC 4733 telephone-event payload and the one-event-per-press detector.
//! - [`stream`]: an outgoing stream (SSRC/seq/ts, playlist cursor, marker, hold).
//! - [`pacer`]: a shard of streams on an `epoch + n·ptime` schedule.
//! - [`inbound`]: strict symmetric RTP, RTP timeout, loss/jitter statistics, DTMF.
//! - [`latch`]: strict RTP: the signalled address, a NAT source after an in-sequence run.
//! - [`relay`]: a bridge's media: the jitter buffer that plays one leg's audio and
//!   telephone-events out on the other leg's stream (transcoding PCMU ⇄ PCMA).
//! - [`session`]: the media plane's decisions: negotiated media → what each stream sends,
//!   where, and what it receives; how a bridge is wired.
//!
//! The IO half (sockets, shard threads, receive tasks) is `runtime::media`; it carries out
//! what [`session`] decides.

pub mod budget;
pub mod dtmf;
pub mod inbound;
pub mod latch;
pub mod pacer;
pub mod packet;
pub mod relay;
pub mod rtcp;
pub mod session;
pub mod srtp;
pub mod stream;

pub use packet::Ssrc;
