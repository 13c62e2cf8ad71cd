//! [`Settings`]: what the call path derives from the configuration, as one immutable value.
//!
//! The service directory (Request-URI → queue), each queue's signalling (answer delay, music)
//! and the dial plan (who a `user:` / `tel:` / `sip:` target is, and through which trunk it
//! leaves) are built together from one [`Config`] and swapped whole when the configuration
//! changes. Nothing in flight lives here: calls, legs, rings, forwards and REFERs keep their
//! own state elsewhere, so a reconfigure can never forget one (it replaces this value and
//! nothing else).
//!
//! What this does not do: decide anything about a call. It answers lookups.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::dial::{self, DialError, Dialled};
use crate::config::{
    Config, Music, QueueId, ServiceDirectory, Target, Trunk, TrunkAuth, TrunkId, UserId,
};
use crate::number::E164;
use crate::sip::transport::Peer;
use crate::sip::uri::Uri;

use super::legs::peer_of;
use super::locations::Locations;

/// Everything the call path reads from the configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Which queue a dialled Request-URI reaches.
    pub directory: ServiceDirectory,
    queues: HashMap<QueueId, QueueSignalling>,
    pub dial_plan: DialPlan,
}

/// Per-queue settings the signalling layer uses.
#[derive(Clone, Debug)]
pub(crate) struct QueueSignalling {
    pub answer_delay: Duration,
    pub greeting: Option<PathBuf>,
    pub music: Music,
}

impl Settings {
    pub fn new(config: &Config) -> Settings {
        Settings {
            directory: ServiceDirectory::new(config),
            queues: config
                .queues
                .iter()
                .map(|q| {
                    let signalling = QueueSignalling {
                        answer_delay: q.answer_delay,
                        greeting: q.greeting.clone(),
                        music: q.music_on_hold.clone(),
                    };
                    (q.id.clone(), signalling)
                })
                .collect(),
            dial_plan: DialPlan::new(config),
        }
    }

    /// How long a call to `queue` rings before it is answered.
    pub fn answer_delay(&self, queue: &QueueId) -> Duration {
        self.queues
            .get(queue)
            .map(|q| q.answer_delay)
            .unwrap_or_default()
    }

    /// The greeting of `queue`, if it has one.
    pub fn greeting(&self, queue: &QueueId) -> Option<PathBuf> {
        self.queues.get(queue).and_then(|q| q.greeting.clone())
    }

    /// The music on hold of `queue` (the default for a queue that is gone).
    pub fn music(&self, queue: &QueueId) -> Music {
        self.queues
            .get(queue)
            .map_or(Music::Default, |q| q.music.clone())
    }
}

/// Where a forward or transfer goes, once resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    Queue(QueueId),
    User(UserId),
    /// Out through `trunk`: `target` is the Request-URI.
    External {
        target: Uri,
        trunk: TrunkId,
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Queue(q) => write!(f, "queue:{q}"),
            Destination::User(u) => write!(f, "user:{u}"),
            Destination::External { target, .. } => write!(f, "{target}"),
        }
    }
}

/// A Request-URI, where to send it when not derived from the URI, and credentials.
pub(crate) struct RingTarget {
    pub uri: Uri,
    pub dest: Option<Peer>,
    pub auth: Option<TrunkAuth>,
    /// Route header values (a registered binding's Path, RFC 3327).
    pub route: Vec<String>,
}

/// Users and trunks as forwards and transfers resolve them: the toll-fraud policy (which
/// external targets may be dialled, through which trunk) in one place.
#[derive(Debug, Default)]
pub(crate) struct DialPlan {
    users: HashSet<UserId>,
    user_numbers: HashMap<E164, UserId>,
    /// `[[user]] extension` → user.
    user_extensions: HashMap<String, UserId>,
    trunks: Vec<Trunk>,
}

impl DialPlan {
    pub fn new(config: &Config) -> DialPlan {
        DialPlan {
            users: config.users.iter().map(|u| u.id.clone()).collect(),
            user_numbers: config
                .users
                .iter()
                .flat_map(|u| u.numbers.iter().map(|n| (n.clone(), u.id.clone())))
                .collect(),
            user_extensions: config
                .features
                .user_extensions
                .iter()
                .map(|(e, u)| (e.clone(), u.clone()))
                .collect(),
            trunks: config.trunks.clone(),
        }
    }

