//! `[[trunk]]` checks: the proxy as holdline can reach it today, the `allow` list (the
//! toll-fraud policy: what may be dialled through the trunk) and the digest credentials.

use std::collections::HashSet;

use crate::number::{E164Error, E164, MIN_DIGITS};
use crate::sip::uri::{Host, SipUri};

use super::dial::DialRules;
use super::model::{AllowPattern, Trunk, TrunkAuth, TrunkId};
use super::raw::RawTrunk;
use super::uri::{parse_host, parse_sip_uri};
use super::validate::{check_id, subject, Problems};

pub(super) fn trunks(raw: &[RawTrunk], p: &mut Problems) -> Vec<Trunk> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let subj = subject("trunk", &t.id, i);
        let id_ok = check_id(&subj, &t.id, "trunk", &mut seen, p);
        let proxy = match parse_sip_uri(&t.proxy).and_then(servable_proxy) {
            Ok(u) => Some(u),
            Err(why) => {
                p.add(&subj, "proxy", format!("proxy {:?} {why}", t.proxy));
                None
            }
        };
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
        if let (true, Some(proxy)) = (id_ok, proxy) {
            out.push(Trunk {
                id: TrunkId(t.id.clone()),
                proxy,
                allow,
                auth,
                dialling,
                tls: None,
            });
        }
    }
    out
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

/// A trunk's proxy as holdline can reach it today: by IP address (no DNS resolver yet), over
/// UDP, TCP or TLS (TLS's own keys are checked in `validate_tls`). Anything else would pass
/// the check and fail every forward.
fn servable_proxy(uri: SipUri) -> Result<SipUri, String> {
    if let Host::Name(name) = &uri.host {
        return Err(format!(
            "names the host {name:?}, and host names are not resolved yet; give the SBC's IP address"
        ));
    }
    Ok(uri)
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
