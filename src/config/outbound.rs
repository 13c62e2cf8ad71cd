//! Users' outbound calls: `[outbound]` (how dialled digits become E.164 numbers, prefixes
//! nobody may dial), `[[clid_policy]]` (the caller ID a user's call shows, as Teams'
//! `New-CsCallingLineIdentity`) and the users' own settings (`outbound`, `clid_policy`,
//! `identify_by_source`).
//!
//! Nothing leaves unless granted: a user without `outbound` may call no external number at
//! all. `national` reaches numbers of `[outbound] country_code`; `international` any number.
//! Both are further held to `blocked_prefixes` (premium rate and the like) and to the trunks'
//! own `allow` lists.
//!
//! A policy applies to the users it is granted to (`[[user]] clid_policy`); the policy with
//! the id `global`, when there is one, to every other user (Teams' Global policy). Without a
//! policy a user's call shows the user's own number (`[[number]] kind = "user"`).
//!
//! What this does not do: national numbering plans (which national numbers are premium rate
//! is what `blocked_prefixes` says), or emergency numbers (they need a carrier's own rules).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::number::E164;

use super::dial::DialRules;
use super::model::{Number, User, UserId};
use super::raw::RawConfig;
use super::validate::{check_id, subject, Problems};

/// The policy every user without a grant of their own gets, when it exists.
pub const GLOBAL_POLICY: &str = "global";

/// `[outbound]` as the file gives it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([outbound])")]
pub struct RawOutbound {
    pub country_code: Option<String>,
    pub national_prefix: Option<String>,
    pub international_prefix: Option<String>,
    #[serde(default)]
    pub blocked_prefixes: Vec<String>,
}

/// `[[clid_policy]]` as the file gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([[clid_policy]])")]
pub struct RawClidPolicy {
    pub id: String,
    pub mode: String,
    pub service_number: Option<String>,
    pub allow_override: Option<bool>,
}

/// Which external numbers a user may call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutboundClass {
    /// No external number (the default).
    #[default]
    None,
    /// Numbers of `[outbound] country_code`.
    National,
    /// Any number (still held to `blocked_prefixes` and the trunks' allow lists).
    International,
}

impl OutboundClass {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundClass::None => "none",
            OutboundClass::National => "national",
            OutboundClass::International => "international",
        }
    }
}

/// What a caller-ID policy shows the called party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClidMode {
    /// A service number (a queue's), in From and P-Asserted-Identity.
    ServiceNumber(E164),
    /// `Anonymous` in From with `Privacy: id`; the user's own number in P-Asserted-Identity
    /// for the carrier (RFC 3323, RFC 3325).
    Anonymous,
    /// The user's own number.
    User,
}

/// One `[[clid_policy]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClidPolicy {
    pub id: String,
    pub mode: ClidMode,
    /// The user may show their own number instead, by dialling `[features] clid_override`
    /// before the number or by a P-Preferred-Identity naming it.
    pub allow_override: bool,
}

/// A user's outbound settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserOutbound {
    pub class: OutboundClass,
    /// The policy granted to the user (checked to exist).
    pub clid_policy: Option<String>,
    /// A user without a password whose calls from a static contact's address and port are
    /// taken as theirs without a challenge.
    pub identify_by_source: bool,
}

/// `[outbound]`, the policies and every user's settings, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundConfig {
    /// How dialled digits without `+` are read.
    pub dialling: DialRules,
    /// Number prefixes nobody may call, as digits after the `+` (`"1900"`).
    pub blocked_prefixes: Vec<String>,
    pub policies: Vec<ClidPolicy>,
    /// Users with any setting; a user not here has the defaults.
    pub users: BTreeMap<UserId, UserOutbound>,
}

impl OutboundConfig {
    /// `user`'s settings (the defaults for a user who set none).
    pub fn user(&self, user: &UserId) -> UserOutbound {
        self.users.get(user).cloned().unwrap_or_default()
    }

    /// The policy that applies to `user`: their own grant, else `global`, else none.
    pub fn policy_for(&self, user: &UserId) -> Option<&ClidPolicy> {
        let granted = self.users.get(user).and_then(|u| u.clid_policy.as_deref());
        let id = granted.unwrap_or(GLOBAL_POLICY);
        self.policies.iter().find(|p| p.id == id)
    }

