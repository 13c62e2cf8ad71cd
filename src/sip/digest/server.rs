//! Digest authentication as a server: issuing challenges and checking the answers (RFC 7616,
//! RFC 8760, RFC 3261 §22.4), for the registrar.
//!
//! Nonces are bound to the server and need no table: a nonce is the time it was issued, a
//! serial number and an HMAC-SHA256 over both, the realm and the server's run with a secret
//! only the server knows (RFC 7616 §5.4). A nonce whose MAC is right but whose time is past the
//! lifetime is answered `stale=true` (the credentials were right, only the nonce is old, RFC
//! 7616 §3.3), and so is a right answer to a nonce that is not ours (another secret, or one
//! from before a restart, whose counts are gone): only a wrong response is a failure. Replays
//! are caught by the nonce count (`nc`, RFC 7616 §3.4): the highest count seen per nonce is kept
//! in a bounded table, a count not above it fails, and a nonce whose count was dropped from the
//! table is stale, never new.
//!
//! Only HA1 values are kept (`H(username:realm:password)`), one per algorithm; nothing here
//! logs a password or an Authorization header. Pure: time comes in as [`Time`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{hex, params, quote, Algorithm};
use crate::time::Time;

/// The algorithms a challenge offers, in the order of the WWW-Authenticate headers: SHA-256
/// first, so a client that knows it uses it (RFC 8760 §2.4: the topmost it supports).
pub const OFFERED: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

/// How many nonces' counts are remembered; beyond it the oldest are forgotten (a forgotten
/// nonce's next use is answered `stale=true`, never accepted as fresh).
pub const MAX_TRACKED_NONCES: usize = 16_384;

/// `H(username:realm:password)` for `algorithm` (RFC 7616 §3.4.2).
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash(format!("{username}:{realm}:{password}").as_bytes())
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The answer to a challenge, as an Authorization header gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub qop: Option<String>,
    pub nc: Option<u32>,
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Parses `Digest username="…", …`; `None` when it is not Digest, lacks a field the check
    /// needs, or names an algorithm we do not offer (a `-sess` one included).
    pub fn parse(value: &str) -> Option<Credentials> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = Algorithm::Md5;
        let mut qop = None;
        let mut nc = None;
        let mut cnonce = None;
        for (name, val) in params(rest).ok()? {
            match name.to_ascii_lowercase().as_str() {
                "username" => username = Some(val),
                "realm" => realm = Some(val),
                "nonce" => nonce = Some(val),
                "uri" => uri = Some(val),
                "response" => response = Some(val.to_ascii_lowercase()),
                "algorithm" => {
                    algorithm = match val.to_ascii_uppercase().as_str() {
                        "MD5" => Algorithm::Md5,
                        "SHA-256" => Algorithm::Sha256,
                        _ => return None,
                    }
                }
                "qop" => qop = Some(val.to_ascii_lowercase()),
                // RFC 7616 §3.4: exactly 8 hex digits.
                "nc" if val.len() == 8 => nc = Some(u32::from_str_radix(&val, 16).ok()?),
                "nc" => return None,
                "cnonce" => cnonce = Some(val),
                _ => {}
            }
        }
        Some(Credentials {
            username: username?,
            realm: realm?,
            nonce: nonce?,
            uri: uri?,
            response: response?,
            algorithm,
            qop,
            nc,
            cnonce,
        })
    }
}

/// What a check of credentials found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// The response was right for a nonce of ours that is too old (or forgotten): challenge
    /// again with `stale=true`; not a failure.
    Stale,
    /// Wrong: the reason, for the log (never the credentials themselves).
    Fail(&'static str),
}

