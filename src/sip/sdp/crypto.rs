//! SDES: SRTP master keys carried in SDP `a=crypto` lines (RFC 4568), and the policy that says
//! when a stream is encrypted (`none` / `optional` / `required`).
//!
//! Only what this B2BUA uses: the `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`
//! suites (RFC 4568 §6.2.1/§6.2.2), one `inline:` key per line, no MKI, no session parameters.
//! A line asking for anything else is skipped and the next one is tried (§7.1.2: the answerer
//! picks the first acceptable line in the offerer's order); a stream with no acceptable line is
//! not answered with SRTP.
//!
//! Keys are only ever sent over secured signalling (§8.3): whoever builds the
//! [`SrtpLocal`] says whether the dialog runs over TLS. The packets themselves are protected by
//! `rtp::srtp`, which takes the [`SdesKeys`] negotiated here.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;

use super::model::{Attribute, MediaDescription};

/// When a stream is SRTP (per trunk, per user, and `[sip]` for everyone else).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SrtpPolicy {
    /// Plain RTP only; an SRTP-only offer is refused as before (488).
    None,
    /// SRTP when the caller offers it over TLS; plain RTP otherwise (an SRTP offer over UDP
    /// or TCP is answered with plain RTP, since keys may not go there in the clear).
    #[default]
    Optional,
    /// SRTP or nothing: a plain offer, or any offer over UDP/TCP, gets 488.
    Required,
}

impl SrtpPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpPolicy::None => "none",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Required => "required",
        }
    }

    pub fn from_name(name: &str) -> Option<SrtpPolicy> {
        match name {
            "none" => Some(SrtpPolicy::None),
            "optional" => Some(SrtpPolicy::Optional),
            "required" => Some(SrtpPolicy::Required),
            _ => None,
        }
    }
}

/// An SRTP crypto suite we speak (RFC 4568 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// AES-128 counter mode, 80-bit HMAC-SHA1 tag: the suite every SDES peer supports.
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag (RTP only; SRTCP keeps 80 bits, RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    /// Master key plus master salt, in bytes: 128-bit key, 112-bit salt (RFC 3711 §8.2).
    pub const KEY_SALT_LEN: usize = 30;
    pub const KEY_LEN: usize = 16;

    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(name: &str) -> Option<CryptoSuite> {
        // RFC 4568 §9.1: the suite name is case-sensitive.
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(CryptoSuite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(CryptoSuite::AesCm128HmacSha1_32),
            _ => None,
        }
    }
}

/// A master key and salt (`key||salt`, RFC 4568 §6.1). Its `Debug` does not print the key,
/// so logging a negotiated session never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; CryptoSuite::KEY_SALT_LEN]);