    /// Whether `number` is one of `[outbound] country_code`'s.
    pub fn is_national(&self, number: &E164) -> bool {
        self.dialling
            .country_code
            .as_deref()
            .is_some_and(|cc| number.digits().starts_with(cc))
    }

    /// The blocked prefix `number` starts with, if any.
    pub fn blocked(&self, number: &E164) -> Option<&str> {
        self.blocked_prefixes
            .iter()
            .find(|p| number.digits().starts_with(p.as_str()))
            .map(String::as_str)
    }
}

/// Checks `[outbound]`, `[[clid_policy]]` and the users' outbound fields.
pub(super) fn outbound(
    raw: &RawConfig,
    numbers: &[Number],
    users: &[User],
    p: &mut Problems,
) -> OutboundConfig {
    const S: &str = "[outbound]";
    let o = &raw.outbound;
    let dialling = dial_rules(o, p);
    let mut blocked_prefixes = Vec::new();
    for prefix in &o.blocked_prefixes {
        let digits = prefix.trim().strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            p.add(
                S,
                "blocked_prefixes",
                format!(
                    "blocked prefix {prefix:?} must be + and 1 to 15 digits, such as \"+1900\""
                ),
            );
            continue;
        }
        blocked_prefixes.push(digits.to_owned());
    }

    let mut seen = HashSet::new();
    let mut policies = Vec::new();
    for (i, c) in raw.clid_policy.iter().enumerate() {
        let subj = subject("clid_policy", &c.id, i);
        let id_ok = check_id(&subj, &c.id, "clid_policy", &mut seen, p);
        let mode = match (c.mode.as_str(), c.service_number.as_deref()) {
            ("service-number", Some(text)) => service_number(&subj, text, numbers, p),
            ("service-number", None) => {
                p.add(
                    &subj,
                    "service_number",
                    "mode service-number needs service_number, a [[number]] of a service kind"
                        .into(),
                );
                None
            }
            ("anonymous" | "user", Some(_)) => {
                p.add(
                    &subj,
                    "service_number",
                    format!(
                        "service_number is only for mode service-number, not {:?}",
                        c.mode
                    ),
                );
                None
            }
            ("anonymous", None) => Some(ClidMode::Anonymous),
            ("user", None) => Some(ClidMode::User),
            (other, _) => {
                p.add(
                    &subj,
                    "mode",
                    format!("mode {other:?} is not one of service-number, anonymous, user"),
                );
                None
            }
        };
        if let (true, Some(mode)) = (id_ok, mode) {
            policies.push(ClidPolicy {
                id: c.id.clone(),
                mode,
                allow_override: c.allow_override.unwrap_or(false),
            });
        }
    }

    let mut out_users = BTreeMap::new();
    for (i, u) in raw.user.iter().enumerate() {
        let subj = subject("user", &u.id, i);
        let class = match u.outbound.as_deref() {
            None | Some("none") => OutboundClass::None,
            Some("national") => OutboundClass::National,
            Some("international") => OutboundClass::International,
            Some(other) => {
                p.add(
                    &subj,
                    "outbound",
                    format!("outbound {other:?} is not one of none, national, international"),
                );
                OutboundClass::None
            }
        };
        if class == OutboundClass::National && dialling.country_code.is_none() {
            p.add(
                &subj,
                "outbound",
                "outbound national needs [outbound] country_code: it says which numbers are national"
                    .into(),
            );
        }
        if let Some(id) = u.clid_policy.as_deref() {
            if !raw.clid_policy.iter().any(|c| c.id == id) {
                p.add(
                    &subj,
                    "clid_policy",
                    format!("clid_policy {id:?} is not a [[clid_policy]]"),
                );
            }
        }
        let identify_by_source = u.identify_by_source.unwrap_or(false);
        if identify_by_source {
            if u.password.is_some() {
                p.add(
                    &subj,
                    "identify_by_source",
                    "identify_by_source is for users without a password; one with a password \
                     authenticates its calls"
                        .into(),
                );
            }
            let by_address = users
                .iter()
                .find(|c| c.id.as_str() == u.id)
                .is_some_and(|c| c.contacts.iter().any(|c| contact_addr(c).is_some()));
            if !by_address {
                p.add(
                    &subj,
                    "identify_by_source",
                    "identify_by_source needs a static contact with an IP address (sip:id@192.0.2.5:5062): \
                     its address and port are what a call is recognised by"
                        .into(),
                );
            } else if !users
                .iter()
                .find(|c| c.id.as_str() == u.id)
                .is_some_and(|c| c.contacts.iter().any(|c| stream_contact_ip(c).is_some()))
            {
                p.add(
                    &subj,
                    "identify_by_source",
                    "identify_by_source needs a static contact reached over TCP or TLS \
                     (sip:id@192.0.2.5;transport=tcp, or sips:): a UDP source address can be \
                     forged, and calls out by it would be anyone's"
                        .into(),
                );
            }
        }
        let settings = UserOutbound {
            class,
            clid_policy: u.clid_policy.clone(),
            identify_by_source,
        };
        if settings != UserOutbound::default() {
            out_users.insert(UserId(u.id.clone()), settings);
        }
    }
    OutboundConfig {
        dialling,
        blocked_prefixes,
        policies,
        users: out_users,
    }
}

