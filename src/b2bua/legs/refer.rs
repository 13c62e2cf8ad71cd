//! Handing a call elsewhere, as SIP: the 302 to a caller not answered yet (RFC 3261 §21.3.3),
//! our REFER to an answered caller's side and its NOTIFYs (RFC 3515 §2.4), and the answers to
//! an agent's REFER with the NOTIFYs of its implicit subscription (§2.4.4–2.4.5).
//!
//! Whether a transfer is allowed and where it goes is the switch's decision (the toll-fraud
//! policy lives with the dial plan); this file only speaks the protocol.

use crate::sip::header::HeaderName;
use crate::sip::message::Request;
use crate::sip::method::Method;
use crate::sip::transaction::ServerTxId;
use crate::time::Time;

use super::call::{CallHandle, CallState};
use super::{LegHandle, Legs};
use crate::b2bua::core::EndReason;

impl Legs {
    /// 302 Moved Temporarily with `contact` to a ringing caller; the call is over for us.
    pub fn redirect(&mut self, now: Time, handle: CallHandle, contact: &str) {
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return;
        };
        let Some(ringing) = call.stop_ringing(CallState::Ending) else {
            return;
        };
        let mut resp = self.call_response(handle, &ringing.invite, 302);
        resp.headers.push(HeaderName::Contact, contact.to_owned());
        self.respond(now, ringing.invite_tx, resp);
        self.callers.ringing.remove(&ringing.invite_tx);
        self.finish(handle, EndReason::Forwarded);
    }

    /// Whether the caller's side can be asked to place a call itself: its INVITE listed REFER
    /// in Allow (RFC 3261 §20.5) and its dialog is confirmed.
    pub fn can_refer(&self, handle: CallHandle) -> bool {
        self.callers
            .calls
            .get(&handle)
            .is_some_and(|c| c.caller.allows_refer && c.state == CallState::Confirmed)
    }

    /// REFER to the caller's side (RFC 3515 §2.4.1) with `Refer-To: refer_to` and
    /// `Referred-By` the number it dialled (RFC 3892). Its final response, or 408 when none
    /// comes, is reported as [`LegEvent::ReferAnswered`](super::LegEvent::ReferAnswered).
    /// Returns whether it was sent.
    pub fn refer(&mut self, now: Time, handle: CallHandle, refer_to: &str) -> bool {
        let Some(call) = self.callers.calls.get(&handle) else {
            return false;
        };
        let (flow, local) = (call.flow, call.local);
        let referred_by = format!("<{}>", call.caller.dialled);
        let via = self.new_via(&flow, local);
        let contact = self.contact(flow.transport, local, None);
        let Some(call) = self.callers.calls.get_mut(&handle) else {
            return false;
        };
        let mut refer = call.dialog.request(Method::Refer, &via);
        refer
            .headers
            .push(HeaderName::ReferTo, format!("<{refer_to}>"));
        refer.headers.push(HeaderName::ReferredBy, referred_by);
        refer.headers.push(HeaderName::Contact, contact);
        match self.tx.send_request(now, refer, flow) {
            Ok(id) => {
                self.callers.refers.insert(id, handle);
                true
            }
            Err(err) => {
                tracing::debug!(%err, "could not send REFER");
                false
            }
        }
    }

    /// Answers a NOTIFY in a caller's dialog: 200 when it belongs to our REFER's
    /// subscription, else 481 (RFC 6665 §4.1.3).
    pub fn answer_notify(
        &mut self,
        now: Time,
        tx: ServerTxId,
        handle: CallHandle,
        req: &Request,
        status: u16,
    ) {
        let resp = self.call_response(handle, req, status);
        self.respond(now, tx, resp);
    }

    /// Refuses an agent's REFER with `status` and `why` as the reason phrase.
    pub fn refuse_refer(
        &mut self,
        now: Time,
        tx: ServerTxId,
        leg: LegHandle,
        req: &Request,
        status: u16,
        why: &str,
    ) {
        let tag = self.agents.legs.get(&leg).map(|l| l.local_tag.clone());
        let mut resp = self.response(req, status, tag.as_deref());
        resp.reason = why.to_owned();
        self.respond(now, tx, resp);
    }

    /// 202 Accepted to an agent's REFER, then at once the NOTIFY with `100 Trying` that
    /// RFC 3515 §2.4.4 requires.
    pub fn accept_refer(&mut self, now: Time, tx: ServerTxId, leg: LegHandle, req: &Request) {
        let Some(l) = self.agents.legs.get(&leg) else {
            return;
        };
        let (tag, transport) = (l.local_tag.clone(), l.dest.transport);
        let mut resp = self.response(req, 202, Some(&tag));
        let contact = self.contact(transport, self.listener(transport), None);
        resp.headers.push(HeaderName::Contact, contact);
        self.respond(now, tx, resp);
        self.notify_referrer(now, leg, 100, "Trying");
    }

    /// NOTIFY for the REFER's implicit subscription (RFC 3515 §2.4.4–2.4.5): a sipfrag of the
    /// transfer's progress; a final status terminates the subscription.
    pub fn notify_referrer(&mut self, now: Time, leg: LegHandle, status: u16, reason: &str) {
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
        self.send_leg_request(now, leg, Method::Notify, headers, body);
    }
}
