//! `[[trunk]]` checks: the SBCs (an IP address, or a host name the runtime resolves with DNS,
//! RFC 3263 §4), the `allow` list (the toll-fraud policy: what may be dialled through the
//! trunk) and the digest credentials.

use std::collections::HashSet;
use std::time::Duration;

use crate::number::{E164Error, E164, MIN_DIGITS};
use crate::sip::uri::Host;

use super::dial::DialRules;
use super::model::{AllowPattern, Sbc, Trunk, TrunkAuth, TrunkHealth, TrunkId};
use super::raw::RawTrunk;
use super::uri::{parse_host, parse_sip_uri};
use super::validate::{check_id, subject, Problems};

pub(super) fn trunks(raw: &[RawTrunk], p: &mut Problems) -> Vec<Trunk> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let subj = subject("trunk", &t.id, i);
        let id_ok = check_id(&subj, &t.id, "trunk", &mut seen, p);
        let sbcs = sbcs(t, &subj, p);
        let first_response_timeout = first_response_timeout(t, &subj, p);
        let health = health(t, &subj, p);
        let mut allow = Vec::new();
        for a in &t.allow {
            match parse_allow(a) {
                Ok(pattern) => allow.push(pattern),
                Err(why) => p.add(&subj, "allow", format!("allow entry {a:?} {why}")),
            }
        }
        let auth = t.auth.as_ref().map(|a| TrunkAuth {
            username: a.username.clone(),
            password: a.password.clone(),
            realm: a.realm.clone(),
        });
        if let Some(a) = &auth {
            if a.username.is_empty() || a.password.is_empty() {
                p.add(
                    &subj,
                    "auth",
                    "auth needs a non-empty username and password".into(),
                );
            }
        }
        let dialling = dial_rules(t, &subj, p);
        if let (true, Some(sbcs)) = (id_ok, sbcs) {
            let Some(first) = sbcs.iter().min_by_key(|s| s.priority) else {
                continue;
            };
            out.push(Trunk {
                id: TrunkId(t.id.clone()),
                proxy: first.uri.clone(),
                sbcs,
                first_response_timeout,
                health,
                allow,
                auth,
                dialling,
                tls: None,
                srtp: None,
            });
        }
    }
    out
}

