//! OPTIONS probes of static contacts (RFC 3261 §11): the request, sent as a non-INVITE client
//! transaction (§17.1.2), and what its outcome says about the contact.
//!
//! An INVITE that got no response at all is reported the same way as an unanswered probe.
//!
//! When to probe and what an outcome changes is decided elsewhere (`b2bua::reachability`,
//! `b2bua::locations`); this only sends the OPTIONS and reports, once per probe, whether a
//! device answered. Any final response but 408 proves a device at the contact (a phone that
//! answers 404 or 405 to OPTIONS still rings for an INVITE); 408, Timer F and a transport error
//! do not (a 408 comes from something in between that did not reach the device).

use std::collections::{HashMap, VecDeque};

use crate::sip::header::HeaderName;
use crate::sip::message::{Request, Response};
use crate::sip::method::Method;
use crate::sip::transaction::ClientTxId;
use crate::sip::transport::Peer;
use crate::sip::typed::NameAddr;
use crate::sip::uri::Uri;
use crate::time::Time;

use super::{peer_of, Legs};

/// The longest a 503's Retry-After takes an SBC out of failover, in seconds.
const MAX_RETRY_AFTER: u32 = 3600;

/// Probes in flight and their outcomes not yet polled.
#[derive(Debug, Default)]
pub(super) struct Probes {
    in_flight: HashMap<ClientTxId, Uri>,
    /// (contact, whether a device answered), in the order they came.
    results: VecDeque<(Uri, bool)>,
    /// OPTIONS to trunks' SBCs in flight (their outcomes say more: status, Retry-After).
    sbc_in_flight: HashMap<ClientTxId, Uri>,
    sbc_results: VecDeque<SbcProbe>,
}

/// The outcome of an OPTIONS to a trunk's SBC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbcProbe {
    pub sbc: Uri,
    /// The final status; `None`: Timer F or a transport error.
    pub status: Option<u16>,
    /// A 503's `Retry-After` (RFC 3261 §20.33: seconds, then an optional comment).
    pub retry_after: Option<std::time::Duration>,
}

impl Legs {
    /// Sends an OPTIONS to `contact`. `false` when it cannot be sent (a host name that needs
    /// DNS, or the transaction layer refused it): nothing will be reported for it.
    pub fn send_probe(&mut self, now: Time, contact: &Uri) -> bool {
        match self.send_options(now, contact) {
            Some(id) => {
                self.probes.in_flight.insert(id, contact.clone());
                true
            }
            None => false,
        }
    }

    /// Sends an OPTIONS to a trunk's SBC at `dest` (its address, or the one DNS gave for its
    /// name); its outcome comes from [`Legs::poll_sbc_probe`].
    pub fn send_sbc_probe(&mut self, now: Time, sbc: &Uri, dest: Peer) -> bool {
        match self.send_options_to(now, sbc, dest) {
            Some(id) => {
                self.probes.sbc_in_flight.insert(id, sbc.clone());
                true
            }
            None => false,
        }
    }

    /// The next outcome of an OPTIONS to an SBC.
    pub fn poll_sbc_probe(&mut self) -> Option<SbcProbe> {
        self.probes.sbc_results.pop_front()
    }

    fn send_options(&mut self, now: Time, contact: &Uri) -> Option<ClientTxId> {
        let dest = peer_of(contact)?;
        self.send_options_to(now, contact, dest)
    }

    fn send_options_to(&mut self, now: Time, contact: &Uri, dest: Peer) -> Option<ClientTxId> {
        let local = self.listener(dest.transport);
        let (host, _) = self.advertised(dest.transport, local, None);
        let via = self.new_via(&dest, local);
        let tag = self.new_tag();
        let call_id = format!("{:016x}@{host}", self.rng_u64());
        let mut from = match crate::sip::parse::parse_uri(&format!("sip:holdline@{host}")) {
            Ok(uri) => NameAddr::new(uri),
            Err(_) => return None,
        };
        from.params.set("tag", Some(&tag));
        let mut req = Request::new(Method::Options, contact.clone());
        let h = &mut req.headers;
        h.push(HeaderName::Via, via);
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, from.to_string());
        h.push(HeaderName::To, NameAddr::new(contact.clone()).to_string());
        h.push(HeaderName::CallId, call_id);
        h.push(HeaderName::CSeq, "1 OPTIONS");
        h.push(HeaderName::Accept, "application/sdp");
        if !self.endpoint.user_agent.is_empty() {
            h.push(HeaderName::UserAgent, self.endpoint.user_agent.clone());
        }
        match self.tx.send_request(now, req, dest) {
            Ok(id) => {
                self.drain_transactions(now);
                Some(id)
            }
            Err(err) => {
                tracing::debug!(%err, "could not send OPTIONS to a contact");
                None
            }
        }
    }

    /// The next probe outcome: the contact and whether a device answered.
    pub fn poll_probe_result(&mut self) -> Option<(Uri, bool)> {
        self.probes.results.pop_front()
    }

    /// Whether outcomes wait for [`Legs::poll_probe_result`].
    pub fn has_probe_results(&self) -> bool {
        !self.probes.results.is_empty()
    }

    /// Whether an agent leg (ringing, answered, ending) runs to `contact`: its device is busy
    /// with us, and its INVITE says more about it than a probe would.
    pub fn has_leg_to(&self, contact: &Uri) -> bool {
        self.agents.legs.values().any(|l| &l.invite.uri == contact)
    }

    /// A response on a client transaction: `true` when it was a probe's (a final one ends it).
    pub(super) fn on_probe_response(&mut self, tx: ClientTxId, resp: &Response) -> bool {
        if self.probes.sbc_in_flight.contains_key(&tx) {
            if !resp.is_provisional() {
                if let Some(sbc) = self.probes.sbc_in_flight.remove(&tx) {
                    let retry_after = resp
                        .headers
                        .get(&HeaderName::RetryAfter)
                        .and_then(|v| v.split([' ', ';', '(']).next())
                        .and_then(|s| s.trim().parse::<u32>().ok())
                        // At most an hour: one answer must not take an SBC out until restart.
                        .map(|s| std::time::Duration::from_secs(u64::from(s.min(MAX_RETRY_AFTER))));
                    self.probes.sbc_results.push_back(SbcProbe {
                        sbc,
                        status: Some(resp.status),
                        retry_after,
                    });
                }
            }
            return true;
        }
        if !self.probes.in_flight.contains_key(&tx) {
            return false;
        }
        if resp.is_provisional() {
            return true;
        }
        if let Some(contact) = self.probes.in_flight.remove(&tx) {
            self.probes.results.push_back((contact, resp.status != 408));
        }
        true
    }

    /// An INVITE to `leg`'s contact got no response at all (Timer B, or the transport
    /// failed: a refused TCP connection): that says as much as an unanswered probe, so it is
    /// reported like one and the contact is not rung again until a probe is answered.
    pub(super) fn device_silent(&mut self, leg: super::LegHandle) {
        if let Some(l) = self.agents.legs.get(&leg) {
            self.probes.results.push_back((l.invite.uri.clone(), false));
        }
    }

    /// A probe's transaction gave up (Timer F, transport error): no device answered.
    pub(super) fn on_probe_failed(&mut self, tx: ClientTxId) {
        if let Some(sbc) = self.probes.sbc_in_flight.remove(&tx) {
            self.probes.sbc_results.push_back(SbcProbe {
                sbc,
                status: None,
                retry_after: None,
            });
        }
        if let Some(contact) = self.probes.in_flight.remove(&tx) {
            self.probes.results.push_back((contact, false));
        }
    }
}
