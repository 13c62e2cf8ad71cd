//! `srtp` policies: `[sip] srtp` (default `optional`), `[[trunk]] srtp` and `[[user]] srtp`
//! (absent: the `[sip]` one). SDES keys travel in the SDP, so they may only go over TLS
//! (RFC 4568 §8.3): a trunk that requires SRTP must be reached over TLS at every SBC.

use crate::sip::sdp::SrtpPolicy;

use super::model::Trunk;
use super::raw::{RawSip, RawTrunk};
use super::uri::asks_for_tls;
use super::validate::{subject, Problems};

const CHOICES: &str = "none, optional or required";

/// One `srtp` value; a bad one is reported and reads as absent.
pub(super) fn policy(subj: &str, value: Option<&str>, p: &mut Problems) -> Option<SrtpPolicy> {
    let value = value?;
    let policy = SrtpPolicy::from_name(value.trim());
    if policy.is_none() {
        p.add(
            subj,
            "srtp",
            format!("srtp {value:?} is not one of {CHOICES}"),
        );
    }
    policy
}

/// `[sip] srtp`: `optional` unless set (SRTP for callers who offer it over TLS).
pub(super) fn sip_policy(raw: &RawSip, p: &mut Problems) -> SrtpPolicy {
    policy("[sip]", raw.srtp.as_deref(), p).unwrap_or_default()
}

/// Each trunk's `srtp`, after its TLS settings are known.
pub(super) fn trunks(raw: &[RawTrunk], trunks: &mut [Trunk], p: &mut Problems) {
    for (i, t) in raw.iter().enumerate() {
        let subj = subject("trunk", &t.id, i);
        let Some(policy) = policy(&subj, t.srtp.as_deref(), p) else {
            continue;
        };
        let Some(trunk) = trunks.iter_mut().find(|trunk| trunk.id.0 == t.id) else {
            continue;
        };
        // The policy is found by the SBC's IP address (b2bua::legs::srtp); the addresses DNS
        // gives for a named SBC are not matched, so its calls would follow `[sip] srtp`.
        if let Some(named) = trunk
            .sbcs
            .iter()
            .find(|s| matches!(s.uri.host, crate::sip::uri::Host::Name(_)))
        {
            p.add(
                &subj,
                "srtp",
                format!(
                    "a trunk's srtp applies to SBCs given by IP address, and {} is a host name;                      give its SBCs by address or leave srtp to [sip] srtp",
                    named.uri
                ),
            );
        }
        if policy == SrtpPolicy::Required {
            if let Some(plain) = trunk.sbcs.iter().find(|s| !asks_for_tls(&s.uri)) {
                p.add(
                    &subj,
                    "srtp",
                    format!(
                        "srtp \"required\" needs TLS to every SBC (SDES keys travel only over \
                         TLS, RFC 4568 §8.3), but {} is not reached over TLS; write it as sips: \
                         or with ;transport=tls",
                        plain.uri
                    ),
                );
            }
        }
        trunk.srtp = Some(policy);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{from_toml_str, ConfigError, Problem};
    use crate::sip::sdp::SrtpPolicy;

    fn problems(toml: &str) -> Vec<Problem> {
        match from_toml_str(toml, std::path::Path::new(".")) {
            Err(ConfigError::Invalid(list)) => list,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_optional_and_reads_each_level() {
        let config = from_toml_str(
            r#"
[[user]]
id = "amos"
srtp = "none"
[[trunk]]
id = "carrier"
proxy = "sip:192.0.2.10:5060"
srtp = "optional"
allow = ["+1*"]
"#,
            std::path::Path::new("."),
        )
        .unwrap();
        assert_eq!(config.sip.srtp, SrtpPolicy::Optional);
        assert_eq!(config.users[0].srtp, Some(SrtpPolicy::None));
        assert_eq!(config.trunks[0].srtp, Some(SrtpPolicy::Optional));
    }

    #[test]
    fn required_on_a_trunk_without_tls_is_refused_with_the_reason() {
        let list = problems(
            r#"
[[trunk]]
id = "carrier"
proxy = "sip:192.0.2.10:5060"
srtp = "required"
allow = ["+1*"]
"#,
        );
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].subject, "trunk \"carrier\"");
        assert_eq!(list[0].field, "srtp");
        assert!(
            list[0].message.contains("RFC 4568 §8.3"),
            "{}",
            list[0].message
        );
        assert!(
            list[0].message.contains("sip:192.0.2.10:5060"),
            "{}",
            list[0].message
        );
    }

    #[test]
    fn unknown_values_are_refused_everywhere() {
        let list = problems(
            r#"
[sip]
srtp = "always"
[[user]]
id = "amos"
srtp = "yes"
"#,
        );
        let fields: Vec<_> = list
            .iter()
            .map(|p| (p.subject.as_str(), p.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [("[sip]", "srtp"), ("user \"amos\"", "srtp")],
            "{list:?}"
        );
        assert!(list[0].message.contains("none, optional or required"));
    }
}
