//! One outgoing RTP stream (RFC 3550 §5.1, RFC 3551 §4.1): its SSRC, sequence number and
//! timestamp, what it plays, and writing its next packet into a caller's buffer.
//!
//! - SSRC, first sequence number and first timestamp are random (§5.1, §8) from an injected RNG.
//! - Each packet carries `8 × ptime_ms` G.711 samples (RFC 3551 §4.5.14: 8 kHz, one byte per
//!   sample), so the timestamp advances by that much and the sequence number by one.
//! - The source is a cursor into shared prompt buffers: a [`Playlist`] is an optional greeting
//!   played once, then music looped forever. The sequence number and timestamp run on across
//!   greeting → music, across loops and across a switch of source (later: relayed agent audio),
//!   so the receiver sees one continuous stream.
//! - The marker bit is set on the first packet, and on the first packet after a silence
//!   period — after a pause (hold) or skipped packets (RFC 3551 §4.1: "the first packet of a
//!   talkspurt"), so the receiver's jitter buffer may resynchronize there.
//! - While paused (the peer holds us) no packets go out but the timestamp keeps running with
//!   time (RFC 3550 §5.1: it follows the sampling clock, not the packet count), so the first
//!   packet after resume has the timestamp of its real time. The sequence number does not
//!   advance: no packet was lost. The playlist resumes where it paused.
//!
//! Writing a packet never allocates: a 12-byte header and a slice copy into the caller's buffer.
//! It does not pace: [`super::pacer`] decides when.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use thiserror::Error;

use super::packet::{RtpHeader, Ssrc, HEADER_LEN};
use super::relay::{Fill, RelayBuffer};
use crate::time::Time;

/// Packet times we pace, in ms (the SDP layer only negotiates these, in 10 ms steps).
pub const MIN_PTIME_MS: u32 = 10;
pub const MAX_PTIME_MS: u32 = 60;
/// G.711 samples per millisecond (8 kHz clock, RFC 3551 §4.5.14).
pub const SAMPLES_PER_MS: u32 = 8;
/// The largest packet a stream writes: header plus 60 ms of G.711.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + (MAX_PTIME_MS * SAMPLES_PER_MS) as usize;

/// Why a packet could not be written.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StreamError {
    #[error("buffer of {len} bytes cannot hold a {needed}-byte packet")]
    BufferTooSmall { len: usize, needed: usize },
}

/// The G.711 law of the payload (it decides what silence is): the audio module's.
pub use crate::audio::Law;

/// What the negotiation fixed for the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub payload_type: u8,
    /// Clamped to 10–60 ms when used.
    pub ptime_ms: u32,
    pub law: Law,
}

impl Format {
    pub fn ptime(&self) -> Duration {
        Duration::from_millis(u64::from(self.clamped_ptime_ms()))
    }

    /// RTP timestamp units (and G.711 bytes) per packet.
    pub fn samples_per_packet(&self) -> u32 {
        SAMPLES_PER_MS * self.clamped_ptime_ms()
    }

    fn clamped_ptime_ms(&self) -> u32 {
        self.ptime_ms.clamp(MIN_PTIME_MS, MAX_PTIME_MS)
    }
}

/// RTP timestamp units in `d` at 8 kHz, modulo 2^32 as timestamps are.
pub fn samples_in(d: Duration) -> u32 {
    (d.as_nanos() / 125_000) as u32
}

/// Greeting once, then music looped: a cursor into shared G.711 buffers.
#[derive(Clone, Debug)]
pub struct Playlist {
    greeting: Option<Arc<[u8]>>,
    music: Arc<[u8]>,
    at: Cursor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cursor {
    Greeting(usize),
    Music(usize),
}

impl Playlist {
    /// An empty greeting is no greeting; empty music plays silence.
    pub fn new(greeting: Option<Arc<[u8]>>, music: Arc<[u8]>) -> Playlist {
        let greeting = greeting.filter(|g| !g.is_empty());
        let at = match greeting {
            Some(_) => Cursor::Greeting(0),
            None => Cursor::Music(0),
        };
        Playlist {
            greeting,
            music,
            at,
        }
    }

    /// Whether the greeting is still playing.
    pub fn in_greeting(&self) -> bool {
        matches!(self.at, Cursor::Greeting(_))
    }

    /// The same prompts in another law (a re-INVITE changed the codec): same samples, so the
    /// cursor stays where it is (clamped if the lengths differ).
    pub fn replace_buffers(&mut self, greeting: Option<Arc<[u8]>>, music: Arc<[u8]>) {
        let at = self.at;
        *self = Playlist::new(greeting, music);
        self.at = match (at, &self.greeting) {
            (Cursor::Greeting(p), Some(g)) if p < g.len() => Cursor::Greeting(p),
            (Cursor::Greeting(_), _) => Cursor::Music(0),
            (Cursor::Music(p), _) if p < self.music.len() => Cursor::Music(p),
            (Cursor::Music(_), _) => Cursor::Music(0),
        };
    }

