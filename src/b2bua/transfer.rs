//! Forwards and transfers that keep holdline in the call: a new leg rung for an answered
//! caller and bridged like an agent, and agents' blind transfers (REFER).
//!
//! - **An agent's REFER** (RFC 3515 §2.4, blind transfer as in RFC 5589 §6): `Refer-To` is
//!   resolved against what holdline knows: one of its queues (a service number or queue
//!   address), a user (the URI's user part is a user id, or the number is one of the user's),
//!   or an external target that a `[[trunk]]`'s `allow` list admits. Anything else gets 403:
//!   an agent's phone, or whoever took over its dialog, can never make holdline dial a number
//!   nobody approved (toll fraud). An accepted REFER gets 202 Accepted and at once a NOTIFY
//!   with `SIP/2.0 100 Trying` (§2.4.4: the notifier MUST send one), then a final NOTIFY with
//!   the outcome (§2.4.5: the sipfrag of the target's final response) that terminates the
//!   implicit subscription, then our BYE to the agent, whose part is over. The caller leaves
//!   the agent at once and hears music while the target rings; the agent goes to wrap-up.
//! - **A queue's forward of an answered call** to `user:ID` rings the user's contacts; to an
//!   external target, the target through its trunk's proxy. The first answer is bridged to
//!   the caller and the other legs are cancelled. A forward that reaches nobody hangs the
//!   caller up with 480 and a Reason header.
//! - **A queue's forward of an answered call to an external target**, when the caller's side
//!   listed REFER in its Allow: holdline asks it to make the call (REFER with `Refer-To` the
//!   target and `Referred-By` the number it dialled, RFC 3515 §2.4.1, RFC 3892), so the
//!   caller's own carrier places it and holdline leaves the path. It follows the NOTIFYs
//!   (§2.4.5): a final 2xx sipfrag means the caller reached the target and holdline hangs up
//!   its leg (RFC 5589 §6.1); a refused REFER, a failure sipfrag or no final NOTIFY within
//!   64·T1 falls back to a new leg through the trunk, bridged by holdline.
//! - A queue target never leaves holdline: the caller enters that queue (no signalling).
//!
//! A trunk that challenges a leg with 401 / 407 gets the INVITE again with its `auth`
//! credentials (`uac.rs`, RFC 3261 §22.2).
//!
//! A user is rung at the contacts `locations` knows for them.
//!
//! Not here: attended transfer (`Refer-To` with a `Replaces` header: 501), auto attendants
//! (there are none yet; the configuration refuses `aa:` targets).

use std::collections::{HashMap, HashSet};

use crate::config::{Config, ExternalTarget, QueueId, Target, Trunk, TrunkAuth, TrunkId, UserId};
use crate::number::E164;
use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::method::Method;
use crate::sip::transaction::ServerTxId;
use crate::sip::uri::{Host, Uri};
use crate::time::Time;

use super::call::{CallHandle, CallState};
use super::core::{CallTimer, Core, Event};
use super::locations::Locations;
use super::uac::{peer_of, LegHandle, LegOutcome, RingRequest};

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

/// A leg rung for a forward or transfer (not a queue's offer to an agent).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForwardLeg {
    pub call: CallHandle,
    /// The agent leg whose REFER asked for it: it hears the outcome by NOTIFY.
    pub referrer: Option<LegHandle>,
}

/// What transfers need to know of the configuration, and the legs in flight.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    users: HashSet<UserId>,
    user_numbers: HashMap<E164, UserId>,
    trunks: Vec<Trunk>,
    pub legs: HashMap<LegHandle, ForwardLeg>,
    /// Agent legs that sent a REFER we accepted: the subscription the NOTIFYs belong to.
    pub referrers: HashSet<LegHandle>,
    /// Callers we sent a REFER to, and where: the fallback if their side cannot do it.
    pub referred: HashMap<CallHandle, Destination>,
    /// Our REFERs' client transactions.
    pub refer_txs: HashMap<crate::sip::transaction::ClientTxId, CallHandle>,
}