/// Issues and checks nonces, and remembers nonce counts.
#[derive(Debug)]
pub struct Verifier {
    secret: Vec<u8>,
    lifetime: Duration,
    /// Highest `nc` seen per nonce, and the nonces in the order first seen (for the bound).
    counts: HashMap<String, u32>,
    order: VecDeque<String>,
    /// Makes each challenge's nonce unique: two phones challenged in the same millisecond
    /// must not share a nonce, or the second one's `nc=1` would look like a replay.
    issued: u32,
    /// The highest serial among nonces whose counts were dropped to keep the table bounded:
    /// such a nonce (or an older one never used) is answered `stale=true`, never taken as new.
    forgotten_upto: Option<u32>,
    /// This process's run, in every MAC: the secret outlives a restart, the counts do not, so
    /// a nonce from before the restart must not verify as fresh (its counts are gone).
    boot: u64,
}

impl Verifier {
    pub fn new(secret: &[u8], lifetime: Duration) -> Verifier {
        Verifier {
            secret: secret.to_vec(),
            lifetime,
            counts: HashMap::new(),
            order: VecDeque::new(),
            issued: 0,
            forgotten_upto: None,
            boot: 0,
        }
    }

    /// Names this run of the server (the runtime draws it at random at start).
    pub fn set_boot(&mut self, boot: u64) {
        self.boot = boot;
    }

    pub fn set_secret(&mut self, secret: &[u8]) {
        self.secret = secret.to_vec();
        self.counts.clear();
        self.order.clear();
    }

    pub fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    /// A fresh nonce for `realm` at `now`: 16 hex digits of milliseconds and 8 of a serial
    /// number, then the first 16 bytes of HMAC-SHA256(secret, time serial ":" realm) in hex.
    pub fn nonce(&mut self, now: Time, realm: &str) -> String {
        let ms = u64::try_from(now.since_epoch().as_millis()).unwrap_or(u64::MAX);
        self.issued = self.issued.wrapping_add(1);
        let stamp = format!("{ms:016x}{:08x}", self.issued);
        let mac = self.mac(&stamp, realm);
        format!("{stamp}{mac}")
    }

    fn mac(&self, stamp: &str, realm: &str) -> String {
        let data = format!("{:016x}{stamp}:{realm}", self.boot);
        hex(&hmac_sha256(&self.secret, data.as_bytes())[..16])
    }

    /// The `WWW-Authenticate` values for `realm`, one per offered algorithm, SHA-256 first.
    pub fn challenges(&mut self, now: Time, realm: &str, stale: bool) -> Vec<String> {
        self.challenges_for(now, realm, stale, &OFFERED)
    }