    /// Copies the next `out.len()` samples into `out` and moves past them.
    fn fill(&mut self, out: &mut [u8], silence: u8) {
        let mut out = out;
        while !out.is_empty() {
            match self.at {
                Cursor::Greeting(p) => {
                    let g = self.greeting.as_deref().unwrap_or(&[]);
                    let left = g.get(p..).unwrap_or(&[]);
                    let n = left.len().min(out.len());
                    out[..n].copy_from_slice(&left[..n]);
                    out = &mut out[n..];
                    self.at = if p + n >= g.len() {
                        Cursor::Music(0)
                    } else {
                        Cursor::Greeting(p + n)
                    };
                }
                Cursor::Music(p) => {
                    if self.music.is_empty() {
                        out.fill(silence);
                        return;
                    }
                    let left = self.music.get(p..).unwrap_or(&[]);
                    let n = left.len().min(out.len());
                    out[..n].copy_from_slice(&left[..n]);
                    out = &mut out[n..];
                    self.at = Cursor::Music((p + n) % self.music.len());
                }
            }
        }
    }

    /// Moves `n` samples on without copying (packets skipped after a stall).
    fn advance(&mut self, n: u64) {
        let mut n = n;
        if let Cursor::Greeting(p) = self.at {
            let len = self.greeting.as_ref().map_or(0, |g| g.len());
            let left = len.saturating_sub(p) as u64;
            if n < left {
                self.at = Cursor::Greeting(p + n as usize);
                return;
            }
            n -= left;
            self.at = Cursor::Music(0);
        }
        if let Cursor::Music(p) = self.at {
            let len = self.music.len() as u64;
            if len > 0 {
                self.at = Cursor::Music(((p as u64 + n % len) % len) as usize);
            }
        }
    }
}

/// Where a stream's payload comes from. Switching source keeps seq/ts running.
#[derive(Clone, Debug)]
pub enum Source {
    Playlist(Playlist),
    /// Comfort silence (e.g. between a prompt and relayed audio).
    Silence,
    /// The bridged peer's audio and telephone-events ([`super::relay`]).
    Relay(RelayBuffer),
}

/// One outgoing RTP stream.
#[derive(Clone, Debug)]
pub struct OutgoingStream {
    ssrc: Ssrc,
    /// The next packet's sequence number and timestamp.
    sequence: u16,
    timestamp: u32,
    format: Format,
    marker: bool,
    source: Source,
    /// Set while paused: the time the next packet would have been due.
    paused_at: Option<Time>,
    packets_sent: u32,
    octets_sent: u32,
}

impl OutgoingStream {
    /// A new stream with random SSRC, sequence number and timestamp (RFC 3550 §5.1).
    pub fn new(rng: &mut impl Rng, format: Format, source: Source) -> OutgoingStream {
        OutgoingStream {
            ssrc: Ssrc(rng.gen()),
            sequence: rng.gen(),
            timestamp: rng.gen(),
            format,
            marker: true,
            source,
            paused_at: None,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// Writes the next packet into `buf` and moves on by one packet. Returns its length; 0
    /// when this slot sends nothing (a relayed telephone-event with no news).
    pub fn write_packet(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let samples = self.format.samples_per_packet();
        let needed = HEADER_LEN + samples as usize;
        let Some(packet) = buf.get_mut(..needed) else {
            return Err(StreamError::BufferTooSmall {
                len: buf.len(),
                needed,
            });
        };
        let (head, payload) = packet.split_at_mut(HEADER_LEN);
        let mut header = RtpHeader {
            marker: self.marker,
            payload_type: self.format.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        let mut len = needed;
        match &mut self.source {
            Source::Playlist(p) => p.fill(payload, self.format.law.silence()),
            Source::Silence => payload.fill(self.format.law.silence()),
            Source::Relay(relay) => match relay.lock().fill(self.timestamp, payload) {
                Fill::Audio => {}
                Fill::Event {
                    payload: event,
                    payload_type,
                    timestamp,
                    marker,
                } => {
                    // RFC 4733 §2.5.1: the event's start timestamp on every packet of it,
                    // the marker on its first; the slot's time still passes below.
                    payload[..4].copy_from_slice(&event);
                    header.payload_type = payload_type;
                    header.timestamp = timestamp;
                    header.marker = marker;
                    len = HEADER_LEN + 4;
                }
                Fill::Nothing => len = 0,
            },
        }
        if len == 0 {
            // Nothing to send: time passes, no sequence number is used.
            self.timestamp = self.timestamp.wrapping_add(samples);
            return Ok(0);
        }
        if let Ok(head) = <&mut [u8; HEADER_LEN]>::try_from(head) {
            header.write(head);
        }
        self.marker = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add((len - HEADER_LEN) as u32);
        Ok(len)
    }

    /// Skips `packets` packets' worth of time and audio without sending them: the timestamp
    /// and the source move on, the sequence number does not (nothing was lost in the network;
    /// to the receiver this is a silence period, RFC 3550 §5.1), and the next packet carries the
    /// marker so its jitter buffer resynchronizes instead of concealing 'loss'.
    pub fn skip(&mut self, packets: u64) {
        if packets == 0 {
            return;
        }
        let samples = u64::from(self.format.samples_per_packet()) * packets;
        self.timestamp = self.timestamp.wrapping_add(samples as u32);
        match &mut self.source {
            Source::Playlist(p) => p.advance(samples),
            Source::Relay(relay) => relay.lock().skip(samples as usize),
            Source::Silence => {}
        }
        self.marker = true;
    }

    /// Stops sending; `next_due` is when the next packet would have gone out.
    pub fn pause(&mut self, next_due: Time) {
        if self.paused_at.is_none() {
            self.paused_at = Some(next_due);
        }
    }

    /// Resumes at `now`: the timestamp jumps by the time spent paused and the marker is set.
    pub fn resume(&mut self, now: Time) {
        if let Some(since) = self.paused_at.take() {
            self.timestamp = self
                .timestamp
                .wrapping_add(samples_in(now.saturating_since(since)));
            self.marker = true;
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// A new payload type, packet time or law from a re-negotiation; timing runs on.
    pub fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    /// Plays `source` from the next packet on; seq/ts continue. `marker` flags a new talkspurt.
    pub fn set_source(&mut self, source: Source, marker: bool) {
        self.source = source;
        self.marker |= marker;
    }

    /// Plays `source` from the next packet on and returns the one it replaces.
    pub fn replace_source(&mut self, source: Source, marker: bool) -> Source {
        self.marker |= marker;
        std::mem::replace(&mut self.source, source)
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn source_mut(&mut self) -> &mut Source {
        &mut self.source
    }

    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The next packet's sequence number.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// The next packet's timestamp.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Packets and payload octets sent so far (for the RTCP SR, §6.4.1).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::super::packet::parse;
    use super::*;

    const PCMU_20: Format = Format {
        payload_type: 0,
        ptime_ms: 20,
        law: Law::Ulaw,
    };

    fn bytes(range: std::ops::Range<u32>) -> Arc<[u8]> {
        range.map(|i| i as u8).collect::<Vec<_>>().into()
    }

    fn stream(format: Format, source: Source) -> OutgoingStream {
        OutgoingStream::new(&mut StdRng::seed_from_u64(7), format, source)
    }

    /// Sends `n` packets and returns (marker, seq, ts, payload) of each.
    fn send(s: &mut OutgoingStream, n: usize) -> Vec<(bool, u16, u32, Vec<u8>)> {
        let mut buf = [0u8; MAX_PACKET_LEN];
        (0..n)
            .map(|_| {
                let len = s.write_packet(&mut buf).unwrap();
                let p = parse(&buf[..len]).unwrap();
                (p.marker, p.sequence, p.timestamp, p.payload.to_vec())
            })
            .collect()
    }

    #[test]
    fn seq_and_ts_continue_across_greeting_and_music_loops() {
        // A 250-sample greeting and 300-sample music: packets straddle both boundaries.
        let greeting = bytes(0..250);
        let music: Arc<[u8]> = (0..300u32).map(|i| 100 + (i % 100) as u8).collect();
        let playlist = Playlist::new(Some(greeting.clone()), music.clone());
        let mut s = stream(PCMU_20, Source::Playlist(playlist));
        let packets = send(&mut s, 10);
        for pair in packets.windows(2) {
            assert_eq!(pair[1].1, pair[0].1.wrapping_add(1));
            assert_eq!(pair[1].2, pair[0].2.wrapping_add(160));
        }
        let played: Vec<u8> = packets.iter().flat_map(|p| p.3.clone()).collect();
        let expected: Vec<u8> = greeting
            .iter()
            .chain(music.iter().cycle())
            .take(1600)
            .copied()
            .collect();
        assert_eq!(played, expected);
    }

    #[test]
    fn first_stream_values_come_from_the_rng() {
        let a = stream(PCMU_20, Source::Silence);
        let b = OutgoingStream::new(&mut StdRng::seed_from_u64(8), PCMU_20, Source::Silence);
        assert_ne!(
            (a.ssrc(), a.sequence(), a.timestamp()),
            (b.ssrc(), b.sequence(), b.timestamp())
        );
        let again = stream(PCMU_20, Source::Silence);
        assert_eq!(a.ssrc(), again.ssrc());
    }

    #[test]
    fn marker_set_on_first_packet_and_after_resume() {
        let mut s = stream(PCMU_20, Source::Silence);
        let first = send(&mut s, 3);
        assert_eq!(
            first.iter().map(|p| p.0).collect::<Vec<_>>(),
            [true, false, false]
        );
        s.pause(Time::from_millis(60));
        assert!(s.is_paused());
        s.resume(Time::from_millis(1060));
        let after = send(&mut s, 2);
        assert!(after[0].0 && !after[1].0);
        // The timestamp ran on for the second on hold; the sequence number did not.
        assert_eq!(after[0].1, first[2].1.wrapping_add(1));
        assert_eq!(after[0].2, first[2].2.wrapping_add(160 + 8000));
    }

    #[test]
    fn playlist_resumes_where_hold_paused_it() {
        let mut s = stream(
            PCMU_20,
            Source::Playlist(Playlist::new(None, bytes(0..1000))),
        );
        send(&mut s, 2);
        s.pause(Time::from_millis(40));
        s.resume(Time::from_millis(5000));
        let p = send(&mut s, 1);
        assert_eq!(p[0].3[0], 64); // 320 % 256
    }

    #[test]
    fn ptime_30_sends_240_samples_per_packet() {
        let format = Format {
            ptime_ms: 30,
            ..PCMU_20
        };
        let mut s = stream(format, Source::Silence);
        let p = send(&mut s, 2);
        assert_eq!(p[0].3.len(), 240);
        assert_eq!(p[1].2.wrapping_sub(p[0].2), 240);
        assert!(p[0].3.iter().all(|&b| b == 0xff));
    }

    #[test]
    fn alaw_silence_and_payload_type() {
        let format = Format {
            payload_type: 8,
            ptime_ms: 10,
            law: Law::Alaw,
        };
        let mut s = stream(format, Source::Playlist(Playlist::new(None, Arc::from([]))));
        let mut buf = [0u8; MAX_PACKET_LEN];
        let len = s.write_packet(&mut buf).unwrap();
        let p = parse(&buf[..len]).unwrap();
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.payload, &[0xd5; 80]);
    }

    #[test]
    fn skip_advances_ts_and_audio_but_not_seq() {
        let music = bytes(0..200);
        let mut s = stream(PCMU_20, Source::Playlist(Playlist::new(None, music)));
        let before = send(&mut s, 1);
        s.skip(4);
        let after = send(&mut s, 1);
        assert_eq!(after[0].1, before[0].1.wrapping_add(1));
        assert_eq!(after[0].2, before[0].2.wrapping_add(5 * 160));
        assert!(after[0].0, "marker after a gap");
        assert_eq!(after[0].3[0], (5 * 160 % 200) as u8);
    }

    #[test]
    fn skip_out_of_greeting_lands_in_music() {
        let greeting = bytes(0..100);
        let music = bytes(200..250);
        let mut s = stream(
            PCMU_20,
            Source::Playlist(Playlist::new(Some(greeting), music)),
        );
        s.skip(1); // 160 samples: 100 of greeting, then 60 of music (60 % 50 = 10)
        let p = send(&mut s, 1);
        assert_eq!(p[0].3[0], 210);
    }

    #[test]
    fn law_switch_keeps_the_playlist_position() {
        let mu = bytes(0..200);
        let mut s = stream(PCMU_20, Source::Playlist(Playlist::new(None, mu)));
        send(&mut s, 1);
        let a: Arc<[u8]> = (0..200u32).map(|i| (i as u8).wrapping_add(1)).collect();
        if let Source::Playlist(p) = s.source_mut() {
            p.replace_buffers(None, a);
        }
        s.set_format(Format {
            payload_type: 8,
            law: Law::Alaw,
            ..PCMU_20
        });
        let p = send(&mut s, 1);
        assert_eq!(p[0].3[0], 161);
    }

    #[test]
    fn small_buffer_is_an_error_not_a_panic() {
        let mut s = stream(PCMU_20, Source::Silence);
        let mut buf = [0u8; 100];
        assert_eq!(
            s.write_packet(&mut buf),
            Err(StreamError::BufferTooSmall {
                len: 100,
                needed: 172
            })
        );
    }
}