impl Transfers {
    pub fn new(config: &Config) -> Transfers {
        Transfers {
            users: config.users.iter().map(|u| u.id.clone()).collect(),
            user_numbers: config
                .users
                .iter()
                .flat_map(|u| u.numbers.iter().map(|n| (n.clone(), u.id.clone())))
                .collect(),
            trunks: config.trunks.clone(),
            legs: HashMap::new(),
            referrers: HashSet::new(),
            referred: HashMap::new(),
            refer_txs: HashMap::new(),
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
        queue_of: impl Fn(&Uri) -> Option<QueueId>,
        uri: &Uri,
    ) -> Result<Destination, &'static str> {
        if let Some(queue) = queue_of(uri) {
            return Ok(Destination::Queue(queue));
        }
        if let Uri::Sip(sip) = uri {
            if let Some(user) = sip.user.as_deref() {
                let id = UserId(user.to_owned());
                if self.users.contains(&id) {
                    return Ok(Destination::User(id));
                }
            }
        }
        let number = E164::from_uri(uri);
        if let Some(user) = number.as_ref().and_then(|n| self.user_numbers.get(n)) {
            return Ok(Destination::User(user.clone()));
        }
        let external = match (&number, uri) {
            (Some(n), _) => ExternalTarget::Number(n.clone()),
            (None, Uri::Sip(sip)) => ExternalTarget::SipHost(host_key(&sip.host)),
            (None, _) => return Err("transfer target is not a number or SIP address"),
        };
        let Some(trunk) = self.trunks.iter().find(|t| t.allows(&external)) else {
            return Err("transfer target not allowed");
        };
        let target = match (&number, uri) {
            (Some(n), _) => self.number_at_trunk(n, &trunk.id),
            (None, Uri::Sip(sip)) => {
                let mut plain = sip.clone();
                plain.headers = None;
                Some(Uri::Sip(plain))
            }
            (None, _) => None,
        };
        target
            .map(|target| Destination::External {
                target,
                trunk: trunk.id.clone(),
            })
            .ok_or("transfer target not allowed")
    }

    /// `sip:+E164@proxy-host;user=phone` (RFC 3261 §19.1.6): a number dialled through a trunk.
    fn number_at_trunk(&self, number: &E164, trunk: &TrunkId) -> Option<Uri> {
        let proxy = &self.trunks.iter().find(|t| &t.id == trunk)?.proxy;
        let text = format!("sip:{}@{};user=phone", number.as_str(), proxy.host);
        crate::sip::parse::parse_uri(&text).ok()
    }

    /// The user's contacts, or the trunk's proxy with the target and the trunk's credentials:
    /// where to ring.
    fn ring_targets(&self, dest: &Destination, locations: &Locations) -> Vec<RingTarget> {
        match dest {
            Destination::User(u) => locations
                .contacts(u)
                .iter()
                .map(|c| (c.clone(), None, None))
                .collect(),
            Destination::External { target, trunk } => self
                .trunks
                .iter()
                .find(|t| &t.id == trunk)
                .and_then(|t| {
                    let proxy = peer_of(&Uri::Sip(t.proxy.clone()))?;
                    Some(vec![(target.clone(), Some(proxy), t.auth.clone())])
                })
                .unwrap_or_default(),
            Destination::Queue(_) => Vec::new(),
        }
    }
}

/// A Request-URI, where to send it when not derived from the URI, and credentials.
type RingTarget = (Uri, Option<crate::sip::transport::Peer>, Option<TrunkAuth>);

fn host_key(host: &Host) -> String {
    host.to_string().to_ascii_lowercase()
}

impl Core {
    /// An agent's REFER on its leg (see the module doc).
    pub(crate) fn on_refer(&mut self, now: Time, tx: ServerTxId, leg: LegHandle, req: Request) {
        let tag = self.legs.get(&leg).map(|l| l.local_tag.clone());
        let refuse = |core: &mut Core, status: u16, why: &str| {
            let mut resp = core.response(&req, status, tag.as_deref());
            resp.reason = why.to_owned();
            core.respond(now, tx, resp);
        };
        let Some(&caller) = self.rings.bridged.get(&leg) else {
            return refuse(self, 403, "No call to transfer");
        };
        // RFC 3515 §2.4.1: exactly one Refer-To.
        let values: Vec<&str> = req.headers.get_all(&HeaderName::ReferTo).collect();
        let refer_to = match values.as_slice() {
            [one] => crate::sip::parse::name_addr_of(one),
            _ => None,
        };
        let Some(refer_to) = refer_to else {
            return refuse(self, 400, "Bad Refer-To");
        };
        if let Uri::Sip(sip) = &refer_to.uri {
            if sip
                .headers
                .as_deref()
                .is_some_and(|h| h.to_ascii_lowercase().contains("replaces="))
            {
                return refuse(self, 501, "Attended transfer not supported");
            }
        }
        let directory = &self.directory;
        let dest = match self
            .transfers
            .resolve(|u| directory.lookup(u).cloned(), &refer_to.uri)
        {
            Ok(dest) => dest,
            Err(why) => {
                tracing::warn!(leg = leg.0, target = %refer_to.uri, why, "REFER refused");
                return refuse(self, 403, "Transfer target not allowed");
            }
        };
        tracing::info!(leg = leg.0, target = %dest, "agent transfers the caller");
        let mut resp = self.response(&req, 202, tag.as_deref());
        if let Some(l) = self.legs.get(&leg) {
            let local = self.listener(l.dest.transport);
            let (host, port) = self.advertised(l.dest.transport, local, None);
            resp.headers
                .push(HeaderName::Contact, format!("<sip:{host}:{port}>"));
        }
        self.respond(now, tx, resp);
        self.transfers.referrers.insert(leg);
        self.notify_referrer(now, leg, 100, "Trying");

        // The caller leaves the agent; the engine closes the agent's part (wrap-up).
        self.rings.bridged.remove(&leg);
        if let Some(call) = self.calls.get_mut(&caller) {
            call.bridged = None;
        }
        self.events.push_back(Event::Unbridge { call: caller });
        if let Some(&qcall) = self.queue_call_of.get(&caller) {
            if let Err(err) = self.engine.call_transferred(now, qcall, &dest.to_string()) {
                tracing::debug!(%err, "transfer of a call the engine no longer connects");
            }
            self.forget_queue_call(caller);
        }
        self.forward_answered(now, caller, dest, Some(leg));
        self.settle(now);
    }