/// The address and port a static contact's calls come from: its host when it is an IP
/// address, with its port (5060 when it has none, RFC 3261 §19.1.2).
pub fn contact_addr(contact: &crate::sip::uri::Uri) -> Option<std::net::SocketAddr> {
    let crate::sip::uri::Uri::Sip(sip) = contact else {
        return None;
    };
    let ip = match &sip.host {
        crate::sip::uri::Host::V4(ip) => std::net::IpAddr::V4(*ip),
        crate::sip::uri::Host::V6(ip) => std::net::IpAddr::V6(*ip),
        crate::sip::uri::Host::Name(_) => return None,
    };
    Some(std::net::SocketAddr::new(ip, sip.port.unwrap_or(5060)))
}

/// The IP address of a static contact reached over TCP or TLS (`;transport=tcp|tls` or
/// `sips:`): the only contacts whose source address identifies a user, since a connection's
/// address cannot be forged without its handshake while a UDP datagram's can.
pub fn stream_contact_ip(contact: &crate::sip::uri::Uri) -> Option<std::net::IpAddr> {
    let crate::sip::uri::Uri::Sip(sip) = contact else {
        return None;
    };
    let stream = super::uri::asks_for_tls(sip)
        || sip
            .params
            .value("transport")
            .is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
    if !stream {
        return None;
    }
    contact_addr(contact).map(|a| a.ip())
}

/// A policy's `service_number`: E.164 and a configured number of a service kind.
fn service_number(
    subj: &str,
    text: &str,
    numbers: &[Number],
    p: &mut Problems,
) -> Option<ClidMode> {
    let n = match E164::parse(text) {
        Ok(n) => n,
        Err(why) => {
            p.add(
                subj,
                "service_number",
                format!("service_number {text:?} {why}"),
            );
            return None;
        }
    };
    match numbers.iter().find(|d| d.e164 == n) {
        Some(d) if d.kind.is_service() => Some(ClidMode::ServiceNumber(n)),
        Some(d) => {
            p.add(
                subj,
                "service_number",
                format!(
                    "service_number {n} is declared as {}; it must be a service number",
                    d.kind
                ),
            );
            None
        }
        None => {
            p.add(
                subj,
                "service_number",
                format!("service_number {n} is not a [[number]]; only configured service numbers may be shown"),
            );
            None
        }
    }
}

