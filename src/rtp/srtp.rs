//! SRTP and SRTCP (RFC 3711) for one stream, keyed from outside (SDES, RFC 4568): a thin
//! wrapper over `rtc-srtp`, which does the key derivation (§4.3), AES counter mode (§4.1.1),
//! HMAC-SHA1 (§4.2.1), the rollover counter (§3.3.1) and the replay window (§3.3.2). Nothing
//! here is our own cryptography.
//!
//! A [`Protector`] protects what we send (RTP from the pacer, our RTCP reports); an
//! [`Unprotector`] authenticates and decrypts what the peer sends, before anything else looks
//! at it (latching, statistics, DTMF, the bridge). A packet that fails authentication or is a
//! replay is an error, never a panic; the caller drops and counts it.

use bytes::BytesMut;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

/// The SRTP transforms we key (RFC 4568 §6.2.1, §6.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

/// A stream's master key and salt (16 + 14 bytes for AES-128).
#[derive(Clone, Copy)]
pub struct Keying<'a> {
    pub suite: Suite,
    pub key: &'a [u8],
    pub salt: &'a [u8],
}

/// Why a packet could not be protected or unprotected.
#[derive(Debug, thiserror::Error)]
#[error("SRTP: {0}")]
pub struct SrtpError(String);

/// RFC 3711 §3.3.2 asks for a window of at least 64; RTP arrives reordered by a few packets at
/// most, so 128 costs nothing and forgives more.
const REPLAY_WINDOW: usize = 128;

fn context(keying: Keying<'_>, replay: bool) -> Result<Context, SrtpError> {
    let profile = match keying.suite {
        Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    };
    let provider = rtc_srtp::crypto::default_provider().map_err(|e| SrtpError(e.to_string()))?;
    let (rtp, rtcp) = match replay {
        true => (
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            Some(srtcp_replay_protection(REPLAY_WINDOW)),
        ),
        false => (None, None),
    };
    Context::new(
        keying.key,
        keying.salt,
        profile,
        rtp,
        rtcp,
        provider.crypto(),
    )
    .map_err(|e| SrtpError(e.to_string()))
}

/// Protects one stream's outgoing RTP or RTCP with our master key.
pub struct Protector {
    /// `None`: keys the library refused; every packet is then an error (dropped), never sent
    /// in the clear.
    context: Option<Context>,
}

fn no_context() -> SrtpError {
    SrtpError("no usable keys".to_owned())
}

impl Protector {
    pub fn new(keying: Keying<'_>) -> Result<Protector, SrtpError> {
        Ok(Protector {
            context: Some(context(keying, false)?),
        })
    }

    /// A protector that refuses every packet (for a stream whose keys could not be used).
    pub fn refusing() -> Protector {
        Protector { context: None }
    }

    /// The SRTP packet for a plain RTP packet (header authenticated, payload encrypted, the
    /// authentication tag appended).
    pub fn rtp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.context
            .as_mut()
            .ok_or_else(no_context)?
            .encrypt_rtp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }

    /// The SRTCP packet for a plain (compound) RTCP packet (RFC 3711 §3.4).
    pub fn rtcp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.context
            .as_mut()
            .ok_or_else(no_context)?
            .encrypt_rtcp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }
}

impl std::fmt::Debug for Protector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Protector")
    }
}

/// Authenticates and decrypts one peer's SRTP and SRTCP with its master key, with replay
/// protection.
///
/// The SRTP context keeps state (replay window, rollover counter) per SSRC, and creates it
/// for a packet's SSRC *before* the packet is authenticated; anyone who can reach the port
/// could grow it without bound with forged packets of random SSRCs. So SSRCs are gated here:
/// those that authenticated once pass; at most [`TRIALS`] others are ever tried (a peer uses
/// one or two), and while none has authenticated the context is renewed when they run out, so
/// a flood before the peer's first packet cannot lock the peer out either.
pub struct Unprotector {
    context: Option<Context>,
    suite: Suite,
    key: Vec<u8>,
    salt: Vec<u8>,
    /// SSRCs (RTP, and RTCP senders) whose packets authenticated.
    good: Vec<u32>,
    /// Distinct SSRCs tried and not (yet) authenticated, in this context.
    tried: Vec<u32>,
}

