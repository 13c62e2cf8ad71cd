//! The inbound policy (`[sip] inbound`), decided on virtual time in the core's admission path
//! before any leg exists: which service an INVITE reaches, and whether its source may call it.
//!
//! - **Which trunk** a request comes from is `config::inbound::trunk_of_source`, the one
//!   answer every part uses.
//! - **Which service**: from a trunk, the Request-URI's number is read with the trunk's rules
//!   (`config::trunk_numbers`: national and international prefixes, visual separators) before
//!   the service-number lookup; from anyone else, as the directory reads it.
//! - **Who may call** with `inbound = "trunks"`: a trunk's sources; a source where a user is
//!   registered, once the INVITE authenticates (the 407 digest path of users' calls, RFC 3261
//!   §22.3); anyone for a SIP-address queue (`sales@example.com`), which is not a number the
//!   phone network delivers. Everything else is refused with 403 (§21.4.4) or not answered at
//!   all (`inbound_refuse = "drop"`), and never queued.
//! - **RFC 3325 §9.1**: P-Asserted-Identity is kept only from a trunk (inside the trust
//!   domain); from anyone else it is removed before anything reads the request. A caller's
//!   Privacy goes on to agents only with a trunk's asserted identity.

use crate::config::inbound::{InboundMode, InboundPolicy, Refusal};
use crate::config::trunk_numbers::inbound_number;
use crate::config::{QueueId, ServiceDirectory, Trunk};
use crate::number::E164;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::uri::Uri;

/// The policy's word on a new INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// As without a policy.
    Pass,
    /// A registered user's source: the call is queued for `queue` once the INVITE carries
    /// valid credentials (407 until then).
    Authenticate(QueueId),
    /// 403 Forbidden.
    Refuse,
    /// No answer.
    Drop,
}

/// The service `uri` reaches and whether it was reached by number (`true`) or by SIP address.
/// From a trunk, the number is read with the trunk's rules first.
pub(crate) fn service_of(
    directory: &ServiceDirectory,
    trunk: Option<&Trunk>,
    uri: &Uri,
) -> Option<(QueueId, bool)> {
    let number = match trunk {
        Some(t) => inbound_number(uri, &t.dialling),
        None => E164::from_uri(uri),
    };
    if let Some(queue) = number.as_ref().and_then(|n| directory.lookup_number(n)) {
        return Some((queue.clone(), true));
    }
    // Otherwise only a SIP address: a trunk's number is read with its rules alone, never
    // again as the directory reads digits (`2071234567` from a UK trunk is not +20…).
    directory
        .lookup_address(uri)
        .map(|queue| (queue.clone(), false))
}

/// The service a new INVITE reaches: by its Request-URI, and for a trunk's INVITE whose
/// Request-URI reaches none, by its To URI (an SBC that addresses the request to our contact,
/// `sip:192.0.2.1`, keeps the dialled number in To).
pub(crate) fn service_of_request(
    directory: &ServiceDirectory,
    trunk: Option<&Trunk>,
    req: &Request,
) -> Option<(QueueId, bool)> {
    service_of(directory, trunk, &req.uri).or_else(|| {
        let to = trunk.and(req.headers.to())?;
        service_of(directory, trunk, &to.uri).filter(|(_, number)| *number)
    })
}

/// What the policy says of an INVITE for `service` from a source that is a trunk or not, and
/// where a user is registered or not.
pub(crate) fn decide(
    policy: InboundPolicy,
    from_trunk: bool,
    service: Option<&(QueueId, bool)>,
    registered: bool,
) -> Verdict {
    if policy.mode == InboundMode::Any || from_trunk {
        return Verdict::Pass;
    }
    match service {
        // No service: a user's call or a feature code, which authenticate anyway (the core's
        // direct path), or a 404.
        None => Verdict::Pass,
        // A SIP-address queue stays reachable from anywhere.
        Some((_, false)) => Verdict::Pass,
        Some((queue, true)) if registered => Verdict::Authenticate(queue.clone()),
        Some(_) => match policy.refuse {
            Refusal::Forbidden => Verdict::Refuse,
            Refusal::Drop => Verdict::Drop,
        },
    }
}

/// RFC 3325 §9.1: a request from outside the trust domain loses its P-Asserted-Identity
/// before anything reads it. Its `Privacy` stays: from a user agent it is a request for
/// privacy (RFC 3323 §4.2, a user's outbound call with `Privacy: id`), never an assertion;
/// a caller's Privacy is passed to agents only with a trunk's asserted identity.
pub(crate) fn strip_untrusted(req: &mut Request) {
    req.headers.remove(&HeaderName::PAssertedIdentity);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunks_only(refuse: Refusal) -> InboundPolicy {
        InboundPolicy {
            mode: InboundMode::Trunks,
            refuse,
        }
    }

    #[test]
    fn the_policy_refuses_only_service_numbers_from_unknown_sources() {
        let q = QueueId("sales".into());
        let number = (q.clone(), true);
        let address = (q.clone(), false);
        let p = trunks_only(Refusal::Forbidden);
        assert_eq!(decide(p, false, Some(&number), false), Verdict::Refuse);
        assert_eq!(
            decide(trunks_only(Refusal::Drop), false, Some(&number), false),
            Verdict::Drop
        );
        assert_eq!(decide(p, true, Some(&number), false), Verdict::Pass);
        assert_eq!(
            decide(p, false, Some(&number), true),
            Verdict::Authenticate(q)
        );
        assert_eq!(decide(p, false, Some(&address), false), Verdict::Pass);
        assert_eq!(decide(p, false, None, false), Verdict::Pass);
        let any = InboundPolicy::default();
        assert_eq!(decide(any, false, Some(&number), false), Verdict::Pass);
    }
}