    /// Forwards an answered caller to `dest` (a queue's forward action, an agent's transfer).
    pub(crate) fn forward_answered(
        &mut self,
        now: Time,
        handle: CallHandle,
        dest: Destination,
        referrer: Option<LegHandle>,
    ) {
        if let Destination::Queue(queue) = &dest {
            return self.enter_queue(now, handle, queue, referrer);
        }
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let display = call
            .caller_display
            .clone()
            .unwrap_or_else(|| "Transfer".to_owned());
        let (caller, dialled) = (call.caller_uri.clone(), call.dialled.clone());
        let mut placed = false;
        for (target, dest, auth) in self.transfers.ring_targets(&dest, &self.locations) {
            let ring = RingRequest {
                call: handle,
                target,
                dest,
                display_name: display.clone(),
                caller: caller.clone(),
                dialled: Some(dialled.clone()),
                auth,
            };
            if let Some(leg) = self.ring_agent(now, ring) {
                self.transfers.legs.insert(
                    leg,
                    ForwardLeg {
                        call: handle,
                        referrer,
                    },
                );
                placed = true;
            }
        }
        if !placed {
            tracing::warn!(target = %dest, "nothing to ring for the forward; releasing the call");
            if let Some(agent) = referrer {
                self.finish_referral(now, agent, 480, "Temporarily Unavailable");
            }
            self.hang_up(now, handle, 480, "forward target not reachable");
        }
    }

    /// A queue's forward of an answered caller to an external target: REFER to its side when
    /// it takes REFER, else (and as the fallback) our own leg through the trunk.
    pub(crate) fn forward_external(
        &mut self,
        now: Time,
        handle: CallHandle,
        dest: Destination,
        refer_to: &str,
    ) {
        if !matches!(dest, Destination::External { .. }) {
            return self.forward_answered(now, handle, dest, None);
        }
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        if !call.allows_refer || call.state != CallState::Confirmed {
            return self.forward_answered(now, handle, dest, None);
        }
        let (flow, local) = (call.flow, call.local);
        let referred_by = format!("<{}>", call.dialled);
        let via = self.new_via(&flow, local);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let mut refer = call.request(Method::Refer, &via);
        // The target as configured (`tel:+…` or a SIP URI): the caller's side dials it its way.
        refer
            .headers
            .push(HeaderName::ReferTo, format!("<{refer_to}>"));
        refer.headers.push(HeaderName::ReferredBy, referred_by);
        let (host, port) = self.advertised(flow.transport, local, None);
        refer
            .headers
            .push(HeaderName::Contact, format!("<sip:{host}:{port}>"));
        match self.tx.send_request(now, refer, flow) {
            Ok(id) => {
                tracing::info!(
                    target = refer_to,
                    "asking the caller's side to make the forward (REFER)"
                );
                self.transfers.refer_txs.insert(id, handle);
                self.transfers.referred.insert(handle, dest);
                let deadline = now + self.settings.transactions.timers.t1 * 64;
                self.timers.insert((deadline, handle, CallTimer::Refer));
            }
            Err(err) => {
                tracing::debug!(%err, "could not send REFER; placing the forward ourselves");
                self.forward_answered(now, handle, dest, None);
            }
        }
    }