/// How many SSRCs that never authenticated one context will try.
const TRIALS: usize = 32;
/// How many authenticated SSRCs one peer may use.
const GOOD: usize = 8;

impl Unprotector {
    pub fn new(keying: Keying<'_>) -> Result<Unprotector, SrtpError> {
        Ok(Unprotector {
            context: Some(context(keying, true)?),
            suite: keying.suite,
            key: keying.key.to_vec(),
            salt: keying.salt.to_vec(),
            good: Vec::new(),
            tried: Vec::new(),
        })
    }

    /// An unprotector that refuses every packet (for a stream whose keys could not be used).
    pub fn refusing() -> Unprotector {
        Unprotector {
            context: None,
            suite: Suite::AesCm128HmacSha1_80,
            key: Vec::new(),
            salt: Vec::new(),
            good: Vec::new(),
            tried: Vec::new(),
        }
    }

    /// The plain RTP packet, or an error for a forged, damaged or replayed one.
    pub fn rtp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        let ssrc = ssrc_at(packet, 8)?;
        self.gated(ssrc, packet, |c, p| c.decrypt_rtp(p))
    }

    /// The plain RTCP packet, or an error.
    pub fn rtcp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        let ssrc = ssrc_at(packet, 4)?;
        self.gated(ssrc, packet, |c, p| c.decrypt_rtcp(p))
    }

    fn gated<E: std::fmt::Display>(
        &mut self,
        ssrc: u32,
        packet: &[u8],
        decrypt: impl FnOnce(&mut Context, &[u8]) -> Result<BytesMut, E>,
    ) -> Result<BytesMut, SrtpError> {
        if self.context.is_none() {
            return Err(no_context());
        }
        let known = self.good.contains(&ssrc) || self.tried.contains(&ssrc);
        if !known {
            if self.tried.len() >= TRIALS {
                if !self.good.is_empty() {
                    return Err(SrtpError(format!(
                        "SSRC {ssrc:#x} refused: {TRIALS} unauthenticated SSRCs tried already"
                    )));
                }
                // Nothing authenticated yet, so nothing to keep: a fresh context drops the
                // state the forged SSRCs made.
                let keying = Keying {
                    suite: self.suite,
                    key: &self.key,
                    salt: &self.salt,
                };
                self.context = Some(context(keying, true)?);
                self.tried.clear();
            }
            self.tried.push(ssrc);
        }
        let context = self.context.as_mut().ok_or_else(no_context)?;
        let plain = decrypt(context, packet).map_err(|e| SrtpError(e.to_string()))?;
        if !self.good.contains(&ssrc) {
            self.tried.retain(|&s| s != ssrc);
            if self.good.len() < GOOD {
                self.good.push(ssrc);
            }
        }
        Ok(plain)
    }
}

/// The SSRC at `at` (RTP: byte 8; RTCP: byte 4), or an error for a runt.
fn ssrc_at(packet: &[u8], at: usize) -> Result<u32, SrtpError> {
    packet
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| SrtpError(format!("a runt of {} bytes", packet.len())))
}