/// Default of `first_response_timeout`: a carrier's SBC answers 100 Trying within
/// milliseconds; 2 s without one means it is not there.
pub const DEFAULT_FIRST_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The upper bound of `first_response_timeout`: Timer B (64·T1 with the default T1, RFC 3261
/// §17.1.1.2) ends the INVITE transaction anyway, so a longer wait would never fire.
const MAX_FIRST_RESPONSE_TIMEOUT_SECS: f64 = 32.0;

/// `proxy` (one SBC) or `sbcs` (several, with priority and weight): exactly one of them.
/// `None` when nothing usable is left (each problem is reported).
fn sbcs(t: &RawTrunk, subj: &str, p: &mut Problems) -> Option<Vec<Sbc>> {
    match (&t.proxy, t.sbcs.is_empty()) {
        (Some(_), false) => {
            p.add(
                subj,
                "sbcs",
                "give either proxy (one SBC) or sbcs (several), not both".into(),
            );
            return None;
        }
        (None, true) => {
            p.add(
                subj,
                "proxy",
                "a trunk needs proxy (one SBC's sip: URI) or sbcs (several)".into(),
            );
            return None;
        }
        (Some(proxy), true) => {
            return match parse_sip_uri(proxy) {
                Ok(uri) => Some(vec![Sbc {
                    uri,
                    priority: 1,
                    weight: 1,
                }]),
                Err(why) => {
                    p.add(subj, "proxy", format!("proxy {proxy:?} {why}"));
                    None
                }
            };
        }
        (None, false) => {}
    }
    let mut out = Vec::new();
    let mut ok = true;
    let mut seen = HashSet::new();
    for (i, raw) in t.sbcs.iter().enumerate() {
        let field = format!("sbcs[{i}]");
        let uri = match parse_sip_uri(&raw.uri) {
            Ok(u) => Some(u),
            Err(why) => {
                p.add(subj, &field, format!("{field} uri {:?} {why}", raw.uri));
                None
            }
        };
        // RFC 2782: priority and weight are 16-bit numbers.
        let mut number = |name: &str, value: Option<i64>| -> Option<u16> {
            let v = value.unwrap_or(1);
            match u16::try_from(v) {
                Ok(n) => Some(n),
                Err(_) => {
                    p.add(
                        subj,
                        &format!("{field}.{name}"),
                        format!("{field} {name} {v} must be 0 to 65535 (RFC 2782)"),
                    );
                    None
                }
            }
        };
        let priority = number("priority", raw.priority);
        let weight = number("weight", raw.weight);
        match (uri, priority, weight) {
            (Some(uri), Some(priority), Some(weight)) => {
                if !seen.insert(uri.to_string()) {
                    p.add(
                        subj,
                        &field,
                        format!("{field} uri {:?} is listed twice", raw.uri),
                    );
                    ok = false;
                }
                out.push(Sbc {
                    uri,
                    priority,
                    weight,
                })
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `health_interval` (seconds, 0 or absent: off), `down_after` and `up_after` (default 3
/// and 2 probes in a row).
fn health(t: &RawTrunk, subj: &str, p: &mut Problems) -> Option<TrunkHealth> {
    let mut count = |field: &str, value: Option<i64>, default: u32| -> u32 {
        match value {
            None => default,
            Some(v @ 1..=100) => v as u32,
            Some(v) => {
                p.add(subj, field, format!("{field} {v} must be 1 to 100 probes"));
                default
            }
        }
    };
    let down_after = count("down_after", t.down_after, 3);
    let up_after = count("up_after", t.up_after, 2);
    let interval = match t.health_interval {
        None | Some(0) => {
            if t.down_after.is_some() || t.up_after.is_some() {
                p.add(
                    subj,
                    "health_interval",
                    "down_after and up_after need health_interval (seconds between OPTIONS)".into(),
                );
            }
            return None;
        }
        Some(s @ 1..=3600) => Duration::from_secs(s as u64),
        Some(s) => {
            p.add(
                subj,
                "health_interval",
                format!("health_interval {s} must be 1 to 3600 seconds (0: no health checks)"),
            );
            return None;
        }
    };
    Some(TrunkHealth {
        interval,
        down_after,
        up_after,
    })
}

fn first_response_timeout(t: &RawTrunk, subj: &str, p: &mut Problems) -> Duration {
    let Some(secs) = t.first_response_timeout else {
        return DEFAULT_FIRST_RESPONSE_TIMEOUT;
    };
    if !(secs.is_finite() && (0.1..MAX_FIRST_RESPONSE_TIMEOUT_SECS).contains(&secs)) {
        p.add(
            subj,
            "first_response_timeout",
            format!(
                "first_response_timeout {secs} must be at least 0.1 and under \
                 {MAX_FIRST_RESPONSE_TIMEOUT_SECS} seconds (Timer B ends the INVITE then)"
            ),
        );
        return DEFAULT_FIRST_RESPONSE_TIMEOUT;
    }
    Duration::from_secs_f64(secs)
}

/// `country_code`, `national_prefix`, `international_prefix`: how the trunk reads numbers
/// written without `+` (see [`super::dial`]). Each is digits only; a national prefix means
/// nothing without the country it is national to.
fn dial_rules(t: &RawTrunk, subj: &str, p: &mut Problems) -> DialRules {
    let mut digits = |field: &str, value: &Option<String>, max: usize| {
        let v = value.as_deref()?.trim();
        let v = if field == "country_code" {
            v.strip_prefix('+').unwrap_or(v)
        } else {
            v
        };
        if v.is_empty() || v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) {
            p.add(
                subj,
                field,
                format!("{field} {value:?} must be 1 to {max} digits", value = v),
            );
            return None;
        }
        Some(v.to_owned())
    };
    let country_code = digits("country_code", &t.country_code, 3);
    let national_prefix = digits("national_prefix", &t.national_prefix, 4);
    let international_prefix = digits("international_prefix", &t.international_prefix, 4);
    // ITU-T E.164 §6: country codes never start with 0.
    if country_code.as_deref().is_some_and(|c| c.starts_with('0')) {
        p.add(
            subj,
            "country_code",
            "country_code must not start with 0 (no country code does)".into(),
        );
    }
    if national_prefix.is_some() && t.country_code.is_none() {
        p.add(
            subj,
            "national_prefix",
            "national_prefix needs country_code: a national number is read as that country's"
                .into(),
        );
    }
    if national_prefix.is_some() && national_prefix == international_prefix {
        p.add(
            subj,
            "international_prefix",
            "international_prefix and national_prefix are the same, so no number can be read"
                .into(),
        );
    }
    DialRules {
        country_code,
        national_prefix,
        international_prefix,
    }
}

/// `+1425*` (prefix), `+14255550123` (exact), `+*` (any number), `sip:host` (any URI there).
fn parse_allow(text: &str) -> Result<AllowPattern, String> {
    if let Some(host) = text.strip_prefix("sip:") {
        return match parse_host(host) {
            Ok(Host::Name(n)) => Ok(AllowPattern::SipHost(n.to_ascii_lowercase())),
            Ok(other) => Ok(AllowPattern::SipHost(other.to_string())),
            Err(why) => Err(why),
        };
    }
    if let Some(prefix) = text.strip_suffix('*') {
        let digits: String = prefix
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
            .collect();
        let Some(digits) = digits.strip_prefix('+') else {
            return Err("must start with + (a number prefix) or sip: (a host)".into());
        };
        if !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 15 {
            return Err("is not + and up to 15 digits followed by *".into());
        }
        return Ok(AllowPattern::NumberPrefix(digits.to_owned()));
    }
    if !text.trim_start().starts_with('+') {
        return Err("must start with + (a number or prefix*) or sip: (a host)".into());
    }
    match E164::parse(text) {
        Ok(n) => Ok(AllowPattern::Number(n)),
        Err(E164Error::Length { count }) if count < MIN_DIGITS => Err(format!(
            "is not a full number; write {:?} to allow every number it starts",
            format!("{}*", text.trim())
        )),
        Err(e) => Err(e.to_string()),
    }
}
