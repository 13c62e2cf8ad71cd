//! SRTP for caller dialogs: which policy applies to the peer that sent an INVITE, and a fresh
//! SDES master key for each dialog that may use one.
//!
//! A trunk's `srtp` applies to INVITEs from its SBCs' addresses and to the legs we send to them
//! (IP literals: an SBC given by host name is not matched); an authenticated user's own `srtp`
//! to the calls the core opens for it and to the legs that ring its phones (only `required`
//! changes those: SRTP offered over TLS, no leg to a phone reached otherwise); `[sip] srtp` to
//! every other caller. The B2BUA protects each side on its own. Keys are made only
//! when the signalling is TLS (RFC 4568 §8.3), from a generator the runtime seeds with OS
//! randomness, separate from the one that makes tags and branches.

use std::collections::HashMap;
use std::net::IpAddr;

use rand::RngCore;

use crate::config::{Config, UserId};
use crate::sip::sdp::{CryptoSuite, MasterKey, SrtpLocal, SrtpPolicy};
use crate::sip::transport::Transport;
use crate::sip::uri::Host;

use super::Legs;

/// The policies by source, from the configuration.
#[derive(Debug, Default)]
pub(crate) struct SrtpPolicies {
    default: SrtpPolicy,
    trunks: HashMap<IpAddr, SrtpPolicy>,
    /// Users with an `srtp` of their own.
    users: HashMap<UserId, SrtpPolicy>,
}

impl SrtpPolicies {
    pub fn from_config(config: &Config) -> SrtpPolicies {
        let mut trunks = HashMap::new();
        for trunk in &config.trunks {
            let Some(policy) = trunk.srtp else { continue };
            for sbc in &trunk.sbcs {
                let ip = match sbc.uri.host {
                    Host::V4(ip) => IpAddr::V4(ip),
                    Host::V6(ip) => IpAddr::V6(ip),
                    Host::Name(_) => continue,
                };
                trunks.entry(ip).or_insert(policy);
            }
        }
        let users = config
            .users
            .iter()
            .filter_map(|u| Some((u.id.clone(), u.srtp?)))
            .collect();
        SrtpPolicies {
            default: config.sip.srtp,
            trunks,
            users,
        }
    }

    /// A user's own policy, for the legs that ring its phones.
    pub fn for_user(&self, user: &UserId) -> Option<SrtpPolicy> {
        self.users.get(user).copied()
    }

    /// The policy of the trunk whose SBC is at `addr`, for the legs we place through it.
    pub fn for_trunk(&self, addr: IpAddr) -> Option<SrtpPolicy> {
        self.trunks.get(&addr).copied()
    }

    /// The policy for an INVITE from `source`, or for an authenticated user's call (`user`).
    pub fn for_peer(&self, source: IpAddr, user: Option<SrtpPolicy>) -> SrtpPolicy {
        user.or_else(|| self.trunks.get(&source).copied())
            .unwrap_or(self.default)
    }
}

impl Legs {
    /// [`Legs::ring_agent`] for a phone of `user`, following the user's SRTP policy.
    pub fn ring_user_device(
        &mut self,
        now: crate::time::Time,
        ring: super::RingRequest,
        user: &UserId,
    ) -> Option<super::LegHandle> {
        let policy = self.srtp.for_user(user);
        self.ring_inner(now, ring, Vec::new(), policy)
    }

    /// A new configuration's policies: for the next INVITE (calls in progress keep theirs).
    pub fn reconfigure_srtp(&mut self, config: &Config) {
        self.srtp = SrtpPolicies::from_config(config);
    }

    /// What a new dialog with a peer under `policy`, signalled over `transport`, may do.
    pub(super) fn srtp_local(&mut self, policy: SrtpPolicy, transport: Transport) -> SrtpLocal {
        let secure_signalling = transport == Transport::Tls;
        let key = (policy != SrtpPolicy::None && secure_signalling).then(|| {
            let mut bytes = [0u8; CryptoSuite::KEY_SALT_LEN];
            self.keys.fill_bytes(&mut bytes);
            MasterKey::new(bytes)
        });
        SrtpLocal {
            policy,
            secure_signalling,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_sources_get_the_trunk_policy_and_users_their_own() {
        let config = crate::config::from_toml_str(
            r#"
[sip]
listen = ["udp:127.0.0.1:0"]
srtp = "none"
[[trunk]]
id = "carrier"
proxy = "sip:192.0.2.10:5060"
srtp = "optional"
allow = ["+1*"]
"#,
            std::path::Path::new("."),
        )
        .expect("valid configuration");
        let p = SrtpPolicies::from_config(&config);
        let sbc: IpAddr = "192.0.2.10".parse().unwrap();
        let other: IpAddr = "192.0.2.11".parse().unwrap();
        assert_eq!(p.for_peer(sbc, None), SrtpPolicy::Optional);
        assert_eq!(p.for_peer(other, None), SrtpPolicy::None);
        assert_eq!(
            p.for_peer(other, Some(SrtpPolicy::Required)),
            SrtpPolicy::Required
        );
    }
}