impl std::fmt::Debug for Unprotector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unprotector")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [
        0xE1, 0xF9, 0x7A, 0x0D, 0x3E, 0x01, 0x8B, 0xE0, 0xD6, 0x4F, 0xA3, 0x2C, 0x06, 0xDE, 0x41,
        0x39,
    ];
    const SALT: [u8; 14] = [
        0x0E, 0xC6, 0x75, 0xAD, 0x49, 0x8A, 0xFE, 0xEB, 0xB6, 0x96, 0x0B, 0x3A, 0xAB, 0xE6,
    ];

    fn keying(suite: Suite) -> Keying<'static> {
        Keying {
            suite,
            key: &KEY,
            salt: &SALT,
        }
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend(std::iter::repeat_n(0xD5, 160));
        p
    }

    #[test]
    fn round_trip_hides_the_payload_and_rejects_tampering_and_replay() {
        for (suite, tag) in [
            (Suite::AesCm128HmacSha1_80, 10),
            (Suite::AesCm128HmacSha1_32, 4),
        ] {
            let mut tx = Protector::new(keying(suite)).unwrap();
            let mut rx = Unprotector::new(keying(suite)).unwrap();
            let plain = rtp(1);
            let sealed = tx.rtp(&plain).unwrap();
            assert_eq!(sealed.len(), plain.len() + tag);
            assert_eq!(sealed[..12], plain[..12], "the header stays readable");
            assert_ne!(sealed[12..172], plain[12..], "the payload is encrypted");
            let mut forged = sealed.to_vec();
            forged[20] ^= 1;
            assert!(
                rx.rtp(&forged).is_err(),
                "a flipped payload bit fails the tag"
            );
            assert_eq!(rx.rtp(&sealed).unwrap()[..], plain[..]);
            assert!(rx.rtp(&sealed).is_err(), "a replay is refused");
            assert!(
                rx.rtp(&sealed[..8]).is_err(),
                "a runt is an error, not a panic"
            );
        }
    }

    /// Forged packets of random SSRCs, before and after the peer's first packet, neither lock
    /// the peer out nor grow the state beyond the bounds.
    #[test]
    fn forged_ssrcs_are_bounded_and_do_not_lock_the_peer_out() {
        let suite = Suite::AesCm128HmacSha1_80;
        let mut tx = Protector::new(keying(suite)).unwrap();
        let mut rx = Unprotector::new(keying(suite)).unwrap();
        let forge = |n: u32| {
            let mut p = rtp(1);
            p[8..12].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
            p.extend_from_slice(&[0u8; 10]);
            p
        };
        for n in 0..1000 {
            assert!(rx.rtp(&forge(n)).is_err());
            assert!(rx.tried.len() <= TRIALS);
        }
        let first = tx.rtp(&rtp(1)).unwrap();
        assert_eq!(
            rx.rtp(&first).unwrap()[..],
            rtp(1)[..],
            "the peer still gets through"
        );
        for n in 1000..2000 {
            assert!(rx.rtp(&forge(n)).is_err());
            assert!(rx.tried.len() <= TRIALS);
        }
        let second = tx.rtp(&rtp(2)).unwrap();
        assert_eq!(
            rx.rtp(&second).unwrap()[..],
            rtp(2)[..],
            "and keeps getting through"
        );
        assert_eq!(rx.good.len(), 1);
    }

    #[test]
    fn rtcp_round_trip() {
        let mut tx = Protector::new(keying(Suite::AesCm128HmacSha1_80)).unwrap();
        let mut rx = Unprotector::new(keying(Suite::AesCm128HmacSha1_80)).unwrap();
        // An empty receiver report (RFC 3550 §6.4.2).
        let rr = [0x80, 201, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78];
        let sealed = tx.rtcp(&rr).unwrap();
        assert!(sealed.len() >= rr.len() + 4 + 10);
        assert_eq!(rx.rtcp(&sealed).unwrap()[..], rr[..]);
    }

    #[test]
    fn wrong_key_lengths_are_errors() {
        let short = Keying {
            suite: Suite::AesCm128HmacSha1_80,
            key: &KEY[..8],
            salt: &SALT,
        };
        assert!(Protector::new(short).is_err());
        assert!(Protector::refusing().rtp(&rtp(1)).is_err());
        assert!(Unprotector::refusing().rtp(&rtp(1)).is_err());
    }
}