    /// A configured forward target as a destination (`None`: its trunk is gone).
    pub fn destination_of(&self, target: &Target) -> Option<Destination> {
        match target {
            Target::Queue(q) => Some(Destination::Queue(q.clone())),
            Target::User(u) => Some(Destination::User(u.clone())),
            Target::Tel { number, trunk } => Some(Destination::External {
                target: self.number_at_trunk(number, trunk)?,
                trunk: trunk.clone(),
            }),
            Target::Sip { uri, trunk } => Some(Destination::External {
                target: Uri::Sip(uri.clone()),
                trunk: trunk.clone(),
            }),
        }
    }

    /// Resolves a `Refer-To` URI; `Err` says why it is refused. Own queues and users first,
    /// so an internal target never goes out through a trunk.
    pub fn resolve(
        &self,
        directory: &ServiceDirectory,
        uri: &Uri,
    ) -> Result<Destination, DialError> {
        if let Some(queue) = directory.lookup(uri) {
            return Ok(Destination::Queue(queue.clone()));
        }
        if let Some(user) = self.user_of(uri) {
            return Ok(Destination::User(user));
        }
        // Everything else leaves through a trunk, as a dial string the trunk's rules read and
        // its allow list admits (the toll-fraud policy, `config::dial`).
        let route = dial::route(uri, &self.trunks)?;
        let target = match route.dialled {
            Dialled::Number(n) => self
                .number_at_trunk(&n, &route.trunk)
                .ok_or(DialError::NoTrunk)?,
            Dialled::Name(name) => Uri::Sip(name),
        };
        Ok(Destination::External {
            target,
            trunk: route.trunk,
        })
    }

    /// The user `uri` names: by id (`sip:bea@…`), extension (`sip:201@…`) or one of the
    /// user's numbers.
    pub fn user_of(&self, uri: &Uri) -> Option<UserId> {
        if let Uri::Sip(sip) = uri {
            if let Some(user) = sip.user.as_deref() {
                let id = UserId(user.to_owned());
                if self.users.contains(&id) {
                    return Some(id);
                }
                if let Some(id) = self.user_extensions.get(user) {
                    return Some(id.clone());
                }
            }
        }
        let number = E164::from_uri(uri)?;
        self.user_numbers.get(&number).cloned()
    }

    /// `sip:+E164@proxy-host;user=phone` (RFC 3261 §19.1.6): a number dialled through a trunk.
    fn number_at_trunk(&self, number: &E164, trunk: &TrunkId) -> Option<Uri> {
        let proxy = &self.trunks.iter().find(|t| &t.id == trunk)?.proxy;
        let text = format!("sip:{}@{};user=phone", number.as_str(), proxy.host);
        crate::sip::parse::parse_uri(&text).ok()
    }

