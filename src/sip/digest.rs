//! Digest authentication as a client: answering a trunk's 401 / 407 challenge (RFC 3261
//! §22.2–22.4, RFC 7616 §3.4, RFC 8760 §2).
//!
//! The registrar's side (issuing challenges and checking answers) is [`server`].
//! Supported: MD5, SHA-256 and SHA-512-256, each also as `-sess`; `qop=auth` and `auth-int`,
//! and no qop at all (RFC 2069, which many SIP trunks still send); `userhash` (RFC 7616
//! §3.4.4). Pure: the caller supplies the client nonce.

pub mod server;

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// The hash a challenge names (RFC 7616 §3.3, RFC 8760 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
    Sha512_256,
}

impl Algorithm {
    fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
            Algorithm::Sha512_256 => hex(&Sha512_256::digest(data)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512_256 => "SHA-512-256",
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One `Digest` challenge from a WWW-Authenticate or Proxy-Authenticate header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// `-sess` variant: H(A1) includes the nonces (RFC 7616 §3.4.2).
    pub sess: bool,
    /// The qop options offered; empty when the challenge has no qop (RFC 2069 style).
    pub qop: Vec<String>,
    /// The server refused our last nonce as stale, not our credentials (RFC 7616 §3.3).
    pub stale: bool,
    pub userhash: bool,
}

/// Why a challenge cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("challenge has no {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
    #[error("no supported qop in {0:?}")]
    Qop(String),
    #[error("malformed challenge")]
    Malformed,
}

impl Challenge {
    /// Parses `Digest realm="…", nonce="…", …` (RFC 3261 §25.1 `challenge`, RFC 7616 §3.3).
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = "MD5".to_owned();
        let mut qop = Vec::new();
        let mut stale = false;
        let mut userhash = false;
        for (name, val) in params(rest)? {
            match name.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(val),
                "nonce" => nonce = Some(val),
                "opaque" => opaque = Some(val),
                "algorithm" => algorithm = val,
                "qop" => {
                    qop = val
                        .split(',')
                        .map(|q| q.trim().to_ascii_lowercase())
                        .filter(|q| !q.is_empty())
                        .collect()
                }
                "stale" => stale = val.eq_ignore_ascii_case("true"),
                "userhash" => userhash = val.eq_ignore_ascii_case("true"),
                // domain, charset and extensions: nothing a client must act on.
                _ => {}
            }
        }
        let upper = algorithm.to_ascii_uppercase();
        let (base, sess) = match upper.strip_suffix("-SESS") {
            Some(base) => (base, true),
            None => (upper.as_str(), false),
        };
        let algorithm = match base {
            "MD5" => Algorithm::Md5,
            "SHA-256" => Algorithm::Sha256,
            "SHA-512-256" => Algorithm::Sha512_256,
            _ => return Err(DigestError::Algorithm(algorithm)),
        };
        Ok(Challenge {
            realm: realm.ok_or(DigestError::Missing("realm"))?,
            nonce: nonce.ok_or(DigestError::Missing("nonce"))?,
            opaque,
            algorithm,
            sess,
            qop,
            stale,
            userhash,
        })
    }

    /// The first challenge holdline can answer among a response's headers, in order: RFC 8760
    /// §2.4 (a UAC uses the topmost challenge whose algorithm it supports). With `realm`, only
    /// that realm's challenges are candidates, so another realm's listed first is skipped.
    pub fn pick<'a>(
        values: impl IntoIterator<Item = &'a str>,
        realm: Option<&str>,
    ) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .filter(|c| realm.is_none_or(|r| r == c.realm))
            .find(|c| c.chosen_qop().is_ok())
    }

    /// `auth` when offered, else `auth-int`, else none when the challenge offered none.
    fn chosen_qop(&self) -> Result<Option<&'static str>, DigestError> {
        if self.qop.is_empty() && self.sess {
            // A -sess H(A1) includes the cnonce, which only a qop answer carries (RFC 7616
            // §3.4.2): the server could never check it.
            Err(DigestError::Qop("none, with a -sess algorithm".into()))
        } else if self.qop.is_empty() {
            Ok(None)
        } else if self.qop.iter().any(|q| q == "auth") {
            Ok(Some("auth"))
        } else if self.qop.iter().any(|q| q == "auth-int") {
            Ok(Some("auth-int"))
        } else {
            Err(DigestError::Qop(self.qop.join(",")))
        }
    }
}