/// `[outbound] country_code`, `national_prefix`, `international_prefix`: digits only; a
/// national prefix needs the country it is national to.
fn dial_rules(o: &RawOutbound, p: &mut Problems) -> DialRules {
    const S: &str = "[outbound]";
    let mut digits = |field: &str, value: &Option<String>, max: usize| {
        let v = value.as_deref()?.trim();
        let v = match field {
            "country_code" => v.strip_prefix('+').unwrap_or(v),
            _ => v,
        };
        if v.is_empty() || v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) {
            p.add(S, field, format!("{field} {v:?} must be 1 to {max} digits"));
            return None;
        }
        Some(v.to_owned())
    };
    let country_code = digits("country_code", &o.country_code, 3);
    let national_prefix = digits("national_prefix", &o.national_prefix, 4);
    let international_prefix = digits("international_prefix", &o.international_prefix, 4);
    // ITU-T E.164 §6: country codes never start with 0.
    if country_code.as_deref().is_some_and(|c| c.starts_with('0')) {
        p.add(
            S,
            "country_code",
            "country_code must not start with 0 (no country code does)".into(),
        );
    }
    if national_prefix.is_some() && o.country_code.is_none() {
        p.add(
            S,
            "national_prefix",
            "national_prefix needs country_code: a national number is read as that country's"
                .into(),
        );
    }
    if national_prefix.is_some() && national_prefix == international_prefix {
        p.add(
            S,
            "international_prefix",
            "international_prefix and national_prefix are the same, so no number can be read"
                .into(),
        );
    }
    DialRules {
        country_code,
        national_prefix,
        international_prefix,
        ..DialRules::default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[[number]]
e164 = "+442079460000"
kind = "service-toll"
[[number]]
e164 = "+442079460011"
kind = "user"
"#;

    fn problems(toml: &str) -> String {
        match crate::config::from_toml_str(&format!("{BASE}{toml}"), Path::new("")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn policies_name_configured_service_numbers() {
        let e = problems(
            "[[clid_policy]]\nid = \"sales\"\nmode = \"service-number\"\nservice_number = \"+442079460011\"\n",
        );
        assert!(
            e.contains("clid_policy \"sales\"")
                && e.contains("service_number")
                && e.contains("declared as user"),
            "{e}"
        );
        let e = problems(
            "[[clid_policy]]\nid = \"sales\"\nmode = \"service-number\"\nservice_number = \"+442079469999\"\n",
        );
        assert!(e.contains("is not a [[number]]"), "{e}");
        let e = problems("[[clid_policy]]\nid = \"sales\"\nmode = \"service-number\"\n");
        assert!(e.contains("needs service_number"), "{e}");
        let e = problems("[[clid_policy]]\nid = \"x\"\nmode = \"hidden\"\n");
        assert!(e.contains("mode \"hidden\" is not one of"), "{e}");
        let c = crate::config::from_toml_str(
            &format!("{BASE}[[clid_policy]]\nid = \"global\"\nmode = \"service-number\"\nservice_number = \"+44 20 7946 0000\"\nallow_override = true\n[[user]]\nid = \"amos\"\n"),
            Path::new(""),
        )
        .expect("config");
        let policy = c
            .outbound
            .policy_for(&UserId("amos".into()))
            .expect("global");
        assert_eq!(
            policy.mode,
            ClidMode::ServiceNumber(E164::parse("+442079460000").unwrap())
        );
        assert!(policy.allow_override);
    }

    #[test]
    fn user_fields_are_checked() {
        let e = problems("[[user]]\nid = \"amos\"\noutbound = \"world\"\n");
        assert!(
            e.contains("user \"amos\"") && e.contains("outbound \"world\""),
            "{e}"
        );
        let e = problems("[[user]]\nid = \"amos\"\noutbound = \"national\"\n");
        assert!(e.contains("needs [outbound] country_code"), "{e}");
        let e = problems("[[user]]\nid = \"amos\"\nclid_policy = \"nope\"\n");
        assert!(
            e.contains("clid_policy \"nope\" is not a [[clid_policy]]"),
            "{e}"
        );
        let e = problems("[[user]]\nid = \"amos\"\npassword = \"x\"\nidentify_by_source = true\ncontacts = [\"sip:amos@192.0.2.5\"]\n");
        assert!(
            e.contains("identify_by_source is for users without a password"),
            "{e}"
        );
        let e = problems("[[user]]\nid = \"amos\"\nidentify_by_source = true\ncontacts = [\"sip:amos@192.0.2.5:5062\"]\n");
        assert!(e.contains("a UDP source address can be forged"), "{e}");
        let e = problems("[[user]]\nid = \"amos\"\nidentify_by_source = true\ncontacts = [\"sip:amos@phone.example\"]\n");
        assert!(
            e.contains("needs a static contact with an IP address"),
            "{e}"
        );
        let e = problems("[outbound]\ncountry_code = \"044\"\nblocked_prefixes = [\"1900\"]\n");
        assert!(e.contains("country_code must not start with 0"), "{e}");
        assert!(e.contains("blocked prefix \"1900\""), "{e}");
    }

    #[test]
    fn defaults_grant_nothing() {
        let c = crate::config::from_toml_str(
            &format!("{BASE}[[user]]\nid = \"amos\"\n"),
            Path::new(""),
        )
        .expect("config");
        let amos = c.outbound.user(&UserId("amos".into()));
        assert_eq!(amos.class, OutboundClass::None);
        assert!(!amos.identify_by_source);
        assert!(c.outbound.policy_for(&UserId("amos".into())).is_none());
        assert_eq!(c.features.clid_override, "*82");
    }
}