    /// [`Verifier::challenges`] offering `algorithms`, in that order (the registrar's
    /// `digest_algorithms`), all with the same nonce.
    pub fn challenges_for(
        &mut self,
        now: Time,
        realm: &str,
        stale: bool,
        algorithms: &[Algorithm],
    ) -> Vec<String> {
        let nonce = self.nonce(now, realm);
        algorithms
            .iter()
            .map(|alg| {
                format!(
                    "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"{}",
                    quote(realm),
                    quote(&nonce),
                    alg.name(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks `c` for a request with `method` against the user's HA1 for `c.algorithm`
    /// (`None`: no such user or no password, checked the same way so the time taken and the
    /// answer say nothing). `realm` is ours.
    pub fn verify(
        &mut self,
        now: Time,
        realm: &str,
        method: &str,
        c: &Credentials,
        ha1: Option<&str>,
    ) -> Verdict {
        if c.realm != realm {
            return Verdict::Fail("wrong realm");
        }
        // RFC 7616 §3.4: we offered qop=auth only; an answer without qop has no nonce count
        // and so no replay protection.
        let (Some("auth"), Some(nc), Some(cnonce)) = (c.qop.as_deref(), c.nc, &c.cnonce) else {
            return Verdict::Fail("no qop=auth with nc and cnonce");
        };
        // An unknown user is checked against a made-up HA1, so the time taken does not tell.
        let known = ha1.is_some();
        let ha1 = ha1.unwrap_or("00000000000000000000000000000000");
        let h = |s: &str| c.algorithm.hash(s.as_bytes());
        let ha2 = h(&format!("{method}:{}", c.uri));
        let want = h(&format!("{ha1}:{}:{:08x}:{cnonce}:auth:{ha2}", c.nonce, nc));
        if !known {
            return Verdict::Fail("unknown user or no password");
        }
        if !constant_time_eq(want.as_bytes(), c.response.as_bytes()) {
            return Verdict::Fail("wrong response");
        }
        // The response is right for the user's password: a nonce that is not ours (another
        // secret, before a restart), from the future (the clock's epoch was reset) or too
        // old only needs renewing (RFC 7616 §3.3), and says nothing the client did not know.
        let fresh = self
            .issued(&c.nonce, realm)
            .is_some_and(|t| t <= now && now.saturating_since(t) <= self.lifetime);
        if !fresh {
            return Verdict::Stale;
        }
        let forgotten = self.forgotten(&c.nonce);
        match self.counts.get_mut(&c.nonce) {
            Some(last) if nc <= *last => Verdict::Fail("nonce count replayed"),
            Some(last) => {
                *last = nc;
                Verdict::Ok
            }
            None if forgotten => Verdict::Stale,
            None => {
                self.remember(c.nonce.clone(), nc);
                Verdict::Ok
            }
        }
    }

    /// When `nonce` was issued, if it is ours for `realm`.
    fn issued(&self, nonce: &str, realm: &str) -> Option<Time> {
        if nonce.len() != 56 || !nonce.is_ascii() {
            return None;
        }
        let (stamp, mac) = nonce.split_at(24);
        let ms = u64::from_str_radix(&stamp[..16], 16).ok()?;
        constant_time_eq(self.mac(stamp, realm).as_bytes(), mac.as_bytes())
            .then(|| Time::from_millis(ms))
    }

    /// The serial number of one of our nonces.
    fn serial(nonce: &str) -> Option<u32> {
        u32::from_str_radix(nonce.get(16..24)?, 16).ok()
    }

    /// Whether `nonce`'s count may have been dropped to keep the table bounded.
    fn forgotten(&self, nonce: &str) -> bool {
        match (self.forgotten_upto, Verifier::serial(nonce)) {
            (Some(upto), Some(serial)) => serial <= upto,
            _ => false,
        }
    }

    fn remember(&mut self, nonce: String, nc: u32) {
        while self.order.len() >= MAX_TRACKED_NONCES {
            if let Some(old) = self.order.pop_front() {
                self.counts.remove(&old);
                let serial = Verifier::serial(&old).unwrap_or(u32::MAX);
                self.forgotten_upto = Some(self.forgotten_upto.map_or(serial, |u| u.max(serial)));
            }
        }
        self.order.push_back(nonce.clone());
        self.counts.insert(nonce, nc);
    }

    /// Forgets the counts of nonces past their lifetime (they are stale whatever their count).
    pub fn expire(&mut self, now: Time, realm: &str) {
        while let Some(front) = self.order.front() {
            let old = self
                .issued(front, realm)
                .is_none_or(|t| now.saturating_since(t) > self.lifetime);
            if !old {
                break;
            }
            if let Some(n) = self.order.pop_front() {
                self.counts.remove(&n);
            }
        }
    }

    /// Nonces whose counts are tracked (memory tests).
    pub fn tracked(&self) -> usize {
        self.counts.len()
    }
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::super::{authorization, Challenge, Request};
    use super::*;

    const REALM: &str = "example.com";

    fn answer(
        v: &mut Verifier,
        now: Time,
        alg: usize,
        password: &str,
        cnonce: &str,
    ) -> Credentials {
        let ch = Challenge::parse(&v.challenges(now, REALM, false)[alg]).unwrap();
        let req = Request {
            method: "REGISTER",
            uri: "sip:example.com",
            body: b"",
        };
        Credentials::parse(&authorization(&ch, "amos", password, req, cnonce).unwrap()).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn both_algorithms_verify_and_a_wrong_password_fails() {
        let mut v = Verifier::new(b"secret", Duration::from_secs(300));
        let now = Time::from_millis(5000);
        for (i, alg) in OFFERED.iter().enumerate() {
            let good = ha1(*alg, "amos", REALM, "pw");
            let c = answer(&mut v, now, i, "pw", "c1");
            assert_eq!(c.algorithm, *alg);
            assert_eq!(
                v.verify(now, REALM, "REGISTER", &c, Some(&good)),
                Verdict::Ok
            );
            let bad = answer(&mut v, now, i, "nope", "c2");
            assert!(matches!(
                v.verify(now, REALM, "REGISTER", &bad, Some(&good)),
                Verdict::Fail(_)
            ));
        }
    }

    #[test]
    fn old_or_foreign_nonce_is_stale_and_a_replayed_count_fails() {
        let mut v = Verifier::new(b"secret", Duration::from_secs(300));
        let good = ha1(Algorithm::Sha256, "amos", REALM, "pw");
        let c = answer(&mut v, Time::ZERO, 0, "pw", "c1");
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &c, Some(&good)),
            Verdict::Ok
        );
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &c, Some(&good)),
            Verdict::Fail("nonce count replayed")
        );
        let late = Time::from_millis(301_000);
        assert_eq!(
            v.verify(late, REALM, "REGISTER", &c, Some(&good)),
            Verdict::Stale
        );
        // Another server's nonce (or ours before the secret changed): stale with the right
        // password, a failure with a wrong one.
        let mut other = Verifier::new(b"other secret", Duration::from_secs(300));
        let foreign = answer(&mut other, Time::ZERO, 0, "pw", "c1");
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &foreign, Some(&good)),
            Verdict::Stale
        );
        let wrong = answer(&mut other, Time::ZERO, 0, "nope", "c1");
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &wrong, Some(&good)),
            Verdict::Fail("wrong response")
        );
        v.expire(late, REALM);
        assert_eq!(v.tracked(), 0);
    }

    #[test]
    fn a_nonce_from_another_run_is_stale_and_a_forgotten_count_is_never_new() {
        let mut before = Verifier::new(b"secret", Duration::from_secs(300));
        before.set_boot(1);
        let good = ha1(Algorithm::Sha256, "amos", REALM, "pw");
        let c = answer(&mut before, Time::ZERO, 0, "pw", "c1");
        assert_eq!(
            before.verify(Time::ZERO, REALM, "REGISTER", &c, Some(&good)),
            Verdict::Ok
        );
        // Restarted: same secret, another run. The captured answer is not accepted.
        let mut after = Verifier::new(b"secret", Duration::from_secs(300));
        after.set_boot(2);
        assert_eq!(
            after.verify(Time::ZERO, REALM, "REGISTER", &c, Some(&good)),
            Verdict::Stale
        );

        // Fill the count table past its bound: the first nonce's count is dropped, and its
        // replay is stale, not fresh.
        let mut v = Verifier::new(b"secret", Duration::from_secs(300));
        let first = answer(&mut v, Time::ZERO, 0, "pw", "c1");
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &first, Some(&good)),
            Verdict::Ok
        );
        for _ in 0..MAX_TRACKED_NONCES {
            let c = answer(&mut v, Time::ZERO, 0, "pw", "c1");
            assert_eq!(
                v.verify(Time::ZERO, REALM, "REGISTER", &c, Some(&good)),
                Verdict::Ok
            );
        }
        assert_eq!(v.tracked(), MAX_TRACKED_NONCES);
        assert_eq!(
            v.verify(Time::ZERO, REALM, "REGISTER", &first, Some(&good)),
            Verdict::Stale
        );
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            "Digest",
            "Digest nc=zz",
            "Digest username=\"a",
            "Basic abc",
            "Digest nc=123456789",
        ] {
            assert!(Credentials::parse(s).is_none(), "{s}");
        }
    }
}