impl MasterKey {
    pub fn new(bytes: [u8; CryptoSuite::KEY_SALT_LEN]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn key(&self) -> &[u8] {
        &self.0[..CryptoSuite::KEY_LEN]
    }

    pub fn salt(&self) -> &[u8] {
        &self.0[CryptoSuite::KEY_LEN..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `inline:` form: base64 with padding (RFC 4568 §6.1 refers to RFC 3548 base64).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads an `inline:` key; padding is optional since some peers drop it.
    pub fn from_base64(text: &str) -> Result<MasterKey, CryptoError> {
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .map_err(|_| CryptoError::BadBase64)?;
        let bytes: [u8; CryptoSuite::KEY_SALT_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::KeyLength { len: bytes.len() })?;
        Ok(MasterKey(bytes))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// One usable `a=crypto` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub suite: CryptoSuite,
    pub key: MasterKey,
}

impl CryptoLine {
    /// The attribute as written after `a=`: `crypto:1 AES_CM_128_HMAC_SHA1_80 inline:…`.
    pub fn to_attribute(&self) -> Attribute {
        Attribute::Other {
            name: "crypto".to_owned(),
            value: Some(format!(
                "{} {} inline:{}",
                self.tag,
                self.suite.name(),
                self.key.to_base64()
            )),
        }
    }
}

/// Why an `a=crypto` line cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a=crypto is not <tag> <suite> <key-params>")]
    Malformed,
    #[error("crypto suite {0:?} is not supported")]
    UnknownSuite(String),
    #[error("key method is not inline:")]
    NotInline,
    #[error("inline key is not base64")]
    BadBase64,
    #[error("inline key||salt is {len} bytes, not 30")]
    KeyLength { len: usize },
    #[error("more than one key, or an MKI, is not supported")]
    Mki,
    #[error("session parameters are not supported")]
    SessionParams,
}

/// Reads the value of an `a=crypto` line (RFC 4568 §9.1):
/// `<tag> <crypto-suite> <key-params> [<session-param>]*`, `key-params` being
/// `inline:<key||salt>[|<lifetime>][|<MKI>:<length>]`.
pub fn parse_crypto(value: &str) -> Result<CryptoLine, CryptoError> {
    let mut words = value.split_ascii_whitespace();
    let (Some(tag), Some(suite), Some(key_params)) = (words.next(), words.next(), words.next())
    else {
        return Err(CryptoError::Malformed);
    };
    // §9.1: tag = 1*9DIGIT.
    if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::Malformed);
    }
    let tag: u32 = tag.parse().map_err(|_| CryptoError::Malformed)?;
    let suite =
        CryptoSuite::from_name(suite).ok_or_else(|| CryptoError::UnknownSuite(suite.to_owned()))?;
    // §6.3: a session parameter we do not understand makes the line unusable; the ones
    // defined (KDR, UNENCRYPTED_SRTP, …) all change the transform, which we do not offer.
    if words.next().is_some() {
        return Err(CryptoError::SessionParams);
    }
    // §9.1: several keys are separated by ';' (and then each needs an MKI).
    if key_params.contains(';') {
        return Err(CryptoError::Mki);
    }
    let inline = key_params
        .strip_prefix("inline:")
        .ok_or(CryptoError::NotInline)?;
    let mut parts = inline.split('|');
    let key = MasterKey::from_base64(parts.next().unwrap_or_default())?;
    for part in parts {
        // `<lifetime>` (decimal or 2^n) is harmless: a call never sends 2^31 packets. An MKI
        // (`<value>:<length>`) puts an identifier in every packet, which we do not do.
        if part.contains(':') {
            return Err(CryptoError::Mki);
        }
    }
    Ok(CryptoLine { tag, suite, key })
}

/// Every `a=crypto` line of `media`, read, in order (unusable ones as errors).
pub fn crypto_lines(
    media: &MediaDescription,
) -> impl Iterator<Item = Result<CryptoLine, CryptoError>> + '_ {
    media.attributes.iter().filter_map(|a| match a {
        Attribute::Other { name, value } if name.eq_ignore_ascii_case("crypto") => {
            Some(parse_crypto(value.as_deref().unwrap_or_default()))
        }
        _ => None,
    })
}

/// The first usable line (RFC 4568 §7.1.2: in the offerer's order of preference).
pub fn first_usable(media: &MediaDescription) -> Option<CryptoLine> {
    crypto_lines(media).find_map(Result::ok)
}

/// Whether `proto` is an SRTP profile we can answer with SDES (`RTP/SAVP`, `RTP/SAVPF`;
/// DTLS-SRTP's `UDP/TLS/RTP/SAVP` is keyed differently and stays unsupported).
pub fn is_sdes_profile(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/SAVP") || proto.eq_ignore_ascii_case("RTP/SAVPF")
}

/// The plain profile of an SRTP one: what a downgraded answer says.
pub fn plain_profile(proto: &str) -> &'static str {
    if proto.eq_ignore_ascii_case("RTP/SAVPF") {
        "RTP/AVPF"
    } else {
        "RTP/AVP"
    }
}

