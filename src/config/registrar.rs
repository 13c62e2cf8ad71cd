//! `[registrar]`: the registrar for users with a `password` (RFC 3261 §10), its checks and
//! defaults.

use std::time::Duration;

use serde::Deserialize;

use super::model::SipConfig;
use super::validate::{in_range, Problems};
use crate::sip::digest::Algorithm;

/// `[registrar]` as the file gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([registrar])")]
pub struct RawRegistrar {
    pub realm: Option<String>,
    pub min_expires: Option<i64>,
    pub max_expires: Option<i64>,
    pub default_expires: Option<i64>,
    pub max_contacts: Option<i64>,
    pub nonce_lifetime: Option<i64>,
    pub auth_failures: Option<i64>,
    pub auth_failure_window: Option<i64>,
    pub auth_ban: Option<i64>,
    pub digest_algorithms: Option<Vec<String>>,
}

/// `[registrar]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The digest realm (default: the first of `[sip] domains`, else `public_host`, else
    /// `holdline`).
    pub realm: String,
    /// Shorter registrations get 423 (RFC 3261 §10.3 step 7).
    pub min_expires: Duration,
    /// Longer ones are shortened to this.
    pub max_expires: Duration,
    /// When the REGISTER names none.
    pub default_expires: Duration,
    /// Bindings per user at most; the oldest goes first.
    pub max_contacts: usize,
    /// How long a nonce is good for; older ones are answered `stale=true`.
    pub nonce_lifetime: Duration,
    /// Failed authentications from one address within `auth_failure_window` that ban it.
    pub auth_failures: u32,
    pub auth_failure_window: Duration,
    /// How long such a source is banned.
    pub auth_ban: Duration,
    /// The algorithms the 401 offers, one WWW-Authenticate each, in this order (RFC 8760 §2.4:
    /// most preferred first); an answer with another algorithm is refused.
    pub digest_algorithms: Vec<Algorithm>,
}

/// Checks `[registrar]`; every value out of range is a problem naming its field.
pub(super) fn registrar(raw: &RawRegistrar, sip: &SipConfig, p: &mut Problems) -> RegistrarConfig {
    const S: &str = "[registrar]";
    let mut secs = |field, value, default, range| {
        let v = in_range(S, field, value, default, range, " seconds", p);
        Duration::from_secs(u64::try_from(v).unwrap_or(0))
    };
    let min_expires = secs("min_expires", raw.min_expires, 60, 1..=86_400);
    let max_expires = secs("max_expires", raw.max_expires, 3600, 1..=604_800);
    let default_expires = secs("default_expires", raw.default_expires, 3600, 1..=604_800);
    let nonce_lifetime = secs("nonce_lifetime", raw.nonce_lifetime, 300, 10..=86_400);
    let auth_failure_window = secs(
        "auth_failure_window",
        raw.auth_failure_window,
        60,
        1..=86_400,
    );
    let auth_ban = secs("auth_ban", raw.auth_ban, 600, 1..=604_800);
    let max_contacts = in_range(
        S,
        "max_contacts",
        raw.max_contacts,
        10,
        1..=100,
        " contacts",
        p,
    );
    let auth_failures = in_range(
        S,
        "auth_failures",
        raw.auth_failures,
        10,
        1..=10_000,
        " failures",
        p,
    );
    if min_expires > max_expires {
        p.add(
            S,
            "min_expires",
            format!(
                "min_expires {} is larger than max_expires {}: no registration could last",
                min_expires.as_secs(),
                max_expires.as_secs()
            ),
        );
    }
    if default_expires < min_expires || default_expires > max_expires {
        p.add(
            S,
            "default_expires",
            format!(
                "default_expires {} is not between min_expires {} and max_expires {}",
                default_expires.as_secs(),
                min_expires.as_secs(),
                max_expires.as_secs()
            ),
        );
    }
    let realm = match &raw.realm {
        Some(r) => {
            // A realm is a quoted-string in the challenge (RFC 3261 §25.1): no quote, no
            // backslash, no control characters, so it is written back exactly.
            if r.trim().is_empty() || r.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
                p.add(
                    S,
                    "realm",
                    format!("realm {r:?} is empty or has a quote, backslash or control character"),
                );
            }
            r.clone()
        }
        None => sip
            .domains
            .first()
            .cloned()
            .or_else(|| sip.public_host.clone())
            .unwrap_or_else(|| "holdline".to_owned()),
    };
    let digest_algorithms = digest_algorithms(raw.digest_algorithms.as_deref(), p);
    RegistrarConfig {
        realm,
        min_expires,
        max_expires,
        default_expires,
        max_contacts: max_contacts as usize,
        nonce_lifetime,
        auth_failures: u32::try_from(auth_failures).unwrap_or(10),
        auth_failure_window,
        auth_ban,
        digest_algorithms,
    }
}