/// What is being authorised: the request's method, Request-URI and body (for `auth-int`).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
}

/// The Authorization / Proxy-Authorization value answering `ch` (RFC 7616 §3.4), with client
/// nonce `cnonce` and nonce count 1 (each nonce is used once).
pub fn authorization(
    ch: &Challenge,
    username: &str,
    password: &str,
    req: Request<'_>,
    cnonce: &str,
) -> Result<String, DigestError> {
    let qop = ch.chosen_qop()?;
    let nc = "00000001";
    let response = response(ch, username, password, req, qop, nc, cnonce);
    let user = if ch.userhash {
        // RFC 7616 §3.4.4: the username hashed with the realm, so the wire never shows it.
        ch.algorithm
            .hash(format!("{username}:{}", ch.realm).as_bytes())
    } else {
        username.to_owned()
    };
    let mut v = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}{}",
        quote(&user),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(req.uri),
        quote(&response),
        ch.algorithm.name(),
        if ch.sess { "-sess" } else { "" },
    );
    if let Some(qop) = qop {
        let _ = write!(v, ", qop={qop}, nc={nc}, cnonce={}", quote(cnonce));
    }
    if let Some(opaque) = &ch.opaque {
        let _ = write!(v, ", opaque={}", quote(opaque));
    }
    if ch.userhash {
        v.push_str(", userhash=true");
    }
    Ok(v)
}