    /// The final response to our REFER: 2xx, wait for the NOTIFYs; anything else, fall back.
    pub(crate) fn on_caller_refer_response(&mut self, now: Time, handle: CallHandle, status: u16) {
        if (200..300).contains(&status) {
            return;
        }
        tracing::info!(
            status,
            "the caller's side refused our REFER; placing the forward ourselves"
        );
        self.refer_fell_through(now, handle);
    }

    /// A NOTIFY in a caller's dialog: the progress of our REFER (RFC 3515 §2.4.5).
    pub(crate) fn on_caller_notify(
        &mut self,
        now: Time,
        tx: ServerTxId,
        handle: CallHandle,
        req: &Request,
    ) {
        // RFC 6665 §4.1.3: a NOTIFY for no subscription of ours gets 481.
        let status = match self.transfers.referred.contains_key(&handle) {
            true => 200,
            false => 481,
        };
        let resp = self.call_response(handle, req, status);
        self.respond(now, tx, resp);
        if status != 200 {
            return;
        }
        // The sipfrag's status line: "SIP/2.0 200 OK".
        let frag = String::from_utf8_lossy(&req.body);
        let status = frag
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok());
        match status {
            Some(100..=199) => {}
            Some(200..=299) => {
                tracing::info!("the caller's side reached the forward target; leaving the call");
                self.end_referral(handle);
                self.send_bye(now, handle, 200, "forwarded");
            }
            _ => {
                tracing::info!(
                    ?status,
                    "the caller's side could not reach the target; placing the forward ourselves"
                );
                self.refer_fell_through(now, handle);
            }
        }
        self.settle(now);
    }

    /// No final NOTIFY in time.
    pub(crate) fn refer_timed_out(&mut self, now: Time, handle: CallHandle) {
        if self.transfers.referred.contains_key(&handle) {
            tracing::info!("no outcome of our REFER in time; placing the forward ourselves");
            self.refer_fell_through(now, handle);
        }
    }

    fn refer_fell_through(&mut self, now: Time, handle: CallHandle) {
        if let Some(dest) = self.end_referral(handle) {
            self.forward_answered(now, handle, dest, None);
        }
    }

    /// Forgets our REFER to `handle`'s side (its transaction, its timer); returns where it
    /// was to go.
    fn end_referral(&mut self, handle: CallHandle) -> Option<Destination> {
        self.transfers.refer_txs.retain(|_, h| *h != handle);
        self.timers
            .retain(|(_, h, t)| !(*h == handle && *t == CallTimer::Refer));
        self.transfers.referred.remove(&handle)
    }

    /// A transferred caller enters `queue` as a new arrival (it is answered already).
    fn enter_queue(
        &mut self,
        now: Time,
        handle: CallHandle,
        queue: &QueueId,
        referrer: Option<LegHandle>,
    ) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.queue = queue.clone();
        let info = crate::queue::types::CallerInfo {
            from: call
                .caller_uri
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            display: call.caller_display.clone(),
        };
        match self.engine.call_arrived(now, queue, info) {
            Ok(qcall) => {
                self.queue_calls.insert(qcall, handle);
                self.queue_call_of.insert(handle, qcall);
                if let Some(agent) = referrer {
                    self.finish_referral(now, agent, 200, "OK");
                }
            }
            Err(err) => {
                tracing::warn!(%err, "the queue engine refused the transferred call");
                if let Some(agent) = referrer {
                    self.finish_referral(now, agent, 503, "Service Unavailable");
                }
                self.hang_up(now, handle, 503, "queue unavailable");
            }
        }
    }

    /// A forward leg answered or ended. Returns `false` when `leg` is not a forward leg.
    pub(crate) fn on_forward_leg(&mut self, now: Time, event: &Event) -> bool {
        match *event {
            Event::LegAnswered { leg, .. } => {
                let Some(fwd) = self.transfers.legs.remove(&leg) else {
                    return false;
                };
                // The first answer wins; the other contacts stop ringing.
                self.cancel_forward_legs(now, fwd.call);
                if !self.calls.contains_key(&fwd.call) {
                    self.cancel_leg(now, leg);
                    return true;
                }
                self.rings.bridged.insert(leg, fwd.call);
                if let Some(call) = self.calls.get_mut(&fwd.call) {
                    call.bridged = Some(leg);
                }
                self.events.push_back(Event::Bridge {
                    call: fwd.call,
                    leg,
                });
                if let Some(agent) = fwd.referrer {
                    self.finish_referral(now, agent, 200, "OK");
                }
                true
            }
            Event::LegEnded { leg, outcome, .. } => {
                let Some(fwd) = self.transfers.legs.remove(&leg) else {
                    return false;
                };
                let still_ringing = self.transfers.legs.values().any(|f| f.call == fwd.call);
                if !still_ringing {
                    let (status, reason) = match outcome {
                        LegOutcome::Refused(status) => (status, "Refused"),
                        LegOutcome::NoResponse => (408, "Request Timeout"),
                        _ => (487, "Request Terminated"),
                    };
                    if let Some(agent) = fwd.referrer {
                        self.finish_referral(now, agent, status, reason);
                    }
                    self.hang_up(now, fwd.call, 480, "forward target did not answer");
                }
                true
            }
            _ => false,
        }
    }

    /// The caller is gone: its forward legs stop ringing, a REFER to it is moot.
    pub(crate) fn cancel_forwards(&mut self, now: Time, handle: CallHandle) {
        self.end_referral(handle);
        self.cancel_forward_legs(now, handle);
    }

    /// Stops every forward leg still ringing for `handle`.
    fn cancel_forward_legs(&mut self, now: Time, handle: CallHandle) {
        let legs: Vec<LegHandle> = self
            .transfers
            .legs
            .iter()
            .filter(|(_, f)| f.call == handle)
            .map(|(l, _)| *l)
            .collect();
        for leg in legs {
            self.transfers.legs.remove(&leg);
            self.cancel_leg(now, leg);
        }
    }

    /// The final NOTIFY of a transfer (RFC 3515 §2.4.5), then BYE: the agent's part is over.
    fn finish_referral(&mut self, now: Time, agent: LegHandle, status: u16, reason: &str) {
        if !self.transfers.referrers.remove(&agent) {
            return;
        }
        self.notify_referrer(now, agent, status, reason);
        self.cancel_leg(now, agent);
    }

    /// NOTIFY for the REFER's implicit subscription (RFC 3515 §2.4.4–2.4.5): a sipfrag of the
    /// transfer's progress; a final status terminates the subscription.
    fn notify_referrer(&mut self, now: Time, agent: LegHandle, status: u16, reason: &str) {
        let state = if status >= 200 {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let headers = vec![
            (HeaderName::Event, "refer".to_owned()),
            (HeaderName::SubscriptionState, state.to_owned()),
            (
                HeaderName::ContentType,
                "message/sipfrag;version=2.0".to_owned(),
            ),
        ];
        let body = format!("SIP/2.0 {status} {reason}\r\n").into_bytes();
        self.send_leg_request(now, agent, Method::Notify, headers, body);
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

    fn uri(s: &str) -> Uri {
        crate::sip::parse::parse_uri(s).unwrap()
    }

    fn resolve(t: &Transfers, s: &str) -> Result<Destination, &'static str> {
        let directory = crate::config::ServiceDirectory::new(&config());
        t.resolve(|u| directory.lookup(u).cloned(), &uri(s))
    }

    #[test]
    fn refer_targets_resolve_to_queues_users_or_allowed_numbers() {
        let t = Transfers::new(&config());
        assert_eq!(
            resolve(&t, "sip:+14255550100@pbx.example.com;user=phone"),
            Ok(Destination::Queue(QueueId("sales".into())))
        );
        assert_eq!(
            resolve(&t, "sip:amos@pbx.example.com"),
            Ok(Destination::User(UserId("amos".into())))
        );
        assert_eq!(
            resolve(&t, "tel:+1-425-555-0177"),
            Ok(Destination::User(UserId("amos".into())))
        );
        let Ok(Destination::External { target, trunk }) = resolve(&t, "tel:+14255550999") else {
            panic!("an allowed number goes out through the trunk");
        };
        assert_eq!(trunk, TrunkId("carrier".into()));
        assert_eq!(target.to_string(), "sip:+14255550999@127.0.0.1;user=phone");
        assert!(matches!(
            resolve(&t, "sip:help@partner.example.com"),
            Ok(Destination::External { .. })
        ));
    }

    #[test]
    fn refer_targets_nobody_allowed_are_refused() {
        let t = Transfers::new(&config());
        // Premium-rate abroad, an unknown host, an unknown local name: never dialled.
        assert!(resolve(&t, "tel:+882345678901").is_err());
        assert!(resolve(&t, "sip:+447700900123@evil.example").is_err());
        assert!(resolve(&t, "sip:someone@elsewhere.example").is_err());
        assert!(resolve(&t, "mailto:boss@example.com").is_err());
    }
}