/// `digest_algorithms`: `"SHA-256"` and `"MD5"` (names as in RFC 8760 §2.3 and RFC 7616 §3.3),
/// each once, at least one. Default both, SHA-256 first. A list with MD5 alone is for phones
/// whose SIP stack gives up on the first challenge it cannot answer instead of picking the one
/// it can (baresip 1.0 with libre before 2.0 fails the REGISTER on a SHA-256 challenge).
fn digest_algorithms(raw: Option<&[String]>, p: &mut Problems) -> Vec<Algorithm> {
    const S: &str = "[registrar]";
    const FIELD: &str = "digest_algorithms";
    let default = vec![Algorithm::Sha256, Algorithm::Md5];
    let Some(raw) = raw else { return default };
    let mut out = Vec::new();
    for name in raw {
        let alg = match name.to_ascii_uppercase().as_str() {
            "SHA-256" => Algorithm::Sha256,
            "MD5" => Algorithm::Md5,
            _ => {
                p.add(
                    S,
                    FIELD,
                    format!(
                        "digest_algorithms has {name:?}: only \"SHA-256\" and \"MD5\" are offered"
                    ),
                );
                continue;
            }
        };
        if out.contains(&alg) {
            p.add(S, FIELD, format!("digest_algorithms names {name:?} twice"));
            continue;
        }
        out.push(alg);
    }
    if raw.is_empty() {
        p.add(
            S,
            FIELD,
            "digest_algorithms is empty: no phone could authenticate".to_owned(),
        );
    }
    if out.is_empty() {
        return default;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::from_toml_str;
    use crate::sip::digest::Algorithm;

    #[test]
    fn defaults_and_realm_from_the_first_domain() {
        let c = from_toml_str(
            "[sip]\ndomains = [\"pbx.example.com\", \"b.example\"]\n",
            Path::new(""),
        )
        .unwrap();
        let r = &c.registrar;
        assert_eq!(r.realm, "pbx.example.com");
        assert_eq!(r.min_expires.as_secs(), 60);
        assert_eq!(r.max_expires.as_secs(), 3600);
        assert_eq!(r.default_expires.as_secs(), 3600);
        assert_eq!(r.max_contacts, 10);
        assert_eq!(r.nonce_lifetime.as_secs(), 300);
        assert_eq!(
            (
                r.auth_failures,
                r.auth_failure_window.as_secs(),
                r.auth_ban.as_secs()
            ),
            (10, 60, 600)
        );
        assert_eq!(
            r.digest_algorithms,
            [Algorithm::Sha256, Algorithm::Md5],
            "SHA-256 first by default"
        );
    }

    #[test]
    fn digest_algorithms_are_read_in_order_and_bad_lists_name_the_field() {
        let c = from_toml_str(
            "[registrar]\ndigest_algorithms = [\"md5\"]\n",
            Path::new(""),
        )
        .unwrap();
        assert_eq!(c.registrar.digest_algorithms, [Algorithm::Md5]);
        for (list, why) in [
            ("[]", "digest_algorithms is empty"),
            ("[\"SHA-1\"]", "digest_algorithms has \"SHA-1\""),
            (
                "[\"MD5\", \"md5\"]",
                "digest_algorithms names \"md5\" twice",
            ),
        ] {
            let e = from_toml_str(
                &format!("[registrar]\ndigest_algorithms = {list}\n"),
                Path::new(""),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(why), "{list}: {why} missing in {e}");
        }
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = from_toml_str(
            "[registrar]\nmin_expires = 600\nmax_expires = 300\nmax_contacts = 0\nrealm = \"a\\\"b\"\n",
            Path::new(""),
        )
        .unwrap_err()
        .to_string();
        for field in [
            "min_expires 600 is larger",
            "max_contacts 0 is out of range",
            "realm",
            "default_expires 3600 is not between",
        ] {
            assert!(e.contains(field), "{field} missing in {e}");
        }
    }
}