    /// The user's contacts (from `locations`), or the trunk's proxy with the target and the
    /// trunk's credentials: where to ring.
    pub fn ring_targets(&self, dest: &Destination, locations: &Locations) -> Vec<RingTarget> {
        match dest {
            // Every device, as a queue's offer rings it: static contacts and registered
            // bindings (at their REGISTER's source, with its Path).
            Destination::User(u) => locations
                .ring_targets(u)
                .into_iter()
                .map(|t| RingTarget {
                    uri: t.uri,
                    dest: t.dest,
                    auth: None,
                    route: t.route,
                })
                .collect(),
            Destination::External { target, trunk } => self
                .trunks
                .iter()
                .find(|t| &t.id == trunk)
                .and_then(|t| {
                    let proxy = peer_of(&Uri::Sip(t.proxy.clone()))?;
                    Some(vec![RingTarget {
                        uri: target.clone(),
                        dest: Some(proxy),
                        auth: t.auth.clone(),
                        route: Vec::new(),
                    }])
                })
                .unwrap_or_default(),
            Destination::Queue(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::from_toml_str(
            r#"
            [sip]
            listen = ["udp:127.0.0.1:0"]
            [[number]]
            e164 = "+14255550100"
            kind = "service-toll"
            [[number]]
            e164 = "+14255550177"
            kind = "user"
            [[user]]
            id = "amos"
            contacts = ["sip:amos@127.0.0.1:5070"]
            numbers = ["+14255550177"]
            extension = "201"
            [[trunk]]
            id = "carrier"
            proxy = "sip:127.0.0.1:5090"
            allow = ["+1425*", "sip:partner.example.com"]
            [[queue]]
            id = "sales"
            numbers = ["+14255550100"]
            agents = ["amos"]
            "#,
            std::path::Path::new("."),
        )
        .expect("valid config")
    }

    fn resolve(s: &str) -> Result<Destination, DialError> {
        let settings = Settings::new(&config());
        let uri = crate::sip::parse::parse_uri(s).unwrap();
        settings.dial_plan.resolve(&settings.directory, &uri)
    }

    #[test]
    fn refer_targets_resolve_to_queues_users_or_allowed_numbers() {
        assert_eq!(
            resolve("sip:+14255550100@pbx.example.com;user=phone"),
            Ok(Destination::Queue(QueueId("sales".into())))
        );
        assert_eq!(
            resolve("sip:amos@pbx.example.com"),
            Ok(Destination::User(UserId("amos".into())))
        );
        assert_eq!(
            resolve("tel:+1-425-555-0177"),
            Ok(Destination::User(UserId("amos".into())))
        );
        // A phone's transfer button with the user's extension.
        assert_eq!(
            resolve("sip:201@pbx.example.com"),
            Ok(Destination::User(UserId("amos".into())))
        );
        let Ok(Destination::External { target, trunk }) = resolve("tel:+14255550999") else {
            panic!("an allowed number goes out through the trunk");
        };
        assert_eq!(trunk, TrunkId("carrier".into()));
        assert_eq!(target.to_string(), "sip:+14255550999@127.0.0.1;user=phone");
        assert!(matches!(
            resolve("sip:help@partner.example.com"),
            Ok(Destination::External { .. })
        ));
    }

    #[test]
    fn refer_targets_nobody_allowed_are_refused() {
        // Premium-rate abroad, an unknown host, an unknown local name: never dialled.
        assert!(resolve("tel:+882345678901").is_err());
        assert!(resolve("sip:+447700900123@evil.example").is_err());
        assert!(resolve("sip:someone@elsewhere.example").is_err());
        assert!(resolve("mailto:boss@example.com").is_err());
    }

    #[test]
    fn dial_strings_at_an_allowed_host_are_read_as_numbers_and_refused() {
        for target in [
            "sip:011441234567890@partner.example.com",
            "sip:00441234567890@partner.example.com",
            "sip:19005551234;phone-context=+1@partner.example.com;user=phone",
            "sip:*67+19005551234@partner.example.com",
            "sip:1-900-555-1234@partner.example.com",
            "sip:help@partner.example.com;maddr=198.51.100.66",
            "sip:help@partner.example.com?Route=%3Csip:198.51.100.66%3E",
        ] {
            assert!(resolve(target).is_err(), "{target}");
        }
    }

    #[test]
    fn an_allowed_number_at_any_host_is_dialled_as_e164_at_the_trunk() {
        let Ok(Destination::External { target, .. }) =
            resolve("sip:+1-425-555-0999@partner.example.com;maddr=198.51.100.66;user=phone")
        else {
            panic!("maddr on a number is dropped with the rest of the URI");
        };
        assert_eq!(target.to_string(), "sip:+14255550999@127.0.0.1;user=phone");
        let Ok(Destination::External { target, .. }) =
            resolve("sip:help@partner.example.com;transport=tcp;lr")
        else {
            panic!("a name at the allowed host goes out");
        };
        assert_eq!(target.to_string(), "sip:help@partner.example.com");
    }

    #[test]
    fn queue_signalling_falls_back_for_a_queue_that_is_gone() {
        let settings = Settings::new(&config());
        let gone = QueueId("gone".into());
        assert_eq!(settings.answer_delay(&gone), Duration::ZERO);
        assert_eq!(settings.music(&gone), Music::Default);
    }
}