/// What one dialog may do with SRTP: the policy that applies to its peer, whether its
/// signalling is secure enough to carry keys (TLS, RFC 4568 §8.3), and our own master key for
/// it (fresh per dialog, from the core's key generator).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrtpLocal {
    pub policy: SrtpPolicy,
    pub secure_signalling: bool,
    pub key: Option<MasterKey>,
}

impl SrtpLocal {
    /// No SRTP: what dialogs had before policies existed (agent legs, tests).
    pub fn off() -> SrtpLocal {
        SrtpLocal {
            policy: SrtpPolicy::None,
            secure_signalling: false,
            key: None,
        }
    }

    /// Our key, when keys may be exchanged on this dialog at all.
    pub fn usable_key(&self) -> Option<&MasterKey> {
        match self.policy {
            SrtpPolicy::None => None,
            _ if !self.secure_signalling => None,
            _ => self.key.as_ref(),
        }
    }
}

/// The keys of an SRTP stream, once negotiated: `ours` protects what we send, `theirs`
/// authenticates and decrypts what the peer sends (RFC 4568 §6.1: each side sends with the key
/// it announced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesKeys {
    pub suite: CryptoSuite,
    pub ours: MasterKey,
    pub theirs: MasterKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn reads_an_inline_key_with_lifetime() {
        let line = parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20")).unwrap();
        assert_eq!(line.tag, 1);
        assert_eq!(line.suite, CryptoSuite::AesCm128HmacSha1_80);
        assert_eq!(line.key.to_base64(), KEY);
        assert_eq!(line.key.key().len(), 16);
        assert_eq!(line.key.salt().len(), 14);
        let short = parse_crypto(&format!("7 AES_CM_128_HMAC_SHA1_32 inline:{KEY}")).unwrap();
        assert_eq!(short.suite, CryptoSuite::AesCm128HmacSha1_32);
    }

    #[test]
    fn refuses_what_we_cannot_use() {
        assert_eq!(
            parse_crypto(&format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}")),
            Err(CryptoError::UnknownSuite("AES_256_CM_HMAC_SHA1_80".into()))
        );
        assert_eq!(
            parse_crypto("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64!"),
            Err(CryptoError::BadBase64)
        );
        // 24 bytes: a key without its salt.
        assert_eq!(
            parse_crypto("1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            Err(CryptoError::KeyLength { len: 24 })
        );
        assert_eq!(
            parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4")),
            Err(CryptoError::Mki)
        );
        assert_eq!(
            parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=1")),
            Err(CryptoError::SessionParams)
        );
        assert_eq!(
            parse_crypto(&format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}")),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 uri:{KEY}")),
            Err(CryptoError::NotInline)
        );
        assert_eq!(parse_crypto(""), Err(CryptoError::Malformed));
        assert_eq!(
            parse_crypto("1 AES_CM_128_HMAC_SHA1_80"),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn unpadded_base64_is_accepted_and_written_padded() {
        let key = MasterKey::new([7; 30]);
        let padded = key.to_base64();
        assert_eq!(padded.len(), 40);
        let line = parse_crypto(&format!(
            "2 AES_CM_128_HMAC_SHA1_80 inline:{}",
            padded.trim_end_matches('=')
        ))
        .unwrap();
        assert_eq!(line.key, key);
    }

    #[test]
    fn keys_do_not_show_in_debug_output() {
        let keys = SdesKeys {
            suite: CryptoSuite::AesCm128HmacSha1_80,
            ours: MasterKey::new([0x41; 30]),
            theirs: MasterKey::new([0x42; 30]),
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("65") && !shown.contains("QUFB"), "{shown}");
    }

    #[test]
    fn keys_are_usable_only_over_secure_signalling_and_with_a_policy() {
        let mut local = SrtpLocal {
            policy: SrtpPolicy::Optional,
            secure_signalling: true,
            key: Some(MasterKey::new([1; 30])),
        };
        assert!(local.usable_key().is_some());
        local.secure_signalling = false;
        assert!(local.usable_key().is_none());
        local.secure_signalling = true;
        local.policy = SrtpPolicy::None;
        assert!(local.usable_key().is_none());
    }
}
