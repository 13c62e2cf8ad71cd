//! The service directory: which queue, if any, a Request-URI reaches.
//!
//! Numbers are tried first: a `tel:` URI or a `sip:` user part that is a global E.164 number
//! (see [`E164::from_uri`]) reaches the queue the number is assigned to, whatever the host, since
//! carriers and SBCs put their own host names and IPs in the Request-URI. Then SIP addresses:
//! `user@host` as configured in a queue's `addresses`, compared as RFC 3261 §19.1.4 says: the
//! user part case-sensitively after decoding `%HH` escapes, the host case-insensitively, and URI
//! parameters and the port ignored (they select transport and routing, not the queue). `sip:`
//! and `sips:` reach the same queue; the scheme governs transport security only.
//!
//! Everything else is `None`, whatever the reason (unknown number, user number, unknown user,
//! other host), so the caller of [`ServiceDirectory::lookup`] answers all misses alike and
//! reveals nothing about which numbers exist.

use std::collections::HashMap;

use crate::number::E164;
use crate::sip::uri::{unescape, Host, SipUri, Uri};

use super::model::{Config, QueueId};

/// Request-URI → queue, built once from a validated [`Config`].
#[derive(Clone, Debug, Default)]
pub struct ServiceDirectory {
    numbers: HashMap<E164, QueueId>,
    addresses: HashMap<(String, String), QueueId>,
}

impl ServiceDirectory {
    pub fn new(config: &Config) -> ServiceDirectory {
        let mut dir = ServiceDirectory::default();
        for queue in &config.queues {
            for number in &queue.numbers {
                dir.numbers.insert(number.clone(), queue.id.clone());
            }
            for address in &queue.addresses {
                if let Some(key) = address_key(address) {
                    dir.addresses.insert(key, queue.id.clone());
                }
            }
        }
        dir
    }

    /// The queue `uri` reaches, or `None` for every kind of miss.
    pub fn lookup(&self, uri: &Uri) -> Option<&QueueId> {
        if let Some(number) = E164::from_uri(uri) {
            if let Some(queue) = self.numbers.get(&number) {
                return Some(queue);
            }
        }
        let key = address_key(uri.as_sip()?)?;
        self.addresses.get(&key)
    }

    /// The queue a SIP address (`user@host`) reaches, numbers aside.
    pub fn lookup_address(&self, uri: &Uri) -> Option<&QueueId> {
        self.addresses.get(&address_key(uri.as_sip()?)?)
    }

    /// The queue a number is assigned to.
    pub fn lookup_number(&self, number: &E164) -> Option<&QueueId> {
        self.numbers.get(number)
    }
}

/// The comparison key of a SIP address: (unescaped user, lowercased host), or `None` when the
/// URI has no user part. IP addresses compare by value through their canonical text.
pub(crate) fn address_key(uri: &SipUri) -> Option<(String, String)> {
    let user = unescape(uri.user.as_deref()?);
    // A telephone-subscriber user part carries ;params (RFC 3261 §19.1.1); they are not part
    // of the identity for lookup.
    let user = user.split(';').next().unwrap_or("").to_owned();
    let host = match &uri.host {
        Host::Name(n) => n.trim_end_matches('.').to_ascii_lowercase(),
        other => other.to_string(),
    };
    Some((user, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_toml_str;
    use crate::sip::uri::{Params, Scheme};
    use std::path::Path;

    fn config() -> Config {
        from_toml_str(
            r#"
            [[number]]
            e164 = "+14255550100"
            kind = "service-toll"
            [[queue]]
            id = "sales"
            numbers = ["+1 425 555 0100"]
            addresses = ["sip:sales@Example.com"]
            "#,
            Path::new(""),
        )
        .unwrap()
    }

    fn sip(user: &str, host: &str, port: Option<u16>) -> Uri {
        Uri::Sip(SipUri {
            scheme: Scheme::Sip,
            user: Some(user.to_owned()),
            password: None,
            host: Host::Name(host.to_owned()),
            port,
            params: Params(vec![("transport".into(), Some("tcp".into()))]),
            headers: None,
        })
    }

    #[test]
    fn address_matches_host_case_insensitively_ignoring_port_and_params() {
        let dir = ServiceDirectory::new(&config());
        let sales = QueueId("sales".into());
        assert_eq!(
            dir.lookup(&sip("sales", "EXAMPLE.COM", Some(5070))),
            Some(&sales)
        );
        assert_eq!(
            dir.lookup(&sip("sal%65s", "example.com", None)),
            Some(&sales)
        );
        assert_eq!(dir.lookup(&sip("Sales", "example.com", None)), None);
        assert_eq!(dir.lookup(&sip("sales", "example.org", None)), None);
    }

    #[test]
    fn number_matches_whatever_the_host() {
        let dir = ServiceDirectory::new(&config());
        let sales = QueueId("sales".into());
        assert_eq!(
            dir.lookup(&sip("14255550100", "10.0.0.1", None)),
            Some(&sales)
        );
        assert_eq!(
            dir.lookup(&sip("+14255550100", "sbc.example", None)),
            Some(&sales)
        );
    }
}