/// The `response` value (RFC 7616 §3.4.1; RFC 2069 form when there is no qop).
fn response(
    ch: &Challenge,
    username: &str,
    password: &str,
    req: Request<'_>,
    qop: Option<&str>,
    nc: &str,
    cnonce: &str,
) -> String {
    let h = |s: &str| ch.algorithm.hash(s.as_bytes());
    let mut ha1 = h(&format!("{username}:{}:{password}", ch.realm));
    if ch.sess {
        // §3.4.2: A1 = H(user:realm:password):nonce:cnonce.
        ha1 = h(&format!("{ha1}:{}:{cnonce}", ch.nonce));
    }
    let ha2 = match qop {
        // §3.4.3: auth-int also covers the body.
        Some("auth-int") => h(&format!(
            "{}:{}:{}",
            req.method,
            req.uri,
            ch.algorithm.hash(req.body)
        )),
        _ => h(&format!("{}:{}", req.method, req.uri)),
    };
    match qop {
        Some(qop) => h(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", ch.nonce)),
        None => h(&format!("{ha1}:{}:{ha2}", ch.nonce)),
    }
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// `name=value` pairs separated by commas; a value is a token or a quoted string whose commas
/// and escaped quotes belong to it (RFC 3261 §25.1 `auth-param`).
fn params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || name.is_empty() {
            return Err(DigestError::Malformed);
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or(DigestError::Malformed)?),
                    Some(c) => value.push(c),
                    None => return Err(DigestError::Malformed),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: Request<'static> = Request {
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    };

    /// The response value inside an Authorization header.
    fn response_of(header: &str) -> String {
        params(header.strip_prefix("Digest").unwrap())
            .unwrap()
            .into_iter()
            .find(|(n, _)| n == "response")
            .unwrap()
            .1
    }

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 §3.5.
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(ch.qop, ["auth", "auth-int"]);
        let v = authorization(&ch, "Mufasa", "Circle Of Life", GET, "0a4f113b").unwrap();
        assert_eq!(response_of(&v), "6629fae49393a05397450978507c4ef1");
        assert!(v.contains("qop=auth, nc=00000001, cnonce=\"0a4f113b\""));
        assert!(v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn rfc_7616_examples_md5_and_sha256() {
        // RFC 7616 §3.9.1.
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, want) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let ch = Challenge::parse(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ))
            .unwrap();
            let v = authorization(&ch, "Mufasa", "Circle of Life", GET, cnonce).unwrap();
            assert_eq!(response_of(&v), want, "{alg}");
            assert!(v.contains(&format!("algorithm={alg}")));
        }
    }

    #[test]
    fn no_qop_is_the_rfc_2069_form() {
        let ch = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        let v = authorization(&ch, "u", "p", GET, "c").unwrap();
        let h = |s: &str| Algorithm::Md5.hash(s.as_bytes());
        let want = h(&format!("{}:n:{}", h("u:r:p"), h("GET:/dir/index.html")));
        assert_eq!(response_of(&v), want);
        assert!(!v.contains("qop=") && !v.contains("cnonce="));
    }

    #[test]
    fn sess_auth_int_and_userhash() {
        let ch = Challenge::parse(
            "DIGEST realm=\"r\", nonce=\"n\", algorithm=SHA-512-256-sess, qop=\"auth-int\", \
             userhash=true",
        )
        .unwrap();
        assert_eq!(
            (ch.algorithm, ch.sess, ch.userhash),
            (Algorithm::Sha512_256, true, true)
        );
        let req = Request {
            method: "INVITE",
            uri: "sip:+14255550999@carrier.example",
            body: b"v=0\r\n",
        };
        let v = authorization(&ch, "u", "p", req, "c").unwrap();
        let h = |s: &str| Algorithm::Sha512_256.hash(s.as_bytes());
        let ha1 = h(&format!("{}:n:c", h("u:r:p")));
        let ha2 = h(&format!(
            "INVITE:sip:+14255550999@carrier.example:{}",
            Algorithm::Sha512_256.hash(b"v=0\r\n")
        ));
        assert_eq!(
            response_of(&v),
            h(&format!("{ha1}:n:00000001:c:auth-int:{ha2}"))
        );
        assert!(v.contains(&format!("username=\"{}\"", h("u:r"))));
        assert!(v.contains("algorithm=SHA-512-256-sess") && v.contains("userhash=true"));
    }

    #[test]
    fn picks_the_topmost_supported_challenge() {
        let picked = Challenge::pick(
            [
                "Basic realm=\"r\"",
                "Digest realm=\"r\", nonce=\"a\", algorithm=SHA3-512",
                "Digest realm=\"r\", nonce=\"b\", algorithm=SHA-256, qop=\"auth\"",
                "Digest realm=\"r\", nonce=\"c\", algorithm=MD5, qop=\"auth\"",
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            (picked.nonce.as_str(), picked.algorithm),
            ("b", Algorithm::Sha256)
        );
        assert!(
            Challenge::pick(["Digest realm=\"r\", nonce=\"n\", qop=\"weird\""], None).is_none()
        );
        assert!(Challenge::pick(
            ["Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"],
            None
        )
        .is_none());
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let ch = Challenge::parse(
            "Digest nonce=\"a,b\\\"c\", realm=\"x\\\\y\", stale=TRUE, domain=\"sip:a sip:b\"",
        )
        .unwrap();
        assert_eq!((ch.nonce.as_str(), ch.realm.as_str()), ("a,b\"c", "x\\y"));
        assert!(ch.stale);
        let v = authorization(&ch, "u\"", "p", GET, "c").unwrap();
        assert!(v.contains("username=\"u\\\"\"") && v.contains("realm=\"x\\\\y\""));
    }

    #[test]
    fn bad_challenges_are_refused() {
        assert_eq!(
            Challenge::parse("Basic realm=\"r\""),
            Err(DigestError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(DigestError::Missing("realm"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n"),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            Challenge::parse("Digest realm"),
            Err(DigestError::Malformed)
        );
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-1"),
            Err(DigestError::Algorithm(_))
        ));
    }
}
